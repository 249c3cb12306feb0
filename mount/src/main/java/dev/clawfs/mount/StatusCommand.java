package dev.clawfs.mount;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code clawfs status [MOUNTPOINT] [--json]}: each mount's status, health and key figures at a
 * glance, read from its {@code system/status}, {@code system/health} and {@code system/metrics}
 * (so a user sees what those files show a user). Exit 0 when every mount shown is healthy, 6
 * when one is not (or is a stale mount whose server is gone), 5 when MOUNTPOINT is no ClawFS mount.
 */
@Command(name = "status", description = "Show mounts, their health and key metrics (exit 6 when one is unhealthy).")
final class StatusCommand implements Callable<Integer> {
  @Parameters(index = "0", arity = "0..1", paramLabel = "MOUNTPOINT", description = "One mount (default: every ClawFS mount).")
  Path mountpoint;

  @Option(names = "--json", description = "One JSON object: each mount's status, health checks and figures.")
  boolean json;

  private static final ObjectMapper JSON = new ObjectMapper();

  @Override
  public Integer call() throws Exception {
    List<Path> mounts = mountpoint != null ? List.of(ClawfsCli.requireMount(mountpoint)) : Mounts.clawfsMounts();
    boolean healthy = true;
    ObjectNode root = JSON.createObjectNode();
    ArrayNode list = root.putArray("mounts");
    StringBuilder text = new StringBuilder();
    if (mounts.isEmpty()) {
      text.append("no ClawFS mounts\n");
    }
    for (Path m : mounts) {
      View v = View.read(m);
      healthy &= v.healthy();
      list.add(v.json());
      if (text.length() > 0) {
        text.append('\n');
      }
      text.append(v.text());
    }
    root.put("healthy", healthy);
    if (json) {
      System.out.println(JSON.writerWithDefaultPrettyPrinter().writeValueAsString(root));
    } else {
      System.out.print(text);
    }
    return healthy ? ClawfsCli.OK : ClawfsCli.PROBLEMS;
  }

  /** One sample of the metrics text. */
  record Sample(String name, Map<String, String> labels, double value) {}

  /** What one mount's files say; {@code error} when they cannot be read (a stale mount). */
  record View(Path mount, Map<String, String> status, List<String> health, List<Sample> metrics, String error) {
    static View read(Path m) {
      Path sys = m.resolve("system");
      try {
        Map<String, String> status = new LinkedHashMap<>();
        for (String line : Files.readAllLines(sys.resolve("status"), StandardCharsets.UTF_8)) {
          int c = line.indexOf(": ");
          if (c > 0) {
            status.put(line.substring(0, c), line.substring(c + 2));
          }
        }
        List<String> health = Files.exists(sys.resolve("health"))
            ? Files.readAllLines(sys.resolve("health"), StandardCharsets.UTF_8)
            : List.of("unhealthy: server", "server: FAIL: it serves no system/health (a server older than this clawfs?)");
        List<Sample> metrics = Files.exists(sys.resolve("metrics"))
            ? parse(Files.readString(sys.resolve("metrics"), StandardCharsets.UTF_8)) : List.of();
        return new View(m, status, health, metrics, null);
      } catch (IOException e) {
        String why = e instanceof java.nio.file.FileSystemException f && f.getReason() != null ? f.getReason() : e.getMessage();
        String what = why.contains("not connected")
            ? "stale mount: its server is gone (" + why + "); clawfs mount cleans it up, clawfs umount removes it"
            : "cannot read its system files: " + why;
        return new View(m, Map.of(), List.of(), List.of(), what);
      }
    }

    boolean healthy() {
      return error == null && !health.isEmpty() && health.get(0).equals("ok");
    }

    double sum(String name, String label, String value) {
      double s = 0;
      for (Sample x : metrics) {
        if (x.name().equals(name) && (label == null || value.equals(x.labels().get(label)))) {
          s += x.value();
        }
      }
      return s;
    }

    double one(String name) {
      return sum(name, null, null);
    }

    /** Latency quantile of one FUSE operation from its histogram buckets, in ms; NaN when it never ran. */
    double quantileMs(String op, double q) {
      TreeMap<Double, Double> buckets = new TreeMap<>();
      for (Sample x : metrics) {
        if (x.name().equals("clawfs_fuse_op_duration_seconds_bucket") && op.equals(x.labels().get("op"))) {
          String le = x.labels().get("le");
          buckets.put(le.equals("+Inf") ? Double.POSITIVE_INFINITY : Double.parseDouble(le), x.value());
        }
      }
      if (buckets.isEmpty() || buckets.lastEntry().getValue() == 0) {
        return Double.NaN;
      }
      double rank = q * buckets.lastEntry().getValue();
      double prevBound = 0;
      double prevCount = 0;
      for (Map.Entry<Double, Double> b : buckets.entrySet()) {
        if (b.getValue() >= rank) {
          if (b.getKey().isInfinite()) {
            return prevBound * 1000;
          }
          double inBucket = b.getValue() - prevCount;
          return (prevBound + (b.getKey() - prevBound) * (inBucket == 0 ? 1 : (rank - prevCount) / inBucket)) * 1000;
        }
        prevBound = b.getKey();
        prevCount = b.getValue();
      }
      return prevBound * 1000;
    }

    String text() {
      StringBuilder b = new StringBuilder();
      b.append("== ").append(mount).append(" ==\n");
      if (error != null) {
        b.append("health: unhealthy: ").append(error).append('\n');
        return b.toString();
      }
      status.forEach((k, v) -> b.append(k).append(": ").append(v).append('\n'));
      b.append("health: ").append(health.isEmpty() ? "unknown" : health.get(0)).append('\n');
      for (String line : health.subList(Math.min(1, health.size()), health.size())) {
        b.append("  ").append(line).append('\n');
      }
      if (metrics.isEmpty()) {
        return b.toString();
      }
      double ops = one("clawfs_fuse_ops_total");
      double okOps = sum("clawfs_fuse_ops_total", "result", "ok");
      Map<String, Double> errors = new TreeMap<>();
      for (Sample x : metrics) {
        if (x.name().equals("clawfs_fuse_ops_total") && !"ok".equals(x.labels().get("result")) && x.value() > 0) {
          errors.merge(x.labels().get("result"), x.value(), Double::sum);
        }
      }
      StringBuilder errs = new StringBuilder();
      errors.entrySet().stream().sorted(Map.Entry.<String, Double>comparingByValue().reversed())
          .forEach(e -> errs.append(errs.length() == 0 ? "" : ", ").append(e.getKey()).append(' ').append((long) (double) e.getValue()));
      b.append("activity:\n");
      b.append(String.format(Locale.ROOT, "  operations: %d (%d failed%s); policy denials %d%n", (long) ops,
          (long) (ops - okOps), errs.length() == 0 ? "" : ": " + errs, (long) one("clawfs_policy_denials_total")));
      StringBuilder lat = new StringBuilder();
      for (String op : List.of("getattr", "open", "read", "write", "create", "readdir", "fsync")) {
        double p50 = quantileMs(op, 0.5);
        if (!Double.isNaN(p50)) {
          lat.append(lat.length() == 0 ? "" : ", ").append(op).append(' ').append(ms(p50)).append('/').append(ms(quantileMs(op, 0.99)));
        }
      }
      if (lat.length() > 0) {
        b.append("  latency p50/p99 (ms): ").append(lat).append('\n');
      }
      b.append(String.format(Locale.ROOT, "  through FUSE: %s read, %s written; opens: %d page cache, %d direct_io%n",
          MetricsService.bytes((long) one("clawfs_fuse_read_bytes_total")),
          MetricsService.bytes((long) one("clawfs_fuse_written_bytes_total")),
          (long) sum("clawfs_fuse_opens_total", "cache", "page_cache"), (long) sum("clawfs_fuse_opens_total", "cache", "direct_io")));
      b.append(String.format(Locale.ROOT, "  metadata: %d commits, %d failed, %d pending%n",
          (long) one("clawfs_metadata_commits_total"), (long) one("clawfs_metadata_commit_failures_total"),
          (long) one("clawfs_metadata_pending_ops")));
      if (one("clawfs_index_enabled") > 0) {
        b.append(String.format(Locale.ROOT, "  index: %d files, %d queued, %d waiting for embeddings, %d failures%s%n",
            (long) one("clawfs_index_indexed_files"), (long) one("clawfs_index_queued_files"),
            (long) one("clawfs_index_embedding_backlog_files"), (long) one("clawfs_index_failures_total"),
            one("clawfs_index_paused") > 0 ? ", paused" : ""));
      } else {
        b.append("  index: off\n");
      }
      b.append(String.format(Locale.ROOT, "  audit: %d events, %d dropped (queue full), %d missed by slow readers; ebpf %s%n",
          (long) one("clawfs_audit_events_total"), (long) sum("clawfs_audit_dropped_total", "reason", "queue_full"),
          (long) sum("clawfs_audit_dropped_total", "reason", "slow_reader"), one("clawfs_ebpf_enabled") > 0 ? "on" : "off"));
      b.append(String.format(Locale.ROOT, "  tools: %d runs (%d not ok); agents: %d, %d queued, %d failed%n",
          (long) one("clawfs_tool_runs_total"),
          (long) (one("clawfs_tool_runs_total") - sum("clawfs_tool_runs_total", "outcome", "ok")),
          (long) one("clawfs_agents"), (long) one("clawfs_agent_tasks_queued"), (long) one("clawfs_agent_tasks_failed_total")));
      b.append(String.format(Locale.ROOT, "  server: heap %s of %s, %d threads, %d fds, %.1f s CPU, %d errors and %d warnings logged%n",
          MetricsService.bytes((long) sum("jvm_memory_used_bytes", "area", "heap")),
          MetricsService.bytes((long) one("jvm_memory_max_bytes")), (long) one("jvm_threads_current"),
          (long) one("process_open_fds"), one("process_cpu_seconds_total"),
          (long) sum("clawfs_log_messages_total", "level", "error"), (long) sum("clawfs_log_messages_total", "level", "warn")));
      return b.toString();
    }

    private static String ms(double v) {
      return v < 1 ? String.format(Locale.ROOT, "%.2f", v) : String.format(Locale.ROOT, "%.1f", v);
    }

    ObjectNode json() {
      ObjectNode o = JSON.createObjectNode();
      o.put("mountpoint", mount.toString());
      o.put("healthy", healthy());
      if (error != null) {
        o.put("error", error);
        return o;
      }
      ObjectNode st = o.putObject("status");
      status.forEach(st::put);
      ObjectNode h = o.putObject("health");
      h.put("status", health.isEmpty() ? "unknown" : health.get(0));
      ArrayNode checks = h.putArray("checks");
      for (String line : health.subList(Math.min(1, health.size()), health.size())) {
        String[] f = line.split(": ", 3);
        if (f.length == 3) {
          checks.addObject().put("name", f[0]).put("status", f[1].toLowerCase(Locale.ROOT)).put("detail", f[2]);
        }
      }
      ObjectNode fig = o.putObject("metrics");
      for (Sample x : metrics) {
        if (x.name().endsWith("_bucket")) {
          continue; // the buckets are in system/metrics; here the quantiles below
        }
        StringBuilder key = new StringBuilder(x.name());
        if (!x.labels().isEmpty()) {
          key.append('{');
          x.labels().forEach((k, v) -> key.append(key.charAt(key.length() - 1) == '{' ? "" : ",").append(k).append('=').append(v));
          key.append('}');
        }
        fig.put(key.toString(), x.value());
      }
      ObjectNode lat = o.putObject("latency_ms");
      for (String op : dev.clawfs.fuse.FuseMetrics.OPS) {
        double p50 = quantileMs(op, 0.5);
        if (!Double.isNaN(p50)) {
          lat.putObject(op).put("p50", p50).put("p90", quantileMs(op, 0.9)).put("p99", quantileMs(op, 0.99));
        }
      }
      return o;
    }
  }

  /** Samples of a Prometheus text (lenient: the server's own output, checked by its tests). */
  static List<Sample> parse(String text) {
    List<Sample> out = new ArrayList<>();
    for (String line : text.split("\n")) {
      if (line.isEmpty() || line.startsWith("#")) {
        continue;
      }
      int brace = line.indexOf('{');
      int space = line.lastIndexOf(' ');
      Map<String, String> labels = new LinkedHashMap<>();
      String name;
      if (brace >= 0 && brace < space) {
        name = line.substring(0, brace);
        int i = brace + 1;
        while (i < line.length() && line.charAt(i) != '}') {
          int eq = line.indexOf('=', i);
          String k = line.substring(i, eq);
          StringBuilder v = new StringBuilder();
          int j = eq + 2;
          while (line.charAt(j) != '"') {
            char c = line.charAt(j);
            if (c == '\\') {
              char n = line.charAt(++j);
              v.append(n == 'n' ? '\n' : n);
            } else {
              v.append(c);
            }
            j++;
          }
          labels.put(k, v.toString());
          i = j + 1;
          if (i < line.length() && line.charAt(i) == ',') {
            i++;
          }
        }
      } else {
        name = line.substring(0, space);
      }
      String v = line.substring(space + 1);
      double value = switch (v) {
        case "+Inf" -> Double.POSITIVE_INFINITY;
        case "-Inf" -> Double.NEGATIVE_INFINITY;
        case "NaN" -> Double.NaN;
        default -> Double.parseDouble(v);
      };
      out.add(new Sample(name, labels, value));
    }
    return out;
  }
}
