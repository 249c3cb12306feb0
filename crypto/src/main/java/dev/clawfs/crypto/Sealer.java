package dev.clawfs.crypto;

import java.util.Arrays;
import java.util.Objects;
import javax.crypto.AEADBadTagException;
import javax.crypto.SecretKey;
import javax.crypto.spec.SecretKeySpec;
import javax.security.auth.Destroyable;

/**
 * AES-256-GCM for small records (metadata rows, names, index blobs) with a random 96-bit nonce:
 * {@code seal} returns {@code nonce(12) || ciphertext || tag(16)}. The associated data binds a
 * record to its place (for example its row id and column), so it cannot be pasted elsewhere.
 * Thread-safe.
 */
public final class Sealer {
  /** Bytes added to every plaintext: nonce and tag. */
  public static final int OVERHEAD = Gcm.OVERHEAD;

  private static final byte[] NO_AAD = new byte[0];

  private final SecretKey key;

  private Sealer(SecretKey key) {
    this.key = key;
  }

  /**
   * A sealer under a 32-byte key, typically {@code keys.subkey(KeyPurpose.METADATA)}. The key is
   * used by reference, so a sealer stops working (IllegalStateException) once its MasterKeys are
   * destroyed.
   */
  public static Sealer of(SecretKey key) {
    Objects.requireNonNull(key, "key");
    byte[] encoded = key.getEncoded();
    if (encoded == null || encoded.length != Gcm.KEY_SIZE) {
      throw new IllegalArgumentException("Sealer needs a 32-byte key");
    }
    try {
      // SunJCE's AES refuses keys whose algorithm is not "AES"; re-label foreign keys.
      return new Sealer("AES".equalsIgnoreCase(key.getAlgorithm()) ? key : new SecretKeySpec(encoded, "AES"));
    } finally {
      Arrays.fill(encoded, (byte) 0);
    }
  }

  /** Seals plaintext under a fresh random nonce; aad may be null (meaning empty). */
  public byte[] seal(byte[] plaintext, byte[] aad) {
    Objects.requireNonNull(plaintext, "plaintext");
    checkKey();
    byte[] out = new byte[plaintext.length + OVERHEAD];
    Rng.nonce(out, 0);
    byte[] a = aad == null ? NO_AAD : aad;
    Gcm.seal(Gcm.cipher(), key, out, 0, a, 0, a.length, plaintext, 0, plaintext.length, out, 0);
    return out;
  }

  /** Test seam for known-answer vectors: seal with a given nonce on a fresh Cipher. */
  byte[] sealWithNonce(byte[] nonce, byte[] plaintext, byte[] aad) {
    if (nonce.length != Gcm.NONCE_SIZE) {
      throw new IllegalArgumentException("nonce must be 12 bytes");
    }
    byte[] out = new byte[plaintext.length + OVERHEAD];
    byte[] a = aad == null ? NO_AAD : aad;
    // A fresh Cipher: SunJCE refuses to encrypt twice in a row with the same key and nonce.
    Gcm.seal(Gcm.newCipher(), key, nonce, 0, a, 0, a.length, plaintext, 0, plaintext.length, out, 0);
    return out;
  }

  /**
   * Opens what {@link #seal} produced with the same aad.
   *
   * @param what names the record in the error message (for example "name of inode 42"); must not
   *     contain secrets
   * @throws AuthenticationFailedException if the input is too short, altered, or the aad differs
   */
  public byte[] open(byte[] sealed, byte[] aad, String what) {
    Objects.requireNonNull(sealed, "sealed");
    checkKey();
    if (sealed.length < OVERHEAD) {
      throw new AuthenticationFailedException("authentication failed (too short, " + sealed.length
          + " bytes): " + what);
    }
    byte[] out = new byte[sealed.length - OVERHEAD];
    byte[] a = aad == null ? NO_AAD : aad;
    try {
      Gcm.open(Gcm.cipher(), key, a, 0, a.length, sealed, 0, sealed.length, out, 0);
      return out;
    } catch (AEADBadTagException e) {
      Arrays.fill(out, (byte) 0);
      throw new AuthenticationFailedException("authentication failed: " + what, e);
    }
  }

  private void checkKey() {
    if (key instanceof Destroyable && ((Destroyable) key).isDestroyed()) {
      throw new IllegalStateException("key destroyed (the vault was locked)");
    }
  }
}
