/* The admission rule (see cg_admit.h). The order of the checks is the rule: slots first
 * (nothing is decided for a head that could not be sent anyway), then an outage's probe,
 * a failed shared limiter, the shared grant, and last the local buckets, which are charged
 * only when the head really goes. */
#include "cg_admit.h"

#include <math.h>
#include <stdio.h>

int cg_admit_granted(const cg_limiter *l, int grant_req, double grant_tok, double tokens) {
  return grant_req > 0 && (l->tok.rate <= 0 || grant_tok + 1e-9 >= tokens);
}

static void sent(cg_admit *a, double tokens) {
  a->in_flight++;
  a->active++;
  if (a->outage) a->outage_probe = 1;
  if (a->shared) {
    a->grant_req--;
    if (a->lim->tok.rate > 0) a->grant_tok = fmax(0, a->grant_tok - tokens);
  }
}

int cg_admit_head(cg_admit *a, double tokens, double now, double *wait, const char **which) {
  *wait = 0;
  *which = "";
  if (a->in_flight >= a->cap || a->active >= a->share) return CG_HEAD_FULL;
  if (a->outage && (a->outage_probe || now < a->outage_next)) {
    *wait = a->outage_probe ? INFINITY : a->outage_next - now;
    return CG_HEAD_OUTAGE;
  }
  if (a->dead) return CG_HEAD_DEAD;
  if (a->shared) {
    /* Too large is settled locally first: the head would otherwise wait for a grant the
     * shared limiter can never give. */
    double max = cg_limit_max_tokens(a->lim);
    if (max > 0 && tokens > max) {
      *which = "tokens/min";
      return CG_HEAD_TOO_LARGE;
    }
    if (!cg_admit_granted(a->lim, a->grant_req, a->grant_tok, tokens)) return CG_HEAD_GRANT;
  }
  int r = cg_limit_reserve(a->lim, tokens, now, wait, which);
  if (r == CG_TOO_LARGE) return CG_HEAD_TOO_LARGE;
  if (r == CG_WAIT && !a->in_flight && cg_limit_probe(a->lim, tokens, now)) {
    /* Only a request sent now can show whether a lone 429 was the server's limit or a
     * passing fault: with nothing in flight one goes through the provisional pause. */
    *wait = 0;
    sent(a, tokens);
    return CG_HEAD_PROBE;
  }
  if (r == CG_WAIT) /* the client's own daily quota is spent: hours of silence help nobody */
    return (*which)[0] == 'r' && (*which)[9] == 'd' && *wait > a->quota_wait ? CG_HEAD_QUOTA
                                                                            : CG_HEAD_WAIT;
  sent(a, tokens);
  return CG_HEAD_SEND;
}

void cg_admit_message(char *buf, size_t n, int verdict, const cg_limiter *l, double tokens,
                      double wait, const char *which, double rpd) {
  if (verdict == CG_HEAD_QUOTA) {
    snprintf(buf, n,
             "quota: the requests/day limit (rpd %g) is spent; the next request fits in %.0f min "
             "(the quota refills over 24 h); run again then to send the rest",
             rpd, ceil(wait / 60));
  } else if (which[0] == 't') {
    snprintf(buf, n, "too_large: request needs %.0f tokens but the %s limit allows at most %.0f",
             tokens, which, l->tok.hard_max);
  } else {
    snprintf(buf, n, "too_large: request needs 1 request but the %s limit allows at most %.0f",
             which, which[9] == 'd' ? l->day.hard_max : l->req.hard_max);
  }
}
