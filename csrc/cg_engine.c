/* Lua binding of the engine: options, submit, the next/poll iterators, callbacks, stats,
 * close. Everything here runs on the Lua thread; the workers only see cg_job structs. */
#include "cg_lua_fields.h"
#include "cg_types.h"
#include "cg_clock.h"
#include "cg_pool.h"
#include "cg_redis.h"
#include "cg_redis_url.h"
#include "cg_results.h"
#include "cg_retry.h"
#include "cg_signals.h"
#include "cg_limit_lua.h"
#include "cg_stats_lua.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

typedef struct eng_ud {
  cg_engine *e;
  int closed;
  int in_callback; /* next/poll/close from inside validate or on_attempt would re-enter */
  int validate_ref, on_attempt_ref;
  cg_results res;
  cg_job *inbox;      /* taken from the engine, not yet processed: freed by close if a */
  cg_event *evbox;    /* Lua error unwinds us half-way */
} eng_ud;

static eng_ud *checkeng(lua_State *L) {
  return (eng_ud *)luaL_checkudata(L, 1, CG_ENGINE_T);
}

/* The engine at argument 1, raising on a closed one. */
static eng_ud *toeng(lua_State *L) {
  eng_ud *u = checkeng(L);
  if (u->closed) luaL_error(L, "attempt to use a closed engine");
  return u;
}

static void free_boxes(eng_ud *u) {
  while (u->inbox) {
    cg_job *n = u->inbox->next;
    cg_job_free(u->inbox);
    u->inbox = n;
  }
  while (u->evbox) {
    cg_event *n = u->evbox->next;
    cg_event_free(u->evbox);
    u->evbox = n;
  }
}

/* One idempotent close for close(), __close and __gc: flag first, then release. */
static void aux_close(lua_State *L, eng_ud *u) {
  if (u->closed) return;
  u->closed = 1;
  cg_engine_destroy(u->e);
  u->e = NULL;
  free_boxes(u);
  cg_results_free(&u->res);
  luaL_unref(L, LUA_REGISTRYINDEX, u->validate_ref);
  luaL_unref(L, LUA_REGISTRYINDEX, u->on_attempt_ref);
  u->validate_ref = u->on_attempt_ref = LUA_NOREF;
}

/* ---- construction -------------------------------------------------------------- */

static const char *const engine_keys[] = {
    "concurrency",  "threads",      "rpm",           "tpm",           "rpd",
    "burst_requests", "burst_tokens", "aimd_decrease", "aimd_increase", "aimd_min",
    "max_attempts", "backoff_base", "backoff_cap",   "retry_budget",  "max_hint_wait",
    "timeout",      "connect_timeout", "idle_timeout", "max_response_bytes", "validate",
    "on_attempt",   "seed",         "limiter",       "ca_file",       NULL};

/* Seconds the engine waits for Redis on connect and on each call (the client's default). */
#define LIMITER_TIMEOUT_S 2.0

static int opt_int(lua_State *L, const char *key, double def, double lo, double hi) {
  double v = cg_opt_number(L, 1, key, def);
  if (v != floor(v) || v < lo || v > hi)
    luaL_error(L, "bad option '%s' (expected an integer in %d..%d)", key, (int)lo, (int)hi);
  return (int)v;
}

static double opt_pos(lua_State *L, const char *key, double def, int zero_ok) {
  double v = cg_opt_number(L, 1, key, def);
  if (!(zero_ok ? v >= 0 : v > 0) || isinf(v))
    luaL_error(L, "bad option '%s' (expected a number %s 0)", key, zero_ok ? ">=" : ">");
  return v;
}

static int opt_fn(lua_State *L, const char *key) {
  int t = lua_getfield(L, 1, key);
  if (t == LUA_TNIL) {
    lua_pop(L, 1);
    return LUA_NOREF;
  }
  if (t != LUA_TFUNCTION) luaL_error(L, "bad option '%s' (function expected, got %s)", key, luaL_typename(L, -1));
  return luaL_ref(L, LUA_REGISTRYINDEX);
}

/*** core.engine(opts) -> engine. The options, methods, results and statistics are listed
 * in lua/coursegen/engine.lua and HACKING.md. */
static int l_engine(lua_State *L) {
  if (lua_isnoneornil(L, 1)) {
    lua_settop(L, 0);
    lua_newtable(L);
  }
  luaL_checktype(L, 1, LUA_TTABLE);
  cg_check_keys(L, 1, engine_keys, "engine");
  cg_config c;
  memset(&c, 0, sizeof c);
  c.concurrency = opt_int(L, "concurrency", 8, 1, 100000);
  /* One I/O thread keeps up with ~128 transfers in flight on a core; beyond that a second
   * core, when there is one, shortens the makespan (5% at 256 on two cores). */
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  int auto_threads = (c.concurrency + 127) / 128;
  if (auto_threads > ncpu) auto_threads = ncpu > 1 ? (int)ncpu : 1;
  if (auto_threads > 8) auto_threads = 8;
  c.threads = opt_int(L, "threads", auto_threads, 1, 64);
  cg_limit_read(L, 1, &c.limits);
  cg_limiter tmp;
  cg_limit_init(&tmp, &c.limits, 0);
  cg_limit_read_aimd(L, 1, &tmp);
  c.aimd_decrease = tmp.decrease;
  c.aimd_increase = tmp.increase;
  c.aimd_min = tmp.factor_min;
  c.max_attempts = opt_int(L, "max_attempts", 5, 1, 1000);
  c.backoff_base = opt_pos(L, "backoff_base", 1, 1);
  c.backoff_cap = opt_pos(L, "backoff_cap", 60, 1);
  c.retry_budget = opt_pos(L, "retry_budget", 300, 1);
  c.max_hint_wait = opt_pos(L, "max_hint_wait", 120, 1);
  c.timeout = opt_pos(L, "timeout", 600, 0);
  c.connect_timeout = opt_pos(L, "connect_timeout", 10, 0);
  /* libcurl's low-speed check counts from the start of the transfer, so an idle limit also
   * cuts a model's thinking before the first byte of an answer that is not streamed
   * (minutes for a long Gemini 2.5 Pro chapter: billed, killed and paid for again). By
   * default it is the attempt's own timeout; a lower one suits servers that answer at once. */
  c.idle_timeout = opt_pos(L, "idle_timeout", c.timeout, 1);
  c.max_response_bytes = opt_pos(L, "max_response_bytes", 32.0 * 1024 * 1024, 0);
  c.seed = (uint64_t)cg_opt_number(L, 1, "seed", (double)time(NULL));
  /* Checked now: a missing CA file would otherwise fail every request alike, much later. */
  int tca = lua_getfield(L, 1, "ca_file");
  if (tca != LUA_TNIL) {
    if (tca != LUA_TSTRING) luaL_error(L, "bad option 'ca_file' (string expected, got %s)", luaL_typename(L, -1));
    size_t n;
    const char *path = lua_tolstring(L, -1, &n);
    if (n == 0 || n >= sizeof c.ca_file || strlen(path) != n)
      luaL_error(L, "bad option 'ca_file' (expected a file path of 1 to %d bytes)", (int)sizeof c.ca_file - 1);
    FILE *f = fopen(path, "rb");
    if (f) fclose(f);
    else luaL_error(L, "bad option 'ca_file' (cannot read %s: %s)", path, strerror(errno));
    memcpy(c.ca_file, path, n + 1);
  }
  lua_pop(L, 1);
  /* The URL is checked here, before anything is allocated, so a bad one raises naming
   * the option; connecting waits until nothing below can raise (a leak otherwise). */
  char limiter[CG_REDIS_URL_MAX] = "";
  int t = lua_getfield(L, 1, "limiter");
  if (t != LUA_TNIL) {
    if (t != LUA_TSTRING) luaL_error(L, "bad option 'limiter' (string expected, got %s)", luaL_typename(L, -1));
    size_t n;
    const char *url = lua_tolstring(L, -1, &n);
    cg_redis_url parsed;
    char perr[CG_REDIS_URL_MAX + 128];
    if (n >= sizeof limiter) luaL_error(L, "bad option 'limiter' (bad limiter URL: too long (at most %d bytes))", (int)sizeof limiter - 1);
    if (strlen(url) != n || cg_redis_url_parse(url, &parsed, perr, sizeof perr) != 0)
      luaL_error(L, "bad option 'limiter' (%s)", strlen(url) != n ? "bad limiter URL: embedded zero" : perr);
    memcpy(limiter, url, n + 1);
  }
  lua_pop(L, 1);

  eng_ud *u = (eng_ud *)lua_newuserdatauv(L, sizeof *u, 0);
  memset(u, 0, sizeof *u);
  u->closed = 1; /* safe state until every resource is in place */
  u->validate_ref = u->on_attempt_ref = LUA_NOREF;
  cg_results_init(&u->res);
  luaL_setmetatable(L, CG_ENGINE_T);
  int ud = lua_gettop(L);
  u->validate_ref = opt_fn(L, "validate");
  u->on_attempt_ref = opt_fn(L, "on_attempt");
  c.want_validate = u->validate_ref != LUA_NOREF;
  c.want_events = u->on_attempt_ref != LUA_NOREF;
  char err[CG_REDIS_URL_MAX + 256];
  if (limiter[0]) {
    /* Unreachable now means unreachable for the first request: say so at once. */
    c.redis = cg_redis_connect(limiter, LIMITER_TIMEOUT_S, err, sizeof err);
    if (!c.redis) {
      luaL_unref(L, LUA_REGISTRYINDEX, u->validate_ref);
      luaL_unref(L, LUA_REGISTRYINDEX, u->on_attempt_ref);
      u->validate_ref = u->on_attempt_ref = LUA_NOREF;
      return luaL_error(L, "cannot start the engine: limiter: %s", err);
    }
  }
  u->e = cg_engine_new(&c, err, sizeof err); /* owns c.redis from here, on failure too */
  if (!u->e) {
    luaL_unref(L, LUA_REGISTRYINDEX, u->validate_ref);
    luaL_unref(L, LUA_REGISTRYINDEX, u->on_attempt_ref);
    u->validate_ref = u->on_attempt_ref = LUA_NOREF;
    return luaL_error(L, "cannot start the engine: %s", err);
  }
  u->closed = 0;
  lua_settop(L, ud);
  return 1;
}

/* ---- submit ---------------------------------------------------------------------- */

static char *dupmem(const char *s, size_t n) {
  char *d = malloc(n + 1);
  if (d) {
    memcpy(d, s, n);
    d[n] = '\0';
  }
  return d;
}

static const char *const request_keys[] = {"url", "method", "headers", "body", "tokens", "max_attempts", NULL};

/* Adds one header line; raises on memory failure after freeing the job. */
static void add_header(lua_State *L, cg_job *j, const char *line, int *has_expect) {
  if (!strncasecmp(line, "expect:", 7)) *has_expect = 1;
  struct curl_slist *l = curl_slist_append(j->headers, line);
  if (!l) {
    cg_job_free(j);
    luaL_error(L, "out of memory");
  }
  j->headers = l;
}

/* Copies the request table at index 2 into a new job (raising on misuse). */
static cg_job *read_request(lua_State *L, const cg_config *cfg) {
  luaL_checktype(L, 2, LUA_TTABLE);
  cg_check_keys(L, 2, request_keys, "request");
  /* Validate everything before allocating, so a raise leaks nothing. */
  if (lua_getfield(L, 2, "url") != LUA_TSTRING) luaL_error(L, "bad request field 'url' (string expected, got %s)", luaL_typename(L, -1));
  int tm = lua_getfield(L, 2, "method");
  if (tm != LUA_TNIL && tm != LUA_TSTRING) luaL_error(L, "bad request field 'method' (string expected, got %s)", luaL_typename(L, -1));
  int tb = lua_getfield(L, 2, "body");
  if (tb != LUA_TNIL && tb != LUA_TSTRING) luaL_error(L, "bad request field 'body' (string expected, got %s)", luaL_typename(L, -1));
  int th = lua_getfield(L, 2, "headers");
  if (th != LUA_TNIL && th != LUA_TTABLE) luaL_error(L, "bad request field 'headers' (table expected, got %s)", luaL_typename(L, -1));
  if (th == LUA_TTABLE) {
    lua_pushnil(L);
    while (lua_next(L, -2)) {
      if (lua_type(L, -1) != LUA_TSTRING || (lua_type(L, -2) != LUA_TSTRING && !lua_isinteger(L, -2)))
        luaL_error(L, "bad request field 'headers' (expected strings: a list of \"Name: value\" or a map of name to value)");
      lua_pop(L, 1);
    }
  }
  double tokens = -1; /* absent: estimated from the body below */
  if (lua_getfield(L, 2, "tokens") != LUA_TNIL) {
    if (!lua_isnumber(L, -1)) luaL_error(L, "bad request field 'tokens' (number expected, got %s)", luaL_typename(L, -1));
    tokens = lua_tonumber(L, -1);
    if (!(tokens >= 0) || isinf(tokens)) luaL_error(L, "bad request field 'tokens' (expected a number >= 0)");
  }
  lua_pop(L, 1);
  int max_attempts = cfg->max_attempts;
  if (lua_getfield(L, 2, "max_attempts") != LUA_TNIL) {
    if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 || lua_tointeger(L, -1) > 1000)
      luaL_error(L, "bad request field 'max_attempts' (expected an integer in 1..1000)");
    max_attempts = (int)lua_tointeger(L, -1);
  }
  lua_pop(L, 1);
  /* stack: url, method, body, headers */
  int base = lua_gettop(L) - 3;
  cg_job *j = cg_job_new();
  if (!j) luaL_error(L, "out of memory");
  size_t n;
  const char *s = lua_tolstring(L, base, &n);
  j->url = dupmem(s, n);
  if (tm == LUA_TSTRING) {
    s = lua_tolstring(L, base + 1, &n);
    j->method = dupmem(s, n);
    for (char *p = j->method; p && *p; p++) *p = (char)toupper((unsigned char)*p);
  } else {
    j->method = dupmem(tb == LUA_TSTRING ? "POST" : "GET", tb == LUA_TSTRING ? 4 : 3);
  }
  if (tb == LUA_TSTRING) {
    s = lua_tolstring(L, base + 2, &n);
    j->body = dupmem(s, n);
    j->body_len = n;
  }
  if (!j->url || !j->method || (tb == LUA_TSTRING && !j->body)) {
    cg_job_free(j);
    luaL_error(L, "out of memory");
  }
  int has_expect = 0;
  if (th == LUA_TTABLE) {
    lua_pushnil(L);
    while (lua_next(L, base + 3)) {
      if (lua_type(L, -2) == LUA_TSTRING) {
        lua_pushvalue(L, -2);
        lua_pushliteral(L, ": ");
        lua_pushvalue(L, -3);
        lua_concat(L, 3);
        add_header(L, j, lua_tostring(L, -1), &has_expect);
        lua_pop(L, 1);
      } else {
        add_header(L, j, lua_tostring(L, -1), &has_expect);
      }
      lua_pop(L, 1);
    }
  }
  /* libcurl would otherwise wait for "100 Continue" before sending bodies over 1 KiB. */
  if (!has_expect) add_header(L, j, "Expect:", &has_expect);
  lua_settop(L, 2);
  /* Without an estimate a request would pass a token limit for free: count the body as
   * text, about 4 bytes a token (what the providers' guides give for English). */
  if (tokens < 0) tokens = cfg->limits.tpm > 0 ? ceil((double)j->body_len / 4.0) : 0;
  j->tokens = tokens;
  j->max_attempts = max_attempts;
  return j;
}

/*** eng:submit(request) -> id (submission number, 1, 2, ...) */
static int m_submit(lua_State *L) {
  eng_ud *u = toeng(L);
  cg_job *j = read_request(L, cg_engine_config(u->e));
  if (cg_results_add(&u->res, j) != 0) {
    cg_job_free(j);
    return luaL_error(L, "out of memory");
  }
  lua_Integer id = (lua_Integer)j->id;
  cg_engine_submit(u->e, j);
  lua_pushinteger(L, id);
  return 1;
}

/* ---- results --------------------------------------------------------------------- */

/* Pushes the response headers as {["lower-case-name"] = value}; repeats join with ", ". */
static void push_headers(lua_State *L, const cg_buf *h) {
  lua_newtable(L);
  if (!h->len) return;
  const char *p = h->data, *end = h->data + h->len;
  while (p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    const char *next = eol ? eol + 1 : end;
    if (!eol) eol = end;
    size_t linelen = (size_t)(eol - p);
    if (linelen && p[linelen - 1] == '\r') linelen--;
    const char *le = p + linelen;
    const char *colon = linelen ? memchr(p, ':', linelen) : NULL;
    if (colon && colon > p && strncmp(p, "HTTP/", 5) != 0) {
      char name[128];
      size_t nl = (size_t)(colon - p);
      if (nl < sizeof name) {
        for (size_t i = 0; i < nl; i++) name[i] = (char)tolower((unsigned char)p[i]);
        const char *v = colon + 1;
        while (v < le && (*v == ' ' || *v == '\t')) v++;
        const char *ve = le;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) ve--;
        lua_pushlstring(L, name, nl);
        lua_pushvalue(L, -1);
        if (lua_rawget(L, -3) == LUA_TSTRING) {
          lua_pushliteral(L, ", ");
          lua_pushlstring(L, v, (size_t)(ve - v));
          lua_concat(L, 3);
        } else {
          lua_pop(L, 1);
          lua_pushlstring(L, v, (size_t)(ve - v));
        }
        lua_rawset(L, -3);
      }
    }
    p = next;
  }
}

static void push_result(lua_State *L, const cg_job *j) {
  lua_createtable(L, 0, 12);
  cg_set_int(L, "id", (lua_Integer)j->id);
  if (j->status > 0) {
    cg_set_int(L, "status", j->status);
    lua_pushlstring(L, j->resp.data ? j->resp.data : "", j->resp.len);
    lua_setfield(L, -2, "body");
  }
  push_headers(L, &j->hdrs);
  lua_setfield(L, -2, "headers");
  cg_set_int(L, "attempts", j->attempts);
  double end = j->t_done > 0 ? j->t_done : cg_now();
  cg_set_num(L, "elapsed", end - j->t_submit);
  cg_set_num(L, "tokens_reserved", j->tokens);
  if (j->error) {
    cg_set_str(L, "error", j->error);
    cg_set_str(L, "error_code", j->code);
  }
  if (j->reason) {
    cg_set_str(L, "reason", j->reason);
  }
  if (j->cb_error) {
    cg_set_str(L, "callback_error", j->cb_error);
  }
}

static int traceback(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (!msg) msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  luaL_traceback(L, L, msg, 1);
  return 1;
}

/* Calls the callback `ref` with the value on top of the stack, under a protected call,
 * with `nres` results. Returns LUA_OK or an error status with the message on the stack.
 * It runs on the thread that called next/poll rather than the main thread: that thread is
 * the one running, and a callback then sees the same upvalues and coroutine context as the
 * loop that asked for results. Workers never get here, so no other thread is involved. */
static int call_cb(lua_State *L, eng_ud *u, int ref, int nres) {
  int arg = lua_gettop(L);
  lua_pushcfunction(L, traceback);
  lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
  lua_pushvalue(L, arg);
  u->in_callback++;
  int st = lua_pcall(L, 1, nres, arg + 1);
  u->in_callback--;
  lua_remove(L, arg + 1); /* the message handler */
  lua_remove(L, arg);     /* the argument */
  return st;
}

static void run_event(lua_State *L, eng_ud *u, const cg_event *ev) {
  lua_createtable(L, 0, 6);
  cg_set_int(L, "id", (lua_Integer)ev->id);
  cg_set_int(L, "attempt", ev->attempt);
  if (ev->status > 0) {
    cg_set_int(L, "status", ev->status);
  }
  if (ev->error) {
    cg_set_str(L, "error", ev->error);
  }
  cg_set_num(L, "wait_s", ev->wait_s);
  cg_set_bool(L, "retry", ev->retry);
  if (call_cb(L, u, u->on_attempt_ref, 0) != LUA_OK) {
    /* Attach the failure to the request's result: that is where the caller looks. */
    uint64_t id = ev->id;
    cg_job *j = (id >= u->res.head && id < u->res.tail) ? u->res.ring[id & (u->res.cap - 1)] : NULL;
    if (j && !j->cb_error) {
      lua_pushfstring(L, "callback: on_attempt raised: %s", lua_tostring(L, -1));
      j->cb_error = strdup(lua_tostring(L, -1));
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  }
}

/* Reads field `k` of the table on top as a number >= 0, or returns def. */
static double field_num(lua_State *L, const char *k, double def) {
  double v = def;
  if (lua_getfield(L, -1, k) == LUA_TNUMBER) v = lua_tonumber(L, -1);
  lua_pop(L, 1);
  return v >= 0 ? v : def;
}

static void finish_job(eng_ud *u, cg_job *j, int count_failed) {
  if (count_failed >= 0) cg_engine_count(u->e, count_failed);
  cg_results_finish(&u->res, j);
}

/* A 2xx arrived and a validate callback is set: accept it or ask again. */
static void run_validate(lua_State *L, eng_ud *u, cg_job *j) {
  push_result(L, j);
  int st = call_cb(L, u, u->validate_ref, 2);
  if (u->closed) { /* validate closed the engine: nothing to deliver to */
    if (st == LUA_OK) lua_pop(L, 2);
    else lua_pop(L, 1);
    cg_job_free(j);
    return;
  }
  if (j->cancel) { /* cancelled while validate ran */
    lua_pop(L, st == LUA_OK ? 2 : 1);
    cg_job_fail(j, "cancelled", "cancelled: the request was cancelled");
    finish_job(u, j, 1);
    return;
  }
  if (st != LUA_OK) {
    lua_pushfstring(L, "callback: validate raised: %s", lua_tostring(L, -1));
    cg_job_fail(j, "callback", lua_tostring(L, -1));
    lua_pop(L, 2);
    finish_job(u, j, 1);
    return;
  }
  int ok = lua_toboolean(L, -2);
  int info = lua_istable(L, -1);
  double used = info ? field_num(L, "used", -1) : -1;
  if (used >= 0) cg_engine_reconcile(u->e, j->tokens, used);
  if (ok) {
    lua_pop(L, 2);
    finish_job(u, j, 0);
    return;
  }
  free(j->reason);
  j->reason = NULL;
  if (info) {
    if (lua_getfield(L, -1, "reason") == LUA_TSTRING) j->reason = strdup(lua_tostring(L, -1));
    lua_pop(L, 1);
    if (lua_getfield(L, -1, "body") == LUA_TSTRING) {
      size_t n;
      const char *b = lua_tolstring(L, -1, &n);
      char *nb = dupmem(b, n);
      if (nb) {
        free(j->body);
        j->body = nb;
        j->body_len = n;
      }
    }
    lua_pop(L, 1);
    j->tokens = field_num(L, "tokens", j->tokens);
  }
  if (!j->reason) j->reason = strdup("rejected");
  const char *reason = j->reason ? j->reason : "rejected";
  lua_pop(L, 2);

  const cg_config *c = cg_engine_config(u->e);
  char msg[512];
  double delay = cg_engine_backoff(u->e, j->attempts);
  int d = cg_retry_decide(cg_job_spent(j), j->max_attempts, j->waited, delay, c->retry_budget);
  char last[400];
  snprintf(last, sizeof last, "rejected: %s", reason);
  if (d != CG_RETRY_GO) cg_retry_final(msg, sizeof msg, d, last, j->attempts, c->retry_budget);
  if (u->on_attempt_ref != LUA_NOREF) {
    /* The same event as an HTTP failure's: the attempt's error and the wait before the
     * next one, or the final message when there is none. */
    cg_event ev;
    memset(&ev, 0, sizeof ev);
    ev.id = j->id;
    ev.attempt = j->attempts;
    ev.status = j->status;
    ev.error = d == CG_RETRY_GO ? last : msg;
    ev.wait_s = d == CG_RETRY_GO ? delay : 0;
    ev.retry = d == CG_RETRY_GO;
    run_event(L, u, &ev);
    if (u->closed) {
      cg_job_free(j);
      return;
    }
  }
  if (d != CG_RETRY_GO) {
    /* Still "rejected" when the budget ran out (the contract: a re-ask that cannot go
     * again is a rejection); the words are the HTTP failures'. */
    cg_job_fail(j, "rejected", msg);
    finish_job(u, j, 1);
    return;
  }
  cg_engine_retry(u->e, j, delay);
}

/* Waits up to `timeout` for news from the workers and processes it. */
static void pump(lua_State *L, eng_ud *u, double timeout) {
  cg_job *jobs;
  cg_event *evs;
  cg_engine_take(u->e, timeout, &jobs, &evs);
  /* Park them on the userdata first so close() frees them if anything below raises. */
  if (evs) {
    cg_event **t = &u->evbox;
    while (*t) t = &(*t)->next;
    *t = evs;
  }
  if (jobs) {
    cg_job **t = &u->inbox;
    while (*t) t = &(*t)->next;
    *t = jobs;
  }
  while (!u->closed && u->evbox) {
    cg_event *ev = u->evbox;
    u->evbox = ev->next;
    run_event(L, u, ev);
    cg_event_free(ev);
  }
  while (!u->closed && u->inbox) {
    cg_job *j = u->inbox;
    u->inbox = j->next;
    j->next = NULL;
    if (j->state == CG_JOB_VALIDATE && j->cancel) {
      cg_job_fail(j, "cancelled", "cancelled: the request was cancelled");
      finish_job(u, j, 1);
    } else if (j->state == CG_JOB_VALIDATE) {
      run_validate(L, u, j);
    } else {
      finish_job(u, j, -1);
    }
  }
}

static int deliver(lua_State *L, eng_ud *u, int ordered, double timeout) {
  if (u->in_callback) return luaL_error(L, "attempt to wait for results inside an engine callback");
  double deadline = timeout >= 0 ? cg_now() + timeout : INFINITY;
  int tried = 0;
  for (;;) {
    cg_job *j = ordered ? cg_results_next(&u->res) : cg_results_poll(&u->res);
    if (j) {
      push_result(L, j);
      cg_job_free(j);
      return 1;
    }
    if (u->res.pending == 0) {
      lua_pushnil(L);
      return 1;
    }
    if (cg_interrupted()) {
      lua_pushnil(L);
      lua_pushliteral(L, "interrupted");
      return 2;
    }
    double left = deadline - cg_now();
    if (tried && left <= 0) {
      lua_pushnil(L);
      lua_pushliteral(L, "timeout");
      return 2;
    }
    pump(L, u, left > 0 ? left : 0);
    tried = 1;
    if (u->closed) return luaL_error(L, "attempt to use a closed engine");
  }
}

static double opt_timeout(lua_State *L) {
  if (lua_isnoneornil(L, 2)) return -1;
  double t = luaL_checknumber(L, 2);
  luaL_argcheck(L, t >= 0, 2, "expected timeout >= 0");
  return t;
}

/*** eng:next(timeout?) -> result | nil (nothing outstanding) | nil, "timeout" | nil, "interrupted" */
static int m_next(lua_State *L) {
  eng_ud *u = toeng(L);
  return deliver(L, u, 1, opt_timeout(L));
}

/*** eng:poll(timeout?) -> like next, in completion order */
static int m_poll(lua_State *L) {
  eng_ud *u = toeng(L);
  return deliver(L, u, 0, opt_timeout(L));
}

/*** eng:cancel(id) -> true when the request will come back with error_code "cancelled";
 * false when its result is already final (or it was returned, or the id is unknown). */
static int m_cancel(lua_State *L) {
  eng_ud *u = toeng(L);
  lua_Integer id = luaL_checkinteger(L, 2);
  cg_job *j = NULL;
  if (id >= (lua_Integer)u->res.head && id < (lua_Integer)u->res.tail)
    j = u->res.ring[(uint64_t)id & (u->res.cap - 1)];
  int r = 0;
  if (j && !j->finished) r = cg_engine_cancel(u->e, j);
  lua_pushboolean(L, r);
  return 1;
}

/*** eng:pending() -> submitted and not yet returned by next/poll */
static int m_pending(lua_State *L) {
  eng_ud *u = toeng(L);
  lua_pushinteger(L, (lua_Integer)u->res.pending);
  return 1;
}

/*** eng:set_limits{rpm=, tpm=, rpd=, burst_requests=, burst_tokens=}: absent fields keep
 * their values; 0 removes a limit (or restores a default burst). */
static int m_set_limits(lua_State *L) {
  eng_ud *u = toeng(L);
  luaL_checktype(L, 2, LUA_TTABLE);
  cg_check_keys(L, 2, cg_limit_keys, "set_limits");
  lua_remove(L, 1);
  cg_limits lim = cg_engine_config(u->e)->limits;
  cg_limit_read(L, 1, &lim);
  cg_engine_set_limits(u->e, &lim);
  return 0;
}

/* stats().redis: the shared limiter's counters (from its last call, never a round trip
 * of its own). round_trips_per_request counts attempts sent, retries included. */
static void push_redis_stats(lua_State *L, const cg_redis_stats *rs, const char *display,
                             double requests) {
  lua_createtable(L, 0, 20);
  cg_set_str(L, "url", display);
  const struct {
    const char *k;
    uint64_t v;
  } counts[] = {{"round_trips", rs->round_trips}, {"grants", rs->grants},
                {"local_grants", rs->local_grants}, {"waits", rs->waits},
                {"reservations", rs->reservations}, {"errors", rs->errors},
                {"reconnects", rs->reconnects}, {"outages", rs->outages},
                {"outage_grants", rs->outage_grants}, {"queued", rs->queued},
                {"wakeups", rs->wakeups}};
  for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
    lua_pushinteger(L, (lua_Integer)counts[i].v);
    lua_setfield(L, -2, counts[i].k);
  }
  const struct {
    const char *k;
    double v;
  } nums[] = {{"returned_requests", rs->returned_requests}, {"returned_tokens", rs->returned_tokens},
              {"pending_tokens", rs->pending_tokens}, {"key_rpm", rs->key_rpm},
              {"key_tpm", rs->key_tpm}, {"key_rpd", rs->key_rpd},
              {"round_trips_per_request", requests > 0 ? (double)rs->round_trips / requests : 0}};
  for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
    lua_pushnumber(L, nums[i].v);
    lua_setfield(L, -2, nums[i].k);
  }
  cg_set_bool(L, "limits_differ", rs->limits_differ);
  lua_setfield(L, -2, "redis");
}

/*** eng:stats() -> table (see engine.lua) */
static int m_stats(lua_State *L) {
  eng_ud *u = toeng(L);
  /* A userdata, not malloc: if building the table raises, the collector frees it. */
  cg_stats *s = (cg_stats *)lua_newuserdatauv(L, sizeof *s, 0);
  cg_engine_stats(u->e, s);
  cg_stats_push(L, s);
  cg_set_int(L, "pending", (lua_Integer)u->res.pending);
  cg_redis_stats rs;
  const char *display;
  if (cg_engine_redis_stats(u->e, &rs, &display)) push_redis_stats(L, &rs, display, s->requests);
  return 1;
}

/*** eng:close(): stops every transfer and joins every thread; idempotent. */
static int m_close(lua_State *L) {
  eng_ud *u = checkeng(L);
  if (u->in_callback) return luaL_error(L, "attempt to close an engine inside its callback");
  aux_close(L, u);
  return 0;
}

static int m_gc(lua_State *L) {
  eng_ud *u = checkeng(L);
  aux_close(L, u);
  return 0;
}

static int m_tostring(lua_State *L) {
  eng_ud *u = checkeng(L);
  if (u->closed) lua_pushliteral(L, "coursegen.Engine (closed)");
  else lua_pushfstring(L, "coursegen.Engine (%p)", (void *)u);
  return 1;
}

static void createmeta(lua_State *L) {
  static const luaL_Reg methods[] = {{"submit", m_submit}, {"next", m_next},   {"poll", m_poll},
                                     {"pending", m_pending}, {"set_limits", m_set_limits}, {"cancel", m_cancel},
                                     {"stats", m_stats},   {"close", m_close}, {NULL, NULL}};
  static const luaL_Reg metamethods[] = {{"__gc", m_gc}, {"__close", m_gc}, {"__tostring", m_tostring},
                                         {"__index", NULL}, {NULL, NULL}};
  luaL_newmetatable(L, CG_ENGINE_T);
  luaL_setfuncs(L, metamethods, 0);
  luaL_newlib(L, methods);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
}

int cg_engine_open(lua_State *L) {
  createmeta(L);
  lua_pushcfunction(L, l_engine);
  lua_setfield(L, -2, "engine");
  return 0;
}
