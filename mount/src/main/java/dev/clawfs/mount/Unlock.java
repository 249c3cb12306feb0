package dev.clawfs.mount;

import dev.clawfs.crypto.MasterKeys;
import dev.clawfs.crypto.StaleKeysetException;
import dev.clawfs.crypto.UnlockedKeyset;
import dev.clawfs.crypto.VaultHeader;
import java.lang.System.Logger.Level;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.function.Consumer;

/**
 * How a server gets the vault's keys: from the passphrase, or from the keyset kept in the kernel
 * keyring ({@link Keyring}); and whether it keeps the keyset there once the mount is up.
 *
 * <p>A kept keyset is used only if it is this vault's and the header has not been rewritten
 * since ({@link VaultHeader#unlock(Path, UnlockedKeyset)}), and only if the metadata opens with
 * it; otherwise it is dropped and {@link Stale} tells the caller to ask for the passphrase.
 */
final class Unlock {
  private static final System.Logger LOG = System.getLogger("clawfs.keyring");
  /** Longest keyring timeout accepted: a year (the keyring has no "forever" here by design). */
  static final long MAX_TIMEOUT = 365L * 24 * 3600;

  private final char[] passphrase;
  private final long keepSeconds;
  private UnlockedKeyset kept;
  private byte[] vaultId;

  private Unlock(char[] passphrase, long keepSeconds) {
    this.passphrase = passphrase;
    this.keepSeconds = keepSeconds;
  }

  /** Unlock with the passphrase (taken over and wiped); keep the keyset for keepSeconds if above 0. */
  static Unlock passphrase(char[] passphrase, long keepSeconds) {
    return new Unlock(passphrase, keepSeconds);
  }

  /** Unlock with the kept keyset; keep it again for keepSeconds (from now) if above 0. */
  static Unlock keyring(long keepSeconds) {
    return new Unlock(null, keepSeconds);
  }

  /** A copy of the passphrase for the caller to keep (and wipe), or null when unlocking from the keyring. */
  char[] passphraseCopy() {
    return passphrase == null ? null : passphrase.clone();
  }

  boolean fromKeyring() {
    return passphrase == null;
  }

  /**
   * Whether the kernel keyring holds a key for this vault that fits its header. Checked here,
   * where it is cheap, so that a stale key (another vault's, or kept before the header was
   * rewritten) costs no server start: it is dropped and {@code notes} hears why. The server
   * checks again, and also that the metadata opens with it.
   */
  static boolean kept(Path vault, Consumer<String> notes) {
    if (Keyring.unavailableReason() != null) {
      return false;
    }
    byte[] vaultId = VaultHeader.vaultId(vault);
    byte[] payload;
    try {
      payload = Keyring.read(vaultId);
    } catch (Keyring.KeyringException e) {
      notes.accept("cannot read the kernel keyring: " + e.getMessage());
      return false;
    }
    if (payload == null) {
      return false;
    }
    UnlockedKeyset kept = null;
    try {
      kept = UnlockedKeyset.fromPayload(payload);
      VaultHeader.unlock(vault, kept).destroy();
      return true;
    } catch (StaleKeysetException e) {
      String dropped = Keyring.dropQuietly(vaultId);
      notes.accept("the key kept in the kernel keyring does not fit the vault: " + e.getMessage()
          + (dropped == null ? "" : "; " + dropped));
      return false;
    } finally {
      Arrays.fill(payload, (byte) 0);
      if (kept != null) {
        kept.destroy();
      }
    }
  }

  /**
   * The vault's keys.
   *
   * @throws Stale when unlocking from the keyring and the kept key is gone, another vault's or
   *     stale (it is dropped)
   */
  MasterKeys open(Path vault) {
    vaultId = VaultHeader.vaultId(vault);
    if (passphrase != null) {
      try {
        if (keepSeconds > 0) {
          kept = VaultHeader.unlockKeepable(vault, passphrase);
          return VaultHeader.unlock(vault, kept);
        }
        return VaultHeader.unlock(vault, passphrase);
      } finally {
        Arrays.fill(passphrase, '\0');
      }
    }
    byte[] payload;
    try {
      payload = Keyring.read(vaultId);
    } catch (Keyring.KeyringException e) {
      throw new Stale("cannot read the kernel keyring: " + e.getMessage());
    }
    if (payload == null) {
      throw new Stale("the key kept in the kernel keyring has expired or was dropped");
    }
    try {
      kept = UnlockedKeyset.fromPayload(payload);
      return VaultHeader.unlock(vault, kept);
    } catch (StaleKeysetException e) {
      throw rejected(e.getMessage());
    } finally {
      Arrays.fill(payload, (byte) 0);
    }
  }

  /**
   * The vault did not open with the keys {@link #open} gave. From the keyring: the kept key is
   * dropped and {@link Stale} returned for the caller to throw (the passphrase may still open
   * it, or say what is wrong); from a passphrase: null, the caller reports the failure as usual.
   */
  Stale rejectedBy(Exception e) {
    return fromKeyring() ? rejected("the vault's metadata does not open with it (" + ClawfsCli.messageOf(e) + ")") : null;
  }

  private Stale rejected(String why) {
    destroyKept();
    String dropped = Keyring.dropQuietly(vaultId);
    return new Stale("the key kept in the kernel keyring does not fit the vault: " + why
        + (dropped == null ? "" : "; " + dropped));
  }

  /**
   * Once mounted: keeps the keyset in the keyring if asked to, and wipes what this object holds.
   * Returns a line for the user (null if there is nothing to say); a failure to keep the key
   * does not fail the mount.
   */
  String mounted() {
    try {
      if (keepSeconds <= 0 || kept == null) {
        return null;
      }
      byte[] payload = kept.payload();
      try {
        Keyring.keep(vaultId, payload, (int) Math.min(keepSeconds, MAX_TIMEOUT));
      } catch (Keyring.KeyringException e) {
        LOG.log(Level.WARNING, "could not keep the key in the kernel keyring: {0}", e.getMessage());
        return "could not keep the key in the kernel keyring: " + e.getMessage();
      } finally {
        Arrays.fill(payload, (byte) 0);
      }
      LOG.log(Level.INFO, "kept the vault key in the kernel keyring for {0} s", keepSeconds);
      return "kept the vault key in the kernel keyring for " + keepSeconds + " s: a remount until then needs no"
          + " passphrase; `clawfs lock VAULT` drops it";
    } finally {
      wipe();
    }
  }

  /** Wipes the passphrase and the kept keyset; idempotent. */
  void wipe() {
    if (passphrase != null) {
      Arrays.fill(passphrase, '\0');
    }
    destroyKept();
  }

  private void destroyKept() {
    if (kept != null) {
      kept.destroy();
      kept = null;
    }
  }

  /**
   * The key kept in the keyring cannot be used (gone, another vault's, stale, or the metadata
   * refuses it): the mount goes on by asking for the passphrase.
   */
  static final class Stale extends RuntimeException {
    private static final long serialVersionUID = 1L;

    Stale(String message) {
      super(message);
    }
  }
}
