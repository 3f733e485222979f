/* Shared limiter in Redis: the C client the engine calls from its scheduler thread.
 *
 * DESIGN
 * Every process that names the same key draws from one set of token buckets (requests/min,
 * tokens/min, requests/day) kept in Redis and changed only by one atomic script
 * (cg_redis_script.h) that reads Redis's clock. A round trip per request would cost more
 * than the request's own scheduling, so the client leases: each round trip asks for this
 * request plus a lease sized to the process's own demand (about LEASE_TARGET requests of
 * its recent rate, or of its backlog when it starts, with the tokens they came with, never
 * more than the caller's backlog) and keeps the surplus locally. A busy process thus asks
 * Redis about once per 64 requests whatever the limits. A process the key holds back (its
 * last call waited) counts its demand as at least a full lease: its own rate is then its
 * share, not what it could use. The script caps each lease at a fair share of the queue
 * (half the horizon) among the processes seen on the key in the last minute, but never
 * below an eighth of it, and grants one only when the queue has room for it; an idle
 * process holds nothing (the engine flushes when its queue runs dry). Tokens are leased
 * net of reconciliation (once a request has settled; before, a few reservations), plus
 * the reservations in flight, which the process keeps from one lease to the next
 * instead of returning and taking them again; the requests asked for are no more than
 * those tokens carry.
 *
 * Waiting in line: when the queue is full, or others already wait, a call is answered
 * "queued": the process takes a ticket in the key's line (oldest first) and waits for a
 * message on its own pub/sub channel, heard by a listener thread on a connection of its
 * own (cg_redis_wake.h), started at the first such answer. The script sends one message
 * to the first in line when a lease's worth of room opens (a lease came back, or a holder
 * that spent its lease asks again and joins the line); the first in line also asks by
 * itself when its answer said refill makes room, the others only as a safety net, long
 * after their turn should have come. A first in line that does not ask within 3 s of its
 * time leaves the line (dead, or its message lost: it rejoins at the back). So however
 * many processes share a key, Redis sees a few calls per lease, not a poll per process.
 *
 * The key's limits are stored with it by the first process (cg_redis_store_limits
 * overrides them, a process alone on the key may change them): later processes' calls
 * use them, and their stats say when theirs differ.
 *
 * A lease may be larger than the bucket: Redis takes it into debt (when refill pays for
 * this request within `horizon_s`) and answers with the levels after taking it. Debt is
 * paid oldest first, so the client knows when refill has paid for each part of its lease
 * and spends it no faster: what all processes send never runs ahead of the refill, so
 * the bound is burst + rate * t over any window t, whatever the lease sizes; waiting
 * processes queue in Redis in the order they asked instead of polling it. The
 * schedule is fixed at the grant: a return or a pause recorded later by another process
 * is learnt at the next round trip (a pause also by the provider's 429s). Unused lease is
 * returned, piggybacked on the next round trip, and credited only while Redis still has
 * it on file (2 * lease_ttl_s + 1 s after it is fully paid); a lease never returned (a
 * dead process) is consumed, which can only under-use the quota.
 *
 * Token reconciliation (real usage minus the reservation) is settled against the local
 * lease when it can be, otherwise queued and sent with the next round trip (or flush).
 * A 429 pause goes out at once: it is an absolute deadline on Redis's clock that every
 * lease checks, and it drops this process's local lease.
 *
 * Riding through an outage: when a call times out or the connection is refused, the
 * client keeps what it holds (its lease goes on being spent on schedule) and, once the
 * debt queue it last saw is paid (twice over, and at least 5 s: others' leases may still
 * be spent), answers from a local share: half this process's recent rate at first,
 * falling linearly to nothing at the end of the allowed outage (`outage=` in the URL,
 * default 30 s). It reconnects with backoff (0.25 s doubling to 4 s); once Redis answers,
 * the tokens the share spent are settled with it. After the allowed outage every call
 * fails with the message of the last failure. The share is not charged for requests (only
 * its tokens are settled): half the rate, falling, once the leases in hand are spent,
 * stays within what the buckets refill meanwhile and lose to their cap. A client that
 * reconnected treats a missing key as lost state (minute buckets start empty).
 *
 * Threads: one mutex per handle guards the connection and the local lease; a round trip
 * holds it (it is one short EVALSHA with a timeout). Any thread may call any function;
 * none touches Lua. The listener thread takes the mutex only to clear next_ask, and calls
 * the notify callback without it.
 *
 * Errors: functions return CG_REDIS_OK (0) or a negative code, and write a message to
 * `err` (if non-NULL) that names the URL with its password masked, e.g.
 *   "redis: redis://:***@10.0.0.5:6379/0?key=prod: Connection refused"
 *   "redis: redis://127.0.0.1:6379/0?key=prod: timeout after 2 s"
 *   "redis: redis://127.0.0.1:6379/0?key=prod: AUTH failed: WRONGPASS invalid username..."
 * After an error nothing was granted. A connection the server closed while idle is
 * replaced and the call retried once, silently; otherwise the connection is
 * re-established on the next call. A reconciliation sent with a call that timed out
 * stays queued and is sent again: in the rare case Redis had applied it, it counts twice.
 */
#ifndef CG_REDIS_H
#define CG_REDIS_H

#include <stddef.h>
#include <stdint.h>

typedef struct cg_redis cg_redis_t;

enum {
  CG_REDIS_OK = 0,
  CG_REDIS_ERROR = -1,     /* Redis unreachable, timed out, or answered an error */
  CG_REDIS_TOO_LARGE = -2, /* the request can never fit: fail it, do not wait */
  CG_REDIS_BADARG = -3     /* bad URL or limits: a programming or configuration error */
};

/* Limits, passed to every call so they can change while running. */
typedef struct cg_redis_limits {
  double rpm, tpm, rpd;                /* 0 = no limit */
  double burst_requests, burst_tokens; /* 0 = one second's worth (at least 1 request) */
  double batch_s;     /* seconds of rate in a first lease (before demand is known); 0 = 0.1 */
  double lease_ttl_s; /* how long a lease may be spent once paid for; 0 = 0.5 */
  double horizon_s;   /* how far ahead a lease may be reserved when none is free; 0 = 60 */
  /* What the caller has waiting (0 = unknown): a lease is never sized beyond it, so a
   * process near its end does not hold debt that others' leases queue behind. */
  double backlog_requests, backlog_tokens;
} cg_redis_limits;

typedef struct cg_redis_grant {
  int granted;     /* 1: go now (the request and its tokens are taken); 0: wait */
  int local;       /* 1: served from the local lease, without a round trip */
  double wait_s;   /* when not granted: seconds after which asking again may succeed */
  double paused_s; /* remaining shared pause (a 429 somewhere), 0 when none */
  const char *too_large; /* on CG_REDIS_TOO_LARGE: the bucket, "tokens/min" etc. */
} cg_redis_grant;

typedef struct cg_redis_stats {
  uint64_t round_trips;   /* script calls that reached Redis (EVAL fallbacks included) */
  uint64_t grants;        /* requests granted in total */
  uint64_t local_grants;  /* of which served from the local lease */
  uint64_t waits;         /* lease calls that did not grant (wait, pause, reservation) */
  uint64_t queued;        /* answers "wait in line" (the key's queue was full) */
  uint64_t wakeups;       /* messages on this process's wake channel (and resubscriptions) */
  uint64_t reservations;  /* batches reserved ahead into debt */
  uint64_t errors;        /* calls that failed (connection, timeout, error reply) */
  uint64_t reconnects;
  uint64_t outages;       /* times Redis became unreachable and the local share took over */
  uint64_t outage_grants; /* requests granted from the local share during outages */
  double returned_requests, returned_tokens; /* credited back by returns */
  double pending_tokens;  /* reconciliation not yet sent */
  double key_rpm, key_tpm, key_rpd; /* the key's limits, as of the last round trip */
  int limits_differ;      /* 1: they are not this process's (the key's are used) */
} cg_redis_stats;

/* Server-side view, for tests and diagnostics (one round trip). -1 = no limit. */
typedef struct cg_redis_state {
  double level_requests, level_tokens, level_day;
  double out_requests, out_tokens; /* leased, not yet returned or expired */
  double paused_s;
  double rpm, tpm, rpd, burst_requests, burst_tokens; /* the key's limits (0 = none) */
  int limits_differ;   /* the caller's limits are not the key's */
  char clients[1024];  /* comma-separated ids (host:pid:n) seen on the key in the last minute */
} cg_redis_state;

/* Parses `url` (see cg_redis_url.h), connects with `timeout_s` as both the connect and
 * the command timeout (0 = 2 s), authenticates, selects the database and loads the
 * script. Returns NULL with a message in `err` when any of this fails; the message for
 * a bad URL starts with "bad limiter URL". */
cg_redis_t *cg_redis_connect(const char *url, double timeout_s, char *err, size_t errlen);

/* Asks for `want_req` requests (normally 1) and `want_tok` tokens, all or nothing.
 * CG_REDIS_OK with out->granted 1 (take them) or 0 (retry after out->wait_s);
 * CG_REDIS_TOO_LARGE with out->too_large naming the bucket; CG_REDIS_ERROR. */
int cg_redis_lease(cg_redis_t *r, const cg_redis_limits *lim, double want_req, double want_tok,
                   cg_redis_grant *out, char *err, size_t errlen);

/* Settles a reservation: `delta_tokens` = used - reserved (positive: more was used; a
 * failed request's refund is -reserved). Local and never fails; sent with the next
 * round trip. */
void cg_redis_reconcile(cg_redis_t *r, double delta_tokens);

/* Records a shared pause of `seconds` (a 429's hinted wait) for every process on the key;
 * `drain` 1 also empties the minute buckets so the rate restarts from zero afterwards.
 * One round trip; drops the local lease. */
int cg_redis_pause(cg_redis_t *r, const cg_redis_limits *lim, double seconds, int drain,
                   char *err, size_t errlen);

/* Returns the local lease and sends pending reconciliation now (the engine calls it when
 * its queue runs dry, so an idle process holds nothing). No round trip when there is
 * nothing to send. */
int cg_redis_flush(cg_redis_t *r, const cg_redis_limits *lim, char *err, size_t errlen);

/* Reads the shared buckets (after refill), flushing first. */
int cg_redis_state_get(cg_redis_t *r, const cg_redis_limits *lim, cg_redis_state *out,
                       char *err, size_t errlen);

void cg_redis_stats_get(cg_redis_t *r, cg_redis_stats *out);

/* peek 1: every call only reads the key (its limits, levels, who shares it) and this
 * handle is not listed among the processes sharing it; for displays. */
void cg_redis_set_peek(cg_redis_t *r, int peek);

/* Makes `lim`'s rpm, tpm, rpd and bursts the key's limits, for every process on it (they
 * learn them at their next round trip). One round trip. */
int cg_redis_store_limits(cg_redis_t *r, const cg_redis_limits *lim, char *err, size_t errlen);

/* `fn(arg)` is called (from another thread, without any of this handle's locks) when a
 * message says a call may now succeed sooner than the last answer's wait_s: the process
 * was waiting in line for a place in the key's queue. NULL: none. Set before use. */
void cg_redis_set_notify(cg_redis_t *r, void (*fn)(void *), void *arg);

/* paced 1: a key with no state (fresh, or idle long enough to have expired) opens with
 * minute buckets holding only the first request, not full: what follows comes at the
 * refill rate, with no burst on top (a provider counting over a sliding window allows
 * none). The engine sets it; a bare handle (0) opens with full buckets. */
void cg_redis_set_paced_open(cg_redis_t *r, int paced);

/* How long Redis may stay unreachable before calls fail (default 30 s; 0 = at once). */
void cg_redis_set_max_outage(cg_redis_t *r, double seconds);

/* The masked URL, for messages. */
const char *cg_redis_display(const cg_redis_t *r);

/* Flushes (best effort, using the last limits seen) and frees. NULL is a no-op. */
void cg_redis_close(cg_redis_t *r);

/* Lua test binding: adds `redis_limiter(url, opts)` to the module table at the top of the
 * stack (see cg_redis_lua.c). `struct lua_State` keeps this header free of Lua. */
struct lua_State;
int cg_redis_open(struct lua_State *L);

#endif
