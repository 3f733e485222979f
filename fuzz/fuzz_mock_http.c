/* Fuzzing target: the mock server's HTTP/1.x request parser, fed a connection's buffered
 * bytes the way the server loop does: requests are taken off the front until the parser
 * wants more or refuses. */
#include "mock_http.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *buf = malloc(size ? size : 1);
  if (!buf) return 0;
  memcpy(buf, data, size);
  mbuf scratch;
  mb_init(&scratch);
  size_t at = 0;
  for (int n = 0; n < 64 && at < size; n++) {
    mreq q;
    size_t used = 0;
    int expect = 0;
    int rc = http_parse(buf + at, size - at, &q, &used, &expect, &scratch);
    if (rc != HP_OK) break;
    /* what the parser hands out must lie inside what it was given */
    if (used == 0 || used > size - at) abort();
    if (q.path < buf + at || q.path + q.pathlen > buf + size) abort();
    if (q.bodylen && q.body != scratch.p && (q.body < buf || q.body + q.bodylen > buf + size)) abort();
    volatile char sink = 0;
    for (size_t i = 0; i < q.bodylen; i++) sink ^= q.body[i];
    for (size_t i = 0; i < q.querylen; i++) sink ^= q.query[i];
    for (size_t i = 0; i < q.authlen; i++) sink ^= q.auth[i];
    for (size_t i = 0; i < q.goog_keylen; i++) sink ^= q.goog_key[i];
    (void)sink;
    at += used;
  }
  mb_free(&scratch);
  free(buf);
  return 0;
}
