/* The engine's insides, shared by cg_pool.c (the public API and the design), cg_jobq.c,
 * cg_sched.c, cg_worker.c and cg_gate.c. Not for other files: cg_pool.h is the interface. */
#ifndef CG_POOL_IMPL_H
#define CG_POOL_IMPL_H

#include "cg_http.h"
#include "cg_pool.h"
#include "cg_redis_url.h"
#include "cg_retry.h"

#include <pthread.h>

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

/* What may end a backoff before its time: nothing (its own backoff or the server's named
 * time), a later request's success (a lone fault), or the end of an outage. */
enum { WAIT_FIRM, WAIT_EARLY, WAIT_OUTAGE };

/* cg_jobq.c */
void q_push(jobq *q, cg_job *j);
cg_job *q_pop(jobq *q);
void q_free(jobq *q);
int heap_push(cg_engine *e, cg_job *j);
void heap_build(cg_engine *e);
cg_job *heap_pop(cg_engine *e);
void heap_remove(cg_engine *e, size_t i);
int q_remove(jobq *q, cg_job *j);
/* cg_sched.c */
int effective_concurrency(const cg_engine *e);
void wake_workers(cg_engine *e, int all);
void push_done(cg_engine *e, cg_job *j, int state);
void to_backoff(cg_engine *e, cg_job *j, double delay, int kind, double now);
void outage_expire(cg_engine *e, double now);
void finish_attempt(cg_engine *e, worker *w, cg_job *j, double now);
double release_due(cg_engine *e, double now);
void fail_too_large(cg_engine *e, cg_job *j, const char *which);
double admit(cg_engine *e, worker *w, double now, cg_job **out);
/* cg_gate.c */
void fail_limiter(cg_engine *e, cg_job *j);
int grant_covers(const cg_engine *e, const cg_job *j);
void redis_settle(cg_engine *e, double delta);
/* Thread bodies, started by cg_engine_new. */
void *worker_main(void *arg); /* cg_worker.c: arg is its worker */
void *gate_main(void *arg);   /* cg_gate.c: arg is the engine */
void gate_wake(void *arg);    /* cg_gate.c: the client heard of a place; arg is the engine */

#endif
