package dev.clawfs.crypto;

/**
 * A GCM tag did not verify: the data was altered, truncated, moved, rolled back or sealed under
 * another key. The message names what failed (file id in hex, chunk index and version, or the
 * header) so the audit trail can say which object is damaged. Never carries plaintext or keys.
 */
public final class AuthenticationFailedException extends CryptoException {
  private static final long serialVersionUID = 1L;

  public AuthenticationFailedException(String message) {
    super(message);
  }

  public AuthenticationFailedException(String message, Throwable cause) {
    super(message, cause);
  }
}
