/*
 * wordcount: counts lines, words and bytes like GNU wc in the C locale.
 *   wordcount [-l] [-w] [-c] [FILE]...
 * With no FILE, or FILE "-", reads stdin. A word is a run of printable non-space bytes;
 * control bytes and bytes >= 0x80 neither start nor end a word (what wc does under LC_ALL=C).
 * The column width follows wc: the digits of the summed file sizes, at least 7 when stdin is
 * counted, and no padding when a single count of a single input is printed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct counts {
  unsigned long long lines, words, bytes;
};

static int show_lines, show_words, show_bytes;

static int count_fd(int fd, struct counts *c) {
  static unsigned char buf[65536];
  int in_word = 0;
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (n == 0) break;
    c->bytes += (unsigned long long)n;
    for (ssize_t i = 0; i < n; i++) {
      unsigned char b = buf[i];
      if (b == '\n') c->lines++;
      if (b == ' ' || (b >= '\t' && b <= '\r')) {
        c->words += in_word;
        in_word = 0;
      } else if (b > ' ' && b < 0x7f) {
        in_word = 1;
      }
    }
  }
  c->words += in_word;
  return 0;
}

static void print(const struct counts *c, int width, const char *name) {
  const char *sep = "";
  if (show_lines) { printf("%s%*llu", sep, width, c->lines); sep = " "; }
  if (show_words) { printf("%s%*llu", sep, width, c->words); sep = " "; }
  if (show_bytes) { printf("%s%*llu", sep, width, c->bytes); sep = " "; }
  if (name) printf(" %s", name);
  putchar('\n');
}

int main(int argc, char **argv) {
  int first = 1;
  for (; first < argc && argv[first][0] == '-' && argv[first][1] != '\0'; first++) {
    if (strcmp(argv[first], "--") == 0) { first++; break; }
    for (const char *o = argv[first] + 1; *o; o++) {
      if (*o == 'l') show_lines = 1;
      else if (*o == 'w') show_words = 1;
      else if (*o == 'c') show_bytes = 1;
      else {
        fprintf(stderr, "wordcount: invalid option -- '%c'\nusage: wordcount [-l] [-w] [-c] [FILE]...\n", *o);
        return 2;
      }
    }
  }
  if (!show_lines && !show_words && !show_bytes) show_lines = show_words = show_bytes = 1;
  int nfiles = argc - first;
  int shown = show_lines + show_words + show_bytes;

  if (nfiles == 0) {
    struct counts c = {0, 0, 0};
    if (count_fd(0, &c) < 0) { fprintf(stderr, "wordcount: stdin: %s\n", strerror(errno)); return 1; }
    print(&c, shown == 1 ? 1 : 7, NULL);
    return 0;
  }

  /* width from the inputs' sizes, as wc computes it before reading */
  unsigned long long regular_total = 0;
  int min_width = 1, width = 1;
  for (int i = first; i < argc; i++) {
    struct stat st;
    if (strcmp(argv[i], "-") == 0) { min_width = 7; continue; }
    if (stat(argv[i], &st) == 0) {
      if (S_ISREG(st.st_mode)) regular_total += (unsigned long long)st.st_size;
      else min_width = 7;
    } else if (i == first) {
      break; /* wc keeps width 1 when the first input cannot be read */
    }
  }
  for (; regular_total >= 10; regular_total /= 10) width++;
  if (width < min_width) width = min_width;
  if (shown == 1 && nfiles == 1) width = 1;

  struct counts total = {0, 0, 0};
  int status = 0;
  for (int i = first; i < argc; i++) {
    struct counts c = {0, 0, 0};
    int fd = strcmp(argv[i], "-") == 0 ? 0 : open(argv[i], O_RDONLY);
    if (fd < 0 || count_fd(fd, &c) < 0) {
      fprintf(stderr, "wordcount: %s: %s\n", argv[i], strerror(errno));
      status = 1;
      if (fd > 0) close(fd);
      continue;
    }
    if (fd > 0) close(fd);
    print(&c, width, argv[i]);
    total.lines += c.lines;
    total.words += c.words;
    total.bytes += c.bytes;
  }
  if (nfiles > 1) print(&total, width, "total");
  return status;
}
