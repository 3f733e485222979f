/* Server timing hints: how long the server asks us to wait before the next request. */
#ifndef CG_HINTS_H
#define CG_HINTS_H

#include <stddef.h>

typedef struct cg_hints {
  double retry_after_ms;  /* seconds from `retry-after-ms`; < 0 when absent */
  double retry_after;     /* seconds from `Retry-After` (number or HTTP date); < 0 when absent */
  double reset_requests;  /* seconds from `x-ratelimit-reset-requests`; < 0 when absent */
  double reset_tokens;    /* seconds from `x-ratelimit-reset-tokens`; < 0 when absent */
  int should_retry;       /* `x-should-retry`: 1 true, 0 false, -1 absent */
} cg_hints;

void cg_hints_reset(cg_hints *h);
/* Looks at one raw header line ("Name: value\r\n"); `wall_now` is epoch seconds for dates. */
void cg_hints_header(cg_hints *h, const char *line, size_t len, double wall_now);
/* The wait the server asks for, in seconds, or -1 when it gives none. Precedence:
 * retry-after-ms, Retry-After, the body (Gemini RetryInfo.retryDelay, OpenAI "try again
 * in"), then the later of the x-ratelimit-reset-* headers. *source names the one used. */
double cg_hints_delay(const cg_hints *h, const char *body, size_t len, const char **source);

/* Go duration ("6m0s", "1.5h", "12ms", "45.837906927s", "300us"); a bare number is
 * seconds. Returns seconds, or -1 when malformed. */
double cg_parse_duration(const char *s, size_t n);
/* Retry-After value: delay seconds (integer or float) or an HTTP date. Returns seconds
 * from `wall_now` (never negative), or -1 when malformed. */
double cg_parse_retry_after(const char *s, size_t n, double wall_now);
/* Wait hinted by a JSON error body, or -1. */
double cg_body_delay(const char *body, size_t len, const char **source);

#endif
