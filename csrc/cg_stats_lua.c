/* The engine's counters as the Lua table eng:stats() returns (README's statistics). */
#include "cg_lua_fields.h"
#include "cg_stats_lua.h"

#include <math.h>
#include <stdio.h>

/* Counts are whole numbers: Lua integers, so they print without a ".0". */
static void set_count(lua_State *L, const char *k, double v) {
  if (v == floor(v) && fabs(v) < 9e15) lua_pushinteger(L, (lua_Integer)v);
  else lua_pushnumber(L, v);
  lua_setfield(L, -2, k);
}

void cg_stats_push(lua_State *L, const cg_stats *s) {
  lua_createtable(L, 0, 20);
  set_count(L, "requests", s->requests);
  set_count(L, "retries", s->retries);
  set_count(L, "network_errors", s->network_errors);
  set_count(L, "completed", s->completed);
  set_count(L, "failed", s->failed);
  set_count(L, "early_retries", s->early_retries);
  set_count(L, "pauses_lifted", s->pauses_lifted);
  set_count(L, "outages", s->outages);
  set_count(L, "free_retries", s->free_retries);
  cg_set_num(L, "limiter_wait_s", s->limiter_wait_s);
  set_count(L, "tokens_reserved", s->tokens_reserved);
  set_count(L, "tokens_used", s->tokens_used);
  set_count(L, "in_flight", s->in_flight);
  set_count(L, "max_in_flight", s->max_in_flight);
  set_count(L, "queued", s->queued);
  set_count(L, "backoff", s->backoff);
  cg_set_num(L, "rate_factor", s->rate_factor);
  cg_set_num(L, "paused_until_s", s->paused_until_s);
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
  cg_set_num(L, "p50", cg_stats_percentile(s, 0.50));
  cg_set_num(L, "p90", cg_stats_percentile(s, 0.90));
  cg_set_num(L, "p99", cg_stats_percentile(s, 0.99));
  cg_set_num(L, "max", s->lat_max_ms);
  lua_setfield(L, -2, "latency_ms");
}
