package dev.clawfs.mount;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;

/**
 * Test fixture: a real vault initialised and mounted through the {@code clawfs} launcher, in
 * its own server process, over /dev/fuse. Tests that cannot mount here are skipped visibly
 * through {@link #assumeMountable()}.
 */
public final class MountedVault implements AutoCloseable {
  /** Fast Argon2id settings for tests; the product default is far stronger. */
  public static final String[] TEST_KDF = {"--kdf-memory-kib", "8192", "--kdf-iterations", "1"};

  public static final String PASSPHRASE = "correct horse battery staple";

  private final Path base;
  private final Path vault;
  private final Path mountpoint;
  private final Path passphraseFile;
  private boolean mounted;
  private final List<String> mountOptions = new ArrayList<>();

  private MountedVault(Path base, Path vault, Path mountpoint) throws IOException {
    this.base = base;
    this.vault = vault;
    this.mountpoint = mountpoint;
    this.passphraseFile = base.resolve("passphrase");
    if (!Files.exists(passphraseFile)) {
      Files.writeString(passphraseFile, PASSPHRASE + "\n");
    }
    Files.createDirectories(mountpoint);
  }

  /** The launcher script at the repository root (set by Failsafe). */
  public static Path launcher() {
    String p = System.getProperty("clawfs.launcher");
    if (p == null) {
      Path guess = Path.of("..", "clawfs").toAbsolutePath().normalize();
      return guess;
    }
    return Path.of(p);
  }

  /** Skips (visibly, with the reason) when this machine cannot mount FUSE file systems. */
  public static void assumeMountable() {
    Assumptions.assumeTrue(
        Files.exists(Path.of("/dev/fuse")), "SKIPPED: /dev/fuse is missing, cannot mount FUSE here");
    Assumptions.assumeTrue(
        Files.isExecutable(Path.of("/bin/fusermount"))
            || Files.isExecutable(Path.of("/usr/bin/fusermount")),
        "SKIPPED: fusermount (package fuse3) is not installed");
    Assumptions.assumeTrue(
        Files.exists(Path.of("/usr/lib/x86_64-linux-gnu/libfuse.so.2"))
            || Files.exists(Path.of("/lib/x86_64-linux-gnu/libfuse.so.2")),
        "SKIPPED: libfuse2 is not installed");
    Assumptions.assumeTrue(
        Files.isRegularFile(launcher()), "SKIPPED: launcher " + launcher() + " not found");
  }

  /** Initialises a new vault under {@code base/vault} and mounts it at {@code base/mnt}. */
  public static MountedVault create(Path base) throws IOException {
    return create(base, new String[0]);
  }

  /**
   * The same, with extra options for every {@code clawfs mount} of it; {@code "--no-search"}
   * for tests of the file system alone that write thousands of files (the index would spend
   * the test's CPU embedding them; SearchIT, LeakageIT, CrashIT and FullDiskIT keep it on).
   */
  public static MountedVault create(Path base, String... mountOptions) throws IOException {
    assumeMountable();
    MountedVault v = new MountedVault(base, base.resolve("vault"), base.resolve("mnt"));
    v.mountOptions.addAll(List.of(mountOptions));
    List<String> args = new ArrayList<>(List.of("init", v.vault.toString(), "--passphrase-file",
        v.passphraseFile.toString()));
    args.addAll(List.of(TEST_KDF));
    Result r = clawfs(args.toArray(String[]::new));
    assertEquals(0, r.exitCode(), "clawfs init failed: " + r);
    v.mount();
    return v;
  }

  /** An existing vault directory, not yet mounted. */
  public static MountedVault existing(Path base, Path vault, Path mountpoint, String... mountOptions) throws IOException {
    assumeMountable();
    MountedVault v = new MountedVault(base, vault, mountpoint);
    v.mountOptions.addAll(List.of(mountOptions));
    return v;
  }

  public Path vault() {
    return vault;
  }

  public Path mountpoint() {
    return mountpoint;
  }

  public Path passphraseFile() {
    return passphraseFile;
  }

  /** Path inside the mount. */
  public Path path(String relative) {
    return mountpoint.resolve(relative);
  }

  public void mount() {
    List<String> args = new ArrayList<>(List.of("mount", vault.toString(), mountpoint.toString(), "--passphrase-file",
        passphraseFile.toString()));
    args.addAll(mountOptions);
    Result r = clawfs(args.toArray(String[]::new));
    assertEquals(0, r.exitCode(), "clawfs mount failed: " + r);
    mounted = true;
  }

  public void unmount() {
    Result r = clawfs("umount", mountpoint.toString());
    assertEquals(0, r.exitCode(), "clawfs umount failed: " + r);
    mounted = false;
  }

  /** The server's pid, from {@code clawfs status}. */
  public long serverPid() {
    Result r = clawfs("status", mountpoint.toString());
    // 6: the mount is unhealthy (a full disk, say), which still shows the pid
    assertTrue(r.exitCode() == 0 || r.exitCode() == 6, "clawfs status failed: " + r);
    for (String line : r.stdout().split("\n")) {
      if (line.startsWith("pid:")) {
        return Long.parseLong(line.substring(4).trim());
      }
    }
    throw new AssertionError("no pid in status output: " + r);
  }

  /** SIGKILLs the server and clears the dead mount, as a crash would leave it. */
  public void kill9() throws IOException, InterruptedException {
    kill9(serverPid());
  }

  /** The same for a server whose pid is known already (no `clawfs status` run in between). */
  public void kill9(long pid) throws IOException, InterruptedException {
    ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
    // wait for the process to be gone (a zombie waiting for init's reap counts as gone)
    Mounts.awaitEnded(pid, java.time.Duration.ofSeconds(5));
    run(List.of("fusermount", "-u", "-z", mountpoint.toString()), null, 30);
    mounted = false;
  }

  @Override
  public void close() {
    if (mounted) {
      Result r = clawfs("umount", mountpoint.toString());
      if (r.exitCode() != 0) {
        run(List.of("fusermount", "-u", "-z", mountpoint.toString()), null, 30);
      }
      mounted = false;
    }
  }

  /** Runs the launcher with arguments; passphrase never on the command line. */
  public static Result clawfs(String... args) {
    List<String> cmd = new ArrayList<>();
    cmd.add(launcher().toString());
    cmd.addAll(List.of(args));
    return run(cmd, null, 300);
  }

  /** Runs a command to completion and captures its output. */
  public static Result run(List<String> cmd, Path dir, int timeoutSeconds) {
    return run(cmd, dir, timeoutSeconds, Map.of(), null);
  }

  public static Result run(
      List<String> cmd, Path dir, int timeoutSeconds, Map<String, String> env, byte[] stdin) {
    try {
      ProcessBuilder pb = new ProcessBuilder(DevNull.wrap(cmd));
      if (dir != null) {
        pb.directory(dir.toFile());
      }
      pb.environment().putAll(env);
      Path out = Files.createTempFile("clawfs-test", ".out");
      Path err = Files.createTempFile("clawfs-test", ".err");
      pb.redirectOutput(out.toFile());
      pb.redirectError(err.toFile());
      if (stdin == null) {
        pb.redirectInput(DevNull.input());
      }
      Process p = pb.start();
      if (stdin != null) {
        try (var os = p.getOutputStream()) {
          os.write(stdin);
        }
      }
      if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        throw new AssertionError("timed out after " + timeoutSeconds + "s: " + cmd);
      }
      String o = Files.readString(out, StandardCharsets.ISO_8859_1);
      String e = Files.readString(err, StandardCharsets.ISO_8859_1);
      Files.deleteIfExists(out);
      Files.deleteIfExists(err);
      return new Result(p.exitValue(), o, e);
    } catch (IOException | InterruptedException ex) {
      throw new AssertionError("could not run " + cmd, ex);
    }
  }

  /** Reads all of a stream. */
  static byte[] readAll(InputStream in) throws IOException {
    return in.readAllBytes();
  }

  /** Exit code and output of a finished command. */
  public record Result(int exitCode, String stdout, String stderr) {
    @Override
    public String toString() {
      return "exit=" + exitCode + " stdout=[" + stdout.strip() + "] stderr=[" + stderr.strip() + "]";
    }
  }
}
