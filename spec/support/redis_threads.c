/* Several threads share one limiter handle, as engine threads would: prints
 * "grants round_trips errors" after `seconds`. Usage: redis_threads URL SECONDS RPM THREADS
 * [HANDLES]: with HANDLES > 1 the threads take turns on that many handles, as processes on
 * one key would, with a 10-s horizon (with many, most wait in line and are woken by
 * messages: the listener threads and the wake-up callback run too); the line printed then
 * ends with the answers "wait in line" and the wake-ups. */
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

static pthread_mutex_t wake_mu = PTHREAD_MUTEX_INITIALIZER;
static long wakes;

static void on_wake(void *arg) {
  (void)arg;
  pthread_mutex_lock(&wake_mu);
  wakes++;
  pthread_mutex_unlock(&wake_mu);
}

int main(int argc, char **argv) {
  if (argc != 5 && argc != 6) return 2;
  char err[512];
  const int nh = argc == 6 ? atoi(argv[5]) : 1;
  if (nh < 1 || nh > 256) return 2;
  cg_redis_t *hs[256];
  for (int i = 0; i < nh; i++) {
    hs[i] = cg_redis_connect(argv[1], 2, err, sizeof err);
    if (!hs[i]) {
      fprintf(stderr, "%s\n", err);
      return 1;
    }
    cg_redis_set_notify(hs[i], on_wake, NULL);
  }
  cg_redis_t *r = hs[0];
  int n = atoi(argv[4]);
  job *jobs = calloc((size_t)n, sizeof *jobs);
  pthread_t *th = calloc((size_t)n, sizeof *th);
  if (!jobs || !th) return 1;
  double stop = now_s() + atof(argv[2]);
  for (int i = 0; i < n; i++) {
    jobs[i].r = hs[i % nh];
    jobs[i].lim.rpm = atof(argv[3]);
    if (nh > 1) jobs[i].lim.horizon_s = 10; /* a 5-s queue: the line forms at once */
    jobs[i].stop = stop;
    pthread_create(&th[i], NULL, worker, &jobs[i]);
  }
  long grants = 0, errors = 0;
  for (int i = 0; i < n; i++) {
    pthread_join(th[i], NULL);
    grants += jobs[i].grants;
    errors += jobs[i].errors;
  }
  unsigned long long trips = 0, queued = 0;
  for (int i = 0; i < nh; i++) {
    cg_redis_stats st;
    cg_redis_stats_get(hs[i], &st);
    trips += st.round_trips;
    queued += st.queued;
    cg_redis_close(hs[i]);
  }
  (void)r;
  if (nh > 1) printf("%ld %llu %ld %llu %ld\n", grants, trips, errors, queued, wakes);
  else printf("%ld %llu %ld\n", grants, trips, errors);
  free(jobs);
  free(th);
  return errors ? 1 : 0;
}
