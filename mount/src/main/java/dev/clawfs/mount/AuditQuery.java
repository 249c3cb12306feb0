package dev.clawfs.mount;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A question to the audit history, written as a file name under {@code /system/audit/query/}:
 * {@code key=value} pairs joined by {@code &}, values URL-encoded (a "/" is {@code %2F}). Keys:
 * {@code since} and {@code until} (a duration back from now such as {@code 10m}, {@code 2h},
 * {@code 1d}, or an ISO-8601 time), {@code agent}, {@code uid}, {@code op}, {@code source}
 * ({@code fuse}, {@code ebpf}, {@code audit}), {@code result} ({@code ok}, {@code denied}, {@code
 * error} or an errno name), {@code path} (a glob: {@code *} and {@code ?} within a name, {@code
 * **} across names; matched against path and path2) and {@code limit} (the newest N matches, 1 to
 * 100000, default 1000). The answer lists the matching events oldest first, one JSON object per
 * line.
 */
final class AuditQuery {
  static final int DEFAULT_LIMIT = 1000;
  static final int MAX_LIMIT = 100_000;
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Pattern DURATION = Pattern.compile("(\\d{1,9})(ms|s|m|h|d)");

  private String since;
  private String until;
  private String agent;
  private Long uid;
  private String op;
  private String source;
  private String result;
  private Pattern path;
  private int limit = DEFAULT_LIMIT;

  /** A query that cannot be run; the message says why. */
  static final class BadQueryException extends Exception {
    private static final long serialVersionUID = 1L;

    BadQueryException(String message) {
      super(message);
    }
  }

  /** Parses a query file name (see the class comment). */
  static AuditQuery parse(String name, long nowMillis) throws BadQueryException {
    AuditQuery q = new AuditQuery();
    Map<String, String> kv = new LinkedHashMap<>();
    for (String part : name.split("&")) {
      if (part.isEmpty()) {
        continue;
      }
      int eq = part.indexOf('=');
      if (eq <= 0) {
        throw new BadQueryException("\"" + part + "\" is not key=value");
      }
      String k = part.substring(0, eq);
      String v;
      try {
        v = URLDecoder.decode(part.substring(eq + 1), StandardCharsets.UTF_8);
      } catch (IllegalArgumentException e) {
        throw new BadQueryException("bad %-escape in " + k);
      }
      if (kv.put(k, v) != null) {
        throw new BadQueryException("'" + k + "' given twice");
      }
    }
    for (Map.Entry<String, String> e : kv.entrySet()) {
      String v = e.getValue();
      switch (e.getKey()) {
        case "since" -> q.since = Json.isoTime(time(v, nowMillis));
        case "until" -> q.until = Json.isoTime(time(v, nowMillis));
        case "agent" -> q.agent = v;
        case "uid" -> {
          try {
            q.uid = Long.parseLong(v);
          } catch (NumberFormatException ex) {
            throw new BadQueryException("uid must be a number, got \"" + v + "\"");
          }
        }
        case "op" -> q.op = v;
        case "source" -> q.source = v;
        case "result" -> q.result = v;
        case "path" -> q.path = glob(v);
        case "limit" -> {
          try {
            q.limit = Integer.parseInt(v);
          } catch (NumberFormatException ex) {
            q.limit = -1;
          }
          if (q.limit < 1 || q.limit > MAX_LIMIT) {
            throw new BadQueryException("limit must be 1 to " + MAX_LIMIT + ", got \"" + v + "\"");
          }
        }
        default -> throw new BadQueryException("unknown key '" + e.getKey()
            + "'; keys: since, until, agent, uid, op, source, result, path, limit");
      }
    }
    return q;
  }

  /** A duration back from now ("10m") or an ISO-8601 time, as epoch milliseconds. */
  private static long time(String v, long now) throws BadQueryException {
    Matcher m = DURATION.matcher(v);
    if (m.matches()) {
      long n = Long.parseLong(m.group(1));
      Duration d = switch (m.group(2)) {
        case "ms" -> Duration.ofMillis(n);
        case "s" -> Duration.ofSeconds(n);
        case "m" -> Duration.ofMinutes(n);
        case "h" -> Duration.ofHours(n);
        default -> Duration.ofDays(n);
      };
      return now - d.toMillis();
    }
    try {
      return Instant.parse(v).toEpochMilli();
    } catch (DateTimeParseException e) {
      throw new BadQueryException("bad time \"" + v + "\": write a duration (30s, 10m, 2h, 1d) or an ISO-8601 time"
          + " (2025-03-01T12:00:00Z)");
    }
  }

  /** A path glob as a regex: ** across names, * and ? within one. */
  static Pattern glob(String g) throws BadQueryException {
    if (!g.startsWith("/")) {
      throw new BadQueryException("path glob \"" + g + "\" must start with /");
    }
    StringBuilder re = new StringBuilder();
    for (int i = 0; i < g.length(); i++) {
      char c = g.charAt(i);
      if (c == '*' && i + 1 < g.length() && g.charAt(i + 1) == '*') {
        re.append(".*");
        i++;
      } else if (c == '*') {
        re.append("[^/]*");
      } else if (c == '?') {
        re.append("[^/]");
      } else {
        re.append(Pattern.quote(String.valueOf(c)));
      }
    }
    // "/workspaces/**" also matches "/workspaces" itself
    String s = re.toString();
    if (s.endsWith(Pattern.quote("/") + ".*")) {
      s = s.substring(0, s.length() - Pattern.quote("/").length() - 2) + "(/.*)?";
    }
    return Pattern.compile(s);
  }

  /** Runs the query over the history: the newest {@code limit} matches, oldest first. */
  byte[] run(AuditHistory history) throws IOException {
    Deque<byte[]> hits = new ArrayDeque<>();
    history.forEachLine(line -> {
      if (matches(line)) {
        hits.addLast(line);
        if (hits.size() > limit) {
          hits.removeFirst();
        }
      }
    });
    java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
    for (byte[] l : hits) {
      out.writeBytes(l);
      out.write('\n');
    }
    return out.toByteArray();
  }

  private boolean matches(byte[] line) {
    JsonNode e;
    try {
      e = JSON.readTree(line);
    } catch (IOException ex) {
      return false;
    }
    String time = e.path("time").asText("");
    if (since != null && time.compareTo(since) < 0 || until != null && time.compareTo(until) > 0) {
      return false;
    }
    if (agent != null && !agent.equals(e.path("agent").asText(null))) {
      return false;
    }
    if (uid != null && e.path("uid").asLong(-1) != uid) {
      return false;
    }
    if (op != null && !op.equals(e.path("op").asText())) {
      return false;
    }
    if (source != null && !source.equals(e.path("source").asText())) {
      return false;
    }
    if (result != null) {
      String r = e.path("result").asText("");
      boolean ok = switch (result) {
        case "denied" -> e.has("rule") && !"anomaly".equals(e.path("op").asText());
        case "error" -> !r.isEmpty() && !r.equals("ok");
        default -> result.equals(r);
      };
      if (!ok) {
        return false;
      }
    }
    if (path != null) {
      String p1 = e.path("path").asText(null);
      String p2 = e.path("path2").asText(null);
      return p1 != null && path.matcher(p1).matches() || p2 != null && path.matcher(p2).matches();
    }
    return true;
  }
}
