#ifndef MOCK_HTTP_H
#define MOCK_HTTP_H

#include "mock.h"

#pragma GCC visibility push(hidden)

enum { HP_OK, HP_NEED_MORE, HP_BAD, HP_TOO_BIG_HEADER, HP_TOO_BIG_BODY, HP_UNSUPPORTED };

/* Parses one request from buf. HP_OK fills q (pointing into buf, or into scratch for a
 * chunked body) and *consumed; HP_NEED_MORE sets *expect_continue when the client waits
 * for "100 Continue". */
int http_parse(const char *buf, size_t len, mreq *q, size_t *consumed, int *expect_continue, mbuf *scratch);

#pragma GCC visibility pop

#endif
