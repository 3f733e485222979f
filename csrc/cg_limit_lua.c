/* core.limiter: the pure limiter of cg_limit.c as a Lua object driven by the caller's
 * clock (the specs' way in), and the option readers the engine shares with it.
 * Admission itself (the queue's head, slots, probes) is core.admission, cg_admit_lua.c. */
#include "cg_lua_fields.h"
#include "cg_admit.h"
#include "cg_limit.h"
#include "cg_limit_lua.h"
#include "cg_types.h"

#include <stdio.h>

/* ---- Lua object: core.limiter{...} ---------------------------------------------- */

typedef struct lim_ud {
  cg_limiter lim;
  cg_limits cur;
} lim_ud;

const char *const cg_limit_keys[] = {"rpm", "tpm", "rpd", "burst_requests", "burst_tokens", NULL};

void cg_limit_read(lua_State *L, int idx, cg_limits *lim) {
  lim->rpm = cg_opt_number(L, idx, "rpm", lim->rpm);
  lim->tpm = cg_opt_number(L, idx, "tpm", lim->tpm);
  lim->rpd = cg_opt_number(L, idx, "rpd", lim->rpd);
  lim->burst_requests = cg_opt_number(L, idx, "burst_requests", lim->burst_requests);
  lim->burst_tokens = cg_opt_number(L, idx, "burst_tokens", lim->burst_tokens);
  if (lim->rpm < 0 || lim->tpm < 0 || lim->rpd < 0)
    luaL_error(L, "bad option: rpm, tpm and rpd must be >= 0");
  if (lim->burst_requests != 0 && lim->burst_requests < 1)
    luaL_error(L, "bad option 'burst_requests' (expected >= 1)");
  if (lim->burst_tokens < 0) luaL_error(L, "bad option 'burst_tokens' (expected >= 0)");
}

void cg_limit_read_aimd(lua_State *L, int idx, cg_limiter *l) {
  l->decrease = cg_opt_number(L, idx, "aimd_decrease", l->decrease);
  l->increase = cg_opt_number(L, idx, "aimd_increase", l->increase);
  l->factor_min = cg_opt_number(L, idx, "aimd_min", l->factor_min);
  if (!(l->decrease > 0 && l->decrease <= 1))
    luaL_error(L, "bad option 'aimd_decrease' (expected 0 < x <= 1)");
  if (!(l->increase >= 0)) luaL_error(L, "bad option 'aimd_increase' (expected >= 0)");
  if (!(l->factor_min > 0 && l->factor_min <= 1))
    luaL_error(L, "bad option 'aimd_min' (expected 0 < x <= 1)");
}

static lim_ud *checklim(lua_State *L) {
  return (lim_ud *)luaL_checkudata(L, 1, CG_LIMITER_T);
}

cg_limiter *cg_limit_check(lua_State *L, int idx) {
  return &((lim_ud *)luaL_checkudata(L, idx, CG_LIMITER_T))->lim;
}

/*** core.limiter{rpm=, tpm=, rpd=, burst_requests=, burst_tokens=, aimd_decrease=,
 * aimd_increase=, aimd_min=, now=, slow_start=} -> limiter. Buckets start full at time
 * `now` (0), except the request bucket with slow_start (as the engine's): one request. */
static int l_limiter(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  static const char *const keys[] = {"rpm", "tpm", "rpd", "burst_requests", "burst_tokens",
                                     "aimd_decrease", "aimd_increase", "aimd_min", "now", "slow_start", NULL};
  cg_check_keys(L, 1, keys, "limiter");
  cg_limits lim = {0, 0, 0, 0, 0};
  cg_limit_read(L, 1, &lim);
  double now = cg_opt_number(L, 1, "now", 0);
  lim_ud *u = (lim_ud *)lua_newuserdatauv(L, sizeof *u, 0);
  u->cur = lim;
  cg_limit_init(&u->lim, &lim, now);
  cg_limit_read_aimd(L, 1, &u->lim);
  lua_getfield(L, 1, "slow_start");
  if (lua_toboolean(L, -1)) cg_limit_slow_start(&u->lim);
  lua_pop(L, 1);
  luaL_setmetatable(L, CG_LIMITER_T);
  return 1;
}

static void push_too_large(lua_State *L, double tokens, const char *which, const cg_limiter *l) {
  char buf[200];
  cg_admit_message(buf, sizeof buf, CG_HEAD_TOO_LARGE, l, tokens, 0, which, 0);
  lua_pushnil(L);
  lua_pushstring(L, buf);
  lua_pushliteral(L, "too_large");
}

/*** lim:reserve(tokens, now) -> true | false, wait_s | nil, "too_large: ...", "too_large" */
static int m_reserve(lua_State *L) {
  lim_ud *u = checklim(L);
  double tokens = luaL_optnumber(L, 2, 0);
  double now = luaL_checknumber(L, 3);
  double wait;
  const char *which = "";
  int r = cg_limit_reserve(&u->lim, tokens, now, &wait, &which);
  if (r == CG_ADMIT) {
    lua_pushboolean(L, 1);
    return 1;
  }
  if (r == CG_WAIT) {
    lua_pushboolean(L, 0);
    lua_pushnumber(L, wait);
    return 2;
  }
  push_too_large(L, tokens, which, &u->lim);
  return 3;
}

/*** lim:refund(tokens, now) */
static int m_refund(lua_State *L) {
  lim_ud *u = checklim(L);
  cg_limit_refund(&u->lim, luaL_checknumber(L, 2), luaL_checknumber(L, 3));
  return 0;
}

/*** lim:reconcile(reserved, used, now) */
static int m_reconcile(lua_State *L) {
  lim_ud *u = checklim(L);
  cg_limit_reconcile(&u->lim, luaL_checknumber(L, 2), luaL_checknumber(L, 3),
                     luaL_checknumber(L, 4));
  return 0;
}

/*** lim:pause_until(t, now, decrease?, provisional?) : no admission before t; decrease
 * (default true) also cuts the AIMD factor, as a 429 does; a provisional pause can be
 * taken back by lim:unpause. */
static int m_pause_until(lua_State *L) {
  lim_ud *u = checklim(L);
  double t = luaL_checknumber(L, 2), now = luaL_checknumber(L, 3);
  int dec = lua_isnoneornil(L, 4) ? 1 : lua_toboolean(L, 4);
  cg_limit_pause(&u->lim, t, dec, lua_toboolean(L, 5), now);
  return 0;
}

/*** lim:delivered(now): a 2xx answer arrived (slow start grows, the delivery rate counts it). */
static int m_delivered(lua_State *L) {
  lim_ud *u = checklim(L);
  cg_limit_delivered(&u->lim, luaL_checknumber(L, 2));
  return 0;
}

/*** lim:unpause(now) -> boolean: takes back a running provisional pause. */
static int m_unpause(lua_State *L) {
  lim_ud *u = checklim(L);
  lua_pushboolean(L, cg_limit_unpause(&u->lim, luaL_checknumber(L, 2)));
  return 1;
}

/*** lim:probe(tokens, now) -> boolean: admits one request through a provisional pause. */
static int m_probe(lua_State *L) {
  lim_ud *u = checklim(L);
  lua_pushboolean(L, cg_limit_probe(&u->lim, luaL_checknumber(L, 2), luaL_checknumber(L, 3)));
  return 1;
}

/*** lim:binding(now) -> boolean: a bucket held a request back within the last second. */
static int m_binding(lua_State *L) {
  lim_ud *u = checklim(L);
  lua_pushboolean(L, cg_limit_binding(&u->lim, luaL_checknumber(L, 2)));
  return 1;
}

/*** lim:levels(now) -> {requests=, tokens=, day=, factor=, paused_until=} (absent levels
 * are nil: that bucket has no limit). */
static int m_levels(lua_State *L) {
  lim_ud *u = checklim(L);
  cg_limit_advance(&u->lim, luaL_checknumber(L, 2));
  lua_createtable(L, 0, 5);
  if (u->lim.req.rate > 0) {
    cg_set_num(L, "requests", u->lim.req.level);
  }
  if (u->lim.tok.rate > 0) {
    cg_set_num(L, "tokens", u->lim.tok.level);
  }
  if (u->lim.day.rate > 0) {
    cg_set_num(L, "day", u->lim.day.level);
  }
  cg_set_num(L, "factor", u->lim.factor);
  cg_set_num(L, "paused_until", u->lim.paused_until);
  return 1;
}

/*** lim:set_limits({rpm=, tpm=, rpd=, burst_requests=, burst_tokens=}, now): absent fields
 * keep their values; 0 removes a limit (or restores a default burst). */
static int m_set_limits(lua_State *L) {
  lim_ud *u = checklim(L);
  luaL_checktype(L, 2, LUA_TTABLE);
  cg_check_keys(L, 2, cg_limit_keys, "set_limits");
  cg_limits lim = u->cur;
  cg_limit_read(L, 2, &lim);
  u->cur = lim;
  cg_limit_set(&u->lim, &lim, luaL_checknumber(L, 3));
  return 0;
}

static void createmeta(lua_State *L) {
  static const luaL_Reg methods[] = {
      {"reserve", m_reserve},     {"refund", m_refund}, {"reconcile", m_reconcile},
      {"pause_until", m_pause_until}, {"unpause", m_unpause}, {"binding", m_binding},
      {"probe", m_probe}, {"delivered", m_delivered},
      {"levels", m_levels}, {"set_limits", m_set_limits}, {NULL, NULL}};
  luaL_newmetatable(L, CG_LIMITER_T);
  luaL_newlib(L, methods);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
}

int cg_limit_open(lua_State *L) {
  createmeta(L);
  lua_pushcfunction(L, l_limiter);
  lua_setfield(L, -2, "limiter");
  return 0;
}
