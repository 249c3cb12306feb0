package dev.clawfs.tools;

/**
 * A manifest is not valid. The message is {@code manifest.json: <field>: <reason>}, naming the
 * field by its JSON path ({@code limits.wallMs}, {@code paths.read[1]}), or the line and column
 * when the text is not JSON at all.
 */
public final class ManifestException extends ToolException {

  private final String field;
  private final String reason;

  public ManifestException(String field, String reason) {
    super("manifest.json: " + (field.isEmpty() ? "" : field + ": ") + reason);
    this.field = field;
    this.reason = reason;
  }

  /** The offending field's JSON path, or "" when the document itself is malformed. */
  public String field() {
    return field;
  }

  /** What is wrong, without the field. */
  public String reason() {
    return reason;
  }
}
