package dev.clawfs.mount;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.clawfs.bpf.Availability;
import dev.clawfs.bpf.BpfAudit;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The audit stream through the real mount: every operation of an agent's session appears in
 * {@code system/audit/stream} (read with cat and with tail -f) with the right op, path, result
 * and agent; denials carry the rule; a burst of denials is an anomaly; the history is sealed and
 * answers {@code clawfs audit}; eBPF reports an agent's exec and connect; a flood of events is
 * counted and the server and stream readers carry on.
 */
@Timeout(value = 8, unit = TimeUnit.MINUTES, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class AuditIT {
  private static final ObjectMapper JSON = new ObjectMapper();

  @TempDir static Path base;
  static MountedVault vault;
  static TestAgents agents;
  static TestAgents.Agent carol;

  @BeforeAll
  static void mountWithAnAgent() throws IOException {
    TestAgents.assumeRootWithUserTools();
    Files.setPosixFilePermissions(base, java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
    vault = MountedVault.create(base, "--no-search");
    agents = new TestAgents(vault);
    carol = agents.add("aud-carol");
    Files.writeString(vault.path("specs/readme.md"), "hello\n");
    // Unix modes let anyone write it: only the policy says no (a mode denial never reaches the server)
    Files.writeString(vault.path("workspaces/open.txt"), "open\n");
    Files.setPosixFilePermissions(vault.path("workspaces/open.txt"), java.nio.file.attribute.PosixFilePermissions.fromString("rw-rw-rw-"));
  }

  @AfterAll
  static void cleanUp() {
    if (vault != null) {
      vault.close();
    }
    if (agents != null) {
      agents.close();
    }
  }

  static JsonNode json(String line) {
    try {
      return JSON.readTree(line);
    } catch (IOException e) {
      throw new AssertionError("not a JSON line: " + line, e);
    }
  }

  /** A stream line that is a FUSE event with this op and path. */
  static Predicate<String> fuse(String op, String path) {
    return l -> {
      JsonNode e = json(l);
      return "fuse".equals(e.path("source").asText()) && op.equals(e.path("op").asText())
          && path.equals(e.path("path").asText());
    };
  }

  private static JsonNode await(StreamTap tap, Predicate<String> match, String what) throws InterruptedException {
    StreamTap.Line l = tap.await(match, 5000);
    assertNotNull(l, what + " did not appear in the stream; got:\n" + String.join("\n", tail(tap.lines())));
    return json(l.text());
  }

  private static List<String> tail(List<String> lines) {
    return lines.subList(Math.max(0, lines.size() - 30), lines.size());
  }

  @Test
  void everyOperationOfAnAgentsSessionAppearsWithTheRightAgent() throws Exception {
    String home = "/agents/aud-carol";
    try (StreamTap tap = StreamTap.cat(vault)) {
      MountedVault.Result r = agents.as(carol, "cd $M" + home + " && mkdir s && echo data > s/f && cat s/f"
          + " && mv s/f s/g && rm s/g && rmdir s && cat $M/specs/readme.md");
      assertEquals(0, r.exitCode(), r.toString());
      Object[][] expected = {
        {"mkdir", home + "/s", null},
        {"create", home + "/s/f", null},
        {"open", home + "/s/f", "read"},
        {"rename", home + "/s/f", home + "/s/g"},
        {"unlink", home + "/s/g", null},
        {"rmdir", home + "/s", null},
        {"open", "/specs/readme.md", "read"},
      };
      for (Object[] x : expected) {
        JsonNode e = await(tap, fuse((String) x[0], (String) x[1]), x[0] + " " + x[1]);
        assertEquals("ok", e.get("result").asText(), e.toString());
        assertEquals("aud-carol", e.get("agent").asText(), e.toString());
        assertEquals(carol.uid(), e.get("uid").asInt(), e.toString());
        assertEquals(carol.gid(), e.get("gid").asInt(), e.toString());
        assertTrue(e.get("pid").asInt() > 0, e.toString());
        assertTrue(e.get("time").asText().matches("\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z"), e.toString());
        if (x[0].equals("rename")) {
          assertEquals(x[2], e.get("path2").asText(), e.toString());
        } else if (x[2] != null) {
          assertEquals(x[2], e.get("access").asText(), e.toString());
        }
      }
      JsonNode mv = await(tap, fuse("rename", home + "/s/f"), "rename");
      assertEquals("mv", mv.get("comm").asText(), "the process name: " + mv);
      // root's own operations are audited too, as root (no agent)
      Files.writeString(vault.path("workspaces/by-root.txt"), "x");
      JsonNode byRoot = await(tap, fuse("create", "/workspaces/by-root.txt"), "root's create");
      assertEquals(0, byRoot.get("uid").asInt());
      assertTrue(byRoot.get("agent").isNull(), byRoot.toString());
      // reads of the stream itself are not audited (the reader would see itself for ever)
      assertTrue(tap.lines().stream().noneMatch(l -> l.contains("\"path\":\"/system/audit/stream\"")), "own reads");
    }
  }

  @Test
  void aDenialIsEaccesAndAnAuditEventWithTheRule() throws Exception {
    try (StreamTap tap = StreamTap.cat(vault)) {
      MountedVault.Result r = agents.as(carol, "echo x >> $M/workspaces/open.txt");
      assertTrue(r.stderr().contains("Permission denied"), r.toString());
      JsonNode e = await(tap, fuse("open", "/workspaces/open.txt"), "the denied open for writing");
      assertEquals("EACCES", e.get("result").asText());
      assertEquals("write", e.get("access").asText());
      assertEquals("aud-carol", e.get("agent").asText());
      assertEquals("default deny", e.get("rule").asText(), e.toString());
      agents.as(carol, "cat $M/system/policies/default.yaml");
      // the policies are not even visible to agents: the lookup on the way is what is denied
      JsonNode sys = await(tap, fuse("getattr", "/system/policies"), "the denied lookup of system/policies");
      assertEquals("EACCES", sys.get("result").asText());
      assertEquals("not visible", sys.get("rule").asText(), sys.toString());
      agents.as(carol, "ls $M/vault");
      JsonNode vaultDenial = await(tap, fuse("getattr", "/vault"), "the hidden /vault");
      assertEquals("not visible", vaultDenial.get("rule").asText(), vaultDenial.toString());
      // an agent may not read the audit at all
      MountedVault.Result s = agents.as(carol, "cat $M/system/audit/stream");
      assertTrue(s.stderr().contains("Permission denied"), s.toString());
      await(tap, fuse("getattr", "/system/audit").and(l -> l.contains("EACCES")), "the denied lookup of the audit");
    }
  }

  @Test
  void aBurstOfDenialsIsAnAnomaly() throws Exception {
    try (StreamTap tap = StreamTap.cat(vault)) {
      agents.as(carol, "for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25; do"
          + " cat $M/vault/k$i 2>/dev/null; done; true");
      JsonNode a = await(tap, l -> l.contains("\"op\":\"anomaly\"") && l.contains("denial-burst"), "the denial-burst anomaly");
      assertEquals("aud-carol", a.get("agent").asText());
      assertEquals("default.yaml", a.get("where").asText().replaceAll(":\\d+$", ""), a.toString());
      assertEquals(20, a.get("count").asInt());
      String status = Files.readString(vault.path("system/audit/status"));
      assertTrue(status.matches("(?s).*anomalies: [1-9].*"), status);
    }
  }

  @Test
  void tailFollowsTheStreamAndNonBlockingReadsSayEagain() throws Exception {
    Path stream = vault.path("system/audit/stream");
    try (StreamTap tail = StreamTap.of(List.of("tail", "-f", stream.toString()))) {
      Thread.sleep(1500); // tail has read the last lines and polls once a second
      Files.writeString(vault.path("workspaces/seen-by-tail.txt"), "x");
      JsonNode e = await(tail, fuse("create", "/workspaces/seen-by-tail.txt"), "an event followed by tail -f");
      assertEquals("ok", e.get("result").asText());
      Files.writeString(vault.path("workspaces/seen-by-tail-2.txt"), "x");
      await(tail, fuse("create", "/workspaces/seen-by-tail-2.txt"), "a second event followed by tail -f");
      assertTrue(tail.alive(), "tail -f keeps following");
      assertFalse(tail.stderr().contains("truncated"), "tail must not think the stream was truncated: " + tail.stderr());
    }
    // a fresh descriptor starts at "now": with O_NONBLOCK and nothing new, the read says EAGAIN
    MountedVault.Result dd = MountedVault.run(List.of("dd", "if=" + stream, "iflag=nonblock", "bs=65536", "count=1"),
        null, 30);
    assertTrue(dd.stderr().contains("Resource temporarily unavailable"), dd.toString());
    // the status says what is on
    String status = Files.readString(vault.path("system/audit/status"));
    assertTrue(status.startsWith("fuse: on\nebpf: "), status);
    for (String k : List.of("events fuse: ", "events ebpf: ", "denials: ", "anomalies: ", "dropped queue full: ",
        "dropped slow readers: ", "dropped ebpf ring buffer: ", "history: ")) {
      assertTrue(status.contains("\n" + k), k + " in\n" + status);
    }
  }

  @Test
  void theHistoryIsSealedAndAnswersClawfsAudit() throws Exception {
    String marker = "/agents/aud-carol/history-marker-" + System.nanoTime();
    MountedVault.Result r = agents.as(carol, "echo x > $M" + marker + " && rm $M" + marker
        + " && cat $M/vault/nope 2>/dev/null; true");
    assertEquals(0, r.exitCode(), r.toString());
    Thread.sleep(300);
    String m = vault.mountpoint().toString();
    MountedVault.Result q = MountedVault.clawfs("audit", m, "--since", "5m", "--agent", "aud-carol", "--path", marker,
        "--json");
    assertEquals(0, q.exitCode(), q.toString());
    List<String> ops = q.stdout().lines().map(AuditIT::json).map(e -> e.get("op").asText())
        .filter(o -> !o.equals("getattr") && !o.equals("getxattr")).toList();
    assertEquals(List.of("create", "unlink"), ops, q.stdout());
    MountedVault.Result denied = MountedVault.clawfs("audit", m, "--agent", "aud-carol", "--result", "denied");
    assertEquals(0, denied.exitCode(), denied.toString());
    assertTrue(denied.stdout().contains("/vault") && denied.stdout().contains("EACCES"), denied.stdout());
    MountedVault.Result table = MountedVault.clawfs("audit", m, "--op", "create", "--path", "/agents/**");
    assertTrue(table.stdout().contains("aud-carol") && table.stdout().contains(marker), table.toString());
    MountedVault.Result bad = MountedVault.clawfs("audit", m, "--since", "yesterday");
    assertEquals(2, bad.exitCode(), bad.toString());
    assertTrue(bad.stderr().startsWith("clawfs: bad time \"yesterday\""), bad.toString());
    MountedVault.Result asAgent = agents.as(carol, "ls \"$M/system/audit/query/op=open\"");
    assertTrue(asAgent.stderr().contains("Permission denied"), "agents cannot query: " + asAgent);

    // kept across a remount, and sealed: the path is nowhere in the vault directory in the clear
    vault.unmount();
    try (Stream<Path> files = Files.walk(vault.vault())) {
      for (Path p : files.filter(Files::isRegularFile).toList()) {
        String raw = new String(Files.readAllBytes(p), StandardCharsets.ISO_8859_1);
        assertFalse(raw.contains("history-marker") || raw.contains("aud-carol"), p + " holds an audited path in the clear");
      }
    }
    assertTrue(Files.list(vault.vault().resolve("audit")).findAny().isPresent(), "audit segments exist");
    vault.mount();
    MountedVault.Result after = MountedVault.clawfs("audit", m, "--path", marker, "--op", "create", "--json");
    assertEquals(1, after.stdout().lines().count(), after.toString());
  }

  @Test
  void ebpfReportsAnAgentsExecAndConnectWithinASecond() throws Exception {
    Availability a = BpfAudit.probe();
    Assumptions.assumeTrue(a.available(), "SKIPPED: " + a.statusLine());
    String status = Files.readString(vault.path("system/audit/status"));
    Assumptions.assumeTrue(status.contains("ebpf: on"), "SKIPPED: the server did not start eBPF: " + status);
    try (ServerSocket listener = new ServerSocket(0, 5, java.net.InetAddress.getLoopbackAddress());
        StreamTap tap = StreamTap.cat(vault)) {
      int port = listener.getLocalPort();
      MountedVault.Result r = agents.as(carol, "/bin/echo exec-marker && bash -c 'exec 3<>/dev/tcp/127.0.0.1/" + port + "'");
      long done = System.currentTimeMillis();
      assertEquals(0, r.exitCode(), r.toString());
      StreamTap.Line exec = tap.await(l -> l.contains("\"source\":\"ebpf\"") && l.contains("\"op\":\"exec\"")
          && l.contains("/bin/echo") && l.contains("exec-marker"), 5000);
      assertNotNull(exec, "the exec; got:\n" + String.join("\n", tail(tap.lines())));
      StreamTap.Line conn = tap.await(l -> l.contains("\"source\":\"ebpf\"") && l.contains("\"op\":\"connect\"")
          && l.contains("127.0.0.1:" + port), 5000);
      assertNotNull(conn, "the connect; got:\n" + String.join("\n", tail(tap.lines())));
      for (StreamTap.Line l : List.of(exec, conn)) {
        JsonNode e = json(l.text());
        assertEquals("aud-carol", e.get("agent").asText(), e.toString());
        long sent = java.time.Instant.parse(e.get("time").asText()).toEpochMilli();
        // latency is reported, not asserted (no timing assertions in tests; bench/ measures it)
        System.err.println("eBPF " + e.get("op").asText() + " reached the stream " + (l.arrivedMillis() - sent)
            + " ms after it happened, " + (l.arrivedMillis() - done) + " ms after the command ended");
      }
      assertEquals("ok", json(conn.text()).get("result").asText());
      assertEquals("tcp", json(conn.text()).get("proto").asText());
      // the agent's commands ran in sh and bash: the default policy's no-shell rule flags them
      JsonNode shell = await(tap, l -> l.contains("\"op\":\"anomaly\"") && l.contains("no-shell"), "the no-shell anomaly");
      assertEquals("aud-carol", shell.get("agent").asText(), shell.toString());
    }
  }

  @Test
  void anAgentReadingHundredsOfFilesASecondIsAnAnomaly() throws Exception {
    Path dir = vault.path("workspaces/flood");
    Files.createDirectories(dir);
    for (int i = 0; i < 1000; i++) {
      Files.writeString(dir.resolve("f" + i), "x\n");
    }
    try (StreamTap tap = StreamTap.cat(vault)) {
      MountedVault.Result r = agents.as(carol, "cat $M/workspaces/flood/* | wc -l");
      assertEquals(0, r.exitCode(), r.toString());
      JsonNode a = await(tap, l -> l.contains("\"op\":\"anomaly\"") && l.contains("read-flood"), "the read-flood anomaly");
      assertEquals("aud-carol", a.get("agent").asText(), a.toString());
      assertEquals(300, a.get("count").asInt(), a.toString());
    }
  }

  @Test
  void aFloodOfEventsIsCountedAndTheServerAndReadersCarryOn() throws Exception {
    Map<String, Long> before = counts();
    Path target = vault.path("specs/readme.md");
    // a reader that stops reading for the flood: it falls behind and is told how much it missed
    try (StreamTap stalled = StreamTap.of(List.of("sh", "-c", "exec 3< '" + vault.path("system/audit/stream")
            + "'; sleep 12; cat <&3"));
        StreamTap live = StreamTap.cat(vault)) {
      long t0 = System.nanoTime();
      int n = 200_000;
      for (int i = 0; i < n; i++) {
        Files.getAttribute(target, "unix:ino"); // a getattr per call (attr_timeout=0)
      }
      long ms = (System.nanoTime() - t0) / 1_000_000;
      Thread.sleep(1500);
      Map<String, Long> after = counts();
      long events = after.get("events fuse") - before.get("events fuse");
      long dropped = after.get("dropped queue full") - before.get("dropped queue full");
      System.out.printf("flood: %d stats in %d ms; %d events recorded, %d dropped (queue full)%n", n, ms, events, dropped);
      assertTrue(events + dropped >= n, "every operation recorded or counted as dropped: " + after);
      // the server keeps serving, and both readers survive
      assertEquals("hello\n", Files.readString(target));
      Files.writeString(vault.path("workspaces/after-flood.txt"), "x");
      await(live, fuse("create", "/workspaces/after-flood.txt"), "an event after the flood (live reader)");
      assertTrue(live.alive());
      StreamTap.Line drop = stalled.await(l -> l.contains("\"op\":\"dropped\"") && l.contains("fell behind"), 20000);
      assertNotNull(drop, "the stalled reader is told it missed events; got " + stalled.lines().size() + " lines");
      assertTrue(json(drop.text()).get("count").asLong() > 0, drop.text());
      Files.writeString(vault.path("workspaces/after-flood-2.txt"), "x");
      await(stalled, fuse("create", "/workspaces/after-flood-2.txt"), "an event after the flood (stalled reader)");
      assertTrue(counts().get("dropped slow readers") > 0, "counted in the status");
    }
  }

  private static Map<String, Long> counts() throws IOException {
    Map<String, Long> out = new HashMap<>();
    for (String line : Files.readAllLines(vault.path("system/audit/status"))) {
      int c = line.indexOf(": ");
      if (c > 0) {
        try {
          out.put(line.substring(0, c), Long.parseLong(line.substring(c + 2).split(" ")[0]));
        } catch (NumberFormatException e) {
          // a text value
        }
      }
    }
    return out;
  }
}
