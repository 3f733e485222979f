/*
 * The Gemini dialect: generateContent, streamGenerateContent (SSE or JSON array) and
 * countTokens, with the error bodies Google really sends (see the wire notes).
 */
#include "mock.h"

#include <stdio.h>
#include <string.h>

#define HELP_DETAIL                                                                                          \
  "{\"@type\":\"type.googleapis.com/google.rpc.Help\",\"links\":[{\"description\":\"Learn more about Gemini " \
  "API quotas\",\"url\":\"https://ai.google.dev/gemini-api/docs/rate-limits\"}]}"

#define SAFETY_RATINGS                                                                                        \
  "[{\"category\":\"HARM_CATEGORY_HATE_SPEECH\",\"probability\":\"NEGLIGIBLE\"},{\"category\":"              \
  "\"HARM_CATEGORY_DANGEROUS_CONTENT\",\"probability\":\"HIGH\",\"blocked\":true},{\"category\":"            \
  "\"HARM_CATEGORY_HARASSMENT\",\"probability\":\"NEGLIGIBLE\"},{\"category\":"                               \
  "\"HARM_CATEGORY_SEXUALLY_EXPLICIT\",\"probability\":\"NEGLIGIBLE\"}]"

enum { GK_TEXT, GK_EMPTY, GK_THOUGHT, GK_SAFETY, GK_RECITATION, GK_BLOCKED };

typedef struct gout {
  int kind;
  const char *text;
  size_t len;
  const char *finish;
  long prompt, thoughts; /* thoughts: thinking tokens reported alongside a text answer too */
  long cached;          /* prompt tokens served from a cache */
  const char *model;
  size_t mlen;
  char rid[32];
} gout;

static void append_text_of(mbuf *all, const jnode *content, mbuf *user) {
  const jnode *parts = json_get(content, "parts");
  if (!parts || parts->type != JARR) return;
  for (const jnode *p = parts->child; p; p = p->next) {
    const jnode *t = json_get(p, "text");
    if (!t || t->type != JSTR) continue;
    if (all) mb_put(all, t->str, t->len);
    if (user) {
      if (user->len) mb_putc(user, '\n');
      mb_put(user, t->str, t->len);
    }
  }
}

/* Fills pi from a request body; returns an error message for a 400, or NULL. */
static const char *extract(const jnode *root, int op, prompt_info *pi, mbuf *user) {
  if (!root || root->type != JOBJ) return "Invalid JSON payload received. Expected an object.";
  if (op == GOP_COUNT) {
    const jnode *g = json_get(root, "generateContentRequest");
    if (g && g->type == JOBJ) root = g;
  }
  const jnode *contents = json_get(root, "contents");
  if (!contents || contents->type != JARR || !contents->child)
    return "* GenerateContentRequest.contents: contents is not specified\n";
  size_t total = 0;
  const jnode *last_user = NULL;
  mbuf all;
  mb_init(&all);
  const jnode *si = json_get2(root, "systemInstruction", "system_instruction");
  /* the prefix (system instruction, then every content but the last) is what an
   * implicit cache can serve again */
  uint64_t h = 0x9e3779b9;
  if (si) {
    append_text_of(&all, si, NULL);
    total += all.len;
    h = hash_bytes(all.p ? all.p : "", all.len, h);
    pi->has_system = 1;
  }
  for (const jnode *c = contents->child; c; c = c->next) {
    if (c->type != JOBJ) {
      mb_free(&all);
      return "Invalid JSON payload received. Expected an object in 'contents'.";
    }
    const jnode *role = json_get(c, "role");
    if (!role || json_streq(role, "user")) last_user = c;
    pi->prefix_tokens = tokens_of(total);
    pi->prefix_hash = h;
    all.len = 0;
    append_text_of(&all, c, NULL);
    total += all.len;
    h = hash_bytes(all.p ? all.p : "", all.len, h);
  }
  mb_free(&all);
  const jnode *cc = json_get2(root, "cachedContent", "cached_content");
  if (cc && cc->type == JSTR) {
    pi->cache_name = cc->str;
    pi->cache_namelen = cc->len;
  }
  if (last_user) append_text_of(NULL, last_user, user);
  pi->user = user->p ? user->p : "";
  pi->userlen = user->len;
  pi->prompt_tokens = tokens_of(total);
  if (pi->prompt_tokens < 1) pi->prompt_tokens = 1;
  const jnode *gc = json_get2(root, "generationConfig", "generation_config");
  const jnode *mo = json_get2(gc, "maxOutputTokens", "max_output_tokens");
  if (mo && mo->type == JNUM && mo->num >= 1) pi->max_out = (long)mo->num;
  const jnode *js = json_get2(gc, "responseJsonSchema", "response_json_schema");
  if (!js) {
    const jnode *mime = json_get2(gc, "responseMimeType", "response_mime_type");
    const jnode *rs = json_get2(gc, "responseSchema", "response_schema");
    if (rs && json_streq(mime, "application/json")) js = rs;
  }
  if (js && js->type == JOBJ) pi->schema = js;
  const jnode *tb = json_get2(json_get2(gc, "thinkingConfig", "thinking_config"), "thinkingBudget", "thinking_budget");
  if (tb && tb->type == JNUM && tb->num > 0) pi->thinking = tb->num < 48 ? (long)tb->num : 48;
  return NULL;
}

static void usage(mbuf *o, long prompt, long cand, long thoughts, long cached) {
  mb_printf(o, "\"usageMetadata\":{\"promptTokenCount\":%ld,", prompt);
  if (cached > 0)
    mb_printf(o, "\"cachedContentTokenCount\":%ld,\"cacheTokensDetails\":[{\"modality\":\"TEXT\",\"tokenCount\":%ld}],",
              cached, cached);
  if (cand > 0) mb_printf(o, "\"candidatesTokenCount\":%ld,", cand);
  mb_printf(o, "\"totalTokenCount\":%ld,\"promptTokensDetails\":[{\"modality\":\"TEXT\",\"tokenCount\":%ld}]",
            prompt + cand + thoughts, prompt);
  if (thoughts > 0) mb_printf(o, ",\"thoughtsTokenCount\":%ld", thoughts);
  mb_putc(o, '}');
}

/* One GenerateContentResponse, compact. text/len is this chunk's text, cand the
 * cumulative candidate tokens, finish NULL on non-final stream chunks. */
static void response_obj(mbuf *o, const gout *g, const char *text, size_t len, long cand, const char *finish) {
  mb_putc(o, '{');
  switch (g->kind) {
  case GK_BLOCKED:
    mb_puts(o, "\"promptFeedback\":{\"blockReason\":\"SAFETY\",\"safetyRatings\":" SAFETY_RATINGS "},");
    usage(o, g->prompt, 0, 0, g->cached);
    break;
  case GK_SAFETY:
    mb_puts(o, "\"candidates\":[{\"finishReason\":\"SAFETY\",\"index\":0,\"safetyRatings\":" SAFETY_RATINGS "}],");
    usage(o, g->prompt, 0, 0, g->cached);
    break;
  case GK_RECITATION:
    mb_puts(o, "\"candidates\":[{\"finishReason\":\"RECITATION\",\"index\":0,\"citationMetadata\":{"
               "\"citationSources\":[{\"startIndex\":0,\"endIndex\":120,\"uri\":\"https://example.com/source\"}]}}],");
    usage(o, g->prompt, 0, 0, g->cached);
    break;
  case GK_THOUGHT:
    mb_puts(o, "\"candidates\":[{\"content\":{\"parts\":[{\"text\":");
    mb_jstr(o, text, len);
    mb_puts(o, ",\"thought\":true}],\"role\":\"model\"},\"finishReason\":\"MAX_TOKENS\",\"index\":0}],");
    usage(o, g->prompt, 0, g->thoughts, g->cached);
    break;
  default:
    mb_puts(o, "\"candidates\":[{\"content\":{\"parts\":[{\"text\":");
    mb_jstr(o, text, len);
    mb_puts(o, "}],\"role\":\"model\"}");
    if (finish) mb_printf(o, ",\"finishReason\":\"%s\"", finish);
    mb_puts(o, ",\"index\":0}],");
    usage(o, g->prompt, cand, g->thoughts, g->cached);
  }
  mb_puts(o, ",\"modelVersion\":");
  mb_jstr(o, g->model, g->mlen);
  mb_printf(o, ",\"responseId\":\"%s\"}", g->rid);
}

/* Splits the answer into a few stream chunks on character boundaries. */
static int chunk_bounds(const char *s, size_t n, size_t *cuts, int maxc) {
  int k = (int)((n + 599) / 600);
  if (k < 1) k = 1;
  if (k > maxc) k = maxc;
  int m = 0;
  for (int i = 1; i < k; i++) {
    size_t c = utf8_cut(s, n * (size_t)i / (size_t)k);
    if (m == 0 ? c > 0 : c > cuts[m - 1]) cuts[m++] = c;
  }
  cuts[m++] = n;
  return m;
}

static void render(mresp *r, const gout *g, int op, int sse) {
  mbuf t;
  mb_init(&t);
  r->status = 200;
  if (op == GOP_GENERATE) {
    response_obj(&t, g, g->text, g->len, tokens_of(g->len), g->finish);
    json_format(&r->body, t.p, t.len, 1);
    mb_putc(&r->body, '\n');
    r->ctype = "application/json; charset=UTF-8";
    mb_free(&t);
    return;
  }
  size_t cuts[8];
  int m = (g->kind == GK_TEXT) ? chunk_bounds(g->text, g->len, cuts, 8) : 1;
  if (g->kind != GK_TEXT) cuts[0] = g->len;
  size_t prev = 0;
  if (!sse) mb_putc(&r->body, '[');
  for (int i = 0; i < m; i++) {
    t.len = 0;
    int last = i == m - 1;
    response_obj(&t, g, g->text + prev, cuts[i] - prev, tokens_of(cuts[i]), last ? g->finish : NULL);
    prev = cuts[i];
    if (sse) {
      mb_puts(&r->body, "data: ");
      json_format(&r->body, t.p, t.len, 0);
      mb_puts(&r->body, "\r\n\r\n");
    } else {
      json_format(&r->body, t.p, t.len, 1);
      mb_puts(&r->body, last ? "\n]" : ",\n");
    }
  }
  r->ctype = sse ? "text/event-stream" : "application/json; charset=UTF-8";
  if (sse) mb_puts(&r->extra_headers, "Content-Disposition: attachment\r\n");
  mb_free(&t);
}

static void quota_429(mresp *r, const char *model, size_t mlen, const char *quota_id, const char *metric,
                      long value, double retry_s, int help_first) {
  mbuf d;
  mb_init(&d);
  mb_puts(&d, "[");
  if (help_first) mb_puts(&d, HELP_DETAIL ",");
  mb_printf(&d,
            "{\"@type\":\"type.googleapis.com/google.rpc.QuotaFailure\",\"violations\":[{\"quotaMetric\":"
            "\"generativelanguage.googleapis.com/%s\",\"quotaId\":\"%s\",\"quotaDimensions\":{\"location\":"
            "\"global\",\"model\":",
            metric, quota_id);
  mb_jstr(&d, model, mlen);
  mb_printf(&d, "},\"quotaValue\":\"%ld\"}]}", value);
  if (!help_first) mb_puts(&d, "," HELP_DETAIL);
  if (retry_s >= 0) {
    char dur[32];
    fmt_duration_pb(dur, sizeof dur, retry_s);
    mb_printf(&d, ",{\"@type\":\"type.googleapis.com/google.rpc.RetryInfo\",\"retryDelay\":\"%s\"}", dur);
  }
  mb_puts(&d, "]");
  gemini_error(r, 429, "RESOURCE_EXHAUSTED",
               "You exceeded your current quota, please check your plan and billing details. For more "
               "information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.",
               d.p);
  mb_free(&d);
}

static int key_ok(const mctx *c, const mreq *q, char *bad, size_t badn) {
  if (!c->cfg->has_key) return 1;
  size_t kl = strlen(c->cfg->api_key);
  const char *k = q->goog_key;
  size_t l = q->goog_keylen;
  if (!k) k = query_param(q, "key", &l);
  if (k && l == kl && memcmp(k, c->cfg->api_key, kl) == 0) return 1;
  snprintf(bad, badn, "%.*s", k ? (int)(l > 64 ? 64 : l) : 0, k ? k : "");
  return 0;
}

static void fault_error(mresp *r, const fault *f, const char *model, size_t mlen) {
  char msg[400];
  switch (f->kind) {
  case F_429:
    quota_429(r, model, mlen, "GenerateRequestsPerMinutePerProjectPerModel", "generate_content_requests", 60,
              (double)fault_hint_ms(f) / 1000.0, 0);
    break;
  case F_429BARE:
    gemini_error(r, 429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota).", NULL);
    break;
  case F_429DAY:
  case F_QUOTA:
    quota_429(r, model, mlen, "GenerateRequestsPerDayPerProjectPerModel", "generate_content_requests_per_day",
              250, -1, 0);
    break;
  case F_400: gemini_error(r, 400, "INVALID_ARGUMENT", "Request contains an invalid argument.", NULL); break;
  case F_401:
    gemini_error(r, 401, "UNAUTHENTICATED",
                 "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or "
                 "other valid authentication credential.",
                 NULL);
    break;
  case F_403:
    gemini_error(
        r, 403, "PERMISSION_DENIED",
        "Generative Language API has not been used in project 12345678 before or it is disabled. Enable it by "
        "visiting https://console.developers.google.com/apis/api/generativelanguage.googleapis.com/"
        "overview?project=12345678 then retry. If you enabled this API recently, wait a few minutes for the "
        "action to propagate to our systems and retry.",
        "[{\"@type\":\"type.googleapis.com/google.rpc.Help\",\"links\":[{\"description\":\"Google developers "
        "console API activation\",\"url\":\"https://console.developers.google.com/apis/api/"
        "generativelanguage.googleapis.com/overview?project=12345678\"}]},{\"@type\":\"type.googleapis.com/"
        "google.rpc.ErrorInfo\",\"reason\":\"SERVICE_DISABLED\",\"domain\":\"googleapis.com\",\"metadata\":{"
        "\"service\":\"generativelanguage.googleapis.com\",\"consumer\":\"projects/12345678\"}}]");
    break;
  case F_404:
    snprintf(msg, sizeof msg,
             "models/%.*s is not found for API version v1beta, or is not supported for generateContent. Call "
             "ListModels to see the list of available models and their supported methods.",
             (int)(mlen > 100 ? 100 : mlen), model);
    gemini_error(r, 404, "NOT_FOUND", msg, NULL);
    break;
  case F_500:
    gemini_error(r, 500, "INTERNAL",
                 "An internal error has occurred. Please retry or report in "
                 "https://developers.generativeai.google/guide/troubleshooting",
                 NULL);
    break;
  case F_503: gemini_error(r, 503, "UNAVAILABLE", "The model is overloaded. Please try again later.", NULL); break;
  case F_504:
    gemini_error(r, 504, "DEADLINE_EXCEEDED", "The service is unable to finish processing within the deadline.",
                 NULL);
    break;
  default: break;
  }
}

void gemini_handle(mctx *c, const mreq *q, const char *model, size_t mlen, int op, mresp *r) {
  size_t altlen;
  const char *alt = query_param(q, "alt", &altlen);
  int sse = alt && altlen == 3 && memcmp(alt, "sse", 3) == 0;
  char bad[80];
  if (!key_ok(c, q, bad, sizeof bad)) {
    mbuf det;
    mb_init(&det);
    mb_puts(&det,
            "[{\"@type\":\"type.googleapis.com/google.rpc.ErrorInfo\",\"reason\":\"API_KEY_INVALID\",\"domain\":"
            "\"googleapis.com\",\"metadata\":{\"service\":\"generativelanguage.googleapis.com\"}},{\"@type\":"
            "\"type.googleapis.com/google.rpc.LocalizedMessage\",\"locale\":\"en-US\",\"message\":\"API key not "
            "valid. Please pass a valid API key.\"},{\"@type\":\"type.googleapis.com/google.rpc.DebugInfo\","
            "\"detail\":");
    /* echo only a prefix: a wrong key is often a real key for something else */
    char dbg[120];
    snprintf(dbg, sizeof dbg, "Invalid API key: %.4s%s", bad, strlen(bad) > 4 ? "..." : "");
    mb_jstr(&det, dbg, strlen(dbg));
    mb_puts(&det, "}]");
    gemini_error(r, 400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.", det.p);
    mb_free(&det);
    if (op == GOP_STREAM && sse) r->ctype = "text/event-stream";
    return;
  }
  jnode *root;
  jdoc *doc = json_parse(q->body, q->bodylen, &root);
  prompt_info pi;
  memset(&pi, 0, sizeof pi);
  mbuf user, ans;
  mb_init(&user);
  mb_init(&ans);
  const char *err = root ? extract(root, op, &pi, &user) : NULL;
  if (!root || err) {
    char msg[200];
    if (!root) snprintf(msg, sizeof msg, "Invalid JSON payload received. Unexpected token.");
    else snprintf(msg, sizeof msg, "%s", err);
    gemini_error(r, 400, "INVALID_ARGUMENT", msg, NULL);
    if (op == GOP_STREAM && sse) r->ctype = "text/event-stream";
    goto done;
  }
  if (op == GOP_COUNT) {
    r->status = 200;
    mbuf t;
    mb_init(&t);
    mb_printf(&t, "{\"totalTokens\":%ld,\"promptTokensDetails\":[{\"modality\":\"TEXT\",\"tokenCount\":%ld}]}",
              pi.prompt_tokens, pi.prompt_tokens);
    json_format(&r->body, t.p, t.len, 1);
    mb_putc(&r->body, '\n');
    mb_free(&t);
    goto done;
  }
  if (cache_apply(c, &pi, model, mlen, r) < 0) { /* countTokens has returned above */
    if (op == GOP_STREAM && sse) r->ctype = "text/event-stream";
    goto done;
  }
  make_answer(c, &pi, &ans);
  decision d;
  decide(c, &pi, ans.len, &d);
  hostile_answer(&d.f, &ans);
  if (d.rate_limited) {
    if (d.rate_limited == 1)
      quota_429(r, model, mlen, "GenerateRequestsPerMinutePerProjectPerModel", "generate_content_requests",
                (long)c->cfg->rpm, d.retry_s, 0);
    else
      quota_429(r, model, mlen, "GenerateContentInputTokensPerModelPerMinute", "generate_content_input_token_count",
                (long)c->cfg->tpm, d.retry_s, 0);
    if (op == GOP_STREAM && sse) r->ctype = "text/event-stream";
    goto done;
  }
  gout g;
  memset(&g, 0, sizeof g);
  g.kind = GK_TEXT;
  g.text = ans.p;
  g.len = ans.len;
  g.finish = "STOP";
  g.prompt = pi.prompt_tokens;
  g.cached = pi.cached;
  g.thoughts = pi.thinking;
  g.model = model;
  g.mlen = mlen;
  {
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    rng idr = {hash_bytes(pi.user, pi.userlen, c->cfg->seed) ^ (uint64_t)(c->now * 1e6)};
    for (int i = 0; i < 23; i++) g.rid[i] = b64[rng_next(&idr) & 63];
  }
  if (pi.max_out > 0 && tokens_of(g.len) > pi.max_out) {
    g.len = utf8_cut(g.text, (size_t)pi.max_out * 4);
    g.finish = "MAX_TOKENS";
  }
  int k = d.f.kind;
  if (fault_is_http_error(k)) {
    fault_error(r, &d.f, model, mlen);
    if (op == GOP_STREAM && sse) r->ctype = "text/event-stream";
  } else switch (k) {
  case F_EMPTY:
    g.len = 0;
    render(r, &g, op, sse);
    break;
  case F_MAXTOKENS:
    g.len = utf8_cut(g.text, g.len / 3);
    g.finish = "MAX_TOKENS";
    render(r, &g, op, sse);
    break;
  case F_THOUGHT: {
    mbuf th;
    mb_init(&th);
    const char *t;
    size_t tl;
    answer_title(pi.user, pi.userlen, &t, &tl);
    mb_puts(&th, "**Planning the chapter**\n\nI need to outline ");
    mb_put(&th, t, tl);
    mb_puts(&th, " before writing it, weighing which ideas come first.\n");
    g.kind = GK_THOUGHT;
    g.thoughts = pi.max_out > 0 ? pi.max_out : tokens_of(th.len);
    g.text = th.p;
    g.len = th.len;
    render(r, &g, op, sse);
    mb_free(&th);
    break;
  }
  case F_SAFETY: g.kind = GK_SAFETY; render(r, &g, op, sse); break;
  case F_RECITATION: g.kind = GK_RECITATION; render(r, &g, op, sse); break;
  case F_BLOCKED: g.kind = GK_BLOCKED; render(r, &g, op, sse); break;
  default: render(r, &g, op, sse); break;
  }
  if (k == F_MALFORMED) {
    /* cut inside the first string so no parser can accept it */
    const char *qt = memchr(r->body.p, '"', r->body.len);
    size_t cut = qt ? (size_t)(qt - r->body.p) + 30 : r->body.len / 2;
    if (cut > r->body.len / 2) cut = r->body.len / 2;
    r->body.len = cut;
    mb_puts(&r->body, sse ? "\r\n\r\n" : "");
  }
  if (k == F_MIDSTREAM) {
    if (op == GOP_STREAM && sse) {
      /* keep the first event, then the bare error object Google sends when a stream dies */
      const char *e = memmem(r->body.p, r->body.len, "\r\n\r\n", 4);
      if (e) r->body.len = (size_t)(e - r->body.p) + 4;
      mb_puts(&r->body, "{\n  \"error\": {\n    \"code\": 499,\n    \"message\": \"The operation was cancelled.\",\n"
                        "    \"status\": \"CANCELLED\",\n    \"details\": [\n      {\n        \"@type\": "
                        "\"type.googleapis.com/google.rpc.DebugInfo\",\n        \"detail\": \"[ORIGINAL ERROR] "
                        "generic::cancelled: \"\n      }\n    ]\n  }\n}\n");
    } else {
      r->action = ACT_TRUNCATE; /* a unary answer can only die by being cut */
    }
  }
  fault_response(r, q, &d.f, op == GOP_STREAM && sse ? "\r\n\r\n" : NULL, 0);
done:
  mb_free(&ans);
  mb_free(&user);
  json_free(doc);
}
