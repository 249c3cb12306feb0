package dev.clawfs.crypto;

/**
 * Unchecked root of every failure in this package, so callers at the FUSE boundary can map all
 * crypto problems with one catch (a tag failure must become EIO, never wrong bytes).
 */
public class CryptoException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  public CryptoException(String message) {
    super(message);
  }

  public CryptoException(String message, Throwable cause) {
    super(message, cause);
  }
}
