/* Admission: may the head of the send queue go now? The engine's one rule for it
 * (cg_sched.c `admit` offers each head in turn and stops at the first it may not send:
 * strict FIFO, so a large head is never overtaken). Pure: the caller passes `now` and
 * holds whatever lock guards the limiter; core.admission (cg_admit_lua.c) lets the specs
 * drive it with their own clock. */
#ifndef CG_ADMIT_H
#define CG_ADMIT_H

#include "cg_limit.h"

#include <stddef.h>

/* What admission knows of the engine. The engine fills it under its lock for each round;
 * cg_admit_head counts what it sends into it. */
typedef struct cg_admit {
  cg_limiter *lim;
  int cap, in_flight;   /* transfers in flight: at most (the effective concurrency), now */
  int share, active;    /* the same for the worker that admits */
  int outage;           /* weathering an outage: one probe at a time */
  int outage_probe;     /* that probe is in flight */
  double outage_next;   /* the next probe may go at this time */
  int dead;             /* the shared limiter failed: nothing is sent any more */
  int shared;           /* a shared limiter must grant each request first */
  int grant_req;        /* requests it granted, not yet sent */
  double grant_tok;     /* tokens it granted, not yet taken (they count only with a tpm) */
  double quota_wait;    /* a head the daily quota holds longer than this fails */
} cg_admit;

enum {
  CG_HEAD_SEND,      /* send it now */
  CG_HEAD_PROBE,     /* send it now, through a provisional pause: its answer settles the pause */
  CG_HEAD_FULL,      /* no transfer slot is free */
  CG_HEAD_WAIT,      /* the limiter holds it for *wait s */
  CG_HEAD_OUTAGE,    /* the outage's next probe is *wait s away (INFINITY: one is in flight) */
  CG_HEAD_GRANT,     /* the shared limiter has not granted it yet */
  CG_HEAD_DEAD,      /* fail it: the shared limiter failed */
  CG_HEAD_TOO_LARGE, /* fail it: the bucket *which names can never hold it */
  CG_HEAD_QUOTA      /* fail it: the daily quota holds it for *wait s, beyond quota_wait */
};

/* Decides for a head of `tokens` at time `now`, charging the limiter when it is sent.
 * Sets *wait (seconds, for WAIT, OUTAGE and QUOTA) and *which (the bucket, for WAIT,
 * TOO_LARGE and QUOTA). */
int cg_admit_head(cg_admit *a, double tokens, double now, double *wait, const char **which);

/* 1 when a shared limiter's grant covers a head of `tokens`: a request, and its tokens
 * when a token limit makes them count. */
int cg_admit_granted(const cg_limiter *l, int grant_req, double grant_tok, double tokens);

/* The message of a head failed as TOO_LARGE or QUOTA ("too_large: ...", "quota: ...");
 * `rpd` is the daily limit as configured, for the message. */
void cg_admit_message(char *buf, size_t n, int verdict, const cg_limiter *l, double tokens,
                      double wait, const char *which, double rpd);

#endif
