/* The engine's counters on the Lua side (cg_stats_lua.c). */
#ifndef CG_STATS_LUA_H
#define CG_STATS_LUA_H

#include <lua.h>

#include "cg_stats.h"

/* Pushes the table described in the README's statistics section. */
void cg_stats_push(lua_State *L, const cg_stats *s);

#endif
