/* Parses the URL of a shared Redis limiter. Pure (no I/O, no allocation), so it is tested
 * on its own and the client never connects with a half-understood address.
 *
 * Accepted forms:
 *   redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]?key=NAME
 *   unix://[[USER]:PASSWORD@]/PATH?key=NAME[&db=DB]
 * Both take `&outage=SECONDS` (0-86400): how long the limiter rides through Redis being
 * unreachable before the run stops (default 30; 0 = at once).
 * HOST may be a name, an IPv4 address or a bracketed IPv6 address ("[::1]"). PORT defaults
 * to 6379, DB to 0. A userinfo without ":" is a password (the pre-ACL form). USER,
 * PASSWORD and NAME may carry %XX escapes (a password with "/", "?" or "#" needs them).
 * `key` is required: it names the shared quota, and two projects must never share one
 * by accident.
 *
 * Error messages (written to `err`, the function then returns -1) all start with
 * "bad limiter URL" and never quote the password:
 *   "bad limiter URL: empty"
 *   "bad limiter URL 'X': scheme must be redis:// or unix://"
 *   "bad limiter URL 'X': rediss:// (TLS) is not supported"
 *   "bad limiter URL: too long (at most 1023 bytes)"
 *   "bad limiter URL 'X': missing host"
 *   "bad limiter URL 'X': unclosed '[' in host"
 *   "bad limiter URL 'X': junk after ']' in host"
 *   "bad limiter URL 'X': unix:// takes no host (unix:///PATH)"
 *   "bad limiter URL 'X': bad port 'P' (1-65535)"
 *   "bad limiter URL 'X': bad database 'D' (0-1000000)"
 *   "bad limiter URL 'X': missing socket path"
 *   "bad limiter URL 'X': missing ?key=NAME"
 *   "bad limiter URL 'X': bad key (1-200 printable characters, no spaces)"
 *   "bad limiter URL 'X': unknown parameter 'P'"
 *   "bad limiter URL 'X': duplicate parameter 'P'"
 *   "bad limiter URL 'X': bad outage 'S' (0-86400 seconds)"
 *   "bad limiter URL 'X': db= only applies to unix:// (use /DB)"
 *   "bad limiter URL 'X': bad %-escape"
 *   "bad limiter URL 'X': field too long"
 * where X is the URL with any password replaced by "***". */
#ifndef CG_REDIS_URL_H
#define CG_REDIS_URL_H

#include <stddef.h>

#define CG_REDIS_URL_MAX 1024
#define CG_REDIS_KEY_MAX 200

typedef struct cg_redis_url {
  int is_unix;                     /* 1: `path` is a socket path; 0: `host`:`port` */
  char host[256];                  /* without the IPv6 brackets */
  int port;
  char path[256];
  int db;
  char user[128];                  /* empty: no user (plain AUTH password) */
  char password[256];              /* empty: no AUTH */
  int has_password;                /* 1 when the URL carried one, even an empty one */
  char key[CG_REDIS_KEY_MAX + 1];
  double outage_s;                 /* -1: not given (the client's default) */
  char display[CG_REDIS_URL_MAX];  /* the URL as given, password masked: safe in messages */
} cg_redis_url;

/* Fills `out` from `s`. Returns 0, or -1 with a message in `err` (see above). */
int cg_redis_url_parse(const char *s, cg_redis_url *out, char *err, size_t errlen);

#endif
