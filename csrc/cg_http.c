/* libcurl transfers. Options that never change are set once per easy handle; each
 * request then only swaps URL, method, headers, body and the private pointer, which keeps
 * the per-request cost small and lets the handle keep its connection in the multi cache. */
#include "cg_http.h"
#include "cg_clock.h"
#include "cg_retry.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static CURLcode g_init_rc = CURLE_OK;

static void global_init(void) {
  g_init_rc = curl_global_init(CURL_GLOBAL_ALL);
}

int cg_http_global_init(void) {
  pthread_once(&g_once, global_init);
  return g_init_rc == CURLE_OK ? 0 : -1;
}

struct cg_share {
  CURLSH *sh;
  pthread_mutex_t mu[CURL_LOCK_DATA_LAST];
};

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *u) {
  (void)h;
  (void)access;
  pthread_mutex_lock(&((cg_share *)u)->mu[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *u) {
  (void)h;
  pthread_mutex_unlock(&((cg_share *)u)->mu[data]);
}

cg_share *cg_share_new(void) {
  cg_share *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->sh = curl_share_init();
  if (!s->sh) {
    free(s);
    return NULL;
  }
  for (int i = 0; i < CURL_LOCK_DATA_LAST; i++) pthread_mutex_init(&s->mu[i], NULL);
  curl_share_setopt(s->sh, CURLSHOPT_LOCKFUNC, share_lock);
  curl_share_setopt(s->sh, CURLSHOPT_UNLOCKFUNC, share_unlock);
  curl_share_setopt(s->sh, CURLSHOPT_USERDATA, s);
  curl_share_setopt(s->sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  curl_share_setopt(s->sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  return s;
}

void cg_share_free(cg_share *s) {
  if (!s) return;
  curl_share_cleanup(s->sh);
  for (int i = 0; i < CURL_LOCK_DATA_LAST; i++) pthread_mutex_destroy(&s->mu[i]);
  free(s);
}

/* WRITEDATA/HEADERDATA/PRIVATE of every handle: the job being served and the size cap. */
typedef struct body_sink {
  cg_job *job;
  double max;
} body_sink;

static size_t on_body(char *p, size_t size, size_t n, void *u) {
  body_sink *s = (body_sink *)u;
  size_t len = size * n;
  if ((double)(s->job->resp.len + len) > s->max) {
    s->job->too_large = 1;
    return 0; /* makes libcurl stop with CURLE_WRITE_ERROR */
  }
  return cg_buf_add(&s->job->resp, p, len) == 0 ? len : 0;
}

int cg_http_header_line(cg_buf *hdrs, cg_hints *h, const char *p, size_t len, double wall_now) {
  /* A new status line starts a new response (after 100-continue): only the last one's
   * headers and hints describe the answer we keep. */
  if (len >= 5 && !memcmp(p, "HTTP/", 5)) {
    cg_buf_clear(hdrs);
    cg_hints_reset(h);
  }
  /* A server that never ends its headers would otherwise hold the worker until the
   * attempt's timeout while we buffer all of it: refuse past the cap instead. */
  if (hdrs->len + len > CG_MAX_HEADER_BYTES) return -1;
  if (cg_buf_add(hdrs, p, len) != 0) return -1;
  cg_hints_header(h, p, len, wall_now);
  return 0;
}

static size_t on_header(char *p, size_t size, size_t n, void *u) {
  body_sink *s = (body_sink *)u;
  cg_job *j = s->job;
  size_t len = size * n;
  if (cg_http_header_line(&j->hdrs, &j->hints, p, len, cg_wall_now()) != 0) {
    j->too_large = 2; /* the headers, not the body: cg_http_finish says which */
    return 0;         /* makes libcurl stop with CURLE_WRITE_ERROR */
  }
  return len;
}

/* libcurl sends a request again by itself when a reused keep-alive connection turns out
 * dead before any answer; the server then saw two requests. Counting each send keeps the
 * engine's figures equal to the server's. */
static int on_prereq(void *u, char *primary_ip, char *local_ip, int primary_port, int local_port) {
  (void)primary_ip;
  (void)local_ip;
  (void)primary_port;
  (void)local_port;
  body_sink *s = (body_sink *)u;
  if (s->job) s->job->sends++;
  return CURL_PREREQFUNC_OK;
}

CURL *cg_http_easy_new(const cg_config *cfg, cg_share *share) {
  CURL *h = curl_easy_init();
  if (!h) return NULL;
  body_sink *sink = calloc(1, sizeof *sink);
  if (!sink) {
    curl_easy_cleanup(h);
    return NULL;
  }
  sink->max = cfg->max_response_bytes;
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_SHARE, share->sh);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, sink);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, sink);
  curl_easy_setopt(h, CURLOPT_PREREQFUNCTION, on_prereq);
  curl_easy_setopt(h, CURLOPT_PREREQDATA, sink);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(cfg->timeout * 1000));
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)(cfg->connect_timeout * 1000));
  if (cfg->idle_timeout > 0) {
    long secs = (long)(cfg->idle_timeout + 0.999);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, secs < 1 ? 1L : secs);
  }
  curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)cfg->max_response_bytes);
  /* Never follow a redirect: the API key rides in a header libcurl would resend to
   * whatever host the Location names (libcurl's default is off; say so). A 3xx is then
   * an ordinary non-2xx answer, classified like any other. */
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(h, CURLOPT_MAXREDIRS, 0L);
  /* Only plain and TLS HTTP: a URL from a settings file cannot reach file:// or others. */
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  if (cfg->ca_file[0]) curl_easy_setopt(h, CURLOPT_CAINFO, cfg->ca_file);
  curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(h, CURLOPT_PRIVATE, sink);
  return h;
}

int cg_http_prepare(CURL *h, cg_job *j) {
  body_sink *sink = NULL;
  curl_easy_getinfo(h, CURLINFO_PRIVATE, (char **)&sink);
  sink->job = j;
  cg_buf_clear(&j->resp);
  cg_buf_clear(&j->hdrs);
  cg_hints_reset(&j->hints);
  j->status = 0;
  j->net_kind = CG_NET_NONE;
  j->too_large = 0;
  j->sends = 0;
  j->errbuf[0] = '\0';
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, j->errbuf);
  curl_easy_setopt(h, CURLOPT_URL, j->url);
  /* Over TLS, HTTP/2 is negotiated during the handshake, so a new transfer may wait for it
   * and share the connection. Plain HTTP only learns at the answer that it cannot
   * multiplex: waiting there would queue every transfer behind the first one. */
  curl_easy_setopt(h, CURLOPT_PIPEWAIT, strncasecmp(j->url, "https:", 6) == 0 ? 1L : 0L);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, j->headers);
  const char *m = j->method;
  int is_get = !strcmp(m, "GET"), is_post = !strcmp(m, "POST"), is_head = !strcmp(m, "HEAD");
  if (j->body || is_post) {
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)j->body_len);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, j->body ? j->body : "");
  } else {
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
  }
  curl_easy_setopt(h, CURLOPT_NOBODY, is_head ? 1L : 0L);
  curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, (is_post || is_head || (is_get && !j->body)) ? NULL : m);
  return 0;
}

cg_job *cg_http_job(CURL *h) {
  body_sink *sink = NULL;
  curl_easy_getinfo(h, CURLINFO_PRIVATE, (char **)&sink);
  return sink->job;
}

void cg_http_easy_free(CURL *h) {
  body_sink *sink = NULL;
  curl_easy_getinfo(h, CURLINFO_PRIVATE, (char **)&sink);
  curl_easy_cleanup(h);
  free(sink);
}

static int net_kind(CURLcode rc) {
  switch (rc) {
  case CURLE_COULDNT_CONNECT: return CG_NET_CONNECT;
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_COULDNT_RESOLVE_PROXY: return CG_NET_DNS;
  case CURLE_OPERATION_TIMEDOUT: return CG_NET_TIMEOUT;
  case CURLE_SEND_ERROR:
  case CURLE_RECV_ERROR:
  case CURLE_GOT_NOTHING:
  case CURLE_PARTIAL_FILE:
  case CURLE_HTTP2:
  case CURLE_HTTP2_STREAM:
  case CURLE_SSL_CONNECT_ERROR: return CG_NET_RESET;
  case CURLE_FILESIZE_EXCEEDED: return CG_NET_TOO_LARGE;
  case CURLE_PEER_FAILED_VERIFICATION:
  case CURLE_SSL_CACERT_BADFILE: return CG_NET_TLS;
  default: return CG_NET_OTHER;
  }
}

void cg_http_finish(CURL *h, cg_job *j, CURLcode rc) {
  if (rc == CURLE_OK) {
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &j->status);
    return;
  }
  j->status = 0;
  /* libcurl refuses one header line over CURL_MAX_HTTP_HEADER (100 KB) with "Out of
   * memory"; our callback saw the status line by then and no body has come: say what
   * happened, and treat it like headers over our own cap. */
  if (rc == CURLE_OUT_OF_MEMORY && j->hdrs.len > 0 && j->resp.len == 0 && !j->too_large) j->too_large = 3;
  /* A failed transfer's partial body is never delivered (a result has a body only with a
   * status), yet the job may wait in the reorder buffer for a long time: release it now,
   * or a hostile server's near-cap answers would pin max_response_bytes per job. */
  cg_buf_free(&j->resp);
  if (j->too_large >= 2) cg_buf_free(&j->hdrs); /* the endless headers, likewise */
  j->net_kind = j->too_large ? CG_NET_TOO_LARGE : net_kind(rc);
  if (j->net_kind == CG_NET_TOO_LARGE) {
    body_sink *sink = NULL;
    curl_easy_getinfo(h, CURLINFO_PRIVATE, (char **)&sink);
    if (j->too_large == 2)
      snprintf(j->errbuf, sizeof j->errbuf, "response headers larger than %d bytes", CG_MAX_HEADER_BYTES);
    else if (j->too_large == 3)
      snprintf(j->errbuf, sizeof j->errbuf,
               "a response header line longer than %d bytes (refused by libcurl; not an out-of-memory)",
               CURL_MAX_HTTP_HEADER);
    else
      snprintf(j->errbuf, sizeof j->errbuf, "response larger than %.0f bytes", sink->max);
  } else if (!j->errbuf[0]) {
    strncpy(j->errbuf, curl_easy_strerror(rc), sizeof j->errbuf - 1);
    j->errbuf[sizeof j->errbuf - 1] = '\0';
  }
}
