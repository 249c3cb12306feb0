package dev.clawfs.tools;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.NonWritableChannelException;

/**
 * A file opened for reading: ranges fetched from {@link ToolFiles#read} on demand, with a
 * read-ahead window so that a tool reading a few KiB at a time does not cost a call each.
 */
final class ViewReadChannel extends ViewChannel {

  private static final int WINDOW = 256 * 1024;

  private final ToolFiles files;
  private final String path;
  private final long size;
  private long position;
  private byte[] window = new byte[0];
  private long windowStart;

  ViewReadChannel(ToolFiles files, String path, long size) {
    this.files = files;
    this.path = path;
    this.size = size;
  }

  @Override
  public int read(ByteBuffer dst) throws IOException {
    int n = read(dst, position);
    if (n > 0) {
      position += n;
    }
    return n;
  }

  @Override
  public int read(ByteBuffer dst, long at) throws IOException {
    if (!isOpen()) {
      throw new ClosedChannelException();
    }
    if (at < 0) {
      throw new IllegalArgumentException("negative position");
    }
    if (!dst.hasRemaining()) {
      return 0;
    }
    if (at < windowStart || at >= windowStart + window.length) {
      if (at >= size) {
        return -1;
      }
      window =
          files.read(
              path,
              at,
              (int) Math.min(Math.max(WINDOW, dst.remaining()), Math.min(size - at, 1 << 24)));
      windowStart = at;
      if (window.length == 0) {
        return -1;
      }
    }
    int offset = (int) (at - windowStart);
    int n = Math.min(dst.remaining(), window.length - offset);
    dst.put(window, offset, n);
    return n;
  }

  @Override
  public int write(ByteBuffer src) {
    throw new NonWritableChannelException();
  }

  @Override
  public int write(ByteBuffer src, long at) {
    throw new NonWritableChannelException();
  }

  @Override
  public long position() {
    return position;
  }

  @Override
  public ViewReadChannel position(long newPosition) {
    if (newPosition < 0) {
      throw new IllegalArgumentException("negative position");
    }
    position = newPosition;
    return this;
  }

  @Override
  public long size() {
    return size;
  }

  @Override
  public ViewReadChannel truncate(long newSize) {
    throw new NonWritableChannelException();
  }

  @Override
  protected void implCloseChannel() {
    window = new byte[0];
  }
}
