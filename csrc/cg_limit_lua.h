/* The limiter's Lua side (cg_limit_lua.c): option readers shared with the engine, and the
 * limiter inside a core.limiter object (for core.admission). */
#ifndef CG_LIMIT_LUA_H
#define CG_LIMIT_LUA_H

#include <lua.h>

#include "cg_limit.h"

/* Read the limit fields / the AIMD fields of the options table at `idx` into *lim / *l,
 * raising on a bad value; absent fields keep the values there. */
void cg_limit_read(lua_State *L, int idx, cg_limits *lim);
/* The limit fields' names (what set_limits takes), NULL-terminated. */
extern const char *const cg_limit_keys[];
void cg_limit_read_aimd(lua_State *L, int idx, cg_limiter *l);
/* The limiter inside the core.limiter object at `idx`, raising when it is not one. */
cg_limiter *cg_limit_check(lua_State *L, int idx);

#endif
