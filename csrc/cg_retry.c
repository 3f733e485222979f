/* Retry classification and full-jitter backoff. The status table follows the consensus
 * of the SDKs studied (408/409/429/5xx retried, 4xx client errors not); on top of it a
 * 429 is inspected, because a per-day or billing quota answers 429 too and retrying it
 * only burns the budget: those become error_code "quota" at once. */
#include "cg_retry.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static int retryable_status(long s) {
  return s == 408 || s == 409 || s == 429 || s == 500 || s == 502 || s == 503 || s == 504;
}

/* Non-empty when a 429 body names a quota no wait will restore soon. */
static const char *hard_quota(const char *body, size_t len) {
  if (!body || !len) return NULL;
  const char *p = memmem(body, len, "\"quotaId\"", 9);
  while (p) {
    const char *end = body + len;
    const char *q = p + 9;
    while (q < end && (isspace((unsigned char)*q) || *q == ':')) q++;
    if (q < end && *q == '"') {
      const char *e = memchr(q + 1, '"', (size_t)(end - q - 1));
      if (e && memmem(q + 1, (size_t)(e - q - 1), "PerDay", 6)) return "per-day quota exhausted";
    }
    p = memmem(q, (size_t)(end - q), "\"quotaId\"", 9);
  }
  if (memmem(body, len, "insufficient_quota", 18)) return "insufficient_quota (billing quota exhausted)";
  /* OpenAI: "Request too large for gpt-4 ... on tokens per min" */
  for (size_t i = 0; i + 17 <= len; i++)
    if ((body[i] == 'R' || body[i] == 'r') && !strncasecmp(body + i, "request too large", 17))
      return "request too large for the server's limit";
  return NULL;
}

/* Appends a one-line excerpt of the body, so "http: HTTP 400" says what the server said. */
static void add_excerpt(char *dst, size_t cap, const char *body, size_t len) {
  size_t n = strlen(dst);
  if (!body || !len || n + 4 >= cap) return;
  size_t room = cap - n - 3;
  if (room > 160) room = 160;
  dst[n++] = ':';
  dst[n++] = ' ';
  for (size_t i = 0; i < len && room > 1; i++) {
    char c = body[i];
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
    if (c == ' ' && n > 0 && dst[n - 1] == ' ') continue;
    if ((unsigned char)c < 32) continue;
    dst[n++] = c;
    room--;
  }
  while (n > 0 && dst[n - 1] == ' ') n--;
  dst[n] = '\0';
}

void cg_classify_http(long status, const cg_hints *h, const char *body, size_t len,
                      double max_hint_wait, cg_verdict *v) {
  memset(v, 0, sizeof *v);
  v->hint = -1;
  v->code = "http";
  const char *quota = status == 429 ? hard_quota(body, len) : NULL;
  if (quota) {
    v->code = "quota";
    snprintf(v->msg, sizeof v->msg, "quota: HTTP 429, %s; not retried", quota);
    return;
  }
  v->retry = h->should_retry >= 0 ? h->should_retry : retryable_status(status);
  v->hint = cg_hints_delay(h, body, len, &v->hint_source);
  /* x-ratelimit-reset-* says when a bucket is full again, not when one request fits: a
   * long one is no sign of a hard quota, so it only caps the wait. */
  if (v->hint > max_hint_wait && !strcmp(v->hint_source, "x-ratelimit-reset")) v->hint = max_hint_wait;
  if (v->retry && v->hint > max_hint_wait) {
    v->retry = 0;
    v->code = "quota";
    snprintf(v->msg, sizeof v->msg,
             "quota: HTTP %ld, the server asks to wait %.1f s (%s), more than max_hint_wait (%g s)",
             status, v->hint, v->hint_source, max_hint_wait);
    return;
  }
  v->pause = status == 429 && v->retry;
  snprintf(v->msg, sizeof v->msg, "http: HTTP %ld", status);
  add_excerpt(v->msg, sizeof v->msg, body, len);
}

void cg_classify_net(int kind, const char *detail, cg_verdict *v) {
  memset(v, 0, sizeof *v);
  v->hint = -1;
  const char *what;
  switch (kind) {
  case CG_NET_CONNECT: v->code = "network", what = "cannot connect", v->retry = 1; break;
  case CG_NET_DNS: v->code = "network", what = "cannot resolve host", v->retry = 1; break;
  case CG_NET_RESET: v->code = "network", what = "connection lost", v->retry = 1; break;
  case CG_NET_TIMEOUT: v->code = "timeout", what = "no answer in time", v->retry = 1; break;
  case CG_NET_TOO_LARGE: v->code = "too_large", what = NULL; break;
  case CG_NET_TLS:
    v->code = "network";
    snprintf(v->msg, sizeof v->msg,
             "network: TLS certificate not trusted (%s); name the CAs to trust with ca_file (--ca-file)",
             detail ? detail : "");
    return;
  default: v->code = "network", what = "transfer failed"; break;
  }
  if (what) snprintf(v->msg, sizeof v->msg, "%s: %s (%s)", v->code, what, detail ? detail : "");
  else snprintf(v->msg, sizeof v->msg, "%s: %s", v->code, detail ? detail : "");
}

int cg_retry_decide(int spent, int max_attempts, double waited, double delay, double budget) {
  if (spent >= max_attempts) return CG_RETRY_NO_ATTEMPTS;
  if (waited + delay > budget) return CG_RETRY_NO_BUDGET;
  return CG_RETRY_GO;
}

void cg_retry_final(char *buf, size_t n, int decision, const char *last, int attempts, double budget) {
  const char *s = attempts == 1 ? "" : "s";
  if (decision == CG_RETRY_NO_BUDGET)
    snprintf(buf, n, "budget: retry budget of %g s spent after %d attempt%s; last error: %s", budget,
             attempts, s, last);
  else if (attempts > 1)
    snprintf(buf, n, "%s (after %d attempt%s)", last, attempts, s);
  else
    snprintf(buf, n, "%s", last);
}

void cg_rng_seed(cg_rng *r, uint64_t seed) {
  r->s = seed;
}

double cg_rng_uniform(cg_rng *r) {
  uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}

double cg_backoff(cg_rng *r, int retry, double base, double cap) {
  if (retry < 1) retry = 1;
  double top = base * ldexp(1.0, retry > 60 ? 60 : retry - 1);
  if (top > cap) top = cap;
  return cg_rng_uniform(r) * top;
}
