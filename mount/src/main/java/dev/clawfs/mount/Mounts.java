package dev.clawfs.mount;

import dev.clawfs.crypto.VaultHeader;
import dev.clawfs.mount.ClawfsCli.CliException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Mount-point checks, the mount table, unmounting and the server's log location. */
final class Mounts {
  private Mounts() {}

  static void checkVault(Path vault) {
    if (!Files.isDirectory(vault)) {
      throw new CliException(ClawfsCli.BAD_VAULT, "no vault at " + vault + ": the directory does not exist");
    }
    if (!VaultHeader.exists(vault)) {
      throw new CliException(ClawfsCli.BAD_VAULT, "no vault at " + vault + ": " + VaultHeader.FILE_NAME + " is missing");
    }
  }

  /** Checks the mount point; clears a stale mount a killed server left behind. */
  static void prepareMountpoint(Path m) throws IOException, InterruptedException {
    String entry = mountEntry(m);
    if (entry != null) {
      if (isDead(m)) {
        run(List.of("fusermount", "-u", "-z", m.toString()));
        forgetUmountHelper(m);
        System.err.println("clawfs: " + m + " held a stale mount (its server had died: \"Transport endpoint is not connected\"); cleaned it up");
      } else {
        throw new CliException(ClawfsCli.BAD_MOUNTPOINT, m + " is already a mount point (" + entry + ")");
      }
    }
    checkMountpoint(m);
  }

  /** An existing directory, checked without touching what may be mounted there. */
  static void checkMountpoint(Path m) {
    if (!Files.exists(m)) {
      throw new CliException(ClawfsCli.BAD_MOUNTPOINT, "mount point " + m + " does not exist");
    }
    if (!Files.isDirectory(m)) {
      throw new CliException(ClawfsCli.BAD_MOUNTPOINT, "mount point " + m + " is not a directory");
    }
  }

  /**
   * Refuses a vault that a live server already serves at another mount point (two servers over
   * one vault would overwrite each other's metadata; the server's {@link VaultLock} is the
   * guarantee, this is the early, clear message).
   */
  static void checkVaultNotMounted(Path vault) throws IOException {
    String source = sourceOf(vault);
    for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"), StandardCharsets.ISO_8859_1)) {
      int dash = line.indexOf(" - ");
      String[] f = line.split(" ");
      String[] tail = dash < 0 ? new String[0] : line.substring(dash + 3).split(" ");
      if (tail.length > 1 && tail[0].equals("fuse.clawfs") && unescape(tail[1]).equals(source)) {
        Path at = Path.of(unescape(f[4]));
        if (!isDead(at)) {
          throw new CliException(ClawfsCli.BAD_MOUNTPOINT, "the vault " + vault + " is already mounted at " + at);
        }
      }
    }
  }

  /** The source field a mount of {@code vault} shows in the mount table (libfuse's fsname). */
  static String sourceOf(Path vault) {
    return "clawfs:" + vault.toString().replace(",", "_");
  }

  private static boolean isDead(Path m) {
    try {
      Files.readAttributes(m, "unix:ino");
      return false;
    } catch (FileSystemException e) {
      return String.valueOf(e.getReason()).contains("not connected") || String.valueOf(e.getMessage()).contains("not connected");
    } catch (IOException | UnsupportedOperationException e) {
      return false;
    }
  }

  /** The /proc/self/mountinfo line of the mount at m (fstype and source), or null. */
  static String mountEntry(Path m) throws IOException {
    String target = m.toString();
    for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"), StandardCharsets.ISO_8859_1)) {
      String[] f = line.split(" ");
      if (f.length > 4 && unescape(f[4]).equals(target)) {
        int dash = line.indexOf(" - ");
        return dash >= 0 ? line.substring(dash + 3) : line;
      }
    }
    return null;
  }

  /**
   * Where the vault at {@code vault} is mounted according to this mount namespace's table (its
   * source is {@code clawfs:VAULT}), or null.
   */
  static Path mountOf(Path vault) throws IOException {
    String source = "clawfs:" + vault.toString().replace(",", "_");
    for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"), StandardCharsets.ISO_8859_1)) {
      int dash = line.indexOf(" - ");
      String[] f = line.split(" ");
      if (dash < 0 || f.length <= 4) {
        continue;
      }
      String[] tail = line.substring(dash + 3).split(" ");
      if (tail.length > 1 && tail[0].equals("fuse.clawfs") && unescape(tail[1]).equals(source)) {
        return Path.of(unescape(f[4]));
      }
    }
    return null;
  }

  /** Every ClawFS mount in this mount namespace's table, in its order. */
  static List<Path> clawfsMounts() throws IOException {
    List<Path> out = new java.util.ArrayList<>();
    for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"), StandardCharsets.ISO_8859_1)) {
      int dash = line.indexOf(" - ");
      String[] f = line.split(" ");
      if (dash >= 0 && f.length > 4 && line.substring(dash + 3).startsWith("fuse.clawfs ")) {
        out.add(Path.of(unescape(f[4])));
      }
    }
    return out;
  }

  static boolean isClawfsMount(Path m) throws IOException {
    String e = mountEntry(m);
    return e != null && e.startsWith("fuse.clawfs ");
  }

  private static String unescape(String s) {
    StringBuilder b = new StringBuilder();
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c == '\\' && i + 3 < s.length()) {
        b.append((char) Integer.parseInt(s.substring(i + 1, i + 4), 8));
        i += 3;
      } else {
        b.append(c);
      }
    }
    return b.toString();
  }

  /** How to unmount: as {@code clawfs umount} does, detached ({@code umount -l}) or aborted ({@code umount -f}). */
  enum Way { NORMAL, LAZY, FORCE }

  static void unmount(Path m) throws IOException, InterruptedException {
    unmount(m, Way.NORMAL);
  }

  /**
   * Unmounts and, unless lazily, waits for the server to commit and exit. A lazy unmount only
   * detaches the mount: the server ends when the last open file closes. A forced one aborts the
   * FUSE connection (requests in flight fail with ENOTCONN); the server still commits what it
   * holds before it exits, and this waits for that.
   */
  static void unmount(Path m, Way way) throws IOException, InterruptedException {
    if (!isClawfsMount(m)) {
      throw new CliException(ClawfsCli.BAD_MOUNTPOINT, m + " is not a ClawFS mount");
    }
    if (way == Way.LAZY) {
      Result r = run(List.of("fusermount", "-u", "-z", m.toString()));
      if (r.code != 0) {
        throw new CliException(ClawfsCli.ERROR, "fusermount -u -z " + m + " failed: " + r.output.strip());
      }
      return;
    }
    if (way == Way.FORCE) {
      long pid = serverPid(m);
      Result r = run(List.of("umount", "--internal-only", "--force", m.toString()));
      if (r.code != 0 && isClawfsMount(m)) {
        throw new CliException(ClawfsCli.ERROR, "umount -f " + m + " failed: " + r.output.strip());
      }
      awaitExit(pid);
      return;
    }
    long pid = -1;
    try {
      for (String line : Files.readAllLines(m.resolve("system").resolve("status"), StandardCharsets.UTF_8)) {
        if (line.startsWith("pid:")) {
          pid = Long.parseLong(line.substring(4).trim());
        }
      }
    } catch (IOException | NumberFormatException e) {
      // a dead server: unmount anyway
    }
    Result r = run(List.of("fusermount", "-u", m.toString()));
    if (r.code != 0) {
      if (r.output.contains("busy")) {
        throw new CliException(ClawfsCli.BAD_MOUNTPOINT, m + " is busy: a process has a file open or its working directory inside"
            + holders(m) + "; nothing was unmounted");
      }
      if (isDead(m)) {
        run(List.of("fusermount", "-u", "-z", m.toString()));
      } else {
        throw new CliException(ClawfsCli.ERROR, "fusermount -u " + m + " failed: " + r.output.strip());
      }
    }
    awaitExit(pid);
  }

  /** " (pid 12 cat, pid 40 bash)": the processes with a descriptor, cwd or root inside {@code m}, as far as /proc shows. */
  static String holders(Path m) {
    String mp = m.toString();
    List<String> out = new java.util.ArrayList<>();
    try (var procs = Files.list(Path.of("/proc"))) {
      for (Path p : procs.filter(p -> p.getFileName().toString().chars().allMatch(Character::isDigit)).toList()) {
        if (holds(p, mp)) {
          String comm;
          try {
            comm = Files.readString(p.resolve("comm"), StandardCharsets.UTF_8).strip();
          } catch (IOException e) {
            comm = "?";
          }
          out.add("pid " + p.getFileName() + " " + comm);
          if (out.size() == 8) {
            out.add("...");
            break;
          }
        }
      }
    } catch (IOException | RuntimeException e) {
      return "";
    }
    return out.isEmpty() ? "" : " (" + String.join(", ", out) + ")";
  }

  private static boolean holds(Path proc, String mp) {
    List<Path> links = new java.util.ArrayList<>(List.of(proc.resolve("cwd"), proc.resolve("root")));
    try (var fds = Files.list(proc.resolve("fd"))) {
      fds.forEach(links::add);
    } catch (IOException | RuntimeException e) {
      // gone, or not ours to see
    }
    for (Path l : links) {
      try {
        String t = Files.readSymbolicLink(l).toString();
        if (t.equals(mp) || t.startsWith(mp + "/")) {
          return true;
        }
      } catch (IOException | RuntimeException e) {
        // closed meanwhile
      }
    }
    return false;
  }

  private static void awaitExit(long pid) {
    if (pid > 0) {
      try {
        if (!awaitEnded(pid, java.time.Duration.ofSeconds(120))) {
          throw new CliException(ClawfsCli.ERROR, "the server (pid " + pid + ") did not finish within 120 s after unmount");
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new CliException(ClawfsCli.ERROR, "interrupted while waiting for the server (pid " + pid + ") to finish");
      }
    }
  }

  /**
   * Waits until process {@code pid} has ended; false when it still runs after {@code patience}.
   * A server started by {@code clawfs mount} is not our child: once it exits it stays a zombie
   * until its new parent (init, or a subreaper) reaps it, which some inits do only every few
   * seconds, and ProcessHandle and kill(pid, 0) count zombies as alive. An exited process has
   * committed everything, so a zombie counts as ended here.
   */
  static boolean awaitEnded(long pid, java.time.Duration patience) throws InterruptedException {
    long deadline = System.nanoTime() + patience.toNanos();
    while (running(pid)) {
      if (System.nanoTime() > deadline) {
        return false;
      }
      Thread.sleep(10);
    }
    return true;
  }

  /** True while {@code pid} exists and any of its threads has not exited. */
  static boolean running(long pid) {
    String stat;
    try {
      stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"), StandardCharsets.US_ASCII);
    } catch (IOException e) {
      return false; // gone (reaped)
    }
    int close = stat.lastIndexOf(')'); // the command name may hold spaces and parentheses
    if (close < 0 || close + 2 >= stat.length()) {
      return true;
    }
    char state = stat.charAt(close + 2);
    if (state != 'Z' && state != 'X') {
      return true;
    }
    // the leader of a thread group shows Z as soon as its own thread has exited, while the other
    // threads may still be exiting (and hold the FUSE device open): ended once it is alone
    try (var tasks = Files.list(Path.of("/proc", Long.toString(pid), "task"))) {
      return tasks.count() > 1;
    } catch (IOException e) {
      return false;
    }
  }

  /**
   * The pid of the server of the mount at {@code m}, from the vault lock it holds (in
   * /proc/locks), so that a server which no longer answers is found too; -1 when unknown.
   */
  static long serverPid(Path m) throws IOException {
    String entry = mountEntry(m);
    if (entry == null) {
      return -1;
    }
    String[] f = entry.split(" ");
    if (f.length < 2 || !f[1].startsWith("clawfs:")) {
      return -1;
    }
    Path vault = Path.of(unescape(f[1]).substring("clawfs:".length()));
    long ino;
    long dev;
    try {
      ino = ((Number) Files.getAttribute(vault, "unix:ino")).longValue();
      dev = ((Number) Files.getAttribute(vault, "unix:dev")).longValue();
    } catch (IOException | UnsupportedOperationException e) {
      return -1;
    }
    // glibc's dev_t encoding; /proc/locks prints MAJOR:MINOR in hex and the inode in decimal
    long major = ((dev >>> 8) & 0xfff) | ((dev >>> 32) & ~0xfffL);
    long minor = (dev & 0xff) | ((dev >>> 12) & ~0xffL);
    String id = String.format("%02x:%02x:%d", major, minor, ino);
    for (String line : Files.readAllLines(Path.of("/proc/locks"), StandardCharsets.ISO_8859_1)) {
      String[] l = line.trim().split("\\s+");
      // 1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF
      if (l.length >= 6 && l[1].equals("FLOCK") && l[3].equals("WRITE") && l[5].equals(id)) {
        return Long.parseLong(l[4]);
      }
    }
    return -1;
  }

  /** The umount helper every plain {@code umount} of a marked mount goes through. */
  private static final Path UMOUNT_HELPER = Path.of("/sbin/umount.fuse.clawfs");

  /**
   * Adds the libmount marker {@code helper=fuse.clawfs} for the mount at {@code m} to
   * /run/mount/utab (through {@code mount --fake}), so that a plain {@code umount m} runs
   * /sbin/umount.fuse.clawfs, which waits until the server has committed and exited. Without it
   * umount(8) finds the type through statfs(2), sees only "fuse", and unmounts directly: the
   * server still commits, but after umount has returned. Root only (utab is root's); false
   * when not done.
   */
  static boolean markForUmountHelper(Path m) {
    if (Identity.uid() != 0 || !Files.isExecutable(UMOUNT_HELPER)) {
      return false;
    }
    try {
      String entry = mountEntry(m);
      if (entry == null) {
        return false;
      }
      String source = unescape(entry.split(" ")[1]);
      Result r = run(List.of("mount", "--fake", "--internal-only", "--no-canonicalize", "-t", "fuse.clawfs",
          "-o", "helper=fuse.clawfs", source, m.toString()));
      return r.code == 0;
    } catch (IOException e) {
      return false;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    }
  }

  /**
   * Drops the utab markers left for a mount point where nothing is mounted (a server that was
   * killed cannot drop its own; each further mount would add one more).
   */
  static void forgetUmountHelper(Path m) {
    if (Identity.uid() != 0) {
      return;
    }
    try {
      Path utab = Path.of("/run/mount/utab");
      String entry = "TARGET=" + escape(m.toString()) + " ";
      int before = Integer.MAX_VALUE;
      for (int i = 0; i < 64 && mountEntry(m) == null && Files.isReadable(utab); i++) {
        int now = count(Files.readString(utab, StandardCharsets.ISO_8859_1), entry);
        if (now == 0 || now >= before) {
          return; // gone, or umount --fake no longer removes any
        }
        before = now;
        run(List.of("umount", "--fake", "--internal-only", "--no-canonicalize", m.toString()));
      }
    } catch (IOException e) {
      // only bookkeeping: a leftover marker is harmless
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private static int count(String text, String part) {
    int n = 0;
    for (int i = text.indexOf(part); i >= 0; i = text.indexOf(part, i + 1)) {
      n++;
    }
    return n;
  }

  /** libmount's escaping of a path in a table (space, tab, newline and backslash as octal). */
  private static String escape(String s) {
    StringBuilder b = new StringBuilder();
    for (char c : s.toCharArray()) {
      if (c == ' ' || c == '\t' || c == '\n' || c == '\\') {
        b.append(String.format("\\%03o", (int) c));
      } else {
        b.append(c);
      }
    }
    return b.toString();
  }

  /** The server's log: never inside the vault (logs are plaintext) nor the mount. */
  static Path logFile(Path m) throws IOException {
    String name = m.toString().replace('/', '_').replaceAll("[^A-Za-z0-9_.-]", "-") + ".log";
    Path dir = Path.of("/run/clawfs");
    try {
      Files.createDirectories(dir);
      if (!Files.isWritable(dir)) {
        throw new IOException("not writable");
      }
    } catch (IOException e) {
      dir = Path.of(System.getProperty("java.io.tmpdir"), "clawfs-" + Identity.uid());
      Files.createDirectories(dir);
    }
    return dir.resolve("clawfs" + name);
  }

  record Result(int code, String output) {}

  static Result run(List<String> cmd) throws IOException, InterruptedException {
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!p.waitFor(60, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      return new Result(-1, "timed out");
    }
    return new Result(p.exitValue(), out);
  }
}
