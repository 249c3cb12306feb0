package dev.clawfs.crypto;

import java.util.Arrays;
import java.util.HexFormat;
import java.util.Objects;
import javax.crypto.AEADBadTagException;
import javax.crypto.Cipher;
import javax.crypto.spec.SecretKeySpec;

/**
 * Seals and opens the fixed-size content chunks of one file under its content key.
 *
 * <p>A sealed chunk is {@code nonce(12) || ciphertext || tag(16)} with a fresh random nonce per
 * seal, and associated data
 * {@code fileId(16) || chunkIndex (u64 BE) || version (u64 BE) || keyId (u32 BE)}. So a chunk
 * cannot be swapped with another index, moved into another file, rolled back to an older version
 * or presented under another master key id without the tag failing. Opening never hands back
 * unauthenticated bytes: on failure the output region is zeroed and
 * {@link AuthenticationFailedException} names the file, chunk and version.
 *
 * <p>Thread-safe: each thread uses its own Cipher and DRBG, so writers do not contend on a lock,
 * and no buffers are allocated per call beyond what JCA itself needs.
 */
public final class ChunkCipher {
  /** Plaintext bytes per chunk (the last chunk of a file may be shorter). */
  public static final int CHUNK_SIZE = 65536;
  /** Nonce plus tag. */
  public static final int OVERHEAD = Gcm.OVERHEAD;
  /** Sealed size of a full chunk: the stride of chunk slots in a content file. */
  public static final int SLOT_SIZE = CHUNK_SIZE + OVERHEAD;

  static final int AAD_SIZE = 16 + 8 + 8 + 4;
  private static final ThreadLocal<byte[]> AAD = ThreadLocal.withInitial(() -> new byte[AAD_SIZE]);

  private final SecretKeySpec key;
  private final byte[] fileId;
  private final int keyId;
  private final String fileIdHex;

  /**
   * @param contentKey the file's 32-byte content key (copied)
   * @param fileId the file's 16-byte random id (copied)
   * @param keyId id of the master key that wraps the content key, bound into every chunk
   */
  public ChunkCipher(byte[] contentKey, byte[] fileId, int keyId) {
    if (contentKey.length != Gcm.KEY_SIZE) {
      throw new IllegalArgumentException("content key must be 32 bytes");
    }
    if (fileId.length != 16) {
      throw new IllegalArgumentException("file id must be 16 bytes");
    }
    this.key = new SecretKeySpec(contentKey, "AES");
    this.fileId = fileId.clone();
    this.keyId = keyId;
    this.fileIdHex = HexFormat.of().formatHex(fileId);
  }

  /**
   * Seals plain[off, off + len) (len at most CHUNK_SIZE) into out[outOff, outOff + len + OVERHEAD).
   * The input and output regions must not overlap.
   *
   * @return len + OVERHEAD
   */
  public int seal(long index, long version, byte[] plain, int off, int len, byte[] out, int outOff) {
    checkSealArgs(index, version, plain, off, len, out, outOff);
    Rng.nonce(out, outOff);
    return Gcm.seal(Gcm.cipher(), key, out, outOff, aad(index, version), 0, AAD_SIZE,
        plain, off, len, out, outOff);
  }

  /** Test seam for known-answer vectors: seal with a given nonce on a fresh Cipher. */
  int sealWithNonce(byte[] nonce, long index, long version, byte[] plain, int off, int len,
      byte[] out, int outOff) {
    if (nonce.length != Gcm.NONCE_SIZE) {
      throw new IllegalArgumentException("nonce must be 12 bytes");
    }
    checkSealArgs(index, version, plain, off, len, out, outOff);
    // A fresh Cipher: SunJCE refuses to encrypt twice in a row with the same key and nonce.
    return Gcm.seal(Gcm.newCipher(), key, nonce, 0, aad(index, version), 0, AAD_SIZE,
        plain, off, len, out, outOff);
  }

  /**
   * Opens sealed[off, off + len) into out[outOff, outOff + len - OVERHEAD).
   *
   * @return len - OVERHEAD
   * @throws AuthenticationFailedException if the chunk is too short or too long, altered, or
   *     belongs to another index, version, file or key id; the output region is zeroed first
   */
  public int open(long index, long version, byte[] sealed, int off, int len, byte[] out, int outOff) {
    Objects.checkFromIndexSize(off, len, sealed.length);
    checkPosition(index, version);
    if (len < OVERHEAD || len > SLOT_SIZE) {
      throw new AuthenticationFailedException(describe(index, version)
          + ": sealed chunk has impossible length " + len);
    }
    int plainLen = len - OVERHEAD;
    Objects.checkFromIndexSize(outOff, plainLen, out.length);
    Cipher cipher = Gcm.cipher();
    try {
      return Gcm.open(cipher, key, aad(index, version), 0, AAD_SIZE, sealed, off, len, out, outOff);
    } catch (AEADBadTagException e) {
      Arrays.fill(out, outOff, outOff + plainLen, (byte) 0);
      throw new AuthenticationFailedException(describe(index, version) + ": tag mismatch", e);
    } catch (RuntimeException e) {
      Arrays.fill(out, outOff, outOff + plainLen, (byte) 0);
      throw e;
    }
  }

  /** 16-byte file id (a copy). */
  byte[] fileId() {
    return fileId.clone();
  }

  /** Id of the master key that wraps this file's content key (bound into every chunk's AAD). */
  public int keyId() {
    return keyId;
  }

  private byte[] aad(long index, long version) {
    byte[] a = AAD.get();
    System.arraycopy(fileId, 0, a, 0, 16);
    putLong(a, 16, index);
    putLong(a, 24, version);
    a[32] = (byte) (keyId >>> 24);
    a[33] = (byte) (keyId >>> 16);
    a[34] = (byte) (keyId >>> 8);
    a[35] = (byte) keyId;
    return a;
  }

  private static void putLong(byte[] b, int off, long v) {
    for (int i = 7; i >= 0; i--) {
      b[off + i] = (byte) v;
      v >>>= 8;
    }
  }

  private static void checkSealArgs(long index, long version, byte[] plain, int off, int len,
      byte[] out, int outOff) {
    checkPosition(index, version);
    Objects.checkFromIndexSize(off, len, plain.length);
    if (len > CHUNK_SIZE) {
      throw new IllegalArgumentException("chunk of " + len + " bytes exceeds CHUNK_SIZE " + CHUNK_SIZE);
    }
    Objects.checkFromIndexSize(outOff, len + OVERHEAD, out.length);
  }

  private static void checkPosition(long index, long version) {
    if (index < 0 || version < 0) {
      throw new IllegalArgumentException("chunk index and version must be >= 0");
    }
  }

  private String describe(long index, long version) {
    return "chunk authentication failed: file " + fileIdHex + " chunk " + index + " version " + version
        + " key id " + Integer.toUnsignedString(keyId);
  }

  @Override
  public String toString() {
    return "ChunkCipher[file " + fileIdHex + ", key id " + Integer.toUnsignedString(keyId) + "]";
  }
}
