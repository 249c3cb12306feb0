/*
 * jsonq: a small JSON query over stdin (or a file), a subset of jq's path syntax.
 *   jsonq [-c] [-r] FILTER [FILE]
 * FILTER is "." followed by steps: .key  ."any key"  ["any key"]  [N]  [-N] (from the end)
 * and [] (every element or member value), e.g. .a.b[0]  .items[].name  .["x y"][-1]
 * Like jq: a missing key or index gives null, .key or [N] on null gives null, and indexing a
 * value of the wrong type is an error. Each result is printed on its own line, pretty-printed
 * with two-space indents (-c: compact; -r: strings without quotes). Input may hold several JSON
 * values one after another; the filter runs on each. Numbers are printed as written.
 * Exit status: 0 ok, 2 usage or invalid JSON, 5 a filter step does not apply (as jq).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum type { J_NULL, J_FALSE, J_TRUE, J_NUMBER, J_STRING, J_ARRAY, J_OBJECT };

typedef struct json {
  enum type type;
  char *text; /* number text or decoded string (UTF-8) */
  size_t len;
  struct json **items; /* array elements or object values */
  char **keys;         /* object keys (decoded), parallel to items */
  size_t *key_lens;
  size_t count;
} json;

#define MAX_DEPTH 512

static const char *src;
static size_t src_len, pos;
static int compact, raw;

_Noreturn static void die(int status, const char *fmt, const char *detail) {
  fputs("jsonq: ", stderr);
  fprintf(stderr, fmt, detail);
  fputc('\n', stderr);
  exit(status);
}

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) die(2, "%s", "out of memory");
  return p;
}

static void *xrealloc(void *p, size_t n) {
  p = realloc(p, n ? n : 1);
  if (!p) die(2, "%s", "out of memory");
  return p;
}

_Noreturn static void parse_error(const char *what) {
  size_t line = 1, col = 1;
  for (size_t i = 0; i < pos && i < src_len; i++) {
    if (src[i] == '\n') { line++; col = 1; } else col++;
  }
  fprintf(stderr, "jsonq: invalid JSON at line %zu, column %zu: %s\n", line, col, what);
  exit(2);
}

static void skip_ws(void) {
  while (pos < src_len && (src[pos] == ' ' || src[pos] == '\t' || src[pos] == '\n' || src[pos] == '\r')) pos++;
}

static json *new_value(enum type t) {
  json *v = xmalloc(sizeof *v);
  memset(v, 0, sizeof *v);
  v->type = t;
  return v;
}

static void put_utf8(char **buf, size_t *len, size_t *cap, unsigned long cp) {
  if (*len + 4 >= *cap) { *cap = *cap * 2 + 8; *buf = xrealloc(*buf, *cap); }
  char *o = *buf + *len;
  if (cp < 0x80) { o[0] = (char)cp; *len += 1; }
  else if (cp < 0x800) { o[0] = (char)(0xc0 | cp >> 6); o[1] = (char)(0x80 | (cp & 0x3f)); *len += 2; }
  else if (cp < 0x10000) {
    o[0] = (char)(0xe0 | cp >> 12); o[1] = (char)(0x80 | ((cp >> 6) & 0x3f)); o[2] = (char)(0x80 | (cp & 0x3f)); *len += 3;
  } else {
    o[0] = (char)(0xf0 | cp >> 18); o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f)); o[3] = (char)(0x80 | (cp & 0x3f)); *len += 4;
  }
}

static unsigned long hex4(void) {
  if (pos + 4 > src_len) parse_error("truncated \\u escape");
  unsigned long v = 0;
  for (int i = 0; i < 4; i++) {
    char c = src[pos++];
    v <<= 4;
    if (c >= '0' && c <= '9') v |= (unsigned long)(c - '0');
    else if (c >= 'a' && c <= 'f') v |= (unsigned long)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') v |= (unsigned long)(c - 'A' + 10);
    else parse_error("bad hex digit in \\u escape");
  }
  return v;
}

/* parses a string literal at pos (on the opening quote) into a decoded buffer */
static char *parse_string(size_t *out_len) {
  pos++;
  size_t cap = 16, len = 0;
  char *buf = xmalloc(cap);
  for (;;) {
    if (pos >= src_len) parse_error("unterminated string");
    unsigned char c = (unsigned char)src[pos++];
    if (c == '"') break;
    if (c < 0x20) { pos--; parse_error("control character in string"); }
    if (c != '\\') {
      if (len + 1 >= cap) { cap *= 2; buf = xrealloc(buf, cap); }
      buf[len++] = (char)c;
      continue;
    }
    if (pos >= src_len) parse_error("unterminated string");
    char e = src[pos++];
    unsigned long cp;
    switch (e) {
      case '"': cp = '"'; break;
      case '\\': cp = '\\'; break;
      case '/': cp = '/'; break;
      case 'b': cp = '\b'; break;
      case 'f': cp = '\f'; break;
      case 'n': cp = '\n'; break;
      case 'r': cp = '\r'; break;
      case 't': cp = '\t'; break;
      case 'u':
        cp = hex4();
        if (cp >= 0xd800 && cp < 0xdc00 && pos + 1 < src_len && src[pos] == '\\' && src[pos + 1] == 'u') {
          size_t save = pos;
          pos += 2;
          unsigned long lo = hex4();
          if (lo >= 0xdc00 && lo < 0xe000) cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
          else pos = save;
        }
        if (cp >= 0xd800 && cp < 0xe000) cp = 0xfffd; /* a lone surrogate */
        break;
      default: pos--; parse_error("unknown escape in string");
    }
    put_utf8(&buf, &len, &cap, cp);
  }
  buf[len] = '\0';
  *out_len = len;
  return buf;
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

static json *parse_value(int depth) {
  if (depth > MAX_DEPTH) parse_error("nested too deeply");
  skip_ws();
  if (pos >= src_len) parse_error("unexpected end of input");
  char c = src[pos];
  if (c == '{' || c == '[') {
    int object = c == '{';
    json *v = new_value(object ? J_OBJECT : J_ARRAY);
    size_t cap = 0;
    pos++;
    skip_ws();
    if (pos < src_len && src[pos] == (object ? '}' : ']')) { pos++; return v; }
    for (;;) {
      if (v->count == cap) {
        cap = cap ? cap * 2 : 4;
        v->items = xrealloc(v->items, cap * sizeof *v->items);
        if (object) {
          v->keys = xrealloc(v->keys, cap * sizeof *v->keys);
          v->key_lens = xrealloc(v->key_lens, cap * sizeof *v->key_lens);
        }
      }
      if (object) {
        skip_ws();
        if (pos >= src_len || src[pos] != '"') parse_error("expected a string key");
        v->keys[v->count] = parse_string(&v->key_lens[v->count]);
        skip_ws();
        if (pos >= src_len || src[pos] != ':') parse_error("expected ':' after key");
        pos++;
      }
      v->items[v->count++] = parse_value(depth + 1);
      skip_ws();
      if (pos < src_len && src[pos] == ',') { pos++; continue; }
      if (pos < src_len && src[pos] == (object ? '}' : ']')) { pos++; return v; }
      parse_error(object ? "expected ',' or '}'" : "expected ',' or ']'");
    }
  }
  if (c == '"') {
    json *v = new_value(J_STRING);
    v->text = parse_string(&v->len);
    return v;
  }
  static const struct { const char *word; enum type type; } words[] = {
      {"null", J_NULL}, {"true", J_TRUE}, {"false", J_FALSE}};
  for (size_t i = 0; i < 3; i++) {
    size_t n = strlen(words[i].word);
    if (src_len - pos >= n && memcmp(src + pos, words[i].word, n) == 0) {
      pos += n;
      return new_value(words[i].type);
    }
  }
  size_t start = pos;
  if (src[pos] == '-') pos++;
  if (pos < src_len && src[pos] == '0') pos++;
  else if (pos < src_len && is_digit(src[pos]) ) while (pos < src_len && is_digit(src[pos])) pos++;
  else parse_error("expected a value");
  if (pos < src_len && src[pos] == '.') {
    pos++;
    if (pos >= src_len || !is_digit(src[pos])) parse_error("expected a digit after '.'");
    while (pos < src_len && is_digit(src[pos])) pos++;
  }
  if (pos < src_len && (src[pos] == 'e' || src[pos] == 'E')) {
    pos++;
    if (pos < src_len && (src[pos] == '+' || src[pos] == '-')) pos++;
    if (pos >= src_len || !is_digit(src[pos])) parse_error("expected a digit in exponent");
    while (pos < src_len && is_digit(src[pos])) pos++;
  }
  json *v = new_value(J_NUMBER);
  v->text = (char *)src + start;
  v->len = pos - start;
  return v;
}

/* ---- output ---- */

static void print_string(const char *s, size_t n) {
  putchar('"');
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    switch (c) {
      case '"': fputs("\\\"", stdout); break;
      case '\\': fputs("\\\\", stdout); break;
      case '\n': fputs("\\n", stdout); break;
      case '\t': fputs("\\t", stdout); break;
      case '\r': fputs("\\r", stdout); break;
      case '\b': fputs("\\b", stdout); break;
      case '\f': fputs("\\f", stdout); break;
      default:
        if (c < 0x20 || c == 0x7f) printf("\\u%04x", c);
        else putchar(c);
    }
  }
  putchar('"');
}

static void indent(int level) {
  for (int i = 0; i < level; i++) fputs("  ", stdout);
}

static void print_value(const json *v, int level) {
  switch (v->type) {
    case J_NULL: fputs("null", stdout); return;
    case J_TRUE: fputs("true", stdout); return;
    case J_FALSE: fputs("false", stdout); return;
    case J_NUMBER: fwrite(v->text, 1, v->len, stdout); return;
    case J_STRING: print_string(v->text, v->len); return;
    case J_ARRAY:
    case J_OBJECT: {
      int object = v->type == J_OBJECT;
      putchar(object ? '{' : '[');
      for (size_t i = 0; i < v->count; i++) {
        if (i) putchar(',');
        if (!compact) { putchar('\n'); indent(level + 1); }
        if (object) {
          print_string(v->keys[i], v->key_lens[i]);
          fputs(compact ? ":" : ": ", stdout);
        }
        print_value(v->items[i], level + 1);
      }
      if (!compact && v->count) { putchar('\n'); indent(level); }
      putchar(object ? '}' : ']');
      return;
    }
  }
}

static void emit(const json *v) {
  if (raw && v->type == J_STRING) fwrite(v->text, 1, v->len, stdout);
  else print_value(v, 0);
  putchar('\n');
}

/* ---- filter ---- */

enum step_kind { S_KEY, S_INDEX, S_ITERATE };
typedef struct {
  enum step_kind kind;
  char *key;
  size_t key_len;
  long index;
} step;

static step *steps;
static size_t nsteps;
static const char *filter;

_Noreturn static void filter_error(size_t at, const char *what) {
  fprintf(stderr, "jsonq: bad filter at character %zu: %s\n%s\n", at + 1, what, filter);
  for (size_t i = 0; i < at; i++) fputc(' ', stderr);
  fputs("^\n", stderr);
  exit(2);
}

static int is_ident(char c) {
  return c == '_' || c == '-' || is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (unsigned char)c >= 0x80;
}

static void parse_filter(const char *f) {
  filter = f;
  size_t n = strlen(f), i = 0, cap = 0;
  if (n == 0 || f[0] != '.') filter_error(0, "a filter starts with '.'");
  /* the filter's quoted keys reuse the JSON string parser, so point it at the filter */
  const char *save_src = src;
  size_t save_len = src_len, save_pos = pos;
  src = f;
  src_len = n;
  while (i < n) {
    if (nsteps == cap) { cap = cap ? cap * 2 : 8; steps = xrealloc(steps, cap * sizeof *steps); }
    step s = {S_KEY, NULL, 0, 0};
    if (f[i] == '.') {
      i++;
      if (i >= n || f[i] == '[') continue; /* "." alone, or ".[...]" */
      if (f[i] == '"') {
        pos = i;
        s.key = parse_string(&s.key_len);
        i = pos;
      } else {
        size_t start = i;
        while (i < n && is_ident(f[i])) i++;
        if (i == start) filter_error(i, "expected a key after '.'");
        s.key = xmalloc(i - start + 1);
        memcpy(s.key, f + start, i - start);
        s.key_len = i - start;
      }
    } else if (f[i] == '[') {
      i++;
      if (i < n && f[i] == ']') {
        s.kind = S_ITERATE;
      } else if (i < n && f[i] == '"') {
        pos = i;
        s.key = parse_string(&s.key_len);
        i = pos;
      } else {
        char *end;
        errno = 0;
        s.index = strtol(f + i, &end, 10);
        if (end == f + i || errno) filter_error(i, "expected a number, a quoted key or ']'");
        s.kind = S_INDEX;
        i = (size_t)(end - f);
      }
      if (i >= n || f[i] != ']') filter_error(i, "expected ']'");
      i++;
    } else {
      filter_error(i, "expected '.' or '['");
    }
    steps[nsteps++] = s;
  }
  src = save_src;
  src_len = save_len;
  pos = save_pos;
}

static const char *type_name(const json *v) {
  static const char *names[] = {"null", "boolean", "boolean", "number", "string", "array", "object"};
  return names[v->type];
}

static json null_value = {J_NULL, NULL, 0, NULL, NULL, NULL, 0};

static void apply(const json *v, size_t k) {
  if (k == nsteps) { emit(v); return; }
  const step *s = &steps[k];
  char msg[160];
  switch (s->kind) {
    case S_KEY:
      if (v->type == J_NULL) { apply(&null_value, k + 1); return; }
      if (v->type != J_OBJECT) {
        snprintf(msg, sizeof msg, "cannot index %s with \"%.100s\"", type_name(v), s->key);
        die(5, "%s", msg);
      }
      for (size_t i = v->count; i-- > 0;) { /* the last duplicate key wins, as in jq */
        if (v->key_lens[i] == s->key_len && memcmp(v->keys[i], s->key, s->key_len) == 0) {
          apply(v->items[i], k + 1);
          return;
        }
      }
      apply(&null_value, k + 1);
      return;
    case S_INDEX: {
      if (v->type == J_NULL) { apply(&null_value, k + 1); return; }
      if (v->type != J_ARRAY) {
        snprintf(msg, sizeof msg, "cannot index %s with number", type_name(v));
        die(5, "%s", msg);
      }
      long i = s->index < 0 ? (long)v->count + s->index : s->index;
      apply(i >= 0 && (size_t)i < v->count ? v->items[i] : &null_value, k + 1);
      return;
    }
    case S_ITERATE:
      if (v->type != J_ARRAY && v->type != J_OBJECT) {
        snprintf(msg, sizeof msg, "cannot iterate over %s", type_name(v));
        die(5, "%s", msg);
      }
      for (size_t i = 0; i < v->count; i++) apply(v->items[i], k + 1);
      return;
  }
}

static char *read_all(int fd, size_t *len) {
  size_t cap = 65536, n = 0;
  char *buf = xmalloc(cap);
  for (;;) {
    if (n == cap) { cap *= 2; buf = xrealloc(buf, cap); }
    ssize_t r = read(fd, buf + n, cap - n);
    if (r < 0) {
      if (errno == EINTR) continue;
      return NULL;
    }
    if (r == 0) break;
    n += (size_t)r;
  }
  *len = n;
  return buf;
}

int main(int argc, char **argv) {
  int i = 1;
  for (; i < argc && argv[i][0] == '-' && argv[i][1] != '\0'; i++) {
    if (strcmp(argv[i], "-c") == 0) compact = 1;
    else if (strcmp(argv[i], "-r") == 0) raw = 1;
    else if (strcmp(argv[i], "-cr") == 0 || strcmp(argv[i], "-rc") == 0) compact = raw = 1;
    else { fprintf(stderr, "jsonq: unknown option %s\n", argv[i]); i = argc; break; }
  }
  if (i >= argc || argc - i > 2) {
    fputs("usage: jsonq [-c] [-r] FILTER [FILE]\n  FILTER: .key  .\"key\"  [\"key\"]  [N]  [-N]  []  e.g. .a.b[0]\n", stderr);
    return 2;
  }
  parse_filter(argv[i]);
  const char *name = argc - i == 2 ? argv[i + 1] : "-";
  int fd = 0;
  if (strcmp(name, "-") != 0 && (fd = open(name, O_RDONLY)) < 0) {
    fprintf(stderr, "jsonq: %s: %s\n", name, strerror(errno));
    return 2;
  }
  src = read_all(fd, &src_len);
  if (!src) {
    fprintf(stderr, "jsonq: %s: %s\n", name, strerror(errno));
    return 2;
  }
  pos = 0;
  int any = 0;
  for (;;) {
    skip_ws();
    if (pos >= src_len) break;
    json *v = parse_value(0);
    any = 1;
    apply(v, 0);
  }
  if (!any) parse_error("no JSON value in input");
  return 0;
}
