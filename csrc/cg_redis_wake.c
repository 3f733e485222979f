/* The pub/sub listener of the shared limiter (the contract is in cg_redis_wake.h). */
#include "cg_redis_wake.h"

#include <hiredis/hiredis.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define RETRY_FIRST_S 0.25
#define RETRY_MAX_S 4.0
#define CHANNEL_MAX 512

struct cg_redis_wake {
  pthread_mutex_t mu;
  pthread_cond_t cv;   /* signalled by stop, to cut a backoff short */
  pthread_t th;
  int stop;            /* under mu */
  int fd;              /* the live connection's socket, -1 when none (under mu) */
  int live;            /* subscribed (under mu) */
  cg_redis_url url;
  double timeout_s;
  char channel[CHANNEL_MAX];
  cg_redis_wake_fn fn;
  void *arg;
};

static int reply_ok(redisReply *rep, int want_type) {
  int ok = rep && rep->type == want_type;
  if (rep) freeReplyObject(rep);
  return ok;
}

/* Connects, authenticates and subscribes; NULL when any of it fails. The socket is
 * published in w->fd as soon as it exists, so stop can shut it down mid-handshake. */
static redisContext *dial(cg_redis_wake *w) {
  struct timeval tv;
  tv.tv_sec = (time_t)w->timeout_s;
  tv.tv_usec = (suseconds_t)((w->timeout_s - (double)tv.tv_sec) * 1e6);
  redisContext *c = w->url.is_unix ? redisConnectUnixWithTimeout(w->url.path, tv)
                                   : redisConnectWithTimeout(w->url.host, w->url.port, tv);
  if (!c || c->err) goto fail;
  pthread_mutex_lock(&w->mu);
  const int stopping = w->stop;
  if (!stopping) w->fd = c->fd;
  pthread_mutex_unlock(&w->mu);
  if (stopping) goto fail;
  redisEnableKeepAlive(c); /* a server that vanished without a reset is noticed */
  if (w->url.has_password) {
    const char *argv[3] = { "AUTH", w->url.user, w->url.password };
    size_t lens[3] = { 4, strlen(w->url.user), strlen(w->url.password) };
    const int skip = w->url.user[0] ? 0 : 1; /* no user: the pre-ACL one-argument form */
    if (skip) { argv[1] = argv[0]; lens[1] = lens[0]; }
    if (!reply_ok(redisCommandArgv(c, 3 - skip, argv + skip, lens + skip), REDIS_REPLY_STATUS))
      goto fail;
  }
  {
    const char *argv[2] = { "SUBSCRIBE", w->channel };
    size_t lens[2] = { 9, strlen(w->channel) };
    if (!reply_ok(redisCommandArgv(c, 2, argv, lens), REDIS_REPLY_ARRAY)) goto fail;
  }
  /* Subscribed: messages may be far apart, so reads wait without a timeout (stop shuts the
   * socket down instead). */
  const struct timeval none = { 0, 0 };
  if (redisSetTimeout(c, none) != REDIS_OK) goto fail;
  return c;
fail:
  pthread_mutex_lock(&w->mu);
  w->fd = -1;
  pthread_mutex_unlock(&w->mu);
  if (c) redisFree(c);
  return NULL;
}

static int is_message(const redisReply *rep) {
  return rep->type == REDIS_REPLY_ARRAY && rep->elements == 3 &&
         rep->element[0]->type == REDIS_REPLY_STRING && strcmp(rep->element[0]->str, "message") == 0;
}

static void *wake_main(void *arg) {
  cg_redis_wake *w = arg;
  double delay = RETRY_FIRST_S;
  pthread_mutex_lock(&w->mu);
  while (!w->stop) {
    pthread_mutex_unlock(&w->mu);
    redisContext *c = dial(w);
    pthread_mutex_lock(&w->mu);
    if (!c) {
      if (w->stop) break;
      struct timespec ts;
      clock_gettime(CLOCK_MONOTONIC, &ts);
      const double at = (double)ts.tv_nsec / 1e9 + delay;
      ts.tv_sec += (time_t)at;
      ts.tv_nsec = (long)((at - floor(at)) * 1e9);
      pthread_cond_timedwait(&w->cv, &w->mu, &ts);
      delay = fmin(RETRY_MAX_S, delay * 2);
      continue;
    }
    w->live = 1;
    pthread_mutex_unlock(&w->mu);
    delay = RETRY_FIRST_S;
    w->fn(w->arg); /* what was published while not subscribed is lost: look again */
    void *rep;
    while (redisGetReply(c, &rep) == REDIS_OK) {
      const int msg = is_message(rep);
      freeReplyObject(rep);
      if (msg) w->fn(w->arg);
    }
    pthread_mutex_lock(&w->mu);
    w->fd = -1;
    w->live = 0;
    pthread_mutex_unlock(&w->mu);
    redisFree(c);
    pthread_mutex_lock(&w->mu);
  }
  pthread_mutex_unlock(&w->mu);
  return NULL;
}

cg_redis_wake *cg_redis_wake_start(const cg_redis_url *url, double timeout_s, const char *channel,
                                   cg_redis_wake_fn fn, void *arg) {
  if (strlen(channel) >= CHANNEL_MAX) return NULL;
  cg_redis_wake *w = calloc(1, sizeof *w);
  if (!w) return NULL;
  w->url = *url;
  w->timeout_s = timeout_s > 0 ? timeout_s : 2.0;
  snprintf(w->channel, sizeof w->channel, "%s", channel);
  w->fn = fn;
  w->arg = arg;
  w->fd = -1;
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&w->cv, &ca);
  pthread_condattr_destroy(&ca);
  pthread_mutex_init(&w->mu, NULL);
  /* Signals (and a write's SIGPIPE on a closed connection) are not this thread's. */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  const int rc = pthread_create(&w->th, NULL, wake_main, w);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc) {
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w);
    return NULL;
  }
  return w;
}

int cg_redis_wake_live(cg_redis_wake *w) {
  pthread_mutex_lock(&w->mu);
  const int live = w->live;
  pthread_mutex_unlock(&w->mu);
  return live;
}

void cg_redis_wake_stop(cg_redis_wake *w) {
  if (!w) return;
  pthread_mutex_lock(&w->mu);
  w->stop = 1;
  if (w->fd >= 0) shutdown(w->fd, SHUT_RDWR); /* ends a blocked read or handshake now */
  pthread_cond_signal(&w->cv);
  pthread_mutex_unlock(&w->mu);
  pthread_join(w->th, NULL);
  pthread_cond_destroy(&w->cv);
  pthread_mutex_destroy(&w->mu);
  free(w);
}
