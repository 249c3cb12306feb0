package dev.clawfs.policy;

import java.util.EnumSet;
import java.util.List;
import java.util.Set;

/**
 * One access rule of a policy file: a subject, allowed or denied actions, and the globs they apply
 * to. A {@code secrets} rule is kept as an allow-read rule on {@code /vault/<name>} globs.
 */
final class Rule {

  private final String source;
  private final int line;
  private final SubjectSelector subject;
  private final boolean deny;
  private final int actions;
  private final List<Glob> globs;
  private final Decision decision;

  Rule(String source, int line, SubjectSelector subject, boolean deny, Set<Action> actions,
      List<Glob> globs) {
    this.source = source;
    this.line = line;
    this.subject = subject;
    this.deny = deny;
    int mask = 0;
    for (Action a : actions) {
      mask |= a.bit();
    }
    this.actions = mask;
    this.globs = List.copyOf(globs);
    this.decision = new Decision(!deny, Decision.Basis.RULE, source, line);
  }

  String source() {
    return source;
  }

  int line() {
    return line;
  }

  SubjectSelector subject() {
    return subject;
  }

  boolean deny() {
    return deny;
  }

  boolean covers(Action a) {
    return (actions & a.bit()) != 0;
  }

  Set<Action> actions() {
    EnumSet<Action> set = EnumSet.noneOf(Action.class);
    for (Action a : Action.values()) {
      if (covers(a)) {
        set.add(a);
      }
    }
    return set;
  }

  List<Glob> globs() {
    return globs;
  }

  /** The decision this rule gives when it applies; made once so deciding allocates nothing. */
  Decision decision() {
    return decision;
  }

  @Override
  public String toString() {
    return source + ":" + line + ": " + subject + (deny ? " deny " : " allow ") + actions() + " "
        + globs;
  }
}
