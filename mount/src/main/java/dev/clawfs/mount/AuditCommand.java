package dev.clawfs.mount;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.clawfs.mount.ClawfsCli.CliException;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code clawfs audit MOUNTPOINT [filters]}: asks the mount's sealed audit history, through the
 * server ({@code /system/audit/query/<query>}, see {@link AuditQuery}). Root only.
 */
@Command(name = "audit", description = "Query the audit history of a mount (root): file operations, and what agents' processes did.")
final class AuditCommand implements Callable<Integer> {
  @Parameters(index = "0", paramLabel = "MOUNTPOINT")
  Path mountpoint;

  @Option(names = "--since", paramLabel = "WHEN", description = "Events from then on: 30s, 10m, 2h, 1d ago, or an ISO-8601 time.")
  String since;

  @Option(names = "--until", paramLabel = "WHEN", description = "Events until then (same forms as --since).")
  String until;

  @Option(names = "--agent", paramLabel = "NAME", description = "Only this agent's events.")
  String agent;

  @Option(names = "--uid", paramLabel = "UID", description = "Only this uid's events.")
  String uid;

  @Option(names = "--path", paramLabel = "GLOB", description = "Only events on paths matching GLOB (* and ? in a name, ** across names).")
  String path;

  @Option(names = "--op", paramLabel = "OP", description = "Only this operation: open, create, mkdir, unlink, rename, exec, connect, anomaly, ...")
  String op;

  @Option(names = "--source", paramLabel = "SOURCE", description = "fuse, ebpf, tool or audit.")
  String source;

  @Option(names = "--result", paramLabel = "RESULT", description = "ok, denied, error, or an errno name such as EACCES.")
  String result;

  @Option(names = "--limit", paramLabel = "N", description = "The newest N matching events (default 1000, at most 100000).")
  String limit;

  @Option(names = "--json", description = "Print the events as JSON lines, as stored.")
  boolean json;

  @Override
  public Integer call() throws Exception {
    Path m = ClawfsCli.requireMount(mountpoint);
    List<String> parts = new ArrayList<>();
    add(parts, "since", since);
    add(parts, "until", until);
    add(parts, "agent", agent);
    add(parts, "uid", uid);
    add(parts, "path", path);
    add(parts, "op", op);
    add(parts, "source", source);
    add(parts, "result", result);
    add(parts, "limit", limit);
    String name = parts.isEmpty() ? "limit=" + AuditQuery.DEFAULT_LIMIT : String.join("&", parts);
    if (name.getBytes(StandardCharsets.UTF_8).length > 255) {
      throw new CliException(ClawfsCli.USAGE, "the query is too long (at most 255 bytes once encoded)");
    }
    byte[] raw;
    try {
      raw = Files.readAllBytes(m.resolve("system").resolve("audit").resolve("query").resolve(name));
    } catch (java.nio.file.AccessDeniedException e) {
      throw new CliException(ClawfsCli.ERROR, "only root reads the audit history");
    } catch (java.nio.file.FileSystemException e) {
      throw new CliException(ClawfsCli.ERROR, "audit query failed: " + (e.getReason() == null ? e.getMessage() : e.getReason()));
    }
    String text = new String(raw, StandardCharsets.UTF_8);
    ObjectMapper mapper = new ObjectMapper();
    if (text.startsWith("{\"error\"")) {
      System.err.println("clawfs: " + mapper.readTree(text).get("error").asText());
      return ClawfsCli.USAGE;
    }
    if (json) {
      System.out.print(text);
      return ClawfsCli.OK;
    }
    int n = 0;
    for (String line : text.split("\n")) {
      if (line.isBlank()) {
        continue;
      }
      JsonNode e = mapper.readTree(line);
      String who = e.hasNonNull("agent") ? e.get("agent").asText() : e.has("uid") ? "uid " + e.get("uid").asText() : "-";
      String where = e.hasNonNull("path") ? e.get("path").asText() : e.hasNonNull("address") ? e.get("address").asText() : "";
      if (e.hasNonNull("path2")) {
        where += " -> " + e.get("path2").asText();
      }
      String res = e.path("result").asText(e.has("count") ? "count " + e.get("count").asText() : "");
      String rule = e.hasNonNull("rule") ? "  [" + e.get("rule").asText() + "]" : "";
      System.out.printf("%s %-5s %-14s %-10s %-7s %s%s%n", e.path("time").asText(), e.path("source").asText(), who,
          e.path("op").asText(), res, where, rule);
      n++;
    }
    if (n == 0) {
      System.out.println("no events");
    }
    return ClawfsCli.OK;
  }

  private static void add(List<String> parts, String key, String value) {
    if (value != null) {
      parts.add(key + "=" + URLEncoder.encode(value, StandardCharsets.UTF_8));
    }
  }
}
