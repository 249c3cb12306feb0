package dev.clawfs.mount;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A strict reader of the Prometheus text exposition format 0.0.4, for tests: every line must be
 * a HELP, a TYPE or a sample; each family's HELP and TYPE come once, before its samples, which
 * form one group; names and label names are valid, label values use only the three escapes;
 * values are floats (or +Inf, -Inf, NaN), without time stamps; no series appears twice; counters
 * end in _total and are not negative; each histogram has buckets with rising {@code le} ending at
 * +Inf, cumulative counts, and {@code _count} equal to the +Inf bucket. Any breach throws with the
 * line number.
 */
final class StrictPromParser {
  private static final Pattern NAME = Pattern.compile("[a-zA-Z_:][a-zA-Z0-9_:]*");
  private static final Pattern LABEL = Pattern.compile("[a-zA-Z_][a-zA-Z0-9_]*");
  private static final Pattern FLOAT = Pattern.compile("[+-]?(\\d+(\\.\\d*)?|\\.\\d+)([eE][+-]?\\d+)?");

  record Sample(String name, Map<String, String> labels, double value) {}

  /** A family: its type, help and samples in order. */
  record Family(String name, String type, String help, List<Sample> samples) {
    /** The sample with exactly these labels (name, value pairs) and this name, or null. */
    Sample find(String sampleName, String... labels) {
      Map<String, String> want = new TreeMap<>();
      for (int i = 0; i < labels.length; i += 2) {
        want.put(labels[i], labels[i + 1]);
      }
      for (Sample s : samples) {
        if (s.name().equals(sampleName) && new TreeMap<>(s.labels()).equals(want)) {
          return s;
        }
      }
      return null;
    }

    double value(String... labels) {
      Sample s = find(name, labels);
      if (s == null) {
        throw new AssertionError("no sample " + name + " " + List.of(labels));
      }
      return s.value();
    }

    /** Sum over samples named like the family whose labels include these pairs. */
    double sum(String... labels) {
      double t = 0;
      outer:
      for (Sample s : samples) {
        if (!s.name().equals(name)) {
          continue;
        }
        for (int i = 0; i < labels.length; i += 2) {
          if (!labels[i + 1].equals(s.labels().get(labels[i]))) {
            continue outer;
          }
        }
        t += s.value();
      }
      return t;
    }
  }

  private StrictPromParser() {}

  static Map<String, Family> parse(String text) {
    if (!text.isEmpty() && !text.endsWith("\n")) {
      throw new AssertionError("the exposition does not end with a newline");
    }
    Map<String, Family> families = new LinkedHashMap<>();
    Map<String, String> help = new LinkedHashMap<>();
    Set<String> series = new HashSet<>();
    Set<String> closed = new HashSet<>();
    String current = null;
    String[] lines = text.split("\n", -1);
    for (int n = 0; n < lines.length - 1; n++) {
      String line = lines[n];
      String where = "line " + (n + 1) + ": " + line;
      if (line.startsWith("#")) {
        String[] f = line.split(" ", 4);
        if (f.length < 3 || !f[0].equals("#") || !(f[1].equals("HELP") || f[1].equals("TYPE"))) {
          throw new AssertionError("not a HELP or TYPE line: " + where);
        }
        String name = f[2];
        check(NAME.matcher(name).matches(), "bad metric name", where);
        if (!name.equals(current)) {
          check(!closed.contains(name) && !families.containsKey(name) || name.equals(current), "family split in two groups", where);
          if (current != null) {
            closed.add(current);
          }
          current = name;
        }
        if (f[1].equals("HELP")) {
          check(!help.containsKey(name), "second HELP", where);
          check(families.get(name) == null || families.get(name).samples().isEmpty(), "HELP after samples", where);
          String h = f.length > 3 ? f[3] : "";
          checkEscapes(h, false, where);
          help.put(name, h);
        } else {
          check(f.length == 4, "TYPE without a type", where);
          check(!families.containsKey(name), "second TYPE", where);
          check(Set.of("counter", "gauge", "histogram", "summary", "untyped").contains(f[3]), "unknown type", where);
          families.put(name, new Family(name, f[3], help.get(name), new ArrayList<>()));
        }
        continue;
      }
      check(!line.isEmpty(), "empty line", where);
      Sample s = sample(line, where);
      Family fam = familyOf(s.name(), families);
      check(fam != null, "sample without a TYPE before it", where);
      check(fam.name().equals(current), "sample outside its family's group", where);
      check(fam.help() != null, "family without HELP", where);
      String key = s.name() + new TreeMap<>(s.labels());
      check(series.add(key), "series appears twice", where);
      if (fam.type().equals("counter")) {
        check(fam.name().endsWith("_total") && s.name().equals(fam.name()), "counter not named *_total", where);
        check(s.value() >= 0 || Double.isNaN(s.value()), "negative counter", where);
      } else if (fam.type().equals("gauge")) {
        check(s.name().equals(fam.name()), "gauge sample with a suffix", where);
      } else if (fam.type().equals("histogram")) {
        check(s.name().equals(fam.name() + "_bucket") == s.labels().containsKey("le"), "le only on _bucket", where);
      }
      fam.samples().add(s);
    }
    for (Family f : families.values()) {
      if (f.type().equals("histogram")) {
        checkHistogram(f);
      }
    }
    return families;
  }

  private static Family familyOf(String sample, Map<String, Family> families) {
    Family f = families.get(sample);
    if (f != null) {
      return f;
    }
    for (String suffix : List.of("_bucket", "_sum", "_count")) {
      if (sample.endsWith(suffix)) {
        Family h = families.get(sample.substring(0, sample.length() - suffix.length()));
        if (h != null && h.type().equals("histogram")) {
          return h;
        }
      }
    }
    return null;
  }

  private static void checkHistogram(Family f) {
    Map<Map<String, String>, List<Sample>> byLabels = new LinkedHashMap<>();
    Map<Map<String, String>, Double> counts = new LinkedHashMap<>();
    Map<Map<String, String>, Double> sums = new LinkedHashMap<>();
    for (Sample s : f.samples()) {
      Map<String, String> rest = new TreeMap<>(s.labels());
      rest.remove("le");
      if (s.name().endsWith("_bucket")) {
        byLabels.computeIfAbsent(rest, k -> new ArrayList<>()).add(s);
      } else if (s.name().endsWith("_count")) {
        counts.put(rest, s.value());
      } else {
        sums.put(rest, s.value());
      }
    }
    for (Map.Entry<Map<String, String>, List<Sample>> e : byLabels.entrySet()) {
      String what = f.name() + e.getKey();
      double prevLe = Double.NEGATIVE_INFINITY;
      double prevCount = 0;
      for (Sample b : e.getValue()) {
        String le = b.labels().get("le");
        double v = le.equals("+Inf") ? Double.POSITIVE_INFINITY : Double.parseDouble(le);
        check(v > prevLe, "le not rising", what + " le=" + le);
        check(b.value() >= prevCount, "buckets not cumulative", what + " le=" + le);
        prevLe = v;
        prevCount = b.value();
      }
      check(prevLe == Double.POSITIVE_INFINITY, "no +Inf bucket", what);
      check(counts.containsKey(e.getKey()) && sums.containsKey(e.getKey()), "no _count or _sum", what);
      check(counts.get(e.getKey()) == prevCount, "_count is not the +Inf bucket", what);
      check(sums.get(e.getKey()) >= 0, "negative _sum of durations", what);
    }
    check(byLabels.keySet().containsAll(counts.keySet()), "_count without buckets", f.name());
  }

  private static final Pattern SAMPLE = Pattern.compile("([^{ ]+)(\\{(.*)\\})? ([^ ]+)");

  private static Sample sample(String line, String where) {
    Matcher m = SAMPLE.matcher(line);
    check(m.matches(), "not a sample line (a time stamp?)", where);
    String name = m.group(1);
    check(NAME.matcher(name).matches(), "bad metric name", where);
    Map<String, String> labels = new LinkedHashMap<>();
    if (m.group(2) != null) {
      String body = m.group(3);
      int i = 0;
      while (i < body.length()) {
        int eq = body.indexOf('=', i);
        check(eq > i, "label without =", where);
        String k = body.substring(i, eq);
        check(LABEL.matcher(k).matches() && !k.startsWith("__"), "bad label name " + k, where);
        check(eq + 1 < body.length() && body.charAt(eq + 1) == '"', "label value not quoted", where);
        StringBuilder v = new StringBuilder();
        int j = eq + 2;
        while (true) {
          check(j < body.length(), "unterminated label value", where);
          char c = body.charAt(j);
          if (c == '"') {
            break;
          }
          if (c == '\\') {
            check(j + 1 < body.length(), "dangling backslash", where);
            char e = body.charAt(++j);
            check(e == '\\' || e == '"' || e == 'n', "bad escape \\" + e, where);
            v.append(e == 'n' ? '\n' : e);
          } else {
            check(c != '\n', "raw newline", where);
            v.append(c);
          }
          j++;
        }
        check(labels.put(k, v.toString()) == null, "label twice", where);
        i = j + 1;
        if (i < body.length()) {
          check(body.charAt(i) == ',', "labels not separated by a comma", where);
          i++;
          check(i < body.length(), "trailing comma", where);
        }
      }
    }
    String v = m.group(4);
    double value;
    if (v.equals("+Inf")) {
      value = Double.POSITIVE_INFINITY;
    } else if (v.equals("-Inf")) {
      value = Double.NEGATIVE_INFINITY;
    } else if (v.equals("NaN")) {
      value = Double.NaN;
    } else {
      check(FLOAT.matcher(v).matches(), "bad value " + v, where);
      value = Double.parseDouble(v);
    }
    return new Sample(name, labels, value);
  }

  private static void checkEscapes(String s, boolean quotes, String where) {
    for (int i = 0; i < s.length(); i++) {
      if (s.charAt(i) == '\\') {
        check(i + 1 < s.length(), "dangling backslash", where);
        char e = s.charAt(++i);
        check(e == '\\' || e == 'n' || (quotes && e == '"'), "bad escape \\" + e, where);
      }
    }
  }

  private static void check(boolean ok, String what, String where) {
    if (!ok) {
      throw new AssertionError("exposition format: " + what + " (" + where + ")");
    }
  }
}
