package dev.clawfs.agent;

/**
 * A model call failed. The message says what happened and what to check, in words for the person
 * who configured the agent: the endpoint, the HTTP status and the provider's own error text (cut to
 * 300 characters), never the API key.
 */
public final class ChatException extends Exception {

  /** What went wrong, for callers that map failures (errno, retry or not). */
  public enum Kind {
    /** The server could not be reached: refused, unknown host, TLS failure. */
    CONNECT,
    /** No complete reply within the request's time. */
    TIMEOUT,
    /** The server answered with a status other than 2xx. */
    HTTP_STATUS,
    /** The server answered 2xx with an {@code error} object instead of choices. */
    PROVIDER_ERROR,
    /** The reply is not JSON, has no choices, or is too large. */
    BAD_RESPONSE,
    /** The calling thread was interrupted while waiting. */
    INTERRUPTED,
    /** The call cannot be made as configured: a malformed URL, a key unusable in a header. */
    CONFIGURATION
  }

  private final Kind kind;
  private final int httpStatus;

  public ChatException(Kind kind, int httpStatus, String message) {
    super(message);
    this.kind = kind;
    this.httpStatus = httpStatus;
  }

  public Kind kind() {
    return kind;
  }

  /** The HTTP status when the server answered, otherwise 0. */
  public int httpStatus() {
    return httpStatus;
  }
}
