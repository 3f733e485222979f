/* Statistics: plain counters updated under the engine lock, turned into a Lua table by
 * the Lua thread from a snapshot copy. */
#include "cg_stats.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define LAT_GROWTH 1.05

void cg_stats_init(cg_stats *s) {
  memset(s, 0, sizeof *s);
  s->rate_factor = 1;
}

static int lat_bucket(double ms) {
  if (ms < 0) ms = 0;
  int i = (int)(log1p(ms) / log(LAT_GROWTH));
  return i >= CG_LAT_BUCKETS ? CG_LAT_BUCKETS - 1 : i;
}

void cg_stats_latency(cg_stats *s, double ms) {
  s->lat[lat_bucket(ms)] += 1;
  s->lat_count += 1;
  if (ms > s->lat_max_ms) s->lat_max_ms = ms;
}

/* Upper edge of the bucket holding the q-quantile, capped by the exact maximum. */
static double percentile(const cg_stats *s, double q) {
  if (s->lat_count <= 0) return 0;
  double want = ceil(q * s->lat_count), seen = 0;
  for (int i = 0; i < CG_LAT_BUCKETS; i++) {
    seen += s->lat[i];
    if (seen >= want) {
      double edge = expm1((i + 1) * log(LAT_GROWTH));
      return edge < s->lat_max_ms ? edge : s->lat_max_ms;
    }
  }
  return s->lat_max_ms;
}

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
  lua_pushnumber(L, percentile(s, 0.50));
  lua_setfield(L, -2, "p50");
  lua_pushnumber(L, percentile(s, 0.90));
  lua_setfield(L, -2, "p90");
  lua_pushnumber(L, percentile(s, 0.99));
  lua_setfield(L, -2, "p99");
  lua_pushnumber(L, s->lat_max_ms);
  lua_setfield(L, -2, "max");
  lua_setfield(L, -2, "latency_ms");
}
