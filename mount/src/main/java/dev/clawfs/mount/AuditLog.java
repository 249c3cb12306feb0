package dev.clawfs.mount;

import dev.clawfs.fuse.Caller;
import dev.clawfs.fuse.StreamSource;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The recent audit stream in memory, served as {@code /system/audit/stream}: a log of JSON lines
 * whose byte offsets count from the mount, with the newest lines kept (up to a byte and a line
 * budget). It looks like a log file being appended to: its size and mtime grow.
 *
 * <p>Each open descriptor reads at its own pace. A descriptor whose first read is at offset 0
 * ({@code cat}, any program reading from the start) starts at "now": it sees the lines appended
 * after it was opened. A descriptor that first reads elsewhere ({@code tail}, which seeks to the
 * end and reads back for the last lines) reads the log at the offsets it asks for. A reader that
 * falls so far behind that the lines it has not read are gone gets one line saying how many it
 * missed ({@code "op":"dropped"}), and goes on with the oldest line still kept.
 */
final class AuditLog implements StreamSource {
  private final int maxBytes;
  private final byte[][] lines;
  /** Offset of each kept line; ring parallel to lines. */
  private final long[] offsets;
  private int head;
  private int count;
  private long keptBytes;
  /** Bytes and lines ever appended. */
  private volatile long end;
  private long totalLines;
  private volatile long modifiedNanos = System.currentTimeMillis() * 1_000_000L;
  private boolean closed;
  /** Readers inside wait(). Guarded by this. */
  private int waiting;
  private final AtomicLong readerDrops = new AtomicLong();
  private final AtomicInteger readers = new AtomicInteger();
  private final boolean replay;

  AuditLog(int maxBytes, int maxLines) {
    this(maxBytes, maxLines, false);
  }

  /**
   * {@code replay}: a reader that starts at offset 0 ({@code cat}) gets the kept lines first, then
   * the live ones (an agent's transcript); otherwise it gets the live ones only (the audit stream).
   */
  AuditLog(int maxBytes, int maxLines, boolean replay) {
    this.replay = replay;
    this.maxBytes = maxBytes;
    this.lines = new byte[maxLines][];
    this.offsets = new long[maxLines];
  }

  /** Appends one line (ending in '\n'); {@link #publish()} wakes the readers waiting for it. */
  synchronized void append(byte[] line) {
    while (count > 0 && (count == lines.length || keptBytes + line.length > maxBytes)) {
      keptBytes -= lines[head].length;
      lines[head] = null;
      head = (head + 1) % lines.length;
      count--;
    }
    int slot = (head + count) % lines.length;
    lines[slot] = line;
    offsets[slot] = end;
    count++;
    keptBytes += line.length;
    end += line.length;
    totalLines++;
    modifiedNanos = System.currentTimeMillis() * 1_000_000L + (System.nanoTime() % 1_000_000L + 1_000_000L) % 1_000_000L;
  }

  /** Wakes the readers waiting for new lines (once per batch of appends). */
  synchronized void publish() {
    if (waiting > 0) {
      notifyAll();
    }
  }

  /** Ends every reader's stream (at unmount). */
  synchronized void close() {
    closed = true;
    notifyAll();
  }

  @Override
  public long size() {
    return end;
  }

  @Override
  public long modifiedNanos() {
    return modifiedNanos;
  }

  /** Lines missed by readers that fell behind, summed over all readers. */
  long readerDrops() {
    return readerDrops.get();
  }

  /** Descriptors open on the stream now. */
  int readers() {
    return readers.get();
  }

  /**
   * Most descriptors open on the stream at once. Each waiting reader holds a server thread, and
   * the server keeps at most 64: this leaves threads for everything else.
   */
  static final int MAX_READERS = 32;

  @Override
  public synchronized Reader open(Caller caller) {
    if (readers.get() >= MAX_READERS) {
      throw new dev.clawfs.fuse.FsException(dev.clawfs.fuse.Errno.EBUSY,
          "at most " + MAX_READERS + " readers of the audit stream at once");
    }
    readers.incrementAndGet();
    return new LogReader(end, totalLines);
  }

  /** Offset of the oldest kept line (= end when nothing is kept). Holds the lock. */
  private long start() {
    return count == 0 ? end : offsets[head];
  }

  private long firstSeq() {
    return totalLines - count;
  }

  /** Index (0 = oldest kept) of the kept line holding byte {@code g}; g must be in [start, end). */
  private int indexOf(long g) {
    int lo = 0;
    int hi = count - 1;
    while (lo < hi) {
      int mid = (lo + hi + 1) >>> 1;
      if (offsets[(head + mid) % lines.length] <= g) {
        lo = mid;
      } else {
        hi = mid - 1;
      }
    }
    return lo;
  }

  private final class LogReader implements Reader {
    private final long openEnd;
    private final long openSeq;
    private boolean started;
    /** Log offset = descriptor offset + delta. */
    private long delta;
    /** Sequence number of the next line this reader has not finished, and whether it is part-read. */
    private long nextSeq;
    private boolean midLine;
    private boolean released;

    LogReader(long openEnd, long openSeq) {
      this.openEnd = openEnd;
      this.openSeq = openSeq;
    }

    @Override
    public int read(long offset, byte[] dst, int len, long waitMillis) throws InterruptedException {
      synchronized (AuditLog.this) {
        if (!started) {
          started = true;
          if (offset == 0 && !replay) {
            delta = openEnd;
            nextSeq = openSeq;
          } else {
            // a reader that positions itself (tail): the log's own offsets, from the oldest kept line
            delta = 0;
            long g = Math.max(offset, start());
            delta = g - offset;
            nextSeq = g >= end ? totalLines : firstSeq() + indexOf(g);
          }
        }
        long deadline = System.nanoTime() + waitMillis * 1_000_000L;
        while (true) {
          long g = offset + delta;
          if (g < start()) {
            int n = dropped(offset, dst, len);
            if (n > 0) {
              return n;
            }
          } else if (g < end) {
            return copy(g, dst, len);
          }
          if (closed) {
            return -1;
          }
          long left = deadline - System.nanoTime();
          if (left <= 0) {
            return 0;
          }
          waiting++;
          try {
            AuditLog.this.wait(Math.max(1, left / 1_000_000L));
          } finally {
            waiting--;
          }
        }
      }
    }

    /** Copies kept bytes from log offset g. */
    private int copy(long g, byte[] dst, int len) {
      int i = indexOf(g);
      int n = 0;
      while (n < len && i < count) {
        int slot = (head + i) % lines.length;
        byte[] line = lines[slot];
        int from = (int) (g + n - offsets[slot]);
        int k = Math.min(len - n, line.length - from);
        System.arraycopy(line, from, dst, n, k);
        n += k;
        if (from + k == line.length) {
          i++;
          midLine = false;
        } else {
          midLine = true;
        }
      }
      nextSeq = firstSeq() + i;
      return n;
    }

    /**
     * The lines this reader had not read are gone: one line says how many, and the descriptor's
     * next offset maps to the first kept line at or after it. 0 when that line is not there yet.
     */
    private int dropped(long offset, byte[] dst, int len) {
      long behind = Math.max(0, firstSeq() - nextSeq);
      // the notice's length decides which kept line comes next, and that decides the count in it
      long skipped = 0;
      for (int attempt = 0; attempt < 4; attempt++) {
        byte[] notice = notice(behind + skipped);
        int noticeLen = notice.length <= len ? notice.length : 0;
        long next = offset + noticeLen;
        int i = 0;
        while (i < count && offsets[(head + i) % lines.length] < next) {
          i++; // keep delta >= 0, so the size never looks truncated to tail
        }
        if (i == count) {
          return 0; // wait for a line to start past the notice
        }
        if (i != skipped) {
          skipped = i;
          continue;
        }
        long o = offsets[(head + i) % lines.length];
        delta = o - next;
        readerDrops.addAndGet(behind + skipped);
        nextSeq = firstSeq() + i;
        midLine = false;
        if (noticeLen == 0) {
          return copy(o, dst, len);
        }
        System.arraycopy(notice, 0, dst, 0, noticeLen);
        return noticeLen;
      }
      return 0;
    }

    private byte[] notice(long lost) {
      return ((midLine ? "\n" : "") + "{\"time\":\"" + Json.isoTime(System.currentTimeMillis())
          + "\",\"source\":\"audit\",\"op\":\"dropped\",\"count\":" + lost
          + ",\"reason\":\"this reader fell behind; the oldest events it had not read were dropped\"}\n")
          .getBytes(StandardCharsets.UTF_8);
    }

    @Override
    public void close() {
      synchronized (AuditLog.this) {
        if (!released) {
          released = true;
          readers.decrementAndGet();
        }
      }
    }
  }
}
