package dev.clawfs.agent;

/**
 * Agent settings are not valid. The message is {@code agent settings: <field>: <reason>}, so the
 * person editing the agent's settings file sees which line to fix.
 */
public final class AgentSettingsException extends Exception {

  private final String field;
  private final String reason;

  public AgentSettingsException(String field, String reason) {
    super("agent settings: " + (field.isEmpty() ? "" : field + ": ") + reason);
    this.field = field;
    this.reason = reason;
  }

  /** The offending field, or "" when the document itself is malformed. */
  public String field() {
    return field;
  }

  /** What is wrong, without the field. */
  public String reason() {
    return reason;
  }
}
