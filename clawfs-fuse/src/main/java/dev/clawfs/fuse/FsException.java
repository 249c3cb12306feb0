package dev.clawfs.fuse;

/**
 * A file-system operation failed with a specific errno. The one exception type the core throws
 * for expected failures; the FUSE adapter turns it into {@code -errno}.
 */
public final class FsException extends RuntimeException {
  private final int errno;

  public FsException(int errno, String message) {
    super(message, null, false, false);
    this.errno = errno;
  }

  public FsException(int errno, String message, Throwable cause) {
    super(message, cause, false, false);
    this.errno = errno;
  }

  public int errno() {
    return errno;
  }
}
