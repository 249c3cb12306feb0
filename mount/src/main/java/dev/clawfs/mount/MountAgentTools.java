package dev.clawfs.mount;

import dev.clawfs.agent.AgentTools;
import dev.clawfs.agent.SearchHit;
import dev.clawfs.agent.ToolCallRefused;
import dev.clawfs.agent.ToolRunResult;
import dev.clawfs.fuse.Access;
import dev.clawfs.fuse.Attr;
import dev.clawfs.fuse.Caller;
import dev.clawfs.fuse.ClawFileSystem;
import dev.clawfs.fuse.Errno;
import dev.clawfs.fuse.FsException;
import dev.clawfs.index.SearchEngine;
import dev.clawfs.index.SearchQuery;
import dev.clawfs.tools.RunResult;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

/**
 * What an agent's tool calls do, on the mount, as the agent: each is decided by the policy and
 * the Unix modes for the agent's uid exactly as if the agent's own process had made it, and for
 * a task someone asked, also for the asker (the agent never reads for someone what that someone
 * could not read: no confused deputy). Every call is an audit event ({@code "source":"agent"}).
 * Paths are mount paths ("/workspaces/a.md"); links are never followed.
 */
final class MountAgentTools implements AgentTools {
  private static final int S_IFMT = 0170000;
  private static final int S_IFREG = 0100000;
  private static final int S_IFDIR = 0040000;
  private static final int O_WRONLY = 1;
  private static final int O_CREAT = 0100;
  private static final int O_TRUNC = 01000;
  private static final Pattern NOTE_NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,99}");
  /** The stored trees an agent's calls may reach; virtual files (system/, search/, tools/) are not read. */
  private static final List<String> TREES = ClawFileSystem.NAMESPACE;

  private final ClawFileSystem fs;
  private final PolicyGate gate;
  private final SearchService search;
  private final ToolService tools;
  private final AuditService audit;
  private final AgentRegistry.Agent agent;
  private final Caller self;
  private final Caller asker;

  MountAgentTools(ClawFileSystem fs, PolicyGate gate, SearchService search, ToolService tools, AuditService audit,
      AgentRegistry.Agent agent, Caller asker) {
    this.fs = fs;
    this.gate = gate;
    this.search = search;
    this.tools = tools;
    this.audit = audit;
    this.agent = agent;
    this.self = new Caller(agent.uid(), agent.gid(), 0);
    this.asker = asker == null || asker.uid() == 0 || asker.uid() == agent.uid() ? null : asker;
  }

  /** Whether the agent (and the asker, if any) may read {@code path}. */
  boolean mayRead(String path) {
    return mayRead(self, path) && (asker == null || mayRead(asker, path));
  }

  private boolean mayRead(Caller c, String path) {
    return gate.denial(c, Access.READ, path) == null && SearchService.unixMayRead(fs, c, path);
  }

  @Override
  public List<SearchHit> search(String query, String scope, int limit) throws ToolCallRefused {
    if (search == null) {
      throw refuse("search", scope, "search is off on this mount (--no-search)");
    }
    String q = query == null ? "" : query.strip();
    if (scope != null && !scope.isBlank()) {
      String s = scope.strip();
      s = s.startsWith("/") ? s.substring(1) : s;
      if (s.contains(" ")) {
        throw refuse("search", scope, "a scope is one folder of the mount, without spaces");
      }
      q = "in:" + s + " " + q;
    }
    try {
      SearchEngine.Results r = search.engine().search(SearchQuery.parse(q), this::mayRead);
      List<SearchHit> out = new ArrayList<>();
      for (SearchEngine.Hit h : r.hits()) {
        if (out.size() >= Math.max(1, limit)) {
          break;
        }
        out.add(new SearchHit(h.path(), h.score(), h.passage()));
      }
      audit.agentCall(agent.name(), self, asker, "search", scope == null ? "/" : scope, "ok", q);
      return out;
    } catch (SearchQuery.BadQueryException e) {
      throw refuse("search", scope, "bad query: " + e.getMessage());
    } catch (IOException e) {
      throw refuse("search", scope, "search failed: " + e.getMessage());
    }
  }

  @Override
  public String read(String path, int maxBytes) throws ToolCallRefused {
    String p = checkPath("read", path);
    if (!mayRead(p)) {
      throw refuse("read", p, deniedWhy(p));
    }
    Attr a = attr("read", p);
    if ((a.mode() & S_IFMT) != S_IFREG) {
      throw refuse("read", p, "not a regular file (links are not followed)");
    }
    try {
      byte[] b = new CoreToolFiles(fs).read(p, 0, (int) Math.min(Math.max(0, maxBytes), a.size()));
      audit.agentCall(agent.name(), self, asker, "read", p, "ok", null);
      return new String(b, StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw refuse("read", p, e.getMessage());
    }
  }

  @Override
  public List<String> list(String path) throws ToolCallRefused {
    String p = checkPath("list", path);
    if (gate.denial(self, Access.LIST, p) != null || !SearchService.unixMayRead(fs, self, p)
        || asker != null && (gate.denial(asker, Access.LIST, p) != null || !SearchService.unixMayRead(fs, asker, p))) {
      throw refuse("list", p, deniedWhy(p));
    }
    if ((attr("list", p).mode() & S_IFMT) != S_IFDIR) {
      throw refuse("list", p, "not a folder");
    }
    List<String> out = new ArrayList<>();
    for (ClawFileSystem.DirEntry e : fs.readdir(p.getBytes(StandardCharsets.UTF_8))) {
      String n = new String(e.name(), StandardCharsets.UTF_8);
      if (n.equals(".") || n.equals("..")) {
        continue;
      }
      String child = p.equals("/") ? "/" + n : p + "/" + n;
      if (gate.invisibility(self, child) != null) {
        continue;
      }
      out.add((e.mode() & S_IFMT) == S_IFDIR ? n + "/" : n);
    }
    out.sort(null);
    audit.agentCall(agent.name(), self, asker, "list", p, "ok", null);
    return out;
  }

  @Override
  public String writeNote(String name, String text) throws ToolCallRefused {
    String n = name == null ? "" : name.strip();
    if (!NOTE_NAME.matcher(n).matches()) {
      throw refuse("note", n, "a note's name is 1 to 100 of A-Z, a-z, 0-9, ., _ and -, starting with a letter or digit");
    }
    if (!n.contains(".")) {
      n = n + ".md";
    }
    String p = "/agents/" + agent.name() + "/memory/" + n;
    if (gate.denial(self, Access.WRITE, p) != null || gate.denial(self, Access.CREATE, p) != null) {
      throw refuse("note", p, "the policy does not let the agent write its memory/");
    }
    byte[] data = text == null ? new byte[0] : text.getBytes(StandardCharsets.UTF_8);
    byte[] pb = p.getBytes(StandardCharsets.UTF_8);
    try {
      long fh;
      try {
        fh = fs.create(pb, 0600, O_WRONLY | O_CREAT, self);
      } catch (FsException e) {
        if (e.errno() != Errno.EEXIST) {
          throw e;
        }
        fh = fs.open(pb, O_WRONLY | O_TRUNC, self);
      }
      try {
        fs.ftruncate(fh, 0);
        int done = 0;
        while (done < data.length) {
          int len = Math.min(data.length - done, 1 << 20);
          done += fs.write(fh, done, java.util.Arrays.copyOfRange(data, done, done + len), len);
        }
      } finally {
        fs.release(fh);
      }
    } catch (FsException e) {
      throw refuse("note", p, Errno.name(e.errno()) + ": " + e.getMessage());
    }
    audit.agentCall(agent.name(), self, asker, "note", p, "ok", data.length + " bytes");
    return p;
  }

  @Override
  public ToolRunResult runTool(String tool, List<String> args, String stdin) throws ToolCallRefused {
    if (tools == null) {
      throw refuse("tool", tool, "tools are off on this mount");
    }
    RunResult r;
    try {
      r = tools.runAs(tool, self, asker, args == null ? List.of() : args,
          stdin == null ? new byte[0] : stdin.getBytes(StandardCharsets.UTF_8));
    } catch (FsException e) {
      throw refuse("tool", "/tools/" + tool, e.getMessage());
    }
    audit.agentCall(agent.name(), self, asker, "tool", "/tools/" + tool, r.succeeded() ? "ok" : r.outcome().name(), null);
    return new ToolRunResult(r.outcome().name(),
        r.outcome() == dev.clawfs.tools.RunRecord.Outcome.EXITED ? r.exitCode() : null,
        r.stdoutText(), r.stderrText(), r.message());
  }

  // ------------------------------------------------------------------ plumbing

  private String checkPath(String op, String path) throws ToolCallRefused {
    if (path == null || !path.startsWith("/") || path.contains("/../") || path.endsWith("/..")
        || path.contains("/./") || path.contains("//") || path.indexOf('\0') >= 0) {
      throw refuse(op, path, "give an absolute mount path such as /workspaces/notes.md");
    }
    String p = path.length() > 1 && path.endsWith("/") ? path.substring(0, path.length() - 1) : path;
    if (!p.equals("/")) {
      int slash = p.indexOf('/', 1);
      String top = slash < 0 ? p.substring(1) : p.substring(1, slash);
      if (!TREES.contains(top)) {
        throw refuse(op, p, "the agent reads the stored folders only (" + String.join(", ", TREES) + ")");
      }
    }
    return p;
  }

  private Attr attr(String op, String p) throws ToolCallRefused {
    try {
      return fs.getattr(p.getBytes(StandardCharsets.UTF_8));
    } catch (FsException e) {
      throw refuse(op, p, e.errno() == Errno.ENOENT ? "no such file" : Errno.name(e.errno()));
    }
  }

  private String deniedWhy(String p) {
    String d = gate.denial(self, Access.READ, p);
    if (d != null) {
      return "the policy denies the agent (" + d + ")";
    }
    if (!SearchService.unixMayRead(fs, self, p)) {
      return "the Unix modes deny the agent";
    }
    return "the asker may not read it";
  }

  /** A refusal; AgentRunner audits it from the loop's transcript, with every other refusal. */
  private ToolCallRefused refuse(String op, String path, String why) {
    return new ToolCallRefused(why);
  }
}
