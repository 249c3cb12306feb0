package dev.clawfs.mount;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;

/**
 * The vault's lock: an exclusive lock (fcntl, through {@link FileChannel#tryLock}) on the empty
 * file {@code VAULT/clawfs.lock}, held by the server for as long as it serves the vault and by
 * {@code clawfs check} while it runs. So a vault is never mounted twice, never mounted while it
 * is being repaired, and a check knows whether a server has it, even one in another mount
 * namespace. The kernel drops the lock when its process ends, killed or not.
 */
final class VaultLock implements AutoCloseable {
  static final String FILE = "clawfs.lock";

  private final FileChannel channel;
  private final FileLock lock;

  private VaultLock(FileChannel channel, FileLock lock) {
    this.channel = channel;
    this.lock = lock;
  }

  /** Takes the lock, or returns null when another process holds it. */
  static VaultLock tryAcquire(Path vault) throws IOException {
    Path f = vault.resolve(FILE);
    if (!Files.exists(f, LinkOption.NOFOLLOW_LINKS)) {
      try {
        Files.createFile(f, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
      } catch (java.nio.file.FileAlreadyExistsException e) {
        // made by another process meanwhile
      }
    }
    FileChannel ch = FileChannel.open(f, StandardOpenOption.READ, StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS);
    try {
      FileLock l = ch.tryLock();
      if (l == null) {
        ch.close();
        return null;
      }
      return new VaultLock(ch, l);
    } catch (OverlappingFileLockException e) {
      ch.close();
      return null; // this process holds it already
    } catch (IOException | RuntimeException e) {
      ch.close();
      throw e;
    }
  }

  @Override
  public void close() throws IOException {
    try {
      lock.release();
    } finally {
      channel.close();
    }
  }
}
