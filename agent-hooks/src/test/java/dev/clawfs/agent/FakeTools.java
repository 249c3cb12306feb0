package dev.clawfs.agent;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArraySet;

/** An in-memory {@link AgentTools} that records every call, with refusals set per path. */
class FakeTools implements AgentTools {

  final Map<String, String> files = new LinkedHashMap<>();
  final Map<String, List<String>> dirs = new LinkedHashMap<>();
  final Map<String, String> notes = new LinkedHashMap<>();
  final List<SearchHit> hits = new ArrayList<>();
  final Set<String> refused = new CopyOnWriteArraySet<>();
  final List<String> calls = Collections.synchronizedList(new ArrayList<>());
  ToolRunResult toolResult = new ToolRunResult("EXITED", 0, "", "", null);

  FakeTools file(String path, String content) {
    files.put(path, content);
    return this;
  }

  FakeTools hit(String path, double score, String passage) {
    hits.add(new SearchHit(path, score, passage));
    return this;
  }

  private void check(String path) throws ToolCallRefused {
    if (refused.contains(path)) {
      throw new ToolCallRefused("policy: agents may not read " + path);
    }
  }

  @Override
  public List<SearchHit> search(String query, String scope, int limit) throws ToolCallRefused {
    calls.add("search " + query + " scope=" + scope + " limit=" + limit);
    if (scope != null) {
      check(scope);
    }
    return hits.stream()
        .filter(h -> scope == null || h.path().startsWith(scope + "/"))
        .limit(limit)
        .toList();
  }

  @Override
  public String read(String path, int maxBytes) throws ToolCallRefused {
    calls.add("read " + path + " " + maxBytes);
    check(path);
    String s = files.get(path);
    if (s == null) {
      throw new ToolCallRefused("no such file: " + path);
    }
    return s.length() > maxBytes ? s.substring(0, maxBytes) : s;
  }

  @Override
  public List<String> list(String path) throws ToolCallRefused {
    calls.add("list " + path);
    check(path);
    List<String> l = dirs.get(path);
    if (l == null) {
      throw new ToolCallRefused("no such directory: " + path);
    }
    return l;
  }

  @Override
  public String writeNote(String name, String text) throws ToolCallRefused {
    calls.add("note " + name);
    notes.put(name, text);
    return "/agents/librarian/memory/" + name;
  }

  @Override
  public ToolRunResult runTool(String tool, List<String> args, String stdin)
      throws ToolCallRefused {
    calls.add("run " + tool + " " + args + " stdin=" + (stdin == null ? "none" : stdin.length()));
    if (refused.contains("tool:" + tool)) {
      throw new ToolCallRefused("policy: agents may not run " + tool);
    }
    return toolResult;
  }
}
