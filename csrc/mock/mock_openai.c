/*
 * The OpenAI-compatible dialect: POST /v1/chat/completions, unary and `stream: true`.
 */
#include "mock.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static void oa_error(mresp *r, int status, const char *message, const char *type, const char *code) {
  mb_puts(&r->body, "{\"error\":{\"message\":");
  mb_jstr(&r->body, message, strlen(message));
  mb_puts(&r->body, ",\"type\":");
  mb_jstr(&r->body, type, strlen(type));
  mb_puts(&r->body, ",\"param\":null,\"code\":");
  if (code) mb_jstr(&r->body, code, strlen(code));
  else mb_puts(&r->body, "null");
  mb_puts(&r->body, "}}\n");
  r->status = status;
  r->ctype = "application/json";
}

static void content_text(const jnode *content, mbuf *out) {
  if (!content) return;
  if (content->type == JSTR) {
    mb_put(out, content->str, content->len);
    return;
  }
  if (content->type != JARR) return;
  for (const jnode *p = content->child; p; p = p->next) {
    const jnode *t = json_get(p, "text");
    if (t && t->type == JSTR) {
      if (out->len) mb_putc(out, '\n');
      mb_put(out, t->str, t->len);
    }
  }
}

static const char *extract(const jnode *root, prompt_info *pi, mbuf *user) {
  if (!root || root->type != JOBJ) return "The request body must be a JSON object.";
  const jnode *msgs = json_get(root, "messages");
  if (!msgs || msgs->type != JARR || !msgs->child) return "'messages' is a required property";
  size_t total = 0;
  const jnode *last_user = NULL;
  mbuf t;
  mb_init(&t);
  uint64_t h = 0x9e3779b9; /* every message but the last: what the prefix cache can serve */
  for (const jnode *m = msgs->child; m; m = m->next) {
    if (m->type != JOBJ) {
      mb_free(&t);
      return "Invalid type for 'messages': expected an array of objects.";
    }
    if (json_streq(json_get(m, "role"), "user")) last_user = m;
    pi->prefix_tokens = tokens_of(total);
    pi->prefix_hash = h;
    t.len = 0;
    content_text(json_get(m, "content"), &t);
    total += t.len;
    h = hash_bytes(t.p ? t.p : "", t.len, h);
  }
  mb_free(&t);
  if (last_user) content_text(json_get(last_user, "content"), user);
  pi->user = user->p ? user->p : "";
  pi->userlen = user->len;
  pi->prompt_tokens = tokens_of(total);
  if (pi->prompt_tokens < 1) pi->prompt_tokens = 1;
  const jnode *mo = json_get(root, "max_completion_tokens");
  if (!mo || mo->type != JNUM) mo = json_get(root, "max_tokens");
  if (mo && mo->type == JNUM && mo->num >= 1) pi->max_out = (long)mo->num;
  const jnode *rf = json_get(root, "response_format");
  if (json_streq(json_get(rf, "type"), "json_schema")) {
    const jnode *s = json_get(json_get(rf, "json_schema"), "schema");
    if (s && s->type == JOBJ) pi->schema = s;
  }
  const jnode *st = json_get(root, "stream");
  pi->stream = st && st->type == JTRUE;
  const jnode *iu = json_get(json_get(root, "stream_options"), "include_usage");
  pi->include_usage = iu && iu->type == JTRUE;
  return NULL;
}

/* One x-ratelimit-* group; `unit` is "requests" or "tokens". */
static void limit_headers(mbuf *h, const char *unit, double limit, double remaining, double reset_s) {
  char d[32];
  fmt_duration_go(d, sizeof d, reset_s);
  mb_printf(h, "x-ratelimit-limit-%s: %.0f\r\nx-ratelimit-remaining-%s: %.0f\r\nx-ratelimit-reset-%s: %s\r\n", unit,
            limit, unit, remaining > 0 ? floor(remaining) : 0, unit, d);
}

/* x-ratelimit-* headers, as OpenAI sends them on every response when limits apply. */
static void ratelimit_headers(mctx *c, mresp *r) {
  if (c->rpm->rate > 0)
    limit_headers(&r->extra_headers, "requests", c->cfg->rpm, bucket_level(c->rpm, c->now),
                  bucket_reset_s(c->rpm, c->now));
  if (c->tpm->rate > 0)
    limit_headers(&r->extra_headers, "tokens", c->cfg->tpm, bucket_level(c->tpm, c->now),
                  bucket_reset_s(c->tpm, c->now));
}

static void retry_headers(mresp *r, double s) {
  mb_printf(&r->extra_headers, "retry-after: %.0f\r\nretry-after-ms: %.0f\r\n", ceil(s), ceil(s * 1000));
}

typedef struct oout {
  const char *text; /* NULL = content null */
  size_t len;
  const char *finish;
  long prompt, completion, reasoning;
  long cached; /* prompt tokens served from the prefix cache */
  const char *model;
  size_t mlen;
  char id[48];
  long created;
} oout;

static void usage(mbuf *o, const oout *g) {
  mb_printf(o,
            "{\"prompt_tokens\":%ld,\"completion_tokens\":%ld,\"total_tokens\":%ld,"
            "\"prompt_tokens_details\":{\"cached_tokens\":%ld},"
            "\"completion_tokens_details\":{\"reasoning_tokens\":%ld}}",
            g->prompt, g->completion + g->reasoning, g->prompt + g->completion + g->reasoning, g->cached,
            g->reasoning);
}

static void chunk_head(mbuf *o, const oout *g) {
  mb_printf(o, "data: {\"id\":\"%s\",\"object\":\"chat.completion.chunk\",\"created\":%ld,\"model\":", g->id,
            g->created);
  mb_jstr(o, g->model, g->mlen);
  mb_puts(o, ",\"system_fingerprint\":\"fp_mock\",\"choices\":");
}

static void render(mresp *r, const oout *g, const prompt_info *pi) {
  mbuf *o = &r->body;
  r->status = 200;
  if (!pi->stream) {
    r->ctype = "application/json";
    mb_printf(o, "{\"id\":\"%s\",\"object\":\"chat.completion\",\"created\":%ld,\"model\":", g->id, g->created);
    mb_jstr(o, g->model, g->mlen);
    mb_puts(o, ",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":");
    if (g->text) mb_jstr(o, g->text, g->len);
    else mb_puts(o, "null");
    mb_printf(o, ",\"refusal\":null},\"logprobs\":null,\"finish_reason\":\"%s\"}],\"usage\":", g->finish);
    usage(o, g);
    mb_puts(o, ",\"system_fingerprint\":\"fp_mock\"}\n");
    return;
  }
  r->ctype = "text/event-stream";
  const char *nul = pi->include_usage ? ",\"usage\":null}\n\n" : "}\n\n";
  chunk_head(o, g);
  mb_puts(o, "[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}]");
  mb_puts(o, nul);
  size_t n = g->text ? g->len : 0, step = 400, at = 0;
  while (at < n) {
    size_t e = at + step < n ? utf8_cut(g->text, at + step) : n;
    if (e <= at) e = n;
    chunk_head(o, g);
    mb_puts(o, "[{\"index\":0,\"delta\":{\"content\":");
    mb_jstr(o, g->text + at, e - at);
    mb_puts(o, "},\"logprobs\":null,\"finish_reason\":null}]");
    mb_puts(o, nul);
    at = e;
  }
  chunk_head(o, g);
  mb_printf(o, "[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"%s\"}]", g->finish);
  mb_puts(o, nul);
  if (pi->include_usage) {
    chunk_head(o, g);
    mb_puts(o, "[],\"usage\":");
    usage(o, g);
    mb_puts(o, "}\n\n");
  }
  mb_puts(o, "data: [DONE]\n\n");
}

static void fault_error(mctx *c, mresp *r, const fault *f, const char *model, size_t mlen) {
  char msg[400];
  switch (f->kind) {
  case F_429: {
    double s = (double)fault_hint_ms(f) / 1000.0;
    char d[32];
    fmt_duration_go(d, sizeof d, s);
    snprintf(msg, sizeof msg,
             "Rate limit reached for %.*s in organization org-mock on requests per min (RPM): Limit %.0f, Used "
             "%.0f, Requested 1. Please try again in %s. Visit https://platform.openai.com/account/rate-limits "
             "to learn more.",
             (int)(mlen > 80 ? 80 : mlen), model, c->cfg->rpm > 0 ? c->cfg->rpm : 60,
             c->cfg->rpm > 0 ? c->cfg->rpm : 60, d);
    oa_error(r, 429, msg, "requests", "rate_limit_exceeded");
    retry_headers(r, s);
    if (c->rpm->rate <= 0) limit_headers(&r->extra_headers, "requests", 60, 0, s);
    break;
  }
  case F_429BARE: oa_error(r, 429, "Rate limit exceeded.", "requests", "rate_limit_exceeded"); break;
  case F_429DAY:
    snprintf(msg, sizeof msg,
             "Rate limit reached for %.*s in organization org-mock on requests per day (RPD): Limit 250, Used "
             "250, Requested 1. Visit https://platform.openai.com/account/rate-limits to learn more.",
             (int)(mlen > 80 ? 80 : mlen), model);
    oa_error(r, 429, msg, "requests", "rate_limit_exceeded");
    break;
  case F_QUOTA:
    oa_error(r, 429,
             "You exceeded your current quota, please check your plan and billing details. For more information "
             "on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.",
             "insufficient_quota", "insufficient_quota");
    break;
  case F_400: oa_error(r, 400, "Invalid request.", "invalid_request_error", NULL); break;
  case F_401:
    oa_error(r, 401,
             "Incorrect API key provided: sk-mock****. You can find your API key at "
             "https://platform.openai.com/account/api-keys.",
             "invalid_request_error", "invalid_api_key");
    break;
  case F_403:
    oa_error(r, 403, "Country, region, or territory not supported", "request_forbidden",
             "unsupported_country_region_territory");
    break;
  case F_404:
    snprintf(msg, sizeof msg, "The model `%.*s` does not exist or you do not have access to it.",
             (int)(mlen > 80 ? 80 : mlen), model);
    oa_error(r, 404, msg, "invalid_request_error", "model_not_found");
    break;
  case F_500:
    oa_error(r, 500, "The server had an error while processing your request. Sorry about that!", "server_error",
             NULL);
    break;
  case F_503: oa_error(r, 503, "The model is overloaded. Please try again later.", "server_error", NULL); break;
  case F_504: oa_error(r, 504, "Request timed out.", "server_error", NULL); break;
  default: break;
  }
}

void openai_handle(mctx *c, const mreq *q, mresp *r) {
  if (c->cfg->has_key) {
    size_t kl = strlen(c->cfg->api_key);
    int ok = q->auth && q->authlen == kl + 7 && strncmp(q->auth, "Bearer ", 7) == 0 &&
             memcmp(q->auth + 7, c->cfg->api_key, kl) == 0;
    if (!ok) {
      oa_error(r, 401,
               "Incorrect API key provided. You can find your API key at "
               "https://platform.openai.com/account/api-keys.",
               "invalid_request_error", "invalid_api_key");
      return;
    }
  }
  jnode *root;
  jdoc *doc = json_parse(q->body, q->bodylen, &root);
  prompt_info pi;
  memset(&pi, 0, sizeof pi);
  mbuf user, ans;
  mb_init(&user);
  mb_init(&ans);
  const char *err = root ? extract(root, &pi, &user) : NULL;
  if (!root || err) {
    oa_error(r, 400,
             root ? err
                  : "We could not parse the JSON body of your request. (HINT: This likely means you aren't using "
                    "your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not "
                    "valid JSON.)",
             "invalid_request_error", NULL);
    goto done;
  }
  const jnode *mn = json_get(root, "model");
  const char *model = mn && mn->type == JSTR ? mn->str : "gpt-mock";
  size_t mlen = mn && mn->type == JSTR ? mn->len : 8;
  cache_apply(c, &pi, model, mlen, r); /* implicit prefix cache only: never fails */
  make_answer(c, &pi, &ans);
  decision d;
  decide(c, &pi, ans.len, &d);
  hostile_answer(&d.f, &ans);
  ratelimit_headers(c, r);
  if (d.rate_limited) {
    char dur[32], msg[400];
    fmt_duration_go(dur, sizeof dur, d.retry_s);
    int rq = d.rate_limited == 1;
    snprintf(msg, sizeof msg,
             "Rate limit reached for %.*s in organization org-mock on %s: Limit %.0f. Please try again in %s. "
             "Visit https://platform.openai.com/account/rate-limits to learn more.",
             (int)(mlen > 80 ? 80 : mlen), model, rq ? "requests per min (RPM)" : "tokens per min (TPM)",
             rq ? c->cfg->rpm : c->cfg->tpm, dur);
    oa_error(r, 429, msg, rq ? "requests" : "tokens", "rate_limit_exceeded");
    retry_headers(r, d.retry_s);
    goto done;
  }
  oout g;
  memset(&g, 0, sizeof g);
  g.text = ans.p ? ans.p : "";
  g.len = ans.len;
  g.finish = "stop";
  g.prompt = pi.prompt_tokens;
  g.cached = pi.cached;
  g.model = model;
  g.mlen = mlen;
  g.created = (long)time(NULL);
  snprintf(g.id, sizeof g.id, "chatcmpl-%016llx",
           (unsigned long long)(hash_bytes(pi.user, pi.userlen, c->cfg->seed) ^ (uint64_t)(c->now * 1e6)));
  if (pi.max_out > 0 && tokens_of(g.len) > pi.max_out) {
    g.len = utf8_cut(g.text, (size_t)pi.max_out * 4);
    g.finish = "length";
  }
  int k = d.f.kind;
  switch (k) {
  case F_EMPTY: g.len = 0; break;
  case F_MAXTOKENS:
    g.len = utf8_cut(g.text, g.len / 3);
    g.finish = "length";
    break;
  case F_THOUGHT:
    g.len = 0;
    g.finish = "length";
    g.reasoning = pi.max_out > 0 ? pi.max_out : 64;
    break;
  case F_SAFETY:
  case F_RECITATION:
  case F_BLOCKED:
    g.text = NULL;
    g.len = 0;
    g.finish = "content_filter";
    break;
  default: break;
  }
  g.completion = g.text && k != F_THOUGHT ? tokens_of(g.len) : 0;
  if (fault_is_http_error(k)) fault_error(c, r, &d.f, model, mlen);
  else render(r, &g, &pi);
  if (k == F_MALFORMED) {
    size_t cut = r->body.len / 2;
    if (cut > 60) cut = 60;
    r->body.len = cut;
    if (pi.stream) mb_puts(&r->body, "\n\n");
  }
  if (k == F_MIDSTREAM) {
    if (pi.stream) {
      /* the role chunk and one content chunk, then an error event and no [DONE] */
      const char *e = memmem(r->body.p, r->body.len, "\n\ndata: ", 8);
      e = e ? memmem(e + 2, r->body.len - (size_t)(e + 2 - r->body.p), "\n\ndata: ", 8) : NULL;
      if (e) r->body.len = (size_t)(e - r->body.p) + 2;
      mb_puts(&r->body, "data: {\"error\":{\"message\":\"The server had an error while processing your request. "
                        "Sorry about that!\",\"type\":\"server_error\",\"param\":null,\"code\":null}}\n\n");
    } else {
      r->action = ACT_TRUNCATE;
    }
  }
  fault_response(r, q, &d.f, pi.stream ? "\n\n" : NULL, 1);
done:
  mb_free(&ans);
  mb_free(&user);
  json_free(doc);
}
