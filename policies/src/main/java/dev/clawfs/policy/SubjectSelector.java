package dev.clawfs.policy;

/** Who a rule is about: {@code any}, {@code root}, {@code agents}, {@code agent:NAME}, ... */
final class SubjectSelector {

  static final String VALID =
      "any, root, agents, agent:NAME, users, uid:N, gid:N";

  enum Kind {
    ANY,
    ROOT,
    AGENTS,
    AGENT,
    USERS,
    UID,
    GID
  }

  private final Kind kind;
  private final String agent;
  private final int id;
  private final String text;

  private SubjectSelector(Kind kind, String agent, int id, String text) {
    this.kind = kind;
    this.agent = agent;
    this.id = id;
    this.text = text;
  }

  /**
   * Parses a selector.
   *
   * @throws IllegalArgumentException with the reason it is not one
   */
  static SubjectSelector parse(String text) {
    switch (text) {
      case "any":
        return new SubjectSelector(Kind.ANY, null, 0, text);
      case "root":
        return new SubjectSelector(Kind.ROOT, null, 0, text);
      case "agents":
        return new SubjectSelector(Kind.AGENTS, null, 0, text);
      case "users":
        return new SubjectSelector(Kind.USERS, null, 0, text);
      default:
        break;
    }
    if (text.startsWith("agent:")) {
      String name = text.substring("agent:".length());
      String problem = Names.problemInName(name);
      if (problem != null) {
        throw new IllegalArgumentException(
            "bad subject \"" + text + "\": the agent name " + problem);
      }
      return new SubjectSelector(Kind.AGENT, name, 0, text);
    }
    if (text.startsWith("uid:") || text.startsWith("gid:")) {
      String number = text.substring(4);
      long n = -1;
      if (!number.isEmpty() && number.length() <= 10 && number.chars().allMatch(Character::isDigit)) {
        n = Long.parseLong(number);
      }
      if (n < 0 || n > 0xFFFF_FFFFL) {
        throw new IllegalArgumentException(
            "bad subject \"" + text + "\": " + text.substring(0, 3) + " needs a number 0..4294967295");
      }
      return new SubjectSelector(
          text.charAt(0) == 'u' ? Kind.UID : Kind.GID, null, (int) n, text);
    }
    throw new IllegalArgumentException(
        "unknown subject \"" + text + "\"; valid subjects: " + VALID);
  }

  Kind kind() {
    return kind;
  }

  boolean matches(Subject s) {
    return switch (kind) {
      case ANY -> true;
      case ROOT -> s.uid() == 0;
      case AGENTS -> s.agent() != null;
      case AGENT -> agent.equals(s.agent());
      case USERS -> s.uid() != 0 && s.agent() == null;
      case UID -> s.uid() == id;
      case GID -> s.gid() == id;
    };
  }

  /** Whether no subject this selects can be an agent, so {@code ${agent}} never matches. */
  boolean neverAgent() {
    return kind == Kind.USERS || kind == Kind.ROOT;
  }

  @Override
  public String toString() {
    return text;
  }
}
