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
double cg_stats_percentile(const cg_stats *s, double q) {
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
