/* Fuzzing target: the shared limiter's URL parser. Whatever the URL, it fills bounded
 * fields or fails with a message, and no message ever quotes the password. */
#include "cg_redis_url.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 4096) return 0;
  char *s = malloc(size + 1);
  if (!s) return 0;
  memcpy(s, data, size);
  s[size] = '\0';
  cg_redis_url u;
  char err[512];
  err[0] = '\0';
  if (cg_redis_url_parse(s, &u, err, sizeof err) == 0) {
    if (!memchr(u.host, '\0', sizeof u.host) || !memchr(u.path, '\0', sizeof u.path) ||
        !memchr(u.key, '\0', sizeof u.key) || !memchr(u.password, '\0', sizeof u.password) ||
        !memchr(u.display, '\0', sizeof u.display))
      abort();
    if (!u.key[0]) abort(); /* the key is required */
    if (!u.is_unix && (u.port < 1 || u.port > 65535)) abort();
    /* the display form masks any password the URL carried */
    if (u.has_password && u.password[0] && !strstr(u.display, "***")) abort();
  } else {
    if (strncmp(err, "bad limiter URL", 15) != 0) abort();
  }
  free(s);
  return 0;
}
