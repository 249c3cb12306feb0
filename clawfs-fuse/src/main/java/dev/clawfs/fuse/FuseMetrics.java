package dev.clawfs.fuse;

import java.util.List;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.LongAdder;

/**
 * Counters of the FUSE adapter: operations by type and result, their latency, bytes through read
 * and write, opens with and without the page cache, policy denials. Everything is preallocated
 * at start and counted with {@link LongAdder}s (striped, so FUSE threads do not contend on one
 * cache line) or, for the rarer errors, an {@link AtomicLongArray}: no lock and no allocation per
 * operation. The mount module turns these into Prometheus text.
 */
public final class FuseMetrics {
  /** The operations counted, in the order of their index. */
  public static final List<String> OPS = List.of(
      "getattr", "fgetattr", "readlink", "mknod", "mkdir", "unlink", "rmdir", "symlink", "rename", "link",
      "chmod", "chown", "truncate", "ftruncate", "open", "create", "read", "write", "statfs", "flush",
      "release", "fsync", "fsyncdir", "setxattr", "getxattr", "listxattr", "removexattr", "opendir",
      "readdir", "access", "utimens");

  /** Errno slots per operation; a larger errno is counted in the last one. */
  static final int ERRNO_SLOTS = 134;

  private final LatencyHistogram[] latency = new LatencyHistogram[OPS.size()];
  private final LongAdder[] ok = new LongAdder[OPS.size()];
  private final AtomicLongArray errors = new AtomicLongArray(OPS.size() * ERRNO_SLOTS);
  private final LongAdder bytesRead = new LongAdder();
  private final LongAdder bytesWritten = new LongAdder();
  private final LongAdder cachedOpens = new LongAdder();
  private final LongAdder directOpens = new LongAdder();
  private final LongAdder denials = new LongAdder();

  public FuseMetrics() {
    for (int i = 0; i < latency.length; i++) {
      latency[i] = new LatencyHistogram();
      ok[i] = new LongAdder();
    }
  }

  /**
   * The index of an operation in {@link #OPS}, or -1. A string switch: the literal's hash is
   * cached and equals() of the same literal returns at the identity check, so this costs a few
   * nanoseconds and allocates nothing.
   */
  static int index(String op) {
    return switch (op) {
      case "getattr" -> 0;
      case "fgetattr" -> 1;
      case "readlink" -> 2;
      case "mknod" -> 3;
      case "mkdir" -> 4;
      case "unlink" -> 5;
      case "rmdir" -> 6;
      case "symlink" -> 7;
      case "rename" -> 8;
      case "link" -> 9;
      case "chmod" -> 10;
      case "chown" -> 11;
      case "truncate" -> 12;
      case "ftruncate" -> 13;
      case "open" -> 14;
      case "create" -> 15;
      case "read" -> 16;
      case "write" -> 17;
      case "statfs" -> 18;
      case "flush" -> 19;
      case "release" -> 20;
      case "fsync" -> 21;
      case "fsyncdir" -> 22;
      case "setxattr" -> 23;
      case "getxattr" -> 24;
      case "listxattr" -> 25;
      case "removexattr" -> 26;
      case "opendir" -> 27;
      case "readdir" -> 28;
      case "access" -> 29;
      case "utimens" -> 30;
      default -> -1;
    };
  }

  /** One completed operation: {@code result} is what FUSE gets (0 or more is success, else -errno). */
  public void record(String op, int result, long nanos) {
    int i = index(op);
    if (i < 0) {
      return; // an operation not in OPS (FuseMetricsTest checks the adapter has none)
    }
    latency[i].record(nanos);
    if (result >= 0) {
      ok[i].increment();
    } else {
      int e = Math.min(-result, ERRNO_SLOTS - 1);
      errors.incrementAndGet(i * ERRNO_SLOTS + e);
    }
  }

  void read(int bytes) {
    if (bytes > 0) {
      bytesRead.add(bytes);
    }
  }

  void written(int bytes) {
    if (bytes > 0) {
      bytesWritten.add(bytes);
    }
  }

  void opened(boolean direct) {
    (direct ? directOpens : cachedOpens).increment();
  }

  void denied() {
    denials.increment();
  }

  // ------------------------------------------------------------------ reading (a scrape)

  public LatencyHistogram.Snapshot latency(int op) {
    return latency[op].snapshot();
  }

  public long ok(int op) {
    return ok[op].sum();
  }

  /** Failures of operation {@code op} with {@code errno} ({@link #ERRNO_SLOTS}-1 holds larger ones). */
  public long errors(int op, int errno) {
    return errors.get(op * ERRNO_SLOTS + errno);
  }

  public static int errnoSlots() {
    return ERRNO_SLOTS;
  }

  public long bytesRead() {
    return bytesRead.sum();
  }

  public long bytesWritten() {
    return bytesWritten.sum();
  }

  /** Opens of stored files whose pages the kernel may cache. */
  public long cachedOpens() {
    return cachedOpens.sum();
  }

  /** Opens served with direct_io: virtual files, and stored files with more than one name. */
  public long directOpens() {
    return directOpens.sum();
  }

  /** Operations the access gate (the policy) refused with EACCES. */
  public long denials() {
    return denials.sum();
  }
}
