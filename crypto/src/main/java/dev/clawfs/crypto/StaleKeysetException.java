package dev.clawfs.crypto;

/**
 * A keyset kept outside the vault (in the kernel keyring) no longer fits it: it was unlocked from
 * another vault, or the vault header has been rewritten since (passphrase change, rotation, a new
 * recovery key), so it may lack a newer master key. The caller drops it and asks for the
 * passphrase.
 */
public final class StaleKeysetException extends CryptoException {
  private static final long serialVersionUID = 1L;

  public StaleKeysetException(String message) {
    super(message);
  }
}
