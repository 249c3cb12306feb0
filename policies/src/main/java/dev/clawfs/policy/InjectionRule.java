package dev.clawfs.policy;

import java.util.Objects;
import java.util.regex.Pattern;

/**
 * One pattern of the injection scanner, as it applies to one subject: the scanner looks for it in
 * file content given to a model and in the agent's own writes.
 *
 * @param name the pattern's name ({@code ignore-instructions}), unique among a subject's patterns
 * @param regex the Java regular expression, compiled with {@link #FLAGS} ({@link #compile()})
 * @param action what a match means: {@link Action#FLAG} reports it, {@link Action#BLOCK} refuses
 *     the content
 * @param source {@code file:line} of the entry the pattern comes from ({@code default.yaml:93})
 */
public record InjectionRule(String name, String regex, Action action, String source) {

  /** What the scanner does when the pattern matches. */
  public enum Action {
    /** report the match (audit, the agent's log); the content goes through. */
    FLAG,
    /** refuse the content: it is not given to the model, or the write fails. */
    BLOCK
  }

  /**
   * The flags injection patterns are compiled with: {@link Pattern#CASE_INSENSITIVE} with
   * {@link Pattern#UNICODE_CASE}, so case is ignored for all letters, not only ASCII ones (the
   * long s "ſ" matches "s"). A pattern can turn it off for a part with {@code (?-i)}.
   */
  public static final int FLAGS = Pattern.CASE_INSENSITIVE | Pattern.UNICODE_CASE;

  public InjectionRule {
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(regex, "regex");
    Objects.requireNonNull(action, "action");
    Objects.requireNonNull(source, "source");
  }

  /** The pattern compiled with {@link #FLAGS}; it compiled when the policy was parsed. */
  public Pattern compile() {
    return Pattern.compile(regex, FLAGS);
  }
}
