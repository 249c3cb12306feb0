package dev.clawfs.fuse;

import java.util.concurrent.atomic.LongAdder;

/**
 * What the metadata writer did: commits, their latency and size, failures and the errno of the
 * last one. Written by the one writer thread, read by scrapes and health checks.
 */
public final class CommitMetrics {
  private final LatencyHistogram latency = new LatencyHistogram();
  private final LongAdder commits = new LongAdder();
  private final LongAdder failures = new LongAdder();
  private final LongAdder ops = new LongAdder();
  private volatile long lastSuccessMillis;
  private volatile long lastFailureMillis;
  private volatile int lastFailureErrno;

  void succeeded(int batchOps, long nanos) {
    latency.record(nanos);
    commits.increment();
    ops.add(batchOps);
    lastSuccessMillis = System.currentTimeMillis();
  }

  void failed(int errno) {
    failures.increment();
    lastFailureErrno = errno;
    lastFailureMillis = System.currentTimeMillis();
  }

  /** Latency of successful commits (syncing content, the SQLite transaction, the post-commit). */
  public LatencyHistogram.Snapshot latency() {
    return latency.snapshot();
  }

  public long commits() {
    return commits.sum();
  }

  public long failures() {
    return failures.sum();
  }

  /** Queued metadata operations committed (each put, delete, link, unlink). */
  public long ops() {
    return ops.sum();
  }

  /** When the last commit succeeded (epoch ms), 0 before the first. */
  public long lastSuccessMillis() {
    return lastSuccessMillis;
  }

  /** When the last commit failed (epoch ms), 0 if none has. */
  public long lastFailureMillis() {
    return lastFailureMillis;
  }

  /** The errno the last failed commit reported (ENOSPC, EIO), 0 if none has failed. */
  public int lastFailureErrno() {
    return lastFailureErrno;
  }
}
