package dev.clawfs.fuse;

import dev.clawfs.crypto.ChunkCipher;
import dev.clawfs.crypto.FileHeader;
import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;

/**
 * One content file: a {@link FileHeader} then, for each chunk index, two slots (A and B) of
 * {@link ChunkCipher#SLOT_SIZE} bytes. A chunk's version picks its slot (version parity), and
 * a new version is always written to the slot the committed metadata does not point at, so a
 * crash between the chunk write and the metadata commit leaves the committed chunk intact
 * (shadow paging at chunk granularity). Slots never written are holes in the host file.
 */
final class ContentFile implements Closeable {
  private final FileChannel channel;

  ContentFile(FileChannel channel) {
    this.channel = channel;
  }

  static long slotOffset(long index, long version) {
    return FileHeader.SIZE + (index * 2 + (version & 1)) * (long) ChunkCipher.SLOT_SIZE;
  }

  /** Reads up to len bytes at pos; returns the count actually read (short at end of file). */
  int read(byte[] dst, int off, int len, long pos) throws IOException {
    ByteBuffer bb = ByteBuffer.wrap(dst, off, len);
    int total = 0;
    while (bb.hasRemaining()) {
      int n = channel.read(bb, pos + total);
      if (n < 0) {
        break;
      }
      total += n;
    }
    return total;
  }

  void write(byte[] src, int off, int len, long pos) throws IOException {
    ByteBuffer bb = ByteBuffer.wrap(src, off, len);
    long p = pos;
    while (bb.hasRemaining()) {
      p += channel.write(bb, p);
    }
  }

  void force() throws IOException {
    channel.force(false);
  }

  @Override
  public void close() throws IOException {
    channel.close();
  }

  /**
   * Reads up to {@code len} bytes at {@code pos} into {@code dst}, stopping only at the end of
   * the file: how many were read (less than {@code len} means the file ends there).
   */
  static int readAt(FileChannel ch, byte[] dst, int len, long pos) throws IOException {
    ByteBuffer bb = ByteBuffer.wrap(dst, 0, len);
    int total = 0;
    while (bb.hasRemaining()) {
      int r = ch.read(bb, pos + total);
      if (r < 0) {
        break;
      }
      total += r;
    }
    return total;
  }
}
