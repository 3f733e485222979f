/*
 * Counters shared between the server thread (writer) and the Lua thread (reader).
 * One mutex: the server updates a handful of integers per request, far below the cost
 * of the request itself, and the reader needs a consistent snapshot.
 */
#include "mock.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MINUTE_SLOTS 60
/* Hinted 429s remembered for /stats: enough for a benchmark run (2% of a few thousand
 * requests); later ones are only counted. */
#define HINTED_MAX 1024

struct mstats {
  pthread_mutex_t mu;
  stats_snap c;
  /* requests per one-second slot, for requests_last_minute */
  uint64_t slot_count[MINUTE_SLOTS];
  int64_t slot_sec[MINUTE_SLOTS];
  /* each injected 429 that named a wait: its arrival number (1-based, since the last
   * reset) and the wait in ms, so that a benchmark can tell the earliest any client could
   * have finished (the fault sequence follows arrival order, the same for every client) */
  uint64_t hinted_at[HINTED_MAX];
  long hinted_ms[HINTED_MAX];
  size_t hinted_n;
};

mstats *stats_new(void) {
  mstats *s = calloc(1, sizeof *s);
  if (!s) abort();
  pthread_mutex_init(&s->mu, NULL);
  for (int i = 0; i < MINUTE_SLOTS; i++) s->slot_sec[i] = -1;
  return s;
}

void stats_free(mstats *s) {
  if (!s) return;
  pthread_mutex_destroy(&s->mu);
  free(s);
}

/* Live gauges (in flight, open connections) survive a reset; counters start over. */
void stats_reset(mstats *s) {
  pthread_mutex_lock(&s->mu);
  int64_t inflight = s->c.in_flight, conns = s->c.connections;
  memset(&s->c, 0, sizeof s->c);
  s->c.in_flight = inflight;
  s->c.connections = conns;
  s->c.max_concurrent = inflight > 0 ? (uint64_t)inflight : 0;
  for (int i = 0; i < MINUTE_SLOTS; i++) {
    s->slot_count[i] = 0;
    s->slot_sec[i] = -1;
  }
  s->hinted_n = 0;
  pthread_mutex_unlock(&s->mu);
}

void stats_request(mstats *s, double now, int key_in_url) {
  int64_t sec = (int64_t)floor(now);
  int i = (int)(sec % MINUTE_SLOTS);
  pthread_mutex_lock(&s->mu);
  s->c.requests++;
  if (key_in_url) s->c.key_in_url++;
  if (s->slot_sec[i] != sec) {
    s->slot_sec[i] = sec;
    s->slot_count[i] = 0;
  }
  s->slot_count[i]++;
  pthread_mutex_unlock(&s->mu);
}

const char *const stats_extra_names[ST_EXTRA_N] = {
    "request_bytes", "caches_created", "caches_renewed", "caches_deleted", "batches_created", "batches_cancelled", "files_created",
    "uploads_started", "files_downloaded", "tokens_admitted"};

void stats_add(mstats *s, int which, uint64_t n) {
  if (which < 0 || which >= ST_EXTRA_N) return;
  pthread_mutex_lock(&s->mu);
  s->c.extra[which] += n;
  pthread_mutex_unlock(&s->mu);
}

void stats_answered(mstats *s, int status) {
  if (status < 0 || status >= 600) return;
  pthread_mutex_lock(&s->mu);
  s->c.status[status]++;
  pthread_mutex_unlock(&s->mu);
}

void stats_fault(mstats *s, int kind) {
  if (kind <= F_NONE || kind >= F_COUNT) return;
  pthread_mutex_lock(&s->mu);
  s->c.faults[kind]++;
  pthread_mutex_unlock(&s->mu);
}

void stats_hinted(mstats *s, long wait_ms) {
  pthread_mutex_lock(&s->mu);
  if (s->hinted_n < HINTED_MAX) {
    s->hinted_at[s->hinted_n] = s->c.requests; /* this request was the last one counted */
    s->hinted_ms[s->hinted_n] = wait_ms;
    s->hinted_n++;
  }
  pthread_mutex_unlock(&s->mu);
}

void stats_rate_limited(mstats *s) {
  pthread_mutex_lock(&s->mu);
  s->c.rate_limited++;
  pthread_mutex_unlock(&s->mu);
}

void stats_inflight(mstats *s, int delta) {
  pthread_mutex_lock(&s->mu);
  s->c.in_flight += delta;
  if (s->c.in_flight > 0 && (uint64_t)s->c.in_flight > s->c.max_concurrent)
    s->c.max_concurrent = (uint64_t)s->c.in_flight;
  pthread_mutex_unlock(&s->mu);
}

void stats_conn(mstats *s, int delta) {
  pthread_mutex_lock(&s->mu);
  s->c.connections += delta;
  if (delta > 0) s->c.connections_total += (uint64_t)delta;
  pthread_mutex_unlock(&s->mu);
}

void stats_snapshot(mstats *s, stats_snap *out, double now) {
  int64_t sec = (int64_t)floor(now);
  pthread_mutex_lock(&s->mu);
  *out = s->c;
  uint64_t last = 0;
  for (int i = 0; i < MINUTE_SLOTS; i++)
    if (s->slot_sec[i] >= 0 && sec - s->slot_sec[i] < MINUTE_SLOTS) last += s->slot_count[i];
  pthread_mutex_unlock(&s->mu);
  out->requests_last_minute = last;
}

void stats_json(mstats *s, mbuf *o, double now) {
  stats_snap *c = malloc(sizeof *c);
  if (!c) abort();
  stats_snapshot(s, c, now);
  mb_printf(o, "{\"requests\":%llu,\"status\":{", (unsigned long long)c->requests);
  int first = 1;
  for (int i = 0; i < 600; i++) {
    if (!c->status[i]) continue;
    mb_printf(o, "%s\"%d\":%llu", first ? "" : ",", i, (unsigned long long)c->status[i]);
    first = 0;
  }
  mb_puts(o, "},\"faults\":{");
  first = 1;
  for (int i = 1; i < F_COUNT; i++) {
    if (!c->faults[i]) continue;
    mb_printf(o, "%s\"%s\":%llu", first ? "" : ",", fault_name(i), (unsigned long long)c->faults[i]);
    first = 0;
  }
  mb_printf(o,
            "},\"max_concurrent\":%llu,\"in_flight\":%lld,\"requests_last_minute\":%llu,"
            "\"connections\":%lld,\"connections_total\":%llu,\"key_in_url\":%llu,\"rate_limited\":%llu}",
            (unsigned long long)c->max_concurrent, (long long)c->in_flight,
            (unsigned long long)c->requests_last_minute, (long long)c->connections,
            (unsigned long long)c->connections_total, (unsigned long long)c->key_in_url,
            (unsigned long long)c->rate_limited);
  o->len--; /* reopen the object for the extra counters */
  for (int i = 0; i < ST_EXTRA_N; i++)
    mb_printf(o, ",\"%s\":%llu", stats_extra_names[i], (unsigned long long)c->extra[i]);
  mb_puts(o, ",\"hinted_429\":[");
  pthread_mutex_lock(&s->mu);
  for (size_t i = 0; i < s->hinted_n; i++)
    mb_printf(o, "%s[%llu,%ld]", i ? "," : "", (unsigned long long)s->hinted_at[i], s->hinted_ms[i]);
  pthread_mutex_unlock(&s->mu);
  mb_puts(o, "]}");
  free(c);
}
