package dev.clawfs.tools;

/**
 * A tool cannot be installed: its manifest or its module is refused. The message says what is wrong
 * in words meant for the person or agent that supplied it.
 */
public class ToolException extends Exception {

  public ToolException(String message) {
    super(message);
  }

  public ToolException(String message, Throwable cause) {
    super(message, cause);
  }
}
