/*
 * Hostile: tries to reach files it was not given.  escape MODE [PATH]
 *   open PATH       open PATH for reading through libc (absolute paths pick the preopen)
 *   raw PATH        path_open PATH relative to the first preopen, bypassing libc's path logic
 *   write PATH      create PATH and write "pwned\n" into it
 *   mkdir PATH      create directory PATH
 *   rm PATH         unlink PATH
 *   preopens        list every preopened directory and its entries
 * Prints "OPENED <path>: <first line>" / "WROTE <path>" / "DENIED <path>: <error>" and exits 0
 * when it got through, 1 when refused.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <wasi/api.h>

static int show(int fd, const char *path) {
  char buf[200];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  if (n < 0) {
    printf("DENIED %s: read: %s\n", path, strerror(errno));
    return 1;
  }
  buf[n] = '\0';
  char *nl = strchr(buf, '\n');
  if (nl) *nl = '\0';
  printf("OPENED %s: %s\n", path, buf);
  return 0;
}

static int denied(const char *path, const char *why) {
  printf("DENIED %s: %s\n", path, why);
  return 1;
}

int main(int argc, char **argv) {
  if (argc < 2) return denied("-", "usage: escape MODE [PATH]");
  const char *mode = argv[1], *path = argc > 2 ? argv[2] : "";
  if (strcmp(mode, "open") == 0) {
    int fd = open(path, O_RDONLY);
    return fd < 0 ? denied(path, strerror(errno)) : show(fd, path);
  }
  if (strcmp(mode, "raw") == 0) {
    __wasi_fd_t fd;
    __wasi_errno_t e = __wasi_path_open(3, __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW, path, 0,
                                        __WASI_RIGHTS_FD_READ, 0, 0, &fd);
    return e ? denied(path, strerror(e)) : show((int)fd, path);
  }
  if (strcmp(mode, "write") == 0) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return denied(path, strerror(errno));
    if (write(fd, "pwned\n", 6) != 6) return denied(path, strerror(errno));
    if (close(fd) != 0) return denied(path, strerror(errno));
    printf("WROTE %s\n", path);
    return 0;
  }
  if (strcmp(mode, "mkdir") == 0) {
    if (mkdir(path, 0755) != 0) return denied(path, strerror(errno));
    printf("WROTE %s\n", path);
    return 0;
  }
  if (strcmp(mode, "rm") == 0) {
    if (unlink(path) != 0) return denied(path, strerror(errno));
    printf("WROTE %s\n", path);
    return 0;
  }
  if (strcmp(mode, "preopens") == 0) {
    for (__wasi_fd_t fd = 3; fd < 64; fd++) {
      __wasi_prestat_t pre;
      if (__wasi_fd_prestat_get(fd, &pre) != 0) break;
      char name[256] = {0};
      size_t len = pre.u.dir.pr_name_len < 255 ? pre.u.dir.pr_name_len : 255;
      if (__wasi_fd_prestat_dir_name(fd, (uint8_t *)name, len) != 0) break;
      printf("PREOPEN %s:", name);
      DIR *d = opendir(name);
      struct dirent *e;
      while (d && (e = readdir(d)) != NULL) printf(" %s", e->d_name);
      printf("\n");
      if (d) closedir(d);
    }
    return 0;
  }
  return denied(mode, "unknown mode");
}
