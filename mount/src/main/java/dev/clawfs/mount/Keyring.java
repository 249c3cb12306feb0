package dev.clawfs.mount;

import java.util.Arrays;
import java.util.HexFormat;
import jnr.ffi.LibraryLoader;
import jnr.ffi.Runtime;
import jnr.ffi.annotations.In;
import jnr.ffi.annotations.Out;
import jnr.ffi.types.size_t;

/**
 * A vault's unlocked keyset kept in the kernel keyring (keyrings(7)), through libkeyutils
 * ({@code libkeyutils.so.1}, Debian's libkeyutils1) and jnr-ffi.
 *
 * <p>One key per vault: type {@code user}, description {@code clawfs:<vault id, hex>}, in the
 * user keyring of the calling uid ({@code @u}). Why {@code @u}: the server runs in a session of
 * its own ({@code setsid}), a systemd unit gets a private session keyring, and a remount after a
 * crash comes from yet another process; the user keyring is the one place all processes of the
 * uid find, and it outlives any one of them. Permissions: the possessor everything, the owning uid
 * view, read and search (so a process of that uid whose session keyring does not link {@code @u}
 * can still find and read it), group and others nothing. The kernel removes the key when its
 * timeout passes; a reboot loses it.
 *
 * <p>A new key is made in the process keyring, given its permissions and timeout, and only then
 * linked into {@code @u} (replacing an older key of the same description) and unlinked from the
 * process keyring: if the process dies half-way, the process keyring dies with it, so a key
 * without its timeout is never left behind.
 */
final class Keyring {
  static final int KEY_SPEC_PROCESS_KEYRING = -2;
  static final int KEY_SPEC_USER_KEYRING = -4;
  /** Possessor: all; user: view, read, search; group, other: nothing. */
  static final int PERMISSIONS = 0x3f000000 | 0x00010000 | 0x00020000 | 0x00080000;
  /** User keys hold at most 32767 bytes. */
  private static final int MAX_PAYLOAD = 32767;
  private static final int ENOKEY = 126;
  private static final int EKEYEXPIRED = 127;
  private static final int EKEYREVOKED = 128;

  /** The libkeyutils calls used, bound by jnr-ffi. */
  public interface KeyUtils {
    int add_key(String type, String description, @In byte[] payload, @size_t long plen, int keyring);

    long keyctl_search(int keyring, String type, String description, int destination);

    long keyctl_read(int key, @Out byte[] buffer, @size_t long buflen);

    long keyctl_setperm(int key, int perm);

    long keyctl_set_timeout(int key, int timeout);

    long keyctl_link(int key, int keyring);

    long keyctl_unlink(int key, int keyring);

    long keyctl_invalidate(int key);
  }

  /** A keyring call failed for a reason other than "no such key". */
  static final class KeyringException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    KeyringException(String message) {
      super(message);
    }
  }

  private static volatile KeyUtils lib;
  private static volatile String unavailable;

  private Keyring() {}

  /** Null when the keyring can be used; else why not (libkeyutils missing, keyctl refused). */
  static String unavailableReason() {
    load();
    return unavailable;
  }

  private static KeyUtils load() {
    KeyUtils local = lib;
    if (local != null || unavailable != null) {
      return local;
    }
    synchronized (Keyring.class) {
      if (lib == null && unavailable == null) {
        try {
          KeyUtils k = LibraryLoader.create(KeyUtils.class).failImmediately().load("libkeyutils.so.1");
          // a search that finds nothing proves the syscalls work (a seccomp filter may refuse them)
          if (k.keyctl_search(KEY_SPEC_USER_KEYRING, "user", "clawfs:probe", 0) < 0 && errno() == 38) {
            unavailable = "the kernel refuses keyctl (ENOSYS: no key support, or a seccomp filter)";
          } else {
            lib = k;
          }
        } catch (UnsatisfiedLinkError e) {
          unavailable = "libkeyutils.so.1 is not installed (Debian package libkeyutils1)";
        }
      }
      return lib;
    }
  }

  private static KeyUtils lib() {
    KeyUtils k = load();
    if (k == null) {
      throw new KeyringException("the kernel keyring cannot be used: " + unavailable);
    }
    return k;
  }

  /** The key's description for a vault: {@code clawfs:} and the vault id in hex. */
  static String description(byte[] vaultId) {
    return "clawfs:" + HexFormat.of().formatHex(vaultId);
  }

  /** The serial of the vault's key in {@code @u}, or 0 when there is none (or it has expired). */
  static int find(byte[] vaultId) {
    long serial = lib().keyctl_search(KEY_SPEC_USER_KEYRING, "user", description(vaultId), 0);
    if (serial < 0) {
      int err = errno();
      if (err == ENOKEY || err == EKEYEXPIRED || err == EKEYREVOKED) {
        return 0;
      }
      throw new KeyringException("keyctl search failed (errno " + err + ")");
    }
    return (int) serial;
  }

  /** The vault's kept payload, or null when there is none. The caller wipes it. */
  static byte[] read(byte[] vaultId) {
    int serial = find(vaultId);
    if (serial == 0) {
      return null;
    }
    byte[] buf = new byte[MAX_PAYLOAD];
    try {
      long n = lib().keyctl_read(serial, buf, buf.length);
      if (n < 0) {
        int err = errno();
        if (err == ENOKEY || err == EKEYEXPIRED || err == EKEYREVOKED) {
          return null; // expired between the search and the read
        }
        throw new KeyringException("keyctl read failed (errno " + err + ")");
      }
      if (n > buf.length) {
        throw new KeyringException("the kept key is larger than a user key can be");
      }
      return Arrays.copyOf(buf, (int) n);
    } finally {
      Arrays.fill(buf, (byte) 0);
    }
  }

  /**
   * Keeps a payload for the vault for {@code timeoutSeconds}, replacing an older one. Built in
   * the process keyring first, so it is never in {@code @u} without its permissions and timeout.
   */
  static void keep(byte[] vaultId, byte[] payload, int timeoutSeconds) {
    if (timeoutSeconds <= 0) {
      throw new IllegalArgumentException("a kept key needs a timeout");
    }
    KeyUtils k = lib();
    int serial = k.add_key("user", description(vaultId), payload, payload.length, KEY_SPEC_PROCESS_KEYRING);
    if (serial < 0) {
      throw new KeyringException("add_key failed (errno " + errno() + ")");
    }
    try {
      check(k.keyctl_setperm(serial, PERMISSIONS), "setperm");
      check(k.keyctl_set_timeout(serial, timeoutSeconds), "set_timeout");
      check(k.keyctl_link(serial, KEY_SPEC_USER_KEYRING), "link into the user keyring");
    } catch (KeyringException e) {
      k.keyctl_invalidate(serial);
      throw e;
    } finally {
      k.keyctl_unlink(serial, KEY_SPEC_PROCESS_KEYRING);
    }
  }

  /** Drops the vault's key (invalidated: unusable at once, removed by the kernel). True if there was one. */
  static boolean drop(byte[] vaultId) {
    boolean any = false;
    // a key can also be linked twice (a race of two keeps): drop until none is found
    for (int serial = find(vaultId), i = 0; serial != 0 && i < 16; serial = find(vaultId), i++) {
      if (lib().keyctl_invalidate(serial) < 0) {
        int err = errno();
        if (err != ENOKEY && err != EKEYEXPIRED && err != EKEYREVOKED) {
          throw new KeyringException("keyctl invalidate failed (errno " + err + ")");
        }
      }
      any = true;
    }
    return any;
  }

  /** Like {@link #drop} where a failure must not stop the caller; says what happened, if anything. */
  static String dropQuietly(byte[] vaultId) {
    try {
      return unavailableReason() == null && drop(vaultId) ? "dropped the key kept in the kernel keyring" : null;
    } catch (KeyringException e) {
      return "could not drop the key kept in the kernel keyring: " + e.getMessage();
    }
  }

  private static void check(long rc, String what) {
    if (rc < 0) {
      throw new KeyringException("keyctl " + what + " failed (errno " + errno() + ")");
    }
  }

  private static int errno() {
    return Runtime.getSystemRuntime().getLastError();
  }
}
