package dev.clawfs.policy;

/**
 * Something in a valid policy file that is very likely a mistake, such as a glob whose first
 * segment is not a folder of the mount ({@code /workspace/**}): it can never match.
 */
public record PolicyWarning(String source, int line, int column, String message) {

  @Override
  public String toString() {
    return source + ":" + line + ":" + column + ": warning: " + message;
  }
}
