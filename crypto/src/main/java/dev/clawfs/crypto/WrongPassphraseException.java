package dev.clawfs.crypto;

/**
 * The passphrase does not unlock the vault header. GCM cannot tell a wrong passphrase from an
 * altered header (both change the key or the authenticated data), so this covers both.
 */
public final class WrongPassphraseException extends CryptoException {
  private static final long serialVersionUID = 1L;

  public WrongPassphraseException(String message) {
    super(message);
  }

  public WrongPassphraseException(String message, Throwable cause) {
    super(message, cause);
  }
}
