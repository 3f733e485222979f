/* Clocks, plus core.now() and core.sleep() so Lua code and specs measure time on the same
 * monotonic clock the engine uses. */
#include "cg_clock.h"
#include "cg_types.h"

#include <errno.h>
#include <math.h>
#include <sys/resource.h>

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

/*** core.now() -> seconds on the monotonic clock. */
static int l_now(lua_State *L) {
  lua_pushnumber(L, cg_now());
  return 1;
}

/*** core.sleep(s): sleeps s seconds (restarted after signals, so it sleeps the whole time
 * unless the process is interrupted by a handler that ends it). */
static int l_sleep(lua_State *L) {
  double s = luaL_checknumber(L, 1);
  luaL_argcheck(L, s >= 0 && s <= 1e6, 1, "expected 0 <= seconds <= 1e6");
  cg_sleep(s);
  return 0;
}

/*** core.cpu_time(who?) -> user_s, system_s: CPU used by this process ("self", default)
 * or by its waited-for children ("children"), for benchmarks. */
static int l_cpu_time(lua_State *L) {
  static const char *const whos[] = {"self", "children", NULL};
  int who = luaL_checkoption(L, 1, "self", whos) == 0 ? RUSAGE_SELF : RUSAGE_CHILDREN;
  struct rusage ru;
  if (getrusage(who, &ru) != 0) return luaL_error(L, "getrusage failed");
  lua_pushnumber(L, (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6);
  lua_pushnumber(L, (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6);
  return 2;
}

int cg_clock_open(lua_State *L) {
  static const luaL_Reg fns[] = {{"now", l_now}, {"sleep", l_sleep}, {"cpu_time", l_cpu_time}, {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
  return 0;
}
