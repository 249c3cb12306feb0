package dev.clawfs.mount;

import dev.clawfs.fuse.Caller;
import dev.clawfs.fuse.StreamSource;
import java.nio.charset.StandardCharsets;

/**
 * A reply that is worked out in the background (a tool's drop-box job, an agent's answer) and
 * read as a file that is empty until it is done: a read waits for it (O_NONBLOCK: EAGAIN), then
 * gets the whole reply and end of file. Thread-safe.
 */
final class PendingReply implements StreamSource {
  final long created = System.currentTimeMillis();
  private byte[] reply;
  private long doneNanos;

  synchronized void finish(byte[] r) {
    reply = r;
    doneNanos = System.nanoTime();
    notifyAll();
  }

  void finish(String text) {
    finish(text.getBytes(StandardCharsets.UTF_8));
  }

  synchronized byte[] reply() {
    return reply;
  }

  /** Whether it has been done for longer than {@code nanos}. */
  synchronized boolean doneLongerThan(long nanos) {
    return reply != null && System.nanoTime() - doneNanos > nanos;
  }

  private synchronized byte[] await(long millis) throws InterruptedException {
    if (reply == null && millis > 0) {
      wait(millis);
    }
    return reply;
  }

  @Override
  public long size() {
    byte[] r = reply();
    return r == null ? 0 : r.length;
  }

  @Override
  public long modifiedNanos() {
    return created * 1_000_000L;
  }

  @Override
  public Reader open(Caller caller) {
    return new Reader() {
      @Override
      public int read(long offset, byte[] dst, int len, long waitMillis) throws InterruptedException {
        byte[] r = await(waitMillis);
        if (r == null) {
          return 0;
        }
        if (offset >= r.length) {
          return -1;
        }
        int n = (int) Math.min(len, r.length - offset);
        System.arraycopy(r, (int) offset, dst, 0, n);
        return n;
      }

      @Override
      public void close() {}
    };
  }
}
