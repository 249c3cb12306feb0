/* Hostile: writes without end, ignoring errors.  flood [stdout|stderr]  (stdout by default) */
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
  int fd = argc > 1 && strcmp(argv[1], "stderr") == 0 ? 2 : 1;
  static char block[65536];
  memset(block, 'y', sizeof block);
  for (;;) (void)write(fd, block, sizeof block);
}
