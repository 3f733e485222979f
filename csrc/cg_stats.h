/* Engine counters and a bounded latency histogram (log buckets, ~5% resolution), so the
 * percentiles cost the same memory after ten requests or ten million. */
#ifndef CG_STATS_H
#define CG_STATS_H

#define CG_STATUS_MAX 600
#define CG_LAT_BUCKETS 320

typedef struct cg_stats {
  double requests, retries, network_errors, completed, failed, early_retries, pauses_lifted;
  double outages, free_retries; /* outages weathered; attempts max_attempts did not count */
  double limiter_wait_s, tokens_reserved, tokens_used;
  int in_flight, max_in_flight, queued, backoff;
  double rate_factor, paused_until_s;
  double status[CG_STATUS_MAX]; /* index = HTTP status; 0 = transport failure */
  double lat[CG_LAT_BUCKETS];
  double lat_count, lat_max_ms;
} cg_stats;

void cg_stats_init(cg_stats *s);
void cg_stats_latency(cg_stats *s, double ms);
/* The q-quantile (0..1) of the latencies, in ms: its bucket's upper edge, at most the max. */
double cg_stats_percentile(const cg_stats *s, double q);

#endif
