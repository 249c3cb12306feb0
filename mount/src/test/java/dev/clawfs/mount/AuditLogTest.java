package dev.clawfs.mount;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.clawfs.fuse.Caller;
import dev.clawfs.fuse.StreamSource;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class AuditLogTest {
  private static byte[] line(int i) {
    return ("{\"n\":" + i + "}\n").getBytes(StandardCharsets.UTF_8);
  }

  private static String read(StreamSource.Reader r, long offset, int len) throws InterruptedException {
    byte[] b = new byte[len];
    int n = r.read(offset, b, len, 0);
    return n <= 0 ? "<" + n + ">" : new String(b, 0, n, StandardCharsets.UTF_8);
  }

  @Test
  void aReaderFromOffsetZeroStartsAtNow() throws Exception {
    AuditLog log = new AuditLog(1 << 20, 1024);
    log.append(line(1));
    StreamSource.Reader r = log.open(Caller.ROOT);
    assertEquals("<0>", read(r, 0, 100), "nothing new yet");
    log.append(line(2));
    assertEquals("{\"n\":2}\n", read(r, 0, 100));
    assertEquals("<0>", read(r, 8, 100));
    log.append(line(3));
    assertEquals("{\"n\":3}\n", read(r, 8, 100));
    assertEquals(24, log.size());
  }

  @Test
  void aReaderThatPositionsItselfReadsTheLogsOwnOffsets() throws Exception {
    AuditLog log = new AuditLog(1 << 20, 1024);
    for (int i = 1; i <= 3; i++) {
      log.append(line(i)); // 8 bytes each
    }
    StreamSource.Reader tail = log.open(Caller.ROOT);
    assertEquals("{\"n\":2}\n{\"n\":3}\n", read(tail, 8, 100), "as tail reads back from the end");
    assertEquals("<0>", read(tail, 24, 100));
  }

  @Test
  void aWaitingReaderWakesOnAppendAndEndsAtClose() throws Exception {
    AuditLog log = new AuditLog(1 << 20, 1024);
    StreamSource.Reader r = log.open(Caller.ROOT);
    Thread t = new Thread(() -> {
      try {
        Thread.sleep(100);
      } catch (InterruptedException e) {
        return;
      }
      log.append(line(7));
      log.publish();
    });
    t.start();
    byte[] b = new byte[100];
    long t0 = System.nanoTime();
    int n = r.read(0, b, 100, 5000);
    assertEquals(8, n);
    assertTrue(System.nanoTime() - t0 < 3_000_000_000L, "woken by the append, not the timeout");
    log.close();
    assertEquals(-1, r.read(8, b, 100, 5000), "end of stream");
  }

  @Test
  void aReaderThatFellBehindIsToldHowManyItMissedAndGoesOn() throws Exception {
    AuditLog log = new AuditLog(80, 1024); // ten lines of 8 bytes
    StreamSource.Reader slow = log.open(Caller.ROOT);
    log.append(line(0));
    assertEquals("{\"n\":0}\n", read(slow, 0, 8));
    for (int i = 1; i <= 30; i++) {
      log.append(line(i % 10)); // 20 of them are gone by the time the reader comes back
    }
    String notice = read(slow, 8, 4096);
    assertTrue(notice.contains("\"op\":\"dropped\""), notice);
    long missed = Long.parseLong(notice.replaceAll("(?s).*\"count\":(\\d+).*", "$1"));
    assertTrue(missed >= 20 && missed <= 30, notice);
    long next = 8 + notice.getBytes(StandardCharsets.UTF_8).length;
    String rest = read(slow, next, 4096);
    assertEquals(30 - missed, rest.lines().count(), "the kept lines after the notice: " + rest);
    assertTrue(log.readerDrops() >= missed);
    assertTrue(log.size() >= next + rest.length(), "the size never looks truncated to a reader");
  }

  @Test
  void readersAreCountedAndBounded() {
    AuditLog full = new AuditLog(1 << 20, 16);
    for (int i = 0; i < AuditLog.MAX_READERS; i++) {
      full.open(Caller.ROOT);
    }
    dev.clawfs.fuse.FsException busy = org.junit.jupiter.api.Assertions.assertThrows(dev.clawfs.fuse.FsException.class,
        () -> full.open(Caller.ROOT));
    assertEquals(dev.clawfs.fuse.Errno.EBUSY, busy.errno());
  }

  @Test
  void readersAreCounted() {
    AuditLog log = new AuditLog(1 << 20, 16);
    StreamSource.Reader a = log.open(Caller.ROOT);
    StreamSource.Reader b = log.open(Caller.ROOT);
    assertEquals(2, log.readers());
    a.close();
    a.close();
    assertEquals(1, log.readers());
    b.close();
    assertEquals(0, log.readers());
  }
}
