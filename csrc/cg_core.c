/* luaopen_coursegen_core: builds the module table from each file's opener, and holds the
 * small option helpers every binding shares. */
#include "cg_types.h"
#include "cg_http.h"
#include "cg_redis.h"
#include "cg_fs.h"

#include <string.h>

double cg_opt_number(lua_State *L, int idx, const char *key, double def) {
  int t = lua_getfield(L, idx, key);
  double v = def;
  if (t != LUA_TNIL) {
    if (lua_type(L, -1) != LUA_TNUMBER)
      luaL_error(L, "bad option '%s' (number expected, got %s)", key, luaL_typename(L, -1));
    v = lua_tonumber(L, -1);
    if (v != v) luaL_error(L, "bad option '%s' (number expected, got nan)", key);
  }
  lua_pop(L, 1);
  return v;
}

void cg_check_keys(lua_State *L, int idx, const char *const *known, const char *what) {
  idx = lua_absindex(L, idx);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    if (lua_type(L, -1) == LUA_TSTRING) {
      int ok = 0;
      const char *k = lua_tostring(L, -1);
      for (const char *const *p = known; *p && !ok; p++) ok = strcmp(*p, k) == 0;
      if (!ok) luaL_error(L, "unknown option '%s' for %s", k, what);
    } else {
      luaL_error(L, "unknown option (a %s key) for %s", luaL_typename(L, -1), what);
    }
  }
}

__attribute__((visibility("default"))) int luaopen_coursegen_core(lua_State *L);

int luaopen_coursegen_core(lua_State *L) {
  /* Before any engine thread exists: curl_global_init is not thread-safe. */
  if (cg_http_global_init() != 0) return luaL_error(L, "cannot initialise libcurl");
  static int (*const openers[])(lua_State *) = {cg_clock_open, cg_signals_open, cg_limit_open,
                                                cg_admit_open, cg_retry_open, cg_hints_open, cg_engine_open,
                                                cg_redis_open, cg_sha256_open, cg_fs_open,
                                                cg_unicode_open};
  lua_newtable(L);
  for (size_t i = 0; i < sizeof openers / sizeof openers[0]; i++) openers[i](L);
  lua_pushliteral(L, "0.1.0"); /* the same as lua/coursegen/version.lua (a spec checks) */
  lua_setfield(L, -2, "_VERSION");
  return 1;
}
