package dev.clawfs.policy;

import java.util.Arrays;

/**
 * A compiled path pattern. Segments are matched one by one against a normalised absolute path:
 * {@code **} (a whole segment) matches any number of segments including none, {@code *} any run
 * of characters inside one segment, {@code ?} one character, {@code ${agent}} (a whole segment)
 * the calling agent's name; anything else is literal. Matching walks the path string in place and
 * allocates nothing.
 */
final class Glob {

  static final String AGENT_VARIABLE = "${agent}";
  /** More would make matching cost grow with the power of their number. */
  static final int MAX_ANY_DEPTH = 4;

  private static final byte LITERAL = 0;
  private static final byte PATTERN = 1;
  private static final byte ANY_DEPTH = 2;
  private static final byte AGENT = 3;

  private final String text;
  private final byte[] kinds;
  private final String[] parts;
  private final boolean usesAgent;

  private Glob(String text, byte[] kinds, String[] parts) {
    this.text = text;
    this.kinds = kinds;
    this.parts = parts;
    boolean agent = false;
    for (byte k : kinds) {
      agent |= k == AGENT;
    }
    this.usesAgent = agent;
  }

  /**
   * Compiles {@code text}.
   *
   * @throws IllegalArgumentException with the reason it is not a valid glob
   */
  static Glob compile(String text) {
    String problem = Names.problemInPath(text);
    if (problem != null) {
      throw new IllegalArgumentException("bad glob \"" + text + "\": " + problem);
    }
    String[] segments = text.length() == 1 ? new String[0] : text.substring(1).split("/", -1);
    byte[] kinds = new byte[segments.length];
    String[] parts = new String[segments.length];
    int n = 0;
    int anyDepth = 0;
    for (String s : segments) {
      byte kind;
      if (s.equals("**")) {
        if (n > 0 && kinds[n - 1] == ANY_DEPTH) {
          continue; // "**/**" is "**"
        }
        kind = ANY_DEPTH;
        anyDepth++;
      } else if (s.equals(AGENT_VARIABLE)) {
        kind = AGENT;
      } else if (s.contains("**")) {
        throw new IllegalArgumentException(
            "bad glob \"" + text + "\": \"**\" must be a whole segment (\"/a/**/b\", not \"a**\")");
      } else if (s.contains("${")) {
        throw new IllegalArgumentException(
            "bad glob \""
                + text
                + "\": the only variable is "
                + AGENT_VARIABLE
                + ", and it must be a whole segment");
      } else {
        kind = s.indexOf('*') >= 0 || s.indexOf('?') >= 0 ? PATTERN : LITERAL;
      }
      kinds[n] = kind;
      parts[n] = s;
      n++;
    }
    if (anyDepth > MAX_ANY_DEPTH) {
      throw new IllegalArgumentException(
          "bad glob \"" + text + "\": at most " + MAX_ANY_DEPTH + " \"**\" segments");
    }
    if (n > 0 && kinds[0] == AGENT) {
      throw new IllegalArgumentException(
          "bad glob \"" + text + "\": " + AGENT_VARIABLE + " cannot be the first segment");
    }
    return new Glob(text, Arrays.copyOf(kinds, n), Arrays.copyOf(parts, n));
  }

  String text() {
    return text;
  }

  boolean usesAgent() {
    return usesAgent;
  }

  /** Whether {@code path} (normalised) matches, {@code ${agent}} standing for {@code agent}. */
  boolean matches(String path, String agent) {
    if (usesAgent && agent == null) {
      return false;
    }
    return match(0, path, start(path), agent, false);
  }

  /**
   * Whether some path strictly below {@code path} (normalised) could match: the directories on
   * the way to what a rule grants.
   */
  boolean matchesBelow(String path, String agent) {
    if (usesAgent && agent == null) {
      return false;
    }
    return match(0, path, start(path), agent, true);
  }

  /**
   * Whether this glob could match a path strictly inside /vault other than one literal secret,
   * {@code ${agent}} counting as a wildcard. Such globs must not grant anything.
   */
  String vaultProblem() {
    if (kinds.length == 0) {
      return null;
    }
    switch (kinds[0]) {
      case LITERAL:
        if (!parts[0].equals(Names.VAULT) || kinds.length == 1) {
          return null;
        }
        if (kinds.length > 2 || kinds[1] != LITERAL) {
          return "names no single secret";
        }
        String problem = Names.problemInName(parts[1]);
        return problem == null ? null : "secret name \"" + parts[1] + "\" " + problem;
      case ANY_DEPTH:
        return "its leading \"**\" reaches into /vault";
      case PATTERN:
        return kinds.length > 1 && segmentMatches(parts[0], Names.VAULT, 0, Names.VAULT.length())
            ? "its first segment \"" + parts[0] + "\" matches \"vault\""
            : null;
      default:
        return null;
    }
  }

  /**
   * Whether the first segment could be one of the mount's top-level folders; when not, the glob
   * matches nothing (typically a typo such as "/workspace/**").
   */
  boolean firstSegmentExists() {
    if (kinds.length == 0 || kinds[0] == ANY_DEPTH) {
      return true;
    }
    for (String top : Names.TOP_LEVEL) {
      if (kinds[0] == LITERAL
          ? parts[0].equals(top)
          : segmentMatches(parts[0], top, 0, top.length())) {
        return true;
      }
    }
    return false;
  }

  String firstSegment() {
    return kinds.length == 0 ? "" : parts[0];
  }

  // The path is walked by the index of the "/" before its next segment; "/" has no segments.
  private static int start(String path) {
    return path.length() == 1 ? 1 : 0;
  }

  private static int segmentEnd(String path, int pos) {
    int e = path.indexOf('/', pos + 1);
    return e < 0 ? path.length() : e;
  }

  private boolean match(int g, String path, int pos, String agent, boolean below) {
    int len = path.length();
    while (true) {
      if (pos == len) {
        if (below) {
          return g < kinds.length; // any remaining segment can match one more name
        }
        for (int k = g; k < kinds.length; k++) {
          if (kinds[k] != ANY_DEPTH) {
            return false;
          }
        }
        return true;
      }
      if (g == kinds.length) {
        return false;
      }
      if (kinds[g] == ANY_DEPTH) {
        if (below) {
          return true; // "**" takes the rest of the path, and one more segment if need be
        }
        for (int p = pos; ; p = segmentEnd(path, p)) {
          if (match(g + 1, path, p, agent, false)) {
            return true;
          }
          if (p == len) {
            return false;
          }
        }
      }
      int end = segmentEnd(path, pos);
      int from = pos + 1;
      boolean ok =
          switch (kinds[g]) {
            case LITERAL -> end - from == parts[g].length()
                && path.regionMatches(from, parts[g], 0, end - from);
            case AGENT -> end - from == agent.length()
                && path.regionMatches(from, agent, 0, end - from);
            default -> segmentMatches(parts[g], path, from, end);
          };
      if (!ok) {
        return false;
      }
      g++;
      pos = end;
    }
  }

  /** {@code *} and {@code ?} matching of one segment, {@code s[from, to)}, backtracking. */
  static boolean segmentMatches(String pattern, String s, int from, int to) {
    int p = 0;
    int i = from;
    int starP = -1;
    int starI = -1;
    int plen = pattern.length();
    while (i < to) {
      char c = p < plen ? pattern.charAt(p) : 0;
      if (p < plen && c == '*') {
        starP = p++;
        starI = i;
      } else if (p < plen && (c == '?' || c == s.charAt(i))) {
        p++;
        i++;
      } else if (starP >= 0) {
        p = starP + 1;
        i = ++starI;
      } else {
        return false;
      }
    }
    while (p < plen && pattern.charAt(p) == '*') {
      p++;
    }
    return p == plen;
  }

  @Override
  public String toString() {
    return text;
  }
}
