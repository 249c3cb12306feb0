package dev.clawfs.policy;

/**
 * A policy file is not valid. The message is {@code <file>:<line>:<column>: <reason>}, the
 * position of the offending key or value (1-based), so an admin editing the file sees where.
 */
public final class PolicyException extends Exception {

  private final String source;
  private final int line;
  private final int column;
  private final String reason;

  public PolicyException(String source, int line, int column, String reason) {
    super(source + ":" + line + ":" + column + ": " + reason);
    this.source = source;
    this.line = line;
    this.column = column;
    this.reason = reason;
  }

  /** The file name the policy was read under. */
  public String source() {
    return source;
  }

  public int line() {
    return line;
  }

  public int column() {
    return column;
  }

  /** What is wrong, without the position. */
  public String reason() {
    return reason;
  }
}
