package dev.clawfs.bpf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

class EventDecoderTest {
  private final EventDecoder decoder = new EventDecoder(1_000_000_000_000L); // 1000 s after the epoch

  private static ByteBuffer header(int size, int kind) {
    ByteBuffer b = ByteBuffer.allocate(size).order(ByteOrder.nativeOrder());
    b.putLong(EventDecoder.TS, 5_000_000L);
    b.putInt(EventDecoder.KIND, kind);
    b.putInt(EventDecoder.TGID, 812);
    b.putInt(EventDecoder.TID, 813);
    b.putInt(EventDecoder.PPID, 790);
    b.putInt(EventDecoder.UID, 1001);
    b.putInt(EventDecoder.GID, 1002);
    put(b, EventDecoder.COMM, "curl");
    return b;
  }

  private static void put(ByteBuffer b, int offset, String s) {
    b.put(offset, s.getBytes(StandardCharsets.UTF_8));
  }

  @Test
  void decodesExecWithArgv() {
    ByteBuffer b = header(EventDecoder.EXEC_SIZE, EventDecoder.KIND_EXEC);
    put(b, EventDecoder.EXEC_PATH, "/usr/bin/curl");
    byte[] argv = "curl\0-s\0\0http://x\0".getBytes(StandardCharsets.UTF_8);
    b.put(EventDecoder.EXEC_ARGS, argv);
    b.putInt(EventDecoder.EXEC_ARGS_LEN, argv.length);
    BpfEvent e = decoder.decode(b);
    assertEquals(BpfEvent.Kind.EXEC, e.kind());
    assertEquals(1_000_005L, e.timeMillis());
    assertEquals(812, e.pid());
    assertEquals(813, e.tid());
    assertEquals(790, e.ppid());
    assertEquals(1001, e.uid());
    assertEquals(1002, e.gid());
    assertEquals("curl", e.comm());
    assertEquals("/usr/bin/curl", e.path());
    assertEquals("curl -s  http://x", e.args()); // the empty argument stays visible as two spaces
    assertFalse(e.truncated());
    assertEquals("exec pid=812 ppid=790 uid=1001 gid=1002 comm=curl path=/usr/bin/curl args=\"curl -s  http://x\" result=ok",
        e.auditLine());
  }

  @Test
  void decodesFailedOpenAndTruncationMark() {
    ByteBuffer b = header(EventDecoder.OPEN_SIZE, EventDecoder.KIND_OPEN);
    b.putLong(EventDecoder.OPEN_FLAGS, 0100000 | 01);
    b.putInt(EventDecoder.RESULT, -13);
    b.putInt(EventDecoder.MARKS, EventDecoder.MARK_TRUNC_PATH);
    put(b, EventDecoder.OPEN_PATH, "a".repeat(EventDecoder.PATH_LEN - 1));
    BpfEvent e = decoder.decode(b);
    assertEquals(BpfEvent.Kind.OPEN, e.kind());
    assertEquals(-13, e.result());
    assertEquals("EACCES", e.resultText());
    assertEquals(0100001, e.flags());
    assertEquals(255, e.path().length());
    assertTrue(e.truncated());
    assertTrue(e.auditLine().endsWith(" flags=0100001 truncated result=EACCES"), e.auditLine());
  }

  @Test
  void decodesConnectV4AndV6() {
    ByteBuffer b = header(EventDecoder.CONNECT_SIZE, EventDecoder.KIND_CONNECT);
    b.putShort(EventDecoder.CONN_FAMILY, (short) EventDecoder.AF_INET);
    b.putShort(EventDecoder.CONN_PORT, (short) 44321); // above 32767: read unsigned
    b.putShort(EventDecoder.CONN_PROTOCOL, (short) 6);
    b.put(EventDecoder.CONN_ADDR, new byte[] {127, 0, 0, 1});
    BpfEvent e = decoder.decode(b);
    assertEquals("127.0.0.1", e.address());
    assertEquals(44321, e.port());
    assertEquals("tcp", e.protocol());
    assertTrue(e.auditLine().contains(" proto=tcp peer=127.0.0.1:44321 "), e.auditLine());

    b.putShort(EventDecoder.CONN_FAMILY, (short) EventDecoder.AF_INET6);
    b.putShort(EventDecoder.CONN_PROTOCOL, (short) 17);
    b.putInt(EventDecoder.RESULT, -111);
    byte[] loopback6 = new byte[16];
    loopback6[15] = 1;
    b.put(EventDecoder.CONN_ADDR, loopback6);
    e = decoder.decode(b);
    assertEquals("0:0:0:0:0:0:0:1", e.address());
    assertEquals("udp", e.protocol());
    assertEquals("ECONNREFUSED", e.resultText());
    assertTrue(e.auditLine().contains(" peer=[0:0:0:0:0:0:0:1]:44321 "), e.auditLine());
  }

  @Test
  void rejectsUnknownKindsAndShortRecords() {
    assertNull(decoder.decode(header(EventDecoder.OPEN_SIZE, 9)));
    assertNull(decoder.decode(header(EventDecoder.OPEN_SIZE - 1, EventDecoder.KIND_OPEN)));
    assertNull(decoder.decode(ByteBuffer.allocate(8)));
  }

  /** The C side pins its struct sizes with _Static_assert; the Java constants must agree. */
  @Test
  void layoutMatchesTheCSource() throws IOException {
    String c = Files.readString(Path.of("src/main/c/clawfs_audit.bpf.c"));
    Matcher m = Pattern.compile("sizeof\\(struct (\\w+)\\) == (\\d+)").matcher(c);
    int seen = 0;
    while (m.find()) {
      int size = Integer.parseInt(m.group(2));
      switch (m.group(1)) {
        case "header" -> assertEquals(EventDecoder.HEADER_SIZE, size);
        case "exec_event" -> assertEquals(EventDecoder.EXEC_SIZE, size);
        case "open_event" -> assertEquals(EventDecoder.OPEN_SIZE, size);
        case "connect_event" -> assertEquals(EventDecoder.CONNECT_SIZE, size);
        default -> throw new AssertionError("unknown struct " + m.group(1));
      }
      seen++;
    }
    assertEquals(4, seen);
  }
}
