/* Hostile: never ends on its own.  loop [spin|sleep|recurse]  (spin by default) */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static volatile unsigned long counter;

static volatile int forever = 1;

static unsigned long recurse(unsigned long depth) {
  char frame[256];
  memset(frame, (int)depth, sizeof frame);
  if (!forever) return depth;
  return recurse(depth + 1) + (unsigned long)frame[depth % sizeof frame];
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "spin";
  printf("loop: %s\n", mode);
  fflush(stdout);
  if (strcmp(mode, "sleep") == 0) {
    for (;;) sleep(3600);
  }
  if (strcmp(mode, "recurse") == 0) {
    return (int)recurse(0);
  }
  for (;;) counter++;
}
