package dev.clawfs.crypto;

import java.security.GeneralSecurityException;
import java.util.Arrays;
import java.util.Objects;
import javax.crypto.Mac;
import javax.crypto.SecretKey;
import javax.crypto.ShortBufferException;
import javax.security.auth.Destroyable;

/**
 * HMAC-SHA256 keyed hash for blind lookups (names, index tokens), truncated to 16 bytes. Each
 * part is prefixed with its length (u32 big-endian) so the encoding of a list of parts is
 * unambiguous: ("ab", "c") and ("a", "bc") hash differently. 128 bits keep accidental
 * collisions out of reach (birthday bound 2^64) while halving index size. Thread-safe.
 */
public final class KeyedHash {
  /** Length of {@link #hash16} output. */
  public static final int SIZE = 16;

  private final SecretKey key;
  /** One initialised Mac per thread: Mac.init costs two SHA-256 blocks, paid once per thread. */
  private final ThreadLocal<Mac> macs;
  private final ThreadLocal<byte[]> scratch = ThreadLocal.withInitial(() -> new byte[32]);

  private KeyedHash(SecretKey key) {
    this.key = key;
    this.macs = ThreadLocal.withInitial(this::newMac);
  }

  /** A keyed hash under a key such as {@code keys.subkey(KeyPurpose.NAME_HASH)}. */
  public static KeyedHash of(SecretKey key) {
    Objects.requireNonNull(key, "key");
    byte[] encoded = key.getEncoded();
    if (encoded == null || encoded.length < 16) {
      throw new IllegalArgumentException("KeyedHash needs a key of at least 16 bytes");
    }
    Arrays.fill(encoded, (byte) 0);
    KeyedHash h = new KeyedHash(key);
    h.macs.get(); // fail now, not on first use, if the key is unusable
    return h;
  }

  private Mac newMac() {
    try {
      Mac mac = Mac.getInstance("HmacSHA256");
      mac.init(key);
      return mac;
    } catch (GeneralSecurityException e) {
      throw new CryptoException("HmacSHA256 refused the key", e);
    }
  }

  /** HMAC-SHA256 over (len(p) || p) for each part p, first 16 bytes. */
  public byte[] hash16(byte[]... parts) {
    if (key instanceof Destroyable && ((Destroyable) key).isDestroyed()) {
      throw new IllegalStateException("key destroyed (the vault was locked)");
    }
    // Check every part first: a failure half-way would leave this thread's Mac mid-message.
    for (byte[] part : parts) {
      Objects.requireNonNull(part, "part");
    }
    Mac mac = macs.get();
    for (byte[] part : parts) {
      int n = part.length;
      mac.update((byte) (n >>> 24));
      mac.update((byte) (n >>> 16));
      mac.update((byte) (n >>> 8));
      mac.update((byte) n);
      mac.update(part);
    }
    byte[] full = scratch.get();
    try {
      mac.doFinal(full, 0);
    } catch (ShortBufferException e) {
      throw new CryptoException("HmacSHA256 output buffer", e);
    }
    return Arrays.copyOf(full, SIZE);
  }
}
