package dev.clawfs.policy;

/**
 * The limits the policies put on one run of a WebAssembly tool. A field is {@code null} when no
 * tool rule that applies sets it: the caller then uses its own default, so a policy only ever
 * tightens what the runner would do anyway.
 *
 * <p>When several tool rules apply, each field is the smallest value any of them sets
 * ({@link #stricter}): a policy file can lower a limit another file sets but never raise it, as a
 * deny in one file cannot be undone by an allow in another.
 *
 * @param memoryPages the most linear memory, in 64 KiB WebAssembly pages, 1 to 65536 (4 GiB)
 * @param wallMs the longest a run may take, in milliseconds of wall-clock time, 1 to 3600000
 * @param outputBytes the most a run may write (its output and files together), 1 to 4294967296
 * @param concurrency how many runs this caller may have going at once, 1 to 256
 */
public record ToolLimitsSpec(Integer memoryPages, Long wallMs, Long outputBytes,
    Integer concurrency) {

  /** No limit set by the policies. */
  public static final ToolLimitsSpec NONE = new ToolLimitsSpec(null, null, null, null);

  /** 65536 pages of 64 KiB: the whole 32-bit address space of a WebAssembly memory. */
  public static final int MAX_MEMORY_PAGES = 65_536;
  /** One hour: a tool that needs longer is a job, not a tool run. */
  public static final long MAX_WALL_MS = 3_600_000L;
  /** 4 GiB. */
  public static final long MAX_OUTPUT_BYTES = 4_294_967_296L;
  public static final int MAX_CONCURRENCY = 256;

  /**
   * Checks the ranges, so that a limit the runner receives is always one it can apply.
   *
   * @throws IllegalArgumentException when a field set is out of its range
   */
  public ToolLimitsSpec {
    check("memoryPages", memoryPages == null ? null : memoryPages.longValue(), MAX_MEMORY_PAGES);
    check("wallMs", wallMs, MAX_WALL_MS);
    check("outputBytes", outputBytes, MAX_OUTPUT_BYTES);
    check("concurrency", concurrency == null ? null : concurrency.longValue(), MAX_CONCURRENCY);
  }

  private static void check(String field, Long value, long max) {
    if (value != null && (value < 1 || value > max)) {
      throw new IllegalArgumentException(
          field + " must be from 1 to " + max + ", got " + value);
    }
  }

  /** Whether no field is set. */
  public boolean isNone() {
    return memoryPages == null && wallMs == null && outputBytes == null && concurrency == null;
  }

  /** Field by field, the smaller of this and {@code other}; a field set in only one is kept. */
  public ToolLimitsSpec stricter(ToolLimitsSpec other) {
    if (other.isNone()) {
      return this;
    }
    if (isNone()) {
      return other;
    }
    return new ToolLimitsSpec(min(memoryPages, other.memoryPages), min(wallMs, other.wallMs),
        min(outputBytes, other.outputBytes), min(concurrency, other.concurrency));
  }

  private static <T extends Comparable<T>> T min(T a, T b) {
    if (a == null) {
      return b;
    }
    if (b == null) {
      return a;
    }
    return a.compareTo(b) <= 0 ? a : b;
  }

  /** {@code memoryPages=256, wallMs=10000}: the fields set, or {@code none}. */
  @Override
  public String toString() {
    StringBuilder s = new StringBuilder();
    append(s, "memoryPages", memoryPages);
    append(s, "wallMs", wallMs);
    append(s, "outputBytes", outputBytes);
    append(s, "concurrency", concurrency);
    return s.isEmpty() ? "none" : s.toString();
  }

  private static void append(StringBuilder s, String field, Number value) {
    if (value != null) {
      s.append(s.isEmpty() ? "" : ", ").append(field).append('=').append(value);
    }
  }
}
