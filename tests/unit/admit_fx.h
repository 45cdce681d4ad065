/*
 * admit_fx.h: the fixture test_admit and test_admit_slot share
 * (admit_fx.c).
 */
#ifndef ADMIT_FX_H
#define ADMIT_FX_H

#include "tenant_of.h"	/* tenant_of() */

/* What actor `id` reports once admitted or refused: its slot (-1:
 * refused), the Retry-After it was given, the hash time it predicts
 * with. */
struct report {
	int	 id;
	int	 slot;
	int	 retry_after;
	double	 hash_ms;
	int	 placed;	/* placer(): admit_arrive gave a place */
};

/* An actor: its process, the pipe that lets it leave its slot. */
struct actor {
	pid_t	 pid;
	int	 go[2];
};

/* The test's home (mkdtemp'd by admit_fx_setup). */
#define ADMIT_FX_HOME	"/tmp/latchkey-test-admit-XXXXXX"
extern char	 home[sizeof(ADMIT_FX_HOME)];
/* A descriptor the next actor closes (the parent's end of its peer). */
extern int	 actor_close;

void		 sleep_ms(double ms);
/* Admission limits (queue, budget_ms -1: none set) and the smallest
 * hash policy. */
json_t		*limits(int slots, int queue, int budget_ms);
/* Actor `id` asks for a slot under t (peer: its web server connection,
 * 0 none), reports to fd and, admitted, holds it until release(). */
void		 actor(struct actor *x, int fd, int id, const json_t *t,
		    int peer);
/* Placer `id`: a login arriving under t (admit_arrive) reports whether
 * it was placed and, placed, keeps its place until release(). */
void		 placer(struct actor *x, int fd, int id, const json_t *t);
void		 release(struct actor *x);
struct report	 next_report(int fd);
void		 reap_pid(pid_t pid);
void		 reap(struct actor *x);
/* Wait (10 s at most) until n logins wait in line. */
void		 waiting(int n);
/* A fresh admission file: no hash time measured, an empty line. */
void		 fresh_file(void);
/* Set the hash time every process shares to ms. */
void		 shared_hash_time(double ms);
int		 admit_fx_setup(void **state);
int		 admit_fx_teardown(void **state);

#endif
