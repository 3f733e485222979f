/*
 * A growable byte buffer and a minimal JSON reader for request bodies.
 *
 * The reader builds a small tree in one arena so a request body costs one allocation
 * per 64 KiB and is freed at once. Nesting is capped so a hostile body cannot exhaust
 * the server thread's stack.
 */
#include "mock.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Allocation failure in the mock is not recoverable in any useful way. */
static void *xrealloc(void *p, size_t n) {
  void *q = realloc(p, n);
  if (!q && n) abort();
  return q;
}

void mb_init(mbuf *b) {
  b->p = NULL;
  b->len = b->cap = 0;
}

void mb_free(mbuf *b) {
  free(b->p);
  mb_init(b);
}

void mb_reserve(mbuf *b, size_t extra) {
  if (b->len + extra + 1 <= b->cap) return;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < b->len + extra + 1) cap *= 2;
  b->p = xrealloc(b->p, cap);
  b->cap = cap;
}

void mb_put(mbuf *b, const void *s, size_t n) {
  mb_reserve(b, n);
  if (n) memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

void mb_puts(mbuf *b, const char *s) { mb_put(b, s, strlen(s)); }

void mb_putc(mbuf *b, char c) { mb_put(b, &c, 1); }

void mb_printf(mbuf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char tmp[512];
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n < sizeof tmp) {
    mb_put(b, tmp, (size_t)n);
    return;
  }
  mb_reserve(b, (size_t)n);
  va_start(ap, fmt);
  vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

void mb_jstr(mbuf *b, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  mb_reserve(b, n + 2);
  mb_putc(b, '"');
  size_t run = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    mb_put(b, s + run, i - run);
    run = i + 1;
    switch (c) {
    case '"': mb_put(b, "\\\"", 2); break;
    case '\\': mb_put(b, "\\\\", 2); break;
    case '\n': mb_put(b, "\\n", 2); break;
    case '\r': mb_put(b, "\\r", 2); break;
    case '\t': mb_put(b, "\\t", 2); break;
    default: {
      char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
      mb_put(b, e, 6);
    }
    }
  }
  mb_put(b, s + run, n - run);
  mb_putc(b, '"');
}

void mb_consume(mbuf *b, size_t n) {
  if (n >= b->len) {
    b->len = 0;
  } else {
    memmove(b->p, b->p + n, b->len - n);
    b->len -= n;
  }
  if (b->p) b->p[b->len] = '\0';
}

/* ---- reader ---- */

#define ARENA_CHUNK (64 * 1024)
#define MAX_DEPTH 200

typedef struct chunk {
  struct chunk *next;
  size_t used, cap;
  max_align_t data[];
} chunk;

struct jdoc {
  chunk *head;
};

typedef struct parser {
  const char *s, *end;
  jdoc *doc;
  int depth;
} parser;

static void *arena_alloc(jdoc *d, size_t n) {
  n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
  chunk *c = d->head;
  if (!c || c->cap - c->used < n) {
    size_t cap = n > ARENA_CHUNK ? n : ARENA_CHUNK;
    c = xrealloc(NULL, sizeof(chunk) + cap);
    c->used = 0;
    c->cap = cap;
    c->next = d->head;
    d->head = c;
  }
  void *p = (char *)c->data + c->used;
  c->used += n;
  return p;
}

void json_free(jdoc *d) {
  if (!d) return;
  chunk *c = d->head;
  while (c) {
    chunk *n = c->next;
    free(c);
    c = n;
  }
  free(d);
}

static void skip_ws(parser *p) {
  while (p->s < p->end && (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' || *p->s == '\r')) p->s++;
}

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static int read_hex4(parser *p, unsigned *out) {
  if (p->end - p->s < 4) return -1;
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    int h = hexval((unsigned char)p->s[i]);
    if (h < 0) return -1;
    v = v * 16 + (unsigned)h;
  }
  p->s += 4;
  *out = v;
  return 0;
}

static size_t put_utf8(char *o, unsigned cp) {
  if (cp < 0x80) {
    o[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    o[0] = (char)(0xC0 | (cp >> 6));
    o[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    o[0] = (char)(0xE0 | (cp >> 12));
    o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  o[0] = (char)(0xF0 | (cp >> 18));
  o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
  o[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

/* Decoded text is never longer than its escaped source, so one allocation suffices. */
static int parse_string(parser *p, const char **out, size_t *outlen) {
  p->s++; /* opening quote */
  const char *q = p->s;
  while (q < p->end && *q != '"') {
    if (*q == '\\') q++;
    q++;
  }
  if (q >= p->end) return -1;
  char *o = arena_alloc(p->doc, (size_t)(q - p->s) + 1);
  size_t n = 0;
  while (p->s < p->end && *p->s != '"') {
    unsigned char c = (unsigned char)*p->s++;
    if (c < 0x20) return -1;
    if (c != '\\') {
      o[n++] = (char)c;
      continue;
    }
    if (p->s >= p->end) return -1;
    c = (unsigned char)*p->s++;
    switch (c) {
    case '"': o[n++] = '"'; break;
    case '\\': o[n++] = '\\'; break;
    case '/': o[n++] = '/'; break;
    case 'b': o[n++] = '\b'; break;
    case 'f': o[n++] = '\f'; break;
    case 'n': o[n++] = '\n'; break;
    case 'r': o[n++] = '\r'; break;
    case 't': o[n++] = '\t'; break;
    case 'u': {
      unsigned cp;
      if (read_hex4(p, &cp)) return -1;
      if (cp >= 0xD800 && cp < 0xDC00 && p->end - p->s >= 6 && p->s[0] == '\\' && p->s[1] == 'u') {
        unsigned lo;
        p->s += 2;
        if (read_hex4(p, &lo)) return -1;
        if (lo >= 0xDC00 && lo < 0xE000)
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        else
          cp = 0xFFFD;
      } else if (cp >= 0xD800 && cp < 0xE000) {
        cp = 0xFFFD;
      }
      n += put_utf8(o + n, cp);
      break;
    }
    default: return -1;
    }
  }
  if (p->s >= p->end) return -1;
  p->s++;
  o[n] = '\0';
  *out = o;
  *outlen = n;
  return 0;
}

static int parse_value(parser *p, jnode *n);

static int parse_container(parser *p, jnode *n, int obj) {
  if (++p->depth > MAX_DEPTH) return -1;
  p->s++;
  n->type = obj ? JOBJ : JARR;
  jnode **tail = &n->child;
  skip_ws(p);
  if (p->s < p->end && *p->s == (obj ? '}' : ']')) {
    p->s++;
    p->depth--;
    return 0;
  }
  for (;;) {
    jnode *c = arena_alloc(p->doc, sizeof *c);
    memset(c, 0, sizeof *c);
    skip_ws(p);
    if (obj) {
      if (p->s >= p->end || *p->s != '"') return -1;
      if (parse_string(p, &c->key, &c->keylen)) return -1;
      skip_ws(p);
      if (p->s >= p->end || *p->s != ':') return -1;
      p->s++;
    }
    if (parse_value(p, c)) return -1;
    *tail = c;
    tail = &c->next;
    skip_ws(p);
    if (p->s >= p->end) return -1;
    if (*p->s == ',') {
      p->s++;
      continue;
    }
    if (*p->s == (obj ? '}' : ']')) {
      p->s++;
      p->depth--;
      return 0;
    }
    return -1;
  }
}

static int parse_number(parser *p, jnode *n) {
  const char *q = p->s;
  if (q < p->end && *q == '-') q++;
  if (q >= p->end || *q < '0' || *q > '9') return -1;
  while (q < p->end && ((*q >= '0' && *q <= '9') || *q == '.' || *q == 'e' || *q == 'E' || *q == '+' ||
                        *q == '-'))
    q++;
  char tmp[64];
  size_t len = (size_t)(q - p->s);
  if (len >= sizeof tmp) return -1;
  memcpy(tmp, p->s, len);
  tmp[len] = '\0';
  char *e;
  n->num = strtod(tmp, &e);
  if (*e) return -1;
  n->type = JNUM;
  p->s = q;
  return 0;
}

static int match_word(parser *p, const char *w, int type, jnode *n) {
  size_t l = strlen(w);
  if ((size_t)(p->end - p->s) < l || memcmp(p->s, w, l) != 0) return -1;
  p->s += l;
  n->type = type;
  return 0;
}

static int parse_value(parser *p, jnode *n) {
  skip_ws(p);
  if (p->s >= p->end) return -1;
  switch (*p->s) {
  case '{': return parse_container(p, n, 1);
  case '[': return parse_container(p, n, 0);
  case '"':
    n->type = JSTR;
    return parse_string(p, &n->str, &n->len);
  case 't': return match_word(p, "true", JTRUE, n);
  case 'f': return match_word(p, "false", JFALSE, n);
  case 'n': return match_word(p, "null", JNULL, n);
  default: return parse_number(p, n);
  }
}

jdoc *json_parse(const char *s, size_t n, jnode **root) {
  jdoc *d = xrealloc(NULL, sizeof *d);
  d->head = NULL;
  parser p = {s, s + n, d, 0};
  jnode *r = arena_alloc(d, sizeof *r);
  memset(r, 0, sizeof *r);
  *root = NULL;
  if (parse_value(&p, r) == 0) {
    skip_ws(&p);
    if (p.s == p.end) *root = r;
  }
  return d;
}

jnode *json_get(const jnode *obj, const char *key) {
  if (!obj || obj->type != JOBJ) return NULL;
  size_t kl = strlen(key);
  for (jnode *c = obj->child; c; c = c->next)
    if (c->keylen == kl && memcmp(c->key, key, kl) == 0) return c;
  return NULL;
}

jnode *json_get2(const jnode *obj, const char *a, const char *b) {
  jnode *n = json_get(obj, a);
  return n ? n : json_get(obj, b);
}

int json_streq(const jnode *n, const char *s) {
  return n && n->type == JSTR && n->len == strlen(s) && memcmp(n->str, s, n->len) == 0;
}

/* ---- formatting ---- */

static void indent(mbuf *o, int depth) {
  mb_putc(o, '\n');
  for (int i = 0; i < depth; i++) mb_put(o, "  ", 2);
}

/* Skips a string starting at s[i] == '"'; returns the index of its closing quote. */
static size_t string_end(const char *s, size_t n, size_t i) {
  for (;;) {
    const char *q = memchr(s + i + 1, '"', n - i - 1);
    if (!q) return n - 1;
    size_t j = (size_t)(q - s), bs = 0;
    while (j - bs > i + 1 && s[j - bs - 1] == '\\') bs++;
    if (bs % 2 == 0) return j;
    i = j;
  }
}

void json_format(mbuf *out, const char *s, size_t n, int pretty) {
  int depth = 0;
  mb_reserve(out, n + n / 2);
  size_t run = 0; /* start of bytes copied verbatim */
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (c == '"') {
      i = string_end(s, n, i);
      continue;
    }
    if (c != '{' && c != '[' && c != '}' && c != ']' && c != ',' && c != ':') continue;
    mb_put(out, s + run, i - run);
    run = i + 1;
    switch (c) {
    case '{':
    case '[':
      mb_putc(out, c);
      if (pretty && i + 1 < n && (s[i + 1] == '}' || s[i + 1] == ']')) break;
      depth++;
      if (pretty) indent(out, depth);
      break;
    case '}':
    case ']':
      if (pretty && i > 0 && s[i - 1] != '{' && s[i - 1] != '[') {
        depth--;
        indent(out, depth);
      } else if (!pretty) {
        depth--;
      }
      mb_putc(out, c);
      break;
    case ',':
      mb_putc(out, ',');
      if (pretty) indent(out, depth);
      break;
    default: mb_put(out, ": ", 2);
    }
  }
  mb_put(out, s + run, n - run);
}
