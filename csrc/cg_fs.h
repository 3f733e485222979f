/* Files the way a tool that writes into a user's folder must handle them: durable
 * (fsync of a file and of its folder), never through a planted symbolic link, and one
 * writer per folder (an advisory lock). Plain C, no Lua: cg_fs_lua.c binds it. */
#ifndef CG_FS_H
#define CG_FS_H

#include <stddef.h>
#include <sys/types.h>

/* Largest pid text read back from a lock file. */
#define CG_FS_PID_MAX 32

/* Flushes a folder's entries (a rename inside it) to disk. 0, or -errno. */
int cg_fs_fsync_dir(const char *path);

/* Opens a regular file for reading without following a symbolic link at its last
 * component. The descriptor, or -errno: -ELOOP for a link, -EINVAL for anything that is
 * not a regular file (a folder, a device, a pipe). */
int cg_fs_open_regular(const char *path);

/* Takes an exclusive advisory lock on `path` (created when missing, never through a
 * link) and writes our pid into it. 0 with *fd set; 1 when another process holds it,
 * with *holder its pid (0 when unknown); -errno on failure. */
int cg_fs_lock(const char *path, int *fd, long *holder);

/* The pid written at the start of `text` (decimal, then optional white space); 0 when
 * the text is not one (a lock file being written, or not ours). */
long cg_fs_parse_pid(const char *text, size_t len);

/* Lua opener (cg_fs_lua.c). */
struct lua_State;
int cg_fs_open(struct lua_State *L);

#endif
