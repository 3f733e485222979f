/* Clocks: the monotonic one every interval of the engine is measured on, the wall clock
 * for HTTP dates, and condition-wait deadlines. Their Lua side is cg_clock_lua.c. */
#include "cg_clock.h"

#include <errno.h>
#include <math.h>

double cg_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double cg_wall_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

struct timespec cg_deadline(double s) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  if (s < 0) s = 0;
  if (s > 1e9) s = 1e9;
  double whole = floor(s);
  ts.tv_sec += (time_t)whole;
  ts.tv_nsec += (long)((s - whole) * 1e9);
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000L;
  }
  return ts;
}

void cg_sleep(double s) {
  if (!(s > 0)) return;
  struct timespec ts;
  ts.tv_sec = (time_t)floor(s);
  ts.tv_nsec = (long)((s - floor(s)) * 1e9);
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}
