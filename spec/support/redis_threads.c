/* Several threads share one limiter handle, as engine threads would: prints
 * "grants round_trips errors" after `seconds`. Usage: redis_threads URL SECONDS RPM THREADS */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cg_redis.h"

typedef struct job {
  cg_redis_t *r;
  cg_redis_limits lim;
  double stop;
  long grants, errors;
} job;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *worker(void *arg) {
  job *j = arg;
  char err[512];
  while (now_s() < j->stop) {
    cg_redis_grant g;
    int rc = cg_redis_lease(j->r, &j->lim, 1, 10, &g, err, sizeof err);
    if (rc != CG_REDIS_OK) {
      j->errors++;
      fprintf(stderr, "%s\n", err);
      return NULL;
    }
    if (g.granted) {
      j->grants++;
      cg_redis_reconcile(j->r, (j->grants % 3) - 1.0); /* some credit, some debit */
    } else {
      double w = g.wait_s < 0.01 ? g.wait_s : 0.01;
      struct timespec ts = { 0, (long)(w * 1e9) };
      nanosleep(&ts, NULL);
    }
  }
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 5) return 2;
  char err[512];
  cg_redis_t *r = cg_redis_connect(argv[1], 2, err, sizeof err);
  if (!r) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  int n = atoi(argv[4]);
  job *jobs = calloc((size_t)n, sizeof *jobs);
  pthread_t *th = calloc((size_t)n, sizeof *th);
  if (!jobs || !th) return 1;
  double stop = now_s() + atof(argv[2]);
  for (int i = 0; i < n; i++) {
    jobs[i].r = r;
    jobs[i].lim.rpm = atof(argv[3]);
    jobs[i].stop = stop;
    pthread_create(&th[i], NULL, worker, &jobs[i]);
  }
  long grants = 0, errors = 0;
  for (int i = 0; i < n; i++) {
    pthread_join(th[i], NULL);
    grants += jobs[i].grants;
    errors += jobs[i].errors;
  }
  cg_redis_stats st;
  cg_redis_stats_get(r, &st);
  printf("%ld %llu %ld\n", grants, (unsigned long long)st.round_trips, errors);
  cg_redis_close(r);
  free(jobs);
  free(th);
  return errors ? 1 : 0;
}
