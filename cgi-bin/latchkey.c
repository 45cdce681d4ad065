/*
 * latchkey.fcgi: the responder.  Started by a web server with a FastCGI
 * socket it serves requests in a loop; started as a CGI program it
 * answers the one request it was given (libfcgi decides which).
 *
 * Per request: read the CGI variables and at most LK_BODY_MAX bytes of
 * body, let the endpoint table answer, write the response, log one line.
 *
 * SIGTERM, SIGHUP and SIGINT (a web server stopping its responders) end
 * the loop between requests, as slowcgi's do: the store is then closed
 * cleanly, so the next process opens it without recovery.  Killed
 * inside a Berkeley DB call instead, the process would leave the
 * environment to be recovered.
 */
#include "fcgi_stdio.h"	/* before stdio: stdin/stdout become FastCGI streams */

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <time.h>

#include <openssl/crypto.h>

#include "extern.h"

static const struct {
	int		 code;
	const char	*reason;
} reasons[] = {
	{ 200, "OK" }, { 204, "No Content" }, { 400, "Bad Request" },
	{ 401, "Unauthorized" }, { 403, "Forbidden" }, { 404, "Not Found" },
	{ 405, "Method Not Allowed" }, { 413, "Payload Too Large" },
	{ 429, "Too Many Requests" }, { 500, "Internal Server Error" },
	{ 503, "Service Unavailable" },
};

static const char *const method_names[HTTP__MAX] = {
	"GET", "POST", "HEAD", "OPTIONS", NULL,
};

static char	 body[LK_BODY_MAX + 1];
static char	 path[LK_PATH_MAX + 1];

static volatile sig_atomic_t quit;

static const char *
reason(int code)
{
	size_t	 i;

	for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (reasons[i].code == code)
			return reasons[i].reason;
	return "Unknown";
}

/* A CGI variable, or NULL when absent or longer than LK_HEADER_MAX. */
static const char *
var(const char *name)
{
	const char	*v = getenv(name);

	return v != NULL && strlen(v) <= LK_HEADER_MAX ? v : NULL;
}

static enum http_method
method_parse(const char *m)
{
	size_t	 i;

	for (i = 0; m != NULL && i < HTTP_OTHER; i++)
		if (strcmp(m, method_names[i]) == 0)
			return (enum http_method)i;
	return HTTP_OTHER;
}

/* The request path without the query: REQUEST_URI, else SCRIPT_NAME +
 * PATH_INFO (plain CGI servers that do not set REQUEST_URI). */
static const char *
path_get(void)
{
	const char	*uri = var("REQUEST_URI");

	if (uri != NULL)
		snprintf(path, sizeof(path), "%.*s", (int)strcspn(uri, "?"), uri);
	else
		snprintf(path, sizeof(path), "%s%s",
		    var("SCRIPT_NAME") ? var("SCRIPT_NAME") : "",
		    var("PATH_INFO") ? var("PATH_INFO") : "");
	return path;
}

/* Read the body: CONTENT_LENGTH bytes, refusing more than LK_BODY_MAX. */
static void
body_read(struct lk_req *req)
{
	const char		*cl = var("CONTENT_LENGTH");
	char			*end;
	unsigned long long	 n;

	req->body = body;
	req->bodysz = 0;
	if (cl == NULL || *cl == '\0')
		return;
	n = strtoull(cl, &end, 10);
	if (*end != '\0' || cl[0] == '-')
		return;
	if (n > LK_BODY_MAX) {
		req->body_too_large = 1;
		return;
	}
	req->bodysz = fread(body, 1, (size_t)n, stdin);
	body[req->bodysz] = '\0';
}

static void
resp_write(const struct lk_req *req, const struct lk_resp *resp)
{
	printf("Status: %d %s\r\n", resp->status, reason(resp->status));
	printf("Content-Type: %s\r\n", resp->content_type);
	/* libfcgi's printf knows no %zu. */
	printf("Content-Length: %lu\r\n", (unsigned long)resp->body.len);
	printf("X-Request-Id: %s\r\n", req->id);
	if (resp->headers.len > 0)
		fwrite(resp->headers.p, 1, resp->headers.len, stdout);
	printf("\r\n");
	if (req->method != HTTP_HEAD && resp->body.len > 0)
		fwrite(resp->body.p, 1, resp->body.len, stdout);
}

static void
serve_one(struct lk_ctx *ctx)
{
	struct lk_req	 req;
	struct lk_resp	 resp;
	struct timespec	 t0, t1;
	char		 epath[128], emethod[16];

	clock_gettime(CLOCK_MONOTONIC, &t0);
	memset(&req, 0, sizeof(req));
	req.method_str = var("REQUEST_METHOD") ? var("REQUEST_METHOD") : "GET";
	req.method = method_parse(req.method_str);
	req.path = path_get();
	req.content_type = var("CONTENT_TYPE");
	req.authorization = var("HTTP_AUTHORIZATION");
	req.remote_addr = var("REMOTE_ADDR");
	req.forwarded_for = var("HTTP_AUTH0_FORWARDED_FOR");
	req.dpop = var("HTTP_DPOP");
	req.now = time(NULL);
	if (rand_hex(req.id, 16) == -1)
		strcpy(req.id, "0");
	body_read(&req);

	resp_init(&resp);
	route_handle(ctx, &req, &resp);
	resp_write(&req, &resp);

	clock_gettime(CLOCK_MONOTONIC, &t1);
	log_escape(epath, sizeof(epath), req.path);
	log_escape(emethod, sizeof(emethod), req.method_str);
	log_msg(LOG_LVL_INFO, "request", "id=%s method=%s path=\"%s\" grant=%s "
	    "client_id=\"%s\" outcome=%s status=%d ms=%.1f", req.id, emethod,
	    epath, resp.grant[0] ? resp.grant : "-",
	    resp.client_id[0] ? resp.client_id : "-", resp.outcome, resp.status,
	    (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
	OPENSSL_cleanse(body, req.bodysz);
	resp_clear(&resp);
}

/* Log lines go to the FastCGI error stream: the web server writes them
 * to its error log even when it runs detached (plain stderr in CGI). */
static void
log_to_fcgi(const char *line)
{
	fputs(line, stderr);
	fflush(stderr);
}

/*
 * The quit signals.  libfcgi's accept loop retries an accept(2)
 * interrupted by a signal unless its shutdown flag is set, so the
 * handler sets that too (one store to an int, async-signal-safe): the
 * idle FCGI_Accept then returns -1 at once.
 */
static void
on_quit(int sig)
{
	(void)sig;
	quit = 1;
	FCGX_ShutdownPending();
}

static void
signals_init(sigset_t *quitset)
{
	static const int	 sigs[] = { SIGTERM, SIGHUP, SIGINT };
	struct sigaction	 sa;
	size_t			 i;

	signal(SIGPIPE, SIG_IGN);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_quit;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;	/* no SA_RESTART: the idle accept must return */
	sigemptyset(quitset);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		sigaddset(quitset, sigs[i]);
		if (sigaction(sigs[i], &sa, NULL) == -1)
			lk_warn("sigaction %d failed", sigs[i]);
	}
}

int
main(void)
{
	struct lk_ctx	 ctx;
	sigset_t	 quitset;
	const char	*home;
	int		 children, worker, rc;

	/* Before anything is opened: workers must not share handles. */
	children = prefork_children(getenv(LK_CHILDREN_ENV));
	if (children > 0 && !FCGX_IsCGI()) {
		rc = prefork_run(children, &worker);
		if (!worker)
			return rc;
	}
	signals_init(&quitset);
	log_sink(log_to_fcgi);
	memset(&ctx, 0, sizeof(ctx));
	if ((home = getenv(LK_HOME_ENV)) == NULL || *home == '\0')
		home = LK_HOME_DEFAULT;
	/* Copy: FCGI_Accept replaces the environment per request. */
	if ((home = strdup(home)) == NULL)
		return 1;
	ctx_start(&ctx, home);
	/* Set-up done: this process never gains privileges again. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		lk_warn("prctl(PR_SET_NO_NEW_PRIVS) failed");
	/*
	 * The quit signals are held while a request is served, so none
	 * interrupts a read or write of it (libfcgi would drop the request
	 * on EINTR): a signal sent meanwhile is delivered when the request
	 * is finished, and the loop ends before the next accept.
	 */
	while (!quit && FCGI_Accept() >= 0) {
		sigprocmask(SIG_BLOCK, &quitset, NULL);
		stall_arm();
		serve_one(&ctx);
		stall_disarm();
		FCGI_Finish();
		sigprocmask(SIG_UNBLOCK, &quitset, NULL);
	}
	/* No request is open: log to the process's own stderr (stdio's,
	 * not the FastCGI stream fcgi_stdio.h calls stderr). */
	log_sink(NULL);
	if (quit)
		lk_info("quit signal: closing the store");
	ctx_clear(&ctx);
	free((void *)home);
	return 0;
}
