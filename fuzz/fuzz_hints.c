/* Fuzzing target: the retry-hint parsers. Every byte string a server can put in a
 * Retry-After, retry-after-ms or x-ratelimit-reset-* header, or in an error body, must
 * parse to a wait or to "none" without reading out of bounds. */
#include "cg_hints.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(double d) {
  /* a wait is never negative except the "none" sentinel, and never NaN */
  if (isnan(d) || (d < 0 && d != -1)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* exact-size heap copies, so reading one byte past the end is caught */
  char *s = malloc(size ? size : 1);
  if (!s) return 0;
  memcpy(s, data, size);
  const char *src = NULL;
  check(cg_parse_duration(s, size));
  check(cg_parse_retry_after(s, size, 1.7e9));
  double b = cg_body_delay(s, size, &src);
  check(b);
  if (b >= 0 && !src) abort();

  /* the same bytes as a sequence of header lines, then the combined verdict */
  cg_hints h;
  cg_hints_reset(&h);
  size_t at = 0;
  while (at < size) {
    const char *nl = memchr(s + at, '\n', size - at);
    size_t len = nl ? (size_t)(nl - (s + at)) + 1 : size - at;
    char *line = malloc(len);
    if (!line) break;
    memcpy(line, s + at, len);
    cg_hints_header(&h, line, len, 1.7e9);
    free(line);
    at += len;
  }
  src = NULL;
  double d = cg_hints_delay(&h, s, size, &src);
  check(d);
  if (d >= 0 && !src) abort();
  free(s);
  return 0;
}
