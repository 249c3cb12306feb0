package dev.clawfs.mount;

import java.lang.System.Logger.Level;
import java.nio.charset.StandardCharsets;

/**
 * sd_notify(3) for a server run by a {@code Type=notify} unit: one datagram to
 * {@code $NOTIFY_SOCKET} per state change ({@code READY=1} once the mount is up,
 * {@code STOPPING=1} when it is gone and the server commits).
 *
 * <p>Sent from the server process itself, which is the unit's main process: with
 * {@code NotifyAccess=main} systemd takes it without having to find out who sent it, which
 * {@code systemd-notify} (a short-lived child) cannot promise on systemd 252.
 */
final class SystemdNotify {
  private static final System.Logger LOG = System.getLogger("clawfs.systemd");

  private SystemdNotify() {}

  /** Whether this process was started by systemd with a notification socket. */
  static boolean wanted() {
    String s = System.getenv("NOTIFY_SOCKET");
    return s != null && !s.isEmpty();
  }

  /** Sends {@code state} (lines such as {@code READY=1}); false when there is no socket or it failed. */
  static boolean send(String state) {
    String socket = System.getenv("NOTIFY_SOCKET");
    if (socket == null || socket.isEmpty()) {
      return false;
    }
    byte[] path = socket.getBytes(StandardCharsets.UTF_8);
    boolean abstractName = path[0] == '@';
    if (path.length > 107 || (path[0] != '/' && !abstractName)) {
      LOG.log(Level.WARNING, "NOTIFY_SOCKET {0} is not a usable socket address", socket);
      return false;
    }
    // struct sockaddr_un: sa_family_t (2 bytes, host order) then the path; abstract names start with NUL
    byte[] addr = new byte[2 + path.length + (abstractName ? 0 : 1)];
    addr[0] = (byte) Libc.AF_UNIX;
    System.arraycopy(path, 0, addr, 2, path.length);
    if (abstractName) {
      addr[2] = 0;
    }
    byte[] msg = state.getBytes(StandardCharsets.UTF_8);
    Libc.C c = Libc.c();
    int fd = c.socket(Libc.AF_UNIX, Libc.SOCK_DGRAM | Libc.SOCK_CLOEXEC, 0);
    if (fd < 0) {
      LOG.log(Level.WARNING, "cannot notify systemd: socket() failed, errno {0}", Libc.errno());
      return false;
    }
    try {
      long sent = c.sendto(fd, msg, msg.length, Libc.MSG_NOSIGNAL, addr, addr.length);
      if (sent != msg.length) {
        LOG.log(Level.WARNING, "cannot notify systemd at {0}: errno {1}", socket, Libc.errno());
        return false;
      }
      return true;
    } finally {
      c.close(fd);
    }
  }
}
