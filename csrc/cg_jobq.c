/* Jobs, the engine's FIFO queues and its backoff heap (min on due time). Callers hold the
 * engine's lock where the structures are shared (cg_pool_impl.h). */
#include "cg_pool_impl.h"
#include "cg_clock.h"
#include "cg_http.h"
#include "cg_retry.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- jobs --------------------------------------------------------------------- */

cg_job *cg_job_new(void) {
  cg_job *j = calloc(1, sizeof *j);
  if (!j) return NULL;
  cg_buf_init(&j->resp);
  cg_buf_init(&j->hdrs);
  cg_hints_reset(&j->hints);
  return j;
}

void cg_job_free(cg_job *j) {
  if (!j) return;
  free(j->url);
  free(j->method);
  free(j->body);
  curl_slist_free_all(j->headers);
  cg_buf_free(&j->resp);
  cg_buf_free(&j->hdrs);
  free(j->error);
  free(j->reason);
  free(j->cb_error);
  free(j);
}

void cg_event_free(cg_event *ev) {
  if (!ev) return;
  free(ev->error);
  free(ev);
}

void cg_job_fail(cg_job *j, const char *code, const char *msg) {
  free(j->error);
  j->error = strdup(msg);
  j->code = code;
}

void q_push(jobq *q, cg_job *j) {
  j->next = NULL;
  if (q->tail) q->tail->next = j;
  else q->head = j;
  q->tail = j;
  q->n++;
}

cg_job *q_pop(jobq *q) {
  cg_job *j = q->head;
  if (!j) return NULL;
  q->head = j->next;
  if (!q->head) q->tail = NULL;
  q->n--;
  j->next = NULL;
  return j;
}

void q_free(jobq *q) {
  cg_job *j;
  while ((j = q_pop(q))) cg_job_free(j);
}

/* ---- backoff heap (min on t_due) ------------------------------------------------ */

static void heap_swap(cg_engine *e, size_t a, size_t b) {
  cg_job *t = e->heap[a];
  e->heap[a] = e->heap[b];
  e->heap[b] = t;
  e->heap[a]->heap_idx = a;
  e->heap[b]->heap_idx = b;
}

/* Moves the job at index i up to its place; returns where it stopped. */
static size_t heap_sift_up(cg_engine *e, size_t i) {
  while (i > 0 && e->heap[(i - 1) / 2]->t_due > e->heap[i]->t_due) {
    heap_swap(e, i, (i - 1) / 2);
    i = (i - 1) / 2;
  }
  return i;
}

int heap_push(cg_engine *e, cg_job *j) {
  if (e->nheap == e->capheap) {
    size_t cap = e->capheap ? e->capheap * 2 : 64;
    cg_job **h = realloc(e->heap, cap * sizeof *h);
    if (!h) return -1;
    e->heap = h;
    e->capheap = cap;
  }
  size_t i = e->nheap++;
  e->heap[i] = j;
  j->heap_idx = i;
  heap_sift_up(e, i);
  return 0;
}

/* Moves the job at index i down to its place (earliest t_due on top). */
static void heap_sift_down(cg_engine *e, size_t i) {
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < e->nheap && e->heap[l]->t_due < e->heap[m]->t_due) m = l;
    if (r < e->nheap && e->heap[r]->t_due < e->heap[m]->t_due) m = r;
    if (m == i) break;
    heap_swap(e, i, m);
    i = m;
  }
}

/* Restores the heap order after due times changed in place. */
void heap_build(cg_engine *e) {
  for (size_t i = e->nheap / 2; i-- > 0;) heap_sift_down(e, i);
}

cg_job *heap_pop(cg_engine *e) {
  if (!e->nheap) return NULL;
  cg_job *top = e->heap[0];
  e->nheap--;
  if (e->nheap) {
    e->heap[0] = e->heap[e->nheap];
    e->heap[0]->heap_idx = 0;
    heap_sift_down(e, 0);
  }
  return top;
}

/* Removes the job at heap index i (cancellation). */
void heap_remove(cg_engine *e, size_t i) {
  cg_job *last = e->heap[--e->nheap];
  if (i == e->nheap) return;
  e->heap[i] = last;
  last->heap_idx = i;
  heap_sift_down(e, heap_sift_up(e, i));
}

int q_remove(jobq *q, cg_job *j) {
  cg_job **p = &q->head, *prev = NULL;
  while (*p && *p != j) prev = *p, p = &(*p)->next;
  if (!*p) return 0;
  *p = j->next;
  if (q->tail == j) q->tail = prev;
  q->n--;
  j->next = NULL;
  return 1;
}
