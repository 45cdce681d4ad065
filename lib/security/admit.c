/*
 * admit.c: admission control for password hashing (docs/COMPAT.md 9.7).
 *
 * A password verify costs ~20 ms of one core by design (argon2id), so
 * at most `hash_slots` verifies run at once across every responder
 * process.  A password login takes its place in line when it arrives,
 * before anything is read (admit_arrive(): no client check, attack-
 * protection read or user lookup yet), as long as its predicted wait
 * stays within the tenant's latency budget (`login_queue_budget_ms`,
 * default 1 s): the logins in line ahead of it that will find no free
 * slot, times the measured hash time, divided among the slots.  Beyond
 * the budget it is refused there and then, with 503
 * temporarily_unavailable and a Retry-After of the time the line ahead
 * needs (RFC 9110 15.6.4, 10.2.3): a refusal costs microseconds and
 * tells nothing of the client or the user, and, as before, counts no
 * failed login.  A login placed is served, however long the line then
 * takes (a late refusal would throw its wait away), unless its client
 * goes away.  Eight users logging in together on two cores wait a few
 * hash times; none is turned away (a 503 is a failed login for a
 * person: the SDKs do not retry it).  The waiting room's size is thus
 * the budget's: budget x slots / hash time waiters (`hash_queue`, when
 * set, caps it further).  A login that reaches the hash unplaced
 * (/oauth/ro) is placed there, by the same rule.
 *
 * The slots are one-byte OFD locks (fcntl F_OFD_SETLK) on one file,
 * LATCHKEY_HOME/run/admission: bytes [0, slots) are the hash slots.  A
 * lock belongs to the open file and dies with the process, so a
 * responder killed while hashing (the fault test SIGKILLs them) frees
 * its slot; no semaphore can leak.
 *
 * The line is two ticket dispensers in the file's first page, mapped
 * by every responder, each with `next`, the next ticket, and `head`,
 * the oldest ticket perhaps still held: the logins placed on arrival
 * and not yet at the hash, and the line at the hash.  A ticket is also
 * a one-byte OFD lock (the dispenser's ADMIT_QUEUE_MAX bytes from
 * ADMIT_QUEUE_BASE, t mod ADMIT_QUEUE_MAX), held while its login holds
 * it and taken before the ticket is published, so a ticket whose byte
 * is free is over: given up, or its process died (a login refused takes
 * no ticket).  Anyone moves `head` past such tickets; `live` counts the
 * tickets not given back, so that the count is exact when some left
 * out of turn.  A placed login that reaches the hash takes its turn in
 * the second line before it gives its place back: it is counted all
 * along, and one still reading its client or user (on a loaded machine
 * that can take long) holds up no one at the hash.  Those are served
 * in ticket order: the first `slots` of the line try the slots and
 * sleep on a futex word in the page that every release bumps and wakes
 * (a freed slot, whichever, is taken at once), the others sleep on the
 * byte of the ticket a line of slots before theirs, which wakes them
 * when it is freed; no login takes a slot freed for the line.  Every
 * sleep is bounded, and between sleeps a waiter polls its web server
 * connection: a client that went away frees its place at once (FastCGI:
 * the web server closes the connection to the responder when its
 * client disconnects; plain CGI gives no such sign, its waiter keeps
 * its place).
 *
 * The prediction (the hash time the processes share, the round time
 * the waiting logins saw, the 99th percentile) is admit_predict.c's.
 *
 * Each slot's hash memory is shared by every responder (admit_mem.c).
 *
 * When the lock file cannot be used, hashing is admitted without
 * control (logged once): availability before protection.
 */
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "extern.h"
#include "admit_int.h"

#define ADMIT_QUEUE_BASE	4096	/* first ticket byte (2 dispensers) */
#define ADMIT_TAKE_TRIES	64	/* ticket races before giving up */
#define ADMIT_TAKE_MS		50	/* ... and at least this long */
#define ADMIT_PIN_MS		1.0	/* shortest hash run on its own core */


static int	 admit_fd = -1;
static int	 admit_broken;		/* could not open: admit everything */
static struct admit_page *page;		/* the file's first page */
static struct {
	int		 held;
	uint64_t	 t;
} place[LINE__MAX];			/* this request's tickets */
static struct {
	double		 at;		/* ms, when the login was placed */
	uint64_t	 rounds;	/* the rounds of the line predicted */
	double		 predicted;	/* ms, their mean */
} placed;

static void	 place_give_back(void);

struct admit_page *
admit_page(void)
{
	return page;
}


/* Map the admission file's first page (sized first: a new file is
 * empty, and its zeroes are an empty line).  0, or -1 with errno. */
static int
page_map(void)
{
	struct stat	 st;
	void		*p;

	if (fstat(admit_fd, &st) == -1)
		return -1;
	if (st.st_size < ADMIT_USERS && ftruncate(admit_fd, ADMIT_USERS) == -1)
		return -1;
	p = mmap(NULL, sizeof(*page), PROT_READ | PROT_WRITE, MAP_SHARED,
	    admit_fd, 0);
	if (p == MAP_FAILED)
		return -1;
	page = p;
	return 0;
}

/* Open (once) home/run/admission.  0, or -1 (logged once). */
static int
admit_open(const char *home)
{
	char	 path[PATH_MAX];
	mode_t	 omask;

	if (admit_fd != -1)
		return 0;
	if (admit_broken)
		return -1;
	omask = umask(077);
	if ((size_t)snprintf(path, sizeof(path), "%s/run", home) >= sizeof(path) ||
	    (mkdir(path, 0700) == -1 && errno != EEXIST) ||
	    (size_t)snprintf(path, sizeof(path), "%s/run/admission", home) >=
	    sizeof(path) ||
	    (admit_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) == -1) {
		umask(omask);
		lk_warn("%s/run/admission: %s; password hashing runs without "
		    "admission control", home, strerror(errno));
		admit_broken = 1;
		return -1;
	}
	umask(omask);
	if (page_map() == -1) {
		lk_warn("%s: %s; password hashing runs without admission "
		    "control", path, strerror(errno));
		close(admit_fd);
		admit_fd = -1;
		admit_broken = 1;
		return -1;
	}
	return 0;
}

/* fcntl(cmd) of lock type on byte b of the admission file: 0 or -1. */
static int
byte_lock(int b, short type, int cmd)
{
	return admit_lock(admit_fd, b, type, cmd);
}

static void
unlock_one(int b)
{
	if (b >= 0 && admit_fd != -1)
		(void)byte_lock(b, F_UNLCK, F_OFD_SETLK);
}

void
admit_close(void)
{
	place_give_back();
	if (admit_fd != -1)
		admit_mem_close(admit_fd);
	if (page != NULL)
		munmap(page, sizeof(*page));
	page = NULL;
	if (admit_fd != -1)
		close(admit_fd);
	admit_fd = -1;
}

static int
ticket_byte(enum admit_line w, uint64_t t)
{
	return ADMIT_QUEUE_BASE + (int)w * ADMIT_QUEUE_MAX +
	    (int)(t % ADMIT_QUEUE_MAX);
}

/*
 * Move head past the tickets that are over (their byte free), up to
 * limit (our own ticket: our own lock does not show in F_OFD_GETLK).
 * The head now.
 */
static uint64_t
head_advance(enum admit_line w, uint64_t limit)
{
	struct dispenser	*q = &page->q[w];
	uint64_t		 h = atomic_load(&q->head);

	while (h < limit) {
		if (admit_held(admit_fd, ticket_byte(w, h)))
			break;
		/* Lost the race: another process moved it; go on from there. */
		(void)atomic_compare_exchange_strong(&q->head, &h, h + 1);
		h = atomic_load(&q->head);
	}
	return h;
}

/* The holders among tickets [from, to) of w: those whose byte is held. */
static uint64_t
line_count(enum admit_line w, uint64_t from, uint64_t to)
{
	uint64_t	 n = 0;

	for (; from < to; from++)
		n += (uint64_t)admit_held(admit_fd, ticket_byte(w, from));
	return n;
}

/*
 * The logins in line: the tickets from the oldest still held to the
 * next, or the count of tickets taken and not given back when that is
 * fewer (tickets given back out of turn leave holes behind the head; a
 * process killed holding one leaves the count high, never the span).
 * Only logins in line hold tickets (a login refused takes none), so
 * this costs a look at the head's byte, not one at each ticket:
 * counting them all cost each arrival hundreds of fcntl calls under a
 * storm of refusals.
 */
static uint64_t
line_ahead(enum admit_line w)
{
	struct dispenser	*q = &page->q[w];
	uint64_t		 n = atomic_load(&q->next), h;
	int64_t			 live = atomic_load(&q->live);

	if ((h = atomic_load(&q->head)) == n)
		return 0;
	if (h > n) {	/* nonsense in the file: start afresh */
		atomic_store(&q->head, n);
		return 0;
	}
	h = n - head_advance(w, n);
	return live >= 0 && (uint64_t)live < h ? (uint64_t)live : h;
}

/* The slots no one holds now. */
static uint64_t
slots_free(int slots)
{
	uint64_t	 n = 0;
	int		 k;

	for (k = 0; k < slots; k++)
		n += (uint64_t)!admit_held(admit_fd, k);
	return n;
}

/*
 * Take the next ticket, its byte locked before it is published (so a
 * ticket whose byte is free is over).  0 with *t, or -1: the line is
 * full (ADMIT_QUEUE_MAX waiting) or kept changing under us.
 */
static int
ticket_take(enum admit_line w)
{
	struct dispenser	*q = &page->q[w];
	struct timespec		 nap = { 0, 100000 };
	double			 until = lk_mono_ms() + ADMIT_TAKE_MS;
	uint64_t		 n;
	int			 i;

	for (i = 0; i < ADMIT_TAKE_TRIES || lk_mono_ms() < until; i++) {
		n = atomic_load(&q->next);
		if (n - atomic_load(&q->head) >= ADMIT_QUEUE_MAX &&
		    n - head_advance(w, n) >= ADMIT_QUEUE_MAX)
			return -1;
		/* Another is taking ticket n: between its lock and its
		 * compare-and-swap, it may have lost its core; let it run
		 * (64 tries spinning, or yielding, came to nothing on two busy
		 * cores and refused logins of an empty line at c = 4 and 8):
		 * a tenth of a millisecond's sleep, for ADMIT_TAKE_MS at most. */
		if (byte_lock(ticket_byte(w, n), F_WRLCK, F_OFD_SETLK) == -1) {
			if (atomic_load(&q->next) == n)
				(void)nanosleep(&nap, NULL);
			continue;
		}
		if (atomic_compare_exchange_strong(&q->next, &n, n + 1)) {
			atomic_fetch_add(&q->live, 1);
			place[w].t = n;
			place[w].held = 1;
			return 0;
		}
		unlock_one(ticket_byte(w, n));
	}
	return -1;
}

/* Verifies in slot k's memory, sized for the tenant's policy. */
static void
arena_set(const struct tenant *tenant, int k)
{
	struct hash_policy	 pol = tenant->hash_policy;
	size_t			 size;

	size = (size_t)pol.m_cost * 1024;
	hash_arena(admit_mem_slot(admit_fd, k, size), size);
}

static double
ms_min(double a, double b)
{
	return a < b ? a : b;
}

/*
 * Wait with ticket t (its byte held) until a slot is ours: the slot, or
 * -1 (past the deadline, or the client went away).  The first `slots`
 * tickets in line try the slots, and sleep on the futex word every
 * release bumps, so that whichever slot frees first wakes them at once
 * (sleeping on one slot's lock, a waiter found another slot freed only
 * at its next try, up to a quarter of a hash time later, while a core
 * idled).  The others sleep on the byte of the ticket a line of slots
 * ahead (t - slots), a hash time at most: its owner frees it when it
 * has its slot, which wakes them.  No waiter polls.
 */
static int
line_wait(const struct admit_limits *l, uint64_t t, double deadline,
    int peer_fd)
{
	uint64_t	 s = (uint64_t)l->slots, h;
	uint32_t	 seen;
	double		 left;
	int		 slot;

	while ((left = deadline - lk_mono_ms()) > 0 && !admit_peer_gone(peer_fd)) {
		h = head_advance(LINE_HASH, t);
		if (t >= h + s && admit_held(admit_fd, ticket_byte(LINE_HASH, t - s))) {
			if (admit_lock_wait(admit_fd, ticket_byte(LINE_HASH, t - s), F_RDLCK,
			    ms_min(left, l->hash_ms)) == 0)
				unlock_one(ticket_byte(LINE_HASH, t - s));
			continue;
		}
		atomic_fetch_add(&page->sleepers, 1);
		seen = atomic_load(&page->frees);
		if ((slot = admit_lock_one(admit_fd, 0, l->slots, 1)) == -1)
			admit_futex_wait(&page->frees, seen, ms_min(left, l->hash_ms));
		atomic_fetch_sub(&page->sleepers, 1);
		if (slot != -1)
			return slot;
	}
	return -1;
}

/*
 * A place in line for a login arriving now, as the budget allows: the
 * logins in line ahead of it that will not find a free slot, a slot's
 * worth at a time, each a hash time, must fit the budget (and
 * hash_queue).  Beyond it ADMIT_BUSY at once, without a ticket, with
 * a->retry_after; else ADMIT_OK with this request's ticket taken.
 */
static enum admit_rc
place_take(const struct admit_limits *l, struct admit *a)
{
	uint64_t	 ahead, open, wait;

	ahead = line_ahead(LINE_PLACED) + line_ahead(LINE_HASH);
	/* No one in line and a round within the budget: placed whether a
	 * slot is free or not, without looking at them (two fcntl(2)s a
	 * login on a quiet line); such a login gives no round sample. */
	if (ahead == 0 && l->queue > 0 && admit_within_budget(l, 1))
		open = UINT64_MAX;
	else
		open = slots_free(l->slots);
	wait = ahead > open ? ahead - open : 0;
	if (ahead >= open && (wait >= (uint64_t)l->queue ||
	    !admit_within_budget(l, wait / (uint64_t)l->slots + 1))) {
		a->retry_after = admit_retry_after(l, wait + 1);
		return ADMIT_BUSY;
	}
	if (ticket_take(LINE_PLACED) == -1) {
		a->retry_after = admit_retry_after(l, ahead + 1);
		return ADMIT_BUSY;
	}
	placed.at = lk_mono_ms();
	placed.rounds = ahead >= open ? wait / (uint64_t)l->slots + 1 : 0;
	placed.predicted = (double)placed.rounds * l->round_ms;
	return ADMIT_OK;
}

static void
give_back(enum admit_line w)
{
	if (!place[w].held)
		return;
	unlock_one(ticket_byte(w, place[w].t));
	if (page != NULL)
		atomic_fetch_sub(&page->q[w].live, 1);
	place[w].held = 0;
}

static void
place_give_back(void)
{
	give_back(LINE_PLACED);
	give_back(LINE_HASH);
	placed.rounds = 0;
}

/* Open the admission file and read the limits in force: -1 when
 * hashing runs without admission control. */
static int
admit_prepare(struct lk_ctx *ctx, const struct tenant *tenant,
    struct admit_limits *l)
{
	if (admit_open(ctx->home) == -1)
		return -1;
	admit_predict_refresh(page);
	admit_limits(tenant, l);
	return 0;
}

enum admit_rc
admit_arrive(struct lk_ctx *ctx, const struct tenant *tenant,
    struct admit *a)
{
	struct admit_limits	 l;

	a->slot = -1;
	a->retry_after = 1;
	if (place[LINE_PLACED].held || admit_prepare(ctx, tenant, &l) == -1)
		return ADMIT_OK;
	return place_take(&l, a);
}

void
admit_depart(void)
{
	place_give_back();
}

/* The placed login's turn in the line at the hash, taken before its
 * place is given back, so that it is counted all along: 0, or -1 (the
 * line is full). */
static int
turn_take(void)
{
	int	 rc = ticket_take(LINE_HASH);

	give_back(LINE_PLACED);
	return rc;
}

/*
 * The slot of a placed login, or -1.  With no one in line at the hash
 * and a slot free, it is taken at once, without a turn in line (no
 * ticket to lock and give back on a quiet line).  Else the login waits
 * its turn: its wait was predicted within the budget, and a late
 * refusal would waste the wait; only a client gone, or a line stuck for
 * ADMIT_WAIT_MAX, ends it.  It lets go of the store while it waits (up
 * to the budget: an opener that must recover waits for every holder,
 * store.h); the hash itself, one hash time, holds it.
 */
static int
slot_take(const struct admit_limits *l, const struct admit *a,
    struct store *store)
{
	int	 slot = -1;

	if (line_ahead(LINE_HASH) == 0 &&
	    (slot = admit_lock_one(admit_fd, 0, l->slots, 1)) != -1) {
		give_back(LINE_PLACED);
		return slot;
	}
	store_pause(store);
	if (turn_take() == 0)
		slot = line_wait(l, place[LINE_HASH].t,
		    a->t0 + ADMIT_WAIT_MAX, a->peer_fd);
	give_back(LINE_HASH);
	store_resume(store);
	return slot;
}

enum admit_rc
admit_hash_enter(struct lk_ctx *ctx, const struct tenant *tenant,
    struct admit *a)
{
	struct admit_limits	 l;
	double			 h;

	a->slot = -1;
	a->retry_after = 1;
	a->t0 = lk_mono_ms();
	if (admit_prepare(ctx, tenant, &l) == -1)
		return ADMIT_OK;
	/* A login not placed at its arrival (admit_arrive) is placed now. */
	if (!place[LINE_PLACED].held && place_take(&l, a) == ADMIT_BUSY)
		return ADMIT_BUSY;
	if ((a->slot = slot_take(&l, a, ctx->store)) == -1) {
		a->retry_after = admit_retry_after(&l, line_ahead(LINE_HASH));
		return ADMIT_BUSY;
	}
	admit_round_sample(page, placed.at, placed.rounds, placed.predicted);
	placed.rounds = 0;
	/* The slot's time runs from its release to us when we waited for
	 * it: the hand-off (a waiter woken, scheduled) is the line's time
	 * too, and on a loaded machine no small part of it. */
	if ((h = atomic_load(&page->freed[a->slot])) <= a->t0 ||
	    h > lk_mono_ms())
		h = lk_mono_ms();
	arena_set(tenant, a->slot);
	/* A hash of a millisecond or less is not worth moving for. */
	if (l.hash_ms >= ADMIT_PIN_MS)
		admit_mem_pin(a->slot, l.slots);
	a->t0 = h;
	return ADMIT_OK;
}

int
admit_waiting(struct lk_ctx *ctx)
{
	uint64_t	 n, total = 0;
	int		 w;

	if (admit_open(ctx->home) == -1)
		return 0;
	for (w = 0; w < LINE__MAX; w++) {
		n = atomic_load(&page->q[w].next);
		total += line_count((enum admit_line)w,
		    head_advance((enum admit_line)w, n), n);
	}
	return (int)total;
}

void
admit_hash_leave(struct admit *a)
{
	admit_hash_fold(page, lk_mono_ms() - a->t0, a->slot >= 0);
	hash_arena(NULL, 0);
	admit_mem_unpin();
	if (a->slot >= 0 && a->slot < ADMIT_SLOTS_MAX && page != NULL)
		atomic_store(&page->freed[a->slot], lk_mono_ms());
	unlock_one(a->slot);
	if (a->slot >= 0 && page != NULL)
		admit_futex_wake(&page->frees, &page->sleepers);
	a->slot = -1;
}

int
admit_shed(struct lk_resp *resp, const struct admit *a)
{
	if (oerr_write(resp, OERR_TEMPORARILY_UNAVAILABLE, NULL) == -1)
		return -1;
	return resp_header(resp, "Retry-After", "%d", a->retry_after);
}
