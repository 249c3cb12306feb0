package dev.clawfs.mount;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A /dev/null that reads as empty, for the programs the tests run.
 *
 * <p>On some machines of this kind /dev/null is not the character device but a regular file
 * that collects whatever anything writes to it. A program that reads it then reads junk: git's
 * pack-objects reads revisions from its stdin, which git itself points at /dev/null, and
 * {@code git gc} failed with "bad revision '24'" in CI because of it. When that is so, each
 * external program runs in a private mount namespace with a real null device (1:3, made in a
 * temporary directory) bind-mounted over /dev/null, and stdin is that device. The machine's own
 * /dev/null is left as it is. On a machine whose /dev/null is the device nothing is wrapped.
 */
final class DevNull {
  private static final Path SYSTEM = Path.of("/dev/null");
  private static Path device;
  private static boolean checked;

  private DevNull() {}

  /** The command, run so that /dev/null reads as empty. */
  static List<String> wrap(List<String> cmd) {
    Path dev = privateDevice();
    if (dev == null || cmd.isEmpty() || managesMounts(cmd.get(0))) {
      return cmd;
    }
    List<String> wrapped = new ArrayList<>(List.of(
        "unshare", "--mount", "--propagation", "private", "--",
        "sh", "-c", "mount --bind \"$0\" /dev/null && exec \"$@\"", dev.toString()));
    wrapped.addAll(cmd);
    return wrapped;
  }

  private static boolean managesMounts(String program) {
    String name = Path.of(program).getFileName().toString(); // the launcher is named clawfs
    return name.equals("clawfs") || name.equals("mount") || name.equals("umount") || name.startsWith("fusermount");
  }

  /** An empty stdin. */
  static ProcessBuilder.Redirect input() {
    Path dev = privateDevice();
    return ProcessBuilder.Redirect.from((dev == null ? SYSTEM : dev).toFile());
  }

  /** The private null device, or null when the system's /dev/null is the device (or cannot be helped). */
  private static synchronized Path privateDevice() {
    if (checked) {
      return device;
    }
    checked = true;
    try {
      BasicFileAttributes a =
          Files.readAttributes(SYSTEM, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
      if (a.isOther()) {
        return null; // a device node, as it should be
      }
      Path dir = Files.createTempDirectory("clawfs-devnull");
      Path node = dir.resolve("null");
      Process p = new ProcessBuilder("mknod", "-m", "666", node.toString(), "c", "1", "3")
          .redirectErrorStream(true).start();
      String out = new String(p.getInputStream().readAllBytes());
      if (!p.waitFor(30, TimeUnit.SECONDS) || p.exitValue() != 0) {
        System.err.println("WARNING: /dev/null here is a " + describe(a)
            + " and no null device could be made (" + out.strip() + "); programs that read"
            + " /dev/null may read junk");
        return null;
      }
      // deleteOnExit deletes in reverse order of registration: the node first, then its dir
      dir.toFile().deleteOnExit();
      node.toFile().deleteOnExit();
      System.err.println("NOTE: /dev/null here is a " + describe(a) + " (" + a.size()
          + " bytes), not the null device; external programs run with a private null device"
          + " bind-mounted over it");
      device = node;
      return device;
    } catch (IOException e) {
      System.err.println("WARNING: could not check /dev/null: " + e);
      return null;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return null;
    }
  }

  private static String describe(BasicFileAttributes a) {
    return a.isRegularFile() ? "regular file" : a.isDirectory() ? "directory" : "symbolic link";
  }
}
