/*
 * Routing and the parts both dialects share: which fault (if any) a request gets, the
 * rate limit, the answer text, and duration formatting.
 */
#include "mock.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static int path_is(const mreq *q, const char *p) {
  return q->pathlen == strlen(p) && memcmp(q->path, p, q->pathlen) == 0;
}

const char *query_param(const mreq *q, const char *name, size_t *vlen) {
  if (!q->query) return NULL; /* no '?': even NULL + 0 would be undefined */
  size_t nl = strlen(name);
  const char *p = q->query, *end = q->query + q->querylen;
  while (p < end) {
    const char *amp = memchr(p, '&', (size_t)(end - p));
    const char *e = amp ? amp : end;
    if ((size_t)(e - p) > nl && memcmp(p, name, nl) == 0 && p[nl] == '=') {
      if (vlen) *vlen = (size_t)(e - p) - nl - 1;
      return p + nl + 1;
    }
    p = e + 1;
  }
  return NULL;
}

static int path_starts(const mreq *q, const char *p) {
  size_t l = strlen(p);
  return q->pathlen >= l && memcmp(q->path, p, l) == 0;
}

static void not_found(mresp *r, const mreq *q) {
  char msg[300];
  snprintf(msg, sizeof msg, "The requested URL %.*s was not found on this server.",
           (int)(q->pathlen > 200 ? 200 : q->pathlen), q->path);
  gemini_error(r, 404, "NOT_FOUND", msg, NULL);
}

void route_request(mctx *c, const mreq *q, mresp *r) {
  if (path_is(q, "/stats")) {
    if (q->method == MGET) {
      r->status = 200;
      r->ctype = "application/json";
      stats_json(c->stats, &r->body, mono_now());
      mb_putc(&r->body, '\n');
      return;
    }
    if (q->method == MDELETE) {
      stats_reset(c->stats);
      r->status = 200;
      r->ctype = "application/json";
      mb_puts(&r->body, "{\"reset\":true}\n");
      return;
    }
    not_found(r, q);
    return;
  }
  r->counted = 1;
  stats_request(c->stats, c->now, query_param(q, "key", NULL) != NULL);
  stats_add(c->stats, ST_REQUEST_BYTES, q->bodylen);
  if (path_is(q, "/v1beta/cachedContents") || path_starts(q, "/v1beta/cachedContents/")) {
    cache_route(c, q, r);
    return;
  }
  if (batch_route(c, q, r)) return;

  if (q->method == MPOST && (path_starts(q, "/v1beta/models/") || path_starts(q, "/v1/models/"))) {
    /* both prefixes are "/version/models/", so the model starts after the third slash */
    const char *m = memchr(q->path + 1, '/', q->pathlen - 1);
    m = (const char *)memchr(m + 1, '/', q->pathlen - (size_t)(m + 1 - q->path)) + 1;
    const char *colon = memchr(m, ':', q->pathlen - (size_t)(m - q->path));
    if (colon && colon > m) {
      const char *op = colon + 1;
      size_t ol = q->pathlen - (size_t)(op - q->path);
      int gop = -1;
      if (ol == 15 && memcmp(op, "generateContent", 15) == 0) gop = GOP_GENERATE;
      else if (ol == 21 && memcmp(op, "streamGenerateContent", 21) == 0) gop = GOP_STREAM;
      else if (ol == 11 && memcmp(op, "countTokens", 11) == 0) gop = GOP_COUNT;
      if (ol == 20 && memcmp(op, "batchGenerateContent", 20) == 0) {
        gemini_batch_create(c, q, m, (size_t)(colon - m), r);
        return;
      }
      if (gop >= 0) {
        gemini_handle(c, q, m, (size_t)(colon - m), gop, r);
        return;
      }
    }
  }
  if (q->method == MPOST && (path_is(q, "/v1/chat/completions") || path_is(q, "/chat/completions") ||
                             path_is(q, "/v1beta/openai/chat/completions"))) {
    openai_handle(c, q, r);
    return;
  }
  not_found(r, q);
}

/* The prompt without its [[mock:...]] directives, so answers quote the clean title even
 * when the directive sits on the title line or on a line of its own. */
static void strip_directives(const char *t, size_t n, mbuf *out) {
  size_t i = 0;
  for (;;) {
    const char *d = memmem(t + i, n - i, "[[mock:", 7);
    const char *e = d ? memmem(d, n - (size_t)(d - t), "]]", 2) : NULL;
    if (!e) break;
    mb_put(out, t + i, (size_t)(d - (t + i)));
    i = (size_t)(e - t) + 2;
  }
  mb_put(out, t + i, n - i);
}

void make_answer(mctx *c, const prompt_info *pi, mbuf *out) {
  mbuf clean;
  mb_init(&clean);
  strip_directives(pi->user, pi->userlen, &clean);
  const char *t;
  size_t tl;
  answer_title(clean.p ? clean.p : "", clean.len, &t, &tl);
  char title[512];
  if (tl > sizeof title - 1) tl = utf8_cut(t, sizeof title - 1);
  memcpy(title, t, tl);
  title[tl] = '\0';
  mb_free(&clean);
  uint64_t seed = hash_bytes(pi->user, pi->userlen, c->cfg->seed);
  if (pi->schema) answer_schema(out, pi->schema, title, tl, seed);
  else answer_markdown(out, title, tl, seed, c->cfg->answer_words);
}

void decide(mctx *c, const prompt_info *pi, size_t alen, decision *d) {
  memset(d, 0, sizeof *d);
  d->f.kind = F_NONE;
  d->f.param_ms = -1;
  long ans = tokens_of(alen);
  if (pi->max_out > 0 && ans > pi->max_out) ans = pi->max_out;
  d->answer_tokens = ans;
  /* one draw per request whatever happens, so the sequence depends only on arrival order */
  double u = c->rng ? rng_unit(c->rng) : 1.0;

  double w = bucket_take(c->rpm, 1, c->now);
  if (w > 0) {
    d->rate_limited = 1;
    d->retry_s = w;
  } else {
    w = bucket_take(c->tpm, (double)(pi->prompt_tokens + ans), c->now);
    if (w > 0) {
      bucket_refund(c->rpm, 1); /* the request was not admitted after all */
      d->rate_limited = 2;
      d->retry_s = w;
    }
  }
  if (d->rate_limited) {
    stats_rate_limited(c->stats);
    return;
  }
  /* what a rate limit counts: a fleet's share of its tokens limit is read from it */
  stats_add(c->stats, ST_TOKENS_ADMITTED, (uint64_t)(pi->prompt_tokens + ans));
  uint64_t nth = ptab_bump(c->prompts, hash_bytes(pi->user, pi->userlen, 0));
  d->f = directive_fault(pi->user, pi->userlen, nth);
  if (d->f.kind == F_NONE) {
    double acc = 0;
    for (int i = 0; i < c->cfg->faults.n; i++) {
      acc += c->cfg->faults.rules[i].prob;
      if (u < acc) {
        d->f = c->cfg->faults.rules[i].f;
        break;
      }
    }
  }
  if (d->f.kind != F_NONE) stats_fault(c->stats, d->f.kind);
  if (d->f.kind == F_429) stats_hinted(c->stats, fault_hint_ms(&d->f));
}

/* protobuf Duration text: "2s", "1.250s" */
void fmt_duration_pb(char *out, size_t n, double s) {
  if (s < 0) s = 0;
  double ms = ceil(s * 1000);
  if (fmod(ms, 1000) == 0) snprintf(out, n, "%.0fs", ms / 1000);
  else snprintf(out, n, "%.3fs", ms / 1000);
}

/* Go duration text as OpenAI's headers use: "12ms", "1.2s", "6m0s" */
void fmt_duration_go(char *out, size_t n, double s) {
  if (s < 0) s = 0;
  if (s < 1) {
    snprintf(out, n, "%.0fms", ceil(s * 1000));
  } else if (s < 60) {
    double t = ceil(s * 1000) / 1000;
    snprintf(out, n, "%gs", t);
  } else {
    long m = (long)(s / 60);
    double rest = ceil((s - (double)m * 60) * 1000) / 1000;
    snprintf(out, n, "%ldm%gs", m, rest);
  }
}

void gemini_error(mresp *r, int code, const char *status, const char *message, const char *details) {
  mbuf t;
  mb_init(&t);
  mb_printf(&t, "{\"error\":{\"code\":%d,\"message\":", code);
  mb_jstr(&t, message, strlen(message));
  mb_puts(&t, ",\"status\":");
  mb_jstr(&t, status, strlen(status));
  if (details) {
    mb_puts(&t, ",\"details\":");
    mb_puts(&t, details);
  }
  mb_puts(&t, "}}");
  r->body.len = 0;
  json_format(&r->body, t.p, t.len, 1);
  mb_putc(&r->body, '\n');
  mb_free(&t);
  r->status = code;
  r->ctype = "application/json; charset=UTF-8";
}

/* What Google's front end serves for a path it does not know, as a Vertex capture shows. */
void html_404(mresp *r, const mreq *q) {
  r->status = 404;
  r->ctype = "text/html; charset=UTF-8";
  r->body.len = 0;
  mb_puts(&r->body,
          "<!DOCTYPE html>\n<html lang=en>\n  <meta charset=utf-8>\n  <title>Error 404 (Not Found)!!1</title>\n"
          "  <p><b>404.</b> <ins>That\u2019s an error.</ins>\n  <p>The requested URL <code>");
  mb_put(&r->body, q->path, q->pathlen > 200 ? 200 : q->pathlen);
  mb_puts(&r->body, "</code> was not found on this server.  <ins>That\u2019s all we know.</ins>\n");
}
