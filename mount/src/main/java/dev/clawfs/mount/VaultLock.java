package dev.clawfs.mount;

import dev.clawfs.mount.ClawfsCli.CliException;
import java.nio.file.Path;
import java.time.Duration;

/**
 * The vault's lock: an exclusive flock(2) on the vault directory, held by the server for its
 * whole life and by {@code clawfs check} while it runs, dropped by the kernel when the process
 * ends (a killed server holds nothing). No lock file is written into the vault.
 *
 * <p>Two servers over one vault would each keep metadata in memory and overwrite the other's
 * commits; a repair under a running server would be overwritten the same way. The lock also
 * closes a race that plain {@code umount}, {@code fusermount -u} and a lazy unmount leave open:
 * they return while the old server is still committing, and a mount right after must wait for it
 * rather than read the metadata half-way. flock locks belong to the open file description, so the
 * lock is not lost when some other descriptor of the directory is closed (fcntl locks would be).
 */
final class VaultLock implements AutoCloseable {
  private final int fd;

  private VaultLock(int fd) {
    this.fd = fd;
  }

  /**
   * Takes the lock, waiting up to {@code patience} for a server that is finishing. Throws exit
   * code 5 when another process keeps the vault.
   */
  static VaultLock acquire(Path vault, Duration patience) throws InterruptedException {
    int fd = openDir(vault);
    long deadline = System.nanoTime() + patience.toNanos();
    boolean said = false;
    while (!lockNow(fd, vault)) {
      if (System.nanoTime() > deadline) {
        Libc.c().close(fd);
        throw new CliException(ClawfsCli.BAD_MOUNTPOINT, "the vault " + vault + " is in use by another clawfs process"
            + " (mounted elsewhere or in another mount namespace, being checked or repaired, or still committing after an unmount)");
      }
      if (!said) {
        System.err.println("clawfs: waiting for the other clawfs process of " + vault + " to finish");
        said = true;
      }
      Thread.sleep(100);
    }
    return new VaultLock(fd);
  }

  /** Takes the lock if it is free; null when another process holds it. */
  static VaultLock tryAcquire(Path vault) {
    int fd = openDir(vault);
    if (!lockNow(fd, vault)) {
      Libc.c().close(fd);
      return null;
    }
    return new VaultLock(fd);
  }

  private static int openDir(Path vault) {
    int fd = Libc.c().open(vault.toString(), Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_CLOEXEC);
    if (fd < 0) {
      throw new CliException(ClawfsCli.BAD_VAULT, "cannot open the vault directory " + vault + " (errno " + Libc.errno() + ")");
    }
    return fd;
  }

  /** One non-blocking attempt: true when taken, false when held elsewhere. */
  private static boolean lockNow(int fd, Path vault) {
    if (Libc.c().flock(fd, Libc.LOCK_EX | Libc.LOCK_NB) == 0) {
      return true;
    }
    int err = Libc.errno();
    if (err != Libc.EWOULDBLOCK) {
      Libc.c().close(fd);
      throw new CliException(ClawfsCli.ERROR, "cannot lock the vault " + vault + " (errno " + err + ")");
    }
    return false;
  }

  @Override
  public void close() {
    Libc.c().close(fd);
  }
}
