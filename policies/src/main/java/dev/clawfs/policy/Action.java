package dev.clawfs.policy;

import java.util.Locale;

/**
 * What a caller does to a path. The FUSE layer maps each operation to one action; a rename is
 * {@link #DELETE} on the source and {@link #CREATE} on the target, both checked.
 */
public enum Action {
  /** open for reading, readlink, getxattr, listxattr. */
  READ,
  /** open for writing, truncate, chmod, chown, utimens, setxattr, removexattr. */
  WRITE,
  /** readdir. */
  LIST,
  /** create, mkdir, mknod, symlink, the new name of a link. */
  CREATE,
  /** unlink, rmdir. */
  DELETE;

  private static final Action[] ALL = values();

  /** The name used in policy files: {@code read}, {@code write}, ... */
  public String id() {
    return name().toLowerCase(Locale.ROOT);
  }

  /** The action named {@code id} in a policy file, or {@code null}. */
  static Action byId(String id) {
    for (Action a : ALL) {
      if (a.id().equals(id)) {
        return a;
      }
    }
    return null;
  }

  int bit() {
    return 1 << ordinal();
  }
}
