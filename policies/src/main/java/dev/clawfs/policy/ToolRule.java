package dev.clawfs.policy;

import java.util.List;

/**
 * One entry of a policy file's {@code tools} list: a subject, the tools it allows or denies (or
 * neither, for an entry that only sets limits), and the limits.
 *
 * @param index the entry's position in the file's {@code tools} list, from 0, as
 *     {@code tools[index]} in decisions
 * @param globs the allow or deny globs; empty for a limits-only entry
 * @param limits {@link ToolLimitsSpec#NONE} when the entry sets none
 */
record ToolRule(
    String source,
    int line,
    int index,
    SubjectSelector subject,
    Effect effect,
    List<ToolGlob> globs,
    ToolLimitsSpec limits) {

  /** What an entry says about the tools its globs match. */
  enum Effect {
    ALLOW,
    DENY,
    /** no allow or deny: the entry only sets limits, for every tool. */
    LIMITS_ONLY
  }

  ToolRule {
    globs = List.copyOf(globs);
  }

  /** Whether one of the allow or deny globs matches {@code tool}. */
  boolean names(String tool) {
    for (ToolGlob g : globs) {
      if (g.matches(tool)) {
        return true;
      }
    }
    return false;
  }

  /** Whether this entry's limits bind a run of {@code tool}: it names it, or names no tool. */
  boolean limitsApplyTo(String tool) {
    return effect == Effect.LIMITS_ONLY || names(tool);
  }

  /** {@code file:line: tools[i]}, for decisions. */
  String where() {
    return source + ":" + line + ": tools[" + index + "]";
  }
}
