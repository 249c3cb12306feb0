package dev.clawfs.crypto;

import java.security.GeneralSecurityException;
import java.security.Key;
import javax.crypto.AEADBadTagException;
import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;

/**
 * AES-GCM through the JDK's JCA provider, the one place this package calls it. SunJCE uses the
 * AES-NI and carry-less multiply intrinsics, which Bouncy Castle's pure-Java GCM does not.
 *
 * <p>Every sealed blob is {@code nonce(12) || ciphertext || tag(16)}. Callers choose the nonce
 * (always random outside tests) and the associated data.
 */
final class Gcm {
  static final int KEY_SIZE = 32;
  static final int NONCE_SIZE = 12;
  static final int TAG_SIZE = 16;
  static final int OVERHEAD = NONCE_SIZE + TAG_SIZE;
  private static final int TAG_BITS = TAG_SIZE * 8;

  /** Cipher objects are not thread-safe and costly to look up, so each thread keeps one. */
  private static final ThreadLocal<Cipher> CIPHER = ThreadLocal.withInitial(Gcm::newCipher);

  private Gcm() {}

  static Cipher newCipher() {
    try {
      return Cipher.getInstance("AES/GCM/NoPadding");
    } catch (GeneralSecurityException e) {
      throw new CryptoException("AES/GCM/NoPadding is not available in this JDK", e);
    }
  }

  /** This thread's cipher. */
  static Cipher cipher() {
    return CIPHER.get();
  }

  /**
   * Seals in[inOff, inOff + inLen) to out[outOff, outOff + inLen + OVERHEAD): copies the nonce
   * from nonce[nonceOff, nonceOff + 12) to the front (a no-op copy when it is already there), then
   * writes ciphertext and tag. The caller has checked bounds. Returns inLen + OVERHEAD.
   */
  static int seal(Cipher cipher, Key key, byte[] nonce, int nonceOff,
      byte[] aad, int aadOff, int aadLen,
      byte[] in, int inOff, int inLen, byte[] out, int outOff) {
    try {
      cipher.init(Cipher.ENCRYPT_MODE, key, new GCMParameterSpec(TAG_BITS, nonce, nonceOff, NONCE_SIZE));
      System.arraycopy(nonce, nonceOff, out, outOff, NONCE_SIZE);
      if (aadLen > 0) {
        cipher.updateAAD(aad, aadOff, aadLen);
      }
      int n = cipher.doFinal(in, inOff, inLen, out, outOff + NONCE_SIZE);
      return NONCE_SIZE + n;
    } catch (GeneralSecurityException e) {
      throw new CryptoException("AES-GCM seal failed: " + e.getClass().getSimpleName(), e);
    }
  }

  /**
   * Opens in[inOff, inOff + inLen) (nonce || ciphertext || tag, inLen >= OVERHEAD) into
   * out[outOff, outOff + inLen - OVERHEAD). Returns the plaintext length.
   *
   * @throws AEADBadTagException when the tag does not verify; the output region may then hold
   *     garbage and the caller must wipe it
   */
  static int open(Cipher cipher, Key key, byte[] aad, int aadOff, int aadLen,
      byte[] in, int inOff, int inLen, byte[] out, int outOff) throws AEADBadTagException {
    try {
      cipher.init(Cipher.DECRYPT_MODE, key, new GCMParameterSpec(TAG_BITS, in, inOff, NONCE_SIZE));
      if (aadLen > 0) {
        cipher.updateAAD(aad, aadOff, aadLen);
      }
      return cipher.doFinal(in, inOff + NONCE_SIZE, inLen - NONCE_SIZE, out, outOff);
    } catch (AEADBadTagException e) {
      throw e;
    } catch (GeneralSecurityException e) {
      throw new CryptoException("AES-GCM open failed: " + e.getClass().getSimpleName(), e);
    }
  }
}
