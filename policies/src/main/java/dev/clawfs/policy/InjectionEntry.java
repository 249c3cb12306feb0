package dev.clawfs.policy;

/**
 * One entry of a policy file's {@code injection} list: a named pattern for a subject with what a
 * match does, or, with {@link Mode#OFF}, the name of a pattern that is turned off.
 *
 * @param regex the Java regular expression; {@code null} for an {@link Mode#OFF} entry
 */
record InjectionEntry(
    String name, String source, int line, SubjectSelector subject, Mode mode, String regex) {

  /** An entry's {@code action}. */
  enum Mode {
    FLAG,
    BLOCK,
    /** turns off the pattern of this name that an earlier file gives the subject. */
    OFF
  }

  /** The pattern as the scanner sees it; not for an {@link Mode#OFF} entry. */
  InjectionRule rule() {
    return new InjectionRule(name, regex,
        mode == Mode.BLOCK ? InjectionRule.Action.BLOCK : InjectionRule.Action.FLAG,
        source + ":" + line);
  }
}
