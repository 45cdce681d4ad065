/*
 * Delivering a passwordless code: the connection's "delivery_command", an
 * argv array run with posix_spawn(3) -- no shell, so no quoting and no
 * injection through a recipient -- so that an operator can plug in any
 * SMS gateway client or sendmail.  The child gets
 *	argv with "{recipient}" and "{code}" substituted,
 *	stdin and stdout /dev/null, stderr a pipe, no other descriptor,
 *	an environment of PATH, LATCHKEY_CONNECTION, LATCHKEY_RECIPIENT,
 *	LATCHKEY_CODE and LATCHKEY_SEND only,
 *	default signal dispositions and an empty signal mask,
 * and `timeout` seconds to exit 0, after which it is killed.
 *
 * What the command writes to stderr is logged, never sent to the caller
 * of /passwordless/start (who is unauthenticated): the first
 * DELIVER_OUT_MAX bytes, the code masked over the whole text first
 * (also when its digits are spaced out, "123 456", or cut off at the
 * end), the recipient masked, escaped by log_escape().  The caller
 * learns nothing of the delivery at all: it runs after the answer, in
 * the courier process (courier.c), and its outcome goes to the audit log.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "extern.h"

#define DELIVER_ARGS_MAX	32	/* argv elements */
#define DELIVER_ARG_MAX		4096	/* one argument after substitution */
#define DELIVER_PATH_DEFAULT	"/usr/local/bin:/usr/bin:/bin"

enum denv { DENV_PATH, DENV_CONNECTION, DENV_RECIPIENT, DENV_CODE, DENV_SEND,
	DENV__MAX };

static const char *const denv_names[DENV__MAX] = {
	"PATH", "LATCHKEY_CONNECTION", "LATCHKEY_RECIPIENT", "LATCHKEY_CODE",
	"LATCHKEY_SEND",
};

/* The child's argv and environment; every string malloc'd. */
struct spawnv {
	char	*argv[DELIVER_ARGS_MAX + 1];
	char	*envp[DENV__MAX + 1];
};

static void
spawnv_clear(struct spawnv *v)
{
	size_t	 i;

	/* Arguments and environment may hold the code. */
	for (i = 0; v->argv[i] != NULL; i++) {
		OPENSSL_cleanse(v->argv[i], strlen(v->argv[i]));
		free(v->argv[i]);
	}
	for (i = 0; v->envp[i] != NULL; i++) {
		OPENSSL_cleanse(v->envp[i], strlen(v->envp[i]));
		free(v->envp[i]);
	}
	memset(v, 0, sizeof(*v));
}

/* arg with every "{recipient}" and "{code}" replaced; NULL when too long. */
static char *
substitute(const char *arg, const struct deliver_msg *m)
{
	struct buf	 b;
	const char	*p;
	int		 rc = 0;

	buf_init(&b);
	for (p = arg; *p != '\0' && rc == 0;) {
		if (strncmp(p, "{recipient}", 11) == 0) {
			rc = buf_puts(&b, m->recipient);
			p += 11;
		} else if (strncmp(p, "{code}", 6) == 0) {
			rc = buf_puts(&b, m->code);
			p += 6;
		} else
			rc = buf_append(&b, p++, 1);
	}
	if (rc == 0 && b.p == NULL)
		rc = buf_append(&b, "", 0);
	if (rc == -1 || b.p == NULL || b.len > DELIVER_ARG_MAX) {
		if (b.p != NULL)
			OPENSSL_cleanse(b.p, b.len);
		buf_clear(&b);
		return NULL;
	}
	return b.p;	/* the buffer's memory becomes the argument */
}

/* Fill v from argv (a JSON array of strings, first an absolute path). */
static int
spawnv_build(struct spawnv *v, const json_t *argv, const struct deliver_msg *m)
{
	const char	*vals[DENV__MAX], *path;
	size_t		 i, n;

	memset(v, 0, sizeof(*v));
	n = json_array_size(argv);
	if (n == 0 || n > DELIVER_ARGS_MAX ||
	    json_string_value(json_array_get(argv, 0)) == NULL ||
	    json_string_value(json_array_get(argv, 0))[0] != '/')
		return -1;
	for (i = 0; i < n; i++) {
		if (!json_is_string(json_array_get(argv, i)) ||
		    (v->argv[i] = substitute(json_string_value(
		    json_array_get(argv, i)), m)) == NULL)
			return -1;
	}
	path = getenv("PATH");
	vals[DENV_PATH] = path != NULL && *path != '\0' ? path : DELIVER_PATH_DEFAULT;
	vals[DENV_CONNECTION] = m->connection;
	vals[DENV_RECIPIENT] = m->recipient;
	vals[DENV_CODE] = m->code;
	vals[DENV_SEND] = m->send;
	for (i = 0; i < DENV__MAX; i++)
		if (asprintf(&v->envp[i], "%s=%s", denv_names[i], vals[i]) == -1) {
			v->envp[i] = NULL;
			return -1;
		}
	return 0;
}

/*
 * Mask the code in text wherever its digits appear in order with
 * anything between them ("123456", "123 456", "1-2-3-4-5-6"), and a
 * trailing run of digits that begins the code (the text may have been
 * cut inside it); then every occurrence of the recipient.  Masking too
 * much is harmless: the text only goes to the log.
 */
static void
out_mask(char *text, const char *code, const char *recipient)
{
	size_t	 pos[DELIVER_OUT_MAX], nd = 0, i, j, n = strlen(code);
	char	 dig[DELIVER_OUT_MAX], *p;

	for (i = 0; text[i] != '\0' && nd < DELIVER_OUT_MAX; i++)
		if (text[i] >= '0' && text[i] <= '9') {
			pos[nd] = i;
			dig[nd++] = text[i];
		}
	for (i = 0; n > 0 && i + n <= nd; i++)
		if (memcmp(dig + i, code, n) == 0)
			for (j = 0; j < n; j++)
				text[pos[i + j]] = '*';
	for (j = n > 0 ? n - 1 : 0; j > 0; j--)
		if (j <= nd && memcmp(dig + nd - j, code, j) == 0) {
			for (i = nd - j; i < nd; i++)
				text[pos[i]] = '*';
			break;
		}
	n = strlen(recipient);
	while (n > 0 && (p = strstr(text, recipient)) != NULL)
		memset(p, '*', n);
	OPENSSL_cleanse(dig, sizeof(dig));
}

static int
spawn(struct spawnv *v, pid_t *pid, int errfd)
{
	posix_spawn_file_actions_t	 fa;
	posix_spawnattr_t		 at;
	sigset_t			 all, none;
	int				 rc;

	sigfillset(&all);
	sigemptyset(&none);
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&at);
	/* The responder ignores SIGPIPE; the command should not inherit it. */
	posix_spawnattr_setsigdefault(&at, &all);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGDEF |
	    POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP);
	posix_spawnattr_setpgroup(&at, 0);
	/* fd 0 is the FastCGI listening socket: never hand it over. */
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, errfd, 2);
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	rc = posix_spawn(pid, v->argv[0], &fa, &at, v->argv, v->envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	return rc;
}

#define DSTATUS_TIMEOUT	-1	/* killed at the deadline */
#define DSTATUS_LOST	-2	/* reaped by someone else: no status */

int
delivery_start(struct delivery *d, const json_t *argv,
    const struct deliver_msg *m, int timeout, char *why, size_t whysz)
{
	struct spawnv	 v;
	struct sigaction sa;
	int		 fds[2] = { -1, -1 }, err, rc = -1;

	d->pid = -1;
	d->fd = -1;
	d->have = 0;
	d->out[0] = '\0';
	log_escape(d->econn, sizeof(d->econn), m->connection);
	if (spawnv_build(&v, argv, m) == -1) {
		lk_warn("connection %s: delivery command not configured",
		    d->econn);
		snprintf(why, whysz, "config");
		goto out;
	}
	/* waitpid needs SIGCHLD not ignored (a supervisor may leave it so). */
	if (sigaction(SIGCHLD, NULL, &sa) == 0 && sa.sa_handler == SIG_IGN)
		signal(SIGCHLD, SIG_DFL);
	/* Only our end is non-blocking; the child's stderr stays normal. */
	if (pipe2(fds, O_CLOEXEC) == -1 ||
	    fcntl(fds[0], F_SETFL, O_NONBLOCK) == -1) {
		lk_warn("connection %s: pipe: %s", d->econn, strerror(errno));
		snprintf(why, whysz, "spawn");
		goto out;
	}
	if ((err = spawn(&v, &d->pid, fds[1])) != 0) {
		d->pid = -1;
		lk_warn("connection %s: cannot run the delivery command: %s",
		    d->econn, strerror(err));
		snprintf(why, whysz, "spawn");
		goto out;
	}
	d->fd = fds[0];
	fds[0] = -1;
	d->deadline = (long long)lk_mono_ms() + (long long)timeout * 1000;
	rc = 0;
out:
	if (fds[0] != -1)
		close(fds[0]);
	if (fds[1] != -1)
		close(fds[1]);
	spawnv_clear(&v);
	return rc;
}

/* Read what the child wrote to stderr, keeping the first
 * DELIVER_OUT_MAX bytes.  At EOF (or an error) the pipe is closed; a
 * daemonised grandchild may still hold it, so EOF is not the end. */
static void
delivery_read(struct delivery *d)
{
	char	 chunk[256];
	ssize_t	 n;
	size_t	 room;

	while (d->fd != -1) {
		if ((n = read(d->fd, chunk, sizeof(chunk))) == -1 &&
		    errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			break;
		if (n <= 0) {
			close(d->fd);
			d->fd = -1;
			break;
		}
		room = sizeof(d->out) - 1 - d->have;
		if ((size_t)n > room)
			n = (ssize_t)room;
		memcpy(d->out + d->have, chunk, (size_t)n);
		d->have += (size_t)n;
		d->out[d->have] = '\0';
	}
	OPENSSL_cleanse(chunk, sizeof(chunk));	/* may hold the code */
}

int
delivery_done(struct delivery *d)
{
	pid_t	 r;
	int	 st;

	delivery_read(d);
	while ((r = waitpid(d->pid, &st, WNOHANG)) == -1 && errno == EINTR)
		continue;
	if (r == d->pid || r == -1) {
		d->status = r == -1 ? DSTATUS_LOST : st;
		delivery_read(d);	/* what it wrote just before */
		return 1;
	}
	if ((long long)lk_mono_ms() < d->deadline)
		return 0;
	kill(-d->pid, SIGKILL);
	kill(d->pid, SIGKILL);
	while (waitpid(d->pid, &st, 0) == -1 && errno == EINTR)
		continue;
	d->status = DSTATUS_TIMEOUT;
	return 1;
}

int
delivery_end(struct delivery *d, const struct deliver_msg *m, char *why,
    size_t whysz)
{
	char	 eout[4 * DELIVER_OUT_MAX + 1];
	int	 st = d->status, rc = -1;

	if (st == DSTATUS_TIMEOUT)
		snprintf(why, whysz, "timeout");
	else if (st == DSTATUS_LOST)
		snprintf(why, whysz, "lost");
	else if (WIFSIGNALED(st))
		snprintf(why, whysz, "signal %d", WTERMSIG(st));
	else if (WEXITSTATUS(st) != 0)
		snprintf(why, whysz, "%d", WEXITSTATUS(st));
	else
		rc = 0;
	if (rc == -1) {
		out_mask(d->out, m->code, m->recipient);
		log_escape(eout, sizeof(eout), d->out);
		lk_warn("connection %s: delivery failed (Code: %s): %s",
		    d->econn, why, eout[0] != '\0' ? eout : "(no output)");
		OPENSSL_cleanse(eout, sizeof(eout));
	}
	if (d->fd != -1)
		close(d->fd);
	d->fd = -1;
	d->pid = -1;
	OPENSSL_cleanse(d->out, sizeof(d->out));
	d->have = 0;
	return rc;
}

int
deliver_run(const json_t *argv, const struct deliver_msg *m, int timeout,
    char *why, size_t whysz)
{
	struct delivery	 d;
	struct pollfd	 pfd;

	if (delivery_start(&d, argv, m, timeout, why, whysz) == -1)
		return -1;
	while (!delivery_done(&d)) {
		pfd.fd = d.fd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (d.fd == -1)
			usleep(20000);
		else
			(void)poll(&pfd, 1, 50);
	}
	return delivery_end(&d, m, why, whysz);
}

