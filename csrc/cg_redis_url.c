/* Limiter URL parser; see cg_redis_url.h for the grammar and the exact messages. */
#include "cg_redis_url.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Formats "bad limiter URL 'display': reason". Always returns -1 so callers can
 * `return fail(...)`. */
static int fail(const cg_redis_url *u, char *err, size_t errlen, const char *fmt, ...) {
  char reason[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(reason, sizeof reason, fmt, ap);
  va_end(ap);
  if (err && errlen) snprintf(err, errlen, "bad limiter URL '%s': %s", u->display, reason);
  return -1;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Decodes %XX escapes of src[0..n) into dst (NUL-terminated). Returns 0, -1 for a bad
 * escape (including one that decodes to NUL, which no C string can carry), -2 when the
 * result does not fit. */
static int pct_decode(const char *src, size_t n, char *dst, size_t dstsize) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    char c = src[i];
    if (c == '%') {
      if (i + 2 >= n) return -1;
      int h = hexval(src[i + 1]), l = hexval(src[i + 2]);
      if (h < 0 || l < 0 || (h == 0 && l == 0)) return -1;
      c = (char)(h * 16 + l);
      i += 2;
    }
    if (o + 1 >= dstsize) return -2;
    dst[o++] = c;
  }
  dst[o] = '\0';
  return 0;
}

/* Copies src[0..n) verbatim; -2 when it does not fit. */
static int copy_span(const char *src, size_t n, char *dst, size_t dstsize) {
  if (n + 1 > dstsize) return -2;
  memcpy(dst, src, n);
  dst[n] = '\0';
  return 0;
}

/* Parses a decimal integer span in [lo, hi]; -1 when it is not one. */
static int parse_int(const char *s, size_t n, long lo, long hi, int *out) {
  if (n == 0 || n > 9) return -1;
  long v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return -1;
    v = v * 10 + (s[i] - '0');
  }
  if (v < lo || v > hi) return -1;
  *out = (int)v;
  return 0;
}

static int span_err(const cg_redis_url *u, char *err, size_t errlen, int rc) {
  return rc == -1 ? fail(u, err, errlen, "bad %%-escape") : fail(u, err, errlen, "field too long");
}

/* Keys become part of Redis key names and of log lines: printable ASCII without spaces
 * keeps both unambiguous. */
static int key_ok(const char *k) {
  size_t n = strlen(k);
  if (n == 0 || n > CG_REDIS_KEY_MAX) return 0;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)k[i] <= ' ' || (unsigned char)k[i] >= 0x7f) return 0;
  return 1;
}

/* Writes the display form: the URL with the password replaced by "***". It looks for
 * the userinfo more loosely than the parser does (last '@' before any '?', scheme or
 * not), so that even a URL that fails to parse never shows a password in its error. */
static void make_display(const char *s, char *out, size_t outsize) {
  const char *sep = strstr(s, "://");
  const char *start = sep ? sep + 3 : s;
  const char *end = start + strcspn(start, "?");
  const char *at = NULL;
  for (const char *p = start; p < end; p++)
    if (*p == '@') at = p;
  /* Mask from after USER: (or the whole userinfo, which the parser then takes as a
   * password) up to the '@'. */
  const char *mask = NULL;
  if (at) {
    const char *colon = memchr(start, ':', (size_t)(at - start));
    mask = colon ? colon + 1 : start;
  }
  /* Copied by hand: the result may be cut short, which only a display allows. */
  size_t o = 0;
  const char *p = s;
  while (*p && o + 1 < outsize) {
    if (mask && p == mask) {
      for (const char *m = "***"; *m && o + 1 < outsize; m++) out[o++] = *m;
      p = at;
      mask = NULL; /* once */
      continue;
    }
    out[o++] = *p++;
  }
  if (outsize) out[o] = '\0';
}

int cg_redis_url_parse(const char *s, cg_redis_url *u, char *err, size_t errlen) {
  memset(u, 0, sizeof *u);
  u->port = 6379;
  if (!s || !*s) {
    if (err && errlen) snprintf(err, errlen, "bad limiter URL: empty");
    return -1;
  }
  size_t len = strlen(s);
  if (len >= CG_REDIS_URL_MAX) {
    if (err && errlen) snprintf(err, errlen, "bad limiter URL: too long (at most %d bytes)",
                                CG_REDIS_URL_MAX - 1);
    return -1;
  }
  const char *sep = strstr(s, "://");
  size_t scheme_len = sep ? (size_t)(sep - s) : 0;
  size_t auth_off = sep ? scheme_len + 3 : 0;
  /* The authority runs to the first '/' or '?' after the scheme. */
  size_t auth_len = sep ? strcspn(s + auth_off, "/?") : 0;
  make_display(s, u->display, sizeof u->display);

  if (!sep) return fail(u, err, errlen, "scheme must be redis:// or unix://");
  if (scheme_len == 6 && strncmp(s, "rediss", 6) == 0)
    return fail(u, err, errlen, "rediss:// (TLS) is not supported");
  if (scheme_len == 5 && strncmp(s, "redis", 5) == 0) u->is_unix = 0;
  else if (scheme_len == 4 && strncmp(s, "unix", 4) == 0) u->is_unix = 1;
  else return fail(u, err, errlen, "scheme must be redis:// or unix://");

  /* Userinfo: [USER]:PASSWORD@ (a bare "USER@" is taken as the password, as Redis URLs
   * from before ACLs meant it). */
  const char *auth = s + auth_off;
  const char *host = auth;
  size_t host_len = auth_len;
  for (size_t i = auth_len; i > 0; i--) {
    if (auth[i - 1] == '@') {
      size_t ui_len = i - 1;
      const char *colon = memchr(auth, ':', ui_len);
      int rc;
      if (colon) {
        rc = pct_decode(auth, (size_t)(colon - auth), u->user, sizeof u->user);
        if (rc == 0)
          rc = pct_decode(colon + 1, ui_len - (size_t)(colon - auth) - 1, u->password,
                          sizeof u->password);
      } else {
        rc = pct_decode(auth, ui_len, u->password, sizeof u->password);
      }
      if (rc) return span_err(u, err, errlen, rc);
      u->has_password = 1;
      host = auth + i;
      host_len = auth_len - i;
      break;
    }
  }

  const char *rest = auth + auth_len;          /* "/..." or "?..." or "" */
  const char *q = strchr(rest, '?');
  size_t path_len = q ? (size_t)(q - rest) : strlen(rest);

  if (u->is_unix) {
    if (host_len != 0) return fail(u, err, errlen, "unix:// takes no host (unix:///PATH)");
    if (path_len <= 1) return fail(u, err, errlen, "missing socket path");
    int rc = pct_decode(rest, path_len, u->path, sizeof u->path);
    if (rc) return span_err(u, err, errlen, rc);
  } else {
    if (host_len == 0) return fail(u, err, errlen, "missing host");
    const char *port = NULL;
    size_t name_len = host_len;
    if (host[0] == '[') {
      const char *close = memchr(host, ']', host_len);
      if (!close) return fail(u, err, errlen, "unclosed '[' in host");
      if (copy_span(host + 1, (size_t)(close - host - 1), u->host, sizeof u->host))
        return fail(u, err, errlen, "field too long");
      if (u->host[0] == '\0') return fail(u, err, errlen, "missing host");
      size_t after = (size_t)(close - host) + 1;
      if (after < host_len) {
        if (host[after] != ':') return fail(u, err, errlen, "junk after ']' in host");
        port = host + after + 1;
      }
    } else {
      const char *colon = memchr(host, ':', host_len);
      if (colon) {
        name_len = (size_t)(colon - host);
        port = colon + 1;
      }
      if (name_len == 0) return fail(u, err, errlen, "missing host");
      if (copy_span(host, name_len, u->host, sizeof u->host))
        return fail(u, err, errlen, "field too long");
    }
    if (port) {
      size_t plen = (size_t)(host + host_len - port);
      if (parse_int(port, plen, 1, 65535, &u->port))
        return fail(u, err, errlen, "bad port '%.*s' (1-65535)", (int)(plen > 32 ? 32 : plen), port);
    }
    if (path_len > 1) {
      if (parse_int(rest + 1, path_len - 1, 0, 1000000, &u->db))
        return fail(u, err, errlen, "bad database '%.*s' (0-1000000)",
                    (int)(path_len - 1 > 32 ? 32 : path_len - 1), rest + 1);
    }
  }

  /* Query: key=NAME (required), outage=SECONDS and, for unix://, db=DB. */
  int have_key = 0;
  u->outage_s = -1;
  if (q) {
    int have_db = 0, have_outage = 0;
    const char *p = q + 1;
    while (*p) {
      size_t n = strcspn(p, "&");
      const char *eq = memchr(p, '=', n);
      size_t nlen = eq ? (size_t)(eq - p) : n;
      const char *val = eq ? eq + 1 : p + n;
      size_t vlen = eq ? n - nlen - 1 : 0;
      if (nlen == 3 && strncmp(p, "key", 3) == 0) {
        if (have_key) return fail(u, err, errlen, "duplicate parameter 'key'");
        have_key = 1;
        int rc = pct_decode(val, vlen, u->key, sizeof u->key);
        if (rc == -1) return span_err(u, err, errlen, rc);
        if (rc == -2 || !key_ok(u->key))
          return fail(u, err, errlen, "bad key (1-%d printable characters, no spaces)",
                      CG_REDIS_KEY_MAX);
      } else if (nlen == 2 && strncmp(p, "db", 2) == 0) {
        if (!u->is_unix) return fail(u, err, errlen, "db= only applies to unix:// (use /DB)");
        if (have_db) return fail(u, err, errlen, "duplicate parameter 'db'");
        have_db = 1;
        if (parse_int(val, vlen, 0, 1000000, &u->db))
          return fail(u, err, errlen, "bad database '%.*s' (0-1000000)",
                      (int)(vlen > 32 ? 32 : vlen), val);
      } else if (nlen == 6 && strncmp(p, "outage", 6) == 0) {
        if (have_outage) return fail(u, err, errlen, "duplicate parameter 'outage'");
        have_outage = 1;
        int secs;
        if (parse_int(val, vlen, 0, 86400, &secs))
          return fail(u, err, errlen, "bad outage '%.*s' (0-86400 seconds)",
                      (int)(vlen > 32 ? 32 : vlen), val);
        u->outage_s = secs;
      } else if (n > 0) {
        return fail(u, err, errlen, "unknown parameter '%.*s'", (int)(nlen > 32 ? 32 : nlen), p);
      }
      p += n;
      if (*p == '&') p++;
    }
  }
  if (!have_key) return fail(u, err, errlen, "missing ?key=NAME");
  return 0;
}
