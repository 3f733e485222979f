/* Reorder buffer. Ids are consecutive, so a power-of-two ring over [head, tail) finds a
 * job in O(1) and its size follows the outstanding window, not the total submitted. */
#include "cg_results.h"

#include <stdlib.h>

void cg_results_init(cg_results *r) {
  r->ring = NULL;
  r->cap = 0;
  r->head = r->tail = 1;
  r->first = r->last = NULL;
  r->pending = 0;
}

static int grow(cg_results *r) {
  uint64_t cap = r->cap ? r->cap * 2 : 64;
  cg_job **ring = calloc((size_t)cap, sizeof *ring);
  if (!ring) return -1;
  for (uint64_t id = r->head; id < r->tail; id++) ring[id & (cap - 1)] = r->ring[id & (r->cap - 1)];
  free(r->ring);
  r->ring = ring;
  r->cap = cap;
  return 0;
}

int cg_results_add(cg_results *r, cg_job *j) {
  if (r->tail - r->head >= r->cap && grow(r) != 0) return -1;
  j->id = r->tail++;
  r->ring[j->id & (r->cap - 1)] = j;
  r->pending++;
  return 0;
}

void cg_results_finish(cg_results *r, cg_job *j) {
  j->finished = 1;
  j->rnext = NULL;
  j->rprev = r->last;
  if (r->last) r->last->rnext = j;
  else r->first = j;
  r->last = j;
}

/* Takes j off the books; requires j finished. */
static void take(cg_results *r, cg_job *j) {
  if (j->rprev) j->rprev->rnext = j->rnext;
  else r->first = j->rnext;
  if (j->rnext) j->rnext->rprev = j->rprev;
  else r->last = j->rprev;
  r->ring[j->id & (r->cap - 1)] = NULL;
  r->pending--;
  /* Slots emptied out of order by poll are skipped here, keeping head at the oldest
   * undelivered id. */
  while (r->head < r->tail && r->ring[r->head & (r->cap - 1)] == NULL) r->head++;
}

cg_job *cg_results_next(cg_results *r) {
  if (r->head >= r->tail) return NULL;
  cg_job *j = r->ring[r->head & (r->cap - 1)];
  if (!j || !j->finished) return NULL;
  take(r, j);
  return j;
}

cg_job *cg_results_poll(cg_results *r) {
  cg_job *j = r->first;
  if (j) take(r, j);
  return j;
}

void cg_results_free(cg_results *r) {
  cg_job *j = r->first;
  while (j) {
    cg_job *n = j->rnext;
    cg_job_free(j);
    j = n;
  }
  free(r->ring);
  cg_results_init(r);
}
