package dev.clawfs.crypto;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Objects;
import javax.crypto.AEADBadTagException;
import javax.crypto.SecretKey;

/**
 * The 128-byte header at offset 0 of every content file:
 *
 * <pre>
 * offset size
 *      0    4  magic "CLFS"
 *      4    2  format version, u16 BE = 1
 *      6    4  key id of the master key, u32 BE
 *     10   16  file id, random
 *     26   60  content key wrapped: nonce(12) || AES-GCM(32-byte key) || tag(16)
 *              under subkey(keyId, CONTENT_KEY_WRAP), AAD = bytes 0..25 (magic..file id)
 *     86   42  zero padding (checked on read; room for later fields)
 * </pre>
 *
 * A random per-file content key means nonces are drawn per file, not per vault, which keeps the
 * count of GCM seals under any one key far below the random-nonce limit.
 */
public final class FileHeader {
  /** Encoded size in bytes. */
  public static final int SIZE = 128;

  static final byte[] MAGIC = "CLFS".getBytes(StandardCharsets.US_ASCII);
  static final int VERSION = 1;
  static final int FILE_ID_SIZE = 16;
  private static final int KEY_ID_OFFSET = 6;
  private static final int FILE_ID_OFFSET = 10;
  /** Magic, version, key id and file id: the associated data of the key wrap. */
  private static final int AAD_SIZE = 26;
  private static final int WRAPPED_OFFSET = AAD_SIZE;
  private static final int WRAPPED_SIZE = Gcm.KEY_SIZE + Gcm.OVERHEAD;
  private static final int PADDING_OFFSET = WRAPPED_OFFSET + WRAPPED_SIZE;

  private final int keyId;
  private final byte[] fileId;
  private final byte[] contentKey;
  private final ChunkCipher chunkCipher;

  private FileHeader(int keyId, byte[] fileId, byte[] contentKey) {
    this.keyId = keyId;
    this.fileId = fileId;
    this.contentKey = contentKey;
    this.chunkCipher = new ChunkCipher(contentKey, fileId, keyId);
  }

  /** A header for a new file: random file id and content key, under the primary master key. */
  public static FileHeader create(MasterKeys keys) {
    return new FileHeader(keys.primaryKeyId(), Rng.bytes(FILE_ID_SIZE), Rng.bytes(Gcm.KEY_SIZE));
  }

  /**
   * Parses and unwraps a header.
   *
   * @throws VaultFormatException on wrong length, bad magic, unsupported version, non-zero padding
   *     or a key id that is not in the keyset
   * @throws AuthenticationFailedException if the wrapped key does not authenticate (the header
   *     was altered or belongs to another vault)
   */
  public static FileHeader decode(byte[] header, MasterKeys keys) {
    Objects.requireNonNull(header, "header");
    if (header.length != SIZE) {
      throw new VaultFormatException("file header must be " + SIZE + " bytes, got " + header.length);
    }
    if (!Arrays.equals(header, 0, MAGIC.length, MAGIC, 0, MAGIC.length)) {
      throw new VaultFormatException("not a ClawFS content file (bad header magic)");
    }
    int version = ((header[4] & 0xff) << 8) | (header[5] & 0xff);
    if (version != VERSION) {
      throw new VaultFormatException("unsupported content file format version " + version
          + " (this build reads version " + VERSION + ")");
    }
    int keyId = getInt(header, KEY_ID_OFFSET);
    byte[] fileId = Arrays.copyOfRange(header, FILE_ID_OFFSET, FILE_ID_OFFSET + FILE_ID_SIZE);
    String fileHex = HexFormat.of().formatHex(fileId);
    if (!keys.keyIds().contains(keyId)) {
      throw new VaultFormatException("file " + fileHex + " is sealed under key id "
          + Integer.toUnsignedString(keyId) + ", which is not in this vault's keyset");
    }
    for (int i = PADDING_OFFSET; i < SIZE; i++) {
      if (header[i] != 0) {
        throw new VaultFormatException("file header of file " + fileHex + " has non-zero padding");
      }
    }
    byte[] contentKey = new byte[Gcm.KEY_SIZE];
    try {
      Gcm.open(Gcm.cipher(), keys.subkey(keyId, KeyPurpose.CONTENT_KEY_WRAP), header, 0, AAD_SIZE,
          header, WRAPPED_OFFSET, WRAPPED_SIZE, contentKey, 0);
    } catch (AEADBadTagException e) {
      Arrays.fill(contentKey, (byte) 0);
      throw new AuthenticationFailedException("file header authentication failed: file " + fileHex
          + " key id " + Integer.toUnsignedString(keyId), e);
    }
    return new FileHeader(keyId, fileId, contentKey);
  }

  /**
   * The 128-byte encoding, the content key wrapped under {@code keys} with a fresh nonce (so two
   * encodings of one header differ, and both decode).
   */
  public byte[] encode(MasterKeys keys) {
    SecretKey wrapKey = keys.subkey(keyId, KeyPurpose.CONTENT_KEY_WRAP);
    byte[] out = new byte[SIZE];
    System.arraycopy(MAGIC, 0, out, 0, MAGIC.length);
    out[4] = (byte) (VERSION >>> 8);
    out[5] = (byte) VERSION;
    putInt(out, KEY_ID_OFFSET, keyId);
    System.arraycopy(fileId, 0, out, FILE_ID_OFFSET, FILE_ID_SIZE);
    Rng.nonce(out, WRAPPED_OFFSET);
    Gcm.seal(Gcm.cipher(), wrapKey, out, WRAPPED_OFFSET, out, 0, AAD_SIZE,
        contentKey, 0, contentKey.length, out, WRAPPED_OFFSET);
    return out;
  }

  /** The file's 16-byte random id (a copy). */
  public byte[] fileId() {
    return fileId.clone();
  }

  /** Id of the master key whose subkey wraps the content key. */
  public int keyId() {
    return keyId;
  }

  /** The cipher for this file's chunks (one shared, thread-safe instance). */
  public ChunkCipher chunkCipher() {
    return chunkCipher;
  }

  private static int getInt(byte[] b, int off) {
    return ((b[off] & 0xff) << 24) | ((b[off + 1] & 0xff) << 16) | ((b[off + 2] & 0xff) << 8) | (b[off + 3] & 0xff);
  }

  private static void putInt(byte[] b, int off, int v) {
    b[off] = (byte) (v >>> 24);
    b[off + 1] = (byte) (v >>> 16);
    b[off + 2] = (byte) (v >>> 8);
    b[off + 3] = (byte) v;
  }

  @Override
  public String toString() {
    return "FileHeader[file " + HexFormat.of().formatHex(fileId) + ", key id " + Integer.toUnsignedString(keyId) + "]";
  }
}
