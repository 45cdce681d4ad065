/*
 * admit_int.h: what the files of admission control share (admit.c: the
 * line and the slots; admit_lock.c: the file's byte locks and the
 * sleeps; admit_mem.c: the slots' hash memory; admit_predict.c: the
 * prediction).
 */
#ifndef ADMIT_INT_H
#define ADMIT_INT_H

#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define ADMIT_USERS		2048	/* held shared by slot memory users */
#define ADMIT_SLOTS_MAX		64
#define ADMIT_SIGNAL		(SIGRTMIN + 3)	/* ends a timed lock wait */
#define ADMIT_WAIT_MAX		60000	/* ms, the longest wait */
#define ADMIT_QUEUE_MAX		1024	/* ticket bytes: the most waiters */
#define ADMIT_LATE_N		128	/* the overrun's samples */

/*
 * The two ticket dispensers: the logins placed on arrival and not yet
 * at the hash (counted, not ordered), and the line at the hash (each
 * waits its turn there).  Each has its ticket bytes.
 */
enum admit_line {
	LINE_PLACED,
	LINE_HASH,
	LINE__MAX
};

/* A dispenser's counters, each on its own cache line. */
struct dispenser {
	_Atomic uint64_t	 next;		/* next ticket */
	char			 pad1[56];
	_Atomic uint64_t	 head;		/* oldest ticket maybe held */
	char			 pad2[56];
	_Atomic int64_t		 live;		/* tickets taken, not given back */
	char			 pad3[56];
};

/*
 * The admission file's first page, mapped shared: the hash time at
 * offset 0 (as before the line existed), the counters on their own
 * cache lines.  Lock-free 64-bit atomics (x86-64, arm64).
 */
struct admit_page {
	_Atomic double		 hash_ms;	/* last writer's average */
	char			 pad0[56];
	struct dispenser	 q[LINE__MAX];
	_Atomic uint32_t	 frees;		/* futex: bumped at each slot's
						 * release */
	char			 pad4[60];
	_Atomic double		 freed[ADMIT_SLOTS_MAX];	/* ms, each
						 * slot's last release */
	_Atomic double		 hash_var;	/* ms^2, moving variance */
	_Atomic uint32_t	 sleepers;	/* waiters on `frees` */
	_Atomic double		 round_ms;	/* a round of the line, as
						 * the logins that waited saw it */
	_Atomic double		 round_at;	/* ms (CLOCK_MONOTONIC), its
						 * last sample */
	_Atomic double		 overrun;	/* waits / their prediction:
						 * the latest ones' largest */
	_Atomic double		 late_at;	/* ms, the last sample */
	_Atomic uint32_t	 late_next;	/* the next sample's index */
	_Atomic float		 late[ADMIT_LATE_N];	/* the latest
						 * waits / their prediction */
};
/* The page is the file's first ADMIT_USERS bytes (page_map sizes it). */
_Static_assert(sizeof(struct admit_page) <= ADMIT_USERS,
    "the admission page fits before the users' lock byte");

struct admit_limits;

/* admit.c: the page mapped, or NULL (not open, or admission off). */
struct admit_page *admit_page(void);

/* admit_predict.c */
void	 admit_predict_refresh(struct admit_page *);
int	 admit_within_budget(const struct admit_limits *, uint64_t rounds);
int	 admit_retry_after(const struct admit_limits *, uint64_t n);
void	 admit_round_sample(struct admit_page *, double at, uint64_t rounds,
	    double predicted);
void	 admit_hash_fold(struct admit_page *, double ms, int shared);

/* admit_lock.c */
int	 admit_lock(int fd, int b, short type, int cmd);
int	 admit_lock_one(int fd, int base, int n, int spread);
int	 admit_held(int fd, int b);
int	 admit_lock_wait(int fd, int b, short type, double ms);
int	 admit_peer_gone(int fd);
void	 admit_futex_wait(_Atomic uint32_t *word, uint32_t seen, double ms);
void	 admit_futex_wake(_Atomic uint32_t *word, _Atomic uint32_t *sleepers);

/* admit_mem.c */
void	*admit_mem_slot(int afd, int k, size_t size);
void	 admit_mem_close(int afd);
void	 admit_mem_pin(int k, int slots);
void	 admit_mem_unpin(void);

#endif
