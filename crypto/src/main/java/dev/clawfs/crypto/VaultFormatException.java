package dev.clawfs.crypto;

/**
 * A vault header or file header is missing, unparsable, of an unsupported version or carries
 * parameters this build refuses. The message says which, in words a user can act on.
 */
public final class VaultFormatException extends CryptoException {
  private static final long serialVersionUID = 1L;

  public VaultFormatException(String message) {
    super(message);
  }

  public VaultFormatException(String message, Throwable cause) {
    super(message, cause);
  }
}
