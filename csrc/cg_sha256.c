/* core.sha256: the manifest's content hashes. Every chapter prompt carries the whole
 * outline, so a large course hashes megabytes per run; libcrypto's assembly does in
 * milliseconds what a Lua implementation took seconds for. */
#include "cg_types.h"

#include <openssl/evp.h>

/*** core.sha256(s) -> the SHA-256 of the bytes of s as 64 lower-case hex digits. */
static int l_sha256(lua_State *L) {
  /* Strict: a number would be hashed as its decimal text, which no caller means. */
  luaL_checktype(L, 1, LUA_TSTRING);
  size_t len;
  const char *s = lua_tolstring(L, 1, &len);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  /* Fails only when libcrypto cannot provide the algorithm (a broken installation or a
   * provider configuration without it): no hash is better than a wrong one. */
  if (!EVP_Digest(s, len, md, &n, EVP_sha256(), NULL) || n != 32)
    return luaL_error(L, "sha256: libcrypto could not compute the digest");
  static const char digits[] = "0123456789abcdef";
  char hex[64];
  for (unsigned int i = 0; i < 32; i++) {
    hex[2 * i] = digits[md[i] >> 4];
    hex[2 * i + 1] = digits[md[i] & 15];
  }
  lua_pushlstring(L, hex, sizeof hex);
  return 1;
}

int cg_sha256_open(lua_State *L) {
  lua_pushcfunction(L, l_sha256);
  lua_setfield(L, -2, "sha256");
  return 0;
}
