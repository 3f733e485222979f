/* Signal handling. The handlers only set a flag (async-signal-safe); the Lua thread's
 * waits wake at least every 50 ms and look at it, so next/poll return "interrupted"
 * promptly. A second SIGINT means the user insists: leave at once with status 130.
 * The flag is process-wide by nature (signals are), hence the one C global. */
#include "cg_signals.h"
#include "cg_types.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t g_interrupted = 0;

static void on_signal(int sig) {
  if (sig == SIGINT && g_interrupted) _exit(130);
  g_interrupted = sig;
}

int cg_interrupted(void) {
  return g_interrupted != 0;
}

/* Puts back the default actions. Must run before this library is unloaded: a signal that
 * reaches a handler whose code was unmapped by dlclose is a segfault (exit 139). */
static void restore_defaults(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = SIG_DFL;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
}

/*** core.restore_signals(): the default SIGINT and SIGTERM actions again. */
static int l_restore_signals(lua_State *L) {
  (void)L;
  restore_defaults();
  return 0;
}

/* Registry key of the guard whose finaliser restores the defaults when the state closes
 * (`os.exit(code, true)`, lua_close). Lua runs finalisers in the reverse order they were
 * set, and the table of loaded C libraries (whose finaliser unloads us) was set up first,
 * so the guard's runs before the unload. */
static const char GUARD_KEY = 0;

static int guard_gc(lua_State *L) {
  (void)L;
  restore_defaults();
  return 0;
}

static void install_guard(lua_State *L) {
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &GUARD_KEY) != LUA_TNIL) {
    lua_pop(L, 1);
    return;
  }
  lua_pop(L, 1);
  lua_newuserdatauv(L, 0, 0);
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, guard_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &GUARD_KEY);
}

/*** core.catch_signals() -> true: installs the SIGINT and SIGTERM handlers (the defaults
 * come back when the Lua state closes, or with core.restore_signals()). */
static int l_catch_signals(lua_State *L) {
  install_guard(L);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  if (sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0)
    return luaL_error(L, "cannot install signal handlers");
  lua_pushboolean(L, 1);
  return 1;
}

/*** core.interrupted() -> false | "SIGINT" | "SIGTERM". */
static int l_interrupted(lua_State *L) {
  int s = g_interrupted;
  if (!s) lua_pushboolean(L, 0);
  else lua_pushstring(L, s == SIGTERM ? "SIGTERM" : "SIGINT");
  return 1;
}

/*** core.reset_interrupted(): clears the flag (for specs and for callers that handled it). */
static int l_reset_interrupted(lua_State *L) {
  (void)L;
  g_interrupted = 0;
  return 0;
}

int cg_signals_open(lua_State *L) {
  static const luaL_Reg fns[] = {{"catch_signals", l_catch_signals},
                                 {"interrupted", l_interrupted},
                                 {"restore_signals", l_restore_signals},
                                 {"reset_interrupted", l_reset_interrupted},
                                 {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
  return 0;
}
