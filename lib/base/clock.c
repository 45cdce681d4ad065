/*
 * clock.c: the one monotonic clock for timings, deadlines and waits
 * (never for timestamps that leave the process: those use lk_now()).
 */
#include <time.h>

#include "extern.h"

double
lk_mono_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/*
 * The wall clock's second, from the clock the audit log takes its
 * nanoseconds from (audit.c).  time() reads a coarser copy that can lag
 * it by a tick at a second's boundary: a request stamped by time() with
 * the second just ended, recording events after the new second began,
 * got the key of that second's end, as did the next request, and the two
 * were ordered by chance (an e2e flake once closes got faster).
 */
time_t
lk_now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec;
}
