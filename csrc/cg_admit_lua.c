/* core.admission: the engine's admission rule (cg_admit.c) over a core.limiter, driven by
 * the caller's clock, so the specs test the rule the engine runs rather than a copy. */
#include "cg_lua_fields.h"
#include "cg_admit.h"
#include "cg_limit_lua.h"
#include "cg_types.h"

static const char *const verdicts[] = {"send", "probe", "full", "wait", "outage",
                                       "grant", "dead", "too_large", "quota"};

static const char *const state_keys[] = {"concurrency", "share", "in_flight", "active", "outage",
                                         "outage_probe", "outage_next", "dead", "shared",
                                         "grant_req", "grant_tok", "quota_wait", NULL};

static int opt_flag(lua_State *L, int idx, const char *key, int def) {
  int t = lua_getfield(L, idx, key);
  int v = t == LUA_TNIL ? def : lua_toboolean(L, -1);
  lua_pop(L, 1);
  return v;
}

static int opt_count(lua_State *L, int idx, const char *key, int def) {
  double v = cg_opt_number(L, idx, key, def);
  if (!(v >= 0 && v <= 1e6)) luaL_error(L, "bad option '%s' (expected 0 to 1e6)", key);
  return (int)v;
}

/* Reads the fields present in the table at `idx` into *a; absent ones keep their value. */
static void read_state(lua_State *L, int idx, cg_admit *a) {
  cg_check_keys(L, idx, state_keys, "admission");
  a->cap = opt_count(L, idx, "concurrency", a->cap);
  a->share = opt_count(L, idx, "share", a->share);
  a->in_flight = opt_count(L, idx, "in_flight", a->in_flight);
  a->active = opt_count(L, idx, "active", a->active);
  a->outage = opt_flag(L, idx, "outage", a->outage);
  a->outage_probe = opt_flag(L, idx, "outage_probe", a->outage_probe);
  a->outage_next = cg_opt_number(L, idx, "outage_next", a->outage_next);
  a->dead = opt_flag(L, idx, "dead", a->dead);
  a->shared = opt_flag(L, idx, "shared", a->shared);
  a->grant_req = opt_count(L, idx, "grant_req", a->grant_req);
  a->grant_tok = cg_opt_number(L, idx, "grant_tok", a->grant_tok);
  a->quota_wait = cg_opt_number(L, idx, "quota_wait", a->quota_wait);
}

static cg_admit *checkadm(lua_State *L) {
  cg_admit *a = (cg_admit *)luaL_checkudata(L, 1, CG_ADMISSION_T);
  /* The limiter is the object's user value, kept alive by it; refetch its address. */
  lua_getiuservalue(L, 1, 1);
  a->lim = cg_limit_check(L, -1);
  lua_pop(L, 1);
  return a;
}

/*** core.admission(limiter, {concurrency = 1, share = concurrency, in_flight = 0,
 * active = 0, outage = false, outage_probe = false, outage_next = 0, dead = false,
 * shared = false, grant_req = 0, grant_tok = 0, quota_wait = 120}) -> admission: the
 * engine's admission state over a core.limiter (what one worker sees). */
static int l_admission(lua_State *L) {
  cg_limit_check(L, 1);
  if (!lua_isnoneornil(L, 2)) luaL_checktype(L, 2, LUA_TTABLE);
  cg_admit *a = (cg_admit *)lua_newuserdatauv(L, sizeof *a, 1);
  *a = (cg_admit){.cap = 1, .quota_wait = 120};
  int own_share = 0;
  if (lua_istable(L, 2)) {
    read_state(L, 2, a);
    own_share = lua_getfield(L, 2, "share") != LUA_TNIL;
    lua_pop(L, 1);
  }
  if (!own_share) a->share = a->cap;
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, 1);
  luaL_setmetatable(L, CG_ADMISSION_T);
  return 1;
}

/*** adm:head(tokens, now) -> verdict, detail: what the engine does with a queue head of
 * `tokens` at `now` ("send", "probe", "full", "wait", "outage", "grant", "dead",
 * "too_large", "quota"). detail: the seconds to wait for "wait" and "outage" (math.huge
 * while an outage probe is in flight), the failure's message for "too_large" and
 * "quota". A head sent ("send", "probe") counts as in flight until adm:finished(). */
static int m_head(lua_State *L) {
  cg_admit *a = checkadm(L);
  double tokens = luaL_checknumber(L, 2), now = luaL_checknumber(L, 3);
  double wait;
  const char *which;
  int v = cg_admit_head(a, tokens, now, &wait, &which);
  lua_pushstring(L, verdicts[v]);
  if (v == CG_HEAD_WAIT || v == CG_HEAD_OUTAGE) {
    lua_pushnumber(L, wait);
    return 2;
  }
  if (v == CG_HEAD_TOO_LARGE || v == CG_HEAD_QUOTA) {
    char buf[320];
    cg_admit_message(buf, sizeof buf, v, a->lim, tokens, wait, which, a->lim->day.rate * 86400.0);
    lua_pushstring(L, buf);
    return 2;
  }
  return 1;
}

/*** adm:finished(): a transfer sent by this admission ended (a slot is free again; an
 * outage probe is no longer in flight). */
static int m_finished(lua_State *L) {
  cg_admit *a = checkadm(L);
  if (a->in_flight > 0) a->in_flight--;
  if (a->active > 0) a->active--;
  a->outage_probe = 0;
  return 0;
}

/*** adm:set{...}: changes the state's fields (the constructor's keys but concurrency's
 * default share). */
static int m_set(lua_State *L) {
  cg_admit *a = checkadm(L);
  luaL_checktype(L, 2, LUA_TTABLE);
  read_state(L, 2, a);
  return 0;
}

/*** adm:state() -> {in_flight=, active=, outage_probe=, grant_req=, grant_tok=} */
static int m_state(lua_State *L) {
  cg_admit *a = checkadm(L);
  lua_createtable(L, 0, 5);
  cg_set_int(L, "in_flight", a->in_flight);
  cg_set_int(L, "active", a->active);
  cg_set_bool(L, "outage_probe", a->outage_probe);
  cg_set_int(L, "grant_req", a->grant_req);
  cg_set_num(L, "grant_tok", a->grant_tok);
  return 1;
}

int cg_admit_open(lua_State *L) {
  static const luaL_Reg methods[] = {{"head", m_head}, {"finished", m_finished},
                                     {"set", m_set},   {"state", m_state},
                                     {NULL, NULL}};
  luaL_newmetatable(L, CG_ADMISSION_T);
  luaL_newlib(L, methods);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  lua_pushcfunction(L, l_admission);
  lua_setfield(L, -2, "admission");
  return 0;
}
