package dev.clawfs.mount;

import com.sun.security.auth.module.UnixSystem;

/** The invoking user's ids (owner of a new vault's root directory). */
final class Identity {
  private static final UnixSystem UNIX = new UnixSystem();

  static int uid() {
    return (int) UNIX.getUid();
  }

  static int gid() {
    return (int) UNIX.getGid();
  }

  private Identity() {}
}
