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

#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <fcgiapp.h>
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
	"GET", "POST", "HEAD", "OPTIONS", "DELETE", NULL,
};

static char	 body[LK_BODY_MAX + 1];
static char	 path[LK_PATH_MAX + 1];

static volatile sig_atomic_t quit;

/*
 * The request being served: libfcgi's when a web server started us on a
 * FastCGI socket; stdio and the environment when it ran us as a CGI
 * program (cgi set), for the one request we were given.
 */
static FCGX_Request	 fcgi;
static int		 cgi;

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
	const char	*v = cgi ? getenv(name) : FCGX_GetParam(name, fcgi.envp);

	return v != NULL && strlen(v) <= LK_HEADER_MAX ? v : NULL;
}

/* The DPoP header: one too long to be a proof is kept as "" so that it
 * is refused as malformed (RFC 9449 4.3), not taken for no proof. */
static const char *
dpop_get(void)
{
	const char	*v = cgi ? getenv("HTTP_DPOP") :
			    FCGX_GetParam("HTTP_DPOP", fcgi.envp);

	return v == NULL || strlen(v) <= LK_HEADER_MAX ? v : "";
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

/*
 * The request id: 16 random bytes in hex, for the logs only (not a
 * secret).  From getrandom(2) in batches (lk_id_bytes), not OpenSSL's
 * generator: a plain CGI request that draws no other random number then
 * never instantiates the DRBG (a noticeable part of its start-up,
 * docs/performance.md).
 */
static void
request_id(char *out, size_t outsz)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char	 b[16];
	size_t		 i;

	if (outsz < 2 * sizeof(b) + 1 ||
	    lk_id_bytes(b, sizeof(b)) == -1) {
		snprintf(out, outsz, "0");
		return;
	}
	for (i = 0; i < sizeof(b); i++) {
		out[2 * i] = hex[b[i] >> 4];
		out[2 * i + 1] = hex[b[i] & 15];
	}
	out[2 * sizeof(b)] = '\0';
}

/* Read the body: CONTENT_LENGTH bytes, refusing more than LK_BODY_MAX. */
static void
body_read(struct lk_req *req)
{
	const char		*cl = var("CONTENT_LENGTH");
	char			*end;
	unsigned long long	 n;
	int			 got;

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
	if (cgi)
		req->bodysz = fread(body, 1, (size_t)n, stdin);
	else if ((got = FCGX_GetStr(body, (int)n, fcgi.in)) > 0)
		req->bodysz = (size_t)got;
	body[req->bodysz] = '\0';
}

static void
out_write(const char *p, size_t n)
{
	if (cgi)
		fwrite(p, 1, n, stdout);
	else
		FCGX_PutStr(p, (int)n, fcgi.out);
}

static void
resp_write(const struct lk_req *req, const struct lk_resp *resp)
{
	char	 head[512];
	int	 n;

	/* Fits: the content type is one of ours, the request id 32 hex
	 * digits. */
	n = snprintf(head, sizeof(head), "Status: %d %s\r\n"
	    "Content-Type: %s\r\nContent-Length: %zu\r\nX-Request-Id: %s\r\n",
	    resp->status, reason(resp->status), resp->content_type,
	    resp->body.len, req->id);
	out_write(head, n > 0 && (size_t)n < sizeof(head) ? (size_t)n : 0);
	if (resp->headers.len > 0)
		out_write(resp->headers.p, resp->headers.len);
	out_write("\r\n", 2);
	if (req->method != HTTP_HEAD && resp->body.len > 0)
		out_write(resp->body.p, resp->body.len);
}

/* Serve one request; 0 when its body was refused unread (413). */
static int
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
	req.dpop = dpop_get();
	req.origin = var("HTTP_ORIGIN");
	req.acr_method = var("HTTP_ACCESS_CONTROL_REQUEST_METHOD");
	req.now = lk_now();
	req.peer_fd = cgi ? 0 : fcgi.ipcFd;
	request_id(req.id, sizeof(req.id));
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
	return !req.body_too_large;
}

/*
 * CGI: the answer is complete.  The web server reads the program's
 * output until end of file (RFC 3875 6), which came only at exit, after
 * the store's close and the libraries' exit handlers: /dev/null takes
 * the place of standard output, so the server can send the answer while
 * this process closes the store.  A server that then stops the program
 * (lighttpd and Apache send SIGTERM at end of file) only sets quit.
 */
static void
cgi_answer_done(void)
{
	int	 fd;

	fflush(stdout);
	if ((fd = open("/dev/null", O_WRONLY | O_CLOEXEC)) == -1)
		return;
	if (fd != STDOUT_FILENO) {
		(void)dup2(fd, STDOUT_FILENO);
		close(fd);
	}
}

/*
 * Log lines go to the FastCGI error stream while a request is served:
 * the web server writes them to its error log even when it runs
 * detached.  Otherwise (CGI, start-up, between requests) to stderr.
 * An error or a warning is sent at once, so a responder that exits in
 * the middle of a request (stall.c) has handed it over; an information
 * line, such as every request's summary, leaves with the answer when
 * the request is finished, one write and one wake-up of the web server
 * fewer a request.
 */
static void
log_to_fcgi(enum log_level lvl, const char *line)
{
	if (!cgi && fcgi.err != NULL) {
		/* A line that would not fit whole in the stream's buffer
		 * sends what is there first: a record holds whole lines. */
		if (fcgi.err->stop - fcgi.err->wrNext < (ptrdiff_t)strlen(line))
			FCGX_FFlush(fcgi.err);
		FCGX_PutS(line, fcgi.err);
		if (lvl < LOG_LVL_INFO)
			FCGX_FFlush(fcgi.err);
	} else {
		fputs(line, stderr);
		fflush(stderr);
	}
}

/*
 * End the request.  libfcgi's close shuts the socket down for writing
 * and then reads until the web server closes its end (up to 2 s), so that
 * request data we left unread cannot make the kernel reset the connection
 * before the server has read the answer.  That wait costs every request
 * three system calls and a wake-up.  When the request's stdin stream has
 * been read to its end record, nothing of the request is left unread and
 * the socket is closed at once (FCGX_Detach: libfcgi then closes without
 * the shutdown).  A body refused unread (413), or one longer than its
 * CONTENT_LENGTH, keeps the lingering close.
 */
static void
request_finish(int body_read)
{
	if (body_read && FCGX_GetChar(fcgi.in) == EOF)
		FCGX_Detach(&fcgi);
	FCGX_Finish_r(&fcgi);
}

/*
 * The quit signals.  libfcgi's accept loop retries an accept(2)
 * interrupted by a signal unless its shutdown flag is set, so the
 * handler sets that too (one store to an int, async-signal-safe): the
 * idle FCGX_Accept_r then fails at once.
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
	struct priv	 priv;
	sigset_t	 quitset;
	const char	*home;
	int		 children, worker, rc;

	if ((home = getenv(LK_HOME_ENV)) == NULL || *home == '\0')
		home = LK_HOME_DEFAULT;
	/*
	 * Least privilege first (priv.c): the run user, then no root and
	 * no new privileges, before anything is opened, in the process
	 * that serves or forks the workers, which inherit it.
	 */
	if (priv_load(&priv, getenv(LK_USER_ENV), getenv(LK_GROUP_ENV)) ==
	    -1 || priv_drop(&priv, home) == -1)
		return LK_EXIT_CONFIG;
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
	ctx.one_request = FCGX_IsCGI();
	ctx_start(&ctx, home);
	/*
	 * The quit signals are held while a request is served, so none
	 * interrupts a read or write of it (libfcgi would drop the request
	 * on EINTR): a signal sent meanwhile is delivered when the request
	 * is finished, and the loop ends before the next accept.
	 */
	if ((cgi = FCGX_IsCGI())) {
		sigprocmask(SIG_BLOCK, &quitset, NULL);
		stall_arm();
		serve_one(&ctx);
		stall_disarm();
		cgi_answer_done();
		sigprocmask(SIG_UNBLOCK, &quitset, NULL);
	} else if (FCGX_Init() == 0 && FCGX_InitRequest(&fcgi, 0, 0) == 0) {
		while (!quit && FCGX_Accept_r(&fcgi) == 0) {
			sigprocmask(SIG_BLOCK, &quitset, NULL);
			stall_arm();
			rc = serve_one(&ctx);
			stall_disarm();
			request_finish(rc);
			ctx_idle(&ctx);
			sigprocmask(SIG_UNBLOCK, &quitset, NULL);
		}
	}
	/* No request is open: log to the process's own stderr, not
	 * through a request libfcgi has freed. */
	log_sink(NULL);
	if (quit && !cgi)
		lk_info("quit signal: closing the store");
	ctx_clear(&ctx);
	admit_close();
	upstream_close();
	return 0;
}
