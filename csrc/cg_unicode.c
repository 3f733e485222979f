/* Unicode keys for comparing titles: "Café", "CAFÉ" and "Cafe\u0301" must count as one
 * chapter. NFKC with case folding (Unicode's NFKC_Casefold) is what libutf8proc provides;
 * Debian has no Unicode normalisation library for Lua 5.4, hence this small binding. */
#include "cg_types.h"

#include <stdlib.h>
#include <utf8proc.h>

/*** core.title_key(s) -> key | nil, message: NFKC_Casefold of UTF-8 text `s` (default
 * ignorable characters such as U+200B and U+FEFF dropped), or nil for invalid UTF-8. */
static int l_title_key(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  utf8proc_uint8_t *out = NULL;
  utf8proc_ssize_t n = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)len, &out,
                                    (utf8proc_option_t)(UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT |
                                                        UTF8PROC_CASEFOLD | UTF8PROC_IGNORE));
  if (n < 0) {
    lua_pushnil(L);
    lua_pushstring(L, utf8proc_errmsg(n));
    return 2;
  }
  lua_pushlstring(L, (const char *)out, (size_t)n);
  free(out);
  return 1;
}

int cg_unicode_open(lua_State *L) {
  static const luaL_Reg fns[] = {{"title_key", l_title_key}, {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
  return 0;
}
