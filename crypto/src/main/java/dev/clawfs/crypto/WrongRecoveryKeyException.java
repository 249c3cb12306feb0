package dev.clawfs.crypto;

/**
 * A recovery key was refused: a word that is not in the list, the wrong number of words, a
 * checksum that does not match (all found before any cryptography), or a well-formed key that
 * does not open the vault's recovery slot (an older key, replaced by a later export, or an
 * altered header). Nothing is written in any of these cases.
 */
public final class WrongRecoveryKeyException extends CryptoException {
  private static final long serialVersionUID = 1L;

  public WrongRecoveryKeyException(String message) {
    super(message);
  }
}
