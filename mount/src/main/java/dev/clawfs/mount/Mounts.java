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
        System.err.println("clawfs: " + m + " held a stale mount (its server had died: \"Transport endpoint is not connected\"); cleaned it up");
      } else {
        throw new CliException(ClawfsCli.BAD_MOUNTPOINT, m + " is already a mount point (" + entry + ")");
      }
    }
    if (!Files.exists(m)) {
      throw new CliException(ClawfsCli.BAD_MOUNTPOINT, "mount point " + m + " does not exist");
    }
    if (!Files.isDirectory(m)) {
      throw new CliException(ClawfsCli.BAD_MOUNTPOINT, "mount point " + m + " is not a directory");
    }
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

  static void unmount(Path m) throws IOException, InterruptedException {
    if (!isClawfsMount(m)) {
      throw new CliException(ClawfsCli.BAD_MOUNTPOINT, m + " is not a ClawFS mount");
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
        throw new CliException(ClawfsCli.BAD_MOUNTPOINT, m + " is busy: a process has a file open or its working directory inside; nothing was unmounted");
      }
      if (isDead(m)) {
        run(List.of("fusermount", "-u", "-z", m.toString()));
      } else {
        throw new CliException(ClawfsCli.ERROR, "fusermount -u " + m + " failed: " + r.output.strip());
      }
    }
    if (pid > 0) {
      var ph = ProcessHandle.of(pid);
      if (ph.isPresent()) {
        try {
          ph.get().onExit().get(120, TimeUnit.SECONDS);
        } catch (Exception e) {
          throw new CliException(ClawfsCli.ERROR, "the server (pid " + pid + ") did not finish within 120 s after unmount");
        }
      }
    }
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
