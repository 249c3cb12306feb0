package dev.clawfs.agent;

import java.util.Objects;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * A pattern of text that tries to steer an agent (prompt injection), and what to do when file
 * content or an agent's own write matches it. The policy's pattern set is a list of these.
 *
 * <p>Patterns are matched case-insensitively. Write them so that matching stays linear in the text:
 * repeat only single characters or classes ({@code \s+}, {@code [a-z]{1,40}}), never a group
 * ({@code (a+)+}, {@code (?:x\s+)*}); an optional group ({@code (?:all\s+)?}) is fine.
 *
 * @param name a short id, shown in the transcript, the audit and to the model ({@code
 *     ignore-instructions})
 * @param regex a {@link java.util.regex.Pattern} expression
 * @param action what a match does
 */
public record InjectionPattern(String name, String regex, Action action) {

  /** What a match does. */
  public enum Action {
    /** The match is recorded (transcript, audit, the answer's flags); the content still goes. */
    FLAG,
    /** As FLAG, and the content is withheld from the model, or the write refused. */
    BLOCK
  }

  private static final Pattern NAME = Pattern.compile("[a-z0-9][a-z0-9._-]{0,63}");

  public InjectionPattern {
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(regex, "regex");
    Objects.requireNonNull(action, "action");
    if (!NAME.matcher(name).matches()) {
      throw new IllegalArgumentException(
          "injection pattern name \"" + name + "\": must be 1-64 of a-z, 0-9, '.', '_', '-'");
    }
    try {
      Pattern.compile(regex);
    } catch (PatternSyntaxException e) {
      throw new IllegalArgumentException(
          "injection pattern " + name + ": not a valid regular expression: " + e.getDescription(),
          e);
    }
  }
}
