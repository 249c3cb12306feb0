package dev.clawfs.fuse;

import java.util.concurrent.atomic.LongAdder;

/**
 * A latency histogram with fixed buckets from 50 µs to 10 s, for Prometheus. Recording is two
 * {@link LongAdder} increments and a short scan of the bounds: no lock and no allocation, so it
 * can sit on the path of every FUSE operation. Buckets are kept per bucket (not cumulative);
 * {@link #snapshot()} reads them, and the exposition adds them up.
 */
public final class LatencyHistogram {
  /** Upper bounds of the buckets in seconds; a last, unbounded bucket (+Inf) follows. */
  public static final double[] BOUNDS_SECONDS = {
      0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

  private static final long[] BOUNDS_NANOS = new long[BOUNDS_SECONDS.length];

  static {
    for (int i = 0; i < BOUNDS_SECONDS.length; i++) {
      BOUNDS_NANOS[i] = Math.round(BOUNDS_SECONDS[i] * 1e9);
    }
  }

  private final LongAdder[] buckets = new LongAdder[BOUNDS_SECONDS.length + 1];
  private final LongAdder sumNanos = new LongAdder();

  public LatencyHistogram() {
    for (int i = 0; i < buckets.length; i++) {
      buckets[i] = new LongAdder();
    }
  }

  /** Records one observation of {@code nanos} nanoseconds (negative counts as 0). */
  public void record(long nanos) {
    long n = Math.max(0, nanos);
    int i = 0;
    // most operations fall in the first buckets: a linear scan beats a binary search here
    while (i < BOUNDS_NANOS.length && n > BOUNDS_NANOS[i]) {
      i++;
    }
    buckets[i].increment();
    sumNanos.add(n);
  }

  /** The counts per bucket (not cumulative; the last is above every bound) and the sum. */
  public Snapshot snapshot() {
    long[] counts = new long[buckets.length];
    // not atomic with concurrent records: a scrape may see one in the counts and not yet in the sum
    long sum = sumNanos.sum();
    for (int i = 0; i < counts.length; i++) {
      counts[i] = buckets[i].sum();
    }
    return new Snapshot(counts, sum);
  }

  /** Counts per bucket (the last one unbounded) and the sum of all observations in nanoseconds. */
  public record Snapshot(long[] counts, long sumNanos) {
    public long count() {
      long c = 0;
      for (long x : counts) {
        c += x;
      }
      return c;
    }

    public double sumSeconds() {
      return sumNanos / 1e9;
    }

    /**
     * The q-quantile (0..1) estimated as Prometheus' histogram_quantile does: linear within the
     * bucket it falls in; NaN when empty, the highest finite bound when it falls in +Inf.
     */
    public double quantileSeconds(double q) {
      long total = count();
      if (total == 0) {
        return Double.NaN;
      }
      double rank = q * total;
      long seen = 0;
      for (int i = 0; i < counts.length; i++) {
        if (seen + counts[i] >= rank && counts[i] > 0) {
          if (i == BOUNDS_SECONDS.length) {
            return BOUNDS_SECONDS[i - 1];
          }
          double lo = i == 0 ? 0 : BOUNDS_SECONDS[i - 1];
          double hi = BOUNDS_SECONDS[i];
          return lo + (hi - lo) * ((rank - seen) / counts[i]);
        }
        seen += counts[i];
      }
      return BOUNDS_SECONDS[BOUNDS_SECONDS.length - 1];
    }
  }
}
