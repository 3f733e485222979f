/* Token buckets (after Go's x/time/rate: rate, burst, level, last, a pure advance(now)),
 * combined all-or-nothing as in resty's traffic.combine. FIFO is the caller's rule: only
 * the head of a queue is ever offered to cg_limit_reserve, so a large request at the head
 * waits for its tokens and small ones behind it cannot overtake it. The pure limiter is
 * also exposed to Lua as core.limiter (cg_limit_lua.c) so specs drive it with their own
 * clock. */
#include "cg_limit.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Rounding slack: after waiting exactly the computed time a bucket must be seen full. */
#define EPS 1e-9
/* After a 429 the rate is set this far under what the server delivered. */
#define DELIVERY_MARGIN 0.97
/* A 429 while the server delivers at least this share of the pace we send at says the
 * requests came too close together (a server with no burst, jitter on the way), not that
 * the rate is too high: the pace only steps back by JITTER_CUT. */
#define JITTER_SHARE 0.97
#define JITTER_CUT 0.995
/* After a 429, consecutive requests leave at least this many request intervals apart:
 * what reaches the server is the send time plus jitter of a tenth of a millisecond or
 * so, and at the server's exact interval half the arrivals would land early. */
#define GAP_MARGIN 1.005
/* Credit a slow-started request bucket keeps after a 429, in requests. */
#define CARRY 0.5
/* The cut of a 429 that comes before the delivery rate can be measured. */
#define EARLY_CUT 0.995
/* Where the rate slows its climb back, as a share of the rate that met the last 429. */
#define CEILING_NEAR 0.98

static void bucket_set(cg_bucket *b, double rate, double burst, int strict, double hard_max,
                       int keep_level) {
  int was_enabled = b->rate > 0;
  b->rate = rate;
  b->burst = burst;
  b->strict = strict;
  b->hard_max = hard_max;
  if (!keep_level || !was_enabled) b->level = burst;
  else if (b->level > burst) b->level = burst;
}

static void apply(cg_limiter *l, const cg_limits *lim, int keep) {
  if (lim->rpm > 0) {
    /* Half a second's worth by default: a provider's own bucket holds about a second's, and
     * requests reach it with jitter the client cannot see. Keeping half a second of slack
     * there turns "429 now and then, each one halving the rate" into none at all; it trims
     * only the opening burst, never the sustained rate. */
    double burst = lim->burst_requests > 0 ? lim->burst_requests : fmax(1.0, lim->rpm / 120.0);
    bucket_set(&l->req, lim->rpm / 60.0, burst, 1, burst, keep);
  } else {
    l->req.rate = 0;
  }
  if (lim->tpm > 0) {
    if (lim->burst_tokens > 0)
      bucket_set(&l->tok, lim->tpm / 60.0, lim->burst_tokens, 1, lim->burst_tokens, keep);
    else /* a request above one second's worth waits for a full bucket and leaves debt */
      bucket_set(&l->tok, lim->tpm / 60.0, fmax(1.0, lim->tpm / 60.0), 0, lim->tpm, keep);
  } else {
    l->tok.rate = 0;
  }
  if (lim->rpd > 0) bucket_set(&l->day, lim->rpd / 86400.0, lim->rpd, 1, lim->rpd, keep);
  else l->day.rate = 0;
}

void cg_limit_init(cg_limiter *l, const cg_limits *lim, double now) {
  memset(l, 0, sizeof *l);
  l->last = now;
  l->paused_until = 0;
  l->factor = 1.0;
  l->factor_min = 1.0 / 16;
  l->decrease = 0.5;
  l->increase = 0.05;
  l->last_decrease = -1e300;
  l->t_bucket_wait = -1e300;
  l->t_admit = -1e300;
  apply(l, lim, 0);
}

void cg_limit_set(cg_limiter *l, const cg_limits *lim, double now) {
  cg_limit_advance(l, now);
  apply(l, lim, 1);
}

static void bucket_fill(cg_bucket *b, double dt, double factor) {
  if (b->rate <= 0) return;
  b->level += b->rate * factor * dt;
  if (b->level > b->burst) b->level = b->burst;
}

void cg_limit_slow_start(cg_limiter *l) {
  l->slow_start = 1;
  l->ss_cap = 1;
  if (l->req.level > 1) l->req.level = 1;
}

void cg_limit_delivered(cg_limiter *l, double now) {
  if (!l->ok_n) l->t_first_ok = now;
  l->ok_t[l->ok_n++ % CG_DELIVERY_RING] = now;
  /* +1 per clean answer until the first 429 (TCP's slow start). After one, the burst
   * stays at one request: a server that refused a burst once may allow none at all, and
   * a late wake-up must not send two at once. A run bound by its rate never has a burst
   * to spend anyway; only the start after an idle spell is smoother. */
  if (l->slow_start && l->ceiling <= 0 && l->ss_cap < l->req.burst) l->ss_cap += 1;
}

/* Requests per second the server answered with a 2xx over the last two seconds (less
 * when the run is younger, or the ring holds less), or -1 when too little is known. */
static double delivery_rate(const cg_limiter *l, double now) {
  double win = fmin(2.0, now - l->t_first_ok);
  if (l->ok_n < 4 || win < 0.5) return -1;
  unsigned held = l->ok_n < CG_DELIVERY_RING ? l->ok_n : CG_DELIVERY_RING, count = 0;
  /* cppcheck follows ok_n from cg_limit_init (0) into here and calls the loop dead. */
  // cppcheck-suppress knownConditionTrueFalse
  while (count < held && l->ok_t[(l->ok_n - 1 - count) % CG_DELIVERY_RING] >= now - win) count++;
  if (count == CG_DELIVERY_RING) /* the whole ring is inside the window: it is the window */
    win = now - l->ok_t[l->ok_n % CG_DELIVERY_RING];
  return win > 0 ? count / win : -1;
}

void cg_limit_advance(cg_limiter *l, double now) {
  if (now <= l->last) return; /* `last` may lie in the future during a pause */
  double dt = now - l->last;
  bucket_fill(&l->req, dt, l->factor);
  /* After a 429 the bucket keeps half a request of credit: a late wake-up is made up on
   * the next request instead of lost, while min_gap keeps the two apart. */
  double cap = l->ss_cap + (l->ceiling > 0 ? CARRY : 0);
  if (l->slow_start && l->req.level > cap) l->req.level = cap;
  bucket_fill(&l->tok, dt, l->factor);
  bucket_fill(&l->day, dt, 1.0); /* a daily quota is not what a 429 storm is about */
  /* Back up to just under the rate that met the last 429 at the AIMD pace, then a tenth
   * of it above: the server's limit is near there, and probing past it costs 429s. */
  double inc = l->increase * dt;
  double below = l->ceiling * CEILING_NEAR - l->factor;
  if (l->ceiling > 0 && inc > below) {
    below = fmax(0, below);
    inc = below + (inc - below) / 10;
  }
  l->factor += inc;
  if (l->factor > 1.0) l->factor = 1.0;
  l->last = now;
}

double cg_limit_max_tokens(const cg_limiter *l) {
  return l->tok.rate > 0 ? l->tok.hard_max : 0;
}

/* Seconds until bucket `b` holds what a request of `n` needs (0 when it does now). */
static double bucket_wait(const cg_bucket *b, double n, double factor) {
  if (b->rate <= 0) return 0;
  double need = b->strict ? n : fmin(n, b->burst);
  if (b->level + EPS >= need) return 0;
  return (need - b->level) / (b->rate * factor);
}

int cg_limit_reserve(cg_limiter *l, double tokens, double now, double *wait, const char **which) {
  if (tokens < 0) tokens = 0;
  *wait = 0;
  if (l->req.rate > 0 && 1 > l->req.hard_max) {
    *which = "requests/min";
    return CG_TOO_LARGE;
  }
  if (l->tok.rate > 0 && tokens > l->tok.hard_max + EPS) {
    *which = "tokens/min";
    return CG_TOO_LARGE;
  }
  cg_limit_advance(l, now);
  double w = fmax(bucket_wait(&l->req, 1, l->factor), bucket_wait(&l->tok, tokens, l->factor));
  /* A server that refused a request once may have no burst at all: from then on no two
   * requests leave closer together than its rate allows, whatever credit the bucket has. */
  if (l->slow_start && l->ceiling > 0 && l->req.rate > 0)
    w = fmax(w, l->t_admit + GAP_MARGIN / l->req.rate - now);
  if (now < l->paused_until) w = fmax(w, l->paused_until - now);
  else if (w > 0) l->t_bucket_wait = now; /* a pause's drained buckets say nothing of pace */
  double wd = bucket_wait(&l->day, 1, 1.0);
  if (wd > 0 && wd >= w) *which = "requests/day"; /* the day's quota is what holds it */
  w = fmax(w, wd);
  if (w > 0) {
    *wait = w;
    return CG_WAIT;
  }
  if (l->req.rate > 0) l->req.level -= 1;
  if (l->tok.rate > 0) l->tok.level -= tokens;
  if (l->day.rate > 0) l->day.level -= 1;
  l->t_admit = now;
  return CG_ADMIT;
}

void cg_limit_refund(cg_limiter *l, double tokens, double now) {
  cg_limit_reconcile(l, tokens, 0, now);
}

void cg_limit_reconcile(cg_limiter *l, double reserved, double used, double now) {
  if (l->tok.rate <= 0) return;
  if (reserved < 0) reserved = 0;
  if (used < 0) used = 0;
  cg_limit_advance(l, now);
  l->tok.level += reserved - used;
  if (l->tok.level > l->tok.burst) l->tok.level = l->tok.burst;
}

void cg_limit_pause(cg_limiter *l, double until, int decrease, int provisional, double now) {
  cg_limit_advance(l, now);
  if (!provisional) {
    l->provisional = 0;
  } else if (!l->provisional || now >= l->undo_until) {
    l->provisional = 1;
    l->undo_until = now;
    l->undo_req = l->undo_tok = 0;
    l->undo_factor = l->factor;
    l->undo_last_decrease = l->last_decrease;
    l->undo_paused_until = l->paused_until;
  }
  /* Evidence against a hintless 429 still counts for a second: its cut can come back. */
  if (l->provisional) l->undo_until = fmax(l->undo_until, fmax(until, now + 1.0));
  /* One cut a second, so that the 429s of one burst count once; but a cut made before
   * the delivery rate could be measured gives way to a measured one as soon as it can. */
  double got = decrease && l->req.rate > 0 ? delivery_rate(l, now) : -1;
  if (decrease && (now - l->last_decrease >= 1.0 || (!l->cut_measured && got >= 0))) {
    /* The rate goes to what the server just delivered (TCP BBR's estimate), a little under
     * it so the server's bucket refills, but never below the old cut (`decrease`): a
     * sending gap before the 429 must not read as the server's limit. Without an
     * estimate, the plain cut. */
    l->cut_measured = got >= 0;
    if (!provisional) l->ceiling = l->factor;
    if (got >= 0 && got >= l->req.rate * l->factor * JITTER_SHARE)
      l->factor *= JITTER_CUT;
    else if (got >= 0)
      l->factor = fmax(l->factor * l->decrease, fmin(l->factor, got / l->req.rate) * DELIVERY_MARGIN);
    else if (l->req.rate > 0 && (l->ok_n || l->slow_start))
      /* Too early to know: a small step. A slow-started opening sends at most the rate
       * with a burst of one, so a 429 before any answer speaks of the burst, not the rate. */
      l->factor *= fmax(l->decrease, EARLY_CUT);
    else /* no rate to measure against (a token limit, or none): the plain cut */
      l->factor *= l->decrease;
    if (l->factor < l->factor_min) l->factor = l->factor_min;
    l->last_decrease = now;
    if (!provisional && l->slow_start) l->ss_cap = 1;
  }
  if (until <= l->paused_until || until <= now) return;
  l->paused_until = until;
  /* The server said we are over: restart from empty buckets at the pause's end, so the
   * rate after the pause rises from zero instead of bursting. */
  if (l->req.level > 0) {
    if (l->provisional) l->undo_req += l->req.level;
    l->req.level = 0;
  }
  if (l->tok.level > 0) {
    if (l->provisional) l->undo_tok += l->tok.level;
    l->tok.level = 0;
  }
  if (until > l->last) l->last = until;
}

int cg_limit_probe(cg_limiter *l, double tokens, double now) {
  if (!l->provisional || now >= l->paused_until) return 0;
  cg_limit_advance(l, now);
  if (bucket_wait(&l->day, 1, 1.0) > 0) return 0; /* a pause never lends the day's quota */
  if (l->req.rate > 0) l->req.level -= 1;
  if (l->tok.rate > 0) l->tok.level -= tokens < 0 ? 0 : tokens;
  if (l->day.rate > 0) l->day.level -= 1;
  return 1;
}

void cg_limit_confirm(cg_limiter *l) {
  l->provisional = 0;
}

int cg_limit_unpause(cg_limiter *l, double now) {
  if (!l->provisional || now >= l->undo_until) return 0;
  l->provisional = 0;
  l->paused_until = l->undo_paused_until;
  /* The refill stopped at the pause; it restarts now (or at an earlier firm pause's end). */
  if (l->last > now) l->last = fmax(now, l->undo_paused_until);
  l->req.level = fmin(l->req.burst, l->req.level + l->undo_req);
  l->tok.level = fmin(l->tok.burst, l->tok.level + l->undo_tok);
  if (l->factor < l->undo_factor) l->factor = l->undo_factor;
  l->last_decrease = l->undo_last_decrease;
  return 1;
}

int cg_limit_binding(const cg_limiter *l, double now) {
  return (l->req.rate > 0 || l->tok.rate > 0) && now - l->t_bucket_wait < 1.0;
}
