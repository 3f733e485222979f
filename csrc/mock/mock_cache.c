/*
 * Gemini context caching: the cachedContents resource (create, get, patch ttl, delete)
 * and what a cache does to a generateContent request (its tokens count as cached).
 * Also the implicit prefix cache both APIs run: a request whose part before the last
 * message was seen before, and is at least the minimum size, reports that part as cached.
 * Shapes: docs/wire-caching-batch.md. Server thread only, so no lock.
 */
#include "mock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_CACHES 256
#define DEFAULT_TTL_S 3600.0 /* the API's default when neither ttl nor expireTime is given */

typedef struct centry {
  char id[24];
  char model[128];
  long tokens;
  double expire;  /* monotonic */
  time_t created; /* wall clock, for the timestamps shown */
  time_t wall_expire;
  int live;
} centry;

struct mcaches {
  centry e[MAX_CACHES];
  uint64_t next;
};

mcaches *caches_new(void) {
  mcaches *m = calloc(1, sizeof *m);
  if (!m) abort();
  return m;
}

void caches_free(mcaches *m) { free(m); }

static long min_tokens(const mctx *c, const char *model, size_t mlen) {
  if (c->cfg->cache_min_tokens > 0) return c->cfg->cache_min_tokens;
  /* documented minimums (2026): 2.5 Pro and 3 Pro 4096, the Flash models 1024 */
  return memmem(model, mlen, "pro", 3) ? 4096 : 1024;
}

static centry *find(mctx *c, const char *id, size_t n) {
  for (int i = 0; i < MAX_CACHES; i++) {
    centry *e = &c->caches->e[i];
    if (!e->live || strlen(e->id) != n || memcmp(e->id, id, n) != 0) continue;
    if (e->expire <= c->now) {
      e->live = 0; /* expired: gone, as the API forgets it */
      return NULL;
    }
    return e;
  }
  return NULL;
}

static void rfc3339(mbuf *o, time_t t) {
  struct tm tm;
  gmtime_r(&t, &tm);
  char b[40];
  strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%S.000000Z", &tm);
  mb_jstr(o, b, strlen(b));
}

static void cache_json(mresp *r, const centry *e) {
  mbuf t;
  mb_init(&t);
  mb_printf(&t, "{\"name\":\"cachedContents/%s\",\"model\":", e->id);
  mb_jstr(&t, e->model, strlen(e->model));
  mb_puts(&t, ",\"createTime\":");
  rfc3339(&t, e->created);
  mb_puts(&t, ",\"updateTime\":");
  rfc3339(&t, time(NULL));
  mb_puts(&t, ",\"expireTime\":");
  rfc3339(&t, e->wall_expire);
  mb_printf(&t, ",\"displayName\":\"\",\"usageMetadata\":{\"totalTokenCount\":%ld}}", e->tokens);
  r->body.len = 0;
  json_format(&r->body, t.p, t.len, 1);
  mb_putc(&r->body, '\n');
  mb_free(&t);
  r->status = 200;
  r->ctype = "application/json; charset=UTF-8";
}

/* "600s", "1.5s": seconds, or -1 when it is not a protobuf Duration */
static double parse_ttl(const jnode *n) {
  if (!n || n->type != JSTR || n->len < 2 || n->str[n->len - 1] != 's') return -1;
  char *end;
  double v = strtod(n->str, &end);
  if (end != n->str + n->len - 1 || v < 0) return -1;
  return v;
}

static void set_ttl(centry *e, double now, double ttl) {
  e->expire = now + ttl;
  e->wall_expire = time(NULL) + (time_t)ttl;
}

static size_t text_bytes(const jnode *content) {
  size_t n = 0;
  const jnode *parts = json_get(content, "parts");
  if (!parts || parts->type != JARR) return 0;
  for (const jnode *p = parts->child; p; p = p->next) {
    const jnode *t = json_get(p, "text");
    if (t && t->type == JSTR) n += t->len;
  }
  return n;
}

static void create(mctx *c, const mreq *q, mresp *r) {
  jnode *root;
  jdoc *doc = json_parse(q->body, q->bodylen, &root);
  if (!root || root->type != JOBJ) {
    gemini_error(r, 400, "INVALID_ARGUMENT", "Invalid JSON payload received. Unexpected token.", NULL);
    json_free(doc);
    return;
  }
  const jnode *model = json_get(root, "model");
  if (!model || model->type != JSTR || model->len == 0) {
    gemini_error(r, 400, "INVALID_ARGUMENT", "* CachedContent.model: model is required\n", NULL);
    json_free(doc);
    return;
  }
  const jnode *ttln = json_get(root, "ttl");
  double ttl = ttln ? parse_ttl(ttln) : DEFAULT_TTL_S;
  if (ttl < 0) {
    gemini_error(r, 400, "INVALID_ARGUMENT",
                 "Invalid value at 'cached_content.ttl' (type.googleapis.com/google.protobuf.Duration), Field "
                 "'ttl', Illegal duration format; duration must end with 's'",
                 NULL);
    json_free(doc);
    return;
  }
  size_t bytes = 0;
  const jnode *contents = json_get(root, "contents");
  for (const jnode *x = contents && contents->type == JARR ? contents->child : NULL; x; x = x->next)
    bytes += text_bytes(x);
  const jnode *si = json_get2(root, "systemInstruction", "system_instruction");
  if (si) bytes += text_bytes(si);
  long tokens = tokens_of(bytes);
  long need = min_tokens(c, model->str, model->len);
  /* a directive in the cached text picks a fault for this create, as in any prompt */
  mbuf all;
  mb_init(&all);
  for (const jnode *x = contents && contents->type == JARR ? contents->child : NULL; x; x = x->next) {
    const jnode *parts = json_get(x, "parts");
    for (const jnode *p = parts && parts->type == JARR ? parts->child : NULL; p; p = p->next) {
      const jnode *t = json_get(p, "text");
      if (t && t->type == JSTR) mb_put(&all, t->str, t->len);
    }
  }
  fault f = directive_fault(all.p ? all.p : "", all.len,
                            ptab_bump(c->prompts, hash_bytes(all.p ? all.p : "", all.len, 0xcac4e)));
  mb_free(&all);
  if (f.kind == F_429 || f.kind == F_429BARE) {
    gemini_error(r, 429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota).", NULL);
    json_free(doc);
    return;
  }
  if (f.kind == F_500) {
    gemini_error(r, 500, "INTERNAL", "An internal error has occurred.", NULL);
    json_free(doc);
    return;
  }
  if (tokens < need) {
    char msg[200];
    snprintf(msg, sizeof msg, "Cached content is too small. total_token_count=%ld, min_total_token_count=%ld",
             tokens, need);
    gemini_error(r, 400, "INVALID_ARGUMENT", msg, NULL);
    json_free(doc);
    return;
  }
  centry *e = NULL;
  for (int i = 0; i < MAX_CACHES && !e; i++) {
    centry *x = &c->caches->e[i];
    if (!x->live || x->expire <= c->now) e = x;
  }
  if (!e) {
    gemini_error(r, 429, "RESOURCE_EXHAUSTED", "Too many cached contents.", NULL);
    json_free(doc);
    return;
  }
  memset(e, 0, sizeof *e);
  c->caches->next++;
  rng idr = {hash_bytes(q->body, q->bodylen, c->caches->next)};
  static const char b36[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  for (int i = 0; i < 16; i++) e->id[i] = b36[rng_next(&idr) % 36];
  const char *m = model->str;
  size_t ml = model->len;
  if (ml < 7 || memcmp(m, "models/", 7) != 0) snprintf(e->model, sizeof e->model, "models/%.*s", (int)ml, m);
  else snprintf(e->model, sizeof e->model, "%.*s", (int)ml, m);
  e->tokens = tokens;
  e->created = time(NULL);
  e->live = 1;
  set_ttl(e, c->now, ttl);
  stats_add(c->stats, ST_CACHES_CREATED, 1);
  cache_json(r, e);
  json_free(doc);
}

void cache_route(mctx *c, const mreq *q, mresp *r) {
  static const char base[] = "/v1beta/cachedContents";
  size_t bl = sizeof base - 1;
  if (q->pathlen == bl) {
    if (q->method == MPOST) create(c, q, r);
    else gemini_error(r, 405, "METHOD_NOT_ALLOWED", "Only create is served on the collection.", NULL);
    return;
  }
  const char *id = q->path + bl + 1;
  size_t il = q->pathlen - bl - 1;
  centry *e = find(c, id, il);
  if (!e) {
    char msg[200];
    snprintf(msg, sizeof msg, "CachedContent not found (or permission denied): cachedContents/%.*s",
             (int)(il > 60 ? 60 : il), id);
    gemini_error(r, 403, "PERMISSION_DENIED", msg, NULL);
    return;
  }
  if (q->method == MGET) {
    cache_json(r, e);
  } else if (q->method == MDELETE) {
    e->live = 0;
    stats_add(c->stats, ST_CACHES_DELETED, 1);
    r->status = 200;
    r->ctype = "application/json; charset=UTF-8";
    mb_puts(&r->body, "{}\n");
  } else if (q->method == MPATCH) {
    jnode *root;
    jdoc *doc = json_parse(q->body, q->bodylen, &root);
    double ttl = parse_ttl(root ? json_get(root, "ttl") : NULL);
    if (ttl < 0) gemini_error(r, 400, "INVALID_ARGUMENT", "Only ttl can be updated, as a Duration (\"600s\").", NULL);
    else {
      set_ttl(e, c->now, ttl);
      stats_add(c->stats, ST_CACHES_RENEWED, 1);
      cache_json(r, e);
    }
    json_free(doc);
  } else {
    gemini_error(r, 405, "METHOD_NOT_ALLOWED", "Method not allowed.", NULL);
  }
}

int cache_apply(mctx *c, prompt_info *pi, const char *model, size_t mlen, mresp *r) {
  if (pi->cache_name) {
    static const char pre[] = "cachedContents/";
    const char *id = pi->cache_name;
    size_t il = pi->cache_namelen;
    if (il > sizeof pre - 1 && memcmp(id, pre, sizeof pre - 1) == 0) {
      id += sizeof pre - 1;
      il -= sizeof pre - 1;
    }
    centry *e = find(c, id, il);
    if (!e) {
      gemini_error(r, 403, "PERMISSION_DENIED", "CachedContent not found (or permission denied)", NULL);
      return -1;
    }
    if (pi->has_system) {
      gemini_error(r, 400, "INVALID_ARGUMENT",
                   "CachedContent can not be used with GenerateContent request setting system_instruction, "
                   "tools or tool_config.\n\nProposed fix: move those values to CachedContent from "
                   "GenerateContent request.",
                   NULL);
      return -1;
    }
    pi->prompt_tokens += e->tokens;
    pi->cached = e->tokens;
    return 0;
  }
  /* implicit: the same prefix again, large enough, is served from the cache */
  if (c->cfg->implicit_cache && pi->prefix_tokens >= min_tokens(c, model, mlen) &&
      ptab_bump(c->prompts, pi->prefix_hash ^ 0x1e7c0ffeeULL) > 0)
    pi->cached = pi->prefix_tokens;
  return 0;
}
