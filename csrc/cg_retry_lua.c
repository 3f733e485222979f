/* core.backoff and core.classify: the retry policy of cg_retry.c, for specs and scripts. */
#include "cg_lua_fields.h"
#include "cg_hints_lua.h"
#include "cg_retry.h"
#include "cg_types.h"

/* ---- Lua ------------------------------------------------------------------------ */

typedef struct backoff_ud {
  cg_rng rng;
  double base, cap;
} backoff_ud;

/*** core.backoff{base = 1, cap = 60, seed = 1} -> backoff with b:delay(retry) */
static int l_backoff(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  static const char *const keys[] = {"base", "cap", "seed", NULL};
  cg_check_keys(L, 1, keys, "backoff");
  backoff_ud *b = (backoff_ud *)lua_newuserdatauv(L, sizeof *b, 0);
  b->base = cg_opt_number(L, 1, "base", 1);
  b->cap = cg_opt_number(L, 1, "cap", 60);
  cg_rng_seed(&b->rng, (uint64_t)cg_opt_number(L, 1, "seed", 1));
  if (!(b->base >= 0 && b->cap >= 0)) luaL_error(L, "bad option: base and cap must be >= 0");
  luaL_setmetatable(L, CG_BACKOFF_T);
  return 1;
}

/*** b:delay(retry) -> seconds for the retry-th retry (1 = after the first failure). */
static int m_delay(lua_State *L) {
  backoff_ud *b = (backoff_ud *)luaL_checkudata(L, 1, CG_BACKOFF_T);
  lua_Integer n = luaL_checkinteger(L, 2);
  luaL_argcheck(L, n >= 1, 2, "expected retry >= 1");
  lua_pushnumber(L, cg_backoff(&b->rng, (int)(n > 1000 ? 1000 : n), b->base, b->cap));
  return 1;
}

static const char *const net_kinds[] = {"connect", "dns", "reset", "timeout", "too_large", "other", "tls", NULL};

/*** core.classify(status_or_kind, headers?, body?, max_hint_wait?) -> verdict table
 * {retry=, pause=, code=, message=, hint=, hint_source=}. A number is an HTTP status;
 * a string is a transport failure: "connect", "dns", "reset", "timeout", "too_large",
 * "other", "tls". */
static int l_classify(lua_State *L) {
  cg_verdict v;
  if (lua_type(L, 1) == LUA_TNUMBER) {
    long status = (long)luaL_checkinteger(L, 1);
    cg_hints h;
    cg_hints_reset(&h);
    if (!lua_isnoneornil(L, 2)) {
      luaL_checktype(L, 2, LUA_TTABLE);
      cg_hints_from_table(L, 2, &h, 0);
    }
    size_t blen = 0;
    const char *body = luaL_optlstring(L, 3, "", &blen);
    cg_classify_http(status, &h, body, blen, luaL_optnumber(L, 4, 120), &v);
  } else {
    int kind = luaL_checkoption(L, 1, NULL, net_kinds) + CG_NET_CONNECT;
    cg_classify_net(kind, luaL_optstring(L, 3, "detail"), &v);
  }
  lua_createtable(L, 0, 6);
  cg_set_bool(L, "retry", v.retry);
  cg_set_bool(L, "pause", v.pause);
  cg_set_str(L, "code", v.code);
  cg_set_str(L, "message", v.msg);
  if (v.hint >= 0) {
    cg_set_num(L, "hint", v.hint);
    cg_set_str(L, "hint_source", v.hint_source);
  }
  return 1;
}

int cg_retry_open(lua_State *L) {
  luaL_newmetatable(L, CG_BACKOFF_T);
  lua_newtable(L);
  lua_pushcfunction(L, m_delay);
  lua_setfield(L, -2, "delay");
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  static const luaL_Reg fns[] = {{"backoff", l_backoff}, {"classify", l_classify}, {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
  return 0;
}
