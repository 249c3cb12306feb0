package dev.clawfs.agent;

import java.util.Objects;

/**
 * A match of an {@link InjectionPattern}.
 *
 * @param pattern the pattern's name
 * @param action what the pattern does
 * @param excerpt the matched text, cut to 80 characters (after the scanner's normalisation)
 */
public record Finding(String pattern, InjectionPattern.Action action, String excerpt) {
  public Finding {
    Objects.requireNonNull(pattern, "pattern");
    Objects.requireNonNull(action, "action");
    Objects.requireNonNull(excerpt, "excerpt");
  }

  public boolean blocks() {
    return action == InjectionPattern.Action.BLOCK;
  }
}
