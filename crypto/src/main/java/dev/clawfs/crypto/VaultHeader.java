package dev.clawfs.crypto;

import com.google.crypto.tink.KeysetHandle;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileAttribute;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Set;
import javax.crypto.AEADBadTagException;
import javax.crypto.spec.SecretKeySpec;

/**
 * The vault header, {@value #FILE_NAME} in the vault directory: a small JSON file holding the
 * Argon2id parameters and salt, the vault id, and the Tink keyset of master keys sealed with
 * AES-256-GCM under the key-encryption key (KEK) that Argon2id derives from the passphrase.
 *
 * <pre>
 * {
 *   "format" : "clawfs-vault",
 *   "version" : 1,
 *   "vaultId" : base64(16 random bytes),
 *   "kdf" : { "algorithm" : "argon2id", "memoryKiB" : 65536, "iterations" : 3,
 *             "parallelism" : 1, "salt" : base64(16 random bytes) },
 *   "keyset" : { "cipher" : "aes-256-gcm",
 *                "sealed" : base64(nonce(12) || ciphertext || tag(16)) }
 * }
 * </pre>
 *
 * The associated data of the keyset seal is a canonical encoding of every other field (see
 * docs/vault-format.md), so altering the parameters, salt or vault id makes unlocking fail.
 * Unknown or duplicate fields are refused, as they would not be covered by the tag.
 *
 * <p>I/O errors other than a missing header surface as {@link UncheckedIOException}.
 */
public final class VaultHeader {
  /** Name of the header file inside the vault directory. */
  public static final String FILE_NAME = "clawfs.vault";

  static final int VAULT_ID_SIZE = 16;
  static final int SALT_SIZE = 16;

  private VaultHeader() {}

  /** Whether the directory holds a vault header (it may still be invalid). */
  public static boolean exists(Path vaultDir) {
    return Files.exists(vaultDir.resolve(FILE_NAME), LinkOption.NOFOLLOW_LINKS);
  }

  /**
   * Creates a new vault: a keyset with one random primary AES-256 master key, a random vault id
   * and salt, sealed under the passphrase. Creates the directory if needed and writes the header
   * atomically (temp file, fsync, link or rename, fsync directory).
   *
   * @throws VaultFormatException if a header already exists (it is never overwritten)
   */
  public static MasterKeys create(Path vaultDir, char[] passphrase, KdfParams params) {
    Path target = vaultDir.resolve(FILE_NAME);
    if (Files.exists(target, LinkOption.NOFOLLOW_LINKS)) {
      throw alreadyExists(target);
    }
    byte[] vaultId = Rng.bytes(VAULT_ID_SIZE);
    KeysetHandle keyset = Keysets.generate();
    writeKeyset(vaultDir, keyset, vaultId, passphrase, params, false);
    return Keysets.toMasterKeys(keyset, vaultId);
  }

  /**
   * Reads the header, derives the KEK with Argon2id and unwraps the keyset. Never writes.
   *
   * @throws VaultFormatException if the header is missing, not JSON, of another format or
   *     version, or has invalid fields
   * @throws WrongPassphraseException if the keyset does not authenticate: a wrong passphrase, or
   *     an altered header
   */
  public static MasterKeys unlock(Path vaultDir, char[] passphrase) {
    HeaderFields f = HeaderFields.parse(read(vaultDir));
    return Keysets.toMasterKeys(openKeyset(f, passphrase), f.vaultId());
  }

  /**
   * Adds a new random master key to the keyset and makes it primary; older keys stay usable for
   * data sealed under them. Rewrites the header atomically with the same passphrase, parameters
   * and vault id (a new salt and nonce). Returns the new key hierarchy.
   */
  public static MasterKeys rotate(Path vaultDir, char[] passphrase) {
    HeaderFields f = HeaderFields.parse(read(vaultDir));
    KeysetHandle rotated = Keysets.withNewPrimary(openKeyset(f, passphrase));
    writeKeyset(vaultDir, rotated, f.vaultId(), passphrase, f.kdf(), true);
    return Keysets.toMasterKeys(rotated, f.vaultId());
  }

  /**
   * {@code clawfs passwd}: in one header write, re-seals the keyset under a new passphrase (fresh
   * salt, parameters {@code params}) AND adds a new primary master key, so a copy of the old
   * header, which still opens with the old passphrase, holds no key that seals data written from
   * now on. Old keys stay until {@link #retire} (after re-encryption). {@code params} null keeps
   * the header's KDF parameters. Returns the new hierarchy.
   *
   * @throws WrongPassphraseException if the old passphrase is wrong (nothing is written)
   */
  public static MasterKeys rotate(Path vaultDir, char[] oldPassphrase, char[] newPassphrase, KdfParams params) {
    HeaderFields f = HeaderFields.parse(read(vaultDir));
    KeysetHandle rotated = Keysets.withNewPrimary(openKeyset(f, oldPassphrase));
    writeKeyset(vaultDir, rotated, f.vaultId(), newPassphrase, params == null ? f.kdf() : params, true);
    return Keysets.toMasterKeys(rotated, f.vaultId());
  }

  /**
   * Removes the master key {@code keyId} from the keyset (the last step of a rekey, once nothing
   * in the vault is sealed under it) and rewrites the header atomically. Data that still names
   * the key becomes unreadable, so the caller must have verified that none does.
   *
   * @throws IllegalArgumentException if {@code keyId} is the primary or not in the keyset
   *     (nothing is written)
   */
  public static MasterKeys retire(Path vaultDir, char[] passphrase, int keyId) {
    HeaderFields f = HeaderFields.parse(read(vaultDir));
    KeysetHandle smaller = Keysets.without(openKeyset(f, passphrase), keyId);
    writeKeyset(vaultDir, smaller, f.vaultId(), passphrase, f.kdf(), true);
    return Keysets.toMasterKeys(smaller, f.vaultId());
  }

  /**
   * Re-seals the keyset under a new passphrase and KDF parameters (fresh salt); the master keys,
   * and so all data, stay as they are.
   *
   * @throws WrongPassphraseException if the old passphrase is wrong (nothing is written)
   */
  public static void changePassphrase(Path vaultDir, char[] oldPassphrase, char[] newPassphrase,
      KdfParams params) {
    HeaderFields f = HeaderFields.parse(read(vaultDir));
    KeysetHandle keyset = openKeyset(f, oldPassphrase);
    writeKeyset(vaultDir, keyset, f.vaultId(), newPassphrase, params, true);
  }

  // ---- sealing ----

  /**
   * The one place a keyset reaches the disk: sealed under the passphrase's KEK (fresh salt) and
   * written atomically. Every header write (create, rotate, retire, passphrase change) goes
   * through here, so a further sealed copy of the keyset (a recovery slot) has one place to hook in.
   */
  private static void writeKeyset(Path vaultDir, KeysetHandle keyset, byte[] vaultId, char[] passphrase,
      KdfParams params, boolean replace) {
    write(vaultDir, seal(keyset, vaultId, passphrase, params), replace);
  }

  private static byte[] seal(KeysetHandle keyset, byte[] vaultId, char[] passphrase, KdfParams params) {
    byte[] salt = Rng.bytes(SALT_SIZE);
    byte[] kek = Argon2.deriveKek(passphrase, salt, params);
    byte[] plain = Keysets.serialize(keyset);
    try {
      byte[] aad = HeaderFields.associatedData(vaultId, params, salt);
      byte[] sealed = new byte[plain.length + Gcm.OVERHEAD];
      Rng.nonce(sealed, 0);
      Gcm.seal(Gcm.cipher(), new SecretKeySpec(kek, "AES"), sealed, 0, aad, 0, aad.length,
          plain, 0, plain.length, sealed, 0);
      return new HeaderFields(vaultId, params, salt, sealed).toJson();
    } finally {
      Arrays.fill(kek, (byte) 0);
      Arrays.fill(plain, (byte) 0);
    }
  }

  private static KeysetHandle openKeyset(HeaderFields f, char[] passphrase) {
    byte[] sealed = f.sealedKeyset();
    byte[] kek = Argon2.deriveKek(passphrase, f.salt(), f.kdf());
    byte[] plain = new byte[sealed.length - Gcm.OVERHEAD];
    try {
      byte[] aad = f.associatedData();
      Gcm.open(Gcm.cipher(), new SecretKeySpec(kek, "AES"), aad, 0, aad.length,
          sealed, 0, sealed.length, plain, 0);
      return Keysets.parse(plain);
    } catch (AEADBadTagException e) {
      throw new WrongPassphraseException("wrong passphrase (or the header was altered)");
    } finally {
      Arrays.fill(kek, (byte) 0);
      Arrays.fill(plain, (byte) 0);
    }
  }

  // ---- files ----

  private static byte[] read(Path vaultDir) {
    Path file = vaultDir.resolve(FILE_NAME);
    try {
      return Files.readAllBytes(file);
    } catch (NoSuchFileException e) {
      throw new VaultFormatException("no vault header: " + file + " does not exist", e);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read vault header " + file, e);
    }
  }

  /**
   * Writes the header so that a crash leaves either the old file or the new one, never a torn
   * one: temp file, fsync, then a hard link (create, which must not replace) or an atomic rename
   * (rotate, passphrase change), then fsync of the directory so the new name is durable.
   */
  private static void write(Path vaultDir, byte[] content, boolean replace) {
    Path target = vaultDir.resolve(FILE_NAME);
    Path tmp = vaultDir.resolve(FILE_NAME + ".tmp-" + HexFormat.of().formatHex(Rng.bytes(8)));
    try {
      Files.createDirectories(vaultDir);
      try (FileChannel ch = FileChannel.open(tmp, Set.of(StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE),
          ownerOnly(vaultDir))) {
        ByteBuffer buf = ByteBuffer.wrap(content);
        while (buf.hasRemaining()) {
          ch.write(buf);
        }
        ch.force(true);
      }
      if (replace) {
        Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
      } else {
        publishNew(tmp, target);
      }
      fsyncDirectory(vaultDir);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write vault header " + target, e);
    } finally {
      try {
        Files.deleteIfExists(tmp);
      } catch (IOException ignored) {
        // A stray temp file holds only a sealed copy; nothing secret leaks and the next write works.
      }
    }
  }

  /** link(2) fails if the target exists, closing the race between the exists() check and here. */
  private static void publishNew(Path tmp, Path target) throws IOException {
    try {
      Files.createLink(target, tmp);
    } catch (FileAlreadyExistsException e) {
      throw alreadyExists(target);
    } catch (UnsupportedOperationException | IOException e) {
      // File systems without hard links: fall back to check-then-rename.
      if (Files.exists(target, LinkOption.NOFOLLOW_LINKS)) {
        throw alreadyExists(target);
      }
      try {
        Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
      } catch (AtomicMoveNotSupportedException notAtomic) {
        Files.move(tmp, target);
      }
    }
  }

  private static void fsyncDirectory(Path dir) throws IOException {
    try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
      ch.force(true);
    } catch (IOException e) {
      // Some platforms cannot open or sync a directory; Linux can, so only tolerate it elsewhere.
      if (System.getProperty("os.name", "").toLowerCase().contains("linux")) {
        throw e;
      }
    }
  }

  private static FileAttribute<?>[] ownerOnly(Path dir) {
    if (dir.getFileSystem().supportedFileAttributeViews().contains("posix")) {
      return new FileAttribute<?>[] {PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------"))};
    }
    return new FileAttribute<?>[0];
  }

  private static VaultFormatException alreadyExists(Path target) {
    return new VaultFormatException("a vault header already exists at " + target + "; refusing to overwrite it");
  }
}
