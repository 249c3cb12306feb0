package dev.clawfs.tools;

import java.time.Duration;
import java.util.Objects;

/**
 * The hard limits of one tool run. A manifest states the tool's own; the caller's policy states the
 * caller's; a run gets the stricter of each ({@link #stricter}).
 *
 * @param memoryPages linear memory, in 64 KiB WebAssembly pages (at most 65536, 4 GiB)
 * @param wallTime time from start to end of the run, interrupting the module when over
 * @param outputBytes stdout, stderr and bytes written to files, together
 * @param concurrency runs of the tool at once (in a manifest), or of the caller (in a policy)
 */
public record ToolLimits(int memoryPages, Duration wallTime, long outputBytes, int concurrency) {

  /** The most memory pages a limit may name: the whole 32-bit address space. */
  public static final int MAX_MEMORY_PAGES = 65536;

  /** The longest wall time a limit may name. */
  public static final Duration MAX_WALL_TIME = Duration.ofHours(1);

  /** The most output a limit may name. */
  public static final long MAX_OUTPUT_BYTES = 1L << 32;

  /** The most concurrent runs a limit may name. */
  public static final int MAX_CONCURRENCY = 256;

  /** What a manifest gets for a limit it does not state: 16 MiB, 10 s, 16 MiB, 4 runs. */
  public static final ToolLimits DEFAULTS =
      new ToolLimits(256, Duration.ofSeconds(10), 16 << 20, 4);

  /** No limit below the maxima; the identity of {@link #stricter}. */
  public static final ToolLimits UNLIMITED =
      new ToolLimits(MAX_MEMORY_PAGES, MAX_WALL_TIME, MAX_OUTPUT_BYTES, MAX_CONCURRENCY);

  public ToolLimits {
    Objects.requireNonNull(wallTime, "wallTime");
    if (memoryPages < 1 || memoryPages > MAX_MEMORY_PAGES) {
      throw new IllegalArgumentException("memoryPages must be 1.." + MAX_MEMORY_PAGES);
    }
    if (wallTime.isNegative() || wallTime.isZero() || wallTime.compareTo(MAX_WALL_TIME) > 0) {
      throw new IllegalArgumentException("wallTime must be more than 0 and at most 1 hour");
    }
    if (outputBytes < 1 || outputBytes > MAX_OUTPUT_BYTES) {
      throw new IllegalArgumentException("outputBytes must be 1.." + MAX_OUTPUT_BYTES);
    }
    if (concurrency < 1 || concurrency > MAX_CONCURRENCY) {
      throw new IllegalArgumentException("concurrency must be 1.." + MAX_CONCURRENCY);
    }
  }

  /** Each limit the smaller of this one's and {@code other}'s. */
  public ToolLimits stricter(ToolLimits other) {
    return new ToolLimits(
        Math.min(memoryPages, other.memoryPages),
        wallTime.compareTo(other.wallTime) <= 0 ? wallTime : other.wallTime,
        Math.min(outputBytes, other.outputBytes),
        Math.min(concurrency, other.concurrency));
  }

  /** The memory limit in bytes. */
  public long memoryBytes() {
    return (long) memoryPages * 65536;
  }
}
