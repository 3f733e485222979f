/*
 * Answer text: a Markdown chapter that quotes the requested title, or JSON that fits a
 * response schema. Everything is derived from a seed (prompt hash mixed with the
 * server's seed), so the same prompt always gets the same bytes.
 */
#include "mock.h"

#include <stdio.h>
#include <string.h>

static const char *const vocab[] = {
    "system",   "design",    "process",  "example",  "model",    "result",    "method",   "value",
    "change",   "learning",  "practice", "concept",  "pattern",  "structure", "detail",   "approach",
    "language", "function",  "variable", "problem",  "solution", "context",   "review",   "lesson",
    "student",  "course",    "chapter",  "theory",   "question", "answer",    "measure",  "effect",
    "carefully", "quickly",  "often",    "usually",  "clearly",  "simply",    "always",   "rarely",
    "explains", "shows",     "builds",   "connects", "improves", "describes", "compares", "tests",
    "the",      "a",         "each",     "every",    "this",     "that",      "with",     "through",
    "and",      "of",        "for",      "in",       "when",     "because",   "while",    "before",
};
#define NVOCAB (sizeof vocab / sizeof vocab[0])

long tokens_of(size_t bytes) { return (long)((bytes + 3) / 4); }

/* Only looks at s[0..n-1]: a cut at the end of a buffer must not peek past it. */
size_t utf8_cut(const char *s, size_t n) {
  size_t i = n, k = 0;
  while (i > 0 && k < 4 && ((unsigned char)s[i - 1] & 0xC0) == 0x80) i--, k++;
  if (i == 0) return 0;
  unsigned char lead = (unsigned char)s[i - 1];
  size_t need = lead < 0xC0 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
  return k + 1 >= need ? n : i - 1;
}

void answer_title(const char *text, size_t n, const char **t, size_t *tlen) {
  const char *p = text, *end = text + n;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *le = nl ? nl : end;
    const char *a = p, *b = le;
    while (a < b && (*a == '#' || *a == ' ' || *a == '\t')) a++;
    while (b > a && (b[-1] == ' ' || b[-1] == '\t' || b[-1] == '\r')) b--;
    if (b > a) {
      *t = a;
      *tlen = (size_t)(b - a);
      return;
    }
    if (!nl) break;
    p = nl + 1;
  }
  *t = "Untitled";
  *tlen = 8;
}

/* A sentence of 6..14 words; returns the number of words written. */
static int sentence(mbuf *o, rng *r) {
  int n = 6 + (int)(rng_next(r) % 9);
  for (int i = 0; i < n; i++) {
    const char *w = vocab[rng_next(r) % NVOCAB];
    if (i == 0) {
      mb_putc(o, (char)(w[0] - 32 * (w[0] >= 'a' && w[0] <= 'z')));
      mb_puts(o, w + 1);
    } else {
      mb_putc(o, ' ');
      mb_puts(o, w);
    }
  }
  mb_puts(o, ". ");
  return n;
}

static int paragraph(mbuf *o, rng *r, int budget) {
  int w = 0;
  while (w < budget) w += sentence(o, r);
  o->len--; /* the trailing blank */
  mb_puts(o, "\n\n");
  return w;
}

void answer_markdown(mbuf *o, const char *title, size_t tlen, uint64_t seed, int words) {
  rng r = {seed};
  if (words < 20) words = 20;
  mb_puts(o, "# ");
  mb_put(o, title, tlen);
  mb_puts(o, "\n\n## Summary\n\nThis chapter covers ");
  mb_put(o, title, tlen);
  mb_puts(o, ". ");
  int w = 4 + paragraph(o, &r, words / 6);
  mb_puts(o, "## Key ideas\n\n");
  for (int i = 1; i <= 3; i++) {
    mb_printf(o, "- Idea %d: ", i);
    w += 2 + sentence(o, &r);
    o->len--;
    mb_putc(o, '\n');
  }
  mb_puts(o, "\n## Example\n\n```lua\nlocal topic = ");
  mb_jstr(o, title, tlen);
  mb_printf(o, "\nfor i = 1, %d do\n  print(i, topic)\nend\n```\n\n", 2 + (int)(rng_next(&r) % 5));
  w += 10;
  mb_puts(o, "## Discussion\n\n");
  do { /* at least one paragraph, so no heading is left empty */
    int left = words - w;
    w += paragraph(o, &r, left < 20 ? 20 : left < 60 ? left : 60);
  } while (w < words);
  o->len--; /* keep one trailing newline */
  o->p[o->len] = '\0';
}

/* ---- schema answers ---- */

/* Nested minItems multiply; past this size an answer only gets nulls, so a hostile
 * schema costs bounded time and memory. */
#define SCHEMA_BUDGET (4 * 1024 * 1024)

typedef struct sgen {
  mbuf *o;
  const jnode *root;
  const char *title;
  size_t tlen;
  uint64_t seed;
  int depth;
} sgen;

static const jnode *resolve(const sgen *g, const jnode *s) {
  for (int hops = 0; s && hops < 8; hops++) {
    const jnode *ref = json_get(s, "$ref");
    if (!ref || ref->type != JSTR) return s;
    /* local references only: "#/$defs/X" or "#/definitions/X" */
    const char *p = ref->str;
    const jnode *at = g->root;
    if (strncmp(p, "#/", 2) != 0) return s;
    p += 2;
    while (*p && at) {
      const char *sl = strchr(p, '/');
      size_t l = sl ? (size_t)(sl - p) : strlen(p);
      char key[128];
      if (l >= sizeof key) return s;
      memcpy(key, p, l);
      key[l] = '\0';
      at = json_get(at, key);
      p += l + (sl ? 1 : 0);
    }
    if (!at) return s;
    s = at;
  }
  return s;
}

/* Lower-cased type name, first non-null entry of a type list. */
static void type_of(const jnode *s, char *out, size_t n) {
  out[0] = '\0';
  const jnode *t = json_get(s, "type");
  if (t && t->type == JARR) {
    for (const jnode *c = t->child; c; c = c->next)
      if (c->type == JSTR && !json_streq(c, "null") && !json_streq(c, "NULL")) {
        t = c;
        break;
      }
  }
  if (t && t->type == JSTR) {
    size_t i = 0;
    for (; i + 1 < n && i < t->len; i++) out[i] = (char)(t->str[i] | (t->str[i] >= 'A' && t->str[i] <= 'Z' ? 32 : 0));
    out[i] = '\0';
    return;
  }
  if (json_get(s, "properties")) snprintf(out, n, "object");
  else if (json_get(s, "items")) snprintf(out, n, "array");
  else if (json_get(s, "enum")) snprintf(out, n, "enum");
  else snprintf(out, n, "string");
}

static void gen(sgen *g, const jnode *s, const char *name, size_t nlen, const char *path);

static void gen_string(sgen *g, const jnode *s, const char *name, size_t nlen, const char *path) {
  const jnode *e = json_get(s, "enum");
  if (e && e->type == JARR && e->child) {
    const jnode *c = e->child;
    if (c->type == JSTR) mb_jstr(g->o, c->str, c->len);
    else mb_puts(g->o, "null");
    return;
  }
  const jnode *fmt = json_get(s, "format");
  if (json_streq(fmt, "date-time")) {
    mb_puts(g->o, "\"2025-01-01T00:00:00Z\"");
    return;
  }
  if (json_streq(fmt, "date")) {
    mb_puts(g->o, "\"2025-01-01\"");
    return;
  }
  mbuf t;
  mb_init(&t);
  if (nlen) {
    mb_put(&t, name, nlen);
    mb_putc(&t, ' ');
  }
  mb_puts(&t, path[0] ? path : "");
  if (path[0]) mb_puts(&t, " ");
  mb_puts(&t, "of ");
  mb_put(&t, g->title, g->tlen);
  /* keep within maxLength where the schema asks for it */
  const jnode *ml = json_get(s, "maxLength");
  if (ml && ml->type == JNUM && ml->num >= 1 && (double)t.len > ml->num) t.len = utf8_cut(t.p, (size_t)ml->num);
  mb_jstr(g->o, t.p ? t.p : "", t.len);
  mb_free(&t);
}

static void gen_object(sgen *g, const jnode *s, const char *path) {
  const jnode *props = json_get(s, "properties");
  mb_putc(g->o, '{');
  if (props && props->type == JOBJ) {
    int first = 1;
    for (const jnode *p = props->child; p; p = p->next) {
      if (!first) mb_putc(g->o, ',');
      first = 0;
      mb_jstr(g->o, p->key, p->keylen);
      mb_putc(g->o, ':');
      gen(g, p, p->key, p->keylen, path);
    }
  }
  mb_putc(g->o, '}');
}

static void gen_array(sgen *g, const jnode *s, const char *name, size_t nlen, const char *path) {
  const jnode *items = json_get(s, "items");
  const jnode *mi = json_get(s, "minItems");
  const jnode *mx = json_get(s, "maxItems");
  long n = 3;
  if (mi && mi->type == JNUM && mi->num >= 0) n = (long)mi->num;
  if (mx && mx->type == JNUM && mx->num >= 0 && n > (long)mx->num) n = (long)mx->num;
  if (n > 1000) n = 1000;
  /* an explicit minItems of 0 would give an empty, useless array */
  if (n == 0 && !(mx && mx->type == JNUM && mx->num == 0)) n = 1;
  mb_putc(g->o, '[');
  for (long i = 0; i < n && g->o->len < SCHEMA_BUDGET; i++) {
    char sub[96];
    snprintf(sub, sizeof sub, "%s%s%ld", path, path[0] ? "." : "", i + 1);
    if (i) mb_putc(g->o, ',');
    if (items) gen(g, items, name, nlen, sub);
    else mb_jstr(g->o, sub, strlen(sub));
  }
  mb_putc(g->o, ']');
}

static void gen(sgen *g, const jnode *s, const char *name, size_t nlen, const char *path) {
  if (++g->depth > 24 || g->o->len >= SCHEMA_BUDGET) {
    mb_puts(g->o, "null");
    g->depth--;
    return;
  }
  s = resolve(g, s);
  const jnode *alt = json_get(s, "anyOf");
  if (!alt) alt = json_get(s, "oneOf");
  if (alt && alt->type == JARR && alt->child) {
    const jnode *pick = alt->child;
    for (const jnode *c = alt->child; c; c = c->next) {
      char t[16];
      type_of(resolve(g, c), t, sizeof t);
      if (strcmp(t, "null") != 0) {
        pick = c;
        break;
      }
    }
    gen(g, pick, name, nlen, path);
    g->depth--;
    return;
  }
  char t[16];
  type_of(s, t, sizeof t);
  uint64_t h = hash_bytes(path, strlen(path), g->seed ^ hash_bytes(name, nlen, 7));
  if (strcmp(t, "object") == 0) {
    gen_object(g, s, path);
  } else if (strcmp(t, "array") == 0) {
    gen_array(g, s, name, nlen, path);
  } else if (strcmp(t, "integer") == 0 || strcmp(t, "number") == 0) {
    const jnode *lo = json_get(s, "minimum"), *hi = json_get(s, "maximum");
    double a = lo && lo->type == JNUM ? lo->num : 1;
    double b = hi && hi->type == JNUM ? hi->num : a + 99;
    if (b < a) b = a;
    double v = a + (double)(h % (uint64_t)(b - a + 1));
    if (t[0] == 'i') mb_printf(g->o, "%.0f", v);
    else mb_printf(g->o, "%.1f", v + (v + 0.5 <= b ? 0.5 : 0));
  } else if (strcmp(t, "boolean") == 0) {
    mb_puts(g->o, h & 1 ? "true" : "false");
  } else if (strcmp(t, "null") == 0) {
    mb_puts(g->o, "null");
  } else {
    gen_string(g, s, name, nlen, path);
  }
  g->depth--;
}

void answer_schema(mbuf *o, const jnode *schema, const char *title, size_t tlen, uint64_t seed) {
  sgen g = {o, schema, title, tlen, seed, 0};
  gen(&g, schema, "", 0, "");
}
