package dev.clawfs.mount;

import jnr.ffi.LibraryLoader;
import jnr.ffi.Runtime;
import jnr.ffi.types.size_t;
import jnr.ffi.types.ssize_t;

/** The libc calls the JDK does not offer: flock(2) on a directory, and a datagram to a UNIX socket. */
final class Libc {
  static final int O_RDONLY = 0;
  static final int O_DIRECTORY = 0200000;
  static final int O_CLOEXEC = 02000000;
  static final int LOCK_EX = 2;
  static final int LOCK_NB = 4;
  static final int AF_UNIX = 1;
  static final int SOCK_DGRAM = 2;
  static final int SOCK_CLOEXEC = 02000000;
  static final int MSG_NOSIGNAL = 0x4000;
  static final int EWOULDBLOCK = 11;

  /** Bound by jnr-ffi. */
  public interface C {
    int open(String path, int flags);

    int close(int fd);

    int flock(int fd, int operation);

    int socket(int domain, int type, int protocol);

    @ssize_t
    long sendto(int fd, byte[] buf, @size_t long len, int flags, byte[] addr, int addrlen);
  }

  private static volatile C c;

  static C c() {
    C local = c;
    if (local == null) {
      local = LibraryLoader.create(C.class).load("c");
      c = local;
    }
    return local;
  }

  static int errno() {
    return Runtime.getSystemRuntime().getLastError();
  }

  private Libc() {}
}
