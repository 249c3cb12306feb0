package dev.clawfs.mount;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.clawfs.fuse.LatencyHistogram;
import java.util.Map;
import org.junit.jupiter.api.Test;

class PromTextTest {
  @Test
  void countersAndGaugesHaveHelpTypeAndEscapedLabels() {
    PromText t = new PromText();
    t.family("x_ops_total", PromText.Type.COUNTER, "Ops; a back\\slash and a\nnew line.");
    t.sample(3, "op", "read", "path", "a\"b\\c\nd");
    t.sample(0, "op", "write", "path", "");
    t.gauge("x_bytes", "Bytes.", 1.5e9);
    t.gauge("x_ratio", "Ratio.", 0.0001);
    t.gauge("x_special", "Specials.", Double.NaN, "k", "nan");
    String want = """
        # HELP x_ops_total Ops; a back\\\\slash and a\\nnew line.
        # TYPE x_ops_total counter
        x_ops_total{op="read",path="a\\"b\\\\c\\nd"} 3
        x_ops_total{op="write",path=""} 0
        # HELP x_bytes Bytes.
        # TYPE x_bytes gauge
        x_bytes 1500000000
        # HELP x_ratio Ratio.
        # TYPE x_ratio gauge
        x_ratio 0.0001
        # HELP x_special Specials.
        # TYPE x_special gauge
        x_special{k="nan"} NaN
        """;
    assertEquals(want, t.toString());
    Map<String, StrictPromParser.Family> f = StrictPromParser.parse(t.toString());
    assertEquals("a\"b\\c\nd", f.get("x_ops_total").samples().get(0).labels().get("path"));
  }

  @Test
  void histogramsAreCumulativeWithInfSumAndCount() {
    LatencyHistogram h = new LatencyHistogram();
    h.record(10_000); // 10 µs: first bucket (le 0.00005)
    h.record(50_000); // exactly on a bound: that bucket (le is "less or equal")
    h.record(3_000_000); // 3 ms: le 0.005
    h.record(60_000_000_000L); // a minute: only +Inf
    PromText t = new PromText();
    t.family("x_seconds", PromText.Type.HISTOGRAM, "Latency.");
    t.histogram(h.snapshot(), "op", "read");
    t.histogram(new LatencyHistogram().snapshot(), "op", "write");
    String s = t.toString();
    assertTrue(s.contains("x_seconds_bucket{op=\"read\",le=\"0.00005\"} 2\n"), s);
    assertTrue(s.contains("x_seconds_bucket{op=\"read\",le=\"0.0025\"} 2\n"), s);
    assertTrue(s.contains("x_seconds_bucket{op=\"read\",le=\"0.005\"} 3\n"), s);
    assertTrue(s.contains("x_seconds_bucket{op=\"read\",le=\"10\"} 3\n"), s);
    assertTrue(s.contains("x_seconds_bucket{op=\"read\",le=\"+Inf\"} 4\n"), s);
    assertTrue(s.contains("x_seconds_sum{op=\"read\"} 60.00306\n"), s);
    assertTrue(s.contains("x_seconds_count{op=\"read\"} 4\n"), s);
    assertTrue(s.contains("x_seconds_count{op=\"write\"} 0\n"), s);
    StrictPromParser.Family f = StrictPromParser.parse(s).get("x_seconds");
    assertEquals(2 * (LatencyHistogram.BOUNDS_SECONDS.length + 3), f.samples().size());
  }

  @Test
  void refusesWhatTheFormatForbids() {
    PromText t = new PromText();
    assertThrows(IllegalArgumentException.class, () -> t.family("ops", PromText.Type.COUNTER, "no _total"));
    assertThrows(IllegalArgumentException.class, () -> t.family("1bad", PromText.Type.GAUGE, "bad name"));
    t.gauge("g", "G.", 1);
    assertThrows(IllegalArgumentException.class, () -> t.gauge("g", "twice", 1));
    assertThrows(IllegalArgumentException.class, () -> t.gauge("h", "H.", 1, "__reserved", "x"));
    assertThrows(IllegalArgumentException.class, () -> t.gauge("i", "I.", 1, "bad-label", "x"));
    assertThrows(IllegalArgumentException.class, () -> t.gauge("j", "J.", 1, "odd"));
    assertThrows(IllegalStateException.class, () -> t.histogram(new LatencyHistogram().snapshot()));
  }

  @Test
  void numbersArePlainDecimals() {
    assertEquals("0", PromText.number(0));
    assertEquals("-3", PromText.number(-3));
    assertEquals("0.00005", PromText.number(0.00005));
    assertEquals("2.5", PromText.number(2.5));
    assertEquals("+Inf", PromText.number(Double.POSITIVE_INFINITY));
    assertEquals("-Inf", PromText.number(Double.NEGATIVE_INFINITY));
    assertEquals("100000000000000000000", PromText.number(1e20));
  }

  @Test
  void theStrictParserCatchesBrokenText() {
    String ok = "# HELP a_total A.\n# TYPE a_total counter\na_total 1\n";
    StrictPromParser.parse(ok);
    for (String bad : new String[] {
        "# HELP a_total A.\n# TYPE a_total counter\na_total 1", // no final newline
        "# HELP a_total A.\n# TYPE a_total counter\na_total -1\n", // negative counter
        "# HELP a A.\n# TYPE a counter\na 1\n", // counter without _total
        "a_total 1\n", // no TYPE
        "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"\\t\"} 1\n", // bad escape
        "# HELP a_total A.\n# TYPE a_total counter\na_total 1 1700000000\n", // time stamp
        "# HELP a_total A.\n# TYPE a_total counter\na_total 1\na_total 2\n", // twice
        "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
        "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n", // no +Inf
        "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 2\n", // count differs
    }) {
      assertThrows(AssertionError.class, () -> StrictPromParser.parse(bad), bad);
    }
  }
}
