package dev.clawfs.bpf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import java.util.function.Predicate;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Real kernel, real processes: runs programs as a uid no other process uses (setpriv, no passwd entry
 * needed) and checks what the audit reports. Skipped, saying why, without root, BTF, libbpf or the
 * compiled object.
 */
class BpfAuditIT {
  private static Availability availability;
  private static int watchedUid;
  private static int otherUid;

  @BeforeAll
  static void probe() throws IOException {
    availability = BpfAudit.probe();
    boolean setpriv = Files.isExecutable(Path.of("/usr/bin/setpriv")) || Files.isExecutable(Path.of("/bin/setpriv"));
    if (availability.available() && !setpriv) {
      availability = new Availability(false, "setpriv (util-linux) not installed", null);
    }
    if (!availability.available()) {
      System.out.println("SKIPPED BpfAuditIT: " + availability.statusLine());
      return;
    }
    Set<Integer> used = usedUids();
    watchedUid = freeUid(used);
    used.add(watchedUid);
    otherUid = freeUid(used);
  }

  /** Per test, so that the report counts each one as skipped rather than the class as empty. */
  @BeforeEach
  void needsEbpf() {
    assumeTrue(availability.available(), availability::statusLine);
  }

  /** Collects events; the tests look for theirs among everything else the uid does. */
  static final class Recorder implements Consumer<BpfEvent> {
    private final List<BpfEvent> events = new ArrayList<>();

    @Override
    public synchronized void accept(BpfEvent e) {
      events.add(e);
      notifyAll();
    }

    synchronized List<BpfEvent> all() {
      return List.copyOf(events);
    }

    synchronized BpfEvent await(Predicate<BpfEvent> match, long millis) throws InterruptedException {
      long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
      while (true) {
        for (BpfEvent e : events) {
          if (match.test(e)) {
            return e;
          }
        }
        long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
        if (left <= 0) {
          return null;
        }
        wait(left);
      }
    }
  }

  @Test
  void execOfWatchedUidIsSeenWithinOneSecond() throws Exception {
    Recorder rec = new Recorder();
    try (BpfAudit audit = BpfAudit.start(rec)) {
      assertEquals(List.of("exec", "open", "connect"), audit.hooks(), audit.statusLine());
      audit.watchUid(watchedUid);
      long before = System.currentTimeMillis();
      long pid = runAs(watchedUid, "/bin/true", "--clawfs-marker");
      BpfEvent e = rec.await(ev -> ev.kind() == BpfEvent.Kind.EXEC && ev.pid() == pid, 1000);
      assertNotNull(e, () -> "no exec event for pid " + pid + " in 1 s; got " + rec.all());
      assertEquals(watchedUid, e.uid());
      assertEquals(watchedUid, e.gid());
      assertEquals("/bin/true", e.path());
      assertEquals("/bin/true --clawfs-marker", e.args());
      assertEquals("true", e.comm());
      assertTrue(Math.abs(e.timeMillis() - before) < 5000, "wall-clock time off: " + e.timeMillis() + " vs " + before);
      System.out.println("seen: " + e.auditLine());

      // setpriv's own execve of a file without x permission fails with EACCES
      Path notExecutable = Files.createTempFile("clawfs-bpf-noexec-", ".sh",
          PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-r--r--")));
      try {
        long denied = runAs(watchedUid, notExecutable.toString());
        BpfEvent failed = rec.await(ev -> ev.kind() == BpfEvent.Kind.EXEC && ev.pid() == denied, 1000);
        assertNotNull(failed, () -> "no failed exec for pid " + denied + "; got " + rec.all());
        assertEquals(notExecutable.toString(), failed.path());
        assertEquals("EACCES", failed.resultText());
        System.out.println("seen: " + failed.auditLine());
      } finally {
        Files.deleteIfExists(notExecutable);
      }
      System.out.println(audit.statusLine());
    }
  }

  @Test
  void opensAreSeenWithFdOrErrno() throws Exception {
    Recorder rec = new Recorder();
    try (BpfAudit audit = BpfAudit.start(rec)) {
      audit.watchUid(watchedUid);
      long pid = runAs(watchedUid, "cat", "/etc/hostname");
      BpfEvent e = rec.await(ev -> ev.kind() == BpfEvent.Kind.OPEN && ev.pid() == pid && ev.path().equals("/etc/hostname"), 1000);
      assertNotNull(e, () -> "no open of /etc/hostname by pid " + pid + "; got " + rec.all());
      assertTrue(e.result() >= 0, e.auditLine());
      assertEquals(0, e.flags() & 3, "O_RDONLY expected: " + e.auditLine());
      assertEquals(watchedUid, e.uid());
      assertEquals("cat", e.comm());
      System.out.println("seen: " + e.auditLine());

      String missing = "/nonexistent-clawfs-" + ThreadLocalRandom.current().nextInt(1_000_000);
      long pid2 = runAs(watchedUid, "cat", missing);
      BpfEvent failed = rec.await(ev -> ev.kind() == BpfEvent.Kind.OPEN && ev.pid() == pid2 && ev.path().equals(missing), 1000);
      assertNotNull(failed, () -> "no failed open by pid " + pid2);
      assertEquals(-2, failed.result(), failed.auditLine());
      assertEquals("ENOENT", failed.resultText());
      System.out.println("seen: " + failed.auditLine());
    }
  }

  @Test
  void tcpAndUdpConnectsAreSeen() throws Exception {
    Recorder rec = new Recorder();
    try (BpfAudit audit = BpfAudit.start(rec);
        ServerSocket server = new ServerSocket(0, 5, InetAddress.getLoopbackAddress())) {
      audit.watchUid(watchedUid);
      int port = server.getLocalPort();
      Thread acceptor = new Thread(() -> {
        try (Socket s = server.accept()) {
          s.getInputStream().read();
        } catch (IOException ignored) {
          // the client went away: that is the test's end
        }
      });
      acceptor.setDaemon(true);
      acceptor.start();
      long pid = runAs(watchedUid, "bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/" + port);
      BpfEvent e = rec.await(ev -> ev.kind() == BpfEvent.Kind.CONNECT && ev.pid() == pid, 1000);
      assertNotNull(e, () -> "no connect by pid " + pid + "; got " + rec.all());
      assertEquals("127.0.0.1", e.address());
      assertEquals(port, e.port());
      assertEquals("tcp", e.protocol());
      assertEquals(0, e.result(), e.auditLine());
      assertEquals(watchedUid, e.uid());
      System.out.println("seen: " + e.auditLine());

      long pid2 = runAs(watchedUid, "bash", "-c", "exec 3<>/dev/udp/127.0.0.1/" + (port ^ 1));
      BpfEvent udp = rec.await(ev -> ev.kind() == BpfEvent.Kind.CONNECT && ev.pid() == pid2, 1000);
      assertNotNull(udp, () -> "no udp connect by pid " + pid2 + "; got " + rec.all());
      assertEquals("udp", udp.protocol());
      assertEquals(port ^ 1, udp.port());
      System.out.println("seen: " + udp.auditLine());
    }
  }

  @Test
  void unwatchedUidsAreNotReported() throws Exception {
    Recorder rec = new Recorder();
    try (BpfAudit audit = BpfAudit.start(rec)) {
      audit.watchUid(watchedUid);
      long rootPid = run(List.of("/bin/true"));
      long otherPid = runAs(otherUid, "/bin/true");
      // a watched process after them: once its exec is in, theirs would have been too
      long sentinel = runAs(watchedUid, "/bin/true");
      assertNotNull(rec.await(ev -> ev.pid() == sentinel && ev.kind() == BpfEvent.Kind.EXEC, 1000), "sentinel not seen");
      for (BpfEvent e : rec.all()) {
        assertEquals(watchedUid, e.uid(), () -> "unwatched uid reported: " + e.auditLine());
        assertFalse(e.pid() == rootPid || e.pid() == otherPid, () -> "unwatched process reported: " + e.auditLine());
      }
      audit.unwatchUid(watchedUid);
      long after = runAs(watchedUid, "/bin/true");
      Thread.sleep(300);
      assertTrue(rec.all().stream().noneMatch(e -> e.pid() == after), "reported after unwatchUid");
    }
  }

  /** The server must not audit its own vault reads: the starting process is ignored even when its uid is watched. */
  @Test
  void ownProcessIsNeverReported() throws Exception {
    Path marker = Files.createTempFile("clawfs-bpf-self-", ".txt");
    try {
      Files.writeString(marker, "x");
      Recorder rec = new Recorder();
      try (BpfAudit audit = BpfAudit.start(rec)) {
        int myUid = (Integer) Files.getAttribute(Path.of("/proc/self"), "unix:uid");
        audit.watchUid(myUid);
        Files.readString(marker);
        long child = run(List.of("cat", marker.toString()));
        BpfEvent seen = rec.await(ev -> ev.kind() == BpfEvent.Kind.OPEN && ev.pid() == child
            && ev.path().equals(marker.toString()), 1000);
        assertNotNull(seen, "the child's open of the marker was not seen");
        long self = ProcessHandle.current().pid();
        assertTrue(rec.all().stream().noneMatch(e -> e.pid() == self), "the auditing process reported itself");
      }
    } finally {
      Files.deleteIfExists(marker);
    }
  }

  @Test
  void closeDetachesAndASecondStartWorks() throws Exception {
    // other ClawFS processes on the machine (a mounted server) may have their own programs loaded:
    // ours are the clawfs_ programs that appear with this start
    java.util.Set<String> before = programIds();
    Recorder first = new Recorder();
    BpfAudit audit = BpfAudit.start(first);
    audit.watchUid(watchedUid);
    long pid = runAs(watchedUid, "/bin/true");
    assertNotNull(first.await(ev -> ev.pid() == pid && ev.kind() == BpfEvent.Kind.EXEC, 1000));
    assertTrue(audit.running());
    assertTrue(programsLoaded().contains("clawfs_exec"), "clawfs_exec not listed by bpftool: " + programsLoaded());
    java.util.Set<String> ours = new java.util.HashSet<>(programIds());
    ours.removeAll(before);
    assertFalse(ours.isEmpty() && !programsLoaded().contains("bpftool unavailable"), "no new clawfs_ program ids");
    audit.close();
    audit.close(); // idempotent
    assertFalse(audit.running());
    assertEquals("ebpf: off: closed", audit.statusLine());
    assertThrows(IllegalStateException.class, () -> audit.watchUid(watchedUid));
    int seenBefore = first.all().size();
    long afterClose = runAs(watchedUid, "/bin/true");
    Thread.sleep(300);
    assertEquals(seenBefore, first.all().size(), "events after close: " + first.all());
    assertTrue(waitUntilUnloaded(ours), "programs still loaded after close: " + ours + " of " + programIds());

    Recorder second = new Recorder();
    try (BpfAudit again = BpfAudit.start(second)) {
      again.watchUid(watchedUid);
      long pid2 = runAs(watchedUid, "/bin/true");
      assertNotNull(second.await(ev -> ev.pid() == pid2 && ev.kind() == BpfEvent.Kind.EXEC, 1000), "second start sees nothing");
      assertTrue(second.all().stream().noneMatch(e -> e.pid() == afterClose));
      assertTrue(again.dropped() >= 0);
      assertTrue(again.events() >= 1);
      System.out.println(again.statusLine());
    }
  }

  @Test
  void sinkThatThrowsDoesNotStopTheAudit() throws Exception {
    Recorder rec = new Recorder();
    try (BpfAudit audit = BpfAudit.start(e -> {
      rec.accept(e);
      throw new IllegalStateException("sink failure the audit must survive");
    })) {
      audit.watchUid(watchedUid);
      long a = runAs(watchedUid, "/bin/true");
      long b = runAs(watchedUid, "/bin/true");
      assertNotNull(rec.await(ev -> ev.pid() == a, 1000));
      assertNotNull(rec.await(ev -> ev.pid() == b, 1000));
      assertTrue(audit.running(), audit.statusLine());
    }
  }

  /** A consumer that stalls makes the 256 KiB ring buffer overflow: the loss is counted, not hidden. */
  @Test
  void overflowIsCountedAsDropped() throws Exception {
    CountDownLatch stalled = new CountDownLatch(1);
    AtomicLong opens = new AtomicLong();
    try (BpfAudit audit = BpfAudit.start(e -> {
      if (e.kind() == BpfEvent.Kind.OPEN && e.path().equals("/etc/hostname")) {
        opens.incrementAndGet();
      }
      try {
        stalled.await();
      } catch (InterruptedException ie) {
        Thread.currentThread().interrupt();
      }
    })) {
      audit.watchUid(watchedUid);
      // 3000 opens of 328-byte records need about 1 MB
      runAs(watchedUid, "bash", "-c", "for i in $(seq 3000); do : < /etc/hostname; done");
      long dropped = audit.dropped();
      stalled.countDown();
      Thread.sleep(500);
      System.out.println("overflow: " + opens.get() + " delivered, " + dropped + " dropped; " + audit.statusLine());
      assertTrue(dropped > 0, "nothing dropped: " + audit.statusLine());
      assertTrue(opens.get() + dropped >= 3000, opens.get() + " delivered + " + dropped + " dropped < 3000");
    }
  }

  // ---- helpers

  /** Runs a command as uid:gid {@code uid} with no supplementary groups; returns its pid once it has exited. */
  private static long runAs(int uid, String... command) throws IOException, InterruptedException {
    List<String> cmd = new ArrayList<>(List.of("setpriv", "--reuid=" + uid, "--regid=" + uid, "--clear-groups"));
    cmd.addAll(List.of(command));
    return run(cmd);
  }

  /** stdin, stdout and stderr are pipes (never /dev/null, which may be a plain file here). */
  private static long run(List<String> cmd) throws IOException, InterruptedException {
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    p.getOutputStream().close();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(10, TimeUnit.SECONDS), "did not finish: " + cmd);
    System.out.println("ran " + cmd + " pid " + p.pid() + " exit " + p.exitValue() + (out.isBlank() ? "" : ": " + out.strip()));
    return p.pid();
  }

  private static Set<Integer> usedUids() throws IOException {
    Set<Integer> used = new HashSet<>();
    try (Stream<Path> procs = Files.list(Path.of("/proc"))) {
      for (Path p : (Iterable<Path>) procs::iterator) {
        try {
          for (String line : Files.readAllLines(p.resolve("status"))) {
            if (line.startsWith("Uid:")) {
              for (String f : line.substring(4).trim().split("\\s+")) {
                used.add(Integer.parseInt(f));
              }
            }
          }
        } catch (IOException | RuntimeException notAProcess) {
          // not a pid directory, or the process has gone
        }
      }
    }
    return used;
  }

  /** A uid far above useradd's ranges that no process runs as. */
  private static int freeUid(Set<Integer> used) {
    while (true) {
      int uid = 3_000_000 + ThreadLocalRandom.current().nextInt(900_000);
      if (!used.contains(uid)) {
        return uid;
      }
    }
  }

  private static String programsLoaded() {
    try {
      Process p = new ProcessBuilder("bpftool", "prog", "show").redirectErrorStream(true).start();
      p.getOutputStream().close();
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      p.waitFor(10, TimeUnit.SECONDS);
      StringBuilder names = new StringBuilder();
      for (String line : out.split("\n")) {
        int i = line.indexOf(" name clawfs_");
        if (i >= 0) {
          names.append(line.substring(i + 6).split(" ")[0]).append(' ');
        }
      }
      return names.toString();
    } catch (IOException e) {
      return "clawfs_exec (bpftool unavailable: " + e.getMessage() + ")";
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return "";
    }
  }

  /** Ids of the loaded clawfs_ programs, from bpftool ("498: tracing  name clawfs_exec ..."). */
  private static java.util.Set<String> programIds() {
    java.util.Set<String> ids = new java.util.HashSet<>();
    try {
      Process p = new ProcessBuilder("bpftool", "prog", "show").redirectErrorStream(true).start();
      p.getOutputStream().close();
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      p.waitFor(10, TimeUnit.SECONDS);
      for (String line : out.split("\n")) {
        int colon = line.indexOf(':');
        if (colon > 0 && line.contains(" name clawfs_") && line.substring(0, colon).chars().allMatch(Character::isDigit)) {
          ids.add(line.substring(0, colon));
        }
      }
    } catch (IOException e) {
      // bpftool missing: callers treat an empty set as nothing to wait for
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    return ids;
  }

  /** The kernel frees programs shortly after their last reference goes. */
  private static boolean waitUntilUnloaded(java.util.Set<String> ours) throws InterruptedException {
    for (int i = 0; i < 40; i++) {
      java.util.Set<String> loaded = programIds();
      loaded.retainAll(ours);
      if (loaded.isEmpty()) {
        return true;
      }
      Thread.sleep(50);
    }
    return false;
  }
}
