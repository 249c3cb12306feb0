package dev.clawfs.fuse;

import java.io.IOException;
import java.lang.System.Logger.Level;
import java.nio.file.Path;
import jnr.ffi.LibraryLoader;
import jnr.ffi.Runtime;

/** The few libc calls the JDK does not offer. */
final class Libc {
  private static final System.Logger LOG = System.getLogger("clawfs.libc");
  private static final int O_RDONLY = 0;
  private static final int O_DIRECTORY = 0200000;
  private static final int O_CLOEXEC = 02000000;

  /** Bound by jnr-ffi. */
  public interface C {
    int open(String path, int flags);

    int close(int fd);

    int syncfs(int fd);
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

  /** Makes everything written to one file system durable, in one call. */
  interface Syncer {
    void sync() throws IOException;
  }

  /** syncfs(2) on the file system holding {@code dir}: one call flushes every content file. */
  static Syncer syncer(Path dir) {
    return () -> {
      C lib = c();
      int fd = lib.open(dir.toString(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (fd < 0) {
        throw new IOException("open " + dir + " for syncfs failed, errno " + Runtime.getSystemRuntime().getLastError());
      }
      try {
        if (lib.syncfs(fd) != 0) {
          int err = Runtime.getSystemRuntime().getLastError();
          LOG.log(Level.ERROR, "syncfs failed, errno {0}", err);
          throw new IOException("syncfs failed, errno " + err);
        }
      } finally {
        lib.close(fd);
      }
    };
  }

  private Libc() {}
}
