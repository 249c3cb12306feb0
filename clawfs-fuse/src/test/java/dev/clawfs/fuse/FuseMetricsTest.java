package dev.clawfs.fuse;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

class FuseMetricsTest {
  @Test
  void countsOperationsByResultAndLatency() {
    FuseMetrics m = new FuseMetrics();
    int read = FuseMetrics.OPS.indexOf("read");
    m.record("read", 4096, 80_000);
    m.record("read", 0, 10_000);
    m.record("read", -Errno.EIO, 2_000_000);
    m.record("getattr", -Errno.ENOENT, 1_000);
    m.record("no-such-op", 0, 1);
    assertEquals(2, m.ok(read));
    assertEquals(1, m.errors(read, Errno.EIO));
    assertEquals(1, m.errors(FuseMetrics.OPS.indexOf("getattr"), Errno.ENOENT));
    LatencyHistogram.Snapshot s = m.latency(read);
    assertEquals(3, s.count());
    assertEquals(2_090_000, s.sumNanos());
    m.record("read", -200, 1); // beyond the slots: counted in the last one
    assertEquals(1, m.errors(read, FuseMetrics.errnoSlots() - 1));
  }

  @Test
  void everyOperationTheAdapterReportsIsCounted() throws Exception {
    String src = Files.readString(Path.of("src/main/java/dev/clawfs/fuse/FuseAdapter.java"));
    Matcher mt = Pattern.compile("\\b(?:op|call)\\(\"([a-z]+)\"").matcher(src);
    Set<String> used = new TreeSet<>();
    while (mt.find()) {
      used.add(mt.group(1));
    }
    assertTrue(used.size() > 25, used.toString());
    for (String op : used) {
      assertTrue(FuseMetrics.index(op) >= 0, op + " is not in FuseMetrics.OPS");
      assertEquals(op, FuseMetrics.OPS.get(FuseMetrics.index(op)));
    }
    for (int i = 0; i < FuseMetrics.OPS.size(); i++) {
      assertEquals(i, FuseMetrics.index(FuseMetrics.OPS.get(i)));
    }
  }

  @Test
  void quantilesAsPrometheusEstimatesThem() {
    LatencyHistogram h = new LatencyHistogram();
    for (int i = 0; i < 100; i++) {
      h.record(i < 90 ? 30_000 : 7_000_000); // 90 in (0, 50 µs], 10 in (5 ms, 10 ms]
    }
    LatencyHistogram.Snapshot s = h.snapshot();
    assertEquals(0.00005 * 50 / 90, s.quantileSeconds(0.5), 1e-12);
    assertEquals(0.005 + 0.005 * 0.9, s.quantileSeconds(0.99), 1e-12);
    assertTrue(Double.isNaN(new LatencyHistogram().snapshot().quantileSeconds(0.5)));
  }
}
