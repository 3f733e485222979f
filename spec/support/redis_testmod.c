/* Stand-alone module over the Redis limiter's sources, for its spec while the engine's
 * module does not call cg_redis_open yet. */
#include <lua.h>

#include "cg_redis.h"

__attribute__((visibility("default"))) int luaopen_redis_testmod(lua_State *L);

int luaopen_redis_testmod(lua_State *L) {
  lua_newtable(L);
  cg_redis_open(L);
  return 1;
}
