package dev.clawfs.mount;

import dev.clawfs.mount.ClawfsCli.CliException;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * mount(8)'s external helper, {@code /sbin/mount.fuse.clawfs} (a link to the launcher, which
 * calls this command). util-linux runs it as {@code mount.fuse.clawfs SOURCE TARGET [-sfnv]
 * [-o OPTIONS]} for {@code mount -t fuse.clawfs} and for fstab lines of that type, after it has
 * dropped the options that are its own ({@code noauto}, {@code x-*}, {@code comment=}); fuse3's
 * {@code mount.fuse} runs {@code clawfs SOURCE TARGET -o OPTIONS}, which lands here too. The
 * mount itself is {@code clawfs mount}'s: the same options, checks, stale-mount cleanup, and
 * exit codes, which mount(8) passes on as its own.
 */
@Command(name = "mount-helper", hidden = true,
    description = "mount(8)'s helper: mount.fuse.clawfs VAULT MOUNTPOINT [-sfnv] [-o OPTIONS].")
final class MountHelper implements Callable<Integer> {
  @Parameters(index = "0", paramLabel = "VAULT")
  String source;

  @Parameters(index = "1", paramLabel = "MOUNTPOINT")
  Path target;

  @Option(names = "-o", paramLabel = "OPTIONS")
  String options;

  @Option(names = "-s", description = "Sloppy: ignore unknown options (with a warning).")
  boolean sloppy;

  @Option(names = "-f", description = "Fake: check everything, mount nothing.")
  boolean fake;

  @Option(names = "-n", description = "No mtab (there is none to write).")
  boolean noMtab;

  @Option(names = "-v", description = "Verbose.")
  boolean verbose;

  @Option(names = "-t", paramLabel = "TYPE", description = "fuse.clawfs (given by fuse3's mount.fuse).")
  String type;

  @Option(names = "-N", paramLabel = "NAMESPACE")
  String namespace;

  @Override
  public Integer call() throws Exception {
    if (namespace != null) {
      throw new CliException(ClawfsCli.USAGE, "mounting in another mount namespace (-N) is not supported");
    }
    if (type != null && !type.equals("fuse.clawfs") && !type.equals("clawfs")) {
      throw new CliException(ClawfsCli.USAGE, "this is the helper for type fuse.clawfs, not " + type);
    }
    ClawfsCli.Mount m = new ClawfsCli.Mount();
    // mount(8) shows the source as given; the mount table shows it as clawfs:VAULT, so take both
    m.vault = Path.of(source.startsWith("clawfs:") ? source.substring("clawfs:".length()) : source);
    m.mountpoint = target;
    m.options = options;
    m.sloppy = sloppy;
    m.fake = fake;
    if (verbose) {
      System.err.println("clawfs: mounting " + m.vault + " at " + target + " with options " + (options == null ? "(none)" : options));
    }
    return m.call();
  }

  /**
   * umount(8)'s helper, {@code /sbin/umount.fuse.clawfs}: {@code umount.fuse.clawfs TARGET
   * [-flnrv] [-t TYPE] [-N NAMESPACE]}. A plain unmount waits until the server has committed
   * and exited, as {@code clawfs umount} does; {@code -l} detaches, {@code -f} aborts the FUSE
   * connection and still waits for the commit.
   */
  @Command(name = "umount-helper", hidden = true,
      description = "umount(8)'s helper: umount.fuse.clawfs MOUNTPOINT [-flnrv].")
  static final class Umount implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "MOUNTPOINT")
    Path target;

    @Option(names = "-f")
    boolean force;

    @Option(names = "-l")
    boolean lazy;

    @Option(names = "-n")
    boolean noMtab;

    @Option(names = "-r")
    boolean remountReadOnly;

    @Option(names = "-v")
    boolean verbose;

    @Option(names = "-d")
    boolean detachLoop;

    @Option(names = "-t", paramLabel = "TYPE")
    String type;

    @Option(names = "-N", paramLabel = "NAMESPACE")
    String namespace;

    @Override
    public Integer call() throws Exception {
      if (namespace != null) {
        throw new CliException(ClawfsCli.USAGE, "unmounting in another mount namespace (-N) is not supported");
      }
      Path m = target.toAbsolutePath().normalize();
      Mounts.Way way = lazy ? Mounts.Way.LAZY : force ? Mounts.Way.FORCE : Mounts.Way.NORMAL;
      Mounts.unmount(m, way);
      Mounts.forgetUmountHelper(m);
      if (verbose) {
        System.err.println("clawfs: " + m + " unmounted" + (lazy ? " (detached; the server ends when the last file closes)" : ""));
      }
      return ClawfsCli.OK;
    }
  }
}
