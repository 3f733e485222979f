/* Clocks: a monotonic one for every interval the engine measures, and the wall clock only
 * where HTTP dates need it. */
#ifndef CG_CLOCK_H
#define CG_CLOCK_H

#include <time.h>

/* Seconds on CLOCK_MONOTONIC. */
double cg_now(void);
/* Seconds since the epoch (for Retry-After dates). */
double cg_wall_now(void);
/* Absolute CLOCK_MONOTONIC deadline `s` seconds from now, for pthread_cond_timedwait. */
struct timespec cg_deadline(double s);
/* Sleeps `s` seconds (the rest of it again after a signal). */
void cg_sleep(double s);

#endif
