/* Delivery side of the engine, on the Lua thread only: a reorder buffer indexed by
 * submission number (for next) and a completion-order list (for poll). */
#ifndef CG_RESULTS_H
#define CG_RESULTS_H

#include <stdint.h>

#include "cg_pool.h"

typedef struct cg_results {
  cg_job **ring;     /* slot (id & (cap-1)) holds job id for head <= id < tail, or NULL */
  uint64_t cap;      /* power of two */
  uint64_t head;     /* smallest id not yet delivered */
  uint64_t tail;     /* next id to assign */
  cg_job *first, *last; /* finished, undelivered, in completion order */
  uint64_t pending;  /* assigned and not yet delivered */
} cg_results;

void cg_results_init(cg_results *r);
/* Gives j the next id and a slot. Returns -1 when memory ran out. */
int cg_results_add(cg_results *r, cg_job *j);
/* Marks j finished (its outcome is final). */
void cg_results_finish(cg_results *r, cg_job *j);
/* Next result in submission order if it is finished, else NULL. */
cg_job *cg_results_next(cg_results *r);
/* Oldest finished result, else NULL. */
cg_job *cg_results_poll(cg_results *r);
/* Frees the finished jobs it holds (the engine frees the rest). */
void cg_results_free(cg_results *r);

#endif
