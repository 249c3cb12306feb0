package dev.clawfs.policy;

import java.util.List;

/** Checks on the names and paths that policy files and callers use. */
final class Names {

  /** The first-level folders of a mount; a glob starting elsewhere matches nothing. */
  static final List<String> TOP_LEVEL =
      List.of("workspaces", "specs", "vault", "agents", "tools", "search", "system");

  static final String VAULT = "vault";
  static final int MAX_NAME_BYTES = 255;
  /** Tool names become a folder name under /clawfs/tools/ and a word in audit lines. */
  static final int MAX_TOOL_NAME = 64;

  private Names() {}

  /**
   * Whether {@code path} is absolute and normalised: starts with "/", no empty, "." or ".."
   * segment, no trailing "/" (except "/" itself), no NUL. Allocation-free: runs on every decision.
   */
  static boolean isNormalized(String path) {
    return path != null && problemInPath(path) == null;
  }

  /** Why {@code path} is not normalised, or {@code null} when it is. */
  static String problemInPath(String path) {
    int len = path.length();
    if (len == 0 || path.charAt(0) != '/') {
      return "must be absolute (start with \"/\")";
    }
    if (len == 1) {
      return null;
    }
    if (path.charAt(len - 1) == '/') {
      return "must not end with \"/\"";
    }
    int start = 1;
    for (int i = 1; i <= len; i++) {
      char c = i < len ? path.charAt(i) : '/';
      if (c == 0) {
        return "must not contain a NUL character";
      }
      if (c == '/') {
        int n = i - start;
        if (n == 0) {
          return "must not contain \"//\"";
        }
        if (path.charAt(start) == '.' && (n == 1 || n == 2 && path.charAt(start + 1) == '.')) {
          return n == 1 ? "must not contain a \".\" segment" : "must not contain \"..\"";
        }
        start = i + 1;
      }
    }
    return null;
  }

  /**
   * Why {@code name} is not a valid secret, agent or anomaly-rule name, or {@code null}: one path
   * segment of letters, digits, '.', '_' and '-', not "." or "..", at most 255 bytes.
   */
  static String problemInName(String name) {
    if (name.isEmpty()) {
      return "is empty";
    }
    if (name.length() > MAX_NAME_BYTES) {
      return "is longer than " + MAX_NAME_BYTES + " bytes";
    }
    if (name.equals(".") || name.equals("..")) {
      return "must not be \".\" or \"..\"";
    }
    for (int i = 0; i < name.length(); i++) {
      char c = name.charAt(i);
      boolean ok =
          c >= 'a' && c <= 'z'
              || c >= 'A' && c <= 'Z'
              || c >= '0' && c <= '9'
              || c == '.'
              || c == '_'
              || c == '-';
      if (!ok) {
        return c == '/'
            ? "must be a single name without \"/\""
            : "may only contain letters, digits, '.', '_' and '-' (found '" + c + "')";
      }
    }
    return null;
  }

  /**
   * Why {@code name} is not a tool name, or {@code null}: 1 to 64 characters a-z, 0-9, '.', '_'
   * and '-', starting with a letter or digit. Narrower than other names because callers build
   * the tool's folder from it: it can never be "." or "..", hidden, or differ only in case.
   */
  static String problemInToolName(String name) {
    if (name.isEmpty()) {
      return "is empty";
    }
    if (name.length() > MAX_TOOL_NAME) {
      return "is longer than " + MAX_TOOL_NAME + " characters";
    }
    for (int i = 0; i < name.length(); i++) {
      char c = name.charAt(i);
      if (!isToolNameChar(c)) {
        return "may only contain a-z, 0-9, '.', '_' and '-' (found " + describeChar(c) + ")";
      }
    }
    char first = name.charAt(0);
    if (first == '.' || first == '_' || first == '-') {
      return "must start with a letter or digit";
    }
    return null;
  }

  static boolean isToolNameChar(char c) {
    return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-';
  }

  /**
   * {@code 'x'}, or {@code U+000A} for a character that is not printable ASCII, so that a caller's
   * bad input cannot put control characters into a message or an audit line.
   */
  static String describeChar(char c) {
    return c >= 0x20 && c < 0x7f ? "'" + c + "'" : String.format("U+%04X", (int) c);
  }

  /**
   * {@code text} for a message: printable ASCII kept, quotes, backslashes and anything else
   * escaped as Java unicode escapes, at most {@code max} characters ("..." after).
   * Text that comes from a caller ends up in audit lines, where it must not break a line or a
   * quote.
   */
  static String printable(String text, int max) {
    StringBuilder s = new StringBuilder();
    for (int i = 0; i < text.length() && i < max; i++) {
      char c = text.charAt(i);
      if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
        s.append(c);
      } else {
        s.append(String.format("\\u%04x", (int) c));
      }
    }
    return text.length() > max ? s + "..." : s.toString();
  }
}
