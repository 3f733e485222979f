/* DESIGN
 *
 * A few I/O threads (default 1) each own a curl multi handle and drive many transfers at
 * once with curl_multi_poll; a thread per request would spend more CPU on switches and
 * stacks than on HTTP. Easy handles are kept per worker and reused, so connections stay
 * alive in the multi's cache; DNS and TLS sessions are shared across workers.
 *
 * All scheduling state lives in one engine struct under one mutex `mu`:
 *   retry queue, fresh queue   FIFO of jobs ready to start (due retries go first, since
 *                              the results behind them are held in order anyway)
 *   backoff heap               jobs waiting for their retry time, ordered by due time;
 *                              they hold no worker and no concurrency slot
 *   limiter                    token buckets; only the queue head is offered, so a large
 *                              request is never overtaken (strict FIFO)
 *   done queue                 finished jobs (and 2xx awaiting validate) for the Lua
 *                              thread, which waits on `done_cv`
 * A worker loop: run curl; under the lock classify finished attempts (done, backoff or
 * VALIDATE), release due backoffs, admit from the head while slots and limiter allow;
 * outside the lock start the admitted transfers; sleep in curl_multi_poll until I/O, the
 * next due time, or a wakeup from submit/close.
 *
 * Workers never see a lua_State: jobs are plain C memory, copied on submit. The Lua
 * thread takes finished jobs, turns them into tables, runs callbacks, and frees them.
 * Ownership: a job belongs to the engine from submit until cg_engine_take hands it to
 * the Lua thread; cg_engine_retry gives it back. Destroy frees what the engine owns.
 *
 * Cancellation: a queued or backing-off job is failed at once under the lock; a running
 * one is flagged and its worker, woken, removes the transfer and fails it. Close sets
 * `closing`, wakes every worker and joins them; each leaves its loop at the next pass,
 * and destroy then frees every job still held, with its transfer.
 *
 * Signals are blocked in workers so SIGINT lands on the Lua thread's flag handler.
 *
 * Shared limiter (the `limiter` option, cg_redis.h). The local buckets stay: they pace
 * this process (the AIMD factor after a 429, the immediate local pause) and cost nothing;
 * Redis adds the cap that every process on the key shares. A head is admitted only when
 * both agree: the local bucket, and a grant from Redis that the engine holds for the head
 * (`grant_req`, `grant_tok`). Grants come from one more thread, the gate, which is the
 * only user of the Redis client. Workers must never wait on Redis: a round trip that
 * times out takes up to the client's timeout (2 s), and a worker blocked that long would
 * stall every transfer it drives. So a worker that finds the head without a grant only
 * signals the gate and goes on with its transfers; the gate asks Redis with `mu`
 * released, and on a grant takes `mu` again, records it and wakes a worker. Most grants
 * come from the client's local lease (no round trip), so the hop costs microseconds.
 * What Redis must learn (token reconciliation and refunds, a 429's pause) is recorded
 * under `mu` by whoever learns it and forwarded by the gate, for the same reason. When
 * Redis fails, the gate fails every queued and backing-off job with error_code "limiter"
 * and nothing more is admitted: a request is never sent without a grant. Transfers
 * already running finish normally, so their answers are kept.
 */
#include "cg_pool_impl.h"
#include "cg_clock.h"
#include "cg_http.h"
#include "cg_redis_url.h"
#include "cg_retry.h"
#include "cg_signals.h"

#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- public --------------------------------------------------------------------- */

cg_engine *cg_engine_new(const cg_config *cfg, char *err, size_t errlen) {
  if (cg_http_global_init() != 0) {
    snprintf(err, errlen, "cannot initialise libcurl");
    cg_redis_close(cfg->redis);
    return NULL;
  }
  cg_engine *e = calloc(1, sizeof *e);
  if (!e) {
    snprintf(err, errlen, "out of memory");
    cg_redis_close(cfg->redis);
    return NULL;
  }
  e->cfg = *cfg;
  e->redis = cfg->redis;
  e->cfg.redis = NULL; /* the engine's copy is e->redis */
  if (e->cfg.threads < 1) e->cfg.threads = 1;
  if (e->cfg.threads > e->cfg.concurrency) e->cfg.threads = e->cfg.concurrency;
  pthread_mutex_init(&e->mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&e->done_cv, &ca);
  pthread_cond_init(&e->gate_cv, &ca);
  pthread_condattr_destroy(&ca);
  double now = cg_now();
  cg_limit_init(&e->lim, &cfg->limits, now);
  cg_limit_slow_start(&e->lim);
  e->lim.decrease = cfg->aimd_decrease;
  e->lim.increase = cfg->aimd_increase;
  e->lim.factor_min = cfg->aimd_min;
  cg_rng_seed(&e->rng, cfg->seed);
  cg_stats_init(&e->st);
  e->blocked_since = -1;
  e->t_ok = -1;
  e->early_sent = UINT64_MAX;
  e->share = cg_share_new();
  e->w = calloc((size_t)e->cfg.threads, sizeof *e->w);
  if (!e->share || !e->w) {
    snprintf(err, errlen, "out of memory");
    cg_engine_destroy(e);
    return NULL;
  }
  /* Every multi exists before the first worker runs: workers read nw and each other's
   * multi (to wake them) without further synchronisation. */
  int per = (e->cfg.concurrency + e->cfg.threads - 1) / e->cfg.threads;
  for (int i = 0; i < e->cfg.threads; i++) {
    worker *w = &e->w[i];
    w->e = e;
    w->multi = curl_multi_init();
    if (!w->multi) {
      snprintf(err, errlen, "cannot create a curl multi handle");
      cg_engine_destroy(e);
      return NULL;
    }
    curl_multi_setopt(w->multi, CURLMOPT_MAXCONNECTS, (long)per);
  }
  e->nw = e->cfg.threads;
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old); /* workers inherit the blocked set */
  int ok = 1;
  for (int i = 0; i < e->nw && ok; i++) {
    if (pthread_create(&e->w[i].th, NULL, worker_main, &e->w[i]) == 0) e->w[i].started = 1;
    else ok = 0;
  }
  if (ok && e->redis) {
    cg_redis_set_notify(e->redis, gate_wake, e);
    cg_redis_set_paced_open(e->redis, 1);
    if (pthread_create(&e->gate_th, NULL, gate_main, e) == 0) e->gate_started = 1;
    else ok = 0;
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (!ok) {
    snprintf(err, errlen, "cannot start a worker thread");
    cg_engine_destroy(e);
    return NULL;
  }
  return e;
}

const cg_config *cg_engine_config(const cg_engine *e) {
  return &e->cfg;
}

void cg_engine_submit(cg_engine *e, cg_job *j) {
  pthread_mutex_lock(&e->mu);
  j->t_submit = cg_now();
  j->t_failed = -1;
  j->state = CG_JOB_QUEUED;
  double max = cg_limit_max_tokens(&e->lim);
  if (e->r_failed) {
    fail_limiter(e, j);
  } else if (max > 0 && j->tokens > max) {
    fail_too_large(e, j, "tokens/min");
  } else {
    q_push(&e->freshq, j);
    if (e->in_flight < effective_concurrency(e)) wake_workers(e, 0);
  }
  pthread_mutex_unlock(&e->mu);
}

void cg_engine_retry(cg_engine *e, cg_job *j, double delay) {
  pthread_mutex_lock(&e->mu);
  double now = cg_now();
  if (e->r_failed) {
    fail_limiter(e, j);
    pthread_mutex_unlock(&e->mu);
    return;
  }
  to_backoff(e, j, delay, WAIT_FIRM, now);
  wake_workers(e, 0);
  pthread_mutex_unlock(&e->mu);
}

void cg_engine_take(cg_engine *e, double timeout, cg_job **jobs, cg_event **events) {
  double end = timeout >= 0 ? cg_now() + timeout : INFINITY;
  pthread_mutex_lock(&e->mu);
  while (!e->doneq.head && !e->ev_head && !cg_interrupted()) {
    double left = end - cg_now();
    if (left <= 0) break;
    /* Short slices: a signal does not interrupt a condition wait, so we look at the
     * interrupted flag this often. */
    struct timespec ts = cg_deadline(left < 0.05 ? left : 0.05);
    e->waiters++;
    pthread_cond_timedwait(&e->done_cv, &e->mu, &ts);
    e->waiters--;
  }
  *jobs = e->doneq.head;
  e->doneq.head = e->doneq.tail = NULL;
  e->doneq.n = 0;
  *events = e->ev_head;
  e->ev_head = e->ev_tail = NULL;
  pthread_mutex_unlock(&e->mu);
}

int cg_engine_cancel(cg_engine *e, cg_job *j) {
  int r = 1;
  pthread_mutex_lock(&e->mu);
  switch (j->state) {
  case CG_JOB_QUEUED:
    if (!q_remove(&e->retryq, j)) q_remove(&e->freshq, j);
    cg_job_fail(j, "cancelled", "cancelled: the request was cancelled");
    push_done(e, j, CG_JOB_DONE);
    break;
  case CG_JOB_BACKOFF:
    heap_remove(e, j->heap_idx);
    cg_job_fail(j, "cancelled", "cancelled: the request was cancelled");
    push_done(e, j, CG_JOB_DONE);
    break;
  case CG_JOB_ACTIVE:
    if (!j->cancel) {
      j->cancel = 1;
      worker *w = &e->w[j->owner];
      w->cancels++;
      w->sleeping = 0;
      curl_multi_wakeup(w->multi);
    }
    break;
  case CG_JOB_VALIDATE:
    j->cancel = 1; /* the Lua thread fails it instead of validating */
    break;
  default:
    r = 0;
  }
  pthread_mutex_unlock(&e->mu);
  return r;
}

void cg_engine_reconcile(cg_engine *e, double reserved, double used) {
  pthread_mutex_lock(&e->mu);
  cg_limit_reconcile(&e->lim, reserved, used, cg_now());
  redis_settle(e, used - reserved);
  e->st.tokens_used += used;
  pthread_mutex_unlock(&e->mu);
}

void cg_engine_count(cg_engine *e, int failed) {
  pthread_mutex_lock(&e->mu);
  e->st.completed++;
  if (failed) e->st.failed++;
  pthread_mutex_unlock(&e->mu);
}

void cg_engine_set_limits(cg_engine *e, const cg_limits *lim) {
  pthread_mutex_lock(&e->mu);
  cg_limit_set(&e->lim, lim, cg_now());
  e->cfg.limits = *lim;
  wake_workers(e, 1);
  if (e->redis) { /* the gate passes the new limits with its next call */
    e->gate_next = 0;
    pthread_cond_signal(&e->gate_cv);
  }
  pthread_mutex_unlock(&e->mu);
}

void cg_engine_stats(cg_engine *e, cg_stats *out) {
  pthread_mutex_lock(&e->mu);
  double now = cg_now();
  cg_limit_advance(&e->lim, now);
  *out = e->st;
  out->in_flight = e->in_flight;
  out->queued = (int)(e->retryq.n + e->freshq.n);
  out->backoff = (int)e->nheap;
  out->rate_factor = e->lim.factor;
  out->paused_until_s = e->lim.paused_until > now ? e->lim.paused_until - now : 0;
  if (e->blocked_since >= 0) out->limiter_wait_s += now - e->blocked_since;
  pthread_mutex_unlock(&e->mu);
}

int cg_engine_redis_stats(cg_engine *e, cg_redis_stats *out, const char **display) {
  pthread_mutex_lock(&e->mu);
  *out = e->rst;
  pthread_mutex_unlock(&e->mu);
  /* Immutable after connect: no lock needed to read it. */
  *display = e->redis ? cg_redis_display(e->redis) : NULL;
  return e->redis != NULL;
}

double cg_engine_backoff(cg_engine *e, int retry) {
  pthread_mutex_lock(&e->mu);
  double d = cg_backoff(&e->rng, retry, e->cfg.backoff_base, e->cfg.backoff_cap);
  pthread_mutex_unlock(&e->mu);
  return d;
}

void cg_engine_destroy(cg_engine *e) {
  if (!e) return;
  pthread_mutex_lock(&e->mu);
  e->closing = 1;
  for (int i = 0; i < e->nw; i++)
    if (e->w[i].multi) curl_multi_wakeup(e->w[i].multi);
  pthread_cond_signal(&e->gate_cv);
  pthread_mutex_unlock(&e->mu);
  for (int i = 0; i < e->nw; i++) {
    worker *w = &e->w[i];
    if (w->started) pthread_join(w->th, NULL);
  }
  /* The gate leaves at its next pass; a Redis call in progress ends within the client's
   * timeout. */
  if (e->gate_started) pthread_join(e->gate_th, NULL);
  if (e->redis) {
    /* What is still held or owed goes back with the close's flush (best effort). */
    double delta = e->r_delta - (e->cfg.limits.tpm > 0 ? e->grant_tok : 0);
    if (!e->r_failed && delta != 0) cg_redis_reconcile(e->redis, delta);
    cg_redis_close(e->redis);
    e->redis = NULL;
  }
  /* Workers are gone: no lock needed from here on. */
  for (int i = 0; i < e->nw; i++) {
    worker *w = &e->w[i];
    if (!w->multi) continue;
    for (int k = 0; k < w->nlive; k++) {
      cg_job *j = w->live[k];
      curl_multi_remove_handle(w->multi, j->easy);
      cg_http_easy_free(j->easy);
      cg_job_free(j);
    }
    free(w->live);
    for (int k = 0; k < w->nspare; k++) cg_http_easy_free(w->spare[k]);
    free(w->spare);
    curl_multi_cleanup(w->multi);
  }
  free(e->w);
  q_free(&e->retryq);
  q_free(&e->freshq);
  q_free(&e->doneq);
  for (size_t i = 0; i < e->nheap; i++) cg_job_free(e->heap[i]);
  free(e->heap);
  while (e->ev_head) {
    cg_event *n = e->ev_head->next;
    cg_event_free(e->ev_head);
    e->ev_head = n;
  }
  cg_share_free(e->share);
  pthread_cond_destroy(&e->gate_cv);
  pthread_cond_destroy(&e->done_cv);
  pthread_mutex_destroy(&e->mu);
  free(e);
}
