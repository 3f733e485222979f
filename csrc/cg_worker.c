/* The I/O workers: each drives its transfers with a curl multi handle and, under the
 * engine's lock, hands finished attempts to the scheduling policy and takes new ones. */
#include "cg_pool_impl.h"
#include "cg_clock.h"
#include "cg_http.h"
#include "cg_retry.h"

#include <math.h>
#include <stdio.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include <stdlib.h>
#include <string.h>

/* ---- workers -------------------------------------------------------------------- */

static CURL *get_easy(worker *w) {
  if (w->nspare) return w->spare[--w->nspare];
  return cg_http_easy_new(&w->e->cfg, w->e->share);
}

static void put_easy(worker *w, CURL *h) {
  if (w->nspare == w->capspare) {
    int cap = w->capspare ? w->capspare * 2 : 16;
    CURL **s = realloc(w->spare, (size_t)cap * sizeof *s);
    if (!s) {
      cg_http_easy_free(h);
      return;
    }
    w->spare = s;
    w->capspare = cap;
  }
  w->spare[w->nspare++] = h;
}

static int live_add(worker *w, cg_job *j) {
  if (w->nlive == w->caplive) {
    int cap = w->caplive ? w->caplive * 2 : 64;
    cg_job **l = realloc(w->live, (size_t)cap * sizeof *l);
    if (!l) return -1;
    w->live = l;
    w->caplive = cap;
  }
  j->live_idx = w->nlive;
  w->live[w->nlive++] = j;
  return 0;
}

static void live_remove(worker *w, cg_job *j) {
  cg_job *last = w->live[--w->nlive];
  w->live[j->live_idx] = last;
  last->live_idx = j->live_idx;
  j->easy = NULL;
}

void *worker_main(void *arg) {
  worker *w = (worker *)arg;
  cg_engine *e = w->e;
  cg_job *done = NULL;   /* finished transfers not yet classified */
  cg_job *failed = NULL; /* could not even start */
#ifdef __linux__
  /* A paced request is sent when its worker wakes; Linux lets a sleep overrun by the
   * thread's timer slack (50 us by default), and at 50 requests/s every overrun is pace
   * lost for good. A few microseconds of slack cost nothing measurable. */
  prctl(PR_SET_TIMERSLACK, 5000UL, 0UL, 0UL, 0UL);
#endif
  for (;;) {
    int running = 0;
    curl_multi_perform(w->multi, &running);
    CURLMsg *m;
    int left;
    cg_job **dtail = &done; /* after the transfers stopped by cancellation, if any */
    while (*dtail) dtail = &(*dtail)->next;
    while ((m = curl_multi_info_read(w->multi, &left))) {
      if (m->msg != CURLMSG_DONE) continue;
      CURL *h = m->easy_handle;
      CURLcode rc = m->data.result;
      cg_job *j = cg_http_job(h);
      cg_http_finish(h, j, rc);
      curl_multi_remove_handle(w->multi, h);
      live_remove(w, j);
      put_easy(w, h);
      j->next = NULL;
      *dtail = j;
      dtail = &j->next;
    }

    pthread_mutex_lock(&e->mu);
    if (e->closing) {
      /* Classified or not, these jobs return to the engine to be freed by destroy. */
      while (done) {
        cg_job *n = done->next;
        q_push(&e->doneq, done);
        done = n;
      }
      while (failed) {
        cg_job *n = failed->next;
        q_push(&e->doneq, failed);
        failed = n;
      }
      pthread_mutex_unlock(&e->mu);
      break;
    }
    double now = cg_now();
    int progress = done != NULL;
    while (done) {
      cg_job *n = done->next;
      finish_attempt(e, w, done, now);
      done = n;
    }
    while (failed) {
      cg_job *n = failed->next;
      e->in_flight--;
      w->active--;
      cg_job_fail(failed, "network", "network: cannot start a transfer (out of memory)");
      push_done(e, failed, CG_JOB_DONE);
      failed = n;
    }
    cg_job *stop = NULL; /* flagged for cancellation: their transfers end below */
    if (w->cancels) {
      for (int k = 0; k < w->nlive; k++) {
        if (w->live[k]->cancel) {
          w->live[k]->next = stop;
          stop = w->live[k];
        }
      }
      w->cancels = 0;
    }
    double t_due = release_due(e, now);
    if (e->outage) outage_expire(e, now);
    cg_job *start = NULL;
    double t_lim = admit(e, w, now, &start);
    double t = fmin(t_due, t_lim);
    if (t > 1.0) t = 1.0;
    int sleep = !progress && !start && !stop;
    if (sleep) w->sleeping = 1;
    pthread_mutex_unlock(&e->mu);

    /* A stopped transfer joins the finished ones; finish_attempt sees its cancel flag. */
    while (stop) {
      cg_job *j = stop;
      stop = j->next;
      curl_multi_remove_handle(w->multi, j->easy);
      put_easy(w, j->easy);
      live_remove(w, j);
      j->status = 0;
      j->next = done;
      done = j;
    }
    cg_job **ftail = &failed;
    while (start) {
      cg_job *j = start;
      start = j->next;
      j->next = NULL;
      CURL *h = get_easy(w);
      j->easy = h;
      if (!h || cg_http_prepare(h, j) != 0 || live_add(w, j) != 0) {
        if (h) put_easy(w, h);
        *ftail = j;
        ftail = &j->next;
      } else if (curl_multi_add_handle(w->multi, h) != CURLM_OK) {
        live_remove(w, j);
        put_easy(w, h);
        *ftail = j;
        ftail = &j->next;
      }
    }
    if (sleep) {
      /* curl_multi_poll counts whole milliseconds. Rounding a limiter's wait up would send
       * every paced request up to a millisecond late, 5% of a 50/s spacing, and a paced
       * run cannot make lost time up without sending two requests too close together;
       * so whole milliseconds go to the poll and the last fraction to a short sleep. */
      int ms = t > 0 ? (int)floor(t * 1000.0) : 0;
      if (ms > 0) curl_multi_poll(w->multi, NULL, 0, ms, NULL);
      else if (t > 0) cg_sleep(t);
      else curl_multi_poll(w->multi, NULL, 0, 0, NULL);
    }
  }
  return NULL;
}
