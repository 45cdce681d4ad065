/*
 * fcntl_next.h: the real fcntl(2) behind one a test binary interposes
 * (test_stall, test_admit_slot: a process stopped at a chosen lock).
 * Every command those tests meet takes a pointer or an int, both one
 * register-sized argument, so the interposer passes it on as a pointer.
 */
#ifndef FCNTL_NEXT_H
#define FCNTL_NEXT_H

#include <dlfcn.h>
#include <stdlib.h>

static inline int
fcntl_next(int fd, int cmd, void *arg)
{
	static int	(*real)(int, int, ...);

	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "fcntl");
	if (real == NULL)
		abort();
	return real(fd, cmd, arg);
}

#endif /* !FCNTL_NEXT_H */
