/* Token-bucket limiter: requests/min, tokens/min and requests/day, admitted all or
 * nothing, with a shared pause and an AIMD factor on the refill rates. Pure: the caller
 * passes `now` and holds whatever lock guards the struct. */
#ifndef CG_LIMIT_H
#define CG_LIMIT_H

typedef struct cg_bucket {
  double rate;     /* refill per second at factor 1; 0 = no limit */
  double burst;    /* capacity */
  double level;    /* tokens available; negative after an oversize admission (debt) */
  int strict;      /* 1: a request above `burst` is too large; 0: it may take a full bucket into debt */
  double hard_max; /* requests above this are too large even when not strict */
} cg_bucket;

/* 2xx answers remembered to estimate the delivery rate after a 429. */
#define CG_DELIVERY_RING 256

typedef struct cg_limiter {
  cg_bucket req, tok, day;
  /* Slow start: the request bucket holds at most `ss_cap` (from 1, +1 per clean answer,
   * halved by a 429), so a server whose burst is unknown never meets a full one at once. */
  int slow_start;
  double ss_cap;
  double ceiling; /* the factor that met the last firm 429, 0: none yet */
  double t_admit; /* when the last request was let through */
  int cut_measured; /* the last cut came from a delivery-rate estimate */
  /* Delivery: when the latest 2xx answers arrived (a ring), and the first one ever. */
  double ok_t[CG_DELIVERY_RING];
  unsigned ok_n;
  double t_first_ok;
  double last;          /* time of the last refill */
  double paused_until;  /* nothing is admitted before this */
  double factor;        /* AIMD multiplier of every refill rate, in [factor_min, 1] */
  double factor_min, decrease, increase; /* increase: factor units per second */
  double last_decrease;
  double t_bucket_wait; /* last time a bucket (not a pause) held a request back */
  /* A provisional pause (a 429 nobody else has confirmed yet) can be taken back until
   * undo_until: what it drained and cut, to give back. */
  int provisional;
  double undo_until, undo_req, undo_tok, undo_factor, undo_last_decrease, undo_paused_until;
} cg_limiter;

typedef struct cg_limits {
  double rpm, tpm, rpd;           /* 0 = no limit */
  double burst_requests, burst_tokens; /* 0 = default: half a second's worth of requests, one second's of tokens */
} cg_limits;

enum { CG_ADMIT = 0, CG_WAIT = 1, CG_TOO_LARGE = -1 };

void cg_limit_init(cg_limiter *l, const cg_limits *lim, double now);
/* Changes the limits keeping the current levels (clamped to the new capacities). */
void cg_limit_set(cg_limiter *l, const cg_limits *lim, double now);
/* Takes 1 request and `tokens` tokens from every bucket, or nothing. Returns CG_ADMIT,
 * CG_WAIT with *wait = seconds until it would fit (and *which = "requests/day" when the
 * day's quota is what it waits for), or CG_TOO_LARGE with *which naming the bucket
 * ("requests/day" etc.) that can never hold it. */
int cg_limit_reserve(cg_limiter *l, double tokens, double now, double *wait, const char **which);
/* Gives back `tokens` (a failed attempt's reservation). */
void cg_limit_refund(cg_limiter *l, double tokens, double now);
/* Adjusts a reservation to real usage: refunds reserved-used, or charges the excess. */
void cg_limit_reconcile(cg_limiter *l, double reserved, double used, double now);
/* Pauses admission until `until` and empties the buckets so the rate restarts from zero;
 * with `decrease` set, also cuts the rate factor (at most once per second). A
 * `provisional` pause records what it took so cg_limit_unpause can give it back; a firm
 * one makes any running provisional pause firm too. */
void cg_limit_pause(cg_limiter *l, double until, int decrease, int provisional, double now);
/* Admits one request through a running provisional pause (a circuit breaker's half-open
 * state), charging the buckets like any admission (into debt if need be). Returns 1 when
 * it did; 0 when no provisional pause holds admission or the daily quota is spent. */
int cg_limit_probe(cg_limiter *l, double tokens, double now);
/* Turns slow start on (the engine does; a bare core.limiter does when asked): the
 * request bucket restarts from one request. */
void cg_limit_slow_start(cg_limiter *l);
/* Records a 2xx answer: grows the slow-start capacity and feeds the delivery rate. */
void cg_limit_delivered(cg_limiter *l, double now);
/* Makes a running provisional pause firm: nothing is taken back any more. */
void cg_limit_confirm(cg_limiter *l);
/* Takes back the running provisional pause (admission resumes now, the drained levels and
 * the cut factor return). Returns 1 when there was one to take back, else 0. */
int cg_limit_unpause(cg_limiter *l, double now);
/* 1 when a rate or token limit is set and a bucket held a request back within the last
 * second: the client is sending as fast as it was told the server allows. */
int cg_limit_binding(const cg_limiter *l, double now);
/* Refills the buckets and lets the factor grow; requires the caller's lock held. */
void cg_limit_advance(cg_limiter *l, double now);
/* Largest token count a request may ask for, or 0 when unlimited. */
double cg_limit_max_tokens(const cg_limiter *l);

#endif
