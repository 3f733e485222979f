/*
 * Server-side token bucket. Only the server thread touches a bucket, so no lock; `now`
 * is passed in so the arithmetic is independent of the clock.
 *
 * A charge larger than the capacity would never fit, so such a request is admitted once
 * the bucket is full and leaves it in debt: a large request still gets through, and the
 * debt delays those that follow, as the per-minute budget demands.
 */
#include "mock.h"

#include <stdlib.h>

static double window_take(bucket *b, double n, double now);
static size_t ring_at(const bucket *b, size_t i) { return (b->ring_head + i) % b->ring_cap; }
static double window_level(const bucket *b, double now);

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
  if (b->window > 0) return window_take(b, n, now);
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
  if (b->window > 0) return window_level(b, now);
  double t = b->tokens + (now - b->last) * b->rate;
  return t > b->capacity ? b->capacity : t;
}

double bucket_reset_s(const bucket *b, double now) {
  if (b->rate <= 0) return 0;
  if (b->window > 0) return b->ring_len ? b->ring_t[b->ring_head] + b->window - now : 0;
  double t = bucket_level(b, now);
  if (t >= b->capacity) return 0;
  return (b->capacity - t) / b->rate;
}

/* bucket_take charges nothing when unlimited, so there is nothing to give back then. */
void bucket_refund(bucket *b, double n) {
  if (b->rate > 0 && b->window > 0 && b->ring_len) {
    b->ring_n[ring_at(b, b->ring_len - 1)] -= n; /* the admission just made */
    b->in_window -= n;
  } else if (b->rate > 0) {
    b->tokens += n;
  }
}

/* ---- sliding-window mode ----------------------------------------------------------- */

void bucket_init_window(bucket *b, double per_minute, double window_s) {
  if (!(per_minute > 0) || !(window_s > 0)) return;
  b->window = window_s;
  b->capacity = per_minute * window_s / 60.0;
  b->in_window = 0;
}

void bucket_free(bucket *b) {
  free(b->ring_t);
  free(b->ring_n);
  b->ring_t = b->ring_n = NULL;
  b->ring_cap = b->ring_len = b->ring_head = 0;
}

/* Read-only, like bucket_level: what the window still has room for. */
static double window_level(const bucket *b, double now) {
  double used = 0;
  for (size_t i = 0; i < b->ring_len; i++) {
    size_t at = (b->ring_head + i) % b->ring_cap;
    if (b->ring_t[at] > now - b->window) used += b->ring_n[at];
  }
  return b->capacity - used;
}

/* Forgets what left the window. */
static void ring_expire(bucket *b, double now) {
  while (b->ring_len && b->ring_t[b->ring_head] <= now - b->window) {
    b->in_window -= b->ring_n[b->ring_head];
    b->ring_head = (b->ring_head + 1) % b->ring_cap;
    b->ring_len--;
  }
  if (!b->ring_len) b->in_window = 0; /* no drift from the subtractions */
}

static void ring_push(bucket *b, double n, double now) {
  if (b->ring_len == b->ring_cap) {
    size_t cap = b->ring_cap ? b->ring_cap * 2 : 256;
    double *t = malloc(cap * sizeof *t), *v = malloc(cap * sizeof *v);
    if (!t || !v) abort();
    for (size_t i = 0; i < b->ring_len; i++) {
      t[i] = b->ring_t[ring_at(b, i)];
      v[i] = b->ring_n[ring_at(b, i)];
    }
    free(b->ring_t);
    free(b->ring_n);
    b->ring_t = t;
    b->ring_n = v;
    b->ring_cap = cap;
    b->ring_head = 0;
  }
  size_t at = ring_at(b, b->ring_len);
  b->ring_t[at] = now;
  b->ring_n[at] = n;
  b->ring_len++;
  b->in_window += n;
}

/* Admits n if the window has room (an empty window admits anything, so a request larger
 * than the window's limit still passes alone); otherwise the seconds until the oldest
 * admissions have left it and n fits. */
static double window_take(bucket *b, double n, double now) {
  ring_expire(b, now);
  if (b->ring_len == 0 || b->in_window + n <= b->capacity + 1e-9) {
    ring_push(b, n, now);
    return 0;
  }
  double left = b->in_window;
  for (size_t i = 0; i < b->ring_len; i++) {
    size_t at = ring_at(b, i);
    left -= b->ring_n[at];
    if (left + n <= b->capacity + 1e-9 || i + 1 == b->ring_len) return b->ring_t[at] + b->window - now;
  }
  return b->window;
}
