/* Growable byte buffer for worker threads (luaL_Buffer is for the Lua thread only). */
#ifndef CG_BUF_H
#define CG_BUF_H

#include <stddef.h>

typedef struct cg_buf {
  char *data;
  size_t len, cap;
} cg_buf;

void cg_buf_init(cg_buf *b);
/* Returns 0, or -1 when memory ran out (the buffer is then unchanged). */
int cg_buf_add(cg_buf *b, const void *p, size_t n);
/* Empties the buffer but keeps its memory for the next use. */
void cg_buf_clear(cg_buf *b);
/* Releases memory beyond `keep` bytes so a huge answer does not pin memory forever. */
void cg_buf_shrink(cg_buf *b, size_t keep);
void cg_buf_free(cg_buf *b);

#endif
