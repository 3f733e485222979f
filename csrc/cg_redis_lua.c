/* Lua binding of the shared Redis limiter, so specs (and Lua pipelines) can drive the C
 * client directly. The engine itself calls the C API from its scheduler thread.
 *
 *   core.redis_parse_url(url)    -> { scheme, host, port, path, db, key, user,
 *                                     has_password, display [, outage] }
 *                                  | nil, "bad limiter URL ..."
 *   core.redis_limiter(url, opts) -> limiter | nil, "redis: URL: reason", "redis"
 *       raises on a bad URL (message from the parser) or a bad option
 *       opts: rpm, tpm, rpd, burst_requests, burst_tokens, batch (s), lease_ttl (s),
 *             timeout (s), max_outage (s: how long Redis may be away, default 30),
 *             peek (true: only look at the key, not listed among those sharing it)
 *   lim:lease(requests, tokens)  -> true, is_local | false, wait_s, paused_s
 *                                 | nil, "redis: ...", "redis" | nil, "too_large: ...", "too_large"
 *   lim:reconcile(used_minus_reserved) -> true   (settled locally or with the next round trip)
 *   lim:pause(seconds [, drain = true]) -> true | nil, "redis: ...", "redis"
 *   lim:flush()                  -> true | nil, "redis: ...", "redis"
 *   lim:state()                  -> { requests, tokens, day, out_requests, out_tokens,
 *                                     paused, rpm, tpm, rpd, burst_requests, burst_tokens,
 *                                     limits_differ, clients = { "host:pid:n", ... } }
 *                                  | nil, err, "redis"   (levels -1 = no limit; rpm etc.
 *                                    are the key's limits)
 *   lim:store_limits()           -> true | nil, err, "redis": this handle's limits become
 *                                   the key's, for every process on it
 *   lim:set_limits(opts)         same keys as the constructor's limits
 *   lim:stats()                  -> { round_trips, grants, local_grants, waits, queued,
 *                                     wakeups, errors,
 *                                     reconnects, returned_requests, returned_tokens,
 *                                     pending_tokens }
 *   lim:close()                  also __close and __gc; idempotent */
#include "cg_lua_fields.h"
#include "cg_redis.h"
#include "cg_redis_url.h"

#include <lauxlib.h>
#include <lua.h>
#include <math.h>
#include <string.h>

#define CG_REDIS_LIMITER_T "coursegen.RedisLimiter"

typedef struct lredis {
  cg_redis_t *r; /* NULL once closed */
  cg_redis_limits lim;
} lredis;

static lredis *check_limiter(lua_State *L) {
  lredis *u = luaL_checkudata(L, 1, CG_REDIS_LIMITER_T);
  if (!u->r) luaL_error(L, "attempt to use a closed limiter");
  return u;
}

static const char *const limit_keys[] = { "rpm", "tpm", "rpd", "burst_requests",
                                          "burst_tokens", "batch", "lease_ttl", "horizon",
                                          NULL };

static double opt_num(lua_State *L, int idx, const char *key, double def, double lo) {
  lua_getfield(L, idx, key);
  double v = def;
  if (!lua_isnil(L, -1)) {
    int ok;
    v = lua_tonumberx(L, -1, &ok);
    if (!ok || !(v >= lo) || v == HUGE_VAL)
      luaL_error(L, "bad option '%s' (a finite number >= %d expected)", key, (int)lo);
  }
  lua_pop(L, 1);
  return v;
}

/* Rejects keys outside `known` and `extra`: a typo must not silently drop a limit. */
static void check_keys(lua_State *L, int idx, const char *const *extra) {
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    if (lua_type(L, -1) != LUA_TSTRING)
      luaL_error(L, "unknown option (a %s key) for redis_limiter", luaL_typename(L, -1));
    const char *k = lua_tostring(L, -1);
    int found = 0;
    for (int i = 0; !found && extra && extra[i]; i++) found = strcmp(k, extra[i]) == 0;
    for (int i = 0; !found && limit_keys[i]; i++) found = strcmp(k, limit_keys[i]) == 0;
    if (!found) luaL_error(L, "unknown option '%s' for redis_limiter", k);
  }
}

static void read_limits(lua_State *L, int idx, cg_redis_limits *l) {
  l->rpm = opt_num(L, idx, "rpm", l->rpm, 0);
  l->tpm = opt_num(L, idx, "tpm", l->tpm, 0);
  l->rpd = opt_num(L, idx, "rpd", l->rpd, 0);
  l->burst_requests = opt_num(L, idx, "burst_requests", l->burst_requests, 0);
  l->burst_tokens = opt_num(L, idx, "burst_tokens", l->burst_tokens, 0);
  l->batch_s = opt_num(L, idx, "batch", l->batch_s, 0);
  l->lease_ttl_s = opt_num(L, idx, "lease_ttl", l->lease_ttl_s, 0);
  l->horizon_s = opt_num(L, idx, "horizon", l->horizon_s, 0);
}

static int fail(lua_State *L, const char *msg, const char *code) {
  lua_pushnil(L);
  lua_pushstring(L, msg);
  lua_pushstring(L, code);
  return 3;
}

static int l_parse_url(lua_State *L) {
  const char *s = luaL_checkstring(L, 1);
  cg_redis_url u;
  char err[CG_REDIS_URL_MAX + 256];
  if (cg_redis_url_parse(s, &u, err, sizeof err)) {
    lua_pushnil(L);
    lua_pushstring(L, err);
    return 2;
  }
  lua_createtable(L, 0, 9);
  cg_set_str(L, "scheme", u.is_unix ? "unix" : "redis");
  if (u.is_unix) {
    cg_set_str(L, "path", u.path);
  } else {
    cg_set_str(L, "host", u.host);
    cg_set_int(L, "port", u.port);
  }
  cg_set_int(L, "db", u.db);
  cg_set_str(L, "key", u.key);
  if (u.user[0]) {
    cg_set_str(L, "user", u.user);
  }
  cg_set_bool(L, "has_password", u.has_password);
  if (u.outage_s >= 0) {
    cg_set_num(L, "outage", u.outage_s);
  }
  cg_set_str(L, "display", u.display);
  return 1;
}

static int l_new(lua_State *L) {
  const char *url = luaL_checkstring(L, 1);
  int has_opts = !lua_isnoneornil(L, 2);
  if (has_opts) luaL_checktype(L, 2, LUA_TTABLE);
  char err[CG_REDIS_URL_MAX + 256];
  cg_redis_url parsed;
  if (cg_redis_url_parse(url, &parsed, err, sizeof err)) return luaL_error(L, "%s", err);
  /* Safe state first: a closed userdata with its metatable, then the connection. */
  lredis *u = lua_newuserdatauv(L, sizeof *u, 0);
  memset(u, 0, sizeof *u);
  luaL_setmetatable(L, CG_REDIS_LIMITER_T);
  double timeout = 0, max_outage = -1;
  int peek = 0;
  if (has_opts) {
    static const char *const conn_keys[] = { "timeout", "max_outage", "peek", NULL };
    check_keys(L, 2, conn_keys);
    lua_getfield(L, 2, "peek");
    peek = lua_toboolean(L, -1);
    lua_pop(L, 1);
    read_limits(L, 2, &u->lim);
    timeout = opt_num(L, 2, "timeout", 0, 0);
    max_outage = opt_num(L, 2, "max_outage", -1, 0);
  }
  u->r = cg_redis_connect(url, timeout, err, sizeof err);
  if (!u->r) return fail(L, err, "redis");
  if (max_outage >= 0) cg_redis_set_max_outage(u->r, max_outage);
  if (peek) cg_redis_set_peek(u->r, 1);
  return 1;
}

static int l_lease(lua_State *L) {
  lredis *u = check_limiter(L);
  double req = luaL_optnumber(L, 2, 1), tok = luaL_optnumber(L, 3, 0);
  luaL_argcheck(L, req >= 0 && tok >= 0 && (req > 0 || tok > 0), 2,
                "requests and tokens must be >= 0, not both 0");
  cg_redis_grant g;
  char err[CG_REDIS_URL_MAX + 256];
  int rc = cg_redis_lease(u->r, &u->lim, req, tok, &g, err, sizeof err);
  if (rc == CG_REDIS_TOO_LARGE) return fail(L, err, "too_large");
  if (rc != CG_REDIS_OK) return fail(L, err, "redis");
  if (g.granted) {
    lua_pushboolean(L, 1);
    lua_pushboolean(L, g.local);
    return 2;
  }
  lua_pushboolean(L, 0);
  lua_pushnumber(L, g.wait_s);
  lua_pushnumber(L, g.paused_s);
  return 3;
}

static int l_reconcile(lua_State *L) {
  lredis *u = check_limiter(L);
  cg_redis_reconcile(u->r, luaL_checknumber(L, 2));
  lua_pushboolean(L, 1);
  return 1;
}

static int l_pause(lua_State *L) {
  lredis *u = check_limiter(L);
  double s = luaL_checknumber(L, 2);
  luaL_argcheck(L, s > 0, 2, "seconds must be > 0");
  int drain = lua_isnoneornil(L, 3) ? 1 : lua_toboolean(L, 3);
  char err[CG_REDIS_URL_MAX + 256];
  if (cg_redis_pause(u->r, &u->lim, s, drain, err, sizeof err)) return fail(L, err, "redis");
  lua_pushboolean(L, 1);
  return 1;
}

static int l_flush(lua_State *L) {
  lredis *u = check_limiter(L);
  char err[CG_REDIS_URL_MAX + 256];
  if (cg_redis_flush(u->r, &u->lim, err, sizeof err)) return fail(L, err, "redis");
  lua_pushboolean(L, 1);
  return 1;
}

static int l_state(lua_State *L) {
  lredis *u = check_limiter(L);
  cg_redis_state s;
  char err[CG_REDIS_URL_MAX + 256];
  if (cg_redis_state_get(u->r, &u->lim, &s, err, sizeof err)) return fail(L, err, "redis");
  lua_createtable(L, 0, 14);
  cg_set_num(L, "requests", s.level_requests);
  cg_set_num(L, "tokens", s.level_tokens);
  cg_set_num(L, "day", s.level_day);
  cg_set_num(L, "out_requests", s.out_requests);
  cg_set_num(L, "out_tokens", s.out_tokens);
  cg_set_num(L, "paused", s.paused_s);
  cg_set_num(L, "rpm", s.rpm);
  cg_set_num(L, "tpm", s.tpm);
  cg_set_num(L, "rpd", s.rpd);
  cg_set_num(L, "burst_requests", s.burst_requests);
  cg_set_num(L, "burst_tokens", s.burst_tokens);
  cg_set_bool(L, "limits_differ", s.limits_differ);
  lua_newtable(L); /* clients: the ids in the comma-separated list */
  int n = 0;
  for (const char *p = s.clients; *p;) {
    size_t len = strcspn(p, ",");
    if (len) {
      lua_pushlstring(L, p, len);
      lua_rawseti(L, -2, ++n);
    }
    p += len;
    if (*p == ',') p++;
  }
  lua_setfield(L, -2, "clients");
  return 1;
}

/* Makes this handle's limits the key's, for every process on it. */
static int l_store_limits(lua_State *L) {
  lredis *u = check_limiter(L);
  char err[CG_REDIS_URL_MAX + 256];
  if (cg_redis_store_limits(u->r, &u->lim, err, sizeof err)) return fail(L, err, "redis");
  lua_pushboolean(L, 1);
  return 1;
}

static int l_set_limits(lua_State *L) {
  lredis *u = check_limiter(L);
  luaL_checktype(L, 2, LUA_TTABLE);
  check_keys(L, 2, NULL);
  cg_redis_limits l = u->lim;
  read_limits(L, 2, &l); /* raises before anything changes */
  u->lim = l;
  return 0;
}

static int l_stats(lua_State *L) {
  lredis *u = check_limiter(L);
  cg_redis_stats s;
  cg_redis_stats_get(u->r, &s);
  lua_createtable(L, 0, 16);
  cg_set_num(L, "round_trips", (double)s.round_trips);
  cg_set_num(L, "reservations", (double)s.reservations);
  cg_set_num(L, "grants", (double)s.grants);
  cg_set_num(L, "local_grants", (double)s.local_grants);
  cg_set_num(L, "waits", (double)s.waits);
  cg_set_num(L, "queued", (double)s.queued);
  cg_set_num(L, "wakeups", (double)s.wakeups);
  cg_set_num(L, "errors", (double)s.errors);
  cg_set_num(L, "reconnects", (double)s.reconnects);
  cg_set_num(L, "outages", (double)s.outages);
  cg_set_num(L, "outage_grants", (double)s.outage_grants);
  cg_set_num(L, "returned_requests", s.returned_requests);
  cg_set_num(L, "returned_tokens", s.returned_tokens);
  cg_set_num(L, "pending_tokens", s.pending_tokens);
  return 1;
}

/* close, __close and __gc: idempotent, the handle is cleared before it is freed. */
static int l_close(lua_State *L) {
  lredis *u = luaL_checkudata(L, 1, CG_REDIS_LIMITER_T);
  cg_redis_t *r = u->r;
  u->r = NULL;
  cg_redis_close(r);
  return 0;
}

static int l_tostring(lua_State *L) {
  lredis *u = luaL_checkudata(L, 1, CG_REDIS_LIMITER_T);
  if (u->r) lua_pushfstring(L, "%s (%s)", CG_REDIS_LIMITER_T, cg_redis_display(u->r));
  else lua_pushfstring(L, "%s (closed)", CG_REDIS_LIMITER_T);
  return 1;
}

static const luaL_Reg methods[] = {
  { "lease", l_lease },   { "reconcile", l_reconcile }, { "pause", l_pause },
  { "flush", l_flush },   { "state", l_state },         { "set_limits", l_set_limits },
  { "stats", l_stats },   { "close", l_close },         { "store_limits", l_store_limits },
  { NULL, NULL },
};

static const luaL_Reg metamethods[] = {
  { "__gc", l_close },
  { "__close", l_close },
  { "__tostring", l_tostring },
  { "__index", NULL }, /* filled by createmeta */
  { NULL, NULL },
};

static void createmeta(lua_State *L) {
  luaL_newmetatable(L, CG_REDIS_LIMITER_T);
  luaL_setfuncs(L, metamethods, 0);
  luaL_newlibtable(L, methods);
  luaL_setfuncs(L, methods, 0);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
}

int cg_redis_open(lua_State *L) {
  createmeta(L);
  lua_pushcfunction(L, l_new);
  lua_setfield(L, -2, "redis_limiter");
  lua_pushcfunction(L, l_parse_url);
  lua_setfield(L, -2, "redis_parse_url");
  return 0;
}
