package dev.clawfs.mount;

import dev.clawfs.mount.ClawfsCli.CliException;
import java.nio.file.Path;
import java.time.Duration;

/**
 * One server per vault: an exclusive flock(2) on the vault directory, held for the server's
 * life and dropped by the kernel when the process ends (a killed server holds nothing).
 *
 * <p>Two servers over one vault would each keep metadata in memory and overwrite the other's
 * commits. The lock also closes a race that plain {@code umount}, {@code fusermount -u} and a
 * lazy unmount leave open: they return while the old server is still committing, and a mount
 * right after must wait for it rather than read the metadata half-way.
 */
final class VaultLock implements AutoCloseable {
  private final int fd;

  private VaultLock(int fd) {
    this.fd = fd;
  }

  /**
   * Takes the lock, waiting up to {@code patience} for a server that is finishing. Throws exit
   * code 5 when another server keeps the vault.
   */
  static VaultLock acquire(Path vault, Duration patience) throws InterruptedException {
    Libc.C c = Libc.c();
    int fd = c.open(vault.toString(), Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_CLOEXEC);
    if (fd < 0) {
      throw new CliException(ClawfsCli.BAD_VAULT, "cannot open the vault directory " + vault + " (errno " + Libc.errno() + ")");
    }
    long deadline = System.nanoTime() + patience.toNanos();
    boolean said = false;
    while (c.flock(fd, Libc.LOCK_EX | Libc.LOCK_NB) != 0) {
      int err = Libc.errno();
      if (err != Libc.EWOULDBLOCK) {
        c.close(fd);
        throw new CliException(ClawfsCli.ERROR, "cannot lock the vault " + vault + " (errno " + err + ")");
      }
      if (System.nanoTime() > deadline) {
        c.close(fd);
        throw new CliException(ClawfsCli.BAD_MOUNTPOINT, "the vault " + vault + " is in use by another ClawFS server"
            + " (still committing after an unmount, or mounted in another mount namespace)");
      }
      if (!said) {
        System.err.println("clawfs: waiting for the previous server of " + vault + " to finish committing");
        said = true;
      }
      Thread.sleep(100);
    }
    return new VaultLock(fd);
  }

  @Override
  public void close() {
    Libc.c().close(fd);
  }
}
