/* Scheduling policy, under the engine's lock: what a finished attempt means (done,
 * backoff, validate), lone faults told from limits and outages, retries, and admission
 * from the queue heads through the limiter. The design is in cg_pool.c. */
#include "cg_pool_impl.h"
#include "cg_admit.h"
#include "cg_clock.h"
#include "cg_http.h"
#include "cg_retry.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- scheduling (all require mu held) ------------------------------------------- */

/* With a rate limit the AIMD factor slows the buckets; without one it is the only lever,
 * so it scales the number of transfers in flight instead. */
int effective_concurrency(const cg_engine *e) {
  if (e->lim.req.rate > 0 || e->lim.tok.rate > 0) return e->cfg.concurrency;
  int c = (int)ceil(e->cfg.concurrency * e->lim.factor);
  return c < 1 ? 1 : c;
}

void wake_workers(cg_engine *e, int all) {
  for (int i = 0; i < e->nw; i++) {
    worker *w = &e->w[i];
    if (w->sleeping && (all || w->active < (effective_concurrency(e) + e->nw - 1) / e->nw)) {
      w->sleeping = 0;
      curl_multi_wakeup(w->multi);
      if (!all) return;
    }
  }
}

void push_done(cg_engine *e, cg_job *j, int state) {
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


/* Parks a job in the backoff heap until `delay` from now. */
void to_backoff(cg_engine *e, cg_job *j, double delay, int kind, double now) {
  if (j->t_failed < 0) j->t_failed = now;
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
  int d = cg_retry_decide(cg_job_spent(j), j->max_attempts, cg_job_waited(j, now), delay, e->cfg.retry_budget);
  if (d != CG_RETRY_GO) {
    char buf[512];
    cg_retry_final(buf, sizeof buf, d, msg, j->attempts, e->cfg.retry_budget);
    cg_job_fail(j, d == CG_RETRY_NO_BUDGET ? "budget" : code, buf);
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
void outage_expire(cg_engine *e, double now) {
  cg_job **p = &e->retryq.head, *prev = NULL;
  while (*p) {
    cg_job *j = *p;
    if (j->attempts > 0 && cg_job_waited(j, now) > e->cfg.retry_budget) {
      *p = j->next;
      if (e->retryq.tail == j) e->retryq.tail = prev;
      e->retryq.n--;
      j->next = NULL;
      char last[128], buf[512];
      snprintf(last, sizeof last, "the server has failed every request for %.0f s", now - e->outage_since);
      cg_retry_final(buf, sizeof buf, CG_RETRY_NO_BUDGET, last, j->attempts, e->cfg.retry_budget);
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
void finish_attempt(cg_engine *e, worker *w, cg_job *j, double now) {
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
double release_due(cg_engine *e, double now) {
  while (e->nheap && e->heap[0]->t_due <= now) {
    cg_job *j = heap_pop(e);
    j->state = CG_JOB_QUEUED;
    j->early = 0;
    q_push(&e->retryq, j);
  }
  return e->nheap ? e->heap[0]->t_due - now : INFINITY;
}

void fail_too_large(cg_engine *e, cg_job *j, const char *which) {
  char buf[256];
  cg_admit_message(buf, sizeof buf, CG_HEAD_TOO_LARGE, &e->lim, j->tokens, 0, which, e->cfg.limits.rpd);
  cg_job_fail(j, "too_large", buf);
  push_done(e, j, CG_JOB_DONE);
}

/* Admits jobs from the head into `out` while cg_admit_head sends them (strict FIFO).
 * Returns the seconds the head must wait, or INFINITY. */
double admit(cg_engine *e, worker *w, double now, cg_job **out) {
  int cap = effective_concurrency(e);
  cg_admit a = {.lim = &e->lim, .cap = cap, .in_flight = e->in_flight,
                .share = (cap + e->nw - 1) / e->nw, .active = w->active,
                .outage = e->outage, .outage_probe = e->outage_probe != 0,
                .outage_next = e->outage_next, .dead = e->r_failed, .shared = e->redis != NULL,
                .grant_req = e->grant_req, .grant_tok = e->grant_tok,
                .quota_wait = e->cfg.max_hint_wait};
  cg_job **tail = out;
  double t = INFINITY;
  for (;;) {
    jobq *q = e->retryq.head ? &e->retryq : &e->freshq;
    cg_job *j = q->head;
    if (!j) break;
    double wait;
    const char *which;
    int v = cg_admit_head(&a, j->tokens, now, &wait, &which);
    if (v == CG_HEAD_FULL) break;
    if (v == CG_HEAD_OUTAGE) {
      t = wait;
      break;
    }
    if (v == CG_HEAD_GRANT) {
      /* The gate wakes us when the grant arrives; until then the head waits here and
       * the worker drives its transfers. */
      if (e->blocked_since < 0) e->blocked_since = now;
      if (e->gate_waiting && now >= e->gate_next) pthread_cond_signal(&e->gate_cv);
      break;
    }
    if (v == CG_HEAD_WAIT) {
      if (e->blocked_since < 0) e->blocked_since = now;
      t = wait;
      break;
    }
    q_pop(q);
    if (v == CG_HEAD_DEAD) {
      fail_limiter(e, j);
      continue;
    }
    if (v == CG_HEAD_TOO_LARGE) {
      fail_too_large(e, j, which);
      continue;
    }
    if (v == CG_HEAD_QUOTA) {
      char buf[320];
      cg_admit_message(buf, sizeof buf, v, &e->lim, j->tokens, wait, which, e->cfg.limits.rpd);
      cg_job_fail(j, "quota", buf);
      push_done(e, j, CG_JOB_DONE);
      continue;
    }
    if (e->blocked_since >= 0) {
      e->st.limiter_wait_s += now - e->blocked_since;
      e->blocked_since = -1;
    }
    if (e->redis) {
      e->grant_req = a.grant_req;
      e->grant_tok = a.grant_tok;
      /* Ask for the next head's grant now, while this one is being sent. */
      if (e->gate_waiting) pthread_cond_signal(&e->gate_cv);
    }
    j->reserved = j->tokens;
    e->st.tokens_reserved += j->tokens;
    j->attempts++;
    j->t_attempt = now;
    j->waited = cg_job_waited(j, now);
    j->t_failed = -1;
    j->sent_seq = ++e->sent_seq;
    if (v == CG_HEAD_PROBE) e->probe_seq = j->sent_seq;
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
  return t;
}
