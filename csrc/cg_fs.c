/* Durable, link-safe file primitives (see cg_fs.h). */
#include "cg_fs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

int cg_fs_fsync_dir(const char *path) {
  int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -errno;
  int rc = fsync(fd) == 0 ? 0 : -errno;
  close(fd);
  return rc;
}

int cg_fs_open_regular(const char *path) {
  /* O_NONBLOCK: a planted FIFO must not hang the open; a regular file ignores it. */
  int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) return -errno;
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return -EINVAL;
  }
  return fd;
}

long cg_fs_parse_pid(const char *text, size_t len) {
  long pid = 0;
  size_t i = 0;
  for (; i < len && text[i] >= '0' && text[i] <= '9'; i++) {
    if (pid > 99999999L) return 0; /* longer than any pid */
    pid = pid * 10 + (text[i] - '0');
  }
  if (i == 0) return 0;
  for (; i < len; i++)
    if (text[i] != '\n' && text[i] != ' ' && text[i] != '\r' && text[i] != '\t') return 0;
  return pid;
}

static long read_holder(int fd) {
  char buf[CG_FS_PID_MAX];
  ssize_t n = pread(fd, buf, sizeof buf, 0);
  return n > 0 ? cg_fs_parse_pid(buf, (size_t)n) : 0;
}

int cg_fs_lock(const char *path, int *fd, long *holder) {
  *fd = -1;
  *holder = 0;
  int f = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0644);
  if (f < 0) return -errno;
  if (flock(f, LOCK_EX | LOCK_NB) != 0) {
    int e = errno;
    if (e == EWOULDBLOCK) *holder = read_holder(f);
    close(f);
    return e == EWOULDBLOCK ? 1 : -e;
  }
  char buf[CG_FS_PID_MAX];
  int len = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
  if (ftruncate(f, 0) != 0 || pwrite(f, buf, (size_t)len, 0) != (ssize_t)len) {
    int e = errno;
    close(f); /* closing releases the lock */
    return -e;
  }
  *fd = f;
  return 0;
}
