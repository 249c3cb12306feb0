package dev.clawfs.mount;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.clawfs.crypto.KdfParams;
import dev.clawfs.crypto.MasterKeys;
import dev.clawfs.crypto.VaultHeader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AuditHistoryTest {
  @TempDir Path dir;
  MasterKeys keys;

  @BeforeEach
  void keys() throws Exception {
    keys = VaultHeader.create(dir, "test passphrase".toCharArray(), new KdfParams(8192, 1, 1));
  }

  @AfterEach
  void destroy() {
    keys.destroy();
  }

  private static byte[] event(int i, String op, String agent, String path, String time) {
    return ("{\"time\":\"" + time + "\",\"source\":\"fuse\",\"op\":\"" + op + "\",\"path\":\"" + path
        + "\",\"result\":\"ok\",\"uid\":" + (1000 + i % 2) + ",\"agent\":" + (agent == null ? "null" : "\"" + agent + "\"")
        + "}\n").getBytes(StandardCharsets.UTF_8);
  }

  private static List<String> lines(AuditHistory h) throws Exception {
    List<String> out = new ArrayList<>();
    h.forEachLine(b -> out.add(new String(b, StandardCharsets.UTF_8)));
    return out;
  }

  @Test
  void linesComeBackSealedAndAcrossReopens() throws Exception {
    Path audit = dir.resolve("audit");
    try (AuditHistory h = AuditHistory.open(audit, keys, 64L << 20)) {
      h.append(event(1, "open", "alice", "/workspaces/secret-plan.md", "2025-01-01T00:00:00.000Z"));
      h.append(event(2, "mkdir", "bob", "/agents/bob/d", "2025-01-01T00:00:01.000Z"));
      assertEquals(2, lines(h).size(), "queued lines are written before a query");
    }
    try (AuditHistory h = AuditHistory.open(audit, keys, 64L << 20)) {
      h.append(event(3, "unlink", null, "/workspaces/x", "2025-01-01T00:00:02.000Z"));
      List<String> all = lines(h);
      assertEquals(3, all.size());
      assertTrue(all.get(0).contains("secret-plan") && all.get(2).contains("unlink"), all.toString());
    }
    try (Stream<Path> s = Files.list(audit)) {
      for (Path p : s.toList()) {
        String raw = new String(Files.readAllBytes(p), StandardCharsets.ISO_8859_1);
        assertFalse(raw.contains("secret-plan") || raw.contains("alice") || raw.contains("mkdir"), p + " in the clear");
      }
    }
  }

  @Test
  void anAlteredRecordEndsItsSegmentAndNothingWrongIsReturned() throws Exception {
    Path audit = dir.resolve("audit");
    try (AuditHistory h = AuditHistory.open(audit, keys, 64L << 20)) {
      h.append(event(1, "open", "alice", "/a", "2025-01-01T00:00:00.000Z"));
      h.flush();
      h.append(event(2, "open", "alice", "/b", "2025-01-01T00:00:01.000Z"));
      h.flush();
    }
    Path seg;
    try (Stream<Path> s = Files.list(audit)) {
      seg = s.findFirst().orElseThrow();
    }
    byte[] b = Files.readAllBytes(seg);
    b[b.length - 5] ^= 1; // inside the second record's tag
    Files.write(seg, b);
    try (AuditHistory h = AuditHistory.open(audit, keys, 64L << 20)) {
      List<String> all = lines(h);
      assertEquals(1, all.size(), all.toString());
      assertTrue(all.get(0).contains("\"/a\""));
    }
    // a segment renamed to another sequence number fails authentication as a whole
    Files.move(seg, audit.resolve("00000000000000ff.seg"));
    try (AuditHistory h = AuditHistory.open(audit, keys, 64L << 20)) {
      assertEquals(0, lines(h).size());
    }
  }

  @Test
  void theHistoryStaysWithinItsBudget() throws Exception {
    Path audit = dir.resolve("audit");
    long budget = 1L << 20;
    try (AuditHistory h = AuditHistory.open(audit, keys, budget)) {
      String pad = "x".repeat(300);
      for (int i = 0; i < 20_000; i++) {
        h.append(event(i, "open", "alice", "/workspaces/" + pad + i, "2025-01-01T00:00:00.000Z"));
        if (i % 500 == 0) {
          h.flush();
        }
      }
      h.flush();
      long total = 0;
      try (Stream<Path> s = Files.list(audit)) {
        for (Path p : s.toList()) {
          total += Files.size(p);
        }
      }
      assertTrue(total <= budget + (64 << 10), "history " + total + " bytes, budget " + budget);
      List<String> kept = lines(h);
      assertTrue(kept.size() > 100 && kept.size() < 20_000, kept.size() + " lines kept");
      assertTrue(kept.get(kept.size() - 1).contains(pad + 19999), "the newest are kept");
    }
  }

  @Test
  void queriesFilterByTimeAgentOpPathAndResult() throws Exception {
    try (AuditHistory h = AuditHistory.open(dir.resolve("audit"), keys, 64L << 20)) {
      h.append(event(1, "open", "alice", "/workspaces/p/a.md", "2025-01-01T00:00:00.000Z"));
      h.append(event(2, "mkdir", "bob", "/agents/bob/d", "2025-01-01T00:10:00.000Z"));
      h.append(event(3, "open", "alice", "/specs/s.md", "2025-01-01T00:20:00.000Z"));
      h.append(("{\"time\":\"2025-01-01T00:30:00.000Z\",\"source\":\"fuse\",\"op\":\"open\",\"path\":\"/vault/k\","
          + "\"result\":\"EACCES\",\"uid\":1001,\"agent\":\"bob\",\"rule\":\"default deny\"}\n").getBytes(StandardCharsets.UTF_8));
      long now = java.time.Instant.parse("2025-01-01T00:30:00.000Z").toEpochMilli();
      assertEquals(2, count(h, "agent=alice", now));
      assertEquals(1, count(h, "agent=alice&path=%2Fworkspaces%2F**", now));
      assertEquals(2, count(h, "since=15m", now));
      assertEquals(1, count(h, "since=15m&until=2025-01-01T00%3A25%3A00Z", now));
      assertEquals(1, count(h, "result=denied", now));
      assertEquals(1, count(h, "result=EACCES&op=open", now));
      assertEquals(2, count(h, "op=open&limit=2", now));
      assertEquals(1, count(h, "path=%2Fagents%2F*%2Fd", now));
      assertEquals(4, count(h, "path=%2F**", now));
    }
  }

  private static long count(AuditHistory h, String q, long now) throws Exception {
    return new String(AuditQuery.parse(q, now).run(h), StandardCharsets.UTF_8).lines().count();
  }

  @Test
  void badQueriesSayWhatIsWrong() {
    for (String[] c : new String[][] {
      {"color=red", "unknown key 'color'"},
      {"since=yesterday", "bad time \"yesterday\""},
      {"limit=0", "limit must be 1 to 100000"},
      {"path=workspaces", "must start with /"},
      {"op=open&op=mkdir", "'op' given twice"},
      {"agent", "is not key=value"},
      {"uid=me", "uid must be a number"},
    }) {
      AuditQuery.BadQueryException e = org.junit.jupiter.api.Assertions.assertThrows(AuditQuery.BadQueryException.class,
          () -> AuditQuery.parse(c[0], 0));
      assertTrue(e.getMessage().contains(c[1]), c[0] + ": " + e.getMessage());
    }
  }
}
