/* Parsers for the waits servers ask for. Headers arrive one raw line at a time from the
 * transfer's header callback (worker thread, no Lua); bodies are JSON error documents we
 * scan for the two known phrasings rather than parse, because only the hint matters and a
 * malformed body must still yield "no hint" quickly. */
#include "cg_hints.h"
#include "cg_clock.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

void cg_hints_reset(cg_hints *h) {
  h->retry_after_ms = h->retry_after = h->reset_requests = h->reset_tokens = -1;
  h->should_retry = -1;
}

static void trim(const char **s, size_t *n) {
  while (*n && isspace((unsigned char)**s)) (*s)++, (*n)--;
  while (*n && isspace((unsigned char)(*s)[*n - 1])) (*n)--;
}

/* Parses a non-negative decimal number at s[0..n); returns chars used (0 if none). */
static size_t scan_number(const char *s, size_t n, double *out) {
  size_t i = 0;
  double v = 0, scale = 1;
  int digits = 0;
  while (i < n && isdigit((unsigned char)s[i])) v = v * 10 + (s[i++] - '0'), digits++;
  if (i < n && s[i] == '.') {
    i++;
    while (i < n && isdigit((unsigned char)s[i])) scale /= 10, v += (s[i++] - '0') * scale, digits++;
  }
  if (!digits) return 0;
  *out = v;
  return i;
}

double cg_parse_duration(const char *s, size_t n) {
  trim(&s, &n);
  if (n == 0) return -1;
  double total = 0, v;
  size_t i = 0;
  int parts = 0;
  while (i < n) {
    size_t k = scan_number(s + i, n - i, &v);
    if (!k) return -1;
    i += k;
    const char *u = s + i;
    size_t left = n - i;
    double mult;
    size_t ul;
    if (left >= 2 && !memcmp(u, "ns", 2)) mult = 1e-9, ul = 2;
    else if (left >= 2 && !memcmp(u, "us", 2)) mult = 1e-6, ul = 2;
    else if (left >= 3 && (!memcmp(u, "\xc2\xb5s", 3) || !memcmp(u, "\xce\xbcs", 3))) mult = 1e-6, ul = 3;
    else if (left >= 2 && !memcmp(u, "ms", 2)) mult = 1e-3, ul = 2;
    else if (left >= 1 && u[0] == 's') mult = 1, ul = 1;
    else if (left >= 1 && u[0] == 'm') mult = 60, ul = 1;
    else if (left >= 1 && u[0] == 'h') mult = 3600, ul = 1;
    else if (left == 0 && parts == 0) mult = 1, ul = 0; /* bare number: seconds */
    else return -1;
    total += v * mult;
    i += ul;
    parts++;
  }
  return total;
}

double cg_parse_retry_after(const char *s, size_t n, double wall_now) {
  trim(&s, &n);
  if (n == 0) return -1;
  if (isdigit((unsigned char)s[0]) || s[0] == '.') {
    double v;
    size_t k = scan_number(s, n, &v);
    return k == n ? v : -1;
  }
  char buf[64];
  if (n >= sizeof buf) return -1;
  memcpy(buf, s, n);
  buf[n] = '\0';
  static const char *const fmts[] = {"%a, %d %b %Y %H:%M:%S GMT", "%A, %d-%b-%y %H:%M:%S GMT",
                                     "%a %b %d %H:%M:%S %Y"};
  for (size_t f = 0; f < sizeof fmts / sizeof fmts[0]; f++) {
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *end = strptime(buf, fmts[f], &tm);
    if (end && *end == '\0') {
      double d = (double)timegm(&tm) - wall_now;
      return d > 0 ? d : 0;
    }
  }
  return -1;
}

static const char *find_ci(const char *hay, size_t n, const char *needle) {
  size_t m = strlen(needle);
  if (m > n) return NULL;
  for (size_t i = 0; i + m <= n; i++)
    if (tolower((unsigned char)hay[i]) == needle[0] && !strncasecmp(hay + i, needle, m)) return hay + i;
  return NULL;
}

double cg_body_delay(const char *body, size_t len, const char **source) {
  if (!body || !len) return -1;
  const char *end = body + len;
  const char *p = memmem(body, len, "\"retryDelay\"", 12);
  if (p) {
    p += 12;
    while (p < end && (isspace((unsigned char)*p) || *p == ':')) p++;
    if (p < end && *p == '"') {
      const char *q = memchr(p + 1, '"', (size_t)(end - p - 1));
      if (q) {
        double d = cg_parse_duration(p + 1, (size_t)(q - p - 1));
        if (d >= 0) {
          *source = "retry_info";
          return d;
        }
      }
    }
  }
  p = find_ci(body, len, "try again in ");
  if (p) {
    p += 13;
    const char *q = p;
    while (q < end && (isdigit((unsigned char)*q) || *q == '.' || (*q && strchr("hmsun", *q)))) q++;
    while (q > p && q[-1] == '.') q--; /* sentence full stop after the unit */
    double d = cg_parse_duration(p, (size_t)(q - p));
    if (d >= 0) {
      *source = "message";
      return d;
    }
  }
  return -1;
}

void cg_hints_header(cg_hints *h, const char *line, size_t len, double wall_now) {
  const char *colon = memchr(line, ':', len);
  if (!colon) return;
  size_t nl = (size_t)(colon - line);
  const char *v = colon + 1;
  size_t vl = len - nl - 1;
  trim(&v, &vl);
#define IS(name) (nl == sizeof(name) - 1 && !strncasecmp(line, name, nl))
  if (IS("retry-after-ms")) {
    double ms;
    if (vl && scan_number(v, vl, &ms) == vl) h->retry_after_ms = ms / 1000.0;
  } else if (IS("retry-after")) {
    h->retry_after = cg_parse_retry_after(v, vl, wall_now);
  } else if (IS("x-ratelimit-reset-requests")) {
    h->reset_requests = cg_parse_duration(v, vl);
  } else if (IS("x-ratelimit-reset-tokens")) {
    h->reset_tokens = cg_parse_duration(v, vl);
  } else if (IS("x-should-retry")) {
    if (vl == 4 && !strncasecmp(v, "true", 4)) h->should_retry = 1;
    else if (vl == 5 && !strncasecmp(v, "false", 5)) h->should_retry = 0;
  }
#undef IS
}

double cg_hints_delay(const cg_hints *h, const char *body, size_t len, const char **source) {
  if (h->retry_after_ms >= 0) {
    *source = "retry-after-ms";
    return h->retry_after_ms;
  }
  if (h->retry_after >= 0) {
    *source = "retry-after";
    return h->retry_after;
  }
  double d = cg_body_delay(body, len, source);
  if (d >= 0) return d;
  d = h->reset_requests > h->reset_tokens ? h->reset_requests : h->reset_tokens;
  if (d >= 0) *source = "x-ratelimit-reset";
  return d;
}
