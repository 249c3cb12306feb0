package dev.clawfs.fuse;

/** Linux errno values used by the core; the FUSE adapter returns their negatives. */
public final class Errno {
  public static final int EPERM = 1;
  public static final int ENOENT = 2;
  public static final int EINTR = 4;
  public static final int EIO = 5;
  public static final int EBADF = 9;
  public static final int ENOMEM = 12;
  public static final int EAGAIN = 11;
  public static final int EACCES = 13;
  public static final int EBUSY = 16;
  public static final int EEXIST = 17;
  public static final int EXDEV = 18;
  public static final int ENOTDIR = 20;
  public static final int EISDIR = 21;
  public static final int EINVAL = 22;
  public static final int EFBIG = 27;
  public static final int ENOSPC = 28;
  public static final int EROFS = 30;
  public static final int EMLINK = 31;
  public static final int EPIPE = 32;
  public static final int ERANGE = 34;
  public static final int ENAMETOOLONG = 36;
  public static final int ENOSYS = 38;
  public static final int ENOTEMPTY = 39;
  public static final int ELOOP = 40;
  public static final int ENODATA = 61;
  public static final int ETIME = 62;
  public static final int ENOTSUP = 95;

  private static final String[] NAMES = new String[96];

  static {
    for (java.lang.reflect.Field f : Errno.class.getFields()) {
      try {
        NAMES[f.getInt(null)] = f.getName();
      } catch (IllegalAccessException e) {
        throw new IllegalStateException(e);
      }
    }
  }

  /** The symbolic name of an errno ("EACCES"), or "errno N" for one not listed here. */
  public static String name(int errno) {
    String n = errno >= 0 && errno < NAMES.length ? NAMES[errno] : null;
    return n != null ? n : "errno " + errno;
  }

  private Errno() {}
}
