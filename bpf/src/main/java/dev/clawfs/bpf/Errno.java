package dev.clawfs.bpf;

import java.util.Map;

/** Linux errno names, for status lines and audit lines that a person reads. */
final class Errno {
  static final int EPERM = 1;
  static final int EINTR = 4;

  private static final Map<Integer, String> NAMES = Map.ofEntries(
      Map.entry(1, "EPERM"), Map.entry(2, "ENOENT"), Map.entry(3, "ESRCH"), Map.entry(4, "EINTR"),
      Map.entry(5, "EIO"), Map.entry(6, "ENXIO"), Map.entry(7, "E2BIG"), Map.entry(8, "ENOEXEC"), Map.entry(9, "EBADF"),
      Map.entry(11, "EAGAIN"), Map.entry(12, "ENOMEM"), Map.entry(13, "EACCES"), Map.entry(14, "EFAULT"),
      Map.entry(16, "EBUSY"), Map.entry(17, "EEXIST"), Map.entry(19, "ENODEV"), Map.entry(20, "ENOTDIR"),
      Map.entry(21, "EISDIR"), Map.entry(22, "EINVAL"), Map.entry(23, "ENFILE"), Map.entry(24, "EMFILE"),
      Map.entry(26, "ETXTBSY"), Map.entry(27, "EFBIG"), Map.entry(28, "ENOSPC"), Map.entry(30, "EROFS"),
      Map.entry(36, "ENAMETOOLONG"), Map.entry(38, "ENOSYS"), Map.entry(40, "ELOOP"), Map.entry(75, "EOVERFLOW"),
      Map.entry(88, "ENOTSOCK"), Map.entry(93, "EPROTONOSUPPORT"), Map.entry(95, "EOPNOTSUPP"),
      Map.entry(97, "EAFNOSUPPORT"), Map.entry(98, "EADDRINUSE"), Map.entry(99, "EADDRNOTAVAIL"),
      Map.entry(100, "ENETDOWN"), Map.entry(101, "ENETUNREACH"), Map.entry(104, "ECONNRESET"),
      Map.entry(106, "EISCONN"), Map.entry(107, "ENOTCONN"), Map.entry(110, "ETIMEDOUT"),
      Map.entry(111, "ECONNREFUSED"), Map.entry(113, "EHOSTUNREACH"), Map.entry(114, "EALREADY"),
      Map.entry(115, "EINPROGRESS"), Map.entry(512, "ERESTARTSYS"), Map.entry(513, "ERESTARTNOINTR"),
      Map.entry(514, "ERESTARTNOHAND"), Map.entry(516, "ERESTART_RESTARTBLOCK"), Map.entry(524, "ENOTSUPP"));

  /** "ENOENT" for 2 or -2; "errno 300" for what the table lacks. */
  static String name(int errno) {
    int e = Math.abs(errno);
    return NAMES.getOrDefault(e, "errno " + e);
  }

  private Errno() {}
}
