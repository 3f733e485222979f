/* Fuzzing target: the engine's handling of a response's status, headers and error body:
 * the header-line store and its size cap (what libcurl's header callback feeds), the
 * hints taken from it, and the retry classification with its message excerpt. */
#include "cg_http.h"
#include "cg_retry.h"
#include "cg_types.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The Lua option helpers live next to the module's entry point, which would pull in the
 * whole engine; cg_retry.c's Lua bindings reference them, this target never calls them. */
double cg_opt_number(lua_State *L, int idx, const char *key, double def) {
  (void)L, (void)idx, (void)key;
  return def;
}
void cg_check_keys(lua_State *L, int idx, const char *const *known, const char *what) {
  (void)L, (void)idx, (void)known, (void)what;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 3) return 0;
  /* two bytes pick the status (100..999 covers the odd ones), one the max hint wait */
  long status = 100 + (long)(((unsigned)data[0] << 8 | data[1]) % 900);
  double max_wait = (double)data[2];
  data += 3;
  size -= 3;

  cg_buf hdrs;
  cg_buf_init(&hdrs);
  cg_hints h;
  cg_hints_reset(&h);
  /* header lines up to an empty line, as libcurl delivers them (one call per line,
   * CRLF included); the rest is the body */
  size_t at = 0;
  int stopped = 0;
  while (at < size) {
    const char *p = (const char *)data + at;
    const char *nl = memchr(p, '\n', size - at);
    size_t len = nl ? (size_t)(nl - p) + 1 : size - at;
    char *line = malloc(len);
    if (!line) break;
    memcpy(line, p, len);
    int rc = cg_http_header_line(&hdrs, &h, line, len, 1.7e9);
    free(line);
    at += len;
    if (rc != 0) {
      stopped = 1;
      break;
    }
    if (len <= 2 && (p[0] == '\n' || (p[0] == '\r' && len == 2))) break;
  }
  if (hdrs.len > CG_MAX_HEADER_BYTES) abort();
  size_t blen = size - at;
  char *body = malloc(blen ? blen : 1);
  if (body) {
    memcpy(body, data + at, blen);
    cg_verdict v;
    cg_classify_http(status, &h, body, blen, max_wait, &v);
    if (!v.code || strlen(v.msg) >= sizeof v.msg) abort();
    if (v.hint >= 0 && !v.hint_source) abort();
    if (v.retry && v.hint > max_wait) abort(); /* a wait past the cap is never retried */
    cg_classify_net(CG_NET_CONNECT + (int)(status % 6), stopped ? "stopped" : body[0] ? "x" : NULL, &v);
    free(body);
  }
  cg_buf_free(&hdrs);
  return 0;
}
