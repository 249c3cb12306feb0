/* Hostile: imports WASI preview 1's socket calls, which the runtime does not offer. */
#include <stdio.h>
#include <wasi/api.h>

int main(void) {
  __wasi_fd_t fd;
  __wasi_errno_t e = __wasi_sock_accept(3, 0, &fd);
  printf("sock_accept: %d\n", e);
  return e == 0 ? 0 : 1;
}
