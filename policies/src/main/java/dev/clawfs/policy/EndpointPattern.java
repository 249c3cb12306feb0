package dev.clawfs.policy;

/**
 * A model-endpoint pattern of an endpoint rule, {@code scheme://host[:port][/path-prefix]}. It
 * matches a URL with the same scheme, the same host (or, for {@code *.example.com}, a host with
 * one or more labels before {@code .example.com}), the same port (the scheme's default when none
 * is written; any port for {@code *}) and a path equal to the prefix or below it, segment by
 * segment ({@code /api/v1} matches {@code /api/v1/chat/completions}, not {@code /api/v10}).
 */
final class EndpointPattern {

  private final String text;
  private final EndpointUrl parsed;

  private EndpointPattern(String text, EndpointUrl parsed) {
    this.text = text;
    this.parsed = parsed;
  }

  /**
   * Compiles {@code text}.
   *
   * @throws IllegalArgumentException with the reason it is not a valid pattern
   */
  static EndpointPattern compile(String text) {
    try {
      return new EndpointPattern(text, EndpointUrl.parsePattern(text));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("bad endpoint pattern \"" + Names.printable(text, 200)
          + "\": " + e.getMessage(), e);
    }
  }

  /** Whether the parsed URL {@code url} matches. */
  boolean matches(EndpointUrl url) {
    return parsed.matches(url);
  }

  String text() {
    return text;
  }

  @Override
  public String toString() {
    return text;
  }
}
