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
#include "cg_pool.h"
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

typedef struct worker {
  struct cg_engine *e;
  pthread_t th;
  CURLM *multi;
  CURL **spare; /* idle easy handles, reused */
  int nspare, capspare;
  cg_job **live; /* jobs with a transfer in the multi; only this worker touches it */
  int nlive, caplive;
  int active;   /* transfers running here; guarded by mu */
  int sleeping; /* in curl_multi_poll; guarded by mu */
  int cancels;  /* live jobs flagged for cancellation; guarded by mu */
  int started;
} worker;

/* The outcome of the last 128 responses, one bit each. */
typedef struct recent {
  uint64_t w[2];
} recent;

typedef struct jobq {
  cg_job *head, *tail;
  size_t n;
} jobq;

struct cg_engine {
  pthread_mutex_t mu;
  pthread_cond_t done_cv;
  cg_config cfg;
  cg_limiter lim;
  cg_rng rng;
  jobq retryq, freshq, doneq;
  cg_job **heap;
  size_t nheap, capheap;
  cg_event *ev_head, *ev_tail;
  int closing, waiters;
  int in_flight;
  double blocked_since;
  /* The last 128 responses: which were rate-limit 429s, which retryable failures. */
  recent recent_429, recent_fail;
  uint64_t sent_seq;   /* attempts admitted so far: each attempt's place in sending order */
  uint64_t prov_sent;  /* latest place of a 429 behind the provisional pause */
  uint64_t early_sent; /* earliest place of a job in backoff that may retry early */
  uint64_t probe_seq;  /* place of the probe sent through a provisional pause, 0: none */
  double t_ok;         /* time of the last 2xx answer, -1: none yet */
  /* Outages (see `note_server_failure`). */
  int streak;            /* server-side failures in a row, since the last other answer */
  uint64_t streak_job;   /* the job that opened the streak */
  int streak_mixed;      /* the streak spans more than one job */
  int outage;            /* weathering an outage: one probe at a time */
  int outage_fails;      /* probes failed in this outage: the spacing's exponent */
  double outage_next;    /* the next probe may go at this time */
  double outage_since;   /* when the outage was recognised */
  uint64_t outage_probe; /* place of the outage probe in flight, 0: none */
  cg_stats st;
  cg_share *share;
  worker *w;
  int nw;

  /* Shared limiter (see the DESIGN comment); NULL without one. The client itself is used
   * only by the gate thread (and by destroy after joining it); the rest is under mu. */
  cg_redis_t *redis;
  pthread_t gate_th;
  int gate_started;
  pthread_cond_t gate_cv;
  int gate_waiting;     /* the gate sleeps on gate_cv */
  double gate_next;     /* Redis said "wait": asking before this is a wasted round trip */
  int grant_req;        /* a request granted by Redis for the head, not yet admitted */
  double grant_tok;     /* tokens granted and not yet taken by an admission */
  double r_delta;       /* reconciliation (used - reserved, refunds) not yet forwarded */
  double r_pause;       /* a 429's hinted pause not yet recorded in Redis */
  int r_leased;         /* a lease since the last flush: return it when the queue empties */
  int r_settled;        /* a reconciliation since the last flush */
  int r_failed;         /* Redis failed: nothing is admitted any more */
  char r_error[CG_REDIS_URL_MAX + 320]; /* "limiter: redis: URL: reason" */
  cg_redis_stats rst;   /* the client's counters after its last call */
};

/* ---- jobs --------------------------------------------------------------------- */

cg_job *cg_job_new(void) {
  cg_job *j = calloc(1, sizeof *j);
  if (!j) return NULL;
  cg_buf_init(&j->resp);
  cg_buf_init(&j->hdrs);
  cg_hints_reset(&j->hints);
  return j;
}

void cg_job_free(cg_job *j) {
  if (!j) return;
  free(j->url);
  free(j->method);
  free(j->body);
  curl_slist_free_all(j->headers);
  cg_buf_free(&j->resp);
  cg_buf_free(&j->hdrs);
  free(j->error);
  free(j->reason);
  free(j->cb_error);
  free(j);
}

void cg_event_free(cg_event *ev) {
  if (!ev) return;
  free(ev->error);
  free(ev);
}

void cg_job_fail(cg_job *j, const char *code, const char *msg) {
  free(j->error);
  j->error = strdup(msg);
  j->code = code;
}

static void q_push(jobq *q, cg_job *j) {
  j->next = NULL;
  if (q->tail) q->tail->next = j;
  else q->head = j;
  q->tail = j;
  q->n++;
}

static cg_job *q_pop(jobq *q) {
  cg_job *j = q->head;
  if (!j) return NULL;
  q->head = j->next;
  if (!q->head) q->tail = NULL;
  q->n--;
  j->next = NULL;
  return j;
}

static void q_free(jobq *q) {
  cg_job *j;
  while ((j = q_pop(q))) cg_job_free(j);
}

/* ---- backoff heap (min on t_due) ------------------------------------------------ */

static void heap_swap(cg_engine *e, size_t a, size_t b) {
  cg_job *t = e->heap[a];
  e->heap[a] = e->heap[b];
  e->heap[b] = t;
  e->heap[a]->heap_idx = a;
  e->heap[b]->heap_idx = b;
}

/* Moves the job at index i up to its place; returns where it stopped. */
static size_t heap_sift_up(cg_engine *e, size_t i) {
  while (i > 0 && e->heap[(i - 1) / 2]->t_due > e->heap[i]->t_due) {
    heap_swap(e, i, (i - 1) / 2);
    i = (i - 1) / 2;
  }
  return i;
}

static int heap_push(cg_engine *e, cg_job *j) {
  if (e->nheap == e->capheap) {
    size_t cap = e->capheap ? e->capheap * 2 : 64;
    cg_job **h = realloc(e->heap, cap * sizeof *h);
    if (!h) return -1;
    e->heap = h;
    e->capheap = cap;
  }
  size_t i = e->nheap++;
  e->heap[i] = j;
  j->heap_idx = i;
  heap_sift_up(e, i);
  return 0;
}

/* Moves the job at index i down to its place (earliest t_due on top). */
static void heap_sift_down(cg_engine *e, size_t i) {
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < e->nheap && e->heap[l]->t_due < e->heap[m]->t_due) m = l;
    if (r < e->nheap && e->heap[r]->t_due < e->heap[m]->t_due) m = r;
    if (m == i) break;
    heap_swap(e, i, m);
    i = m;
  }
}

/* Restores the heap order after due times changed in place. */
static void heap_build(cg_engine *e) {
  for (size_t i = e->nheap / 2; i-- > 0;) heap_sift_down(e, i);
}

static cg_job *heap_pop(cg_engine *e) {
  if (!e->nheap) return NULL;
  cg_job *top = e->heap[0];
  e->nheap--;
  if (e->nheap) {
    e->heap[0] = e->heap[e->nheap];
    e->heap[0]->heap_idx = 0;
    heap_sift_down(e, 0);
  }
  return top;
}

/* Removes the job at heap index i (cancellation). */
static void heap_remove(cg_engine *e, size_t i) {
  cg_job *last = e->heap[--e->nheap];
  if (i == e->nheap) return;
  e->heap[i] = last;
  last->heap_idx = i;
  heap_sift_down(e, heap_sift_up(e, i));
}

static int q_remove(jobq *q, cg_job *j) {
  cg_job **p = &q->head, *prev = NULL;
  while (*p && *p != j) prev = *p, p = &(*p)->next;
  if (!*p) return 0;
  *p = j->next;
  if (q->tail == j) q->tail = prev;
  q->n--;
  j->next = NULL;
  return 1;
}

/* ---- scheduling (all require mu held) ------------------------------------------- */

/* With a rate limit the AIMD factor slows the buckets; without one it is the only lever,
 * so it scales the number of transfers in flight instead. */
static int effective_concurrency(const cg_engine *e) {
  if (e->lim.req.rate > 0 || e->lim.tok.rate > 0) return e->cfg.concurrency;
  int c = (int)ceil(e->cfg.concurrency * e->lim.factor);
  return c < 1 ? 1 : c;
}

static void wake_workers(cg_engine *e, int all) {
  for (int i = 0; i < e->nw; i++) {
    worker *w = &e->w[i];
    if (w->sleeping && (all || w->active < (effective_concurrency(e) + e->nw - 1) / e->nw)) {
      w->sleeping = 0;
      curl_multi_wakeup(w->multi);
      if (!all) return;
    }
  }
}

static void push_done(cg_engine *e, cg_job *j, int state) {
  j->state = state;
  j->t_done = cg_now();
  if (state == CG_JOB_DONE) {
    e->st.completed++;
    if (j->error) e->st.failed++;
  }
  q_push(&e->doneq, j);
  if (e->waiters) pthread_cond_signal(&e->done_cv);
}

static void push_event(cg_engine *e, const cg_job *j, const char *err, double wait, int retry) {
  if (!e->cfg.want_events) return;
  cg_event *ev = calloc(1, sizeof *ev);
  if (!ev) return;
  ev->id = j->id;
  ev->attempt = j->attempts;
  ev->status = j->status;
  ev->error = err ? strdup(err) : NULL;
  ev->wait_s = wait;
  ev->retry = retry;
  if (e->ev_tail) e->ev_tail->next = ev;
  else e->ev_head = ev;
  e->ev_tail = ev;
  if (e->waiters) pthread_cond_signal(&e->done_cv);
}

/* ---- shared limiter (all require mu held) ------------------------------------------ */

static void fail_limiter(cg_engine *e, cg_job *j) {
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

static int grant_covers(const cg_engine *e, const cg_job *j) {
  return e->grant_req > 0 && (e->cfg.limits.tpm <= 0 || e->grant_tok + 1e-9 >= j->tokens);
}

/* Tokens to settle with Redis: only a token limit makes them mean anything. */
static void redis_settle(cg_engine *e, double delta) {
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

/* What may end a backoff before its time: nothing (its own backoff or the server's named
 * time), a later request's success (a lone fault), or the end of an outage. */
enum { WAIT_FIRM, WAIT_EARLY, WAIT_OUTAGE };

/* Parks a job in the backoff heap until `delay` from now. */
static void to_backoff(cg_engine *e, cg_job *j, double delay, int kind, double now) {
  j->t_due = now + delay;
  j->state = CG_JOB_BACKOFF;
  j->early = kind == WAIT_EARLY;
  j->held = kind == WAIT_OUTAGE;
  if (j->early && j->sent_seq < e->early_sent) e->early_sent = j->sent_seq;
  e->st.retries++;
  if (heap_push(e, j) != 0) {
    cg_job_fail(j, "network", "network: out of memory scheduling a retry");
    push_done(e, j, CG_JOB_DONE);
  }
}

/* The server did not do the attempt's work: its tokens go back, for its next attempt or
 * for others. */
static void give_back(cg_engine *e, cg_job *j, double now) {
  cg_limit_refund(&e->lim, j->reserved, now);
  redis_settle(e, -j->reserved);
  j->reserved = 0;
}

/* Sends a failed attempt to backoff, or finalises it when attempts or budget are spent. */
static void schedule_retry(cg_engine *e, cg_job *j, const char *code, const char *msg,
                           double delay, int kind, double now) {
  char buf[512];
  int d = cg_retry_decide(cg_job_spent(j), j->max_attempts, now - j->t_submit, delay, e->cfg.retry_budget);
  if (d == CG_RETRY_NO_ATTEMPTS) {
    if (j->max_attempts > 1) {
      snprintf(buf, sizeof buf, "%s (after %d attempts)", msg, j->attempts);
      msg = buf;
    }
    cg_job_fail(j, code, msg);
    push_event(e, j, msg, 0, 0);
    push_done(e, j, CG_JOB_DONE);
    return;
  }
  if (d == CG_RETRY_NO_BUDGET) {
    snprintf(buf, sizeof buf, "budget: retry budget of %g s spent after %d attempts; last error: %s",
             e->cfg.retry_budget, j->attempts, msg);
    cg_job_fail(j, "budget", buf);
    push_event(e, j, buf, 0, 0);
    push_done(e, j, CG_JOB_DONE);
    return;
  }
  if (e->r_failed) { /* it could never be sent again: no need to wait for its backoff */
    push_event(e, j, msg, 0, 0);
    fail_limiter(e, j);
    return;
  }
  push_event(e, j, msg, delay, 1);
  to_backoff(e, j, delay, kind, now);
}

/* Thresholds over the last 128 responses. Random faults at a few percent stay far below
 * them; a server really over its limit, or really struggling, crosses them quickly. */
#define STORM_429 12
#define STORM_FAIL 26

static void recent_push(recent *r, int bit) {
  r->w[1] = r->w[1] << 1 | r->w[0] >> 63;
  r->w[0] = r->w[0] << 1 | (uint64_t)(bit != 0);
}

static int recent_count(const recent *r) {
  int n = 0;
  for (int i = 0; i < 2; i++)
    for (uint64_t x = r->w[i]; x; x &= x - 1) n++;
  return n;
}

/* ---- outages -------------------------------------------------------------------- */

/* An outage is told from a chapter's own trouble by its breadth: OUTAGE_STREAK answers in
 * a row, from more than one request, all failed on the server's side (5xx, resets,
 * timeouts, refused connections). Random faults at a few percent almost never line up
 * four in a row; a server that is down for everyone does at once. */
#define OUTAGE_STREAK 4

static int server_side(const cg_job *j) {
  if (j->status == 0)
    return j->net_kind == CG_NET_RESET || j->net_kind == CG_NET_TIMEOUT || j->net_kind == CG_NET_CONNECT;
  return j->status == 500 || j->status == 502 || j->status == 503 || j->status == 504;
}

/* Seconds to the next outage probe: the backoff schedule without its zero end (equal
 * jitter), so probes stay spaced out however lucky the draw. */
static double outage_spacing(cg_engine *e) {
  double top = e->cfg.backoff_base * ldexp(1.0, e->outage_fails > 60 ? 60 : e->outage_fails);
  if (top > e->cfg.backoff_cap) top = e->cfg.backoff_cap;
  return top * (0.5 + 0.5 * cg_rng_uniform(&e->rng));
}

/* The server answered something other than a server-side failure: whatever was wrong
 * is over. Jobs held only for the outage's probe go now (the limiter still paces them). */
static void note_answer(cg_engine *e, double now) {
  e->streak = 0;
  if (!e->outage) return;
  e->outage = 0;
  e->outage_probe = 0;
  int moved = 0;
  for (size_t i = 0; i < e->nheap; i++) {
    cg_job *k = e->heap[i];
    if (k->held && k->t_due > now) {
      k->t_due = now;
      moved++;
    }
    k->held = 0;
  }
  if (moved) heap_build(e);
  wake_workers(e, 1);
}

/* A server-side failure: extends the streak, may open an outage, and spaces the probes
 * further when it answered one. */
static void note_server_failure(cg_engine *e, const cg_job *j, int probe, double now) {
  if (e->streak++ == 0) {
    e->streak_job = j->id;
    e->streak_mixed = 0;
  } else if (j->id != e->streak_job) {
    e->streak_mixed = 1;
  }
  if (!e->outage && e->streak >= OUTAGE_STREAK && e->streak_mixed) {
    e->outage = 1;
    e->outage_fails = 0;
    e->outage_probe = 0;
    e->st.outages++;
    e->outage_since = now;
    e->outage_next = now + outage_spacing(e);
  } else if (e->outage && probe) {
    e->outage_fails++;
    e->outage_next = now + outage_spacing(e);
  }
}

/* During an outage jobs queue for the probe without being sent: the retry budget is
 * their only bound, so it is checked here. */
static void outage_expire(cg_engine *e, double now) {
  cg_job **p = &e->retryq.head, *prev = NULL;
  while (*p) {
    cg_job *j = *p;
    if (j->attempts > 0 && now - j->t_submit > e->cfg.retry_budget) {
      *p = j->next;
      if (e->retryq.tail == j) e->retryq.tail = prev;
      e->retryq.n--;
      j->next = NULL;
      char buf[512];
      snprintf(buf, sizeof buf,
               "budget: retry budget of %g s spent after %d attempts; the server has failed every request for %.0f s",
               e->cfg.retry_budget, j->attempts, now - e->outage_since);
      cg_job_fail(j, "budget", buf);
      push_event(e, j, buf, 0, 0);
      push_done(e, j, CG_JOB_DONE);
    } else {
      prev = j;
      p = &j->next;
    }
  }
}

/* A request sent after a failed one has just succeeded: the server took work after that
 * failure, so it was about one request, not a limit or an outage. A provisional pause is
 * taken back, and failed jobs sent before this one retry now rather than wait out a
 * backoff meant for a server in trouble (max_attempts still bounds them). */
static void note_success(cg_engine *e, const cg_job *j, double now) {
  recent_push(&e->recent_429, 0);
  recent_push(&e->recent_fail, 0);
  e->t_ok = now;
  cg_limit_delivered(&e->lim, now);
  note_answer(e, now);
  if (j->sent_seq > e->prov_sent && cg_limit_unpause(&e->lim, now)) {
    e->st.pauses_lifted++;
    wake_workers(e, 1);
  }
  if (j->sent_seq <= e->early_sent || recent_count(&e->recent_fail) >= STORM_FAIL) return;
  uint64_t left = UINT64_MAX;
  int moved = 0;
  for (size_t i = 0; i < e->nheap; i++) {
    cg_job *k = e->heap[i];
    if (!k->early) continue;
    if (k->sent_seq < j->sent_seq) {
      k->early = 0;
      if (k->t_due > now) {
        k->t_due = now;
        moved++;
      }
    } else if (k->sent_seq < left) {
      left = k->sent_seq;
    }
  }
  e->early_sent = left;
  if (moved) {
    e->st.early_retries += moved;
    heap_build(e);
    wake_workers(e, 0);
  }
}

/* A transfer ended: decide its fate. */
static void finish_attempt(cg_engine *e, worker *w, cg_job *j, double now) {
  e->in_flight--;
  w->active--;
  int outage_probe = e->outage_probe && j->sent_seq == e->outage_probe;
  if (outage_probe) e->outage_probe = 0;
  if (j->cancel) {
    give_back(e, j, now);
    cg_job_fail(j, "cancelled", "cancelled: the request was cancelled");
    push_done(e, j, CG_JOB_DONE);
    return;
  }
  cg_stats_latency(&e->st, (now - j->t_attempt) * 1000.0);
  if (j->sends > 1) {
    /* Sends libcurl repeated on its own after a dead connection: each one was an attempt
     * the server saw, ended by a reset. */
    int extra = j->sends - 1;
    j->attempts += extra;
    e->st.requests += extra;
    e->st.retries += extra;
    e->st.network_errors += extra;
    e->st.status[0] += extra;
  }
  e->st.status[j->status > 0 && j->status < CG_STATUS_MAX ? j->status : 0]++;
  if (j->status >= 200 && j->status < 300) {
    note_success(e, j, now);
    push_done(e, j, e->cfg.want_validate ? CG_JOB_VALIDATE : CG_JOB_DONE);
    return;
  }
  cg_verdict v;
  if (j->status == 0) {
    e->st.network_errors++;
    cg_classify_net(j->net_kind, j->errbuf, &v);
  } else {
    cg_classify_http(j->status, &j->hints, j->resp.data, j->resp.len, e->cfg.max_hint_wait, &v);
  }
  recent_push(&e->recent_429, v.pause);
  recent_push(&e->recent_fail, v.retry);
  give_back(e, j, now);
  int server = v.retry && server_side(j);
  if (server) note_server_failure(e, j, outage_probe, now);
  else if (j->status) note_answer(e, now);
  int kind = WAIT_EARLY, rate_paced = 0;
  if (j->sent_seq == e->probe_seq && !v.pause) cg_limit_confirm(&e->lim); /* the probe failed too */
  if (v.pause) {
    /* A 429 is taken on trust when something backs it: the client was sending as fast as
     * its limits allow, 429s are frequent, or the quota is shared. Otherwise the pause is
     * provisional: a request sent after this one succeeding takes it back. */
    int firm = e->redis || cg_limit_binding(&e->lim, now) ||
               recent_count(&e->recent_429) >= STORM_429 || j->sent_seq == e->probe_seq;
    int open = e->lim.provisional && now < e->lim.undo_until;
    cg_limit_pause(&e->lim, now + (v.hint > 0 ? v.hint : 0), 1, !firm, now);
    if (!firm) e->prov_sent = open && e->prov_sent > j->sent_seq ? e->prov_sent : j->sent_seq;
    kind = firm ? WAIT_FIRM : WAIT_EARLY;
    /* A rate limit slows everyone down; it must not use up the attempts of a request
     * while the server keeps answering others (within a per-minute quota's window). */
    if (v.retry && e->t_ok >= 0 && now - e->t_ok < 60) {
      j->free_attempts++;
      e->st.free_retries++;
      /* With a request rate set, the limiter's cut paces every request, this one too:
       * waiting a backoff on top only delays the results behind it. */
      if (e->lim.req.rate > 0) rate_paced = 1;
    }
    wake_workers(e, 1); /* their sleep deadlines are now wrong */
    if (e->redis) {
      /* Every process on the key pauses too. Without a hint the pause is only the drain
       * (the buckets restart from zero), as the local limiter does. */
      e->r_pause = fmax(e->r_pause, v.hint > 0 ? v.hint : 0.001);
      if (e->gate_waiting) pthread_cond_signal(&e->gate_cv);
    }
  }
  if (!v.retry) {
    cg_job_fail(j, v.code, v.msg);
    push_event(e, j, v.msg, 0, 0);
    push_done(e, j, CG_JOB_DONE);
    return;
  }
  double delay = rate_paced ? 0 : cg_backoff(&e->rng, cg_job_spent(j), e->cfg.backoff_base, e->cfg.backoff_cap);
  if (server && e->outage) {
    /* The whole server is down: this attempt was the outage's, not the request's, and
     * the request waits for the probe that shows the server back. */
    j->free_attempts++;
    e->st.free_retries++;
    delay = fmax(0, e->outage_next - now);
    kind = WAIT_OUTAGE;
  }
  /* The server named a time for this one request: it is never asked again sooner,
   * whatever the others do (a provisional pause lifted for them is not lifted for it).
   * A little jitter on top spreads a herd the server sent away together. */
  if (v.hint > 0) {
    delay = fmax(delay, v.hint * (1.0 + 0.1 * cg_rng_uniform(&e->rng)));
    kind = WAIT_FIRM;
  }
  schedule_retry(e, j, v.code, v.msg, delay, kind, now);
}

/* Moves due backoffs to the retry queue; returns seconds until the next one is due. */
static double release_due(cg_engine *e, double now) {
  while (e->nheap && e->heap[0]->t_due <= now) {
    cg_job *j = heap_pop(e);
    j->state = CG_JOB_QUEUED;
    j->early = 0;
    q_push(&e->retryq, j);
  }
  return e->nheap ? e->heap[0]->t_due - now : INFINITY;
}

static void fail_too_large(cg_engine *e, cg_job *j, const char *which) {
  char buf[256];
  snprintf(buf, sizeof buf, "too_large: request needs %.0f tokens but the %s limit allows at most %.0f",
           j->tokens, which, cg_limit_max_tokens(&e->lim));
  cg_job_fail(j, "too_large", buf);
  push_done(e, j, CG_JOB_DONE);
}

/* Admits jobs from the head into `out` while slots and the limiter allow. Returns the
 * seconds the head must wait for the limiter, or INFINITY. */
static double admit(cg_engine *e, worker *w, double now, cg_job **out) {
  int cap = effective_concurrency(e);
  int share = (cap + e->nw - 1) / e->nw;
  cg_job **tail = out;
  while (e->in_flight < cap && w->active < share) {
    jobq *q = e->retryq.head ? &e->retryq : &e->freshq;
    cg_job *j = q->head;
    if (!j) break;
    if (e->outage && (e->outage_probe || now < e->outage_next)) {
      /* One probe at a time, spaced by backoff; its answer ends the outage or not. */
      *tail = NULL;
      return e->outage_probe ? INFINITY : e->outage_next - now;
    }
    if (e->r_failed) {
      q_pop(q);
      fail_limiter(e, j);
      continue;
    }
    double wait;
    const char *which = "";
    if (e->redis) {
      /* Too large is settled locally first: the head would otherwise wait for a grant
       * Redis can never give. */
      double max = cg_limit_max_tokens(&e->lim);
      if (max > 0 && j->tokens > max) {
        q_pop(q);
        fail_too_large(e, j, "tokens/min");
        continue;
      }
      if (!grant_covers(e, j)) {
        /* The gate wakes us when the grant arrives; until then the head waits here and
         * the worker drives its transfers. */
        if (e->blocked_since < 0) e->blocked_since = now;
        if (e->gate_waiting && now >= e->gate_next) pthread_cond_signal(&e->gate_cv);
        *tail = NULL;
        return INFINITY;
      }
    }
    int r = cg_limit_reserve(&e->lim, j->tokens, now, &wait, &which);
    /* Only a request sent now can show whether a lone 429 was the server's limit or a
     * passing fault: with nothing in flight, one goes through the provisional pause; its
     * answer lifts the pause or makes it firm. */
    int probe = r == CG_WAIT && !e->in_flight && cg_limit_probe(&e->lim, j->tokens, now);
    if (probe) r = CG_ADMIT;
    if (r == CG_WAIT && which[0] == 'r' && wait > e->cfg.max_hint_wait) {
      /* The client's own daily quota is spent: waiting hours in silence helps nobody. */
      q_pop(q);
      char buf[320];
      snprintf(buf, sizeof buf,
               "quota: the requests/day limit (rpd %g) is spent; the next request fits in %.0f min "
               "(the quota refills over 24 h); run again then to send the rest",
               e->cfg.limits.rpd, ceil(wait / 60));
      cg_job_fail(j, "quota", buf);
      push_done(e, j, CG_JOB_DONE);
      continue;
    }
    if (r == CG_WAIT) {
      if (e->blocked_since < 0) e->blocked_since = now;
      *tail = NULL;
      return wait;
    }
    q_pop(q);
    if (r == CG_TOO_LARGE) {
      fail_too_large(e, j, which);
      continue;
    }
    if (e->blocked_since >= 0) {
      e->st.limiter_wait_s += now - e->blocked_since;
      e->blocked_since = -1;
    }
    if (e->redis) {
      e->grant_req--;
      if (e->cfg.limits.tpm > 0) e->grant_tok = fmax(0, e->grant_tok - j->tokens);
      /* Ask for the next head's grant now, while this one is being sent. */
      if (e->gate_waiting) pthread_cond_signal(&e->gate_cv);
    }
    j->reserved = j->tokens;
    e->st.tokens_reserved += j->tokens;
    j->attempts++;
    j->t_attempt = now;
    j->sent_seq = ++e->sent_seq;
    if (probe) e->probe_seq = j->sent_seq;
    if (e->outage) e->outage_probe = j->sent_seq;
    j->state = CG_JOB_ACTIVE;
    j->owner = (int)(w - e->w);
    e->st.requests++;
    e->in_flight++;
    w->active++;
    if (e->in_flight > e->st.max_in_flight) e->st.max_in_flight = e->in_flight;
    *tail = j;
    tail = &j->next;
  }
  *tail = NULL;
  return INFINITY;
}

/* ---- workers -------------------------------------------------------------------- */

static CURL *get_easy(worker *w) {
  if (w->nspare) return w->spare[--w->nspare];
  return cg_http_easy_new(&w->e->cfg, w->e->share);
}

static void put_easy(worker *w, CURL *h) {
  if (w->nspare == w->capspare) {
    int cap = w->capspare ? w->capspare * 2 : 16;
    CURL **s = realloc(w->spare, (size_t)cap * sizeof *s);
    if (!s) {
      cg_http_easy_free(h);
      return;
    }
    w->spare = s;
    w->capspare = cap;
  }
  w->spare[w->nspare++] = h;
}

static int live_add(worker *w, cg_job *j) {
  if (w->nlive == w->caplive) {
    int cap = w->caplive ? w->caplive * 2 : 64;
    cg_job **l = realloc(w->live, (size_t)cap * sizeof *l);
    if (!l) return -1;
    w->live = l;
    w->caplive = cap;
  }
  j->live_idx = w->nlive;
  w->live[w->nlive++] = j;
  return 0;
}

static void live_remove(worker *w, cg_job *j) {
  cg_job *last = w->live[--w->nlive];
  w->live[j->live_idx] = last;
  last->live_idx = j->live_idx;
  j->easy = NULL;
}

static void *worker_main(void *arg) {
  worker *w = (worker *)arg;
  cg_engine *e = w->e;
  cg_job *done = NULL;   /* finished transfers not yet classified */
  cg_job *failed = NULL; /* could not even start */
  for (;;) {
    int running = 0;
    curl_multi_perform(w->multi, &running);
    CURLMsg *m;
    int left;
    cg_job **dtail = &done; /* after the transfers stopped by cancellation, if any */
    while (*dtail) dtail = &(*dtail)->next;
    while ((m = curl_multi_info_read(w->multi, &left))) {
      if (m->msg != CURLMSG_DONE) continue;
      CURL *h = m->easy_handle;
      CURLcode rc = m->data.result;
      cg_job *j = cg_http_job(h);
      cg_http_finish(h, j, rc);
      curl_multi_remove_handle(w->multi, h);
      live_remove(w, j);
      put_easy(w, h);
      j->next = NULL;
      *dtail = j;
      dtail = &j->next;
    }

    pthread_mutex_lock(&e->mu);
    if (e->closing) {
      /* Classified or not, these jobs return to the engine to be freed by destroy. */
      while (done) {
        cg_job *n = done->next;
        q_push(&e->doneq, done);
        done = n;
      }
      while (failed) {
        cg_job *n = failed->next;
        q_push(&e->doneq, failed);
        failed = n;
      }
      pthread_mutex_unlock(&e->mu);
      break;
    }
    double now = cg_now();
    int progress = done != NULL;
    while (done) {
      cg_job *n = done->next;
      finish_attempt(e, w, done, now);
      done = n;
    }
    while (failed) {
      cg_job *n = failed->next;
      e->in_flight--;
      w->active--;
      cg_job_fail(failed, "network", "network: cannot start a transfer (out of memory)");
      push_done(e, failed, CG_JOB_DONE);
      failed = n;
    }
    cg_job *stop = NULL; /* flagged for cancellation: their transfers end below */
    if (w->cancels) {
      for (int k = 0; k < w->nlive; k++) {
        if (w->live[k]->cancel) {
          w->live[k]->next = stop;
          stop = w->live[k];
        }
      }
      w->cancels = 0;
    }
    double t_due = release_due(e, now);
    if (e->outage) outage_expire(e, now);
    cg_job *start = NULL;
    double t_lim = admit(e, w, now, &start);
    double t = fmin(t_due, t_lim);
    if (t > 1.0) t = 1.0;
    int sleep = !progress && !start && !stop;
    if (sleep) w->sleeping = 1;
    pthread_mutex_unlock(&e->mu);

    /* A stopped transfer joins the finished ones; finish_attempt sees its cancel flag. */
    while (stop) {
      cg_job *j = stop;
      stop = j->next;
      curl_multi_remove_handle(w->multi, j->easy);
      put_easy(w, j->easy);
      live_remove(w, j);
      j->status = 0;
      j->next = done;
      done = j;
    }
    cg_job **ftail = &failed;
    while (start) {
      cg_job *j = start;
      start = j->next;
      j->next = NULL;
      CURL *h = get_easy(w);
      j->easy = h;
      if (!h || cg_http_prepare(h, j) != 0 || live_add(w, j) != 0) {
        if (h) put_easy(w, h);
        *ftail = j;
        ftail = &j->next;
      } else if (curl_multi_add_handle(w->multi, h) != CURLM_OK) {
        live_remove(w, j);
        put_easy(w, h);
        *ftail = j;
        ftail = &j->next;
      }
    }
    if (sleep) {
      int ms = (int)ceil(t * 1000.0);
      if (ms < 0) ms = 0;
      curl_multi_poll(w->multi, NULL, 0, ms, NULL);
    }
  }
  return NULL;
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
    cg_redis_grant g;
    pthread_mutex_unlock(&e->mu);
    rc = cg_redis_lease(e->redis, &lim, want_r, want_t, &g, err, sizeof err);
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

static void *gate_main(void *arg) {
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
