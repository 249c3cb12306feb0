package dev.clawfs.bpf;

/**
 * One thing a watched process did, as the kernel saw it. Fields that do not apply to a kind are
 * empty strings and zeros.
 *
 * <ul>
 *   <li>{@link Kind#EXEC}: {@code path} is the program executed (as passed to execve), {@code args}
 *       its argv joined by spaces (first 256 bytes); {@code result} 0, or -errno for an execve that
 *       failed (then {@code args} is empty: each directory a PATH search tries is one event).
 *   <li>{@link Kind#OPEN}: {@code path} as the process passed it (relative to its working directory
 *       or dirfd when not absolute), {@code flags} the open flags, {@code result} the fd or -errno.
 *   <li>{@link Kind#CONNECT}: {@code protocol} ("tcp", "udp", ...), {@code address} and {@code port}
 *       of the peer, {@code result} 0 or -errno (-115, EINPROGRESS, for non-blocking sockets).
 * </ul>
 *
 * @param timeMillis wall-clock time, from the kernel's monotonic stamp and an offset taken at start
 * @param pid the process id (kernel tgid)
 * @param tid the thread id (kernel pid)
 * @param ppid the parent's process id
 * @param uid real uid
 * @param gid real gid
 * @param comm the thread's command name, up to 15 characters
 * @param truncated a string (path or args) was longer than the record holds, or unreadable
 */
public record BpfEvent(
    long timeMillis,
    Kind kind,
    int pid,
    int tid,
    int ppid,
    int uid,
    int gid,
    String comm,
    String path,
    String args,
    long flags,
    String protocol,
    String address,
    int port,
    int result,
    boolean truncated) {

  /** What the process did. */
  public enum Kind {
    EXEC,
    OPEN,
    CONNECT;

    /** "exec", "open", "connect". */
    public String label() {
      return name().toLowerCase(java.util.Locale.ROOT);
    }
  }

  /** "ok", "fd 3", or an errno name such as "ENOENT". */
  public String resultText() {
    if (result < 0) {
      return Errno.name(result);
    }
    return kind == Kind.OPEN ? "fd " + result : "ok";
  }

  /**
   * One line for the audit stream, key=value, strings quoted when they hold spaces or quotes:
   * {@code exec pid=812 ppid=790 uid=1001 gid=1001 comm=bash path=/usr/bin/curl args="curl -s x" result=ok}.
   */
  public String auditLine() {
    StringBuilder b = new StringBuilder(kind.label());
    b.append(" pid=").append(pid).append(" ppid=").append(ppid);
    b.append(" uid=").append(Integer.toUnsignedString(uid)).append(" gid=").append(Integer.toUnsignedString(gid));
    b.append(" comm=").append(quote(comm));
    switch (kind) {
      case EXEC -> {
        b.append(" path=").append(quote(path));
        if (!args.isEmpty()) { // a failed execve has no argv to show
          b.append(" args=").append(quote(args));
        }
      }
      case OPEN -> b.append(" path=").append(quote(path)).append(" flags=0").append(Long.toOctalString(flags));
      case CONNECT -> b.append(" proto=").append(protocol).append(" peer=")
          .append(address.indexOf(':') >= 0 ? "[" + address + "]" : address).append(':').append(port);
    }
    if (truncated) {
      b.append(" truncated");
    }
    return b.append(" result=").append(resultText()).toString();
  }

  static String quote(String s) {
    boolean plain = !s.isEmpty();
    for (int i = 0; i < s.length() && plain; i++) {
      char c = s.charAt(i);
      plain = c > ' ' && c != '"' && c != '\\' && c != 0x7f;
    }
    if (plain) {
      return s;
    }
    StringBuilder b = new StringBuilder(s.length() + 2).append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"' -> b.append("\\\"");
        case '\\' -> b.append("\\\\");
        case '\n' -> b.append("\\n");
        case '\t' -> b.append("\\t");
        default -> {
          if (c < ' ' || c == 0x7f) {
            b.append(String.format("\\x%02x", (int) c));
          } else {
            b.append(c);
          }
        }
      }
    }
    return b.append('"').toString();
  }
}
