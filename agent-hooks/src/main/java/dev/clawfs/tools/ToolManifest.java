package dev.clawfs.tools;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * A tool's {@code manifest.json}: what it is, what it reads, its limits and the mount paths it may
 * read and write. Parsed strictly: unknown fields, wrong types and values out of range are errors
 * that name the field ({@link ManifestException}).
 *
 * <pre>{@code
 * {
 *   "name": "wordcount",
 *   "description": "Counts lines, words and bytes.",
 *   "version": "1",                                         optional
 *   "inputs": {"stdin": "text to count", "args": "[FILE]..."}, optional; no "args": none taken
 *   "limits": {"memoryPages": 32, "wallMs": 10000,          optional, each defaults to
 *              "outputBytes": 65536, "concurrency": 4},     ToolLimits.DEFAULTS
 *   "paths": {"read": ["/workspaces"], "write": []}          optional; write implies read
 * }
 * }</pre>
 *
 * @param name the tool's name, also its directory under /clawfs/tools: [a-z0-9][a-z0-9_-]{0,63}
 * @param description one line for people and agents choosing a tool
 * @param version free text, or "" when not stated
 * @param inputs what stdin and the arguments mean
 * @param limits the tool's own limits
 * @param readPaths mount paths whose subtrees the tool may read
 * @param writePaths mount paths whose subtrees the tool may also change
 */
public record ToolManifest(
    String name,
    String description,
    String version,
    Inputs inputs,
    ToolLimits limits,
    List<String> readPaths,
    List<String> writePaths) {

  private static final Pattern NAME = Pattern.compile("[a-z0-9][a-z0-9_-]{0,63}");
  private static final int MAX_TEXT = 1000;
  private static final int MAX_PATHS = 32;
  private static final ObjectMapper JSON =
      new ObjectMapper()
          .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
          .enable(SerializationFeature.INDENT_OUTPUT);

  /**
   * What the tool takes.
   *
   * @param stdin what it reads on stdin, or {@code null} when it reads none
   * @param args a usage synopsis of its arguments, or {@code null} when it takes none
   */
  public record Inputs(String stdin, String args) {
    public static final Inputs NONE = new Inputs(null, null);

    public boolean takesArgs() {
      return args != null;
    }
  }

  public ToolManifest {
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(description, "description");
    Objects.requireNonNull(version, "version");
    Objects.requireNonNull(inputs, "inputs");
    Objects.requireNonNull(limits, "limits");
    readPaths = List.copyOf(readPaths);
    writePaths = List.copyOf(writePaths);
  }

  /** Parses and validates a manifest. */
  public static ToolManifest parse(byte[] json) throws ManifestException {
    JsonNode root;
    try {
      root = JSON.readTree(json);
    } catch (JsonProcessingException e) {
      var at = e.getLocation();
      String where =
          at == null ? "" : "line " + at.getLineNr() + ", column " + at.getColumnNr() + ": ";
      throw new ManifestException("", where + "not valid JSON: " + e.getOriginalMessage());
    } catch (IOException e) {
      throw new ManifestException("", "cannot be read: " + e.getMessage());
    }
    if (root == null || root.isMissingNode()) {
      throw new ManifestException("", "is empty");
    }
    if (!root.isObject()) {
      throw new ManifestException("", "must be a JSON object");
    }
    onlyFields(root, "", Set.of("name", "description", "version", "inputs", "limits", "paths"));

    String name = text(root, "name", true);
    if (!NAME.matcher(name).matches()) {
      throw new ManifestException(
          "name", "must be 1-64 of a-z, 0-9, '-' and '_', starting with a letter or digit");
    }
    String description = text(root, "description", true);
    String version = root.has("version") ? text(root, "version", true) : "";

    Inputs inputs = Inputs.NONE;
    JsonNode in = root.get("inputs");
    if (in != null) {
      object(in, "inputs");
      onlyFields(in, "inputs.", Set.of("stdin", "args"));
      inputs =
          new Inputs(
              text(in, "stdin", false, "inputs.stdin"), text(in, "args", false, "inputs.args"));
    }

    ToolLimits limits = ToolLimits.DEFAULTS;
    JsonNode lim = root.get("limits");
    if (lim != null) {
      object(lim, "limits");
      onlyFields(lim, "limits.", Set.of("memoryPages", "wallMs", "outputBytes", "concurrency"));
      ToolLimits d = ToolLimits.DEFAULTS;
      limits =
          new ToolLimits(
              (int) whole(lim, "memoryPages", 1, ToolLimits.MAX_MEMORY_PAGES, d.memoryPages()),
              Duration.ofMillis(
                  whole(
                      lim,
                      "wallMs",
                      1,
                      ToolLimits.MAX_WALL_TIME.toMillis(),
                      d.wallTime().toMillis())),
              whole(lim, "outputBytes", 1, ToolLimits.MAX_OUTPUT_BYTES, d.outputBytes()),
              (int) whole(lim, "concurrency", 1, ToolLimits.MAX_CONCURRENCY, d.concurrency()));
    }

    List<String> read = List.of();
    List<String> write = List.of();
    JsonNode paths = root.get("paths");
    if (paths != null) {
      object(paths, "paths");
      onlyFields(paths, "paths.", Set.of("read", "write"));
      read = paths(paths, "read");
      write = paths(paths, "write");
    }
    return new ToolManifest(name, description, version, inputs, limits, read, write);
  }

  /** Parses {@code json} as UTF-8 text. */
  public static ToolManifest parse(String json) throws ManifestException {
    return parse(json.getBytes(StandardCharsets.UTF_8));
  }

  /** The manifest as JSON, every limit stated (what {@code cat manifest.json} shows). */
  public byte[] toJson() {
    ObjectNode root = JSON.createObjectNode();
    root.put("name", name);
    root.put("description", description);
    if (!version.isEmpty()) {
      root.put("version", version);
    }
    ObjectNode in = root.putObject("inputs");
    if (inputs.stdin() != null) {
      in.put("stdin", inputs.stdin());
    }
    if (inputs.args() != null) {
      in.put("args", inputs.args());
    }
    ObjectNode lim = root.putObject("limits");
    lim.put("memoryPages", limits.memoryPages());
    lim.put("wallMs", limits.wallTime().toMillis());
    lim.put("outputBytes", limits.outputBytes());
    lim.put("concurrency", limits.concurrency());
    ObjectNode p = root.putObject("paths");
    ArrayNode r = p.putArray("read");
    readPaths.forEach(r::add);
    ArrayNode w = p.putArray("write");
    writePaths.forEach(w::add);
    try {
      return (JSON.writeValueAsString(root) + "\n").getBytes(StandardCharsets.UTF_8);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }

  private static void onlyFields(JsonNode node, String prefix, Set<String> allowed)
      throws ManifestException {
    for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
      String field = it.next();
      if (!allowed.contains(field)) {
        throw new ManifestException(
            prefix + field,
            "unknown field (allowed: "
                + String.join(", ", allowed.stream().sorted().toList())
                + ")");
      }
    }
  }

  private static void object(JsonNode node, String field) throws ManifestException {
    if (!node.isObject()) {
      throw new ManifestException(field, "must be an object");
    }
  }

  private static String text(JsonNode parent, String field, boolean required)
      throws ManifestException {
    return text(parent, field, required, field);
  }

  private static String text(JsonNode parent, String field, boolean required, String path)
      throws ManifestException {
    JsonNode v = parent.get(field);
    if (v == null || v.isNull()) {
      if (required) {
        throw new ManifestException(path, "is required");
      }
      return null;
    }
    if (!v.isTextual()) {
      throw new ManifestException(path, "must be a string");
    }
    String s = v.textValue();
    if (s.isBlank() && required) {
      throw new ManifestException(path, "must not be empty");
    }
    if (s.length() > MAX_TEXT) {
      throw new ManifestException(path, "is longer than " + MAX_TEXT + " characters");
    }
    if (s.chars().anyMatch(c -> c < 0x20)) {
      throw new ManifestException(path, "must be one line without control characters");
    }
    return s;
  }

  private static long whole(JsonNode parent, String field, long min, long max, long dflt)
      throws ManifestException {
    JsonNode v = parent.get(field);
    if (v == null) {
      return dflt;
    }
    if (!v.isIntegralNumber()
        || !v.canConvertToLong()
        || v.longValue() < min
        || v.longValue() > max) {
      throw new ManifestException(
          "limits." + field, "must be a whole number from " + min + " to " + max);
    }
    return v.longValue();
  }

  private static List<String> paths(JsonNode parent, String field) throws ManifestException {
    JsonNode v = parent.get(field);
    String at = "paths." + field;
    if (v == null || v.isNull()) {
      return List.of();
    }
    if (!v.isArray()) {
      throw new ManifestException(at, "must be an array of mount paths");
    }
    if (v.size() > MAX_PATHS) {
      throw new ManifestException(at, "may name at most " + MAX_PATHS + " paths");
    }
    List<String> out = new ArrayList<>();
    for (int i = 0; i < v.size(); i++) {
      JsonNode p = v.get(i);
      String where = at + "[" + i + "]";
      if (!p.isTextual()) {
        throw new ManifestException(where, "must be a string");
      }
      String problem = pathProblem(p.textValue());
      if (problem != null) {
        throw new ManifestException(where, problem + ": \"" + p.textValue() + "\"");
      }
      out.add(p.textValue());
    }
    return out;
  }

  /** Why {@code path} is not a mount path a manifest may grant, or {@code null}. */
  static String pathProblem(String path) {
    if (!path.startsWith("/")) {
      return "must be an absolute mount path such as /workspaces/notes";
    }
    if (path.equals("/")) {
      return "must name a subtree, not the whole mount";
    }
    if (path.endsWith("/")) {
      return "must not end with '/'";
    }
    if (path.length() > 4096 || path.indexOf('\0') >= 0) {
      return "is not a valid path";
    }
    for (String segment : path.substring(1).split("/", -1)) {
      if (segment.isEmpty() || segment.equals(".") || segment.equals("..")) {
        return "must be normalised (no '//', '.' or '..')";
      }
    }
    return null;
  }
}
