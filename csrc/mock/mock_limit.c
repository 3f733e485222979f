/*
 * Server-side token bucket. Only the server thread touches a bucket, so no lock; `now`
 * is passed in so the arithmetic is independent of the clock.
 *
 * A charge larger than the capacity would never fit, so such a request is admitted once
 * the bucket is full and leaves it in debt: a large request still gets through, and the
 * debt delays those that follow, as the per-minute budget demands.
 */
#include "mock.h"

void bucket_init(bucket *b, double per_minute, double capacity, double now) {
  b->rate = per_minute > 0 ? per_minute / 60.0 : 0;
  b->capacity = capacity;
  b->tokens = capacity;
  b->last = now;
}

static void advance(bucket *b, double now) {
  if (now > b->last) {
    b->tokens += (now - b->last) * b->rate;
    if (b->tokens > b->capacity) b->tokens = b->capacity;
    b->last = now;
  }
}

double bucket_take(bucket *b, double n, double now) {
  if (b->rate <= 0) return 0;
  advance(b, now);
  double need = n < b->capacity ? n : b->capacity;
  if (b->tokens + 1e-9 >= need) {
    b->tokens -= n;
    return 0;
  }
  return (need - b->tokens) / b->rate;
}

/* Read-only: the response headers must not move `last`, or reading would change refills. */
double bucket_level(const bucket *b, double now) {
  double t = b->tokens + (now - b->last) * b->rate;
  return t > b->capacity ? b->capacity : t;
}

double bucket_reset_s(const bucket *b, double now) {
  if (b->rate <= 0) return 0;
  double t = bucket_level(b, now);
  if (t >= b->capacity) return 0;
  return (b->capacity - t) / b->rate;
}

/* bucket_take charges nothing when unlimited, so there is nothing to give back then. */
void bucket_refund(bucket *b, double n) {
  if (b->rate > 0) b->tokens += n;
}
