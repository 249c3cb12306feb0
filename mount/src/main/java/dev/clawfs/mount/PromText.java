package dev.clawfs.mount;

import dev.clawfs.fuse.LatencyHistogram;
import java.math.BigDecimal;
import java.util.HashSet;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Writes the Prometheus text exposition format, version 0.0.4: each family once, with its
 * {@code # HELP} and {@code # TYPE} lines before its samples; counters end in {@code _total};
 * histograms as cumulative {@code _bucket{le="..."}} samples ending with {@code le="+Inf"}, then
 * {@code _sum} and {@code _count}; label values and help text escaped as the format says. Names
 * are checked, so a bad one fails in the unit test rather than in a scraper.
 */
final class PromText {
  private static final Pattern METRIC_NAME = Pattern.compile("[a-zA-Z_:][a-zA-Z0-9_:]*");
  private static final Pattern LABEL_NAME = Pattern.compile("[a-zA-Z_][a-zA-Z0-9_]*");

  enum Type {
    COUNTER, GAUGE, HISTOGRAM;

    String text() {
      return name().toLowerCase(java.util.Locale.ROOT);
    }
  }

  private final StringBuilder out = new StringBuilder(16384);
  private final Set<String> families = new HashSet<>();
  private String family;
  private Type type;

  /** Starts a family: its help and type lines. Every family name may be started once. */
  PromText family(String name, Type type, String help) {
    if (!METRIC_NAME.matcher(name).matches()) {
      throw new IllegalArgumentException("bad metric name: " + name);
    }
    if (type == Type.COUNTER && !name.endsWith("_total")) {
      throw new IllegalArgumentException("a counter's name ends in _total: " + name);
    }
    if (!families.add(name)) {
      throw new IllegalArgumentException("family written twice: " + name);
    }
    family = name;
    this.type = type;
    out.append("# HELP ").append(name).append(' ');
    escapeHelp(help);
    out.append('\n');
    out.append("# TYPE ").append(name).append(' ').append(type.text()).append('\n');
    return this;
  }

  /** A sample of the current counter or gauge; {@code labels} are name, value pairs. */
  PromText sample(double value, String... labels) {
    if (type == Type.HISTOGRAM) {
      throw new IllegalStateException(family + " is a histogram: use histogram()");
    }
    line(family, labels, null, null, value);
    return this;
  }

  /** A counter family with one sample. */
  PromText counter(String name, String help, double value, String... labels) {
    return family(name, Type.COUNTER, help).sample(value, labels);
  }

  /** A gauge family with one sample. */
  PromText gauge(String name, String help, double value, String... labels) {
    return family(name, Type.GAUGE, help).sample(value, labels);
  }

  /** One histogram of the current histogram family, from a snapshot in nanoseconds. */
  PromText histogram(LatencyHistogram.Snapshot s, String... labels) {
    if (type != Type.HISTOGRAM) {
      throw new IllegalStateException(family + " is not a histogram");
    }
    long[] counts = s.counts();
    double[] bounds = LatencyHistogram.BOUNDS_SECONDS;
    long cumulative = 0;
    for (int i = 0; i < counts.length; i++) {
      cumulative += counts[i];
      String le = i < bounds.length ? number(bounds[i]) : "+Inf";
      line(family + "_bucket", labels, "le", le, cumulative);
    }
    line(family + "_sum", labels, null, null, s.sumSeconds());
    line(family + "_count", labels, null, null, cumulative);
    return this;
  }

  private void line(String name, String[] labels, String extraName, String extraValue, double value) {
    if (labels.length % 2 != 0) {
      throw new IllegalArgumentException("labels come in name, value pairs: " + name);
    }
    out.append(name);
    if (labels.length > 0 || extraName != null) {
      out.append('{');
      boolean first = true;
      for (int i = 0; i < labels.length; i += 2) {
        first = label(first, labels[i], labels[i + 1]);
      }
      if (extraName != null) {
        label(first, extraName, extraValue);
      }
      out.append('}');
    }
    out.append(' ').append(number(value)).append('\n');
  }

  private boolean label(boolean first, String name, String value) {
    if (!LABEL_NAME.matcher(name).matches() || name.startsWith("__")) {
      throw new IllegalArgumentException("bad label name: " + name);
    }
    if (!first) {
      out.append(',');
    }
    out.append(name).append("=\"");
    for (int i = 0; i < value.length(); i++) {
      char c = value.charAt(i);
      switch (c) {
        case '\\' -> out.append("\\\\");
        case '"' -> out.append("\\\"");
        case '\n' -> out.append("\\n");
        default -> out.append(c);
      }
    }
    out.append('"');
    return false;
  }

  private void escapeHelp(String help) {
    for (int i = 0; i < help.length(); i++) {
      char c = help.charAt(i);
      switch (c) {
        case '\\' -> out.append("\\\\");
        case '\n' -> out.append("\\n");
        default -> out.append(c);
      }
    }
  }

  /** A sample value or bound: integers without a fraction, others in plain decimal, and the specials. */
  static String number(double v) {
    if (Double.isNaN(v)) {
      return "NaN";
    }
    if (Double.isInfinite(v)) {
      return v > 0 ? "+Inf" : "-Inf";
    }
    if (v == Math.rint(v) && Math.abs(v) < 1e15) {
      return Long.toString((long) v);
    }
    return BigDecimal.valueOf(v).stripTrailingZeros().toPlainString();
  }

  @Override
  public String toString() {
    return out.toString();
  }
}
