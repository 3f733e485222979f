/* Retry classification and full-jitter backoff. The status table follows the consensus
 * of the SDKs studied (408/409/429/5xx retried, 4xx client errors not); on top of it a
 * 429 is inspected, because a per-day or billing quota answers 429 too and retrying it
 * only burns the budget: those become error_code "quota" at once. */
#include "cg_retry.h"
#include "cg_types.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static int retryable_status(long s) {
  return s == 408 || s == 409 || s == 429 || s == 500 || s == 502 || s == 503 || s == 504;
}

/* Non-empty when a 429 body names a quota no wait will restore soon. */
static const char *hard_quota(const char *body, size_t len) {
  if (!body || !len) return NULL;
  const char *p = memmem(body, len, "\"quotaId\"", 9);
  while (p) {
    const char *end = body + len;
    const char *q = p + 9;
    while (q < end && (isspace((unsigned char)*q) || *q == ':')) q++;
    if (q < end && *q == '"') {
      const char *e = memchr(q + 1, '"', (size_t)(end - q - 1));
      if (e && memmem(q + 1, (size_t)(e - q - 1), "PerDay", 6)) return "per-day quota exhausted";
    }
    p = memmem(q, (size_t)(end - q), "\"quotaId\"", 9);
  }
  if (memmem(body, len, "insufficient_quota", 18)) return "insufficient_quota (billing quota exhausted)";
  /* OpenAI: "Request too large for gpt-4 ... on tokens per min" */
  for (size_t i = 0; i + 17 <= len; i++)
    if ((body[i] == 'R' || body[i] == 'r') && !strncasecmp(body + i, "request too large", 17))
      return "request too large for the server's limit";
  return NULL;
}

/* Appends a one-line excerpt of the body, so "http: HTTP 400" says what the server said. */
static void add_excerpt(char *dst, size_t cap, const char *body, size_t len) {
  size_t n = strlen(dst);
  if (!body || !len || n + 4 >= cap) return;
  size_t room = cap - n - 3;
  if (room > 160) room = 160;
  dst[n++] = ':';
  dst[n++] = ' ';
  for (size_t i = 0; i < len && room > 1; i++) {
    char c = body[i];
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
    if (c == ' ' && n > 0 && dst[n - 1] == ' ') continue;
    if ((unsigned char)c < 32) continue;
    dst[n++] = c;
    room--;
  }
  while (n > 0 && dst[n - 1] == ' ') n--;
  dst[n] = '\0';
}

void cg_classify_http(long status, const cg_hints *h, const char *body, size_t len,
                      double max_hint_wait, cg_verdict *v) {
  memset(v, 0, sizeof *v);
  v->hint = -1;
  v->code = "http";
  const char *quota = status == 429 ? hard_quota(body, len) : NULL;
  if (quota) {
    v->code = "quota";
    snprintf(v->msg, sizeof v->msg, "quota: HTTP 429, %s; not retried", quota);
    return;
  }
  v->retry = h->should_retry >= 0 ? h->should_retry : retryable_status(status);
  v->hint = cg_hints_delay(h, body, len, &v->hint_source);
  /* x-ratelimit-reset-* says when a bucket is full again, not when one request fits: a
   * long one is no sign of a hard quota, so it only caps the wait. */
  if (v->hint > max_hint_wait && !strcmp(v->hint_source, "x-ratelimit-reset")) v->hint = max_hint_wait;
  if (v->retry && v->hint > max_hint_wait) {
    v->retry = 0;
    v->code = "quota";
    snprintf(v->msg, sizeof v->msg,
             "quota: HTTP %ld, the server asks to wait %.1f s (%s), more than max_hint_wait (%g s)",
             status, v->hint, v->hint_source, max_hint_wait);
    return;
  }
  v->pause = status == 429 && v->retry;
  snprintf(v->msg, sizeof v->msg, "http: HTTP %ld", status);
  add_excerpt(v->msg, sizeof v->msg, body, len);
}

void cg_classify_net(int kind, const char *detail, cg_verdict *v) {
  memset(v, 0, sizeof *v);
  v->hint = -1;
  const char *what;
  switch (kind) {
  case CG_NET_CONNECT: v->code = "network", what = "cannot connect", v->retry = 1; break;
  case CG_NET_DNS: v->code = "network", what = "cannot resolve host", v->retry = 1; break;
  case CG_NET_RESET: v->code = "network", what = "connection lost", v->retry = 1; break;
  case CG_NET_TIMEOUT: v->code = "timeout", what = "no answer in time", v->retry = 1; break;
  case CG_NET_TOO_LARGE: v->code = "too_large", what = NULL; break;
  case CG_NET_TLS:
    v->code = "network";
    snprintf(v->msg, sizeof v->msg,
             "network: TLS certificate not trusted (%s); name the CAs to trust with ca_file (--ca-file)",
             detail ? detail : "");
    return;
  default: v->code = "network", what = "transfer failed"; break;
  }
  if (what) snprintf(v->msg, sizeof v->msg, "%s: %s (%s)", v->code, what, detail ? detail : "");
  else snprintf(v->msg, sizeof v->msg, "%s: %s", v->code, detail ? detail : "");
}

void cg_rng_seed(cg_rng *r, uint64_t seed) {
  r->s = seed;
}

double cg_rng_uniform(cg_rng *r) {
  uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}

double cg_backoff(cg_rng *r, int retry, double base, double cap) {
  if (retry < 1) retry = 1;
  double top = base * ldexp(1.0, retry > 60 ? 60 : retry - 1);
  if (top > cap) top = cap;
  return cg_rng_uniform(r) * top;
}

/* ---- Lua ------------------------------------------------------------------------ */

typedef struct backoff_ud {
  cg_rng rng;
  double base, cap;
} backoff_ud;

/*** core.backoff{base = 1, cap = 60, seed = 1} -> backoff with b:delay(retry) */
static int l_backoff(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  static const char *const keys[] = {"base", "cap", "seed", NULL};
  cg_check_keys(L, 1, keys, "backoff");
  backoff_ud *b = (backoff_ud *)lua_newuserdatauv(L, sizeof *b, 0);
  b->base = cg_opt_number(L, 1, "base", 1);
  b->cap = cg_opt_number(L, 1, "cap", 60);
  cg_rng_seed(&b->rng, (uint64_t)cg_opt_number(L, 1, "seed", 1));
  if (!(b->base >= 0 && b->cap >= 0)) luaL_error(L, "bad option: base and cap must be >= 0");
  luaL_setmetatable(L, CG_BACKOFF_T);
  return 1;
}

/*** b:delay(retry) -> seconds for the retry-th retry (1 = after the first failure). */
static int m_delay(lua_State *L) {
  backoff_ud *b = (backoff_ud *)luaL_checkudata(L, 1, CG_BACKOFF_T);
  lua_Integer n = luaL_checkinteger(L, 2);
  luaL_argcheck(L, n >= 1, 2, "expected retry >= 1");
  lua_pushnumber(L, cg_backoff(&b->rng, (int)(n > 1000 ? 1000 : n), b->base, b->cap));
  return 1;
}

static const char *const net_kinds[] = {"connect", "dns", "reset", "timeout", "too_large", "other", "tls", NULL};

/*** core.classify(status_or_kind, headers?, body?, max_hint_wait?) -> verdict table
 * {retry=, pause=, code=, message=, hint=, hint_source=}. A number is an HTTP status;
 * a string is a transport failure: "connect", "dns", "reset", "timeout", "too_large",
 * "other", "tls". */
static int l_classify(lua_State *L) {
  cg_verdict v;
  if (lua_type(L, 1) == LUA_TNUMBER) {
    long status = (long)luaL_checkinteger(L, 1);
    cg_hints h;
    cg_hints_reset(&h);
    if (!lua_isnoneornil(L, 2)) {
      luaL_checktype(L, 2, LUA_TTABLE);
      cg_hints_from_table(L, 2, &h, 0);
    }
    size_t blen = 0;
    const char *body = luaL_optlstring(L, 3, "", &blen);
    cg_classify_http(status, &h, body, blen, luaL_optnumber(L, 4, 120), &v);
  } else {
    int kind = luaL_checkoption(L, 1, NULL, net_kinds) + CG_NET_CONNECT;
    cg_classify_net(kind, luaL_optstring(L, 3, "detail"), &v);
  }
  lua_createtable(L, 0, 6);
  lua_pushboolean(L, v.retry);
  lua_setfield(L, -2, "retry");
  lua_pushboolean(L, v.pause);
  lua_setfield(L, -2, "pause");
  lua_pushstring(L, v.code);
  lua_setfield(L, -2, "code");
  lua_pushstring(L, v.msg);
  lua_setfield(L, -2, "message");
  if (v.hint >= 0) {
    lua_pushnumber(L, v.hint);
    lua_setfield(L, -2, "hint");
    lua_pushstring(L, v.hint_source);
    lua_setfield(L, -2, "hint_source");
  }
  return 1;
}

int cg_retry_open(lua_State *L) {
  luaL_newmetatable(L, CG_BACKOFF_T);
  lua_newtable(L);
  lua_pushcfunction(L, m_delay);
  lua_setfield(L, -2, "delay");
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  static const luaL_Reg fns[] = {{"backoff", l_backoff}, {"classify", l_classify}, {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
  return 0;
}
