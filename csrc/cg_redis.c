/* Shared limiter in Redis: connection, script calls and the local lease. The DESIGN
 * comment is in cg_redis.h; the bucket arithmetic lives in the script (cg_redis_script.h)
 * so that it runs atomically next to the data. */
#include "cg_redis.h"
#include "cg_redis_script.h"
#include "cg_redis_url.h"
#include "cg_redis_wake.h"

#include <hiredis/hiredis.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_TIMEOUT_S 2.0
#define DEFAULT_BATCH_S 0.1
#define DEFAULT_LEASE_TTL_S 0.5
#define DEFAULT_HORIZON_S 60.0
#define DEFAULT_MAX_OUTAGE_S 30.0
/* The shared buckets refill at this share of the per-minute limits (bursts unchanged).
 * The provider counts arrivals: a lease paid for at t is sent a few milliseconds later,
 * unevenly, and leases are paid back to back, so at the full rate a provider counting
 * over a sliding window would turn away a request every few seconds. */
#define RATE_SHARE 0.98
/* Demand-sized leases: a busy process aims at this many requests per round trip, for a
 * lease lasting at most LEASE_MAX_S of its own rate; its rate is an average over about
 * DEMAND_TAU_S, so it follows a change of share within a few seconds. */
#define LEASE_TARGET 64.0
#define LEASE_MAX_S 30.0
#define DEMAND_TAU_S 5.0
#define IN_FLIGHT_RESERVE 1.0 /* reservations kept beyond those in flight */
#define IN_FLIGHT_MAX 16.0
/* During an outage: this fraction of the process's last rate at first, falling linearly
 * to nothing at the end of the allowed outage; reconnects back off from the first to the
 * last delay. */
#define OUTAGE_SHARE 0.5
#define OUTAGE_GUARD_S 5.0
#define RETRY_FIRST_S 0.25
#define RETRY_MAX_S 4.0
/* A process waiting in line without a listener (it could not start) looks again this soon. */
#define UNHEARD_POLL_S 2.0
#define MEMBER_MAX 128
#define NUM_LEN 40
#define SCRIPT_ARGS 24
#define REPLY_FIELDS 22

struct cg_redis {
  pthread_mutex_t mu;
  redisContext *c;       /* NULL or failed: reconnect on the next call */
  cg_redis_url url;
  double timeout_s;
  char sha[41];          /* script SHA1 from SCRIPT LOAD; "" until loaded */
  char key_state[CG_REDIS_KEY_MAX + 32];
  char key_leases[CG_REDIS_KEY_MAX + 40];
  char key_limits[CG_REDIS_KEY_MAX + 40];
  char key_clients[CG_REDIS_KEY_MAX + 40];
  char key_waiters[CG_REDIS_KEY_MAX + 40];
  char wake_prefix[CG_REDIS_KEY_MAX + 40]; /* + client_id: this process's wake channel */
  /* Waiting in line (a "queued" answer): the listener on our wake channel, started at the
   * first one; a message clears next_ask and calls notify (the engine's gate). */
  cg_redis_wake *waker;
  int bound; /* the last lease call waited (queued, reserved, wait): the key, not this
              * process, sets its pace, so its own rate understates its demand */
  void (*notify)(void *);
  void *notify_arg;
  char client_id[96];    /* host:pid:random, for the key's list of processes */
  /* The key's limits as Redis last reported them (authoritative for everyone on it). */
  cg_redis_limits eff;
  int have_eff, limits_differ;
  int set_limits; /* script ARGV 19 for the next call: 1 store the limits, 2 only look */
  int peek;       /* a display: every call only looks (and is not listed as sharing) */
  int paced_open; /* script ARGV 23: a fresh key opens paced (cg_redis_set_paced_open) */
  /* The share of a reservation a request really takes, as the key's processes measured
   * it (0: unknown): what a process sizes its leases by before its own requests settle. */
  double key_use;
  char clients[1024];
  int connected_once;
  int fresh;             /* the connection was made during the current call */
  int cold;              /* reconnected, no call answered since (script ARGV 18) */
  int last_timeout;      /* the last failed command timed out */

  /* The local lease: a grant of lease_req requests and lease_tok tokens (used_req and
   * used_tok of it spent), paid for by refill on the schedule given by the levels Redis
   * reported after taking it (after_*: negative = debt, paid first) and `floor_*` (what
   * was granted at once), counted from lease_got; usable until lease_exp (monotonic
   * seconds), then returned. */
  int have_lease;
  char member[MEMBER_MAX];
  double lease_req, lease_tok, used_req, used_tok, lease_exp, lease_got;
  /* Tokens paid for and kept from earlier leases (at most carry_cap): the reservations of
   * requests in flight, which mostly come back as they finish. Returning them with each
   * lease would put every other process's lease behind debt that is refunded moments
   * later, and they would not learn of the refund until their next round trip. */
  double carry_t, carry_cap;
  double after_r, after_t, after_d, floor_r, floor_t;
  cg_redis_limits lease_lim; /* the limits the schedule was computed with */

  /* Demand: exponentially decaying sums of what this process was granted, and of the
   * settlements (count and tokens) that came back for its requests. */
  double dem_r, dem_t, set_n, set_d, dem_last, dem_first;
  double granted_n, settled_n; /* all requests granted, all settlements: in flight = the gap */

  /* Outage: Redis unreachable since outage_since (0 = none); the local share is spent
   * from out_used_*; the next reconnect is tried at retry_at. */
  double max_outage_s;
  double outage_since, out_rate_r, out_rate_t, out_used_r, out_used_t;
  double queue_end; /* monotonic: when refill has paid all the debt this process last saw */
  double queue_span; /* seconds from the last grant to queue_end */
  double out_from;  /* the local share starts then: max(outage start, queue_end) + span */
  double retry_at, retry_delay;
  char last_err[CG_REDIS_URL_MAX + 256];

  double pending_tok;    /* reconciliation not yet sent */
  /* Monotonic time before which a round trip is pointless: Redis said "wait", or gave
   * only part of a batch and said when a whole one will be there. Asking earlier would
   * cost a round trip per request exactly when the rate binds. */
  double next_ask;
  double paused_until;   /* monotonic: a pause we know of */
  cg_redis_limits last;  /* last limits seen, for close() */
  int have_last;
  cg_redis_stats st;
};

/* A parsed script reply (see cg_redis_script.h for the fields). */
typedef struct reply {
  char status[40];
  double grant_r, grant_t;
  char member[MEMBER_MAX];
  double wait_ms, pause_ms, level_r, level_t, level_d, out_r, out_t, cred_r, cred_t;
  double k_rpm, k_tpm, k_rpd, k_br, k_bt; /* the key's limits */
  int differ;
  char clients[1024];
  double use; /* the key's measured share of a reservation used (0: unknown) */
} reply;

/* What one script call asks for. */
typedef struct call {
  const char *ret_member;
  double unused_r, unused_t, delta_t, pause_ms, drain, need_r, need_t, want_r, want_t,
      horizon_ms;
  double keep_t; /* tokens kept locally, not returned (carry_t once Redis answered) */
} call;

static double mono_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void set_err(char *err, size_t errlen, const char *fmt, ...) {
  if (!err || !errlen) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

/* Fills defaults the same way the script does, so the client's batch sizes and the
 * server's buckets agree. */
static cg_redis_limits normalize(const cg_redis_limits *in) {
  cg_redis_limits l = *in;
  if (!(l.rpm > 0)) l.rpm = 0;
  if (!(l.tpm > 0)) l.tpm = 0;
  if (!(l.rpd > 0)) l.rpd = 0;
  if (!(l.burst_requests > 0)) l.burst_requests = fmax(1.0, l.rpm / 60.0);
  if (!(l.burst_tokens > 0)) l.burst_tokens = l.tpm / 60.0;
  if (!(l.batch_s > 0)) l.batch_s = DEFAULT_BATCH_S;
  if (!(l.lease_ttl_s > 0)) l.lease_ttl_s = DEFAULT_LEASE_TTL_S;
  if (!(l.horizon_s > 0)) l.horizon_s = DEFAULT_HORIZON_S;
  return l;
}

/* What the buckets refill by: the per-minute rates at RATE_SHARE (the script does the
 * same with ARGV 21), for the client's schedule. */
static cg_redis_limits refill_of(const cg_redis_limits *in) {
  cg_redis_limits l = *in;
  l.rpm *= RATE_SHARE;
  l.tpm *= RATE_SHARE;
  return l;
}

static void drop_context(cg_redis_t *r) {
  if (r->c) redisFree(r->c);
  r->c = NULL;
}

static int is_timeout(const cg_redis_t *r) {
  return r->c && (strstr(r->c->errstr, "temporarily unavailable") || strstr(r->c->errstr, "timed out"));
}

/* Describes a failed context. hiredis reports a read timeout as EAGAIN's text, which
 * says nothing to a user; name it. */
static void context_err(cg_redis_t *r, char *err, size_t errlen) {
  const char *why = r->c ? r->c->errstr : "cannot allocate a connection";
  if (is_timeout(r))
    set_err(err, errlen, "redis: %s: timeout after %g s", r->url.display, r->timeout_s);
  else
    set_err(err, errlen, "redis: %s: %s", r->url.display, why[0] ? why : "connection failed");
}

/* Runs one command on the live context. Returns the reply (caller frees) or NULL with
 * `err` set; an error reply is returned as a reply. */
/* Runs one command on the live context. Returns the reply (caller frees) or NULL with
 * `err` set; an error reply is returned as a reply.
 *
 * hiredis writes with write(2): on a connection the server has closed, that raises
 * SIGPIPE, which would kill the whole run. So SIGPIPE is blocked in this thread for the
 * call, and one it raised is consumed before unblocking (a write's SIGPIPE goes to the
 * writing thread, so no other thread's signal is taken). */
static redisReply *command(cg_redis_t *r, int argc, const char **argv, const size_t *lens,
                           char *err, size_t errlen) {
  sigset_t pipe_set, old, pending;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
  sigpending(&pending);
  const int was_pending = sigismember(&pending, SIGPIPE);

  redisReply *rep = redisCommandArgv(r->c, argc, argv, lens);

  if (!was_pending) {
    const struct timespec zero = { 0, 0 };
    while (sigtimedwait(&pipe_set, NULL, &zero) > 0) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (!rep) {
    r->last_timeout = is_timeout(r);
    context_err(r, err, errlen);
    drop_context(r); /* the stream may hold half a reply: never reuse it */
    r->sha[0] = '\0';
  }
  return rep;
}

static int expect_ok(cg_redis_t *r, redisReply *rep, const char *what, char *err, size_t errlen) {
  if (!rep) return -1;
  int ok = rep->type != REDIS_REPLY_ERROR;
  if (!ok) set_err(err, errlen, "redis: %s: %s failed: %s", r->url.display, what, rep->str);
  freeReplyObject(rep);
  return ok ? 0 : -1;
}

/* Connects, authenticates, selects the database and loads the script. */
static int ensure_connected(cg_redis_t *r, char *err, size_t errlen) {
  if (r->c && !r->c->err) return 0;
  drop_context(r);
  struct timeval tv;
  tv.tv_sec = (time_t)r->timeout_s;
  tv.tv_usec = (suseconds_t)((r->timeout_s - (double)tv.tv_sec) * 1e6);
  r->c = r->url.is_unix ? redisConnectUnixWithTimeout(r->url.path, tv)
                        : redisConnectWithTimeout(r->url.host, r->url.port, tv);
  if (!r->c || r->c->err) goto fail;
  if (redisSetTimeout(r->c, tv) != REDIS_OK) goto fail;
  if (r->connected_once) {
    r->st.reconnects++;
    r->cold = 1; /* until Redis answered a call: a missing key may be lost state */
  }
  r->connected_once = 1;
  r->fresh = 1;

  if (r->url.has_password) {
    const char *argv[3] = { "AUTH", r->url.user, r->url.password };
    size_t lens[3] = { 4, strlen(r->url.user), strlen(r->url.password) };
    int skip = r->url.user[0] ? 0 : 1; /* no user: the pre-ACL one-argument form */
    if (skip) { argv[1] = argv[0]; lens[1] = lens[0]; }
    if (expect_ok(r, command(r, 3 - skip, argv + skip, lens + skip, err, errlen), "AUTH", err,
                  errlen))
      goto fail_keep_err;
  }
  if (r->url.db) {
    char db[16];
    snprintf(db, sizeof db, "%d", r->url.db);
    const char *argv[2] = { "SELECT", db };
    size_t lens[2] = { 6, strlen(db) };
    if (expect_ok(r, command(r, 2, argv, lens, err, errlen), "SELECT", err, errlen))
      goto fail_keep_err;
  }
  {
    const char *argv[3] = { "SCRIPT", "LOAD", cg_redis_script };
    size_t lens[3] = { 6, 4, strlen(cg_redis_script) };
    redisReply *rep = command(r, 3, argv, lens, err, errlen);
    if (!rep) goto fail_keep_err;
    if (rep->type != REDIS_REPLY_STRING || rep->len != 40) {
      set_err(err, errlen, "redis: %s: SCRIPT LOAD failed: %s", r->url.display,
              rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
      freeReplyObject(rep);
      goto fail_keep_err;
    }
    memcpy(r->sha, rep->str, 40);
    r->sha[40] = '\0';
    freeReplyObject(rep);
  }
  return 0;
fail:
  context_err(r, err, errlen);
fail_keep_err:
  drop_context(r);
  r->sha[0] = '\0';
  r->st.errors++;
  return -1;
}

static double field_num(const redisReply *e) {
  return (e && e->type == REDIS_REPLY_STRING) ? strtod(e->str, NULL) : 0.0;
}

static int parse_reply(cg_redis_t *r, const redisReply *rep, reply *out, char *err, size_t errlen) {
  if (rep->type == REDIS_REPLY_ERROR) {
    set_err(err, errlen, "redis: %s: %s", r->url.display, rep->str);
    return -1;
  }
  if (rep->type != REDIS_REPLY_ARRAY || rep->elements != REPLY_FIELDS) {
    set_err(err, errlen, "redis: %s: unexpected reply from the limiter script", r->url.display);
    return -1;
  }
  for (size_t i = 0; i < REPLY_FIELDS; i++)
    if (rep->element[i]->type != REDIS_REPLY_STRING) {
      set_err(err, errlen, "redis: %s: unexpected reply from the limiter script",
              r->url.display);
      return -1;
    }
  snprintf(out->status, sizeof out->status, "%s", rep->element[0]->str);
  out->grant_r = field_num(rep->element[1]);
  out->grant_t = field_num(rep->element[2]);
  snprintf(out->member, sizeof out->member, "%s", rep->element[3]->str);
  out->wait_ms = field_num(rep->element[4]);
  out->pause_ms = field_num(rep->element[5]);
  out->level_r = field_num(rep->element[6]);
  out->level_t = field_num(rep->element[7]);
  out->level_d = field_num(rep->element[8]);
  out->out_r = field_num(rep->element[9]);
  out->out_t = field_num(rep->element[10]);
  out->cred_r = field_num(rep->element[11]);
  out->cred_t = field_num(rep->element[12]);
  out->k_rpm = field_num(rep->element[14]);
  out->k_tpm = field_num(rep->element[15]);
  out->k_rpd = field_num(rep->element[16]);
  out->k_br = field_num(rep->element[17]);
  out->k_bt = field_num(rep->element[18]);
  out->differ = field_num(rep->element[19]) == 1;
  snprintf(out->clients, sizeof out->clients, "%s", rep->element[20]->str);
  out->use = field_num(rep->element[21]);
  return 0;
}

static double own_use(const cg_redis_t *r);

/* One script round trip: EVALSHA, and EVAL when Redis lost the script (restart, SCRIPT
 * FLUSH). The local lease and the pending reconciliation are sent along and cleared once
 * Redis has answered. Requires r->mu held. */
static int run_script(cg_redis_t *r, const cg_redis_limits *lim, const call *cl, reply *out,
                      char *err, size_t errlen) {
  r->fresh = 0;
  if (ensure_connected(r, err, errlen)) return -1;
  char nums[SCRIPT_ARGS][NUM_LEN];
  const double server_ttl_ms = (2.0 * lim->lease_ttl_s + 1.0) * 1000.0;
  const double v[SCRIPT_ARGS] = {
    lim->rpm, lim->tpm, lim->rpd, lim->burst_requests, lim->burst_tokens, server_ttl_ms,
    0, cl->unused_r, cl->unused_t, cl->delta_t, cl->pause_ms, cl->drain,
    cl->need_r, cl->need_t, cl->want_r, cl->want_t, cl->horizon_ms, r->cold, r->set_limits,
    0, RATE_SHARE, 0, r->paced_open, own_use(r),
  };
  const char *argv[8 + SCRIPT_ARGS];
  size_t lens[8 + SCRIPT_ARGS];
  argv[0] = "EVALSHA";
  argv[1] = r->sha;
  argv[2] = "5";
  argv[3] = r->key_state;
  argv[4] = r->key_leases;
  argv[5] = r->key_limits;
  argv[6] = r->key_clients;
  argv[7] = r->key_waiters;
  for (int i = 0; i < SCRIPT_ARGS; i++) {
    if (i == 21) {
      argv[8 + i] = r->peek ? "" : r->wake_prefix;
    } else if (i == 6) {
      argv[8 + i] = cl->ret_member ? cl->ret_member : "";
    } else if (i == 19) {
      argv[8 + i] = r->client_id;
    } else {
      snprintf(nums[i], NUM_LEN, "%.17g", v[i]);
      argv[8 + i] = nums[i];
    }
  }
  for (int i = 0; i < 8 + SCRIPT_ARGS; i++) lens[i] = strlen(argv[i]);

  redisReply *rep = command(r, 8 + SCRIPT_ARGS, argv, lens, err, errlen);
  /* A connection that idled since its last use may have been closed by the server (a
   * restart, its `timeout` setting): try once on a fresh one. A timeout is not retried,
   * since the script may have run; a reset almost always means it never arrived. */
  if (!rep && !r->fresh && !r->last_timeout) {
    if (ensure_connected(r, err, errlen)) return -1;
    argv[1] = r->sha;
    lens[1] = strlen(r->sha);
    rep = command(r, 8 + SCRIPT_ARGS, argv, lens, err, errlen);
  }
  if (rep) r->st.round_trips++;
  if (rep && rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "NOSCRIPT", 8) == 0) {
    freeReplyObject(rep);
    argv[0] = "EVAL";
    argv[1] = cg_redis_script;
    lens[0] = 4;
    lens[1] = strlen(cg_redis_script);
    rep = command(r, 8 + SCRIPT_ARGS, argv, lens, err, errlen);
    if (rep) r->st.round_trips++;
  }
  if (!rep) {
    r->st.errors++;
    return -1;
  }
  int rc = parse_reply(r, rep, out, err, errlen);
  freeReplyObject(rep);
  if (rc) {
    r->st.errors++;
    return -1;
  }
  /* Redis applied the return and the reconciliation. */
  r->cold = 0;
  r->set_limits = r->peek ? 2 : 0;
  {
    cg_redis_limits k = *lim;
    k.rpm = out->k_rpm;
    k.tpm = out->k_tpm;
    k.rpd = out->k_rpd;
    k.burst_requests = out->k_br;
    k.burst_tokens = out->k_bt;
    r->eff = normalize(&k);
    r->have_eff = 1;
    r->limits_differ = out->differ;
    snprintf(r->clients, sizeof r->clients, "%s", out->clients);
    if (out->use > 0 && out->use <= 1) r->key_use = out->use;
  }
  {
    /* The debt queue as Redis showed it: when refill will have paid all of it. */
    const cg_redis_limits q = refill_of(&r->eff);
    double span = 0;
    if (q.rpm > 0 && out->level_r < 0) span = fmax(span, -out->level_r / (q.rpm / 60.0));
    if (q.tpm > 0 && out->level_t < 0) span = fmax(span, -out->level_t / (q.tpm / 60.0));
    r->queue_span = span;
    r->queue_end = mono_now() + span;
  }
  r->st.returned_requests += out->cred_r;
  r->st.returned_tokens += out->cred_t;
  r->have_lease = 0;
  r->member[0] = '\0';
  r->lease_req = r->lease_tok = r->used_req = r->used_tok = 0;
  r->carry_t = cl->keep_t;
  r->pending_tok = 0;
  if (out->pause_ms > 0) {
    double until = mono_now() + out->pause_ms / 1000.0;
    if (until > r->paused_until) r->paused_until = until;
  }
  return 0;
}

static void lease_avail(const cg_redis_t *r, double now, double *av_r, double *av_t);

/* Fills the return and reconciliation parts of a call from the local state; `keep`: the
 * tokens paid for and not yet spent stay here (up to carry_cap) for the next lease. A
 * lease that expired or whose return may already have been applied keeps nothing. */
static void add_piggyback(const cg_redis_t *r, call *cl, int keep) {
  if (r->have_lease) {
    const double now = mono_now();
    double av_r = 0, av_t = 0;
    if (keep && now < r->lease_exp) lease_avail(r, now, &av_r, &av_t);
    cl->keep_t = fmin(fmax(0, av_t), r->carry_cap);
    cl->ret_member = r->member;
    cl->unused_r = fmax(0, r->lease_req - r->used_req);
    cl->unused_t = fmax(0, r->lease_tok + r->carry_t - r->used_tok - cl->keep_t);
  }
  cl->delta_t = r->pending_tok;
}

cg_redis_t *cg_redis_connect(const char *url, double timeout_s, char *err, size_t errlen) {
  cg_redis_t *r = calloc(1, sizeof *r);
  if (!r) {
    set_err(err, errlen, "redis: out of memory");
    return NULL;
  }
  if (cg_redis_url_parse(url, &r->url, err, errlen)) {
    free(r);
    return NULL;
  }
  r->timeout_s = timeout_s > 0 ? timeout_s : DEFAULT_TIMEOUT_S;
  r->max_outage_s = r->url.outage_s >= 0 ? r->url.outage_s : DEFAULT_MAX_OUTAGE_S;
  snprintf(r->key_state, sizeof r->key_state, "coursegen:{%s}", r->url.key);
  snprintf(r->key_leases, sizeof r->key_leases, "coursegen:{%s}:leases", r->url.key);
  snprintf(r->key_limits, sizeof r->key_limits, "coursegen:{%s}:limits", r->url.key);
  snprintf(r->key_clients, sizeof r->key_clients, "coursegen:{%s}:clients", r->url.key);
  snprintf(r->key_waiters, sizeof r->key_waiters, "coursegen:{%s}:waiters", r->url.key);
  snprintf(r->wake_prefix, sizeof r->wake_prefix, "coursegen:{%s}:wake:", r->url.key);
  {
    char host[64] = "";
    if (gethostname(host, sizeof host - 1) != 0) snprintf(host, sizeof host, "host");
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(r->client_id, sizeof r->client_id, "%s:%ld:%04lx", host, (long)getpid(),
             (unsigned long)(ts.tv_nsec / 1000) & 0xffffUL);
  }
  if (pthread_mutex_init(&r->mu, NULL)) {
    set_err(err, errlen, "redis: cannot create a mutex");
    free(r);
    return NULL;
  }
  if (ensure_connected(r, err, errlen)) {
    pthread_mutex_destroy(&r->mu);
    free(r);
    return NULL;
  }
  return r;
}

static int bad_args(double want_req, double want_tok, char *err, size_t errlen) {
  if (!(want_req >= 0) || !(want_tok >= 0) || !isfinite(want_req) || !isfinite(want_tok) ||
      (want_req == 0 && want_tok == 0)) {
    set_err(err, errlen, "redis: bad lease request (%g requests, %g tokens)", want_req, want_tok);
    return 1;
  }
  return 0;
}

static int same_limits(const cg_redis_limits *a, const cg_redis_limits *b) {
  return a->rpm == b->rpm && a->tpm == b->tpm && a->rpd == b->rpd &&
         a->burst_requests == b->burst_requests && a->burst_tokens == b->burst_tokens &&
         a->batch_s == b->batch_s && a->lease_ttl_s == b->lease_ttl_s &&
         a->horizon_s == b->horizon_s;
}

static int too_large(cg_redis_grant *out, const char *bucket, double want_req,
                     double want_tok, char *err, size_t errlen) {
  const int tok = strcmp(bucket, "tokens/min") == 0;
  out->too_large = bucket;
  set_err(err, errlen, "too_large: %g %s can never fit the %s limit", tok ? want_tok : want_req,
          tok ? "tokens" : "requests", bucket);
  return CG_REDIS_TOO_LARGE;
}

/* ---- demand: what this process has been granted lately ---------------------------- */

static void demand_decay(cg_redis_t *r, double now) {
  if (r->dem_last > 0 && now > r->dem_last) {
    const double k = exp(-(now - r->dem_last) / DEMAND_TAU_S);
    r->dem_r *= k;
    r->dem_t *= k;
    r->set_n *= k;
    r->set_d *= k;
  }
  r->dem_last = now;
}

static void demand_note(cg_redis_t *r, double req, double tok, double now) {
  demand_decay(r, now);
  if (r->dem_first == 0) r->dem_first = now;
  r->dem_r += req;
  r->dem_t += tok;
  r->granted_n += req;
}

static void settle_note(cg_redis_t *r, double delta, double now) {
  demand_decay(r, now);
  r->set_n += 1;
  r->set_d += delta;
  r->settled_n += 1;
}

/* Requests per second (the decaying sum over the time it covers: at the start, less
 * than DEMAND_TAU_S, so a new process is not taken for a slow one) and the tokens a
 * request really takes: its reservation plus what settling gave back on average. */
static void demand_rate(cg_redis_t *r, double now, double *rr, double *tok_per_req) {
  demand_decay(r, now);
  *rr = *tok_per_req = 0;
  if (r->dem_first == 0) return;
  const double span = DEMAND_TAU_S * (1 - exp(-fmax(0.5, now - r->dem_first) / DEMAND_TAU_S));
  *rr = r->dem_r / span;
  if (r->dem_r > 0)
    *tok_per_req = fmax(0, r->dem_t / r->dem_r + (r->set_n > 1e-9 ? r->set_d / r->set_n : 0));
}

/* The share of its reservation a request of this process really took, from its own
 * settlements (0 until one settled): sent to the key, whose average is what new
 * processes size their first leases by. */
static double own_use(const cg_redis_t *r) {
  if (!(r->settled_n > 0) || !(r->dem_r > 0) || !(r->dem_t > 0) || !(r->set_n > 1e-9)) return 0;
  const double res = r->dem_t / r->dem_r;
  return fmin(1, fmax(0, (res + r->set_d / r->set_n) / res));
}

/* Reservations a lease holds for requests in flight (their tokens come back as they
 * finish): those in flight now and IN_FLIGHT_RESERVE more. */
static double in_flight_reserve(const cg_redis_t *r) {
  return fmin(IN_FLIGHT_MAX, fmax(0, r->granted_n - r->settled_n) + IN_FLIGHT_RESERVE);
}

/* The lease to ask for: at least this request and today's small batch; for a process
 * that has been busy, LEASE_TARGET requests' worth of its own recent rate, for at most
 * LEASE_MAX_S. Tokens are counted net of reconciliation (a chapter reserves its whole
 * output budget and mostly gives it back), plus IN_FLIGHT_RESERVE reservations like
 * this one, which come back to the lease as requests finish: sizing tokens by the
 * reservations would queue every other process behind debt that is mostly refunded.
 * Its rate falls as more processes share the key, and so do its leases; Redis cuts a
 * lease to what refill pays within the horizon. */
static void lease_want(cg_redis_t *r, const cg_redis_limits *lim, double need_r, double need_t,
                       double now, double *want_r, double *want_t) {
  double rr, tpr;
  demand_rate(r, now, &rr, &tpr);
  /* What a request takes: this process's own average once one settled; before that,
   * the key's (as a share of this request's reservation), which the other processes
   * measured; unknown on a new key. Sizing a new process's leases by whole reservations
   * would put every lease taken after them behind tokens that come back only later. */
  int known = r->settled_n > 0 && tpr > 0;
  if (!known && r->key_use > 0 && need_t > 0) {
    tpr = need_t * r->key_use;
    known = 1;
  }
  /* Held back by the key: what this process got is its share, not what it could use. */
  if (r->bound && rr > 0) rr = fmax(rr, LEASE_TARGET / LEASE_MAX_S);
  const double span = rr > 0 ? fmin(LEASE_MAX_S, LEASE_TARGET / rr) : 0;
  double wr = need_r, wt = need_t;
  if (lim->rpm > 0) wr = fmax(wr, ceil(lim->rpm / 60.0 * lim->batch_s));
  if (lim->tpm > 0) wt = fmax(wt, ceil(lim->tpm / 60.0 * lim->batch_s));
  if (rr > 0) {
    if (lim->rpm > 0 || lim->rpd > 0) wr = fmax(wr, ceil(rr * span));
    /* Until a request has settled, what one really takes is unknown: its reservation
     * may be many times that (a chapter reserves its whole output budget). A few
     * reservations then, which refunds refill locally as requests finish. */
    const double per = known ? rr * span * tpr : 0;
    if (lim->tpm > 0) wt = fmax(wt, ceil(per + need_t * in_flight_reserve(r)));
  } else if (lim->backlog_requests > 0) {
    /* No demand known yet (a new process): what waits, which the backlog cap below
     * trims, as if this request's size were typical. */
    wr = fmax(wr, LEASE_TARGET);
    wt = fmax(wt, need_t * in_flight_reserve(r) + (known ? (wr - need_r) * tpr : 0));
  }
  /* Requests no more than the tokens can carry: a request part the token part cannot
   * pay for would only hold others' leases back in the requests queue. */
  if (lim->tpm > 0 && need_t > 0) {
    const double cost = known ? tpr : need_t;
    wr = fmax(need_r, fmin(wr, ceil(wt / cost)));
  }
  if (lim->backlog_requests > 0) wr = fmax(need_r, fmin(wr, ceil(lim->backlog_requests)));
  if (lim->backlog_tokens > 0) wt = fmax(need_t, fmin(wt, ceil(lim->backlog_tokens)));
  /* Tokens no more than the requests can use: what they take on average, and whole
   * reservations for those in flight. A lease cut to a short backlog (the end of a
   * course) would otherwise hold tokens it gives back only at its return, and every
   * lease taken after it waits for refill to pay for them first. */
  if (lim->tpm > 0 && known)
    wt = fmax(need_t, fmin(wt, ceil(need_t * in_flight_reserve(r) + fmax(0, wr - need_r) * tpr)));
  *want_r = wr;
  *want_t = wt;
}

/* ---- the lease's schedule: spent only as refill pays for it ------------------------ */

/* Of a grant `g` that left a bucket at `after` (negative: debt, paid oldest first), the
 * part refill has paid `dt` seconds later. */
static double paid(double limit, double per_s, double after, double g, double dt) {
  if (!(limit > 0)) return g;
  return fmin(g, fmax(0, g + after + per_s * dt));
}

/* Seconds after the grant until the bucket has paid for `target` of it. */
static double paid_at(double limit, double per_s, double after, double g, double target) {
  if (!(limit > 0) || target <= 0) return 0;
  return fmax(0, (target - g - after) / per_s);
}

static void lease_avail(const cg_redis_t *r, double now, double *av_r, double *av_t) {
  const cg_redis_limits *l = &r->lease_lim;
  const double dt = now - r->lease_got;
  const double ur = fmin(paid(l->rpm, l->rpm / 60.0, r->after_r, r->lease_req, dt),
                         paid(l->rpd, l->rpd / 86400.0, r->after_d, r->lease_req, dt));
  const double ut = paid(l->tpm, l->tpm / 60.0, r->after_t, r->lease_tok, dt);
  *av_r = fmax(ur, r->floor_r) - r->used_req;
  *av_t = fmax(ut, r->floor_t) + r->carry_t - r->used_tok;
}

/* Seconds from `now` until the lease has paid for `want_r`, `want_t` more. */
static double lease_wait(const cg_redis_t *r, double now, double want_r, double want_t) {
  const cg_redis_limits *l = &r->lease_lim;
  const double tr = r->used_req + want_r, tt = r->used_tok - r->carry_t + want_t;
  double at = 0;
  if (tr > r->floor_r) {
    at = fmax(at, paid_at(l->rpm, l->rpm / 60.0, r->after_r, r->lease_req, tr));
    at = fmax(at, paid_at(l->rpd, l->rpd / 86400.0, r->after_d, r->lease_req, tr));
  }
  if (tt > r->floor_t) at = fmax(at, paid_at(l->tpm, l->tpm / 60.0, r->after_t, r->lease_tok, tt));
  return fmax(0, r->lease_got + at - now);
}

/* Takes a granted lease into the local state; returns the seconds until refill has paid
 * for all of it. */
static double lease_take(cg_redis_t *r, const cg_redis_limits *lim, const reply *rp, int now_ok,
                         double need_r, double need_t) {
  r->have_lease = 1;
  snprintf(r->member, sizeof r->member, "%s", rp->member);
  r->lease_req = rp->grant_r;
  r->lease_tok = rp->grant_t;
  r->used_req = r->used_tok = 0;
  r->after_r = rp->level_r;
  r->after_t = rp->level_t;
  r->after_d = rp->level_d;
  /* "ok": the need is granted now, even above the burst from a full bucket. */
  r->floor_r = now_ok ? need_r : 0;
  r->floor_t = now_ok ? need_t : 0;
  r->lease_lim = *lim;
  /* Counted from the answer's arrival: Redis took it earlier, so nothing is spent early. */
  r->lease_got = mono_now();
  const double full = fmax(fmax(paid_at(lim->rpm, lim->rpm / 60.0, r->after_r, r->lease_req, r->lease_req),
                                paid_at(lim->rpd, lim->rpd / 86400.0, r->after_d, r->lease_req, r->lease_req)),
                           paid_at(lim->tpm, lim->tpm / 60.0, r->after_t, r->lease_tok, r->lease_tok));
  r->lease_exp = r->lease_got + full + lim->lease_ttl_s;
  return full;
}

/* Grants from what is available locally (`av_*`), counting it in `used_*`; 1 if granted. */
static int take_local(cg_redis_t *r, const cg_redis_limits *lim, double av_r, double av_t,
                      double want_req, double want_tok, double *used_r, double *used_t,
                      cg_redis_grant *out) {
  const int lim_req = lim->rpm > 0 || lim->rpd > 0, lim_tok = lim->tpm > 0;
  if ((lim_req && av_r + 1e-9 < want_req) || (lim_tok && av_t + 1e-9 < want_tok)) return 0;
  *used_r += want_req;
  *used_t += want_tok;
  out->granted = out->local = 1;
  r->st.grants++;
  r->st.local_grants++;
  return 1;
}

/* ---- riding through an outage ------------------------------------------------------ */

/* A call failed with `msg`: starts or extends the outage. Returns 1 while the outage is
 * within the allowed time (the caller answers from the local share), 0 when it is over. */
static int outage_note(cg_redis_t *r, const char *msg) {
  const double now = mono_now();
  snprintf(r->last_err, sizeof r->last_err, "%s", msg);
  if (!r->outage_since) {
    double rr, tpr;
    demand_rate(r, now, &rr, &tpr);
    r->outage_since = now;
    /* Leases taken after this process's last one are not known here: allow for them
     * twice as long as the queue this process saw, and at least OUTAGE_GUARD_S. Shorter
     * outages are ridden on what is leased alone. */
    r->out_from = fmax(now, r->queue_end) + fmax(2 * r->queue_span, OUTAGE_GUARD_S);
    r->out_rate_r = OUTAGE_SHARE * rr;
    /* reservations are what must fit: at least a whole one per request */
    r->out_rate_t = OUTAGE_SHARE * rr * fmax(tpr, r->dem_r > 0 ? r->dem_t / r->dem_r : 0);
    r->out_used_r = r->out_used_t = 0;
    r->retry_delay = RETRY_FIRST_S;
    r->st.outages++;
  } else {
    r->retry_delay = fmin(RETRY_MAX_S, r->retry_delay * 2);
  }
  r->retry_at = now + r->retry_delay;
  return now - r->outage_since < r->max_outage_s;
}

/* Within an outage and before the next reconnect is due. */
static int riding_out(const cg_redis_t *r, double now) {
  return r->outage_since && now < r->retry_at && now - r->outage_since < r->max_outage_s;
}

/* Redis answered again: what the outage share spent in tokens is settled with the next
 * round trip (requests cannot be: the share was small enough to leave room for them). */
static void outage_end(cg_redis_t *r) {
  if (!r->outage_since) return;
  r->pending_tok += r->out_used_t;
  r->outage_since = 0;
  r->out_used_r = r->out_used_t = 0;
}

/* While Redis is away (and the outage within its time): grants from the local share, a
 * fraction of this process's last rate that falls to nothing at the end of the outage. */
static int outage_grant(cg_redis_t *r, const cg_redis_limits *lim, double want_req,
                        double want_tok, cg_redis_grant *out, char *err, size_t errlen) {
  const double now = mono_now(), el = now - r->outage_since, m = r->max_outage_s;
  if (el >= m) {
    set_err(err, errlen, "%s", r->last_err);
    return CG_REDIS_ERROR;
  }
  const int lim_req = lim->rpm > 0 || lim->rpd > 0;
  /* The integral of the falling share since it began: not before the leases taken
   * around this process's last one are paid, since they are still being spent. */
  const double a = fmin(fmax(0, r->out_from - r->outage_since), m);
  const double frac = el > a ? (el - a) - (el * el - a * a) / (2 * m) : 0;
  const double av_r = r->out_rate_r * frac - r->out_used_r;
  const double av_t = r->out_rate_t * frac - r->out_used_t;
  if (take_local(r, lim, av_r, av_t, want_req, want_tok, &r->out_used_r, &r->out_used_t, out)) {
    r->st.outage_grants++;
    return CG_REDIS_OK;
  }
  double w = r->retry_at - now;
  const double share = 1 - el / m;
  if (lim_req && el > a && av_r < want_req && r->out_rate_r * share > 0)
    w = fmin(w, (want_req - av_r) / (r->out_rate_r * share));
  out->wait_s = fmax(0.001, w);
  r->st.waits++;
  return CG_REDIS_OK;
}

/* A message on our wake channel (or the listener subscribed again): ask Redis at the next
 * call, and tell the owner, whose next call may be far off. Runs on the listener's thread. */
static void on_wake(void *arg) {
  cg_redis_t *r = arg;
  pthread_mutex_lock(&r->mu);
  r->next_ask = 0;
  r->st.wakeups++;
  void (*fn)(void *) = r->notify;
  void *fn_arg = r->notify_arg;
  pthread_mutex_unlock(&r->mu);
  if (fn) fn(fn_arg);
}

void cg_redis_set_notify(cg_redis_t *r, void (*fn)(void *), void *arg) {
  pthread_mutex_lock(&r->mu);
  r->notify = fn;
  r->notify_arg = arg;
  pthread_mutex_unlock(&r->mu);
}

int cg_redis_lease(cg_redis_t *r, const cg_redis_limits *limits, double want_req,
                   double want_tok, cg_redis_grant *out, char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  if (bad_args(want_req, want_tok, err, errlen)) return CG_REDIS_BADARG;
  const cg_redis_limits lim = normalize(limits);
  const int lim_req = lim.rpm > 0 || lim.rpd > 0, lim_tok = lim.tpm > 0;
  /* Never fits, whatever the others do: fail now, without a round trip (the script
   * applies the same rule). */
  const char *big = NULL;
  if (lim.rpm > 0 && want_req > fmax(lim.burst_requests, lim.rpm)) big = "requests/min";
  else if (lim.tpm > 0 && want_tok > fmax(lim.burst_tokens, lim.tpm)) big = "tokens/min";
  else if (lim.rpd > 0 && want_req > lim.rpd) big = "requests/day";
  if (big) return too_large(out, big, want_req, want_tok, err, errlen);
  pthread_mutex_lock(&r->mu);
  /* New limits void a "come back later" computed under the old ones. */
  if (r->have_last && !same_limits(&r->last, &lim)) r->next_ask = 0;
  r->last = lim;
  r->have_last = 1;
  double now = mono_now();

  /* A pause we already know of: no round trip, no grant. */
  if (now < r->paused_until) {
    out->wait_s = out->paused_s = r->paused_until - now;
    r->st.waits++;
    pthread_mutex_unlock(&r->mu);
    return CG_REDIS_OK;
  }
  /* The local lease, while fresh and large enough: now if refill has paid for it,
   * otherwise wait for that, not for Redis. */
  if (r->have_lease && now < r->lease_exp &&
      (!lim_req || r->lease_req - r->used_req + 1e-9 >= want_req) &&
      (!lim_tok || r->lease_tok + r->carry_t - r->used_tok + 1e-9 >= want_tok)) {
    double av_r, av_t;
    lease_avail(r, now, &av_r, &av_t);
    if (take_local(r, &lim, av_r, av_t, want_req, want_tok, &r->used_req, &r->used_tok, out)) {
      demand_note(r, want_req, want_tok, now);
      pthread_mutex_unlock(&r->mu);
      return CG_REDIS_OK;
    }
    const double w = lease_wait(r, now, want_req, want_tok);
    if (now + w < r->lease_exp) {
      out->wait_s = fmax(w, 0.0005);
      r->st.waits++;
      pthread_mutex_unlock(&r->mu);
      return CG_REDIS_OK;
    }
  }
  /* Redis told us when asking again is worth it. */
  if (now < r->next_ask) {
    out->wait_s = r->next_ask - now;
    r->st.waits++;
    pthread_mutex_unlock(&r->mu);
    return CG_REDIS_OK;
  }
  /* Redis is away: no reconnect before its time, the local share meanwhile (once the
   * outage has lasted too long, every call tries Redis again and fails if it must). */
  if (riding_out(r, now)) {
    int rc = outage_grant(r, &lim, want_req, want_tok, out, err, errlen);
    pthread_mutex_unlock(&r->mu);
    return rc;
  }
  /* A round trip: give back what is left, ask for this request plus a demand-sized lease. */
  call cl = { 0 };
  r->carry_cap = want_tok * in_flight_reserve(r);
  add_piggyback(r, &cl, 1);
  cl.need_r = want_req;
  cl.need_t = want_tok;
  lease_want(r, &lim, want_req, want_tok, now, &cl.want_r, &cl.want_t);
  cl.want_t = fmax(want_tok, cl.want_t - cl.keep_t);
  cl.horizon_ms = lim.horizon_s * 1000.0;
  reply rp;
  char msg[CG_REDIS_URL_MAX + 256] = "";
  int rc = run_script(r, &lim, &cl, &rp, msg, sizeof msg);
  if (rc) {
    /* Whether Redis applied the return is unknown: keep the lease on file so the next
     * round trip returns it (a second return of one lease is ignored), but never spend
     * it again; the pending reconciliation stays queued. */
    r->lease_exp = 0;
    rc = outage_note(r, msg) ? outage_grant(r, &lim, want_req, want_tok, out, err, errlen)
                             : CG_REDIS_ERROR;
    if (rc == CG_REDIS_ERROR) set_err(err, errlen, "%s", msg);
    pthread_mutex_unlock(&r->mu);
    return rc;
  }
  outage_end(r);
  if (strcmp(rp.status, "reserved") == 0 || strcmp(rp.status, "ok") == 0) {
    const int now_ok = rp.status[0] == 'o';
    const cg_redis_limits sched = refill_of(&r->eff);
    lease_take(r, &sched, &rp, now_ok, want_req, want_tok);
    if (now_ok) {
      r->used_req = want_req;
      r->used_tok = want_tok;
      out->granted = 1;
      r->st.grants++;
      demand_note(r, want_req, want_tok, mono_now());
    } else {
      out->wait_s = fmax(lease_wait(r, mono_now(), want_req, want_tok), 0.0005);
      r->st.waits++;
      r->st.reservations++;
    }
  } else if (strncmp(rp.status, "too_large:", 10) == 0) {
    /* The script applies the same rule as the check above; kept for safety. */
    const char *b = rp.status + 10;
    pthread_mutex_unlock(&r->mu);
    return too_large(out,
                     strcmp(b, "requests/min") == 0   ? "requests/min"
                     : strcmp(b, "tokens/min") == 0   ? "tokens/min"
                     : strcmp(b, "requests/day") == 0 ? "requests/day"
                                                      : "unknown",
                     want_req, want_tok, err, errlen);
  } else {
    out->wait_s = rp.wait_ms / 1000.0;
    out->paused_s = rp.pause_ms / 1000.0;
    if (strcmp(rp.status, "queued") == 0) {
      r->st.queued++;
      /* In line: a message on our channel says when to ask again. */
      if (!r->waker) {
        char ch[sizeof r->wake_prefix + sizeof r->client_id];
        snprintf(ch, sizeof ch, "%s%s", r->wake_prefix, r->client_id);
        r->waker = cg_redis_wake_start(&r->url, r->timeout_s, ch, on_wake, r);
      }
      /* (A listener that has just started asks again once subscribed, see on_wake.) */
      if (!r->waker) out->wait_s = fmin(out->wait_s, UNHEARD_POLL_S);
    }
    r->next_ask = now + out->wait_s;
    r->st.waits++;
  }
  r->bound = strcmp(rp.status, "ok") != 0;
  pthread_mutex_unlock(&r->mu);
  return CG_REDIS_OK;
}

void cg_redis_reconcile(cg_redis_t *r, double delta_tokens) {
  if (!isfinite(delta_tokens) || delta_tokens == 0) return;
  const double delta_in = delta_tokens;
  pthread_mutex_lock(&r->mu);
  double now = mono_now();
  if (r->have_lease && now < r->lease_exp) {
    /* Settle against the local lease first: a credit becomes spendable at once and a
     * debit is paid from tokens already taken from Redis; neither needs a round trip. */
    if (delta_tokens < 0) {
      /* Refunds of reservations taken from earlier leases come back here too, up to
       * what may be carried. */
      double back = fmin(-delta_tokens, fmax(0, r->used_tok + r->carry_cap));
      r->used_tok -= back;
      delta_tokens += back;
    } else {
      double pay = fmin(delta_tokens, fmax(0, r->lease_tok + r->carry_t - r->used_tok));
      r->used_tok += pay;
      delta_tokens -= pay;
    }
  }
  r->pending_tok += delta_tokens;
  settle_note(r, delta_in, now);
  pthread_mutex_unlock(&r->mu);
}

int cg_redis_pause(cg_redis_t *r, const cg_redis_limits *limits, double seconds, int drain,
                   char *err, size_t errlen) {
  if (!(seconds > 0) || !isfinite(seconds)) {
    set_err(err, errlen, "redis: bad pause (%g s)", seconds);
    return CG_REDIS_BADARG;
  }
  const cg_redis_limits lim = normalize(limits);
  pthread_mutex_lock(&r->mu);
  r->last = lim;
  r->have_last = 1;
  call cl = { 0 };
  add_piggyback(r, &cl, 0);
  cl.pause_ms = seconds * 1000.0;
  cl.drain = drain ? 1 : 0;
  reply rp;
  char msg[CG_REDIS_URL_MAX + 256] = "";
  int rc = run_script(r, &lim, &cl, &rp, msg, sizeof msg);
  if (rc) {
    /* Redis did not record it, but this process still must not send. */
    double until = mono_now() + seconds;
    if (until > r->paused_until) r->paused_until = until;
    r->lease_exp = 0;
    if (!outage_note(r, msg)) {
      set_err(err, errlen, "%s", msg);
      pthread_mutex_unlock(&r->mu);
      return CG_REDIS_ERROR;
    }
  } else {
    outage_end(r);
  }
  pthread_mutex_unlock(&r->mu);
  return CG_REDIS_OK;
}

/* Requires r->mu held. */
static int flush_locked(cg_redis_t *r, const cg_redis_limits *lim, int force, reply *rp,
                        char *err, size_t errlen) {
  if (!force && !r->have_lease && r->pending_tok == 0) return CG_REDIS_OK;
  call cl = { 0 };
  add_piggyback(r, &cl, 0);
  return run_script(r, lim, &cl, rp, err, errlen) ? CG_REDIS_ERROR : CG_REDIS_OK;
}

int cg_redis_flush(cg_redis_t *r, const cg_redis_limits *limits, char *err, size_t errlen) {
  const cg_redis_limits lim = normalize(limits);
  reply rp;
  char msg[CG_REDIS_URL_MAX + 256] = "";
  pthread_mutex_lock(&r->mu);
  /* During an outage, a flush waits for the next reconnect like everything else. */
  if (riding_out(r, mono_now())) {
    pthread_mutex_unlock(&r->mu);
    return CG_REDIS_OK;
  }
  const uint64_t trips = r->st.round_trips;
  int rc = flush_locked(r, &lim, 0, &rp, msg, sizeof msg);
  if (rc) {
    r->lease_exp = 0; /* returned or not, it is never spent again */
    if (!outage_note(r, msg)) set_err(err, errlen, "%s", msg);
    else rc = CG_REDIS_OK;
  } else if (r->st.round_trips != trips) {
    outage_end(r);
  }
  pthread_mutex_unlock(&r->mu);
  return rc;
}

int cg_redis_state_get(cg_redis_t *r, const cg_redis_limits *limits, cg_redis_state *out,
                       char *err, size_t errlen) {
  const cg_redis_limits lim = normalize(limits);
  reply rp;
  memset(out, 0, sizeof *out);
  pthread_mutex_lock(&r->mu);
  int rc = flush_locked(r, &lim, 1, &rp, err, errlen);
  pthread_mutex_unlock(&r->mu);
  if (rc) return rc;
  out->level_requests = rp.k_rpm > 0 ? rp.level_r : -1;
  out->level_tokens = rp.k_tpm > 0 ? rp.level_t : -1;
  out->level_day = rp.k_rpd > 0 ? rp.level_d : -1;
  out->out_requests = rp.out_r;
  out->out_tokens = rp.out_t;
  out->paused_s = rp.pause_ms / 1000.0;
  out->rpm = rp.k_rpm;
  out->tpm = rp.k_tpm;
  out->rpd = rp.k_rpd;
  out->burst_requests = rp.k_br;
  out->burst_tokens = rp.k_bt;
  out->limits_differ = rp.differ;
  snprintf(out->clients, sizeof out->clients, "%s", rp.clients);
  return CG_REDIS_OK;
}

void cg_redis_stats_get(cg_redis_t *r, cg_redis_stats *out) {
  pthread_mutex_lock(&r->mu);
  *out = r->st;
  out->pending_tokens = r->pending_tok;
  out->key_rpm = r->have_eff ? r->eff.rpm : 0;
  out->key_tpm = r->have_eff ? r->eff.tpm : 0;
  out->key_rpd = r->have_eff ? r->eff.rpd : 0;
  out->limits_differ = r->limits_differ;
  pthread_mutex_unlock(&r->mu);
}

const char *cg_redis_display(const cg_redis_t *r) { return r->url.display; }

void cg_redis_set_peek(cg_redis_t *r, int peek) {
  pthread_mutex_lock(&r->mu);
  r->peek = peek ? 1 : 0;
  r->set_limits = peek ? 2 : 0;
  pthread_mutex_unlock(&r->mu);
}

int cg_redis_store_limits(cg_redis_t *r, const cg_redis_limits *limits, char *err, size_t errlen) {
  const cg_redis_limits lim = normalize(limits);
  reply rp;
  pthread_mutex_lock(&r->mu);
  r->set_limits = 1;
  int rc = flush_locked(r, &lim, 1, &rp, err, errlen);
  r->set_limits = r->peek ? 2 : 0;
  pthread_mutex_unlock(&r->mu);
  return rc;
}

void cg_redis_set_paced_open(cg_redis_t *r, int paced) {
  pthread_mutex_lock(&r->mu);
  r->paced_open = paced ? 1 : 0;
  pthread_mutex_unlock(&r->mu);
}

void cg_redis_set_max_outage(cg_redis_t *r, double seconds) {
  pthread_mutex_lock(&r->mu);
  r->max_outage_s = seconds >= 0 && isfinite(seconds) ? seconds : DEFAULT_MAX_OUTAGE_S;
  pthread_mutex_unlock(&r->mu);
}

void cg_redis_close(cg_redis_t *r) {
  if (!r) return;
  cg_redis_wake_stop(r->waker); /* first, and without mu: its callback takes mu */
  r->waker = NULL;
  pthread_mutex_lock(&r->mu);
  if (r->have_last && r->c && !r->c->err) {
    reply rp;
    (void)flush_locked(r, &r->last, 0, &rp, NULL, 0); /* best effort: a lost lease is only spent */
  }
  drop_context(r);
  pthread_mutex_unlock(&r->mu);
  pthread_mutex_destroy(&r->mu);
  free(r);
}
