/* The request engine's core: jobs, worker threads, scheduling. See cg_pool.c. */
#ifndef CG_POOL_H
#define CG_POOL_H

#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "cg_buf.h"
#include "cg_hints.h"
#include "cg_limit.h"
#include "cg_redis.h"
#include "cg_stats.h"

typedef struct cg_config {
  int concurrency, threads;
  cg_limits limits;
  double aimd_decrease, aimd_increase, aimd_min;
  int max_attempts;
  double backoff_base, backoff_cap, retry_budget, max_hint_wait;
  double timeout, connect_timeout, idle_timeout;
  double max_response_bytes;
  int want_validate; /* 2xx answers go to the Lua thread before they count as done */
  int want_events;   /* record one event per failed attempt for on_attempt */
  uint64_t seed;
  char ca_file[4096]; /* CA certificates to trust for https (PEM), "": the system's */
  /* Shared limiter (NULL: none). cg_engine_new takes ownership, on failure too; only the
   * engine's gate thread uses it from then on. */
  cg_redis_t *redis;
} cg_config;

enum {
  CG_JOB_QUEUED,   /* waiting for a slot and the limiter */
  CG_JOB_BACKOFF,  /* waiting for its retry time */
  CG_JOB_ACTIVE,   /* transfer running in a worker */
  CG_JOB_VALIDATE, /* a 2xx waiting for the Lua thread's validate */
  CG_JOB_DONE      /* final: success or error */
};

/* One request, from submit until the Lua thread delivers it. Plain C memory only. */
typedef struct cg_job {
  uint64_t id;
  char *url, *method, *body;
  size_t body_len;
  struct curl_slist *headers;
  double tokens;   /* current estimate */
  double reserved; /* held in the limiter for the attempt in progress */
  int max_attempts, attempts, state;
  int cancel;   /* cancellation asked for; guarded by the engine lock */
  int owner;    /* index of the worker running it while ACTIVE */
  double t_submit, t_attempt, t_due, t_done;
  /* The retry budget counts the time a request is held back to be asked again (backoffs,
   * pauses, outages), not its wait for a first slot nor its attempts: a slow model's long
   * attempt, or a long queue, must not spend it. `waited`: seconds held back before its
   * last attempt; `t_failed`: when its last attempt failed, -1 while none waits. */
  double waited, t_failed;
  uint64_t sent_seq; /* order of its last attempt among all attempts (ties in time do not) */
  struct cg_job *next;  /* link in whichever engine queue holds the job */
  size_t heap_idx;
  /* last attempt */
  long status;
  int net_kind, too_large;
  int sends; /* times libcurl sent it: more than 1 when a reused connection died first */
  int early; /* in backoff, and may go at once when the server proves healthy */
  int held;  /* in backoff only until an outage's next probe (cg_pool.c: outages) */
  /* Attempts that do not count against max_attempts: sent during an outage, or a rate 429
   * while other requests succeeded. The retry budget (time) still bounds them. */
  int free_attempts;
  cg_buf resp, hdrs;
  cg_hints hints;
  char errbuf[CURL_ERROR_SIZE];
  CURL *easy;   /* while ACTIVE */
  int live_idx; /* index in its worker's live array while ACTIVE */
  /* final outcome */
  char *error;      /* "code: detail", NULL on success */
  const char *code; /* static string, NULL on success */
  char *reason;     /* validate's reason for the last rejection */
  char *cb_error;   /* an on_attempt callback's error, reported with the result */
  /* Lua-side bookkeeping (cg_results) */
  int finished;
  struct cg_job *rnext, *rprev;
} cg_job;

/* One failed attempt, for on_attempt. */
typedef struct cg_event {
  struct cg_event *next;
  uint64_t id;
  int attempt, retry;
  long status;
  double wait_s;
  char *error;
} cg_event;

typedef struct cg_engine cg_engine;

/* Starts the workers. Returns NULL with a message in err on failure. */
cg_engine *cg_engine_new(const cg_config *cfg, char *err, size_t errlen);
/* Hands a job to the engine (which owns it until cg_engine_take returns it). */
void cg_engine_submit(cg_engine *e, cg_job *j);
/* Puts a job the Lua thread took back under the engine's care: retry after `delay`. */
void cg_engine_retry(cg_engine *e, cg_job *j, double delay);
/* Waits up to `timeout` seconds (< 0: 50 ms slices until something arrives) for jobs in
 * state VALIDATE or DONE and for events; returns them in completion order. Returns early
 * with nothing when the process is interrupted. */
void cg_engine_take(cg_engine *e, double timeout, cg_job **jobs, cg_event **events);
/* Cancels a job the engine owns: it comes back through cg_engine_take as DONE with
 * error_code "cancelled" (a running transfer is stopped by its worker). Returns 0 when the
 * job is already done (its result stands), 1 otherwise. */
int cg_engine_cancel(cg_engine *e, cg_job *j);
/* Adjusts the token bucket after the caller learnt the real usage. */
void cg_engine_reconcile(cg_engine *e, double reserved, double used);
/* Counts a result finalised by the Lua thread (after validate). */
void cg_engine_count(cg_engine *e, int failed);
void cg_engine_set_limits(cg_engine *e, const cg_limits *lim);
void cg_engine_stats(cg_engine *e, cg_stats *out);
/* The shared limiter's counters as of its last call (0 without a limiter), and its URL
 * with the password masked (NULL without one). */
int cg_engine_redis_stats(cg_engine *e, cg_redis_stats *out, const char **display);
/* Full-jitter delay for the retry-th retry, with the engine's RNG. */
double cg_engine_backoff(cg_engine *e, int retry);
const cg_config *cg_engine_config(const cg_engine *e);
/* Stops every transfer, joins every worker, frees every job it still owns. */
void cg_engine_destroy(cg_engine *e);

/* Attempts that count against max_attempts. */
static inline int cg_job_spent(const cg_job *j) {
  return j->attempts - j->free_attempts;
}

/* Seconds of the retry budget the job has used at `now`. */
static inline double cg_job_waited(const cg_job *j, double now) {
  return j->waited + (j->t_failed >= 0 ? now - j->t_failed : 0);
}

cg_job *cg_job_new(void);
void cg_job_free(cg_job *j);
void cg_event_free(cg_event *ev);
/* Sets a job's final error (copies msg). */
void cg_job_fail(cg_job *j, const char *code, const char *msg);

#endif
