/* The engine's counters as the Lua table eng:stats() returns (README's statistics). */
#include "cg_stats_lua.h"

#include <math.h>
#include <stdio.h>

static void setnum(lua_State *L, const char *k, double v) {
  if (v == floor(v) && fabs(v) < 9e15) lua_pushinteger(L, (lua_Integer)v);
  else lua_pushnumber(L, v);
  lua_setfield(L, -2, k);
}

void cg_stats_push(lua_State *L, const cg_stats *s) {
  lua_createtable(L, 0, 20);
  setnum(L, "requests", s->requests);
  setnum(L, "retries", s->retries);
  setnum(L, "network_errors", s->network_errors);
  setnum(L, "completed", s->completed);
  setnum(L, "failed", s->failed);
  setnum(L, "early_retries", s->early_retries);
  setnum(L, "pauses_lifted", s->pauses_lifted);
  setnum(L, "outages", s->outages);
  setnum(L, "free_retries", s->free_retries);
  lua_pushnumber(L, s->limiter_wait_s);
  lua_setfield(L, -2, "limiter_wait_s");
  setnum(L, "tokens_reserved", s->tokens_reserved);
  setnum(L, "tokens_used", s->tokens_used);
  setnum(L, "in_flight", s->in_flight);
  setnum(L, "max_in_flight", s->max_in_flight);
  setnum(L, "queued", s->queued);
  setnum(L, "backoff", s->backoff);
  lua_pushnumber(L, s->rate_factor);
  lua_setfield(L, -2, "rate_factor");
  lua_pushnumber(L, s->paused_until_s);
  lua_setfield(L, -2, "paused_until_s");
  lua_newtable(L);
  for (int i = 0; i < CG_STATUS_MAX; i++) {
    if (s->status[i] <= 0) continue;
    char k[16];
    snprintf(k, sizeof k, "%d", i);
    lua_pushinteger(L, (lua_Integer)s->status[i]);
    lua_setfield(L, -2, k);
  }
  lua_setfield(L, -2, "status");
  lua_createtable(L, 0, 4);
  lua_pushnumber(L, cg_stats_percentile(s, 0.50));
  lua_setfield(L, -2, "p50");
  lua_pushnumber(L, cg_stats_percentile(s, 0.90));
  lua_setfield(L, -2, "p90");
  lua_pushnumber(L, cg_stats_percentile(s, 0.99));
  lua_setfield(L, -2, "p99");
  lua_pushnumber(L, s->lat_max_ms);
  lua_setfield(L, -2, "max");
  lua_setfield(L, -2, "latency_ms");
}
