/* Retry policy: which failures are worth another attempt, and how long to wait first. */
#ifndef CG_RETRY_H
#define CG_RETRY_H

#include <stddef.h>
#include <stdint.h>

#include "cg_hints.h"

/* Transport failures, as the HTTP layer reports them. */
enum {
  CG_NET_NONE = 0,
  CG_NET_CONNECT,   /* refused, unreachable */
  CG_NET_DNS,
  CG_NET_RESET,     /* reset, empty reply, send/receive error, cut short */
  CG_NET_TIMEOUT,   /* attempt, connect or idle timeout */
  CG_NET_TOO_LARGE, /* the response passed max_response_bytes */
  CG_NET_OTHER,     /* anything else libcurl reports (bad URL, TLS setup, ...) */
  CG_NET_TLS        /* the server's certificate is not trusted: retrying cannot help */
};

typedef struct cg_verdict {
  int retry;               /* another attempt may succeed */
  int pause;               /* a 429: pause every request and cut the rate */
  const char *code;        /* error_code of the result: "http", "network", ... */
  double hint;             /* seconds the server asks for, or -1 */
  const char *hint_source; /* header or body the hint came from */
  char msg[320];           /* "code: detail" */
} cg_verdict;

/* Classifies an HTTP answer that is not 2xx. */
void cg_classify_http(long status, const cg_hints *h, const char *body, size_t len,
                      double max_hint_wait, cg_verdict *v);
/* Classifies a transport failure; `detail` is the library's message. */
void cg_classify_net(int kind, const char *detail, cg_verdict *v);

/* Whether a failed attempt, transport, HTTP or rejected by validate alike, may go again
 * after `delay`: attempts that count (`spent`) against `max_attempts`, and the time held
 * back for retries so far (`waited`) plus `delay` against the retry budget. The one rule
 * for every retry. */
enum { CG_RETRY_GO = 0, CG_RETRY_NO_ATTEMPTS, CG_RETRY_NO_BUDGET };
int cg_retry_decide(int spent, int max_attempts, double waited, double delay, double budget);
/* The final message of a request whose retry cg_retry_decide refused (`decision`), from
 * the last attempt's message `last` ("http: HTTP 503", "rejected: empty", ...): "LAST
 * (after N attempts)" or "budget: retry budget of B s spent after N attempts; last error:
 * LAST". HTTP failures and validate's re-asks end with the same words. */
void cg_retry_final(char *buf, size_t n, int decision, const char *last, int attempts, double budget);

/* splitmix64: small, seedable, good enough for jitter. */
typedef struct cg_rng {
  uint64_t s;
} cg_rng;
void cg_rng_seed(cg_rng *r, uint64_t seed);
double cg_rng_uniform(cg_rng *r); /* [0, 1) */
/* Full jitter: U(0, min(cap, base * 2^(retry-1))) for the retry-th retry (1, 2, ...). */
double cg_backoff(cg_rng *r, int retry, double base, double cap);

#endif
