/*
 * Faults: names, the `--faults` probability spec, `[[mock:...]]` prompt directives and
 * the per-prompt request counter the directives need.
 */
#include "mock.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const names[F_COUNT] = {
    "none",   "429",     "429bare",   "429day",     "quota",   "400",       "401",       "403",
    "404",    "500",     "503",       "504",        "empty",   "thought",   "maxtokens", "safety",
    "recitation", "blocked", "malformed", "truncated", "reset", "stall", "slow",
    "midstream", "html404", "huge", "hugechunked", "endless_headers", "slowloris", "badutf8",
    "deepjson", "oddjson", "redirect", "http10",
};

const char *fault_name(int kind) { return kind >= 0 && kind < F_COUNT ? names[kind] : "?"; }

/* The HTTP errors are contiguous in enum fault_kind; a new one must go inside the range. */
int fault_is_http_error(int kind) { return kind >= F_429 && kind <= F_504; }

long fault_hint_ms(const fault *f) { return f->param_ms >= 0 ? f->param_ms : 1000; }

/* Durations: "2s", "1.5s", "500ms", or a bare number of ms for slow / seconds for 429. */
static int parse_duration_ms(const char *s, size_t n, int bare_is_seconds, long *out) {
  char tmp[32];
  if (n == 0 || n >= sizeof tmp) return -1;
  memcpy(tmp, s, n);
  tmp[n] = '\0';
  char *e;
  errno = 0;
  double v = strtod(tmp, &e);
  if (e == tmp || errno || v < 0 || v > 86400e3) return -1;
  double ms;
  if (strcmp(e, "ms") == 0)
    ms = v;
  else if (strcmp(e, "s") == 0)
    ms = v * 1000;
  else if (*e == '\0')
    ms = bare_is_seconds ? v * 1000 : v;
  else
    return -1;
  *out = (long)(ms + 0.5);
  return 0;
}

int fault_parse_one(const char *s, size_t n, fault *out, char *err, size_t errlen) {
  const char *colon = memchr(s, ':', n);
  size_t nl = colon ? (size_t)(colon - s) : n;
  out->kind = F_NONE;
  out->param_ms = -1;
  for (int k = 1; k < F_COUNT; k++) {
    if (strlen(names[k]) == nl && memcmp(names[k], s, nl) == 0) {
      out->kind = k;
      break;
    }
  }
  if (out->kind == F_NONE) {
    snprintf(err, errlen, "bad fault '%.*s': unknown fault name", (int)n, s);
    return -1;
  }
  if (colon && (out->kind == F_REDIRECT || out->kind == F_ODDJSON)) {
    /* a whole number: the port to send the client to, or the variant */
    const char *a = colon + 1;
    size_t al = n - nl - 1;
    long v = 0;
    size_t i = 0;
    for (; i < al && i < 6 && a[i] >= '0' && a[i] <= '9'; i++) v = v * 10 + (a[i] - '0');
    long hi = out->kind == F_REDIRECT ? 65535 : 3;
    if (al == 0 || i != al || v < 1 || v > hi) {
      snprintf(err, errlen, "bad fault '%.*s': expected a number from 1 to %ld", (int)n, s, hi);
      return -1;
    }
    out->param_ms = v;
  } else if (colon) {
    const char *a = colon + 1;
    size_t al = n - nl - 1;
    if (out->kind != F_429 && out->kind != F_SLOW && out->kind != F_SLOWLORIS) {
      snprintf(err, errlen, "bad fault '%.*s': '%s' takes no argument", (int)n, s, names[out->kind]);
      return -1;
    }
    if (parse_duration_ms(a, al, out->kind == F_429, &out->param_ms)) {
      snprintf(err, errlen, "bad fault '%.*s': bad duration '%.*s'", (int)n, s, (int)al, a);
      return -1;
    }
  } else if (out->kind == F_SLOW) {
    snprintf(err, errlen, "bad fault '%.*s': slow needs a delay in ms (slow:MS)", (int)n, s);
    return -1;
  } else if (out->kind == F_REDIRECT) {
    snprintf(err, errlen, "bad fault '%.*s': redirect needs a port (redirect:PORT)", (int)n, s);
    return -1;
  }
  return 0;
}

/* "name:prob" items separated by commas; the probability is always the last ":" field so
 * "slow:200:0.1" and "429:2s:0.1" carry an argument too. */
int fault_parse_spec(const char *spec, fault_spec *out, char *err, size_t errlen) {
  out->n = 0;
  const char *p = spec;
  while (*p) {
    const char *e = strchr(p, ',');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    while (len && isspace((unsigned char)*p)) p++, len--;
    while (len && isspace((unsigned char)p[len - 1])) len--;
    if (len) {
      const char *c = NULL;
      for (size_t i = len; i-- > 0;)
        if (p[i] == ':') {
          c = p + i;
          break;
        }
      if (!c) {
        snprintf(err, errlen, "bad fault '%.*s': expected NAME:PROBABILITY", (int)len, p);
        return -1;
      }
      char tmp[32];
      size_t pl = len - (size_t)(c - p) - 1;
      char *end;
      double prob = -1;
      if (pl > 0 && pl < sizeof tmp) {
        memcpy(tmp, c + 1, pl);
        tmp[pl] = '\0';
        prob = strtod(tmp, &end);
        if (*end) prob = -1;
      }
      if (!(prob >= 0 && prob <= 1)) {
        snprintf(err, errlen, "bad fault '%.*s': probability must be a number between 0 and 1", (int)len, p);
        return -1;
      }
      if (out->n >= MOCK_MAX_RULES) {
        snprintf(err, errlen, "bad fault '%.*s': too many faults (at most %d)", (int)len, p, MOCK_MAX_RULES);
        return -1;
      }
      fault_rule *r = &out->rules[out->n];
      if (fault_parse_one(p, (size_t)(c - p), &r->f, err, errlen)) return -1;
      r->prob = prob;
      out->n++;
    }
    if (!e) break;
    p = e + 1;
  }
  return 0;
}

/* ---- directives ---- */

static const char *find_mem(const char *h, size_t hn, const char *needle) {
  size_t nn = strlen(needle);
  if (hn < nn) return NULL;
  return memmem(h, hn, needle, nn);
}

fault directive_fault(const char *text, size_t n, uint64_t nth) {
  fault none = {F_NONE, -1};
  const char *d = find_mem(text, n, "[[mock:");
  if (!d) return none;
  d += 7;
  const char *end = find_mem(d, n - (size_t)(d - text), "]]");
  if (!end) return none;
  uint64_t i = 0;
  const char *p = d;
  while (p < end) {
    const char *c = memchr(p, ',', (size_t)(end - p));
    if (!c) c = end;
    const char *a = p, *b = c;
    while (a < b && isspace((unsigned char)*a)) a++;
    while (b > a && isspace((unsigned char)b[-1])) b--;
    int forever = b > a && b[-1] == '*';
    if (forever) b--;
    if (i == nth || forever) {
      fault f;
      char err[128];
      if (fault_parse_one(a, (size_t)(b - a), &f, err, sizeof err)) return none;
      return f;
    }
    i++;
    p = c + 1;
  }
  return none;
}

/* ---- prompt counts: open addressing on the 64-bit text hash ---- */

struct prompt_table {
  uint64_t *keys; /* 0 = empty slot; a real hash of 0 is nudged to 1 */
  uint64_t *counts;
  size_t cap, used;
};

prompt_table *ptab_new(void) {
  prompt_table *t = calloc(1, sizeof *t);
  if (!t) abort();
  t->cap = 1024;
  t->keys = calloc(t->cap, sizeof *t->keys);
  t->counts = calloc(t->cap, sizeof *t->counts);
  if (!t->keys || !t->counts) abort();
  return t;
}

void ptab_free(prompt_table *t) {
  if (!t) return;
  free(t->keys);
  free(t->counts);
  free(t);
}

static size_t slot_of(const prompt_table *t, uint64_t h) {
  size_t i = (size_t)(h & (t->cap - 1));
  while (t->keys[i] && t->keys[i] != h) i = (i + 1) & (t->cap - 1);
  return i;
}

uint64_t ptab_bump(prompt_table *t, uint64_t h) {
  if (!h) h = 1;
  if ((t->used + 1) * 4 > t->cap * 3) {
    prompt_table n = {NULL, NULL, t->cap * 2, t->used};
    n.keys = calloc(n.cap, sizeof *n.keys);
    n.counts = calloc(n.cap, sizeof *n.counts);
    if (!n.keys || !n.counts) abort();
    for (size_t i = 0; i < t->cap; i++) {
      if (!t->keys[i]) continue;
      size_t j = slot_of(&n, t->keys[i]);
      n.keys[j] = t->keys[i];
      n.counts[j] = t->counts[i];
    }
    free(t->keys);
    free(t->counts);
    *t = n;
  }
  size_t i = slot_of(t, h);
  if (!t->keys[i]) {
    t->keys[i] = h;
    t->used++;
  }
  return t->counts[i]++;
}

/* FNV-1a folded through a splitmix finaliser: cheap, and good enough to key prompts. */
uint64_t hash_bytes(const void *p, size_t n, uint64_t seed) {
  const unsigned char *s = p;
  uint64_t h = 1469598103934665603ULL ^ (seed * 0x9E3779B97F4A7C15ULL);
  for (size_t i = 0; i < n; i++) {
    h ^= s[i];
    h *= 1099511628211ULL;
  }
  h ^= h >> 30;
  h *= 0xBF58476D1CE4E5B9ULL;
  h ^= h >> 27;
  h *= 0x94D049BB133111EBULL;
  h ^= h >> 31;
  return h;
}

uint64_t rng_next(rng *r) {
  uint64_t z = (r->s += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

double rng_unit(rng *r) { return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0); }
