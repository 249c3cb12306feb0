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
import java.security.Key;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
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
 *                "sealed" : base64(nonce(12) || ciphertext || tag(16)) },
 *   "recovery" : { ... }                       (optional: see {@link RecoverySlot})
 * }
 * </pre>
 *
 * The associated data of the keyset seals is a canonical encoding of every other field (see
 * docs/vault-format.md), so altering the parameters, salt, vault id or recovery slot makes
 * unlocking fail. Unknown or duplicate fields are refused, as they would not be covered by the
 * tag.
 *
 * <p>Every rewrite of an existing header goes through one method, {@code rewrite}, which also
 * re-seals the recovery slot for the keyset being written; new code that changes the keyset or
 * the passphrase must call it too.
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
   * atomically (temp file, fsync, link or rename, fsync directory). A new vault has no recovery
   * slot.
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
    byte[] json = encode(vaultId, keyset, passphrase, params, null);
    write(vaultDir, json, null);
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
   * Like {@link #unlock(Path, char[])}, but returns the keyset in a form that can be kept (in the
   * kernel keyring) and opened later with {@link #unlock(Path, UnlockedKeyset)} while this header
   * stays as it is. Never writes.
   */
  public static UnlockedKeyset unlockKeepable(Path vaultDir, char[] passphrase) {
    byte[] header = read(vaultDir);
    HeaderFields f = HeaderFields.parse(header);
    byte[] plain = Keysets.serialize(openKeyset(f, passphrase));
    try {
      return UnlockedKeyset.of(f.vaultId(), sha256(header), plain);
    } finally {
      Arrays.fill(plain, (byte) 0);
    }
  }

  /**
   * The key hierarchy from a kept keyset, without the passphrase. Never writes.
   *
   * @throws StaleKeysetException if it belongs to another vault, or the header has been rewritten
   *     since it was unlocked (its keyset may have changed); the caller should forget it
   */
  public static MasterKeys unlock(Path vaultDir, UnlockedKeyset kept) {
    byte[] header = read(vaultDir);
    HeaderFields f = HeaderFields.parse(header);
    if (!MessageDigest.isEqual(f.vaultId(), kept.vaultId())) {
      throw new StaleKeysetException("the kept keyset belongs to another vault");
    }
    if (!MessageDigest.isEqual(sha256(header), kept.headerDigest())) {
      throw new StaleKeysetException("the vault header has been rewritten since the keyset was kept"
          + " (a passphrase change, key rotation or new recovery key)");
    }
    byte[] plain = kept.keyset();
    try {
      return Keysets.toMasterKeys(Keysets.parse(plain), f.vaultId());
    } catch (VaultFormatException e) {
      throw new StaleKeysetException("the kept keyset is not a valid keyset");
    } finally {
      Arrays.fill(plain, (byte) 0);
    }
  }

  /** The vault's 16-byte id, read from the header without unlocking it (it is not secret). */
  public static byte[] vaultId(Path vaultDir) {
    return HeaderFields.parse(read(vaultDir)).vaultId();
  }

  /** Whether the header holds a recovery slot (a recovery key has been exported). */
  public static boolean hasRecoveryKey(Path vaultDir) {
    return HeaderFields.parse(read(vaultDir)).recovery() != null;
  }

  /**
   * Adds a new random master key to the keyset and makes it primary; older keys stay usable for
   * data sealed under them. Rewrites the header atomically with the same passphrase, parameters
   * and vault id (a new salt and nonce); a recovery slot is re-sealed for the new keyset, so the
   * recovery key stays valid. Returns the new key hierarchy.
   */
  public static MasterKeys rotate(Path vaultDir, char[] passphrase) {
    byte[] header = read(vaultDir);
    HeaderFields f = HeaderFields.parse(header);
    KeysetHandle opened = openKeyset(f, passphrase);
    KeysetHandle rotated = Keysets.withNewPrimary(opened);
    rewrite(vaultDir, header, f, opened, rotated, passphrase, f.kdf(), null);
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
    byte[] header = read(vaultDir);
    HeaderFields f = HeaderFields.parse(header);
    KeysetHandle opened = openKeyset(f, oldPassphrase);
    KeysetHandle rotated = Keysets.withNewPrimary(opened);
    rewrite(vaultDir, header, f, opened, rotated, newPassphrase, params == null ? f.kdf() : params, null);
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
    byte[] header = read(vaultDir);
    HeaderFields f = HeaderFields.parse(header);
    KeysetHandle opened = openKeyset(f, passphrase);
    KeysetHandle smaller = Keysets.without(opened, keyId);
    rewrite(vaultDir, header, f, opened, smaller, passphrase, f.kdf(), null);
    return Keysets.toMasterKeys(smaller, f.vaultId());
  }

  /**
   * Re-seals the keyset under a new passphrase and KDF parameters (fresh salt); the master keys,
   * and so all data, stay as they are, and so does the recovery key if there is one.
   *
   * @throws WrongPassphraseException if the old passphrase is wrong (nothing is written)
   */
  public static void changePassphrase(Path vaultDir, char[] oldPassphrase, char[] newPassphrase,
      KdfParams params) {
    byte[] header = read(vaultDir);
    HeaderFields f = HeaderFields.parse(header);
    KeysetHandle keyset = openKeyset(f, oldPassphrase);
    rewrite(vaultDir, header, f, keyset, keyset, newPassphrase, params, null);
  }

  /**
   * Makes a new recovery key and (re)writes the header's recovery slot for it; the header keeps
   * its passphrase, parameters and keyset. A previous recovery key stops working. The caller
   * shows the words to the user once and destroys the key.
   *
   * @throws WrongPassphraseException if the passphrase is wrong (nothing is written)
   */
  public static RecoveryKey exportRecoveryKey(Path vaultDir, char[] passphrase) {
    byte[] header = read(vaultDir);
    HeaderFields f = HeaderFields.parse(header);
    KeysetHandle keyset = openKeyset(f, passphrase);
    RecoveryKey key = RecoveryKey.generate();
    byte[] kek = key.kek(f.vaultId());
    try {
      rewrite(vaultDir, header, f, keyset, keyset, passphrase, f.kdf(), kek);
      return key;
    } catch (RuntimeException e) {
      key.destroy();
      throw e;
    } finally {
      Arrays.fill(kek, (byte) 0);
    }
  }

  /**
   * Checks that the recovery key opens the vault's recovery slot, so a command can say so before
   * it asks for a new passphrase. Never writes.
   *
   * @throws WrongRecoveryKeyException if the vault has no recovery slot or the key does not open it
   */
  public static void checkRecoveryKey(Path vaultDir, RecoveryKey key) {
    HeaderFields f = HeaderFields.parse(read(vaultDir));
    Keysets.toMasterKeys(openWithRecoveryKey(f, key), f.vaultId()).destroy();
  }

  /**
   * Opens the keyset with the recovery key and seals it under a new passphrase (same KDF
   * parameters, fresh salt). The recovery key stays valid; the old passphrase stops working.
   *
   * @throws WrongRecoveryKeyException if the vault has no recovery slot, or the key does not open
   *     it (an older key, or an altered header); nothing is written
   */
  public static void recover(Path vaultDir, RecoveryKey key, char[] newPassphrase) {
    byte[] header = read(vaultDir);
    HeaderFields f = HeaderFields.parse(header);
    KeysetHandle keyset = openWithRecoveryKey(f, key);
    rewrite(vaultDir, header, f, keyset, keyset, newPassphrase, f.kdf(), null);
  }

  // ---- sealing ----

  /**
   * Every rewrite of an existing header goes through here, so the recovery slot never goes
   * stale: it seals {@code next} under the passphrase and, when the header has a recovery slot
   * (or {@code newRecoveryKek} makes one), seals {@code next} under the recovery KEK too. The
   * existing slot's KEK is opened with {@code opened}, the keyset just authenticated from
   * {@code header}, so keys that {@code next} drops or retires do not matter; it is re-sealed
   * under {@code next}'s primary.
   *
   * @param header the header bytes being replaced; if the file no longer holds them when the new
   *     one is about to take its place (another writer), nothing is written
   * @param newRecoveryKek a new recovery KEK (export), or null to keep the current slot, if any
   */
  private static void rewrite(Path vaultDir, byte[] header, HeaderFields current, KeysetHandle opened,
      KeysetHandle next, char[] passphrase, KdfParams params, byte[] newRecoveryKek) {
    byte[] kek = newRecoveryKek != null ? newRecoveryKek.clone()
        : current.recovery() == null ? null : openRecoveryKek(current, opened);
    try {
      write(vaultDir, encode(current.vaultId(), next, passphrase, params, kek), header);
    } finally {
      if (kek != null) {
        Arrays.fill(kek, (byte) 0);
      }
    }
  }

  /** The header's JSON: the keyset sealed under the passphrase and, given a recovery KEK, under it. */
  private static byte[] encode(byte[] vaultId, KeysetHandle keyset, char[] passphrase, KdfParams params,
      byte[] recoveryKek) {
    byte[] salt = Rng.bytes(SALT_SIZE);
    byte[] plain = Keysets.serialize(keyset);
    byte[] kek = null;
    try {
      RecoverySlot slot = recoveryKek == null ? null : sealRecoveryKek(vaultId, keyset, recoveryKek);
      byte[] aad = HeaderFields.associatedData(vaultId, params, salt, slot);
      if (slot != null) {
        slot = slot.withSealedKeyset(seal(new SecretKeySpec(recoveryKek, "AES"), plain, aad));
      }
      kek = Argon2.deriveKek(passphrase, salt, params);
      byte[] sealed = seal(new SecretKeySpec(kek, "AES"), plain, aad);
      return new HeaderFields(vaultId, params, salt, sealed, slot).toJson();
    } finally {
      if (kek != null) {
        Arrays.fill(kek, (byte) 0);
      }
      Arrays.fill(plain, (byte) 0);
    }
  }

  /** A slot whose KEK is sealed under the keyset's primary RECOVERY_SLOT subkey (keyset not yet sealed). */
  private static RecoverySlot sealRecoveryKek(byte[] vaultId, KeysetHandle keyset, byte[] recoveryKek) {
    MasterKeys keys = Keysets.toMasterKeys(keyset, vaultId);
    try {
      int keyId = keys.primaryKeyId();
      byte[] sealedKek = seal(keys.subkey(keyId, KeyPurpose.RECOVERY_SLOT), recoveryKek,
          RecoverySlot.kekAssociatedData(vaultId, keyId));
      return new RecoverySlot(keyId, sealedKek, null);
    } finally {
      keys.destroy();
    }
  }

  /** The current slot's recovery KEK, opened with a subkey of the keyset it was sealed under. */
  private static byte[] openRecoveryKek(HeaderFields f, KeysetHandle opened) {
    RecoverySlot slot = f.recovery();
    MasterKeys keys = Keysets.toMasterKeys(opened, f.vaultId());
    try {
      return open(keys.subkey(slot.keyId(), KeyPurpose.RECOVERY_SLOT), slot.sealedKek(),
          RecoverySlot.kekAssociatedData(f.vaultId(), slot.keyId()));
    } catch (IllegalArgumentException e) {
      throw new CryptoException("cannot re-seal the recovery slot: its master key (id "
          + Integer.toUnsignedString(slot.keyId()) + ") is not an enabled key of the keyset", e);
    } catch (AEADBadTagException e) {
      throw new CryptoException("cannot re-seal the recovery slot: its key does not authenticate", e);
    } finally {
      keys.destroy();
    }
  }

  private static KeysetHandle openKeyset(HeaderFields f, char[] passphrase) {
    byte[] kek = Argon2.deriveKek(passphrase, f.salt(), f.kdf());
    byte[] plain = null;
    try {
      plain = open(new SecretKeySpec(kek, "AES"), f.sealedKeyset(), f.associatedData());
      return Keysets.parse(plain);
    } catch (AEADBadTagException e) {
      throw new WrongPassphraseException("wrong passphrase (or the header was altered)");
    } finally {
      Arrays.fill(kek, (byte) 0);
      if (plain != null) {
        Arrays.fill(plain, (byte) 0);
      }
    }
  }

  private static KeysetHandle openWithRecoveryKey(HeaderFields f, RecoveryKey key) {
    RecoverySlot slot = f.recovery();
    if (slot == null) {
      throw new WrongRecoveryKeyException("this vault has no recovery key (none was ever exported)");
    }
    byte[] kek = key.kek(f.vaultId());
    byte[] plain = null;
    try {
      plain = open(new SecretKeySpec(kek, "AES"), slot.sealedKeyset(), f.associatedData());
      return Keysets.parse(plain);
    } catch (AEADBadTagException e) {
      throw new WrongRecoveryKeyException("this recovery key does not open the vault: it is another vault's, or"
          + " an older one replaced by a later export (or the header was altered)");
    } finally {
      Arrays.fill(kek, (byte) 0);
      if (plain != null) {
        Arrays.fill(plain, (byte) 0);
      }
    }
  }

  /** {@code nonce(12) || AES-256-GCM(key, nonce, plain, aad) || tag(16)} with a random nonce. */
  private static byte[] seal(Key key, byte[] plain, byte[] aad) {
    byte[] sealed = new byte[plain.length + Gcm.OVERHEAD];
    Rng.nonce(sealed, 0);
    Gcm.seal(Gcm.cipher(), key, sealed, 0, aad, 0, aad.length, plain, 0, plain.length, sealed, 0);
    return sealed;
  }

  /** Opens a {@link #seal} result; on a tag failure the partial output is wiped. */
  private static byte[] open(Key key, byte[] sealed, byte[] aad) throws AEADBadTagException {
    byte[] plain = new byte[sealed.length - Gcm.OVERHEAD];
    try {
      Gcm.open(Gcm.cipher(), key, aad, 0, aad.length, sealed, 0, sealed.length, plain, 0);
      return plain;
    } catch (AEADBadTagException | RuntimeException e) {
      Arrays.fill(plain, (byte) 0);
      throw e;
    }
  }

  private static byte[] sha256(byte[] data) {
    try {
      return MessageDigest.getInstance("SHA-256").digest(data);
    } catch (NoSuchAlgorithmException e) {
      throw new CryptoException("SHA-256 is not available in this JDK", e);
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
   * (every rewrite), then fsync of the directory so the new name is durable.
   *
   * @param replaced null for a new vault; for a rewrite, the bytes the file held when they were
   *     read: if another writer has replaced them since, nothing is written (its change would be
   *     lost, for example a new recovery slot). The check and the rename are not one atomic step,
   *     so this narrows the race between two rewriting commands to microseconds, no more.
   */
  private static void write(Path vaultDir, byte[] content, byte[] replaced) {
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
      if (replaced != null) {
        if (!Arrays.equals(replaced, read(vaultDir))) {
          throw new CryptoException("the vault header was changed by another command while this one ran;"
              + " nothing was written: run it again");
        }
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
