package dev.clawfs.tools;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.NonReadableChannelException;
import java.util.Arrays;

/**
 * A file opened for writing in a writable grant: the content is kept in memory while open (every
 * byte written charged to the run's output budget) and handed to the core on close.
 */
final class ViewWriteChannel extends ViewChannel {

  private final ViewFileSystem fs;
  private final String path;
  private final boolean append;
  private final boolean readable;
  private byte[] content;
  private int length;
  private long position;

  ViewWriteChannel(
      ViewFileSystem fs, String path, byte[] initial, boolean append, boolean readable) {
    this.fs = fs;
    this.path = path;
    this.append = append;
    this.readable = readable;
    this.content = initial;
    this.length = initial.length;
  }

  synchronized long sizeNow() {
    return length;
  }

  @Override
  public synchronized int read(ByteBuffer dst) throws IOException {
    int n = read(dst, position);
    if (n > 0) {
      position += n;
    }
    return n;
  }

  @Override
  public synchronized int read(ByteBuffer dst, long at) throws IOException {
    if (!readable) {
      throw new NonReadableChannelException();
    }
    if (!isOpen()) {
      throw new ClosedChannelException();
    }
    if (at >= length) {
      return -1;
    }
    int n = (int) Math.min(dst.remaining(), length - at);
    dst.put(content, (int) at, n);
    return n;
  }

  @Override
  public synchronized int write(ByteBuffer src) throws IOException {
    if (append) {
      position = length;
    }
    int n = write(src, position);
    position += n;
    return n;
  }

  @Override
  public synchronized int write(ByteBuffer src, long at) throws IOException {
    if (!isOpen()) {
      throw new ClosedChannelException();
    }
    int n = src.remaining();
    fs.budget().charge(n, path);
    long end = at + n;
    if (end > Integer.MAX_VALUE - 8) {
      throw new IOException("file too large for a tool to write: " + path);
    }
    if (end > content.length) {
      content =
          Arrays.copyOf(
              content,
              (int) Math.max(end, Math.min((long) content.length * 2, Integer.MAX_VALUE - 8)));
    }
    src.get(content, (int) at, n);
    length = (int) Math.max(length, end);
    return n;
  }

  @Override
  public synchronized long position() {
    return position;
  }

  @Override
  public synchronized ViewWriteChannel position(long newPosition) {
    if (newPosition < 0) {
      throw new IllegalArgumentException("negative position");
    }
    position = newPosition;
    return this;
  }

  @Override
  public synchronized long size() {
    return length;
  }

  @Override
  public synchronized ViewWriteChannel truncate(long newSize) {
    if (newSize < length) {
      Arrays.fill(
          content, (int) newSize, length, (byte) 0); // a later write past the end sees zeros
      length = (int) newSize;
    }
    position = Math.min(position, newSize);
    return this;
  }

  @Override
  protected synchronized void implCloseChannel() throws IOException {
    fs.commit(this, path, Arrays.copyOf(content, length));
    content = new byte[0];
  }
}
