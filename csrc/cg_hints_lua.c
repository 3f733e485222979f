/* core.parse_duration, core.parse_retry_after, core.hint: the hint parsers of cg_hints.c
 * for specs, and the reader of a Lua headers table into hints. */
#include "cg_clock.h"
#include "cg_hints.h"
#include "cg_hints_lua.h"
#include "cg_types.h"

#include <string.h>

/* ---- Lua ------------------------------------------------------------------------ */

static void pushnum_or_nil(lua_State *L, double d) {
  if (d >= 0) lua_pushnumber(L, d);
  else lua_pushnil(L);
}

/*** core.parse_duration(s) -> seconds | nil */
static int l_parse_duration(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  pushnum_or_nil(L, cg_parse_duration(s, n));
  return 1;
}

/*** core.parse_retry_after(s, now_unix?) -> seconds | nil */
static int l_parse_retry_after(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  pushnum_or_nil(L, cg_parse_retry_after(s, n, luaL_optnumber(L, 2, cg_wall_now())));
  return 1;
}

void cg_hints_from_table(lua_State *L, int idx, cg_hints *h, double wall_now) {
  idx = lua_absindex(L, idx);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    if (lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TSTRING) {
      /* The same "Name: value" line the engine's header callback sees. */
      lua_pushvalue(L, -2);
      lua_pushliteral(L, ": ");
      lua_pushvalue(L, -3);
      lua_concat(L, 3);
      size_t n;
      const char *line = lua_tolstring(L, -1, &n);
      cg_hints_header(h, line, n, wall_now);
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  }
}

/*** core.hint(headers, body?, now_unix?) -> seconds, source | nil. `headers` maps header
 * names (any case) to values; the answer follows the engine's precedence. */
static int l_hint(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  size_t blen = 0;
  const char *body = luaL_optlstring(L, 2, "", &blen);
  double now = luaL_optnumber(L, 3, cg_wall_now());
  cg_hints h;
  cg_hints_reset(&h);
  cg_hints_from_table(L, 1, &h, now);
  const char *source = NULL;
  double d = cg_hints_delay(&h, body, blen, &source);
  if (d < 0) {
    lua_pushnil(L);
    return 1;
  }
  lua_pushnumber(L, d);
  lua_pushstring(L, source);
  return 2;
}

int cg_hints_open(lua_State *L) {
  static const luaL_Reg fns[] = {{"parse_duration", l_parse_duration},
                                 {"parse_retry_after", l_parse_retry_after},
                                 {"hint", l_hint},
                                 {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
  return 0;
}
