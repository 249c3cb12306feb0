package dev.clawfs.crypto;

import java.util.Arrays;
import java.util.Objects;
import javax.crypto.AEADBadTagException;
import javax.crypto.SecretKey;
import javax.crypto.spec.SecretKeySpec;
import javax.security.auth.Destroyable;

/**
 * AES-256-GCM for small records (metadata rows, names, index blobs): {@code seal} returns
 * {@code salt(16) || nonce(12) || ciphertext || tag(16)}. Each record is sealed under its own
 * key, HMAC-SHA256(key, "clawfs/v1/record-key" || salt) with a random 128-bit salt, so the
 * 2^32-seals-per-key limit of random 96-bit GCM nonces never applies to the long-lived
 * per-vault subkeys (metadata is rewritten on every change, for the life of the vault). The
 * associated data binds a record to its place (for example its row id and column), so it cannot
 * be pasted elsewhere. Thread-safe.
 */
public final class Sealer {
  /** Bytes added to every plaintext: salt, nonce and tag. */
  public static final int OVERHEAD = 16 + Gcm.OVERHEAD;

  private static final int SALT = 16;
  private static final byte[] RECORD_KEY_LABEL =
      "clawfs/v1/record-key".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
  private static final ThreadLocal<javax.crypto.Mac> MAC = ThreadLocal.withInitial(() -> {
    try {
      return javax.crypto.Mac.getInstance("HmacSHA256");
    } catch (java.security.NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  });

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
    Rng.fill(out, 0, SALT);
    Rng.nonce(out, SALT);
    byte[] a = aad == null ? NO_AAD : aad;
    Gcm.seal(Gcm.cipher(), recordKey(out), out, SALT, a, 0, a.length, plaintext, 0, plaintext.length, out, SALT);
    return out;
  }

  /** The per-record key derived from the salt at the start of a sealed record. */
  private SecretKeySpec recordKey(byte[] sealed) {
    javax.crypto.Mac mac = MAC.get();
    try {
      mac.init(new SecretKeySpec(key.getEncoded(), "HmacSHA256"));
    } catch (java.security.InvalidKeyException e) {
      throw new IllegalStateException(e);
    }
    mac.update(RECORD_KEY_LABEL);
    mac.update(sealed, 0, SALT);
    byte[] k = mac.doFinal();
    try {
      return new SecretKeySpec(k, "AES");
    } finally {
      Arrays.fill(k, (byte) 0);
    }
  }

  /** Test seam for known-answer vectors: seal with a given nonce on a fresh Cipher. */
  byte[] sealWithNonce(byte[] nonce, byte[] plaintext, byte[] aad) {
    if (nonce.length != Gcm.NONCE_SIZE) {
      throw new IllegalArgumentException("nonce must be 12 bytes");
    }
    byte[] out = new byte[plaintext.length + Gcm.OVERHEAD];
    byte[] a = aad == null ? NO_AAD : aad;
    // A fresh Cipher: SunJCE refuses to encrypt twice in a row with the same key and nonce.
    // Raw GCM under the base key: the seam checks the cipher against published vectors.
    Gcm.seal(Gcm.newCipher(), key, nonce, 0, a, 0, a.length, plaintext, 0, plaintext.length, out, 0);
    return out;
  }

  /** Test seam: {@link #seal} with a chosen salt and nonce. */
  byte[] sealWithSaltAndNonce(byte[] salt, byte[] nonce, byte[] plaintext, byte[] aad) {
    byte[] out = new byte[plaintext.length + OVERHEAD];
    System.arraycopy(salt, 0, out, 0, SALT);
    byte[] a = aad == null ? NO_AAD : aad;
    Gcm.seal(Gcm.newCipher(), recordKey(out), nonce, 0, a, 0, a.length, plaintext, 0, plaintext.length, out, SALT);
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
      Gcm.open(Gcm.cipher(), recordKey(sealed), a, 0, a.length, sealed, SALT, sealed.length - SALT, out, 0);
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
