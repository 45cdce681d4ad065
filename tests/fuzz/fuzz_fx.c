/*
 * fuzz_fx.c: the harnesses' shared fixture (fuzz_fx.h).
 *
 * FUZZ_TENANT and FUZZ_CTL, the tenant file and the latchkeyctl of the
 * same build, are compiled in by the GNUmakefile; the environment
 * variables LATCHKEY_FUZZ_TENANT and LATCHKEY_FUZZ_CTL override them.
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <limits.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "extern.h"
#include "fuzz_fx.h"

#ifndef FUZZ_TENANT
#define FUZZ_TENANT	"tests/fuzz/tenant.json"
#endif
#ifndef FUZZ_CTL
#define FUZZ_CTL	"build/fuzz/db/latchkeyctl"
#endif

extern char	**environ;

/* The request headers latchkey reads, by their place in struct lk_req. */
static const struct {
	const char	*name;
	size_t		 off;
} fuzz_headers[] = {
	{ "Content-Type", offsetof(struct lk_req, content_type) },
	{ "Authorization", offsetof(struct lk_req, authorization) },
	{ "DPoP", offsetof(struct lk_req, dpop) },
	{ "Auth0-Forwarded-For", offsetof(struct lk_req, forwarded_for) },
	{ "Origin", offsetof(struct lk_req, origin) },
	{ "Access-Control-Request-Method", offsetof(struct lk_req, acr_method) },
};
#define NHEADERS	(sizeof(fuzz_headers) / sizeof(fuzz_headers[0]))

/* The methods cgi-bin tells apart (its method_parse). */
static const char *const fuzz_methods[HTTP__MAX] = {
	[HTTP_GET] = "GET", [HTTP_POST] = "POST", [HTTP_HEAD] = "HEAD",
	[HTTP_OPTIONS] = "OPTIONS", [HTTP_DELETE] = "DELETE", [HTTP_OTHER] = NULL,
};

static enum http_method
method_of(const char *s)
{
	int	 i;

	for (i = 0; i < HTTP_OTHER; i++)
		if (strcmp(s, fuzz_methods[i]) == 0)
			return (enum http_method)i;
	return HTTP_OTHER;
}

/* The next line of [*p, end) NUL-terminated in place (the copy is
 * ours), *p moved past it; NULL at the end. */
static char *
next_line(char **p, char *end)
{
	char	*s = *p, *nl;

	if (s >= end)
		return NULL;
	if ((nl = memchr(s, '\n', (size_t)(end - s))) == NULL)
		nl = end;
	*nl = '\0';
	*p = nl < end ? nl + 1 : end;
	return s;
}

/* "Name: value" into its member of req, bounded as cgi-bin bounds it. */
static void
header_set(struct lk_req *req, char *line)
{
	char	*colon, *v;
	size_t	 i;

	if ((colon = strchr(line, ':')) == NULL)
		return;
	*colon = '\0';
	for (v = colon + 1; *v == ' '; v++)
		continue;
	if (strlen(v) > LK_HEADER_MAX)
		v[LK_HEADER_MAX] = '\0';
	for (i = 0; i < NHEADERS; i++)
		if (strcasecmp(line, fuzz_headers[i].name) == 0)
			*(const char **)((char *)req + fuzz_headers[i].off) = v;
}

/* "METHOD PATH" into req. */
static void
request_line(struct lk_req *req, char *line)
{
	char	*sp;

	if ((sp = strchr(line, ' ')) != NULL)
		*sp++ = '\0';
	req->method_str = line;
	req->method = method_of(line);
	req->path = sp != NULL ? sp : "/";
	if (strlen(req->path) > LK_PATH_MAX)
		((char *)req->path)[LK_PATH_MAX] = '\0';
}

int
fuzz_req_parse(struct fuzz_req *r, const uint8_t *data, size_t size)
{
	struct lk_req	*req = &r->req;
	char		*p, *end, *line;

	memset(r, 0, sizeof(*r));
	req->method_str = "GET";
	req->method = HTTP_GET;
	req->path = "/";
	req->remote_addr = "192.0.2.1";
	req->now = FUZZ_NOW;
	strcpy(req->id, "0123456789abcdef0123456789abcdef");
	/* A NUL after the copy: the body is NUL-terminated as cgi-bin's. */
	if ((r->mem = malloc(size + 1)) == NULL)
		return -1;
	memcpy(r->mem, data, size);
	r->mem[size] = '\0';
	p = r->mem;
	end = r->mem + size;
	if ((line = next_line(&p, end)) != NULL)
		request_line(req, line);
	while ((line = next_line(&p, end)) != NULL && *line != '\0')
		header_set(req, line);
	req->body = p;
	req->bodysz = (size_t)(end - p);
	if (req->bodysz > LK_BODY_MAX) {
		req->body_too_large = 1;
		req->bodysz = 0;
	}
	return 0;
}

void
fuzz_req_clear(struct fuzz_req *r)
{

	free(r->mem);
	memset(r, 0, sizeof(*r));
}

static void
drop_line(enum log_level lvl, const char *line)
{

	(void)line;
}

void
fuzz_quiet(void)
{

	if (getenv("LATCHKEY_FUZZ_LOG") == NULL)
		log_sink(drop_line);
}

/* The home's directories: the parent, the pristine copy, the working one. */
static char	 fx_dir[PATH_MAX - 64];
static char	 fx_pristine[PATH_MAX];
static char	 fx_home[PATH_MAX];
static struct lk_ctx fx_ctx;
static unsigned long fx_runs;

static int
rm_entry(const char *path, const struct stat *st, int type, struct FTW *f)
{

	(void)st;
	(void)type;
	(void)f;
	return remove(path);
}

/* Run argv (no shell, its output to /dev/null: the fuzzer's own output
 * is libFuzzer's) and wait: 0 when it exited 0. */
static int
run(char *const argv[])
{
	posix_spawn_file_actions_t fa;
	pid_t	 pid, w;
	int	 st, rc;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0)
		return -1;
	/* libFuzzer's timeout check is a SIGALRM every few seconds. */
	while ((w = waitpid(pid, &st, 0)) == -1 && errno == EINTR)
		continue;
	if (w == -1)
		return -1;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static const char *
setting(const char *env, const char *def)
{
	const char	*v = getenv(env);

	return v != NULL && *v != '\0' ? v : def;
}

static void
home_remove(void)
{

	store_close(fx_ctx.store);
	fx_ctx.store = NULL;
	admit_close();
	nftw(fx_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* The working copy replaced by the pristine one, and opened. */
static void
home_restore(void)
{
	char	*cp[] = { "/bin/cp", "-a", fx_pristine, fx_home, NULL };

	store_close(fx_ctx.store);
	memset(&fx_ctx, 0, sizeof(fx_ctx));
	nftw(fx_home, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	if (run(cp) == -1) {
		fprintf(stderr, "fuzz: cannot copy %s\n", fx_pristine);
		exit(1);
	}
	fx_ctx.home = fx_home;
	if ((fx_ctx.store = store_open(fx_home, 0)) == NULL) {
		fprintf(stderr, "fuzz: cannot open %s\n", fx_home);
		exit(1);
	}
	fx_ctx.ready = fx_ctx.was_ready = 1;
}

/* The pristine copy's region files (the closed environment's caches,
 * 20 MB that each restore would copy): the opener makes its own. */
static void
regions_remove(void)
{
	char	 pat[PATH_MAX];
	glob_t	 g;
	size_t	 i;

	snprintf(pat, sizeof(pat), "%s/__db.*", fx_pristine);
	if (glob(pat, 0, NULL, &g) != 0)
		return;
	for (i = 0; i < g.gl_pathc; i++)
		unlink(g.gl_pathv[i]);
	globfree(&g);
}

static void
home_create(void)
{
	const char	*tmp = getenv("TMPDIR");
	char		*argv[] = { NULL, "-d", fx_pristine, "import", NULL,
			    NULL };

	snprintf(fx_dir, sizeof(fx_dir), "%s/lkfuzz.XXXXXX",
	    tmp != NULL ? tmp : "/tmp");
	if (mkdtemp(fx_dir) == NULL) {
		perror(fx_dir);
		exit(1);
	}
	snprintf(fx_pristine, sizeof(fx_pristine), "%s/pristine", fx_dir);
	snprintf(fx_home, sizeof(fx_home), "%s/home", fx_dir);
	argv[0] = (char *)setting("LATCHKEY_FUZZ_CTL", FUZZ_CTL);
	argv[4] = (char *)setting("LATCHKEY_FUZZ_TENANT", FUZZ_TENANT);
	if (run(argv) == -1) {
		fprintf(stderr, "fuzz: %s -d %s import %s failed\n", argv[0],
		    fx_pristine, argv[4]);
		nftw(fx_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
		exit(1);
	}
	regions_remove();
	atexit(home_remove);
}

struct lk_ctx *
fuzz_home(void)
{

	if (fx_dir[0] == '\0')
		home_create();
	if (fx_runs++ % FUZZ_RESTORE == 0)
		home_restore();
	return &fx_ctx;
}
