package dev.clawfs.tools;

import java.io.IOException;
import java.io.OutputStream;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The output allowance of one run, shared by stdout, stderr and files the tool writes. Going over
 * it stops the run with {@link LimitHit#OUTPUT}: what fitted is kept (and delivered), the rest is
 * refused, and the result says so; output is never cut short silently.
 */
final class OutputBudget {

  private final long limit;
  private final AtomicLong used = new AtomicLong();

  OutputBudget(long limit) {
    this.limit = limit;
  }

  long used() {
    return used.get();
  }

  /** Takes up to {@code n} bytes of the allowance and returns how many it got. */
  long take(long n) {
    while (true) {
      long u = used.get();
      long granted = Math.min(n, limit - u);
      if (granted <= 0) {
        return 0;
      }
      if (used.compareAndSet(u, u + granted)) {
        return granted;
      }
    }
  }

  /** Takes {@code n} bytes or stops the run. */
  void charge(long n, String what) {
    if (take(n) < n) {
      throw exceeded(what);
    }
  }

  LimitExceeded exceeded(String what) {
    return new LimitExceeded(
        LimitHit.OUTPUT,
        "output limit: the tool wrote more than "
            + limit
            + " bytes (stdout, stderr and files together)"
            + (what.isEmpty() ? "" : "; stopped while writing " + what));
  }

  /** A stream into {@code sink} that charges this budget. */
  OutputStream stream(OutputStream sink, String name) {
    return new OutputStream() {
      @Override
      public void write(int b) throws IOException {
        write(new byte[] {(byte) b}, 0, 1);
      }

      @Override
      public void write(byte[] b, int off, int len) throws IOException {
        int granted = (int) take(len);
        if (granted > 0) {
          sink.write(b, off, granted);
        }
        if (granted < len) {
          sink.flush();
          throw exceeded(name);
        }
      }

      @Override
      public void flush() throws IOException {
        sink.flush();
      }
    };
  }
}
