package dev.clawfs.crypto;

import java.security.GeneralSecurityException;
import java.util.Arrays;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * HKDF-SHA256 (RFC 5869) on the JDK's HmacSHA256: small enough to read in one sitting, and it
 * keeps Bouncy Castle to Argon2id only.
 */
final class Hkdf {
  static final int HASH_LEN = 32;

  private Hkdf() {}

  /** Extract then expand; intermediate secrets are wiped. */
  static byte[] derive(byte[] ikm, byte[] salt, byte[] info, int length) {
    byte[] prk = extract(salt, ikm);
    try {
      return expand(prk, info, length);
    } finally {
      Arrays.fill(prk, (byte) 0);
    }
  }

  static byte[] extract(byte[] salt, byte[] ikm) {
    // RFC 5869 2.2: a missing salt is HashLen zero bytes (and SecretKeySpec refuses empty keys).
    byte[] s = salt == null || salt.length == 0 ? new byte[HASH_LEN] : salt;
    Mac mac = hmac(s);
    return mac.doFinal(ikm);
  }

  static byte[] expand(byte[] prk, byte[] info, int length) {
    if (length < 1 || length > 255 * HASH_LEN) {
      throw new IllegalArgumentException("HKDF output length must be 1.." + 255 * HASH_LEN);
    }
    Mac mac = hmac(prk);
    byte[] okm = new byte[length];
    byte[] t = new byte[0];
    int done = 0;
    for (int i = 1; done < length; i++) {
      mac.update(t);
      if (info != null) {
        mac.update(info);
      }
      mac.update((byte) i);
      Arrays.fill(t, (byte) 0);
      t = mac.doFinal();
      int n = Math.min(HASH_LEN, length - done);
      System.arraycopy(t, 0, okm, done, n);
      done += n;
    }
    Arrays.fill(t, (byte) 0);
    return okm;
  }

  private static Mac hmac(byte[] key) {
    try {
      Mac mac = Mac.getInstance("HmacSHA256");
      mac.init(new SecretKeySpec(key, "HmacSHA256"));
      return mac;
    } catch (GeneralSecurityException e) {
      throw new CryptoException("HmacSHA256 is not available in this JDK", e);
    }
  }
}
