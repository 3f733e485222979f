/* The shared limiter's side of the engine: what Redis must learn, and the gate, the only
 * thread that talks to Redis (the design is in cg_pool.c). */
#include "cg_pool_impl.h"
#include "cg_admit.h"
#include "cg_clock.h"
#include "cg_http.h"
#include "cg_retry.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- shared limiter (all require mu held) ------------------------------------------ */

void fail_limiter(cg_engine *e, cg_job *j) {
  cg_job_fail(j, "limiter", e->r_error);
  push_done(e, j, CG_JOB_DONE);
}

/* Redis failed: fail everything that waits to be sent, and admit nothing from now on. */
static void limiter_failed(cg_engine *e, const char *msg) {
  if (e->r_failed) return;
  e->r_failed = 1;
  snprintf(e->r_error, sizeof e->r_error, "limiter: %s", msg);
  cg_job *j;
  while ((j = q_pop(&e->retryq))) fail_limiter(e, j);
  while ((j = q_pop(&e->freshq))) fail_limiter(e, j);
  while ((j = heap_pop(e))) fail_limiter(e, j);
}

int grant_covers(const cg_engine *e, const cg_job *j) {
  return cg_admit_granted(&e->lim, e->grant_req, e->grant_tok, j->tokens);
}

/* Tokens to settle with Redis: only a token limit makes them mean anything. */
void redis_settle(cg_engine *e, double delta) {
  if (!e->redis || e->cfg.limits.tpm <= 0 || delta == 0) return;
  e->r_delta += delta;
  if (e->gate_waiting) pthread_cond_signal(&e->gate_cv);
}

static cg_redis_limits redis_limits(const cg_engine *e) {
  cg_redis_limits l;
  memset(&l, 0, sizeof l); /* batch, lease and horizon: the client's defaults */
  l.rpm = e->cfg.limits.rpm;
  l.tpm = e->cfg.limits.tpm;
  l.rpd = e->cfg.limits.rpd;
  l.burst_requests = e->cfg.limits.burst_requests;
  l.burst_tokens = e->cfg.limits.burst_tokens;
  /* Redis counts a request when it grants it; the provider counts it when it arrives, and
   * a lease may be spent up to its lifetime (0.5 s) after the grant, so what arrives in a
   * window can exceed what was granted in it by rate * 0.5 s (cg_redis.h). With the
   * provider's burst (about one second's worth) that excess meets an empty
   * bucket at the provider and comes back as 429s. Half a second's worth (the local
   * default too) leaves room for it; it only trims the opening burst, never the rate. */
  if (!(l.burst_requests > 0) && l.rpm > 0) l.burst_requests = fmax(1.0, l.rpm / 60.0 * 0.5);
  return l;
}

/* ---- the gate: the only thread that talks to Redis ------------------------------ */

static cg_job *queue_head(const cg_engine *e) {
  return e->retryq.head ? e->retryq.head : e->freshq.head;
}

/* One step of the gate, with mu held; returns 1 after a call to Redis (the caller looks
 * again at once), 0 when there is nothing to do now. Redis calls run with mu released, so
 * workers, submit and the Lua thread go on meanwhile; what they change is re-read after. */
static int gate_step(cg_engine *e) {
  char err[CG_REDIS_URL_MAX + 256] = ""; /* the client's messages quote the URL */
  int rc = CG_REDIS_OK;
  const cg_redis_limits lim = redis_limits(e);
  if (e->r_delta != 0) {
    /* Local to the client (no round trip): settled against its lease or sent with the
     * next call. */
    cg_redis_reconcile(e->redis, e->r_delta);
    e->r_delta = 0;
    e->r_settled = 1;
  }
  cg_job *h = queue_head(e);
  if (e->r_pause > 0) {
    double s = e->r_pause;
    e->r_pause = 0;
    pthread_mutex_unlock(&e->mu);
    rc = cg_redis_pause(e->redis, &lim, s, 1, err, sizeof err);
    pthread_mutex_lock(&e->mu);
    e->gate_next = 0; /* the pause changed what Redis will say */
  } else if (h && !grant_covers(e, h) && cg_now() >= e->gate_next) {
    const double want_r = e->grant_req > 0 ? 0 : 1;
    const double want_t = lim.tpm > 0 ? fmax(0, h->tokens - e->grant_tok) : 0;
    cg_redis_limits ask = lim; /* leases are sized to demand, never beyond what waits */
    ask.backlog_requests = (double)(e->retryq.n + e->freshq.n + e->nheap);
    ask.backlog_tokens = ask.backlog_requests * fmax(h->tokens, 1);
    cg_redis_grant g;
    pthread_mutex_unlock(&e->mu);
    rc = cg_redis_lease(e->redis, &ask, want_r, want_t, &g, err, sizeof err);
    pthread_mutex_lock(&e->mu);
    e->r_leased = 1;
    if (rc == CG_REDIS_OK && g.granted) {
      /* Held for whichever job is the head when a worker next admits: a cancelled head
       * leaves it to the next one. */
      e->grant_req += (int)want_r;
      e->grant_tok += want_t;
      wake_workers(e, 0);
    } else if (rc == CG_REDIS_OK) {
      /* At most a second, so changed limits and a closing engine are noticed. */
      e->gate_next = cg_now() + fmin(fmax(g.wait_s, 0.001), 1.0);
    } else if (rc == CG_REDIS_TOO_LARGE) {
      /* Unreachable in practice (admit applies the same rule locally first): fail the
       * head that asked, if it is still there and still that large. */
      cg_job *h2 = queue_head(e);
      if (h2 && h2->tokens - e->grant_tok >= want_t) {
        q_pop(e->retryq.head ? &e->retryq : &e->freshq);
        cg_job_fail(h2, "too_large", err);
        push_done(e, h2, CG_JOB_DONE);
      }
      rc = CG_REDIS_OK;
    }
  } else if (!h && (e->r_leased || (e->r_settled && e->in_flight == 0 && e->nheap == 0))) {
    /* The queue ran dry: an idle process holds nothing another could use. */
    if (e->grant_tok > 0) cg_redis_reconcile(e->redis, -e->grant_tok);
    e->grant_tok = 0;
    e->r_leased = e->r_settled = 0;
    pthread_mutex_unlock(&e->mu);
    rc = cg_redis_flush(e->redis, &lim, err, sizeof err);
    pthread_mutex_lock(&e->mu);
  } else {
    return 0;
  }
  cg_redis_stats_get(e->redis, &e->rst);
  if (rc != CG_REDIS_OK) limiter_failed(e, err);
  return 1;
}

/* The client's listener heard that a place opened in the key's queue: ask Redis now, not
 * when its last "wait" ends. Runs on the listener's thread. */
void gate_wake(void *arg) {
  cg_engine *e = (cg_engine *)arg;
  pthread_mutex_lock(&e->mu);
  e->gate_next = 0;
  if (e->gate_waiting) pthread_cond_signal(&e->gate_cv);
  pthread_mutex_unlock(&e->mu);
}

void *gate_main(void *arg) {
  cg_engine *e = (cg_engine *)arg;
  pthread_mutex_lock(&e->mu);
  while (!e->closing) {
    if (!e->r_failed && gate_step(e)) continue;
    /* Sleep until a worker, submit, a result or close signals, or Redis's "wait" ends. */
    cg_job *h = queue_head(e);
    double left = 1.0;
    if (!e->r_failed && h && !grant_covers(e, h)) left = fmin(left, e->gate_next - cg_now());
    if (left <= 0) continue;
    struct timespec ts = cg_deadline(left);
    e->gate_waiting = 1;
    pthread_cond_timedwait(&e->gate_cv, &e->mu, &ts);
    e->gate_waiting = 0;
  }
  pthread_mutex_unlock(&e->mu);
  return NULL;
}
