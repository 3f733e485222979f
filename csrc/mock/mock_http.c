/*
 * HTTP/1.x request parsing and response framing. The parser works on whatever the
 * connection has buffered and never copies: the request points into that buffer.
 */
#include "mock_http.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

const char *http_reason(int status) {
  switch (status) {
  case 100: return "Continue";
  case 200: return "OK";
  case 302: return "Found";
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 408: return "Request Timeout";
  case 411: return "Length Required";
  case 413: return "Payload Too Large";
  case 429: return "Too Many Requests";
  case 431: return "Request Header Fields Too Large";
  case 500: return "Internal Server Error";
  case 501: return "Not Implemented";
  case 503: return "Service Unavailable";
  case 504: return "Gateway Timeout";
  case 505: return "HTTP Version Not Supported";
  default: return "Unknown";
  }
}

static int hdr_is(const char *name, size_t nl, const char *want) {
  return strlen(want) == nl && strncasecmp(name, want, nl) == 0;
}

static int has_token(const char *v, size_t vl, const char *tok) {
  size_t tl = strlen(tok);
  for (size_t i = 0; i + tl <= vl; i++)
    if (strncasecmp(v + i, tok, tl) == 0) return 1;
  return 0;
}

/* A header's non-negative decimal value, or -1. */
static long long decimal(const char *v, size_t n) {
  if (n == 0 || n > 18) return -1;
  long long x = 0;
  for (size_t i = 0; i < n; i++) {
    if (v[i] < '0' || v[i] > '9') return -1;
    x = x * 10 + (v[i] - '0');
  }
  return x;
}

static const char *trim(const char *a, const char *b, size_t *len) {
  while (a < b && (*a == ' ' || *a == '\t')) a++;
  while (b > a && (b[-1] == ' ' || b[-1] == '\t')) b--;
  *len = (size_t)(b - a);
  return a;
}

/* Reads a hex chunk-size line at s; returns the offset after its CRLF, 0 for "need more",
 * or -1 when malformed. Chunk extensions (";...") are ignored. */
static long chunk_line(const char *s, size_t n, size_t *size) {
  const char *e = memmem(s, n, "\r\n", 2);
  if (!e) return n > 1024 ? -1 : 0;
  size_t v = 0, digits = 0;
  const char *p = s;
  for (; p < e; p++, digits++) {
    int h = *p >= '0' && *p <= '9' ? *p - '0' : (*p | 32) >= 'a' && (*p | 32) <= 'f' ? (*p | 32) - 'a' + 10 : -1;
    if (h < 0) break;
    if (v > MOCK_MAX_UPLOAD) return -1;
    v = v * 16 + (size_t)h;
  }
  if (digits == 0 || (p < e && *p != ';' && *p != ' ' && *p != '\t')) return -1;
  *size = v;
  return (long)(e - s) + 2;
}

/* A first pass only walks the chunk sizes, so a body arriving in many reads is not
 * copied again on every read; the copy happens once the last chunk is in. */
static int dechunk(const char *s, size_t n, mbuf *out, size_t *consumed, size_t max_body) {
  for (int copy = 0; copy < 2; copy++) {
    size_t at = 0, total = 0;
    out->len = 0;
    for (;;) {
      size_t sz = 0;
      long l = chunk_line(s + at, n - at, &sz);
      if (l < 0) return HP_BAD;
      if (l == 0) return HP_NEED_MORE;
      at += (size_t)l;
      if (sz == 0) {
        for (;;) { /* trailer fields up to an empty line */
          const char *e = memmem(s + at, n - at, "\r\n", 2);
          if (!e) return (n - at) > MOCK_MAX_HEADER ? HP_BAD : HP_NEED_MORE;
          size_t ll = (size_t)(e - (s + at));
          at += ll + 2;
          if (ll == 0) break;
        }
        break;
      }
      total += sz;
      if (total > max_body) return HP_TOO_BIG_BODY;
      if (n - at < sz + 2) return HP_NEED_MORE;
      if (s[at + sz] != '\r' || s[at + sz + 1] != '\n') return HP_BAD;
      if (copy) mb_put(out, s + at, sz);
      at += sz + 2;
    }
    *consumed = at;
  }
  return HP_OK;
}

int http_parse(const char *buf, size_t len, mreq *q, size_t *consumed, int *expect_continue, mbuf *scratch) {
  *expect_continue = 0;
  const char *end = memmem(buf, len, "\r\n\r\n", 4);
  if (!end) return len > MOCK_MAX_HEADER ? HP_TOO_BIG_HEADER : HP_NEED_MORE;
  size_t hlen = (size_t)(end - buf) + 4;
  if (hlen > MOCK_MAX_HEADER) return HP_TOO_BIG_HEADER;
  memset(q, 0, sizeof *q);

  /* request line: METHOD SP target SP HTTP/1.x */
  const char *p = buf, *le = memchr(buf, '\r', hlen);
  const char *sp1 = memchr(p, ' ', (size_t)(le - p));
  if (!sp1 || sp1 == p) return HP_BAD;
  const char *sp2 = memchr(sp1 + 1, ' ', (size_t)(le - sp1 - 1));
  if (!sp2 || sp2 == sp1 + 1 || sp1[1] != '/') return HP_BAD;
  size_t ml = (size_t)(sp1 - p);
  for (size_t i = 0; i < ml; i++)
    if (p[i] < 'A' || p[i] > 'Z') return HP_BAD;
  if (ml == 3 && memcmp(p, "GET", 3) == 0) q->method = MGET;
  else if (ml == 4 && memcmp(p, "POST", 4) == 0) q->method = MPOST;
  else if (ml == 6 && memcmp(p, "DELETE", 6) == 0) q->method = MDELETE;
  else if (ml == 5 && memcmp(p, "PATCH", 5) == 0) q->method = MPATCH;
  else q->method = MOTHER;
  size_t vl = (size_t)(le - sp2 - 1);
  if (vl == 8 && memcmp(sp2 + 1, "HTTP/1.1", 8) == 0) q->http10 = 0;
  else if (vl == 8 && memcmp(sp2 + 1, "HTTP/1.0", 8) == 0) q->http10 = 1;
  else return HP_BAD;
  for (const char *c = sp1 + 1; c < sp2; c++)
    if ((unsigned char)*c <= 0x20 || *c == 0x7f) return HP_BAD;
  q->path = sp1 + 1;
  const char *qm = memchr(q->path, '?', (size_t)(sp2 - q->path));
  q->pathlen = (size_t)((qm ? qm : sp2) - q->path);
  if (qm) {
    q->query = qm + 1;
    q->querylen = (size_t)(sp2 - qm - 1);
  }

  q->keepalive = !q->http10;
  q->upload_len = q->upload_offset = -1;
  /* only an upload's bytes may pass the ordinary body limit */
  size_t max_body = q->pathlen >= 8 && memcmp(q->path, "/upload/", 8) == 0 ? MOCK_MAX_UPLOAD : MOCK_MAX_BODY;
  long long clen = -1;
  int chunked = 0;
  p = le + 2;
  while (p < end + 2) {
    const char *e = memchr(p, '\r', (size_t)(end + 2 - p));
    if (!e || e[1] != '\n') return HP_BAD;
    if (e == p) break;
    const char *colon = memchr(p, ':', (size_t)(e - p));
    if (!colon || colon == p) return HP_BAD;
    size_t nl = (size_t)(colon - p);
    for (size_t i = 0; i < nl; i++)
      if ((unsigned char)p[i] <= 0x20 || p[i] == 0x7f) return HP_BAD;
    size_t vlen;
    const char *v = trim(colon + 1, e, &vlen);
    if (hdr_is(p, nl, "content-length")) {
      if (clen >= 0 || vlen == 0 || vlen > 18) return HP_BAD;
      long long n = 0;
      for (size_t i = 0; i < vlen; i++) {
        if (v[i] < '0' || v[i] > '9') return HP_BAD;
        n = n * 10 + (v[i] - '0');
      }
      clen = n;
    } else if (hdr_is(p, nl, "transfer-encoding")) {
      if (!has_token(v, vlen, "chunked")) return HP_UNSUPPORTED;
      chunked = 1;
    } else if (hdr_is(p, nl, "connection")) {
      if (has_token(v, vlen, "close")) q->keepalive = 0;
      else if (has_token(v, vlen, "keep-alive")) q->keepalive = 1;
    } else if (hdr_is(p, nl, "x-goog-api-key")) {
      q->goog_key = v;
      q->goog_keylen = vlen;
    } else if (hdr_is(p, nl, "authorization")) {
      q->auth = v;
      q->authlen = vlen;
    } else if (hdr_is(p, nl, "host")) {
      q->host = v;
      q->hostlen = vlen;
    } else if (hdr_is(p, nl, "x-goog-upload-command")) {
      q->upload_cmd = v;
      q->upload_cmdlen = vlen;
    } else if (hdr_is(p, nl, "x-goog-upload-header-content-length")) {
      q->upload_len = decimal(v, vlen);
    } else if (hdr_is(p, nl, "x-goog-upload-offset")) {
      q->upload_offset = decimal(v, vlen);
    } else if (hdr_is(p, nl, "expect")) {
      if (has_token(v, vlen, "100-continue")) *expect_continue = 1;
    }
    p = e + 2;
  }
  if (chunked) {
    if (clen >= 0) return HP_BAD; /* both framings: a smuggling attempt, refuse */
    int rc = dechunk(buf + hlen, len - hlen, scratch, consumed, max_body);
    if (rc == HP_OK) {
      *expect_continue = 0;
      q->body = scratch->p ? scratch->p : "";
      q->bodylen = scratch->len;
      *consumed += hlen;
    }
    return rc;
  }
  if (clen < 0) clen = 0;
  if (clen > (long long)max_body) return HP_TOO_BIG_BODY;
  if (len - hlen < (size_t)clen) return HP_NEED_MORE;
  *expect_continue = 0;
  q->body = buf + hlen;
  q->bodylen = (size_t)clen;
  *consumed = hlen + (size_t)clen;
  return HP_OK;
}

void resp_status_headers(mbuf *out, const mresp *r, int keepalive) {
  if (r->http10) {
    /* the old framing: no length, the body ends when the connection closes */
    mb_printf(out, "HTTP/1.0 %d %s\r\nContent-Type: %s\r\n", r->status, http_reason(r->status),
              r->ctype ? r->ctype : "application/json; charset=UTF-8");
    if (r->extra_headers.len) mb_put(out, r->extra_headers.p, r->extra_headers.len);
    mb_puts(out, "\r\n");
    return;
  }
  mb_printf(out,
            "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s",
            r->status, http_reason(r->status), r->ctype ? r->ctype : "application/json; charset=UTF-8",
            r->body.len, keepalive == 0 ? "Connection: close\r\n" : keepalive == 2 ? "Connection: keep-alive\r\n" : "");
  if (r->extra_headers.len) mb_put(out, r->extra_headers.p, r->extra_headers.len);
  mb_puts(out, "\r\n");
}
