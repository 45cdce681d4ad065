/*
 * clock.c: the one monotonic clock for timings, deadlines and waits
 * (never for timestamps that leave the process: those use time()).
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
