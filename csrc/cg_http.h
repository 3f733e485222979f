/* libcurl transfers: handle setup, response capture, error mapping, shared caches. */
#ifndef CG_HTTP_H
#define CG_HTTP_H

#include <curl/curl.h>

#include "cg_pool.h"

/* Once per process, before any thread starts (curl_global_init is not thread-safe). */
int cg_http_global_init(void);

/* DNS and TLS-session cache shared by every worker's handles, with its locks. */
typedef struct cg_share cg_share;
cg_share *cg_share_new(void);
void cg_share_free(cg_share *s);

/* A new easy handle with the options that never change between requests. */
CURL *cg_http_easy_new(const cg_config *cfg, cg_share *share);
/* Releases a handle made by cg_http_easy_new. */
void cg_http_easy_free(CURL *h);
/* The job a handle currently serves. */
cg_job *cg_http_job(CURL *h);
/* Points a (reused) easy handle at job j's request and at j's response buffers. */
int cg_http_prepare(CURL *h, cg_job *j);
/* Most header bytes one response may carry; past it the transfer fails as too_large. */
#define CG_MAX_HEADER_BYTES (256 * 1024)
/* Takes one raw header line of a response ("Name: value\r\n" or a status line) into
 * `hdrs` and `h`. Returns 0, or -1 when the headers pass CG_MAX_HEADER_BYTES or memory
 * ran out. Pure (no libcurl state), so it is exercised on its own. */
int cg_http_header_line(cg_buf *hdrs, cg_hints *h, const char *p, size_t len, double wall_now);
/* After the transfer: fills j->status, or j->net_kind and j->errbuf from `rc`. */
void cg_http_finish(CURL *h, cg_job *j, CURLcode rc);

#endif
