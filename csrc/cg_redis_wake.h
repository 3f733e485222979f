/* Wake-ups for the shared Redis limiter: a thread that listens on a Redis pub/sub channel.
 *
 * A process that finds the key's queue full does not poll Redis for a place: the limiter
 * script hands it a ticket (it waits in line, see cg_redis_script.h) and publishes to the
 * ticket holder's own channel when a place opens for it (a lease came back, one ended).
 * Subscribing takes a connection of its own (a subscribed connection can do nothing else),
 * so the listener owns one and a thread that blocks reading it; the client's round trips
 * stay on their own connection, under their own lock.
 *
 * `fn(arg)` is called from the listener's thread for every message, and each time the
 * subscription is (re)established: messages published while it was not are lost, so the
 * owner should ask again then. It must not block for long. The listener reconnects by
 * itself with backoff (0.25 s doubling to 4 s) while Redis is away; a Redis that stalls
 * only delays the messages. Stopping shuts the socket down, so it is prompt (at most a
 * connect attempt's timeout). */
#ifndef CG_REDIS_WAKE_H
#define CG_REDIS_WAKE_H

#include <stddef.h>

#include "cg_redis_url.h"

typedef struct cg_redis_wake cg_redis_wake;
typedef void (*cg_redis_wake_fn)(void *arg);

/* Starts listening on `channel` of the server `url` names (its password is used for AUTH).
 * Returns NULL only when the thread cannot be created; a Redis that is unreachable is
 * retried in the background. */
cg_redis_wake *cg_redis_wake_start(const cg_redis_url *url, double timeout_s, const char *channel,
                                   cg_redis_wake_fn fn, void *arg);

/* 1 while subscribed (messages arrive), else 0. */
int cg_redis_wake_live(cg_redis_wake *w);

/* Stops the thread (no call of `fn` after it returns) and frees. NULL is a no-op. */
void cg_redis_wake_stop(cg_redis_wake *w);

#endif
