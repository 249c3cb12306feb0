package dev.clawfs.mount;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.clawfs.fuse.Errno;
import dev.clawfs.fuse.FsException;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * A change hook: when a file matching one of {@code paths} changes (or is moved there), the agent
 * gets {@code task} as a task, with {@code {path}} replaced by the file's path. Root writes the
 * rules of an agent to {@code /agents/NAME/watch.json} as a JSON array:
 * {@code [{"paths": ["/specs/**"], "task": "Summarise {path} into a note in memory/", "on": ["changed"]}]}.
 * In a glob, {@code *} is any run of characters but '/', {@code **} any run including '/'.
 */
record WatchRule(List<String> paths, String task, Set<String> on, List<Pattern> compiled) {
  static final int MAX_RULES = 16;
  static final int MAX_TASK = 2000;
  private static final ObjectMapper JSON = new ObjectMapper();

  boolean matches(String path, String op) {
    if (!on.contains(op)) {
      return false;
    }
    for (Pattern p : compiled) {
      if (p.matcher(path).matches()) {
        return true;
      }
    }
    return false;
  }

  /** The task for a change of {@code path} (the path quoted, so it reads as a name, not words to obey). */
  String taskFor(String path) {
    return task.replace("{path}", "\"" + path.replace("\"", "\\\"") + "\"");
  }

  static List<WatchRule> parse(byte[] json) {
    JsonNode root;
    try {
      root = JSON.readTree(json);
    } catch (IOException e) {
      throw bad("not JSON: " + firstLine(e.getMessage()));
    }
    if (root == null || root.isNull() || root.isMissingNode()) {
      return List.of();
    }
    if (!root.isArray()) {
      throw bad("a JSON array of rules: [{\"paths\": [...], \"task\": \"...\", \"on\": [\"changed\"]}]");
    }
    if (root.size() > MAX_RULES) {
      throw bad("at most " + MAX_RULES + " rules");
    }
    List<WatchRule> out = new ArrayList<>();
    int i = 0;
    for (JsonNode r : root) {
      String at = "rule " + i++ + ": ";
      if (!r.isObject()) {
        throw bad(at + "must be an object");
      }
      for (Iterator<String> it = r.fieldNames(); it.hasNext(); ) {
        String f = it.next();
        if (!Set.of("paths", "task", "on").contains(f)) {
          throw bad(at + "unknown field " + f + " (paths, task, on)");
        }
      }
      List<String> paths = new ArrayList<>();
      List<Pattern> compiled = new ArrayList<>();
      if (!r.path("paths").isArray() || r.path("paths").isEmpty()) {
        throw bad(at + "paths: a non-empty array of absolute mount path globs");
      }
      for (JsonNode p : r.path("paths")) {
        String g = p.asText("");
        if (!p.isTextual() || !g.startsWith("/") || g.contains("..") || g.length() > 500) {
          throw bad(at + "paths: \"" + g + "\" is not an absolute mount path glob");
        }
        paths.add(g);
        compiled.add(glob(g));
      }
      JsonNode t = r.path("task");
      if (!t.isTextual() || t.asText().isBlank() || t.asText().length() > MAX_TASK) {
        throw bad(at + "task: the text of the task, 1 to " + MAX_TASK + " characters ({path} is replaced)");
      }
      Set<String> on = Set.of("changed");
      if (r.has("on")) {
        List<String> ops = new ArrayList<>();
        for (JsonNode o : r.path("on")) {
          if (!Set.of("changed", "moved", "removed").contains(o.asText())) {
            throw bad(at + "on: any of \"changed\", \"moved\", \"removed\"");
          }
          ops.add(o.asText());
        }
        if (ops.isEmpty()) {
          throw bad(at + "on: any of \"changed\", \"moved\", \"removed\"");
        }
        on = Set.copyOf(ops);
      }
      out.add(new WatchRule(List.copyOf(paths), t.asText(), on, List.copyOf(compiled)));
    }
    return List.copyOf(out);
  }

  static byte[] toJson(List<WatchRule> rules) {
    ArrayNode a = JSON.createArrayNode();
    for (WatchRule r : rules) {
      ObjectNode o = a.addObject();
      r.paths().forEach(o.putArray("paths")::add);
      o.put("task", r.task());
      r.on().stream().sorted().forEach(o.putArray("on")::add);
    }
    try {
      return JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(a);
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }

  static Pattern glob(String g) {
    StringBuilder re = new StringBuilder();
    for (int i = 0; i < g.length(); i++) {
      char c = g.charAt(i);
      if (c == '*') {
        if (i + 1 < g.length() && g.charAt(i + 1) == '*') {
          re.append(".*");
          i++;
        } else {
          re.append("[^/]*");
        }
      } else {
        re.append(Pattern.quote(String.valueOf(c)));
      }
    }
    return Pattern.compile(re.toString(), Pattern.DOTALL);
  }

  private static String firstLine(String m) {
    String s = String.valueOf(m);
    int nl = s.indexOf('\n');
    return nl < 0 ? s : s.substring(0, nl);
  }

  private static FsException bad(String why) {
    return new FsException(Errno.EINVAL, "watch.json: " + why);
  }
}
