/* Shared names of the engine: Lua type names and the per-file open functions. Every C
 * symbol but luaopen_coursegen_core stays out of the shared object's dynamic table
 * through -fvisibility=hidden (the build flag), so headers need no pragma. */
#ifndef CG_TYPES_H
#define CG_TYPES_H

#include <lua.h>
#include <lauxlib.h>

/* Metatable names: luaL_newmetatable sets __name from them, so error messages name the
 * type ("coursegen.Engine expected"). */
#define CG_ENGINE_T   "coursegen.Engine"
#define CG_LIMITER_T  "coursegen.Limiter"
#define CG_BACKOFF_T  "coursegen.Backoff"
#define CG_ADMISSION_T "coursegen.Admission"

/* Each file that contributes to the Lua module exports one opener; it receives the
 * module table at the top of the stack and adds its functions to it. */
int cg_clock_open(lua_State *L);
int cg_signals_open(lua_State *L);
int cg_limit_open(lua_State *L);
int cg_admit_open(lua_State *L);
int cg_retry_open(lua_State *L);
int cg_hints_open(lua_State *L);
int cg_engine_open(lua_State *L);
int cg_sha256_open(lua_State *L);
int cg_unicode_open(lua_State *L);

/* Reads option `key` of the table at `idx` as a number; raises "bad option 'key'"
 * when it is neither nil nor a number. Returns `def` for nil. */
double cg_opt_number(lua_State *L, int idx, const char *key, double def);

/* Raises "unknown option 'k'" for the first key of the table at `idx` that is not in
 * the NULL-terminated list. */
void cg_check_keys(lua_State *L, int idx, const char *const *known, const char *what);

#endif
