/*
 * Lua binding for the mock server (module coursegen.mockserver). Option validation with
 * friendly messages lives in coursegen.mock; this layer checks types again so a direct
 * caller cannot hand the server thread nonsense.
 */
#include "cg_lua_fields.h"
#include "mock.h"

#include <lauxlib.h>
#include <lua.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

typedef struct lserver {
  mserver *srv; /* NULL once closed */
  int port;
} lserver;

static lserver *checkserver(lua_State *L, int i) { return luaL_checkudata(L, i, MOCK_SERVER_T); }

static lserver *openserver(lua_State *L, int i) {
  lserver *s = checkserver(L, i);
  if (!s->srv) luaL_error(L, "attempt to use a closed mock server");
  return s;
}

static double opt_num(lua_State *L, int t, const char *k, double def, double lo, double hi) {
  lua_getfield(L, t, k);
  double v = def;
  if (!lua_isnil(L, -1)) {
    if (!lua_isnumber(L, -1)) luaL_error(L, "bad option '%s' (number expected, got %s)", k, luaL_typename(L, -1));
    v = lua_tonumber(L, -1);
    if (!(v >= lo && v <= hi)) luaL_error(L, "bad option '%s' (must be between %g and %g)", k, lo, hi);
  }
  lua_pop(L, 1);
  return v;
}

static const char *opt_str(lua_State *L, int t, const char *k) {
  lua_getfield(L, t, k);
  const char *v = NULL;
  if (!lua_isnil(L, -1)) {
    if (lua_type(L, -1) != LUA_TSTRING)
      luaL_error(L, "bad option '%s' (string expected, got %s)", k, luaL_typename(L, -1));
    v = lua_tostring(L, -1); /* kept alive by the options table */
  }
  lua_pop(L, 1);
  return v;
}

static void read_config(lua_State *L, int t, mconfig *c) {
  memset(c, 0, sizeof *c);
  c->port = (int)opt_num(L, t, "port", 0, 0, 65535);
  c->latency_ms = (long)opt_num(L, t, "latency_ms", 0, 0, 3600e3);
  c->jitter_ms = (long)opt_num(L, t, "jitter_ms", 0, 0, 3600e3);
  c->rpm = opt_num(L, t, "rpm", 0, 0, 1e12);
  c->tpm = opt_num(L, t, "tpm", 0, 0, 1e15);
  c->burst = opt_num(L, t, "burst", 0, 0, 1e12);
  c->window_s = opt_num(L, t, "window", 0, 0, 3600);
  c->seed = (uint64_t)(int64_t)opt_num(L, t, "seed", 1, -9e15, 9e15);
  c->answer_words = (int)opt_num(L, t, "answer_words", 300, 1, 1e6);
  c->batch_delay_ms = (long)opt_num(L, t, "batch_delay_ms", 300, 0, 864e5);
  c->batch_inline_limit = (long)opt_num(L, t, "batch_inline_limit", 0, 0, 1e9);
  c->cache_min_tokens = (long)opt_num(L, t, "cache_min_tokens", 0, 0, 1e9);
  c->implicit_cache = (int)opt_num(L, t, "implicit_cache", 1, 0, 1);
  const char *f = opt_str(L, t, "faults");
  if (f) {
    char err[256];
    if (fault_parse_spec(f, &c->faults, err, sizeof err)) luaL_error(L, "%s in faults", err);
  }
  const char *k = opt_str(L, t, "api_key");
  if (k) {
    if (strlen(k) >= sizeof c->api_key) luaL_error(L, "bad option 'api_key' (too long)");
    snprintf(c->api_key, sizeof c->api_key, "%s", k);
    c->has_key = 1;
  }
}

static mserver *start_server(lua_State *L, int t) {
  mconfig cfg;
  read_config(L, t, &cfg);
  char err[256];
  mserver *srv = server_start(&cfg, err, sizeof err);
  if (!srv) luaL_error(L, "mock server: cannot listen on 127.0.0.1:%d: %s", cfg.port, err);
  return srv;
}

static int l_start(lua_State *L) {
  if (lua_isnoneornil(L, 1)) lua_newtable(L);
  luaL_checktype(L, 1, LUA_TTABLE);
  /* safe state first: a failed start leaves a closed object for __gc */
  lserver *s = lua_newuserdatauv(L, sizeof *s, 0);
  s->srv = NULL;
  s->port = 0;
  luaL_setmetatable(L, MOCK_SERVER_T);
  s->srv = start_server(L, 1);
  s->port = server_port(s->srv);
  return 1;
}

static int aux_close(lua_State *L) {
  lserver *s = checkserver(L, 1);
  mserver *srv = s->srv;
  s->srv = NULL;
  if (srv) server_stop(srv);
  return 0;
}

static int l_stats(lua_State *L) {
  lserver *s = openserver(L, 1);
  stats_snap *c = lua_newuserdatauv(L, sizeof *c, 0); /* scratch, collected with the stack */
  stats_snapshot(server_stats(s->srv), c, mono_now());
  lua_createtable(L, 0, 12);
  cg_set_int(L, "requests", (long long)c->requests);
  cg_set_int(L, "max_concurrent", (long long)c->max_concurrent);
  cg_set_int(L, "in_flight", (long long)c->in_flight);
  cg_set_int(L, "requests_last_minute", (long long)c->requests_last_minute);
  cg_set_int(L, "connections", (long long)c->connections);
  cg_set_int(L, "connections_total", (long long)c->connections_total);
  cg_set_int(L, "key_in_url", (long long)c->key_in_url);
  cg_set_int(L, "rate_limited", (long long)c->rate_limited);
  for (int i = 0; i < ST_EXTRA_N; i++) cg_set_int(L, stats_extra_names[i], (long long)c->extra[i]);
  lua_newtable(L);
  for (int i = 0; i < 600; i++) {
    if (!c->status[i]) continue;
    char k[16];
    snprintf(k, sizeof k, "%d", i);
    cg_set_int(L, k, (long long)c->status[i]);
  }
  lua_setfield(L, -2, "status");
  lua_newtable(L);
  for (int i = 1; i < F_COUNT; i++)
    if (c->faults[i]) cg_set_int(L, fault_name(i), (long long)c->faults[i]);
  lua_setfield(L, -2, "faults");
  return 1;
}

static int l_reset_stats(lua_State *L) {
  lserver *s = openserver(L, 1);
  stats_reset(server_stats(s->srv));
  return 0;
}

static int l_tostring(lua_State *L) {
  lserver *s = checkserver(L, 1);
  if (s->srv) lua_pushfstring(L, "mock server (http://127.0.0.1:%d)", s->port);
  else lua_pushliteral(L, "mock server (closed)");
  return 1;
}

/* url and port read like fields; everything else comes from the methods table. */
static int l_index(lua_State *L) {
  lserver *s = checkserver(L, 1);
  const char *k = lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : NULL;
  if (k && strcmp(k, "url") == 0) {
    lua_pushfstring(L, "http://127.0.0.1:%d", s->port);
    return 1;
  }
  if (k && strcmp(k, "port") == 0) {
    lua_pushinteger(L, s->port);
    return 1;
  }
  lua_pushvalue(L, 2);
  lua_rawget(L, lua_upvalueindex(1));
  return 1;
}

static int l_parse_faults(lua_State *L) {
  const char *spec = luaL_checkstring(L, 1);
  fault_spec fs;
  char err[256];
  if (fault_parse_spec(spec, &fs, err, sizeof err)) return luaL_error(L, "%s", err);
  lua_createtable(L, fs.n, 0);
  for (int i = 0; i < fs.n; i++) {
    lua_createtable(L, 0, 3);
    cg_set_str(L, "name", fault_name(fs.rules[i].f.kind));
    cg_set_num(L, "probability", fs.rules[i].prob);
    if (fs.rules[i].f.param_ms >= 0) {
      cg_set_int(L, "ms", fs.rules[i].f.param_ms);
    }
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}

/* Blocks until SIGINT or SIGTERM. The signals are blocked before the server thread
 * exists, so sigwait here is the only place they can land. */
static int l_run(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  mconfig cfg;
  char err[256];
  read_config(L, 1, &cfg); /* may raise, so before the mask changes */
  sigset_t set, old;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, &old);
  mserver *srv = server_start(&cfg, err, sizeof err);
  if (!srv) {
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return luaL_error(L, "mock server: cannot listen on 127.0.0.1:%d: %s", cfg.port, err);
  }
  fprintf(stdout, "listening on http://127.0.0.1:%d\n", server_port(srv));
  fflush(stdout);
  int sig = 0;
  while (sigwait(&set, &sig) != 0) {
  }
  server_stop(srv);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  lua_pushstring(L, sig == SIGINT ? "SIGINT" : "SIGTERM");
  return 1;
}

static const luaL_Reg methods[] = {
    {"stats", l_stats},
    {"reset_stats", l_reset_stats},
    {"close", aux_close},
    {NULL, NULL},
};

static const luaL_Reg metamethods[] = {
    {"__gc", aux_close},
    {"__close", aux_close},
    {"__tostring", l_tostring},
    {NULL, NULL},
};

static const luaL_Reg funcs[] = {
    {"start", l_start},
    {"run", l_run},
    {"parse_faults", l_parse_faults},
    {NULL, NULL},
};

static void createmeta(lua_State *L) {
  luaL_newmetatable(L, MOCK_SERVER_T);
  luaL_setfuncs(L, metamethods, 0);
  luaL_newlibtable(L, methods);
  luaL_setfuncs(L, methods, 0);
  lua_pushcclosure(L, l_index, 1);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
}

__attribute__((visibility("default"))) int luaopen_coursegen_mockserver(lua_State *L);

int luaopen_coursegen_mockserver(lua_State *L) {
  createmeta(L);
  luaL_newlib(L, funcs);
  lua_pushliteral(L, "0.1.0"); /* the same as lua/coursegen/version.lua (a spec checks) */
  lua_setfield(L, -2, "_VERSION");
  return 1;
}
