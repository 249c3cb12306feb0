package dev.clawfs.fuse;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/** A directory entry name: any bytes but '/' and NUL, 1..255 bytes. Immutable. */
public final class Name {
  public static final int MAX_BYTES = 255;
  private final byte[] bytes;
  private final int hash;

  private Name(byte[] bytes) {
    this.bytes = bytes;
    this.hash = Arrays.hashCode(bytes);
  }

  /** Validates and wraps (copies) the bytes of one path component. */
  public static Name of(byte[] bytes) {
    if (bytes.length == 0) {
      throw new FsException(Errno.ENOENT, "empty name");
    }
    if (bytes.length > MAX_BYTES) {
      throw new FsException(Errno.ENAMETOOLONG, "name longer than 255 bytes");
    }
    for (byte b : bytes) {
      if (b == '/' || b == 0) {
        throw new FsException(Errno.EINVAL, "name contains '/' or NUL");
      }
    }
    return new Name(bytes.clone());
  }

  /** Convenience for names known to be ASCII. */
  public static Name of(String ascii) {
    return of(ascii.getBytes(StandardCharsets.ISO_8859_1));
  }

  public byte[] bytes() {
    return bytes.clone();
  }

  byte[] rawBytes() {
    return bytes;
  }

  private static final byte[] HIDDEN_PREFIX = ".fuse_hidden".getBytes(StandardCharsets.ISO_8859_1);

  /**
   * True for the names libfuse2 gives a file that is unlinked (or replaced by a rename) while
   * open, so that it stays reachable by path until released. They are not listed, do not count
   * as links, and are removed at mount if a crash left them behind.
   */
  public boolean isFuseHidden() {
    if (bytes.length < HIDDEN_PREFIX.length) {
      return false;
    }
    for (int i = 0; i < HIDDEN_PREFIX.length; i++) {
      if (bytes[i] != HIDDEN_PREFIX[i]) {
        return false;
      }
    }
    return true;
  }

  public boolean isDot() {
    return (bytes.length == 1 && bytes[0] == '.')
        || (bytes.length == 2 && bytes[0] == '.' && bytes[1] == '.');
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof Name n && n.hash == hash && Arrays.equals(n.bytes, bytes);
  }

  @Override
  public int hashCode() {
    return hash;
  }

  @Override
  public String toString() {
    return new String(bytes, StandardCharsets.ISO_8859_1);
  }
}
