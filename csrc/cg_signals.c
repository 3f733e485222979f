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

/*** core.catch_signals() -> true: installs the SIGINT and SIGTERM handlers. */
static int l_catch_signals(lua_State *L) {
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
                                 {"reset_interrupted", l_reset_interrupted},
                                 {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
  return 0;
}
