/* Lua binding of cg_fs.h: core.fsync, core.fsync_dir, core.read_regular, core.lock,
 * core.getpid. */
#include "cg_types.h"
#include "cg_fs.h"

#include <errno.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOCK_MT "coursegen.fs.lock"

static int push_errno(lua_State *L, const char *what, int e) {
  lua_pushnil(L);
  lua_pushfstring(L, "%s: %s", what, strerror(e));
  return 2;
}

/*** core.fsync(file) -> true | nil, err: flushes an open Lua file to disk. */
static int l_fsync(lua_State *L) {
  luaL_Stream *s = (luaL_Stream *)luaL_checkudata(L, 1, LUA_FILEHANDLE);
  if (s->closef == NULL) return luaL_error(L, "fsync: the file is closed");
  if (fflush(s->f) != 0 || fsync(fileno(s->f)) != 0) return push_errno(L, "fsync", errno);
  lua_pushboolean(L, 1);
  return 1;
}

/*** core.fsync_dir(path) -> true | nil, err: makes a rename inside the folder durable. */
static int l_fsync_dir(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  int rc = cg_fs_fsync_dir(path);
  if (rc < 0) return push_errno(L, path, -rc);
  lua_pushboolean(L, 1);
  return 1;
}

/*** core.read_regular(path[, max]) -> text | nil, err, why: reads a regular file, never
 * through a symbolic link. `why` is "link", "not a file", "too large" or "error". */
static int l_read_regular(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  lua_Integer max = luaL_optinteger(L, 2, -1);
  int fd = cg_fs_open_regular(path);
  if (fd < 0) {
    lua_pushnil(L);
    if (fd == -ELOOP) {
      lua_pushfstring(L, "%s is a symbolic link (coursegen does not follow links in its output)", path);
      lua_pushliteral(L, "link");
    } else if (fd == -EINVAL) {
      lua_pushfstring(L, "%s is not a regular file", path);
      lua_pushliteral(L, "not a file");
    } else {
      lua_pushfstring(L, "%s: %s", path, strerror(-fd));
      lua_pushstring(L, fd == -ENOENT ? "missing" : "error");
    }
    return 3;
  }
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  size_t total = 0;
  for (;;) {
    char *p = luaL_prepbuffsize(&b, 65536);
    ssize_t n = read(fd, p, 65536);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      close(fd);
      return push_errno(L, path, e);
    }
    if (n == 0) break;
    luaL_addsize(&b, (size_t)n);
    total += (size_t)n;
    if (max >= 0 && total > (size_t)max) {
      close(fd);
      lua_pushnil(L);
      lua_pushfstring(L, "%s: file too large (more than %I bytes)", path, max);
      lua_pushliteral(L, "too large");
      return 3;
    }
  }
  close(fd);
  luaL_pushresult(&b);
  return 1;
}

typedef struct {
  int fd;
} fs_lock;

static int lock_release(lua_State *L) {
  fs_lock *lk = (fs_lock *)luaL_checkudata(L, 1, LOCK_MT);
  if (lk->fd >= 0) close(lk->fd); /* closing the descriptor drops the flock */
  lk->fd = -1;
  return 0;
}

/*** core.lock(path) -> lock | nil, err, holder_pid: an exclusive advisory lock held until
 * lock:release(), the lock going out of scope (<close>) or the process ending. */
static int l_lock(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  fs_lock *lk = (fs_lock *)lua_newuserdatauv(L, sizeof *lk, 0);
  lk->fd = -1;
  luaL_setmetatable(L, LOCK_MT);
  long holder = 0;
  int rc = cg_fs_lock(path, &lk->fd, &holder);
  if (rc == 0) return 1;
  lua_pushnil(L);
  if (rc == 1) {
    lua_pushfstring(L, "%s is locked by another process", path);
    lua_pushinteger(L, holder);
    return 3;
  }
  lua_pushfstring(L, "%s: %s", path, strerror(-rc));
  return 2;
}

static int l_getpid(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)getpid());
  return 1;
}

int cg_fs_open(lua_State *L) {
  if (luaL_newmetatable(L, LOCK_MT)) {
    static const luaL_Reg methods[] = {{"release", lock_release}, {NULL, NULL}};
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, lock_release);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, lock_release);
    lua_setfield(L, -2, "__close");
  }
  lua_pop(L, 1);
  static const luaL_Reg fns[] = {{"fsync", l_fsync},   {"fsync_dir", l_fsync_dir}, {"read_regular", l_read_regular},
                                 {"lock", l_lock},     {"getpid", l_getpid},       {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
  return 0;
}
