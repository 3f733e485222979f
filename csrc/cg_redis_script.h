/* The server-side script of the shared Redis limiter (text in cg_redis_script.c).
 *
 * One script does every verb, so each round trip can carry several at once (return the
 * old lease, settle token usage and take a new lease in one EVALSHA). It runs atomically
 * inside Redis and reads Redis's own clock (TIME), so clients' clocks never matter.
 *
 * KEYS[1]  state hash   "coursegen:{NAME}"         (levels, refill times, pause, outstanding)
 * KEYS[2]  lease zset   "coursegen:{NAME}:leases"  (member "SEQ:REQ:TOK", score = expiry ms)
 * KEYS[3]  limits hash  "coursegen:{NAME}:limits"  (the key's limits)
 * KEYS[4]  client zset  "coursegen:{NAME}:clients" (ids seen, score = last call ms)
 * KEYS[5]  line zset    "coursegen:{NAME}:waiters" (ids waiting in line, score = joined ms)
 * The "{NAME}" hash tag keeps both keys in one Redis Cluster slot.
 *
 * ARGV (all decimal strings; 0 or "" skips a step), applied in this order:
 *   1 rpm  2 tpm  3 rpd  4 burst_r  5 burst_t   limits of this call (0 = no limit);
 *                                               carried each time so limits can change
 *   6 ttl_ms                                    server-side lifetime of a new lease
 *   7 return_member  8 unused_r  9 unused_t     return: give back an unexpired lease
 *  10 delta_t                                   reconcile: tokens used minus reserved
 *                                               (>0 debits the tokens bucket, <0 credits)
 *  11 pause_ms  12 drain                        pause: nothing is granted before
 *                                               now+pause_ms; drain=1 also empties the
 *                                               minute buckets and stops their refill until
 *                                               then, so the rate restarts from zero
 *  13 need_r 14 need_t 15 want_r 16 want_t      lease: at least need and at most want,
 *  17 horizon_ms                                all or nothing on need, and of the want what
 *                                               refill pays within horizon_ms (into debt);
 *                                               when need does not fit now, it is reserved
 *                                               if refill pays for it within horizon_ms
 *  18 cold                                      1: the client reconnected; a missing key
 *                                               means lost state, minute buckets start empty
 *  19 mode                                      1: store this call's limits; 2: only look
 *  20 client id                                 "host:pid:n" (the key's clients and its line)
 *  21 rate share                                the buckets refill at this share of the limits
 *  22 wake prefix                               "coursegen:{NAME}:wake:": + a client id is the
 *                                               channel the script PUBLISHes to when that client
 *                                               is first in line and there is room for it;
 *                                               "" = no line (a display)
 *  23 paced open                                1: a key with no state opens with minute
 *                                               buckets holding only this call's need
 *  24 use                                       the share of a reservation this client's
 *                                               requests really took (0 = not known): the
 *                                               key keeps an average of them
 *
 * Reply: an array of strings
 *   1 status     "ok" (granted now) | "reserved" (granted, may start after wait_ms) |
 *                "wait" | "queued" (in line: wait for a message, or until wait_ms) |
 *                "paused" | "too_large:requests/min" | "too_large:tokens/min" |
 *                "too_large:requests/day" | "none" (no lease asked)
 *   2 grant_r  3 grant_t  4 lease member ("" when nothing granted)
 *   5 wait_ms    "reserved": when the need is paid for; "wait"/"paused": when asking
 *                again is worth it; 0 for "ok"
 *   6 pause_ms   remaining shared pause, 0 when none
 *   7 level_r  8 level_t  9 level_d   bucket levels after the call (-1 = no limit); after a
 *                                     grant, negative levels are the debt refill pays
 *                                     first: the client's schedule for spending its lease
 *  10 out_r   11 out_t               leased and not yet returned or expired
 *  12 credited_r 13 credited_t       what the return gave back (0 when the lease had expired)
 *  14 now_ms                          Redis clock
 *  15-19 the key's rpm, tpm, rpd, burst_r, burst_t (the limits it enforces)
 *  20 differ                          "1" when this call's limits differ from the key's
 *  21 clients                         ids seen on the key in the last minute, comma-separated
 *  22 use                             the key's average share of a reservation used (0 =
 *                                     not known) */
#ifndef CG_REDIS_SCRIPT_H
#define CG_REDIS_SCRIPT_H

extern const char cg_redis_script[];

#endif
