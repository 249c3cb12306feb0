package dev.clawfs.mount;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Mounting the way Linux does it, through util-linux's mount(8) and umount(8) on the real
 * kernel: {@code mount -t fuse.clawfs} (the helper /sbin/mount.fuse.clawfs), fstab lines (a
 * temporary fstab through {@code mount -T}; the machine's /etc/fstab is never touched), fuse3's
 * mount.fuse, plain {@code umount} (the helper /sbin/umount.fuse.clawfs waits for the commit),
 * {@code ro}, bad passphrases and options, a stale mount, the server's systemd readiness
 * protocol and the unit file.
 *
 * <p>Every mount(8) and umount(8) runs with {@code CLAWFS_JAR} set to this build's jar, so the
 * code under test runs whichever checkout's launcher the installed helpers link to. A helper
 * that is not installed (./setup.sh installs them) is linked to this checkout's launcher for
 * the run and removed after.
 */
@Timeout(value = 6, unit = TimeUnit.MINUTES, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class MountHelperIT {
  private static final Path MOUNT_HELPER = Path.of("/sbin/mount.fuse.clawfs");
  private static final Path UMOUNT_HELPER = Path.of("/sbin/umount.fuse.clawfs");
  /** The PATH mount(8) gives its helpers, whatever the caller's (util-linux resets it). */
  private static final List<String> MOUNT_PATH = List.of("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin");
  private static final List<Path> installedHere = new ArrayList<>();

  @TempDir Path base;
  private Path vault;
  private Path pass;
  private final List<Path> mountpoints = new ArrayList<>();

  @BeforeAll
  static void installHelpers() throws IOException {
    MountedVault.assumeMountable();
    Assumptions.assumeTrue(isRoot(), "SKIPPED: mount(8) runs the helpers for root only (this is uid " + uid() + ")");
    Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/mount")) || Files.isExecutable(Path.of("/bin/mount")),
        "SKIPPED: util-linux mount(8) is not installed");
    for (Path helper : List.of(MOUNT_HELPER, UMOUNT_HELPER)) {
      if (!Files.exists(helper, LinkOption.NOFOLLOW_LINKS)) {
        Files.createSymbolicLink(helper, MountedVault.launcher());
        installedHere.add(helper);
        System.err.println("NOTE: " + helper + " was not installed (./setup.sh does it); linked it to "
            + MountedVault.launcher() + " for this run");
      }
    }
  }

  @AfterAll
  static void removeHelpers() throws IOException {
    for (Path helper : installedHere) {
      Files.deleteIfExists(helper);
    }
    installedHere.clear();
  }

  @AfterEach
  void unmountAll() {
    for (Path m : mountpoints) {
      try {
        if (BadInputIT.isMounted(m)) {
          MountedVault.Result r = MountedVault.clawfs("umount", m.toString());
          if (r.exitCode() != 0) {
            MountedVault.run(List.of("fusermount", "-u", "-z", m.toString()), null, 30);
          }
        }
      } catch (IOException e) {
        MountedVault.run(List.of("fusermount", "-u", "-z", m.toString()), null, 30);
      }
    }
  }

  @Test
  void mountTypeFuseClawfsThenUmountWaitsForTheCommit() throws Exception {
    newVault();
    Path mnt = mountpoint("mnt");
    MountedVault.Result r = mount("-t", "fuse.clawfs", vault.toString(), mnt.toString(), "-o", "passphrase_file=" + pass + ",nosearch");
    assertEquals(0, r.exitCode(), "mount -t fuse.clawfs: " + r);
    assertTrue(mountEntry(mnt).contains("fuse.clawfs"), "in the mount table as fuse.clawfs: " + mountEntry(mnt));
    Files.createDirectories(mnt.resolve("workspaces/proj"));
    Files.writeString(mnt.resolve("workspaces/proj/a.txt"), "written through mount(8)");
    Files.move(mnt.resolve("workspaces/proj/a.txt"), mnt.resolve("workspaces/proj/b.txt"));
    Files.writeString(mnt.resolve("workspaces/last.txt"), "written just before umount");

    // the same vault cannot be mounted a second time elsewhere
    Path other = mountpoint("other");
    MountedVault.Result twice = mount("-t", "fuse.clawfs", vault.toString(), other.toString(), "-o", "passphrase_file=" + pass);
    assertEquals(5, twice.exitCode(), "a second mount of a mounted vault: " + twice);
    assertTrue(twice.stderr().contains("already mounted at " + mnt), "says where it is mounted: " + twice);
    assertFalse(BadInputIT.isMounted(other));

    // busy: umount refuses and leaves the mount working
    try (FileChannel open = FileChannel.open(mnt.resolve("workspaces/last.txt"), StandardOpenOption.READ)) {
      MountedVault.Result busy = umount(mnt.toString());
      assertEquals(5, busy.exitCode(), "umount while a file is open: " + busy);
      assertTrue(busy.stderr().contains("busy"), "says why: " + busy);
      assertTrue(BadInputIT.isMounted(mnt), "still mounted");
      assertTrue(open.size() > 0);
    }

    long pid = serverPid(mnt);
    long t0 = System.nanoTime();
    MountedVault.Result u = umount(mnt.toString());
    long ms = (System.nanoTime() - t0) / 1_000_000;
    assertEquals(0, u.exitCode(), "umount: " + u);
    assertFalse(BadInputIT.isMounted(mnt), "unmounted");
    assertFalse(Mounts.running(pid),
        "umount returned only after the server (pid " + pid + ") had committed and exited (" + ms + " ms)");
    Path utab = Path.of("/run/mount/utab");
    assertFalse(Files.exists(utab) && Files.readString(utab).contains(mnt.toString()), "no utab entry left behind");
    System.err.println("mount -t fuse.clawfs then umount: umount took " + ms + " ms including the helper's JVM start");

    r = mount("-t", "fuse.clawfs", vault.toString(), mnt.toString(), "-o", "passphrase_file=" + pass + ",nosearch");
    assertEquals(0, r.exitCode(), "mount again: " + r);
    assertEquals("written through mount(8)", Files.readString(mnt.resolve("workspaces/proj/b.txt")));
    assertFalse(Files.exists(mnt.resolve("workspaces/proj/a.txt")));
    assertEquals("written just before umount", Files.readString(mnt.resolve("workspaces/last.txt")));
    assertEquals(0, umount(mnt.toString()).exitCode());
  }

  @Test
  void unmountingWithoutTheHelperStillCommitsBeforeTheServerExits() throws Exception {
    newVault();
    Path mnt = mountpoint("mnt");
    // what plain umount(2) does, and what systemd-shutdown and `fusermount -u` do: no helper runs,
    // the kernel ends the FUSE connection, and the server commits on its way out
    for (List<String> unmount : List.of(List.of("umount", "--internal-only"), List.of("fusermount", "-u"))) {
      assertEquals(0, mount("-t", "fuse.clawfs", vault.toString(), mnt.toString(), "-o", "passphrase_file=" + pass + ",nosearch").exitCode());
      String name = unmount.get(0) + ".txt";
      Files.writeString(mnt.resolve("workspaces/" + name), "kept by " + unmount);
      long pid = serverPid(mnt);
      List<String> cmd = new ArrayList<>(unmount);
      cmd.add(mnt.toString());
      MountedVault.Result r = MountedVault.run(cmd, null, 60, env(), null);
      assertEquals(0, r.exitCode(), String.join(" ", cmd) + ": " + r);
      assertTrue(Mounts.awaitEnded(pid, java.time.Duration.ofSeconds(60)), "server " + pid + " still runs");
      MountedVault.Result again = mount("-t", "fuse.clawfs", vault.toString(), mnt.toString(), "-o", "passphrase_file=" + pass + ",nosearch");
      assertEquals(0, again.exitCode(), "mount after " + cmd + ": " + again);
      assertEquals("kept by " + unmount, Files.readString(mnt.resolve("workspaces/" + name)), "committed after " + cmd);
      assertEquals(0, umount(mnt.toString()).exitCode());
    }
  }

  @Test
  void fstabLinesMountAndUnmountByMountPoint() throws Exception {
    newVault();
    Path mnt = mountpoint("mnt");
    // fstab-only options are accepted: mount(8) keeps noauto, comment= and x-* to itself and
    // passes nofail, _netdev and users (which brings noexec,nosuid,nodev) on to the helper
    Path fstab = base.resolve("fstab");
    Files.writeString(fstab, "# a temporary fstab: the machine's own is never touched\n"
        + vault + " " + mnt + " fuse.clawfs passphrase_file=" + pass + ",nosearch,noauto,nofail,_netdev,users,"
        + "x-systemd.requires-mounts-for=/var/lib,x-systemd.mount-timeout=3min,comment=test,noatime,"
        + "max_readahead=131072,entry_timeout=2,async_read,commit_interval_ms=500 0 0\n");
    MountedVault.Result all = mount("-a", "-T", fstab.toString());
    assertEquals(0, all.exitCode(), "mount -a skips a noauto line: " + all);
    assertFalse(BadInputIT.isMounted(mnt), "noauto: not mounted by mount -a");

    MountedVault.Result r = mount("-T", fstab.toString(), mnt.toString());
    assertEquals(0, r.exitCode(), "mount -T FSTAB MOUNTPOINT: " + r);
    String entry = mountEntry(mnt);
    assertTrue(entry.contains("noatime") && entry.contains("noexec"), "noatime and users' noexec reach the kernel: " + entry);
    Files.writeString(mnt.resolve("workspaces/fstab.txt"), "via fstab");
    assertEquals(0, umount(mnt.toString()).exitCode(), "umount MOUNTPOINT");
    assertFalse(BadInputIT.isMounted(mnt));

    // the long option, by mount point again, and the file is there
    r = mount("--fstab", fstab.toString(), mnt.toString());
    assertEquals(0, r.exitCode(), "mount --fstab FSTAB MOUNTPOINT: " + r);
    assertEquals("via fstab", Files.readString(mnt.resolve("workspaces/fstab.txt")));
    assertEquals(0, umount(mnt.toString()).exitCode());

    // without noauto, mount -a mounts it
    Path auto = base.resolve("fstab.auto");
    Files.writeString(auto, vault + " " + mnt + " fuse.clawfs defaults,passphrase_file=" + pass + ",nosearch,nofail 0 0\n");
    r = mount("-a", "-T", auto.toString());
    assertEquals(0, r.exitCode(), "mount -a -T FSTAB: " + r);
    assertEquals("via fstab", Files.readString(mnt.resolve("workspaces/fstab.txt")));
    assertEquals(0, umount(mnt.toString()).exitCode());
  }

  @Test
  void readOnlyRefusesWritesWithErofsAndUidGidShowOneOwner() throws Exception {
    newVault();
    Path mnt = mountpoint("mnt");
    assertEquals(0, mount("-t", "fuse.clawfs", vault.toString(), mnt.toString(), "-o", "passphrase_file=" + pass + ",nosearch").exitCode());
    Files.writeString(mnt.resolve("workspaces/kept.txt"), "read-only later");
    assertEquals(0, umount(mnt.toString()).exitCode());

    // -s (sloppy): an unknown option is ignored with a warning instead of refused
    MountedVault.Result r = mount("-s", "-t", "fuse.clawfs", vault.toString(), mnt.toString(),
        "-o", "ro,passphrase_file=" + pass + ",nosearch,uid=4242,gid=4343,frobnicate");
    assertEquals(0, r.exitCode(), "mount -s -o ro,...: " + r);
    assertTrue(r.stderr().contains("'frobnicate'") && r.stderr().contains("ignored"), "sloppy warns: " + r);
    assertTrue(mountEntry(mnt).startsWith("ro,"), "mounted read-only: " + mountEntry(mnt));
    Path kept = mnt.resolve("workspaces/kept.txt");
    FileTime atime = (FileTime) Files.getAttribute(kept, "lastAccessTime");
    assertEquals("read-only later", Files.readString(kept));
    assertEquals(atime, Files.getAttribute(kept, "lastAccessTime"), "reading on a read-only mount leaves atime");
    assertEquals(4242, Files.getAttribute(kept, "unix:uid"), "uid= shows every file as that user's");
    assertEquals(4343, Files.getAttribute(kept, "unix:gid"), "gid= the same for the group");
    for (ThrowingOp op : List.<ThrowingOp>of(
        () -> Files.writeString(mnt.resolve("workspaces/new.txt"), "x"),
        () -> Files.writeString(kept, "changed"),
        () -> Files.createDirectory(mnt.resolve("workspaces/dir")),
        () -> Files.delete(kept),
        () -> Files.move(kept, mnt.resolve("workspaces/moved.txt")),
        () -> Files.setLastModifiedTime(kept, FileTime.fromMillis(0)))) {
      FileSystemException e = assertThrows(FileSystemException.class, op::run);
      assertEquals("Read-only file system", e.getReason(), "EROFS: " + e);
    }
    assertEquals(0, umount(mnt.toString()).exitCode());
    r = mount("-t", "fuse.clawfs", vault.toString(), mnt.toString(), "-o", "passphrase_file=" + pass + ",nosearch");
    assertEquals("read-only later", Files.readString(kept), "unchanged: " + r);
    assertEquals(0, umount(mnt.toString()).exitCode());
  }

  @Test
  void wrongPassphraseFileGivesMountAClearErrorAndNonZeroExit() throws Exception {
    newVault();
    Path mnt = mountpoint("mnt");
    Path wrong = base.resolve("wrong.key");
    Files.writeString(wrong, "not the passphrase\n");
    MountedVault.Result r = mount("-t", "fuse.clawfs", vault.toString(), mnt.toString(), "-o", "passphrase_file=" + wrong);
    assertEquals(3, r.exitCode(), "mount(8) passes the helper's exit code on: " + r);
    assertTrue(r.stderr().contains("clawfs: wrong passphrase"), "a clear message: " + r);
    assertFalse(r.stderr().contains("\tat "), "no stack trace: " + r);
    MountedVault.Result missing = mount("-t", "fuse.clawfs", vault.toString(), mnt.toString(),
        "-o", "passphrase_file=" + base.resolve("no-such.key"));
    assertEquals(1, missing.exitCode(), "a passphrase file that is not there: " + missing);
    assertTrue(missing.stderr().contains("cannot read passphrase file " + base.resolve("no-such.key")), "names it: " + missing);
    assertFalse(BadInputIT.isMounted(mnt), "nothing mounted");
  }

  @Test
  void unknownOptionsAreRefusedWithAClearMessage() throws Exception {
    newVault();
    Path mnt = mountpoint("mnt");
    MountedVault.Result r = mount("-t", "fuse.clawfs", vault.toString(), mnt.toString(), "-o", "passphrase_file=" + pass + ",frobnicate");
    assertEquals(2, r.exitCode(), "unknown option: " + r);
    assertTrue(r.stderr().contains("clawfs: unknown mount option 'frobnicate'"), "names the option: " + r);
    r = mount("-t", "fuse.clawfs", vault.toString(), mnt.toString(), "-o", "passphrase_file=" + pass + ",kernel_cache");
    assertEquals(2, r.exitCode(), "a FUSE option ClawFS does not take: " + r);
    assertTrue(r.stderr().contains("'kernel_cache'") && r.stderr().contains("hard links"), "says why: " + r);
    r = mount("-t", "fuse.clawfs", vault.toString(), mnt.toString(), "-o", "passphrase_file=" + pass + ",max_write=1048576");
    assertEquals(2, r.exitCode(), "a value out of range: " + r);
    assertTrue(r.stderr().contains("'max_write=1048576'"), "names it: " + r);
    // -f (fake) checks the same and mounts nothing
    r = mount("-f", "-t", "fuse.clawfs", vault.toString(), mnt.toString(), "-o", "passphrase_file=" + pass + ",frobnicate");
    assertEquals(2, r.exitCode(), "fake mount with an unknown option: " + r);
    r = mount("-f", "-t", "fuse.clawfs", vault.toString(), mnt.toString(), "-o", "passphrase_file=" + pass);
    assertEquals(0, r.exitCode(), "fake mount: " + r);
    assertFalse(BadInputIT.isMounted(mnt), "nothing mounted");
  }

  @Test
  void aStaleMountIsCleanedUpByTheHelperWithAMessage() throws Exception {
    newVault();
    Path mnt = mountpoint("mnt");
    assertEquals(0, mount("-t", "fuse.clawfs", vault.toString(), mnt.toString(), "-o", "passphrase_file=" + pass + ",nosearch").exitCode());
    Path f = mnt.resolve("workspaces/synced.txt");
    try (FileChannel ch = FileChannel.open(f, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
      ch.write(StandardCharsets.UTF_8.encode("fsynced before the crash"));
      ch.force(true);
    }
    long pid = serverPid(mnt);
    ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
    assertTrue(Mounts.awaitEnded(pid, java.time.Duration.ofSeconds(30)), "server " + pid + " still runs");
    FileSystemException dead = assertThrows(FileSystemException.class, () -> Files.readAttributes(mnt, "unix:ino"));
    assertTrue(String.valueOf(dead.getReason()).contains("not connected"), "a stale mount: " + dead);

    MountedVault.Result r = mount("-t", "fuse.clawfs", vault.toString(), mnt.toString(), "-o", "passphrase_file=" + pass + ",nosearch");
    assertEquals(0, r.exitCode(), "mount over the stale mount: " + r);
    assertTrue(r.stderr().contains("stale mount") && r.stderr().contains("cleaned it up"), "says so: " + r);
    assertEquals(1, BadInputIT.mountCount(mnt), "one mount, the new one");
    assertEquals("fsynced before the crash", Files.readString(f));
    assertEquals(0, umount(mnt.toString()).exitCode());

    // umount of a stale mount works too
    assertEquals(0, mount("-t", "fuse.clawfs", vault.toString(), mnt.toString(), "-o", "passphrase_file=" + pass + ",nosearch").exitCode());
    pid = serverPid(mnt);
    ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
    assertTrue(Mounts.awaitEnded(pid, java.time.Duration.ofSeconds(30)), "server " + pid + " still runs");
    MountedVault.Result u = umount(mnt.toString());
    assertEquals(0, u.exitCode(), "umount of a stale mount: " + u);
    assertFalse(BadInputIT.isMounted(mnt));
  }

  @Test
  void fuse3MountFuseRunsClawfsWithSourceAndTarget() throws Exception {
    Path onPath = MOUNT_PATH.stream().map(d -> Path.of(d, "clawfs")).filter(Files::isExecutable).findFirst().orElse(null);
    Assumptions.assumeTrue(onPath != null, "SKIPPED: no clawfs on mount(8)'s PATH " + MOUNT_PATH + " (./setup.sh links /usr/local/bin/clawfs)");
    Assumptions.assumeTrue(Files.isExecutable(Path.of("/sbin/mount.fuse3")), "SKIPPED: fuse3's mount.fuse3 is not installed");
    newVault();
    Path mnt = mountpoint("mnt");
    // `mount -t fuse clawfs#VAULT`: mount.fuse runs `clawfs VAULT MOUNTPOINT -o OPTIONS,dev,suid`
    MountedVault.Result r = mount("-t", "fuse", "clawfs#" + vault, mnt.toString(), "-o", "passphrase_file=" + pass + ",nosearch,nodev");
    assertEquals(0, r.exitCode(), "mount -t fuse clawfs#VAULT (through " + onPath + "): " + r);
    assertTrue(mountEntry(mnt).contains("fuse.clawfs"), mountEntry(mnt));
    Files.writeString(mnt.resolve("workspaces/fuse3.txt"), "through mount.fuse3");
    assertEquals(0, umount(mnt.toString()).exitCode());
    assertEquals(0, MountedVault.clawfs("mount", vault.toString(), mnt.toString(), "--passphrase-file", pass.toString(), "--no-search").exitCode());
    assertEquals("through mount.fuse3", Files.readString(mnt.resolve("workspaces/fuse3.txt")));
    assertEquals(0, MountedVault.clawfs("umount", mnt.toString()).exitCode());
  }

  @Test
  void theForegroundServerTellsSystemdWhenItIsReadyAndWhenItStops() throws Exception {
    Assumptions.assumeTrue(RealProgramsIT.onPath("python3"), "SKIPPED: python3 (to listen on a notification socket) is not installed");
    newVault();
    Path mnt = mountpoint("mnt");
    Path socket = base.resolve("notify.sock");
    // a stand-in for systemd's notification socket: prints each datagram on one line
    Process listener = new ProcessBuilder("python3", "-c", String.join("\n",
        "import socket, sys",
        "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)",
        "s.bind(sys.argv[1])",
        "print('LISTENING', flush=True)",
        "while True:",
        "    m = s.recv(4096).decode()",
        "    print(m.replace('\\n', ' | '), flush=True)",
        "    if 'STOPPING=1' in m:",
        "        break"), socket.toString()).redirectError(ProcessBuilder.Redirect.INHERIT).start();
    LinkedBlockingQueue<String> heard = new LinkedBlockingQueue<>();
    Thread reader = new Thread(() -> {
      try (BufferedReader in = new BufferedReader(new InputStreamReader(listener.getInputStream(), StandardCharsets.UTF_8))) {
        for (String line; (line = in.readLine()) != null; ) {
          heard.add(line);
        }
      } catch (IOException e) {
        heard.add("READ FAILED " + e);
      }
    });
    reader.start();
    Process server = null;
    try {
      assertEquals("LISTENING", heard.poll(30, TimeUnit.SECONDS));
      // what the unit's ExecStart runs (Type=notify, the launcher execs java: the main process)
      ProcessBuilder pb = new ProcessBuilder(MountedVault.launcher().toString(), "mount", "--foreground", vault.toString(),
          mnt.toString(), "-o", "passphrase_file=" + pass + ",nosearch");
      pb.environment().put("NOTIFY_SOCKET", socket.toString());
      pb.redirectErrorStream(true).redirectOutput(base.resolve("server.out").toFile());
      server = pb.start();
      String ready = heard.poll(120, TimeUnit.SECONDS);
      assertTrue(ready != null && ready.startsWith("READY=1"), "READY=1 first: " + ready + "; " + Files.readString(base.resolve("server.out")));
      assertTrue(ready.contains("STATUS=serving " + vault), ready);
      assertTrue(BadInputIT.isMounted(mnt), "the mount is up when READY=1 arrives");
      Files.writeString(mnt.resolve("workspaces/unit.txt"), "served by a notify service");
      // what the unit's ExecStop runs
      MountedVault.Result stop = MountedVault.clawfs("umount", mnt.toString());
      assertEquals(0, stop.exitCode(), "ExecStop: " + stop);
      String stopping = heard.poll(60, TimeUnit.SECONDS);
      assertTrue(stopping != null && stopping.startsWith("STOPPING=1"), "then STOPPING=1: " + stopping);
      assertTrue(server.waitFor(60, TimeUnit.SECONDS), "the main process ends");
      assertEquals(0, server.exitValue(), Files.readString(base.resolve("server.out")));
    } finally {
      if (server != null && server.isAlive()) {
        server.destroy();
      }
      listener.destroy();
      reader.join(10_000);
    }
    assertEquals(0, MountedVault.clawfs("mount", vault.toString(), mnt.toString(), "--passphrase-file", pass.toString(), "--no-search").exitCode());
    assertEquals("served by a notify service", Files.readString(mnt.resolve("workspaces/unit.txt")));
    assertEquals(0, MountedVault.clawfs("umount", mnt.toString()).exitCode());
  }

  @Test
  void theUnitFilePassesSystemdAnalyzeVerify() throws Exception {
    Assumptions.assumeTrue(RealProgramsIT.onPath("systemd-analyze"), "SKIPPED: systemd-analyze is not installed");
    Path unit = MountedVault.launcher().getParent().resolve("mount/systemd/clawfs@.service");
    assertTrue(Files.isRegularFile(unit), unit + " exists");
    // verify checks that ExecStart's program exists: point it at this checkout's launcher
    Path dir = Files.createDirectories(base.resolve("units"));
    Files.writeString(dir.resolve("clawfs@.service"),
        Files.readString(unit).replace("/usr/local/bin/clawfs", MountedVault.launcher().toString()));
    for (String name : List.of("clawfs@.service", "clawfs@clawfs.service", "clawfs@mnt-my\\x20vault.service")) {
      MountedVault.Result r = MountedVault.run(List.of("systemd-analyze", "verify", name), dir, 60,
          Map.of("SYSTEMD_UNIT_PATH", dir + ":"), null);
      assertEquals(0, r.exitCode(), "systemd-analyze verify " + name + ": " + r);
      assertEquals("", r.stderr().strip(), "no warnings for " + name + ": " + r);
    }
    MountedVault.Result esc = MountedVault.run(List.of("systemd-escape", "--path", "/mnt/my vault"), null, 30);
    assertEquals("mnt-my\\x20vault", esc.stdout().strip(), "the instance name of a mount point: " + esc);
  }

  /**
   * The unit under a real systemd: on the host when systemd is PID 1, otherwise in a
   * systemd-nspawn container booted from the host's /usr (package systemd-container). Start
   * returns on READY=1 with the mount up; stop unmounts through ExecStop; a SIGKILLed server is
   * restarted and its stale mount cleaned up; and a .mount unit (what systemd makes of an fstab
   * line, here through systemd-mount) mounts through mount(8) and the helper and unmounts with
   * the server gone.
   */
  @Test
  void theUnitAndAMountUnitWorkUnderSystemd() throws Exception {
    boolean hostSystemd = Files.isDirectory(Path.of("/run/systemd/system"));
    String init = Files.readString(Path.of("/proc/1/comm")).strip();
    Assumptions.assumeTrue(hostSystemd || RealProgramsIT.onPath("systemd-nspawn"),
        "SKIPPED: systemd is not PID 1 here (PID 1 is " + init + ") and systemd-nspawn (package systemd-container) is"
            + " not installed to boot one; the unit is checked by systemd-analyze verify and READY=1/STOPPING=1 by a stand-in socket");
    Assumptions.assumeTrue(hostSystemd || Files.isSymbolicLink(Path.of("/bin")),
        "SKIPPED: the container is booted from the host's /usr, which needs a merged /usr (/bin -> usr/bin)");
    newVault();
    Path mnt = mountpoint("mnt");
    Path mnt2 = mountpoint("mnt2");
    Path repo = MountedVault.launcher().getParent();
    Path conf = base.resolve("mount.conf");
    Files.writeString(conf, "VAULT=" + vault + "\nOPTIONS=passphrase_file=" + pass + ",nosearch\nCLAWFS_JAR=" + jar() + "\n");
    Path unit = base.resolve("clawfs-it@.service");
    Files.writeString(unit, Files.readString(repo.resolve("mount/systemd/clawfs@.service"))
        .replace("/usr/local/bin/clawfs", MountedVault.launcher().toString())
        .replace("/etc/clawfs/mounts/%i.conf", conf.toString()));
    Path result = base.resolve("systemd.out");
    Path script = base.resolve("under-systemd.sh");
    Files.writeString(script, String.join("\n",
        "#!/bin/bash",
        "# run by MountHelperIT where systemd is PID 1; it asserts the CHECK lines",
        "exec > '" + result + "' 2>&1",
        "set -x",
        "MNT='" + mnt + "' MNT2='" + mnt2 + "' VAULT='" + vault + "' KEY='" + pass + "'",
        "step() { echo \"CHECK $1=$2\"; }",
        "cp '" + unit + "' /run/systemd/system/clawfs-it@.service && systemctl daemon-reload",
        "u=\"clawfs-it@$(systemd-escape --path \"$MNT\").service\"",
        "systemctl start \"$u\"; step start $?",
        "step mounted \"$(grep -c \" $MNT \" /proc/self/mountinfo)\"",
        "step status \"$(systemctl show -p StatusText --value \"$u\")\"",
        "echo 'from a unit' > \"$MNT/workspaces/unit.txt\"",
        "systemctl stop \"$u\"; step stop $?",
        "step result \"$(systemctl show -p Result --value \"$u\")\"",
        "step mounted_after_stop \"$(grep -c \" $MNT \" /proc/self/mountinfo)\"",
        "systemctl start \"$u\"; step start_again $?",
        "pid=$(systemctl show -p MainPID --value \"$u\"); kill -9 \"$pid\"",
        "for i in $(seq 1 120); do n=$(systemctl show -p MainPID --value \"$u\");"
            + " [ \"$n\" != 0 ] && [ \"$n\" != \"$pid\" ] && [ \"$(systemctl is-active \"$u\")\" = active ] && break; sleep 0.5; done",
        "step restarted \"$(systemctl is-active \"$u\")\"",
        "step stale_message \"$(journalctl -u \"$u\" --no-pager | grep -c 'held a stale mount')\"",
        "step data_after_restart \"$(cat \"$MNT/workspaces/unit.txt\")\"",
        "systemctl stop \"$u\"; step stop_again $?",
        "journalctl -u \"$u\" --no-pager | tail -30",
        "rm -f /run/systemd/system/clawfs-it@.service; systemctl daemon-reload",
        "systemd-mount -t fuse.clawfs -o \"passphrase_file=$KEY,nosearch\" \"$VAULT\" \"$MNT2\"; step systemd_mount $?",
        "step mount_unit \"$(systemctl show -p ActiveState --value \"$(systemd-escape --path --suffix=mount \"$MNT2\")\")\"",
        "step mount_data \"$(cat \"$MNT2/workspaces/unit.txt\")\"",
        "systemd-umount \"$MNT2\"; step systemd_umount $?",
        "step server_left \"$(ps -eo args | grep -c \"[s]erve $VAULT $MNT2\")\"",
        "step mounted2_after \"$(grep -c \" $MNT2 \" /proc/self/mountinfo)\"",
        "echo END", ""));
    script.toFile().setExecutable(true);
    if (hostSystemd) {
      MountedVault.run(List.of("systemctl", "set-environment", "CLAWFS_JAR=" + jar()), null, 30);
      try {
        // not through MountedVault.run: its private mount namespace would hide the mounts systemd makes
        Process p = new ProcessBuilder("bash", script.toString()).redirectInput(DevNull.input()).start();
        assertTrue(p.waitFor(600, TimeUnit.SECONDS), "the script under host systemd timed out");
      } finally {
        MountedVault.run(List.of("systemctl", "unset-environment", "CLAWFS_JAR"), null, 30);
      }
    } else {
      bootContainer(script, repo);
    }
    String out = Files.exists(result) ? Files.readString(result) : "(no output)";
    Map<String, String> check = new java.util.HashMap<>();
    for (String line : out.split("\n")) {
      if (line.startsWith("CHECK ") && line.indexOf('=') > 0) {
        check.put(line.substring(6, line.indexOf('=')), line.substring(line.indexOf('=') + 1));
      }
    }
    String where = (hostSystemd ? "host systemd" : "systemd in systemd-nspawn") + ":\n" + out;
    assertEquals("0", check.get("start"), "systemctl start returns once READY=1 came; " + where);
    assertEquals("1", check.get("mounted"), "mounted when start returned; " + where);
    assertEquals("serving " + vault + " at " + mnt, check.get("status"), "STATUS= from the server; " + where);
    assertEquals("0", check.get("stop"), "systemctl stop; " + where);
    assertEquals("success", check.get("result"), "a clean stop; " + where);
    assertEquals("0", check.get("mounted_after_stop"), "ExecStop unmounted; " + where);
    assertEquals("active", check.get("restarted"), "Restart=on-failure after SIGKILL; " + where);
    assertNotEquals("0", check.get("stale_message"), "the stale mount was cleaned up, with a message; " + where);
    assertEquals("from a unit", check.get("data_after_restart"), "committed at the first stop; " + where);
    assertEquals("0", check.get("stop_again"), where);
    assertEquals("0", check.get("systemd_mount"), "a .mount unit through mount(8) and the helper; " + where);
    assertEquals("active", check.get("mount_unit"), where);
    assertEquals("from a unit", check.get("mount_data"), where);
    assertEquals("0", check.get("systemd_umount"), where);
    assertEquals("0", check.get("server_left"), "the server is gone when the .mount unit has stopped; " + where);
    assertEquals("0", check.get("mounted2_after"), where);
    assertTrue(out.contains("END"), where);
  }

  /**
   * Boots systemd in a container made of the host's /usr, an overlay over its /etc (a boot
   * unit runs {@code script}, then powers off), this test's directory and the checkout; the
   * mounts made inside end with it.
   */
  private void bootContainer(Path script, Path repo) throws IOException {
    Path root = Files.createDirectories(base.resolve("root"));
    for (String d : List.of("dev", "proc", "sys", "run", "tmp", "var", "etc", "usr", "root")) {
      Files.createDirectories(root.resolve(d));
    }
    for (String l : List.of("bin", "sbin", "lib", "lib64")) {
      if (Files.exists(Path.of("/" + l))) {
        Files.createSymbolicLink(root.resolve(l), Path.of("usr", l));
      }
    }
    Files.copy(Path.of("/etc/os-release"), root.resolve("etc/os-release")); // nspawn checks for an OS tree first
    Files.createDirectories(root.resolve(base.toString().substring(1)));
    Files.createDirectories(root.resolve(repo.toString().substring(1)));
    Path upper = Files.createDirectories(base.resolve("etc-upper/systemd/system"));
    Files.writeString(upper.resolve("clawfs-it-run.service"), String.join("\n",
        "[Unit]", "Description=MountHelperIT under systemd", "[Service]", "Type=oneshot",
        "ExecStart=/bin/bash " + script, "ExecStopPost=/bin/sh -c 'systemctl poweroff --no-block || kill -RTMIN+4 1'", ""));
    List<String> nspawn = List.of("systemd-nspawn", "--quiet", "--register=no", "--keep-unit", "--link-journal=no",
        "-D", root.toString(), "--bind-ro=/usr", "--overlay=/etc:" + base.resolve("etc-upper") + ":/etc",
        "--bind=" + base, "--bind-ro=" + repo, "--bind=/dev/fuse", "--console=pipe",
        "-b", "--", "systemd.setenv=CLAWFS_JAR=" + jar(), "systemd.unit=clawfs-it-run.service");
    List<String> cmd = new ArrayList<>();
    if (!Files.readAttributes(Path.of("/dev/null"), java.nio.file.attribute.BasicFileAttributes.class,
        LinkOption.NOFOLLOW_LINKS).isOther()) {
      // nspawn copies /dev/null into the container and refuses a /dev/null that is no device
      Path nul = base.resolve("null");
      MountedVault.Result mk = MountedVault.run(List.of("mknod", "-m", "666", nul.toString(), "c", "1", "3"), null, 30);
      assertEquals(0, mk.exitCode(), "mknod: " + mk);
      cmd.addAll(List.of("unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
          "mount --bind \"$0\" /dev/null && exec \"$@\"", nul.toString()));
    }
    cmd.addAll(nspawn);
    long t0 = System.nanoTime();
    MountedVault.Result r = MountedVault.run(cmd, null, 600, Map.of(), null);
    System.err.println("systemd-nspawn container: " + (System.nanoTime() - t0) / 1_000_000 + " ms, exit " + r.exitCode());
  }

  // ---------------------------------------------------------------- helpers

  @FunctionalInterface
  private interface ThrowingOp {
    void run() throws IOException;
  }

  private void newVault() throws IOException {
    vault = base.resolve("vault");
    pass = base.resolve("vault.key");
    Files.writeString(pass, MountedVault.PASSPHRASE + "\n");
    List<String> args = new ArrayList<>(List.of("init", vault.toString(), "--passphrase-file", pass.toString()));
    args.addAll(List.of(MountedVault.TEST_KDF));
    MountedVault.Result r = MountedVault.clawfs(args.toArray(String[]::new));
    assertEquals(0, r.exitCode(), "clawfs init: " + r);
  }

  private Path mountpoint(String name) throws IOException {
    Path m = Files.createDirectories(base.resolve(name));
    mountpoints.add(m);
    return m;
  }

  private static MountedVault.Result mount(String... args) {
    List<String> cmd = new ArrayList<>(List.of("mount"));
    cmd.addAll(List.of(args));
    return MountedVault.run(cmd, null, 300, env(), null);
  }

  private static MountedVault.Result umount(String... args) {
    List<String> cmd = new ArrayList<>(List.of("umount"));
    cmd.addAll(List.of(args));
    return MountedVault.run(cmd, null, 300, env(), null);
  }

  /** This build's jar, for whichever launcher mount(8) finds. */
  private static Map<String, String> env() {
    return Map.of("CLAWFS_JAR", jar().toString());
  }

  private static Path jar() {
    return MountedVault.launcher().getParent().resolve("mount/target/clawfs.jar");
  }

  private static long serverPid(Path mnt) throws IOException {
    for (String line : Files.readAllLines(mnt.resolve("system/status"))) {
      if (line.startsWith("pid:")) {
        return Long.parseLong(line.substring(4).trim());
      }
    }
    throw new AssertionError("no pid in " + mnt + "/system/status");
  }

  /** The mount table's line for the mount at m (fields after the mount point), or "". */
  private static String mountEntry(Path m) throws IOException {
    for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
      String[] f = line.split(" ");
      if (f.length > 5 && f[4].equals(m.toString())) {
        return f[5] + " " + line.substring(line.indexOf(" - ") + 3);
      }
    }
    return "";
  }

  private static boolean isRoot() {
    return uid() == 0;
  }

  private static long uid() {
    return new com.sun.security.auth.module.UnixSystem().getUid();
  }
}
