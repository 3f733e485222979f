/*
 * Hostile faults: responses a broken or malicious server could send, so the client's
 * limits (size cap, header cap, timeouts, no redirects, decoder depth, shape checks) are
 * exercised against a real socket. The body-level ones rewrite the prepared response
 * here; the streamed ones (huge, endless headers, slowloris) only set an action, and the
 * server loop produces their bytes as the socket drains, so 64 MiB is never held in memory.
 */
#include "mock.h"

#include <stdio.h>
#include <string.h>

/* Truncated, overlong, surrogate and impossible sequences: every way a byte string can
 * fail to be UTF-8. */
static const char BAD_UTF8[] = "\xff\xfe\xc0\xaf\xed\xa0\x80\xc3\x28\xe2\x82";

#define DEEP_LEVELS 100000

/* Inserts the bad bytes at the start of every JSON "title" value (so a generated outline
 * carries them into chapter titles and file names), or into the heading and the last line
 * of a plain answer. */
void hostile_answer(const fault *f, mbuf *ans) {
  if (f->kind != F_BADUTF8 || !ans->p) return;
  mbuf o;
  mb_init(&o);
  size_t i = 0, hits = 0;
  for (;;) {
    const char *k = memmem(ans->p + i, ans->len - i, "\"title\"", 7);
    if (!k) break;
    const char *v = k + 7;
    const char *end = ans->p + ans->len;
    while (v < end && (*v == ' ' || *v == ':')) v++;
    if (v >= end || *v != '"') {
      mb_put(&o, ans->p + i, (size_t)(v - (ans->p + i)));
      i = (size_t)(v - ans->p);
      continue;
    }
    mb_put(&o, ans->p + i, (size_t)(v + 1 - (ans->p + i)));
    mb_put(&o, BAD_UTF8, sizeof BAD_UTF8 - 1);
    i = (size_t)(v + 1 - ans->p);
    hits++;
  }
  if (hits == 0 && ans->len >= 2 && ans->p[0] == '#' && ans->p[1] == ' ') {
    mb_put(&o, "# ", 2);
    mb_put(&o, BAD_UTF8, sizeof BAD_UTF8 - 1);
    i = 2;
  } else if (hits == 0) {
    mb_put(&o, BAD_UTF8, sizeof BAD_UTF8 - 1);
  }
  mb_put(&o, ans->p + i, ans->len - i);
  if (hits == 0) { /* and in the body, which a client keeps even when it drops the heading */
    mb_puts(&o, "\nInvalid bytes: ");
    mb_put(&o, BAD_UTF8, sizeof BAD_UTF8 - 1);
    mb_putc(&o, '\n');
  }
  mb_free(ans);
  *ans = o;
}

static void set_body(mresp *r, const char *sse, const char *json) {
  r->body.len = 0;
  if (sse) mb_puts(&r->body, "data: ");
  mb_puts(&r->body, json);
  mb_puts(&r->body, sse ? sse : "\n");
}

static void deep_body(mresp *r, const char *sse, int openai) {
  r->body.len = 0;
  if (sse) mb_puts(&r->body, "data: ");
  mb_puts(&r->body, openai ? "{\"choices\":" : "{\"candidates\":");
  mb_reserve(&r->body, 2 * DEEP_LEVELS + 16);
  memset(r->body.p + r->body.len, '[', DEEP_LEVELS);
  r->body.len += DEEP_LEVELS;
  memset(r->body.p + r->body.len, ']', DEEP_LEVELS);
  r->body.len += DEEP_LEVELS;
  r->body.p[r->body.len] = '\0';
  mb_puts(&r->body, "}");
  mb_puts(&r->body, sse ? sse : "\n");
}

/* Valid JSON, wrong types: a string where a list belongs, an object where an array
 * belongs, numbers and nulls where text belongs; and terminal escape sequences in the
 * finish reason, which a client must not print as they are. */
static void odd_body(mresp *r, const char *sse, int openai, long variant) {
  static const char *const gemini[] = {
      "{\"candidates\":[{\"content\":{\"parts\":\"# A string where a list belongs\",\"role\":\"model\"},"
      "\"finishReason\":7}],\"usageMetadata\":{\"promptTokenCount\":\"ten\",\"candidatesTokenCount\":[]}}",
      "{\"candidates\":{\"0\":{\"content\":{\"parts\":[{\"text\":\"# An object where an array belongs\"}]}}},"
      "\"usageMetadata\":\"none\"}",
      "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":42},{\"text\":null},{\"text\":{\"a\":1}}]},"
      "\"finishReason\":\"\\u001b[2J\\u001b]0;owned\\u0007STOP\"},\"stray\",null],\"usageMetadata\":null,"
      "\"modelVersion\":false}",
  };
  static const char *const oa[] = {
      "{\"id\":\"x\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,\"message\":\"# A string where an "
      "object belongs\",\"finish_reason\":7}],\"usage\":{\"prompt_tokens\":\"ten\"}}",
      "{\"id\":\"x\",\"object\":\"chat.completion\",\"choices\":{\"0\":{\"message\":{\"role\":\"assistant\","
      "\"content\":\"# An object where an array belongs\"}}},\"usage\":\"none\"}",
      "{\"id\":\"x\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
      "\"content\":[1,2,3]},\"finish_reason\":\"\\u001b[2J\\u001b]0;owned\\u0007stop\"},\"stray\",null],"
      "\"usage\":[1,2]}",
  };
  int i = variant >= 1 && variant <= 3 ? (int)variant - 1 : 0;
  set_body(r, sse, openai ? oa[i] : gemini[i]);
  r->ctype = sse ? "text/event-stream" : "application/json; charset=UTF-8";
}

void fault_response(mresp *r, const mreq *q, const fault *f, const char *sse, int openai) {
  switch (f->kind) {
  case F_HTML404: html_404(r, q); break;
  case F_TRUNCATED: r->action = ACT_TRUNCATE; break;
  case F_RESET: r->action = ACT_RESET; break;
  case F_STALL: r->action = ACT_STALL; break;
  case F_SLOW: r->delay_ms += f->param_ms; break;
  case F_DEEPJSON: deep_body(r, sse, openai); break;
  case F_ODDJSON: odd_body(r, sse, openai, f->param_ms); break;
  case F_REDIRECT: {
    /* the target is another port on loopback: a client that follows it would hand the
     * key (a header it sends everywhere) to a host it never chose */
    char loc[128];
    snprintf(loc, sizeof loc, "http://127.0.0.1:%ld/v1beta/models/stolen:generateContent", f->param_ms);
    r->status = 302;
    r->ctype = "text/html; charset=UTF-8";
    r->body.len = 0;
    mb_printf(&r->body, "<html><body>Moved to <a href=\"%s\">here</a>.</body></html>\n", loc);
    r->extra_headers.len = 0;
    mb_printf(&r->extra_headers, "Location: %s\r\n", loc);
    break;
  }
  case F_HTTP10:
    r->http10 = 1;
    r->close_after = 1;
    break;
  case F_HUGE: r->action = ACT_HUGE, r->close_after = 1; break;
  case F_HUGECHUNKED: r->action = ACT_HUGECHUNKED, r->close_after = 1; break;
  case F_ENDLESS: r->action = ACT_ENDLESS, r->close_after = 1; break;
  case F_SLOWLORIS:
    r->action = ACT_DRIP;
    r->drip_ms = f->param_ms > 0 ? f->param_ms : 1000;
    r->close_after = 1;
    break;
  default: break;
  }
}
