/*
 * md2text: Markdown (CommonMark's common constructs and GitHub tables) to plain text.
 *   md2text [FILE]          reads stdin without FILE
 * - headings (ATX and setext) become their text; paragraphs are joined into one line
 *   (a hard break, two trailing spaces or a backslash, keeps the line break)
 * - emphasis, strong and strikethrough markers are dropped; code spans keep their text
 * - [text](url) becomes "text (url)", or "text" when the url is the text or a #fragment;
 *   ![alt](src) becomes "alt"; <http://x> becomes http://x; reference links become their text
 *   and link definitions are dropped
 * - fenced and indented code blocks are kept verbatim, without fences or the 4-space indent
 * - list items keep their indent; bullets become "- ", numbers stay "1. "
 * - block quotes lose their ">" and are indented by two spaces per level
 * - table rows become their cells separated by a tab; the delimiter row is dropped
 * - HTML tags and comments are dropped (<br> breaks the line); &amp; &lt; &gt; &quot; &apos; &nbsp; and numeric
 *   character references are decoded; backslash escapes give the character
 * Blocks are separated by one empty line; consecutive list items and table rows are not.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
  char *s;
  size_t n, cap;
} buf;

static void oom(void) {
  fputs("md2text: out of memory\n", stderr);
  exit(2);
}

static void put(buf *b, const char *s, size_t n) {
  if (b->n + n + 1 > b->cap) {
    b->cap = (b->n + n + 1) * 2;
    b->s = realloc(b->s, b->cap);
    if (!b->s) oom();
  }
  memcpy(b->s + b->n, s, n);
  b->n += n;
  b->s[b->n] = '\0';
}

static void putc_buf(buf *b, char c) { put(b, &c, 1); }

static void put_utf8(buf *b, unsigned long cp) {
  char o[4];
  if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp < 0xe000)) cp = 0xfffd;
  if (cp < 0x80) { o[0] = (char)cp; put(b, o, 1); }
  else if (cp < 0x800) { o[0] = (char)(0xc0 | cp >> 6); o[1] = (char)(0x80 | (cp & 0x3f)); put(b, o, 2); }
  else if (cp < 0x10000) {
    o[0] = (char)(0xe0 | cp >> 12); o[1] = (char)(0x80 | ((cp >> 6) & 0x3f)); o[2] = (char)(0x80 | (cp & 0x3f)); put(b, o, 3);
  } else {
    o[0] = (char)(0xf0 | cp >> 18); o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f)); o[3] = (char)(0x80 | (cp & 0x3f)); put(b, o, 4);
  }
}

/* ---------- inline ---------- */

static int is_punct(char c) { return c > ' ' && c < 0x7f && !isalnum((unsigned char)c); }
static int is_space_at(const char *s, size_t n, size_t i) {
  return i >= n || s[i] == ' ' || s[i] == '\t' || s[i] == '\n';
}
static int is_alnum_at(const char *s, size_t n, size_t i) {
  return i < n && (isalnum((unsigned char)s[i]) || (unsigned char)s[i] >= 0x80);
}

static size_t run_length(const char *s, size_t n, size_t i, char c) {
  size_t k = 0;
  while (i + k < n && s[i + k] == c) k++;
  return k;
}

/* an entity at s[i] == '&': appends its character and returns its length, or 0 */
static size_t entity(buf *out, const char *s, size_t n, size_t i) {
  static const struct { const char *name; const char *text; } named[] = {
      {"&amp;", "&"}, {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&apos;", "'"}, {"&nbsp;", " "}};
  for (size_t k = 0; k < sizeof named / sizeof *named; k++) {
    size_t len = strlen(named[k].name);
    if (n - i >= len && memcmp(s + i, named[k].name, len) == 0) {
      put(out, named[k].text, strlen(named[k].text));
      return len;
    }
  }
  if (i + 2 < n && s[i + 1] == '#') {
    size_t j = i + 2;
    int hex = j < n && (s[j] == 'x' || s[j] == 'X');
    if (hex) j++;
    unsigned long cp = 0;
    size_t digits = 0;
    while (j < n && digits < 7 && (hex ? isxdigit((unsigned char)s[j]) : isdigit((unsigned char)s[j]))) {
      char c = s[j++];
      cp = cp * (hex ? 16 : 10) + (unsigned long)(isdigit((unsigned char)c) ? c - '0' : (tolower(c) - 'a' + 10));
      digits++;
    }
    if (digits && j < n && s[j] == ';') {
      put_utf8(out, cp);
      return j + 1 - i;
    }
  }
  return 0;
}

/* the end (index after ')') of "(url ...)" starting at s[i] == '(', or 0; url span in *u, *ulen */
static size_t link_target(const char *s, size_t n, size_t i, size_t *u, size_t *ulen) {
  size_t j = i + 1, depth = 0;
  while (j < n && s[j] == ' ') j++;
  size_t start = j;
  if (j < n && s[j] == '<') {
    start = ++j;
    while (j < n && s[j] != '>') j++;
    if (j >= n) return 0;
    *u = start;
    *ulen = j - start;
    j++;
  } else {
    while (j < n && s[j] != ' ' && !(s[j] == ')' && depth == 0)) {
      if (s[j] == '(') depth++;
      if (s[j] == ')') depth--;
      j++;
    }
    *u = start;
    *ulen = j - start;
  }
  while (j < n && s[j] != ')') j++; /* skip an optional title */
  return j < n ? j + 1 : 0;
}

/* index of the ']' that closes the '[' at s[i], or 0 */
static size_t closing_bracket(const char *s, size_t n, size_t i) {
  int depth = 0;
  for (size_t j = i; j < n; j++) {
    if (s[j] == '\\') { j++; continue; }
    if (s[j] == '`') { size_t k = run_length(s, n, j, '`'); j += k - 1; continue; }
    if (s[j] == '[') depth++;
    if (s[j] == ']' && --depth == 0) return j;
  }
  return 0;
}

static void render(buf *out, const char *s, size_t n);

/* an HTML tag or autolink at s[i] == '<': handles it and returns its length, or 0 */
static size_t angle(buf *out, const char *s, size_t n, size_t i) {
  size_t j = i + 1;
  size_t end = j;
  while (end < n && s[end] != '>' && s[end] != '<' && s[end] != ' ' && s[end] != '\n') end++;
  if (end < n && s[end] == '>' && end > j) {
    const char *colon = memchr(s + j, ':', end - j);
    const char *at = memchr(s + j, '@', end - j);
    if ((colon && colon > s + j && isalpha((unsigned char)s[j])) || (at && at > s + j)) {
      put(out, s + j, end - j); /* autolink */
      return end + 1 - i;
    }
  }
  if (j < n && s[j] == '/') j++;
  if (j >= n || !isalpha((unsigned char)s[j])) return 0;
  size_t name = j;
  while (j < n && (isalnum((unsigned char)s[j]) || s[j] == '-')) j++;
  int br = j - name == 2 && tolower((unsigned char)s[name]) == 'b' && tolower((unsigned char)s[name + 1]) == 'r';
  if (j < n && s[j] != '>' && s[j] != ' ' && s[j] != '/' && s[j] != '\n') return 0;
  char quote = 0;
  for (; j < n; j++) {
    if (quote) { if (s[j] == quote) quote = 0; continue; }
    if (s[j] == '"' || s[j] == '\'') quote = s[j];
    else if (s[j] == '>') {
      if (br) putc_buf(out, '\n'); /* <br> is a line break; other tags just go */
      return j + 1 - i;
    }
  }
  return 0;
}

static void render(buf *out, const char *s, size_t n) {
  for (size_t i = 0; i < n;) {
    char c = s[i];
    if (c == '\\' && i + 1 < n && is_punct(s[i + 1])) {
      putc_buf(out, s[i + 1]);
      i += 2;
      continue;
    }
    if (c == '`') {
      size_t k = run_length(s, n, i, '`');
      size_t j = i + k, found = 0;
      while (j < n) {
        if (s[j] == '`') {
          size_t m = run_length(s, n, j, '`');
          if (m == k) { found = j; break; }
          j += m;
        } else {
          j++;
        }
      }
      if (!found) { put(out, s + i, k); i += k; continue; }
      size_t a = i + k, b = found;
      if (b - a >= 2 && s[a] == ' ' && s[b - 1] == ' ') { a++; b--; }
      put(out, s + a, b - a);
      i = found + k;
      continue;
    }
    if (c == '!' && i + 1 < n && s[i + 1] == '[') {
      size_t close = closing_bracket(s, n, i + 1);
      size_t u, ulen, end;
      if (close && close + 1 < n && s[close + 1] == '(' && (end = link_target(s, n, close + 1, &u, &ulen))) {
        render(out, s + i + 2, close - i - 2);
        i = end;
        continue;
      }
    }
    if (c == '[') {
      size_t close = closing_bracket(s, n, i);
      size_t u, ulen, end;
      if (close && close + 1 < n && s[close + 1] == '(' && (end = link_target(s, n, close + 1, &u, &ulen))) {
        size_t before = out->n;
        render(out, s + i + 1, close - i - 1);
        size_t text_len = out->n - before;
        int same = text_len == ulen && memcmp(out->s + before, s + u, ulen) == 0;
        if (ulen && !same && s[u] != '#') {
          put(out, " (", 2);
          put(out, s + u, ulen);
          putc_buf(out, ')');
        }
        i = end;
        continue;
      }
      if (close && close + 1 < n && s[close + 1] == '[') { /* [text][ref] and [text][] */
        size_t ref_close = closing_bracket(s, n, close + 1);
        if (ref_close) {
          render(out, s + i + 1, close - i - 1);
          i = ref_close + 1;
          continue;
        }
      }
    }
    if (c == '<') {
      size_t len = angle(out, s, n, i);
      if (len) { i += len; continue; }
    }
    if (c == '&') {
      size_t len = entity(out, s, n, i);
      if (len) { i += len; continue; }
    }
    if (c == '*' || c == '_' || c == '~') {
      size_t k = run_length(s, n, i, c);
      size_t use = c == '~' ? 2 : (k > 3 ? 3 : k);
      /* an opener is followed by a non-space; "_" must also not follow a letter (intraword) */
      int opener = k >= use && (c != '~' || k == 2) && !is_space_at(s, n, i + k) &&
                   !(c == '_' && i > 0 && is_alnum_at(s, n, i - 1));
      if (opener) {
        for (size_t j = i + k; j < n; j++) {
          if (s[j] == '\\') { j++; continue; }
          if (s[j] != c) continue;
          size_t m = run_length(s, n, j, c);
          int closer = m == k && !is_space_at(s, n, j - 1) && !(c == '_' && is_alnum_at(s, n, j + m));
          if (closer) {
            render(out, s + i + k, j - i - k);
            i = j + m;
            goto next;
          }
          j += m - 1;
        }
      }
      put(out, s + i, k);
      i += k;
      continue;
    }
    putc_buf(out, c);
    i++;
  next:;
  }
}

/* ---------- blocks ---------- */

enum kind { K_NONE, K_PARA, K_LIST, K_TABLE, K_CODE };

static buf out;
static enum kind last_kind = K_NONE;
static int blank_since_last;

static buf para;        /* raw paragraph text, lines joined with ' ' or '\n' */
static buf para_prefix; /* "  " per quote level, and the list marker for a list item */
static size_t para_hang; /* indent of continuation lines of a list item */
static enum kind para_kind = K_NONE;

static void begin_block(enum kind kind) {
  if (last_kind != K_NONE) {
    int flows = kind == last_kind && (kind == K_LIST || kind == K_TABLE) && !blank_since_last;
    if (!flows) putc_buf(&out, '\n');
  }
  last_kind = kind;
  blank_since_last = 0;
}

static void emit_lines(enum kind kind, const char *prefix, size_t prefix_len, size_t hang, const char *text, size_t n) {
  begin_block(kind);
  for (size_t i = 0, line = 0; i <= n; line++) {
    const char *nl = memchr(text + i, '\n', n - i);
    size_t end = nl ? (size_t)(nl - text) : n;
    if (line == 0) put(&out, prefix, prefix_len);
    else for (size_t k = 0; k < hang; k++) putc_buf(&out, ' ');
    put(&out, text + i, end - i);
    putc_buf(&out, '\n');
    i = end + 1;
    if (!nl) break;
  }
}

static void flush_para(void) {
  if (para_kind == K_NONE) return;
  buf text = {0};
  put(&text, "", 0);
  render(&text, para.s, para.n);
  size_t n = text.n;
  while (n && (text.s[n - 1] == ' ' || text.s[n - 1] == '\n')) n--;
  emit_lines(para_kind, para_prefix.s, para_prefix.n, para_hang, text.s, n);
  free(text.s);
  para.n = 0;
  para_kind = K_NONE;
}

static void add_para_line(const char *s, size_t n) {
  while (n && (s[0] == ' ' || s[0] == '\t')) { s++; n--; }
  int hard = 0;
  if (n >= 2 && s[n - 1] == ' ' && s[n - 2] == ' ') hard = 1;
  else if (n && s[n - 1] == '\\') { hard = 1; n--; }
  while (n && (s[n - 1] == ' ' || s[n - 1] == '\t')) n--;
  if (para.n && para.s[para.n - 1] != '\n') putc_buf(&para, ' '); /* no space after a hard break */
  put(&para, s, n);
  if (hard) putc_buf(&para, '\n');
}

static size_t indent_of(const char *s, size_t n) {
  size_t i = 0, col = 0;
  for (; i < n && (s[i] == ' ' || s[i] == '\t'); i++) col += s[i] == '\t' ? 4 - col % 4 : 1;
  return col;
}

static int is_blank(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) if (s[i] != ' ' && s[i] != '\t') return 0;
  return 1;
}

/* "---", "***", "___" (3+ of one char, spaces allowed) */
static int is_break(const char *s, size_t n) {
  char c = 0;
  size_t count = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == ' ' || s[i] == '\t') continue;
    if (s[i] != '-' && s[i] != '*' && s[i] != '_') return 0;
    if (c && s[i] != c) return 0;
    c = s[i];
    count++;
  }
  return count >= 3;
}

static int is_setext(const char *s, size_t n) {
  size_t i = 0;
  while (i < n && i < 3 && s[i] == ' ') i++;
  if (i >= n || (s[i] != '=' && s[i] != '-')) return 0;
  char c = s[i];
  while (i < n && s[i] == c) i++;
  return is_blank(s + i, n - i);
}

static int is_delimiter_row(const char *s, size_t n) {
  int dashes = 0, pipes = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '-') dashes++;
    else if (s[i] == '|') pipes++;
    else if (s[i] != ':' && s[i] != ' ' && s[i] != '\t') return 0;
  }
  return dashes > 0 && pipes > 0;
}

static void table_row(const char *s, size_t n) {
  while (n && (s[0] == ' ' || s[0] == '\t')) { s++; n--; }
  while (n && (s[n - 1] == ' ' || s[n - 1] == '\t')) n--;
  if (n && s[0] == '|') { s++; n--; }
  if (n && s[n - 1] == '|' && !(n >= 2 && s[n - 2] == '\\')) n--;
  buf row = {0};
  put(&row, "", 0);
  size_t start = 0;
  int first = 1;
  for (size_t i = 0; i <= n; i++) {
    if (i < n && s[i] == '\\') { i++; continue; }
    if (i < n && s[i] != '|') continue;
    size_t a = start, b = i;
    while (a < b && s[a] == ' ') a++;
    while (b > a && s[b - 1] == ' ') b--;
    if (!first) putc_buf(&row, '\t');
    render(&row, s + a, b - a);
    first = 0;
    start = i + 1;
  }
  emit_lines(K_TABLE, "", 0, 0, row.s, row.n);
  free(row.s);
}

int main(int argc, char **argv) {
  if (argc > 2) {
    fputs("usage: md2text [FILE]\n", stderr);
    return 2;
  }
  int fd = 0;
  if (argc == 2 && strcmp(argv[1], "-") != 0 && (fd = open(argv[1], O_RDONLY)) < 0) {
    fprintf(stderr, "md2text: %s: %s\n", argv[1], strerror(errno));
    return 2;
  }
  buf in = {0};
  char chunk[65536];
  for (;;) {
    ssize_t r = read(fd, chunk, sizeof chunk);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) { fprintf(stderr, "md2text: read: %s\n", strerror(errno)); return 2; }
    if (r == 0) break;
    put(&in, chunk, (size_t)r);
  }
  put(&in, "", 0);
  put(&para_prefix, "", 0);

  int in_fence = 0, in_comment = 0, in_table = 0;
  char fence_char = 0;
  size_t fence_len = 0, fence_indent = 0;
  buf code = {0};
  put(&code, "", 0);
  int in_indented = 0;

  for (size_t i = 0; i < in.n;) {
    const char *nl = memchr(in.s + i, '\n', in.n - i);
    size_t end = nl ? (size_t)(nl - in.s) : in.n;
    const char *line = in.s + i;
    size_t len = end - i;
    i = end + 1;
    if (len && line[len - 1] == '\r') len--;
    const char *next = i < in.n ? in.s + i : NULL;
    size_t next_len = 0;
    if (next) {
      const char *nl2 = memchr(next, '\n', in.n - i);
      next_len = (nl2 ? (size_t)(nl2 - next) : in.n - i);
      if (next_len && next[next_len - 1] == '\r') next_len--;
    }

    if (in_fence) {
      size_t k = 0;
      while (k < len && k < 3 && line[k] == ' ') k++;
      size_t run = run_length(line, len, k, fence_char);
      if (run >= fence_len && is_blank(line + k + run, len - k - run)) {
        emit_lines(K_CODE, "", 0, 0, code.s, code.n ? code.n - 1 : 0);
        code.n = 0;
        in_fence = 0;
        continue;
      }
      size_t strip = 0;
      while (strip < len && strip < fence_indent && line[strip] == ' ') strip++;
      put(&code, line + strip, len - strip);
      putc_buf(&code, '\n');
      continue;
    }
    if (in_comment) {
      const char *close = len >= 3 ? strstr(line, "-->") : NULL;
      if (close && close < line + len) in_comment = 0;
      continue;
    }
    if (in_indented) {
      if (is_blank(line, len) || indent_of(line, len) >= 4) {
        size_t col = 0, k = 0;
        while (k < len && col < 4) { col += line[k] == '\t' ? 4 - col % 4 : 1; k++; }
        put(&code, line + k, len - k);
        putc_buf(&code, '\n');
        continue;
      }
      size_t n = code.n;
      while (n && code.s[n - 1] == '\n') n--;
      emit_lines(K_CODE, "", 0, 0, code.s, n);
      code.n = 0;
      in_indented = 0;
    }

    if (is_blank(line, len)) {
      flush_para();
      in_table = 0;
      blank_since_last = 1;
      continue;
    }

    size_t ind = indent_of(line, len);
    size_t k = 0;
    while (k < len && (line[k] == ' ' || line[k] == '\t')) k++;
    const char *t = line + k;
    size_t tn = len - k;

    if (in_table) {
      if (memchr(t, '|', tn)) { table_row(t, tn); continue; }
      in_table = 0;
    }
    if (ind >= 4 && para_kind == K_NONE) {
      in_indented = 1;
      size_t col = 0, j = 0;
      while (j < len && col < 4) { col += line[j] == '\t' ? 4 - col % 4 : 1; j++; }
      put(&code, line + j, len - j);
      putc_buf(&code, '\n');
      continue;
    }
    if (ind < 4 && tn >= 3 && (t[0] == '`' || t[0] == '~') && run_length(t, tn, 0, t[0]) >= 3 &&
        !(t[0] == '`' && memchr(t + run_length(t, tn, 0, '`'), '`', tn - run_length(t, tn, 0, '`')))) {
      flush_para();
      in_fence = 1;
      fence_char = t[0];
      fence_len = run_length(t, tn, 0, t[0]);
      fence_indent = k;
      continue;
    }
    if (ind < 4 && tn >= 4 && memcmp(t, "<!--", 4) == 0) {
      flush_para();
      const char *close = strstr(t + 4, "-->");
      if (!close || close >= t + tn) in_comment = 1;
      continue;
    }
    if (ind < 4 && t[0] == '#') {
      size_t h = run_length(t, tn, 0, '#');
      if (h <= 6 && (h == tn || t[h] == ' ' || t[h] == '\t')) {
        flush_para();
        const char *a = t + h;
        size_t an = tn - h;
        while (an && (*a == ' ' || *a == '\t')) { a++; an--; }
        while (an && (a[an - 1] == ' ' || a[an - 1] == '\t')) an--;
        size_t closing = an;
        while (closing && a[closing - 1] == '#') closing--;
        if (closing < an && (closing == 0 || a[closing - 1] == ' ')) {
          an = closing;
          while (an && a[an - 1] == ' ') an--;
        }
        buf text = {0};
        put(&text, "", 0);
        render(&text, a, an);
        emit_lines(K_PARA, "", 0, 0, text.s, text.n);
        free(text.s);
        continue;
      }
    }
    if (para_kind != K_NONE && para_prefix.n == 0 && is_setext(line, len)) {
      flush_para(); /* the paragraph was a heading */
      continue;
    }
    if (ind < 4 && is_break(t, tn)) {
      flush_para();
      continue;
    }
    if (ind < 4 && t[0] == '[' && para_kind == K_NONE) {
      size_t close = closing_bracket(t, tn, 0);
      if (close && close + 1 < tn && t[close + 1] == ':') continue; /* link definition */
    }
    if (ind < 4 && para_kind == K_NONE && memchr(t, '|', tn) && next && is_delimiter_row(next, next_len)) {
      table_row(t, tn);
      i += next_len + 1; /* skip the delimiter row */
      in_table = 1;
      continue;
    }
    if (ind < 4 && t[0] == '>') {
      int level = 0;
      while (tn && t[0] == '>') {
        level++;
        t++; tn--;
        if (tn && t[0] == ' ') { t++; tn--; }
        while (tn && t[0] == ' ') { t++; tn--; }
      }
      buf prefix = {0};
      put(&prefix, "", 0);
      for (int l = 0; l < level; l++) put(&prefix, "  ", 2);
      if (para_kind != K_NONE && (para_prefix.n != prefix.n || memcmp(para_prefix.s, prefix.s, prefix.n) != 0)) flush_para();
      if (is_blank(t, tn)) { flush_para(); free(prefix.s); continue; }
      if (para_kind == K_NONE) {
        para_prefix.n = 0;
        put(&para_prefix, prefix.s, prefix.n);
        para_hang = prefix.n;
        para_kind = K_PARA;
      }
      free(prefix.s);
      add_para_line(t, tn);
      continue;
    }
    /* list items: "- x", "* x", "+ x", "1. x", "1) x" */
    size_t m = 0;
    int bullet = tn >= 2 && (t[0] == '-' || t[0] == '*' || t[0] == '+') && (t[1] == ' ' || t[1] == '\t');
    if (!bullet) {
      while (m < tn && m < 9 && isdigit((unsigned char)t[m])) m++;
    }
    int ordered = m > 0 && m + 1 < tn && (t[m] == '.' || t[m] == ')') && (t[m + 1] == ' ' || t[m + 1] == '\t');
    if (bullet || ordered) {
      flush_para();
      para_prefix.n = 0;
      for (size_t s = 0; s < ind; s++) putc_buf(&para_prefix, ' ');
      if (bullet) put(&para_prefix, "- ", 2);
      else { put(&para_prefix, t, m); put(&para_prefix, ". ", 2); }
      para_hang = para_prefix.n;
      para_kind = K_LIST;
      size_t body = bullet ? 2 : m + 2;
      add_para_line(t + body, tn - body);
      continue;
    }
    if (para_kind == K_NONE) {
      para_prefix.n = 0;
      para_hang = 0;
      para_kind = K_PARA;
    }
    add_para_line(line, len);
  }
  if (in_fence) emit_lines(K_CODE, "", 0, 0, code.s, code.n ? code.n - 1 : 0);
  if (in_indented) {
    size_t n = code.n;
    while (n && code.s[n - 1] == '\n') n--;
    emit_lines(K_CODE, "", 0, 0, code.s, n);
  }
  flush_para();
  fwrite(out.s ? out.s : "", 1, out.n, stdout);
  return 0;
}
