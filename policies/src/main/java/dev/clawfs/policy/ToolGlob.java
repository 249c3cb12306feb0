package dev.clawfs.policy;

/**
 * A tool-name pattern of a tool rule: {@code *} matches any run of characters, everything else is
 * literal. Tool names are flat (no "/", no "?"), so there are no segments. The glob is checked
 * against the tool-name alphabet when it is compiled: a typo such as {@code Sha256} or
 * {@code tools/sha256} is then an error in the policy file rather than a rule that silently
 * matches nothing.
 */
final class ToolGlob {

  private final String text;

  private ToolGlob(String text) {
    this.text = text;
  }

  /**
   * Compiles {@code text}.
   *
   * @throws IllegalArgumentException with the reason it is not a valid tool glob
   */
  static ToolGlob compile(String text) {
    String bad = "bad tool glob \"" + text + "\": ";
    if (text.isEmpty()) {
      throw new IllegalArgumentException(bad + "it is empty; \"*\" matches every tool");
    }
    int literal = 0;
    for (int i = 0; i < text.length(); i++) {
      char c = text.charAt(i);
      if (c != '*' && !Names.isToolNameChar(c)) {
        throw new IllegalArgumentException(bad + "a tool glob may only contain a-z, 0-9, '.',"
            + " '_', '-' and '*' (found " + Names.describeChar(c) + ")");
      }
      literal += c == '*' ? 0 : 1;
    }
    char first = text.charAt(0);
    if (first == '.' || first == '_' || first == '-') {
      throw new IllegalArgumentException(bad + "a tool name starts with a letter or digit, so it"
          + " would match no tool");
    }
    if (literal > Names.MAX_TOOL_NAME) {
      throw new IllegalArgumentException(bad + "it has more than " + Names.MAX_TOOL_NAME
          + " characters besides '*', and a tool name has at most " + Names.MAX_TOOL_NAME
          + ", so it would match no tool");
    }
    return new ToolGlob(text);
  }

  String text() {
    return text;
  }

  /** Whether the tool name {@code tool} matches. */
  boolean matches(String tool) {
    // the alphabet check leaves '*' as the only special character, as this glob means
    return Glob.segmentMatches(text, tool, 0, tool.length());
  }

  @Override
  public String toString() {
    return text;
  }
}
