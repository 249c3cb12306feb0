package dev.clawfs.mount;

import static java.nio.charset.StandardCharsets.US_ASCII;

import dev.clawfs.crypto.KeyPurpose;
import dev.clawfs.crypto.MasterKeys;
import dev.clawfs.crypto.Sealer;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;

/**
 * A small file in the vault directory holding one sealed record: the server's own settings (the
 * agent registry, the admin's policy files). Layout: {@code "CLAWADM1" || key id (u32 BE) ||
 * Sealer.seal(plaintext, aad)} with {@code aad = "clawfs/v1/admin/" || label || magic || key
 * id}, under the METADATA subkey of that master key. The label binds the record to its role, so
 * the policy file cannot be passed off as the agent registry. Replaced atomically (temporary file,
 * fsync, rename, fsync of the directory).
 */
final class SealedFile {
  private static final byte[] MAGIC = "CLAWADM1".getBytes(US_ASCII);
  private static final int HEADER = MAGIC.length + 4;

  private final Path file;
  private final String label;
  private final MasterKeys keys;

  SealedFile(Path file, String label, MasterKeys keys) {
    this.file = file;
    this.label = label;
    this.keys = keys;
  }

  Path path() {
    return file;
  }

  /** The plaintext, or null when the file does not exist. Fails on any alteration. */
  byte[] read() throws IOException {
    byte[] all;
    try {
      all = Files.readAllBytes(file);
    } catch (NoSuchFileException e) {
      return null;
    }
    if (all.length < HEADER || !java.util.Arrays.equals(all, 0, MAGIC.length, MAGIC, 0, MAGIC.length)) {
      throw new IOException(file.getFileName() + " is not a ClawFS admin file");
    }
    int keyId = ByteBuffer.wrap(all, MAGIC.length, 4).getInt();
    byte[] sealed = java.util.Arrays.copyOfRange(all, HEADER, all.length);
    try {
      return Sealer.of(keys.subkey(keyId, KeyPurpose.METADATA)).open(sealed, aad(keyId), file.getFileName().toString());
    } catch (IllegalArgumentException e) {
      throw new IOException(file.getFileName() + ": " + e.getMessage(), e);
    }
  }

  /** Replaces the file's content with {@code plaintext}, sealed under the primary key. */
  void write(byte[] plaintext) throws IOException {
    int keyId = keys.primaryKeyId();
    byte[] sealed = Sealer.of(keys.subkey(keyId, KeyPurpose.METADATA)).seal(plaintext, aad(keyId));
    ByteBuffer out = ByteBuffer.allocate(HEADER + sealed.length).put(MAGIC).putInt(keyId).put(sealed).flip();
    Path dir = file.getParent();
    if (!Files.isDirectory(dir)) {
      Files.createDirectories(dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
    }
    Path tmp = dir.resolve(file.getFileName() + ".tmp-" + Long.toHexString(Thread.currentThread().getId()));
    try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
        StandardOpenOption.WRITE)) {
      while (out.hasRemaining()) {
        ch.write(out);
      }
      ch.force(true);
    }
    Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
      d.force(true);
    }
  }

  /** The key id named in the file's header, or null when the file does not exist or is not an admin file. */
  Integer keyId() throws IOException {
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
      ByteBuffer b = ByteBuffer.allocate(HEADER);
      while (b.hasRemaining() && ch.read(b) > 0) {
        // header only
      }
      return b.hasRemaining() ? null : b.getInt(MAGIC.length);
    } catch (NoSuchFileException e) {
      return null;
    }
  }

  /**
   * Re-seals the file under the primary key when it is under another (key rotation). The
   * server's own writers replace these files through {@link #write} only when an admin changes
   * something; a change that lands between this read and this write is kept, since the file is
   * replaced only if it is still the one that was read. Returns whether it was rewritten.
   */
  boolean resealUnderPrimary() throws IOException {
    Integer k = keyId();
    if (k == null || k == keys.primaryKeyId()) {
      return false;
    }
    byte[] before = Files.readAllBytes(file);
    byte[] plain = read();
    try {
      synchronized (SealedFile.class) {
        if (!java.util.Arrays.equals(before, Files.readAllBytes(file))) {
          return false; // rewritten meanwhile, by a writer that used the primary
        }
        write(plain);
      }
    } finally {
      java.util.Arrays.fill(plain, (byte) 0);
    }
    return true;
  }

  private byte[] aad(int keyId) {
    byte[] l = ("clawfs/v1/admin/" + label).getBytes(US_ASCII);
    return ByteBuffer.allocate(l.length + HEADER).put(l).put(MAGIC).putInt(keyId).array();
  }
}
