/* Hostile: takes memory until refused.  membomb [malloc|grow]  (malloc by default) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *volatile keep;

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "malloc";
  unsigned long total = 0;
  if (strcmp(mode, "grow") == 0) {
    /* memory.grow by 1024 pages (64 MiB) at a time, straight to the instruction */
    for (;;) {
      if (__builtin_wasm_memory_grow(0, 1024) == (size_t)-1) {
        printf("membomb: memory.grow refused after %lu MiB\n", total);
        return 3;
      }
      total += 64;
    }
  }
  for (;;) {
    char *p = malloc(1 << 20);
    if (!p) {
      printf("membomb: malloc refused after %lu MiB\n", total);
      return 3;
    }
    memset(p, 0xab, 1 << 20);
    *(void **)p = keep; /* a chain the compiler cannot prove dead, so the allocations stay */
    keep = p;
    total++;
  }
}
