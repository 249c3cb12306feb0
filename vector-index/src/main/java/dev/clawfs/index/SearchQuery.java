package dev.clawfs.index;

import java.util.Locale;

/**
 * A search as typed into a directory name under /clawfs/search: optional prefixes, then the
 * query text.
 *
 * <pre>
 *   [in:SCOPE ] [limit:N ] [text: | semantic: | hybrid: ] QUERY
 * </pre>
 *
 * {@code in:} restricts hits to a subtree ("in:workspaces/project"); {@code text:} takes the
 * keyword syntax (terms, "phrases", prefix*, AND/OR/NOT, parentheses); {@code semantic:} ranks by
 * meaning only; the default, {@code hybrid:}, fuses both. Prefixes are case-insensitive and may
 * come in any order before the query.
 */
public record SearchQuery(Mode mode, String scope, int limit, String text) {
  public enum Mode { HYBRID, TEXT, SEMANTIC }

  public static final int DEFAULT_LIMIT = 9;
  public static final int MAX_LIMIT = 100;

  /** A query the user must fix; the message says what and where. */
  public static final class BadQueryException extends Exception {
    public BadQueryException(String message) {
      super(message);
    }
  }

  public static SearchQuery parse(String raw) throws BadQueryException {
    String s = raw.strip();
    Mode mode = null;
    String scope = null;
    int limit = DEFAULT_LIMIT;
    while (true) {
      String lower = s.toLowerCase(Locale.ROOT);
      if (lower.startsWith("in:")) {
        int end = firstSpace(s);
        if (end < 0) {
          throw new BadQueryException("in:" + " needs a query after the scope, e.g. \"in:workspaces/project failing tests\"");
        }
        scope = normaliseScope(s.substring(3, end));
        s = s.substring(end).strip();
      } else if (lower.startsWith("limit:")) {
        int end = firstSpace(s);
        String n = end < 0 ? s.substring(6) : s.substring(6, end);
        try {
          limit = Integer.parseInt(n);
        } catch (NumberFormatException e) {
          throw new BadQueryException("limit: takes a number from 1 to " + MAX_LIMIT + ", not \"" + n + "\"");
        }
        if (limit < 1 || limit > MAX_LIMIT) {
          throw new BadQueryException("limit: takes a number from 1 to " + MAX_LIMIT);
        }
        s = end < 0 ? "" : s.substring(end).strip();
      } else if (mode == null && lower.startsWith("text:")) {
        mode = Mode.TEXT;
        s = s.substring(5).strip();
      } else if (mode == null && lower.startsWith("semantic:")) {
        mode = Mode.SEMANTIC;
        s = s.substring(9).strip();
      } else if (mode == null && lower.startsWith("hybrid:")) {
        mode = Mode.HYBRID;
        s = s.substring(7).strip();
      } else {
        break;
      }
    }
    if (s.isEmpty()) {
      throw new BadQueryException("empty query: write what you are looking for after the prefixes");
    }
    return new SearchQuery(mode == null ? Mode.HYBRID : mode, scope, limit, s);
  }

  private static int firstSpace(String s) {
    for (int i = 0; i < s.length(); i++) {
      if (Character.isWhitespace(s.charAt(i))) {
        return i;
      }
    }
    return -1;
  }

  /** "workspaces/project/" or "/workspaces/project" -> "/workspaces/project"; no "..". */
  private static String normaliseScope(String scope) throws BadQueryException {
    StringBuilder out = new StringBuilder();
    for (String part : scope.split("/")) {
      if (part.isEmpty() || part.equals(".")) {
        continue;
      }
      if (part.equals("..")) {
        throw new BadQueryException("in: takes a path inside the mount, without \"..\"");
      }
      out.append('/').append(part);
    }
    if (out.length() == 0) {
      throw new BadQueryException("in: needs a directory, e.g. in:specs");
    }
    return out.toString();
  }

  /** True when path (e.g. "/workspaces/p/a.md") is inside the scope (or there is none). */
  public boolean inScope(String path) {
    return scope == null || path.equals(scope) || path.startsWith(scope + "/");
  }
}
