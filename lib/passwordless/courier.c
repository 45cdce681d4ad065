/*
 * Background delivery of passwordless codes: the courier.
 *
 * /passwordless/start answers before the code is delivered, so that its
 * time and its answer are the same whether the recipient is a known
 * user, an unknown one or a blocked one (no delivery runs for a blocked
 * user), and whether the delivery succeeds, fails or hangs.  Each
 * responder hands its codes to one courier process over a socket pair
 * (deliver_enqueue); the courier runs the delivery commands and records
 * each outcome in the audit log (pwl_job.c, pwl_job_end).
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
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "extern.h"

#define COURIER_RUN_MAX		4
#define COURIER_QUEUE_MAX	64
#define COURIER_JOB_MAX		4096	/* bytes of one job */
#define COURIER_FD		3	/* the courier's end of the socket */
#define COURIER_DELAY_MS	50	/* from a job's arrival to its start */
#define COURIER_TICK_MS		10	/* a look at waiting jobs, commands */
#define COURIER_STUCK_S		30	/* longest store work between looks */

/* A job and the lock byte of its recipient (see courier_lock). */
struct slot {
	struct pwl_job	 job;		/* json NULL: free */
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
courier_lock(const struct courier *c, const struct pwl_job *job)
{
	const char	*parts[2], *p;
	struct flock	 fl;
	uint32_t	 h = 2166136261u;	/* FNV-1a */
	int		 i;

	if (c->lockfd == -1)
		return LOCK_NONE;
	parts[0] = job->connection;
	parts[1] = job->recipient;
	for (i = 0; i < 2; i++)
		for (p = parts[i]; ; p++) {
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
		if (c->run[i].s.job.json != NULL && c->run[i].s.lock == b)
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

	pwl_job_clear(&sl->job);
	sl->lock = LOCK_NONE;
	courier_unlock(c, lock);
}

/* Queue a job received; one that does not fit is dropped (audited). */
static void
courier_push(struct courier *c, struct pwl_job *job)
{
	size_t	 i = (c->qhead + c->qlen) % COURIER_QUEUE_MAX;

	if (c->qlen == COURIER_QUEUE_MAX) {
		lk_warn("passwordless delivery queue full: code not sent");
		pwl_job_end(c->st, job, 0, "busy");
		pwl_job_clear(job);
		return;
	}
	c->queue[i].job = *job;
	c->queue[i].lock = courier_lock(c, job);
	c->qready[i] = lk_mono_ms() + COURIER_DELAY_MS;
	c->qlen++;
}

/* Read every job waiting on the socket; EOF closes it. */
static void
courier_read(struct courier *c)
{
	char		 buf[COURIER_JOB_MAX + 1];
	struct pwl_job	 job;
	json_t		*json;
	ssize_t		 n;

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
		json = json_loadb(buf, (size_t)n, 0, NULL);
		if (pwl_job_parse(json, &job) == -1) {
			lk_warn("passwordless delivery: unreadable job");
			deliver_job_free(json);
		} else {
			courier_push(c, &job);
			json_decref(json);	/* the job holds it */
		}
		OPENSSL_cleanse(buf, (size_t)n);
	}
}

/* 1 when a delivery of this courier to job's recipient runs. */
static int
courier_busy_with(const struct courier *c, const struct pwl_job *job)
{
	const struct pwl_job	*j;
	int			 i;

	for (i = 0; i < COURIER_RUN_MAX; i++)
		if ((j = &c->run[i].s.job)->json != NULL &&
		    strcmp(j->recipient, job->recipient) == 0 &&
		    strcmp(j->connection, job->connection) == 0)
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
	if (h->lock == LOCK_WAIT && (h->lock = courier_lock(c, &h->job)) ==
	    LOCK_WAIT)
		return 0;
	return !courier_busy_with(c, &h->job);
}

/* Start queued jobs, in order, while the first may start. */
static void
courier_launch(struct courier *c)
{
	struct task	*t;
	char		 why[64];

	while (courier_head_ready(c)) {
		for (t = c->run; t->s.job.json != NULL; t++)
			continue;	/* nrun < COURIER_RUN_MAX: one free */
		t->s = c->queue[c->qhead];
		c->qhead = (c->qhead + 1) % COURIER_QUEUE_MAX;
		c->qlen--;
		if (pwl_job_begin(c->st, &t->s.job, &t->cmd) == 0) {
			slot_clear(c, &t->s);
			continue;
		}
		if (delivery_start(&t->d, t->cmd.argv, &t->cmd.m,
		    t->cmd.timeout, why, sizeof(why)) == -1) {
			pwl_job_end(c->st, &t->s.job, 0, why);
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
		if (t->s.job.json == NULL || !delivery_done(&t->d))
			continue;
		ok = delivery_end(&t->d, &t->cmd.m, why, sizeof(why)) == 0;
		pwl_job_end(c->st, &t->s.job, ok, why);
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
		if (c->run[i].s.job.json != NULL && c->run[i].d.fd != -1) {
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

/* The courier process: never returns. */
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
	c.st = store_open_env(home, STORE_WATCH);
	while (c.fd != -1 || c.nrun > 0 || c.qlen > 0) {
		if (c.st != NULL && store_panicked(c.st)) {
			/* Closing waits for the recovery (stall.c). */
			stall_watch(NULL);
			store_close(c.st);
			c.st = store_open_env(home, STORE_WATCH);
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

/*
 * Send the job to the courier: one datagram, cleansed after.  0, or -1
 * with errno (EAGAIN: the queue is full; another: the courier is gone).
 */
static int
job_send(const json_t *job)
{
	char	*text;
	size_t	 len;
	int	 rc = -1, saved;

	if ((text = json_dumps(job, JSON_COMPACT)) == NULL)
		return errno = ENOMEM, -1;
	len = strlen(text);
	if (len > COURIER_JOB_MAX)
		errno = EMSGSIZE;
	else if (send(courier_fd, text, len, MSG_DONTWAIT | MSG_NOSIGNAL) ==
	    (ssize_t)len)
		rc = 0;
	saved = errno;
	OPENSSL_cleanse(text, len);
	free(text);
	errno = saved;
	return rc;
}

/*
 * The courier is started before the job is serialised: a fork while
 * the job's text is allocated would leave the courier a copy it can
 * never free (and the code in it).
 */
int
deliver_enqueue(const char *home, const json_t *job)
{
	int	 tries;

	for (tries = 0; tries < 2; tries++) {
		if (courier_fd == -1 && courier_start(home) == -1)
			return -1;
		if (job_send(job) == 0)
			return 0;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			lk_warn("passwordless delivery queue full: "
			    "code not sent");
			return -1;
		}
		if (errno == ENOMEM || errno == EMSGSIZE)
			return -1;
		/* The courier is gone: start another one. */
		close(courier_fd);
		courier_fd = -1;
	}
	return -1;
}
