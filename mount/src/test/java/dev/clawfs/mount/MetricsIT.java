package dev.clawfs.mount;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.clawfs.fuse.FuseMetrics;
import dev.clawfs.mount.MountedVault.Result;
import dev.clawfs.mount.StrictPromParser.Family;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * system/metrics, system/health, {@code clawfs status} and the log level, through a real mount:
 * cp, cat, ls, mkdir, rmdir and rm run as processes; the metrics text is read with a strict
 * parser and the counters of each operation must have grown by at least what was done, with
 * every histogram's _count equal to its operation's counters. Then the vault's disk (a small
 * tmpfs; root) is filled for real: health names the disk, {@code clawfs status} exits 6, and
 * both recover once the filler is deleted.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class MetricsIT {
  private static final ObjectMapper JSON = new ObjectMapper();

  @TempDir Path base;
  private Path disk;
  private MountedVault vault;
  private long serverPid = -1;

  @AfterEach
  void cleanUp() throws InterruptedException {
    if (vault != null) {
      vault.close();
    }
    for (int i = 0; serverPid > 0 && i < 400 && Files.exists(Path.of("/proc/" + serverPid)); i++) {
      Thread.sleep(25); // the server holds the tmpfs until it has exited
    }
    if (disk != null) {
      Result r = MountedVault.run(List.of("umount", disk.toString()), null, 60);
      if (r.exitCode() != 0) {
        MountedVault.run(List.of("umount", "-l", disk.toString()), null, 60);
      }
    }
  }

  private static Map<String, Family> metrics(MountedVault v) throws IOException {
    return StrictPromParser.parse(Files.readString(v.path("system/metrics"), StandardCharsets.UTF_8));
  }

  private static double ops(Map<String, Family> m, String op, String result) {
    StrictPromParser.Sample s = m.get("clawfs_fuse_ops_total").find("clawfs_fuse_ops_total", "op", op, "result", result);
    return s == null ? 0 : s.value();
  }

  /** The server's pid from system/status (not clawfs status: a JVM start less). */
  private static long pidOf(MountedVault v) throws IOException {
    for (String line : Files.readAllLines(v.path("system/status"))) {
      if (line.startsWith("pid: ")) {
        return Long.parseLong(line.substring(5).trim());
      }
    }
    throw new AssertionError("no pid in system/status");
  }

  private static Result sh(String script) {
    return MountedVault.run(List.of("sh", "-c", script), null, 120);
  }

  private static String health(MountedVault v) throws IOException {
    return Files.readString(v.path("system/health"), StandardCharsets.UTF_8);
  }

  /** Polls {@code what} every 100 ms for up to {@code seconds}; the last value seen when it never held. */
  private static <T> T await(int seconds, IoSupplier<T> what, Predicate<T> until) throws Exception {
    long end = System.nanoTime() + seconds * 1_000_000_000L;
    T v = what.get();
    while (!until.test(v) && System.nanoTime() < end) {
      Thread.sleep(100);
      v = what.get();
    }
    return v;
  }

  @FunctionalInterface
  interface IoSupplier<T> {
    T get() throws IOException;
  }

  @Test
  void countsRealOperationsAndNamesAFullDisk() throws Exception {
    MountedVault.assumeMountable();
    Result id = MountedVault.run(List.of("id", "-u"), null, 30);
    Assumptions.assumeTrue(id.stdout().strip().equals("0"),
        "SKIPPED: needs root to mount a small tmpfs for the vault (uid " + id.stdout().strip() + ")");
    disk = base.resolve("disk");
    Files.createDirectories(disk);
    Result t = MountedVault.run(List.of("mount", "-t", "tmpfs", "-o", "size=64m,mode=0700", "clawfs-metrics",
        disk.toString()), null, 30);
    if (t.exitCode() != 0) {
      disk = null;
      Assumptions.abort("SKIPPED: cannot mount a tmpfs here: " + t);
    }
    // others may reach the mount (to read health as a user); the vault itself stays 0700
    Files.setPosixFilePermissions(base, PosixFilePermissions.fromString("rwxr-xr-x"));
    vault = MountedVault.existing(base, disk.resolve("vault"), base.resolve("mnt"), "-o", "log_level=warn");
    List<String> init = new ArrayList<>(List.of("init", vault.vault().toString(), "--passphrase-file",
        vault.passphraseFile().toString()));
    init.addAll(List.of(MountedVault.TEST_KDF));
    Result r = MountedVault.clawfs(init.toArray(String[]::new));
    assertEquals(0, r.exitCode(), r.toString());
    vault.mount();
    serverPid = pidOf(vault);
    Path mnt = vault.mountpoint();
    Path ws = vault.path("workspaces");

    Map<String, Family> before = metrics(vault);
    byte[] data = new byte[(1 << 20) + 123];
    new Random(7).nextBytes(data);
    Path src = base.resolve("src.bin");
    Files.write(src, data);
    // real programs: one file copied in, read back, listed, a directory made and removed, the file removed
    Result work = sh("cp " + src + " " + ws + "/a.bin && cmp " + src + " " + ws + "/a.bin && ls -l " + ws
        + " >/dev/null && mkdir " + ws + "/d && rmdir " + ws + "/d && printf 'metrics and health\\n' > " + ws
        + "/note.txt && rm " + ws + "/a.bin && ! cat " + ws + "/missing 2>/dev/null");
    assertEquals(0, work.exitCode(), work.toString());

    Map<String, Family> after = metrics(vault);
    // every FUSE op: counters grew by at least what was done, and the histogram agrees with them
    Map<String, Integer> atLeast = Map.ofEntries(Map.entry("create", 2), Map.entry("write", 2),
        Map.entry("open", 1), Map.entry("read", 1), Map.entry("release", 3), Map.entry("opendir", 1),
        Map.entry("readdir", 1), Map.entry("mkdir", 1), Map.entry("rmdir", 1), Map.entry("unlink", 1),
        Map.entry("getattr", 5));
    Family hist = after.get("clawfs_fuse_op_duration_seconds");
    assertEquals("histogram", hist.type());
    for (String op : FuseMetrics.OPS) {
      double total = after.get("clawfs_fuse_ops_total").sum("op", op);
      double grew = ops(after, op, "ok") - ops(before, op, "ok");
      assertTrue(grew >= atLeast.getOrDefault(op, 0), op + " ok grew by " + grew);
      assertEquals(total, hist.find("clawfs_fuse_op_duration_seconds_count", "op", op).value(),
          "_count of " + op + " equals its ops_total");
    }
    assertTrue(ops(after, "getattr", "ENOENT") > ops(before, "getattr", "ENOENT"), "cat of a missing file: ENOENT");
    assertTrue(hist.find("clawfs_fuse_op_duration_seconds_sum", "op", "write").value() > 0);
    double written = after.get("clawfs_fuse_written_bytes_total").value() - before.get("clawfs_fuse_written_bytes_total").value();
    double read = after.get("clawfs_fuse_read_bytes_total").value() - before.get("clawfs_fuse_read_bytes_total").value();
    assertTrue(written >= data.length, "written " + written);
    assertTrue(read >= data.length, "read " + read); // no keep_cache: cmp's open drops cached pages
    assertTrue(after.get("clawfs_fuse_opens_total").value("cache", "page_cache") >= 1);
    assertTrue(after.get("clawfs_fuse_opens_total").value("cache", "direct_io") >= 1, "system/metrics itself is direct_io");
    assertTrue(after.get("clawfs_content_written_bytes_total").value() >= data.length);
    assertTrue(after.get("clawfs_audit_events_total").value("source", "fuse")
        > before.get("clawfs_audit_events_total").value("source", "fuse"));
    assertEquals(0, after.get("clawfs_audit_dropped_total").value("reason", "queue_full"));
    assertEquals(1, after.get("clawfs_index_enabled").value());
    assertTrue(after.get("clawfs_tools").value() >= 4, "the shipped tools");
    assertTrue(after.get("jvm_memory_used_bytes").value("area", "heap") > 0);
    // the commit and the index catch up within a few seconds
    Map<String, Family> settled = await(20, () -> metrics(vault), m -> m.get("clawfs_metadata_commits_total").value() >= 1
        && m.get("clawfs_index_indexed_files").value() >= 1 && m.get("clawfs_metadata_pending_ops").value() == 0);
    assertTrue(settled.get("clawfs_metadata_commits_total").value() >= 1, "no commit");
    assertEquals(settled.get("clawfs_metadata_commits_total").value(),
        settled.get("clawfs_metadata_commit_duration_seconds").find("clawfs_metadata_commit_duration_seconds_count").value());
    assertTrue(settled.get("clawfs_index_indexed_files").value() >= 1, "note.txt indexed");
    assertEquals(1, settled.get("clawfs_health_ok").value("check", "disk"));

    // healthy: ok, one line per check, for root and for a user
    String h = health(vault);
    assertTrue(h.startsWith("ok\n"), h);
    for (String check : List.of("vault", "disk", "commit", "integrity", "search", "audit", "ebpf", "tools", "agents")) {
      assertTrue(h.contains("\n" + check + ": ok: ") || h.contains("\n" + check + ": WARN: "), check + " in " + h);
    }
    Result asUser = MountedVault.run(List.of("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "cat",
        mnt.resolve("system/health").toString()), null, 30);
    assertEquals(0, asUser.exitCode(), asUser.toString());
    assertTrue(asUser.stdout().startsWith("ok\n"), asUser.stdout());
    Result st = MountedVault.clawfs("status", mnt.toString());
    assertEquals(0, st.exitCode(), st.toString());
    assertTrue(st.stdout().contains("health: ok\n") && st.stdout().contains("operations: "), st.stdout());
    Result js = MountedVault.clawfs("status", mnt.toString(), "--json");
    assertEquals(0, js.exitCode(), js.toString());
    JsonNode j = JSON.readTree(js.stdout());
    assertTrue(j.get("healthy").asBoolean());
    assertEquals(mnt.toString(), j.get("mounts").get(0).get("mountpoint").asText());
    assertTrue(j.get("mounts").get(0).get("latency_ms").has("write"), js.stdout());

    // unhealthy for real: fill the vault's disk through the mount
    Result fill = sh("head -c 80M /dev/urandom > " + ws + "/filler.bin");
    assertTrue(fill.stderr().contains("No space left on device"), "the disk filled up: " + fill);
    String sick = health(vault);
    assertTrue(sick.startsWith("unhealthy: ") && sick.lines().findFirst().orElse("").contains("disk"), sick);
    assertTrue(sick.contains("\ndisk: FAIL: the vault's disk is full: writes fail with ENOSPC"), sick);
    Result sickStatus = MountedVault.clawfs("status", mnt.toString());
    assertEquals(6, sickStatus.exitCode(), sickStatus.toString());
    assertTrue(sickStatus.stdout().contains("disk: FAIL:"), sickStatus.stdout());
    Map<String, Family> full = metrics(vault);
    assertEquals(0, full.get("clawfs_health_ok").value("check", "disk"));
    assertTrue(ops(full, "write", "ENOSPC") >= 1, "the writer's ENOSPC is counted by its errno");

    // and healthy again once the space is free (after the delete commits)
    Files.delete(ws.resolve("filler.bin"));
    String healed = await(20, () -> health(vault), s -> s.startsWith("ok\n"));
    assertTrue(healed.startsWith("ok\n"), healed);
    assertEquals(0, MountedVault.clawfs("status", mnt.toString()).exitCode());

    // log_level=warn: nothing below WARN in this server's log
    String log = Files.readString(Mounts.logFile(mnt), StandardCharsets.ISO_8859_1);
    assertFalse(log.contains(" INFO ") || log.contains(" DEBUG "), log);
    vault.unmount();
  }

  @Test
  void logLevelTakesEffect() throws Exception {
    vault = MountedVault.create(base, "--no-search", "--log-level", "debug");
    serverPid = pidOf(vault);
    Path log = Mounts.logFile(vault.mountpoint());
    String text = Files.readString(log, StandardCharsets.ISO_8859_1);
    assertTrue(text.contains(" DEBUG clawfs.server: mounting with FUSE options"), text);
    assertTrue(text.contains(" INFO clawfs.server: serving "), text);
    Result bad = MountedVault.clawfs("mount", vault.vault().toString(), base.resolve("elsewhere").toString(),
        "-o", "log_level=loud");
    assertEquals(2, bad.exitCode(), bad.toString());
    assertTrue(bad.stderr().contains("log_level=loud"), bad.toString());
    vault.unmount();
  }
}
