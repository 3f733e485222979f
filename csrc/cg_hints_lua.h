/* The hint parsers' Lua side (cg_hints_lua.c). */
#ifndef CG_HINTS_LUA_H
#define CG_HINTS_LUA_H

#include <lua.h>

#include "cg_hints.h"

/* Feeds every string pair of the Lua table at idx ({name = value}) to cg_hints_header. */
void cg_hints_from_table(lua_State *L, int idx, cg_hints *h, double wall_now);

#endif
