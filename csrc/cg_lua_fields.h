/* One field of the table on top of the Lua stack: the bindings build their result
 * tables with these, one line a field. */
#ifndef CG_LUA_FIELDS_H
#define CG_LUA_FIELDS_H

#include <lua.h>

static inline void cg_set_num(lua_State *L, const char *k, lua_Number v) {
  lua_pushnumber(L, v);
  lua_setfield(L, -2, k);
}

static inline void cg_set_int(lua_State *L, const char *k, lua_Integer v) {
  lua_pushinteger(L, v);
  lua_setfield(L, -2, k);
}

static inline void cg_set_str(lua_State *L, const char *k, const char *v) {
  lua_pushstring(L, v);
  lua_setfield(L, -2, k);
}

static inline void cg_set_bool(lua_State *L, const char *k, int v) {
  lua_pushboolean(L, v);
  lua_setfield(L, -2, k);
}

#endif
