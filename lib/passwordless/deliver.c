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
 * the courier process below, and its outcome goes to the audit log.
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
#define DELIVER_OUT_MAX		1024	/* stderr bytes kept for the log */
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

/* One delivery in flight. */
struct delivery {
	pid_t		 pid;		/* -1: none */
	int		 fd;		/* our end of its stderr; -1 at EOF */
	long long	 deadline;	/* lk_mono_ms() */
	int		 status;	/* wait status; DSTATUS_* when none */
	size_t		 have;
	char		 out[DELIVER_OUT_MAX + 1];	/* its stderr's start */
	char		 econn[300];	/* the connection, escaped */
};

#define DSTATUS_TIMEOUT	-1	/* killed at the deadline */
#define DSTATUS_LOST	-2	/* reaped by someone else: no status */

/*
 * Start the command of m.  0 (running), or -1 with the failure's code in
 * why and nothing running.
 */
static int
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

/* 1 when the delivery is over (it exited, or was killed and reaped at
 * its deadline), 0 while it runs. */
static int
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

/*
 * The outcome of a finished delivery: 0, or -1 with the failure's code
 * in why, logged with the start of its stderr (the code and recipient
 * masked).  The delivery's pipe and buffer are released.
 */
static int
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

/* ------------------------------------------------------------------ */
/*
 * Background delivery: the courier.
 *
 * /passwordless/start answers before the code is delivered, so that its
 * time and its answer are the same whether the recipient is a known
 * user, an unknown one or a blocked one (no delivery runs for a blocked
 * user), and whether the delivery succeeds, fails or hangs.  Each
 * responder hands its codes to one courier process over a socket pair
 * (deliver_enqueue); the courier runs the delivery commands and records
 * each outcome in the audit log (passwordless.c, pwl_job_end).
 *
 * The courier is forked twice, on the first code a responder sends: the
 * middle process exits at once and is reaped, so a responder never has
 * a zombie to collect, and the courier (re-parented to init) never
 * inherits a descriptor but its socket, stderr and /dev/null: not the
 * FastCGI socket, nor the locks of the database, the admission file or
 * the recovery fence, whose OFD locks must die with the responder.  It
 * opens the database environment itself.
 *
 * It starts a job COURIER_DELAY_MS after it arrived, when the responder
 * has long sent its answer: the courier's work (a fork and exec, or for
 * a blocked user none) must not compete for the CPU with the answer it
 * would tell apart.  It runs at most COURIER_RUN_MAX commands at once
 * and queues at most COURIER_QUEUE_MAX more; a job beyond that is
 * dropped and audited as a failed delivery ("busy").  One recipient's
 * codes go out one at a time and in order, across all the couriers of
 * a home (courier_lock).  It reaps its own commands.  When its responder
 * exits the socket reads EOF: the courier finishes what it holds, then
 * exits.
 */
#define COURIER_RUN_MAX		4
#define COURIER_QUEUE_MAX	64
#define COURIER_JOB_MAX		4096	/* bytes of one job */
#define COURIER_FD		3	/* the courier's end of the socket */
#define COURIER_DELAY_MS	50	/* from a job's arrival to its start */
#define COURIER_TICK_MS		10	/* a look at waiting jobs, commands */
#define COURIER_STUCK_S		30	/* longest store work between looks */

/* A job and the lock byte of its recipient (see courier_lock). */
struct slot {
	json_t		*job;		/* NULL: free */
	int		 lock;		/* byte, LOCK_WAIT or LOCK_NONE */
};
#define LOCK_WAIT	-1	/* not taken yet: another courier holds it */
#define LOCK_NONE	-2	/* no lock file: deliveries not ordered */

struct task {
	struct slot		 s;
	struct deliver_cmd	 cmd;
	struct delivery		 d;
};

struct courier {
	int		 fd;		/* jobs; -1 after EOF */
	int		 lockfd;	/* run/delivery, -1: no locks */
	const char	*home;
	struct store	*st;		/* NULL: could not open */
	struct task	 run[COURIER_RUN_MAX];
	int		 nrun;
	struct slot	 queue[COURIER_QUEUE_MAX];
	double		 qready[COURIER_QUEUE_MAX];	/* lk_mono_ms() */
	size_t		 qhead, qlen;
};

static int	 courier_fd = -1;	/* the responder's end */

void
deliver_job_free(json_t *job)
{
	const char	*code = json_string_value(json_object_get(job, "code"));

	if (code != NULL)
		OPENSSL_cleanse((char *)(uintptr_t)code, strlen(code));
	json_decref(job);
}

/*
 * The recipient's lock: one byte of LATCHKEY_HOME/run/delivery chosen by
 * a hash of connection and recipient, taken when the job arrives and held
 * to the end of its delivery.  So the couriers of all the responders
 * deliver one recipient's codes one at a time, in the order they were
 * handed over, and the latest code (the only valid one) arrives last.
 * The lock is the open file's (OFD): a courier does not conflict with
 * itself, so it also keeps its own jobs for one recipient in order
 * (courier_busy_with).  The byte, LOCK_WAIT or LOCK_NONE.
 */
#define COURIER_LOCKS		4096

static int
courier_lock(const struct courier *c, const json_t *job)
{
	const char	*parts[2], *p;
	struct flock	 fl;
	uint32_t	 h = 2166136261u;	/* FNV-1a */
	int		 i;

	if (c->lockfd == -1)
		return LOCK_NONE;
	parts[0] = json_string_value(json_object_get(job, "connection"));
	parts[1] = json_string_value(json_object_get(job, "recipient"));
	for (i = 0; i < 2; i++)
		for (p = parts[i] != NULL ? parts[i] : ""; ; p++) {
			h = (h ^ (unsigned char)*p) * 16777619u;
			if (*p == '\0')
				break;
		}
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	fl.l_start = (off_t)(h % COURIER_LOCKS);
	fl.l_len = 1;
	if (fcntl(c->lockfd, F_OFD_SETLK, &fl) == -1)
		return errno == EAGAIN || errno == EACCES ? LOCK_WAIT :
		    LOCK_NONE;
	return (int)(h % COURIER_LOCKS);
}

/* Drop lock byte b unless another job of this courier holds it too. */
static void
courier_unlock(const struct courier *c, int b)
{
	struct flock	 fl;
	size_t		 i;

	if (c->lockfd == -1 || b < 0)
		return;
	for (i = 0; i < COURIER_RUN_MAX; i++)
		if (c->run[i].s.job != NULL && c->run[i].s.lock == b)
			return;
	for (i = 0; i < c->qlen; i++)
		if (c->queue[(c->qhead + i) % COURIER_QUEUE_MAX].lock == b)
			return;
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_UNLCK;
	fl.l_whence = SEEK_SET;
	fl.l_start = b;
	fl.l_len = 1;
	(void)fcntl(c->lockfd, F_OFD_SETLK, &fl);
}

/* Release a job: its lock (last, so no one else counts it), and it. */
static void
slot_clear(struct courier *c, struct slot *sl)
{
	int	 lock = sl->lock;

	deliver_job_free(sl->job);
	sl->job = NULL;
	sl->lock = LOCK_NONE;
	courier_unlock(c, lock);
}

/* Queue a job received; one that does not fit is dropped (audited). */
static void
courier_push(struct courier *c, json_t *job)
{
	size_t	 i = (c->qhead + c->qlen) % COURIER_QUEUE_MAX;

	if (c->qlen == COURIER_QUEUE_MAX) {
		lk_warn("passwordless delivery queue full: code not sent");
		pwl_job_end(c->st, job, 0, "busy");
		deliver_job_free(job);
		return;
	}
	c->queue[i].job = job;
	c->queue[i].lock = courier_lock(c, job);
	c->qready[i] = lk_mono_ms() + COURIER_DELAY_MS;
	c->qlen++;
}

/* Read every job waiting on the socket; EOF closes it. */
static void
courier_read(struct courier *c)
{
	char	 buf[COURIER_JOB_MAX + 1];
	json_t	*job;
	ssize_t	 n;

	while (c->fd != -1) {
		n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			break;
		if (n <= 0) {
			close(c->fd);
			c->fd = -1;
			break;
		}
		if ((job = json_loadb(buf, (size_t)n, 0, NULL)) == NULL)
			lk_warn("passwordless delivery: unreadable job");
		else
			courier_push(c, job);
		OPENSSL_cleanse(buf, (size_t)n);
	}
}

/* 1 when a delivery of this courier to job's recipient runs. */
static int
courier_busy_with(const struct courier *c, const json_t *job)
{
	const json_t	*j;
	int		 i;

	for (i = 0; i < COURIER_RUN_MAX; i++)
		if ((j = c->run[i].s.job) != NULL &&
		    json_equal(json_object_get(j, "recipient"),
		    json_object_get(job, "recipient")) &&
		    json_equal(json_object_get(j, "connection"),
		    json_object_get(job, "connection")))
			return 1;
	return 0;
}

/* 1 when the queue's first job may start: its time has come, it holds
 * its recipient's lock, and no delivery of ours to them runs. */
static int
courier_head_ready(struct courier *c)
{
	struct slot	*h = &c->queue[c->qhead];

	if (c->qlen == 0 || c->nrun == COURIER_RUN_MAX ||
	    lk_mono_ms() < c->qready[c->qhead])
		return 0;
	if (h->lock == LOCK_WAIT && (h->lock = courier_lock(c, h->job)) ==
	    LOCK_WAIT)
		return 0;
	return !courier_busy_with(c, h->job);
}

/* Start queued jobs, in order, while the first may start. */
static void
courier_launch(struct courier *c)
{
	struct task	*t;
	char		 why[64];

	while (courier_head_ready(c)) {
		for (t = c->run; t->s.job != NULL; t++)
			continue;	/* nrun < COURIER_RUN_MAX: one free */
		t->s = c->queue[c->qhead];
		c->qhead = (c->qhead + 1) % COURIER_QUEUE_MAX;
		c->qlen--;
		if (pwl_job_begin(c->st, t->s.job, &t->cmd) == 0) {
			slot_clear(c, &t->s);
			continue;
		}
		if (delivery_start(&t->d, t->cmd.argv, &t->cmd.m,
		    t->cmd.timeout, why, sizeof(why)) == -1) {
			pwl_job_end(c->st, t->s.job, 0, why);
			json_decref(t->cmd.argv);
			slot_clear(c, &t->s);
			continue;
		}
		c->nrun++;
	}
}

/* Collect the deliveries that are over and record their outcomes. */
static void
courier_reap(struct courier *c)
{
	struct task	*t;
	char		 why[64];
	int		 i, ok;

	for (i = 0; i < COURIER_RUN_MAX; i++) {
		t = &c->run[i];
		if (t->s.job == NULL || !delivery_done(&t->d))
			continue;
		ok = delivery_end(&t->d, &t->cmd.m, why, sizeof(why)) == 0;
		pwl_job_end(c->st, t->s.job, ok, why);
		json_decref(t->cmd.argv);
		t->cmd.argv = NULL;
		c->nrun--;
		slot_clear(c, &t->s);
	}
}

/* Sleep until a job or a command's output arrives, at most
 * COURIER_TICK_MS while jobs wait or commands run (their exits and
 * deadlines are looked at then). */
static void
courier_wait(struct courier *c)
{
	struct pollfd	 pfd[COURIER_RUN_MAX + 1];
	nfds_t		 n = 0;
	int		 i;

	if (c->fd != -1 && c->qlen < COURIER_QUEUE_MAX) {
		pfd[n].fd = c->fd;
		pfd[n++].events = POLLIN;
	}
	for (i = 0; i < COURIER_RUN_MAX; i++)
		if (c->run[i].s.job != NULL && c->run[i].d.fd != -1) {
			pfd[n].fd = c->run[i].d.fd;
			pfd[n++].events = POLLIN;
		}
	if (n == 0 && c->nrun == 0 && c->qlen == 0)
		return;
	for (i = 0; i < (int)n; i++)
		pfd[i].revents = 0;
	/* A queued job waits for its time or for another courier's lock:
	 * look again. */
	(void)poll(pfd, n, c->nrun > 0 || c->qlen > 0 ? COURIER_TICK_MS : -1);
}

/* The courier's descriptors: the socket at COURIER_FD, /dev/null for
 * stdin and stdout (and stderr under plain CGI, where the web server
 * waits for every holder of the script's output), nothing else. */
static void
courier_fds(int fd)
{
	int	 null;

	if (fd != COURIER_FD) {
		dup2(fd, COURIER_FD);
		close(fd);
	}
	fcntl(COURIER_FD, F_SETFD, FD_CLOEXEC);
	/* Opened after the move, so it cannot be COURIER_FD. */
	if ((null = open("/dev/null", O_RDWR)) != -1) {
		dup2(null, 0);
		dup2(null, 1);
		if (getenv("GATEWAY_INTERFACE") != NULL)
			dup2(null, 2);
	}
	closefrom(COURIER_FD + 1);
}

/* Open LATCHKEY_HOME/run/delivery (the recipients' locks): the
 * descriptor, or -1 (logged; deliveries are then not ordered). */
static int
courier_lockfile(const char *home)
{
	char	 path[PATH_MAX];
	int	 fd;

	if ((size_t)snprintf(path, sizeof(path), "%s/run", home) >=
	    sizeof(path) || (mkdir(path, 0700) == -1 && errno != EEXIST) ||
	    (size_t)snprintf(path, sizeof(path), "%s/run/delivery", home) >=
	    sizeof(path) ||
	    (fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) == -1) {
		lk_warn("%s/run/delivery: %s; deliveries are not ordered",
		    home, strerror(errno));
		return -1;
	}
	return fd;
}

/* The courier process: never returns. */
/* Run a step of the courier's loop under the stall watch. */
static void
courier_watched(struct courier *c, void (*step)(struct courier *))
{

	stall_arm();
	alarm(COURIER_STUCK_S);
	step(c);
	alarm(0);
	stall_disarm();
}

static void
courier_main(int fd, const char *home)
{
	struct courier	 c;
	sigset_t	 none;
	int		 sig;

	(void)setsid();
	for (sig = 1; sig < NSIG; sig++)
		(void)signal(sig, SIG_DFL);
	(void)signal(SIGPIPE, SIG_IGN);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	log_sink(NULL);
	courier_fds(fd);
	memset(&c, 0, sizeof(c));
	c.fd = COURIER_FD;
	c.home = home;
	c.lockfd = courier_lockfile(home);
	stall_forget();
	c.st = store_open(home, STORE_WATCH);
	while (c.fd != -1 || c.nrun > 0 || c.qlen > 0) {
		if (c.st != NULL && store_panicked(c.st)) {
			/* Closing waits for the recovery (stall.c). */
			stall_watch(NULL);
			store_close(c.st);
			c.st = store_open(home, STORE_WATCH);
		}
		/*
		 * The store calls in these may sleep for good on a mutex a
		 * killed process held, holding the recovery lock shared
		 * (store.c): the stall watch ends the courier within
		 * about 0.2 s of such a death, as it ends a responder, and
		 * the responder starts another.  SIGALRM bounds whatever
		 * the watch cannot see.
		 */
		courier_watched(&c, courier_launch);
		courier_wait(&c);
		courier_watched(&c, courier_read);
		courier_watched(&c, courier_reap);
	}
	stall_arm();
	store_close(c.st);
	_exit(0);
}

/* Fork the courier (twice: see above) and keep our end of its socket.
 * 0 or -1 (logged). */
static int
courier_start(const char *home)
{
	pid_t	 pid;
	int	 sv[2], st;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1) {
		lk_warn("passwordless delivery: socketpair: %s",
		    strerror(errno));
		return -1;
	}
	if ((pid = fork()) == -1) {
		lk_warn("passwordless delivery: fork: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0) {
		close(sv[0]);
		if (fork() == 0)
			courier_main(sv[1], home);
		_exit(0);
	}
	close(sv[1]);
	while (waitpid(pid, &st, 0) == -1 && errno == EINTR)
		continue;
	courier_fd = sv[0];
	return 0;
}

int
deliver_enqueue(const char *home, const json_t *job)
{
	char	*text;
	size_t	 len;
	int	 tries, rc = -1;

	if ((text = json_dumps(job, JSON_COMPACT)) == NULL)
		return -1;
	len = strlen(text);
	for (tries = 0; tries < 2 && len <= COURIER_JOB_MAX; tries++) {
		if (courier_fd == -1 && courier_start(home) == -1)
			break;
		if (send(courier_fd, text, len, MSG_DONTWAIT | MSG_NOSIGNAL) ==
		    (ssize_t)len) {
			rc = 0;
			break;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			lk_warn("passwordless delivery queue full: "
			    "code not sent");
			break;
		}
		/* The courier is gone: start another one. */
		close(courier_fd);
		courier_fd = -1;
	}
	OPENSSL_cleanse(text, len);
	free(text);
	return rc;
}
