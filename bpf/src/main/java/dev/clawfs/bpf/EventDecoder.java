package dev.clawfs.bpf;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * Turns the kernel's records into {@link BpfEvent}s. The layout mirrors the structs in
 * {@code src/main/c/clawfs_audit.bpf.c}, whose static asserts pin the same sizes.
 */
final class EventDecoder {
  static final int KIND_EXEC = 1;
  static final int KIND_OPEN = 2;
  static final int KIND_CONNECT = 3;

  // struct header
  static final int TS = 0;
  static final int KIND = 8;
  static final int TGID = 12;
  static final int TID = 16;
  static final int PPID = 20;
  static final int UID = 24;
  static final int GID = 28;
  static final int RESULT = 32;
  static final int MARKS = 36;
  static final int COMM = 40;
  static final int COMM_LEN = 16;
  static final int HEADER_SIZE = 56;
  // struct exec_event
  static final int EXEC_ARGS_LEN = 56;
  static final int EXEC_PATH = 64;
  static final int EXEC_ARGS = 320;
  static final int EXEC_SIZE = 576;
  // struct open_event
  static final int OPEN_FLAGS = 56;
  static final int OPEN_PATH = 64;
  static final int OPEN_SIZE = 320;
  // struct connect_event
  static final int CONN_FAMILY = 56;
  static final int CONN_PORT = 58;
  static final int CONN_PROTOCOL = 60;
  static final int CONN_ADDR = 64;
  static final int CONNECT_SIZE = 80;

  static final int PATH_LEN = 256;
  static final int ARGS_LEN = 256;
  static final int MARK_TRUNC_PATH = 1;
  static final int MARK_TRUNC_ARGS = 2;
  static final int MARK_PATH_UNREADABLE = 4;

  static final int AF_INET = 2;
  static final int AF_INET6 = 10;

  private final long epochOffsetNanos;

  /** @param epochOffsetNanos added to the kernel's monotonic nanoseconds gives nanoseconds since the epoch */
  EventDecoder(long epochOffsetNanos) {
    this.epochOffsetNanos = epochOffsetNanos;
  }

  /** The offset from CLOCK_MONOTONIC to wall-clock time, measured now. */
  static long measureEpochOffset() {
    long before = Native.monotonicNanos();
    java.time.Instant now = java.time.Instant.now();
    long after = Native.monotonicNanos();
    long wall = now.getEpochSecond() * 1_000_000_000L + now.getNano();
    return wall - (before + (after - before) / 2);
  }

  /**
   * Decodes one record in native byte order.
   *
   * @return the event, or null when the record's kind or size is not one this decoder knows
   */
  BpfEvent decode(ByteBuffer record) {
    ByteBuffer r = record.duplicate().order(ByteOrder.nativeOrder());
    int size = r.remaining();
    if (size < HEADER_SIZE) {
      return null;
    }
    int base = r.position();
    int kindCode = r.getInt(base + KIND);
    BpfEvent.Kind kind;
    switch (kindCode) {
      case KIND_EXEC -> kind = BpfEvent.Kind.EXEC;
      case KIND_OPEN -> kind = BpfEvent.Kind.OPEN;
      case KIND_CONNECT -> kind = BpfEvent.Kind.CONNECT;
      default -> {
        return null;
      }
    }
    int expected = switch (kind) {
      case EXEC -> EXEC_SIZE;
      case OPEN -> OPEN_SIZE;
      case CONNECT -> CONNECT_SIZE;
    };
    if (size < expected) {
      return null;
    }
    long timeMillis = Math.floorDiv(r.getLong(base + TS) + epochOffsetNanos, 1_000_000L);
    int marks = r.getInt(base + MARKS);
    String comm = cString(r, base + COMM, COMM_LEN);
    String path = "";
    String args = "";
    long flags = 0;
    String protocol = "";
    String address = "";
    int port = 0;
    switch (kind) {
      case EXEC -> {
        path = cString(r, base + EXEC_PATH, PATH_LEN);
        args = argv(r, base + EXEC_ARGS, Math.min(ARGS_LEN, Math.max(0, r.getInt(base + EXEC_ARGS_LEN))));
      }
      case OPEN -> {
        flags = r.getLong(base + OPEN_FLAGS);
        path = cString(r, base + OPEN_PATH, PATH_LEN);
      }
      case CONNECT -> {
        int family = Short.toUnsignedInt(r.getShort(base + CONN_FAMILY));
        port = Short.toUnsignedInt(r.getShort(base + CONN_PORT));
        protocol = protocolName(Short.toUnsignedInt(r.getShort(base + CONN_PROTOCOL)));
        byte[] addr = new byte[family == AF_INET ? 4 : 16];
        r.get(base + CONN_ADDR, addr);
        address = addressText(addr);
      }
    }
    return new BpfEvent(
        timeMillis,
        kind,
        r.getInt(base + TGID),
        r.getInt(base + TID),
        r.getInt(base + PPID),
        r.getInt(base + UID),
        r.getInt(base + GID),
        comm,
        path,
        args,
        flags,
        protocol,
        address,
        port,
        r.getInt(base + RESULT),
        marks != 0);
  }

  /** A NUL-terminated string in a fixed field; UTF-8, with bad bytes replaced. */
  static String cString(ByteBuffer r, int offset, int max) {
    int len = 0;
    while (len < max && r.get(offset + len) != 0) {
      len++;
    }
    byte[] bytes = new byte[len];
    r.get(offset, bytes);
    return new String(bytes, StandardCharsets.UTF_8);
  }

  /** argv as the kernel lays it out ({@code len} bytes, each argument NUL-ended), joined by spaces. */
  static String argv(ByteBuffer r, int offset, int len) {
    byte[] bytes = new byte[len];
    r.get(offset, bytes);
    int end = len > 0 && bytes[len - 1] == 0 ? len - 1 : len;
    for (int i = 0; i < end; i++) {
      if (bytes[i] == 0) {
        bytes[i] = ' ';
      }
    }
    return new String(bytes, 0, end, StandardCharsets.UTF_8);
  }

  static String protocolName(int protocol) {
    return switch (protocol) {
      case 1 -> "icmp";
      case 6 -> "tcp";
      case 17 -> "udp";
      case 58 -> "icmpv6";
      case 132 -> "sctp";
      case 136 -> "udplite";
      case 262 -> "mptcp";
      default -> "ip-proto-" + protocol;
    };
  }

  /** Dotted or colon form; never a name lookup. An IPv4-mapped IPv6 address comes out dotted. */
  static String addressText(byte[] addr) {
    try {
      return InetAddress.getByAddress(addr).getHostAddress();
    } catch (UnknownHostException e) {
      throw new IllegalArgumentException("address of " + addr.length + " bytes", e);
    }
  }
}
