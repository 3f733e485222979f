/* Growable byte buffer. */
#include "cg_buf.h"

#include <stdlib.h>
#include <string.h>

void cg_buf_init(cg_buf *b) {
  b->data = NULL;
  b->len = b->cap = 0;
}

int cg_buf_add(cg_buf *b, const void *p, size_t n) {
  if (n == 0) return 0;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1) cap *= 2;
    char *d = realloc(b->data, cap);
    if (!d) return -1;
    b->data = d;
    b->cap = cap;
  }
  memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = '\0'; /* callers parse the contents as a C string */
  return 0;
}

void cg_buf_clear(cg_buf *b) {
  b->len = 0;
  if (b->data) b->data[0] = '\0';
}

void cg_buf_shrink(cg_buf *b, size_t keep) {
  if (b->cap > keep) {
    free(b->data);
    cg_buf_init(b);
  }
}

void cg_buf_free(cg_buf *b) {
  free(b->data);
  cg_buf_init(b);
}
