package dev.clawfs.crypto;

import java.security.DrbgParameters;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;

/**
 * Randomness for nonces, ids and keys: one NIST DRBG (JDK "DRBG", 256-bit strength) per thread.
 *
 * <p>Why per thread: the default Linux SecureRandom (NativePRNG) serialises every caller on one
 * static lock, which would make concurrent chunk writes queue up behind each other. Each DRBG
 * instance is seeded independently from the system entropy source when first used on a thread.
 */
final class Rng {
  private static final ThreadLocal<SecureRandom> RANDOM = ThreadLocal.withInitial(Rng::newDrbg);
  private static final ThreadLocal<byte[]> NONCE = ThreadLocal.withInitial(() -> new byte[Gcm.NONCE_SIZE]);

  private Rng() {}

  private static SecureRandom newDrbg() {
    try {
      return SecureRandom.getInstance(
          "DRBG", DrbgParameters.instantiation(256, DrbgParameters.Capability.NONE, null));
    } catch (NoSuchAlgorithmException e) {
      throw new CryptoException("no 256-bit DRBG available in this JDK", e);
    }
  }

  /** Fresh random bytes. */
  static byte[] bytes(int n) {
    byte[] b = new byte[n];
    RANDOM.get().nextBytes(b);
    return b;
  }

  /** Writes a fresh random 96-bit GCM nonce at out[off, off + 12) without allocating. */
  static void nonce(byte[] out, int off) {
    byte[] scratch = NONCE.get();
    RANDOM.get().nextBytes(scratch);
    System.arraycopy(scratch, 0, out, off, Gcm.NONCE_SIZE);
  }

  /** Fills out[off, off+len) with random bytes from this thread's DRBG. */
  static void fill(byte[] out, int off, int len) {
    byte[] b = new byte[len];
    RANDOM.get().nextBytes(b);
    System.arraycopy(b, 0, out, off, len);
  }
}
