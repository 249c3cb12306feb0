package dev.clawfs.fuse;

/**
 * What {@link FuseMetrics#record} costs per call, single-threaded and from several threads at
 * once (not a test: run by hand, see docs/benchmarks.md):
 *
 * <pre>
 *   mvn -o -q test-compile -pl clawfs-fuse
 *   java -cp clawfs-fuse/target/classes:clawfs-fuse/target/test-classes dev.clawfs.fuse.FuseMetricsBench [THREADS]
 * </pre>
 */
public final class FuseMetricsBench {
  private static final String[] OPS = {"getattr", "read", "write", "open", "release", "readdir"};

  public static void main(String[] args) throws Exception {
    int threads = args.length > 0 ? Integer.parseInt(args[0]) : Runtime.getRuntime().availableProcessors();
    FuseMetrics m = new FuseMetrics();
    long sink = 0;
    for (int round = 0; round < 5; round++) {
      sink += run(m, 1, 20_000_000, round >= 2);
      sink += run(m, threads, 20_000_000, round >= 2);
    }
    System.out.println("(ignore: " + (sink & 1) + ")");
  }

  private static long run(FuseMetrics m, int threads, int perThread, boolean print) throws Exception {
    Thread[] ts = new Thread[threads];
    long[] loopNs = new long[threads];
    for (int t = 0; t < threads; t++) {
      int id = t;
      ts[t] = new Thread(() -> {
        long t0 = System.nanoTime();
        for (int i = 0; i < perThread; i++) {
          // a latency drawn from a cheap sequence: most small, some in the higher buckets
          long nanos = ((i * 2654435761L) & 0xFFFF) * ((i & 1023) == 0 ? 1000 : 2);
          m.record(OPS[i % OPS.length], (i & 255) == 0 ? -Errno.ENOENT : 0, nanos);
        }
        loopNs[id] = System.nanoTime() - t0;
      });
    }
    for (Thread t : ts) {
      t.start();
    }
    for (Thread t : ts) {
      t.join();
    }
    long worst = 0;
    for (long l : loopNs) {
      worst = Math.max(worst, l);
    }
    if (print) {
      System.out.printf("%d thread(s): %.1f ns per record() per thread%n", threads, worst / (double) perThread);
    }
    return worst;
  }
}
