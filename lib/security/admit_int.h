/*
 * admit_int.h: what the files of admission control share (admit.c: the
 * line and the slots; admit_lock.c: the file's byte locks and the
 * sleeps; admit_mem.c: the slots' hash memory).
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

#endif
