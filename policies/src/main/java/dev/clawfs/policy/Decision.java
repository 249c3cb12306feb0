package dev.clawfs.policy;

import java.util.Objects;

/**
 * The answer to one access question, with what decided it, for the audit log.
 *
 * @param allowed whether the operation may go on
 * @param basis what decided
 * @param source for {@link Basis#RULE}, the policy file of the deciding rule, else {@code null}
 * @param line for {@link Basis#RULE}, the line where the deciding rule starts, else 0
 */
public record Decision(boolean allowed, Basis basis, String source, int line) {

  /** What a decision rests on. */
  public enum Basis {
    /** a rule of a policy file (deny rules win over allow rules). */
    RULE,
    /** the caller is root, which is always allowed. */
    ROOT,
    /** no rule matched: what is not allowed is denied. */
    DEFAULT_DENY,
    /** the path is not a normalised absolute path (".." or "." segments, "//", trailing "/"). */
    INVALID_PATH
  }

  static final Decision ROOT = new Decision(true, Basis.ROOT, null, 0);
  static final Decision DEFAULT_DENY = new Decision(false, Basis.DEFAULT_DENY, null, 0);
  static final Decision INVALID_PATH = new Decision(false, Basis.INVALID_PATH, null, 0);

  public Decision {
    Objects.requireNonNull(basis, "basis");
    if ((basis == Basis.RULE) != (source != null)) {
      throw new IllegalArgumentException("a source is given exactly for rule decisions");
    }
    if (basis == Basis.ROOT && !allowed || basis != Basis.RULE && basis != Basis.ROOT && allowed) {
      throw new IllegalArgumentException(basis + " cannot be allowed=" + allowed);
    }
  }

  /** What decided, in a few words: {@code default.yaml:12}, {@code root}, {@code default deny}. */
  public String by() {
    return switch (basis) {
      case RULE -> source + ":" + line;
      case ROOT -> "root";
      case DEFAULT_DENY -> "default deny";
      case INVALID_PATH -> "invalid path";
    };
  }

  @Override
  public String toString() {
    return (allowed ? "allowed by " : "denied by ") + by();
  }
}
