/* core.now(), core.sleep() and core.cpu_time(): Lua code and specs measure time on the same
 * monotonic clock the engine uses (cg_clock.c). */
#include "cg_clock.h"
#include "cg_types.h"

#include <sys/resource.h>

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
