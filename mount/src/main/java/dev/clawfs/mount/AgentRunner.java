package dev.clawfs.mount;

import dev.clawfs.agent.AgentAnswer;
import dev.clawfs.agent.AgentLoop;
import dev.clawfs.agent.AgentSettings;
import dev.clawfs.agent.AgentSettingsException;
import dev.clawfs.agent.ChatClient;
import dev.clawfs.agent.Finding;
import dev.clawfs.agent.InjectionScanner;
import dev.clawfs.agent.TranscriptEvent;
import dev.clawfs.agent.TranscriptListener;
import dev.clawfs.fuse.Access;
import dev.clawfs.fuse.Caller;
import dev.clawfs.fuse.ClawFileSystem;
import dev.clawfs.fuse.Errno;
import dev.clawfs.fuse.FsException;
import dev.clawfs.fuse.StreamSource;
import java.lang.System.Logger.Level;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/**
 * One agent at work: its settings, its queue of questions and tasks (one at a time, in order),
 * its transcript and its status. With no model configured (the default) it is the embedded
 * retrieval-only librarian: it answers from the search with the best passages and their paths,
 * marked as extracted, and needs no network. With a model, it runs the tool-calling loop against
 * the OpenAI-compatible endpoint of its settings, which the policy's {@code endpoints:} must
 * allow; the API key is the vault secret the settings name, read by the server for each task
 * (the policy must grant the agent that secret) and never shown to the model or the transcript.
 */
final class AgentRunner implements AutoCloseable {
  private static final System.Logger LOG = System.getLogger("clawfs.agents");

  interface Context {
    ClawFileSystem fs();

    PolicyGate gate();

    SearchService search();

    ToolService tools();

    AuditService audit();

    AgentSettingsStore settings();

    /** Where transcripts are kept across mounts; null when they cannot be (said in the log). */
    TranscriptHistory transcripts();

    /** This agent's stored transcript lines, oldest first (each ending in '\n'). */
    java.util.List<byte[]> storedTranscript(String agent);
  }

  private final AgentRegistry.Agent agent;
  private final Context ctx;
  private final AuditLog transcript = new AuditLog(4 << 20, 32768, true);
  private final AuditLog events = new AuditLog(1 << 20, 8192, true);
  private final ExecutorService queue;
  private final AtomicInteger waiting = new AtomicInteger();
  private final AtomicLong done = new AtomicLong();
  private final AtomicLong failed = new AtomicLong();
  private volatile String lastError;
  private volatile AgentSettings settings;
  private volatile java.util.List<WatchRule> watch;
  /** When each path last became a hook task, for the debounce. */
  private final java.util.Map<String, Long> hooked = new java.util.LinkedHashMap<>(64, 0.75f, true) {
    @Override
    protected boolean removeEldestEntry(java.util.Map.Entry<String, Long> e) {
      return size() > 4096;
    }
  };
  private final AtomicInteger hookTasks = new AtomicInteger();
  /** Hook tasks waiting at most; more changes are reported in events as skipped. */
  static final int MAX_HOOK_TASKS = 32;
  /** A file changed again within this long becomes one task. */
  static final long HOOK_DEBOUNCE_MS = 2000;

  AgentRunner(AgentRegistry.Agent agent, Context ctx) {
    this.agent = agent;
    this.ctx = ctx;
    this.settings = ctx.settings().get(agent.name());
    this.watch = ctx.settings().watch(agent.name());
    this.queue = Executors.newSingleThreadExecutor(r -> {
      Thread t = new Thread(r, "clawfs-agent-" + agent.name());
      t.setDaemon(true);
      return t;
    });
    for (byte[] line : ctx.storedTranscript(agent.name())) {
      transcript.append(line);
    }
  }

  String name() {
    return agent.name();
  }

  int uid() {
    return agent.uid();
  }

  StreamSource transcript() {
    return transcript;
  }

  StreamSource events() {
    return events;
  }

  AuditLog eventLog() {
    return events;
  }

  byte[] settingsJson() {
    return settings.toJson();
  }

  byte[] watchJson() {
    return WatchRule.toJson(watch);
  }

  /** Root wrote watch.json: the change hooks, parsed strictly and kept sealed. */
  void changeWatch(byte[] data) {
    java.util.List<WatchRule> rules = WatchRule.parse(data);
    ctx.settings().putWatch(agent.name(), rules);
    watch = rules;
    LOG.log(Level.INFO, "agent {0}: {1} change hook(s)", agent.name(), rules.size());
  }

  /**
   * A file the agent may read changed ({@code op} changed or moved): the first matching hook
   * makes it a task for the agent, once per {@link #HOOK_DEBOUNCE_MS} per path. A path that
   * matches an injection pattern is not handed over (a file's name is the attacker's to choose).
   * Called on the events thread; the outcome goes to the events stream.
   */
  void onChange(String path, String op) {
    java.util.List<WatchRule> rules = watch;
    if (rules.isEmpty()) {
      return;
    }
    WatchRule rule = null;
    for (WatchRule r : rules) {
      if (r.matches(path, op)) {
        rule = r;
        break;
      }
    }
    if (rule == null) {
      return;
    }
    long now = System.currentTimeMillis();
    synchronized (hooked) {
      Long last = hooked.get(path);
      if (last != null && now - last < HOOK_DEBOUNCE_MS) {
        return;
      }
      hooked.put(path, now);
    }
    InjectionScanner scanner = InjectionScanner.of(ctx.gate().policies().injectionPatterns(ctx.gate().subject(self()))
        .stream().map(AgentRunner::pattern).toList());
    if (!scanner.scan(path).isEmpty()) {
      hookEvent(path, "skipped", "the path matches an injection pattern; not handed to the agent");
      ctx.audit().agentCall(agent.name(), self(), null, "flag", path, "blocked", "a watched path's name");
      return;
    }
    if (hookTasks.incrementAndGet() > MAX_HOOK_TASKS) {
      hookTasks.decrementAndGet();
      hookEvent(path, "skipped", MAX_HOOK_TASKS + " hook tasks are waiting already");
      return;
    }
    submit(rule.taskFor(path), self(), false, answer -> {
      hookTasks.decrementAndGet();
      hookEvent(path, answer.startsWith("ERROR:") ? "failed" : "done", answer.strip());
    });
  }

  private void hookEvent(String path, String result, String detail) {
    String d = detail.length() > 500 ? detail.substring(0, 500) + "..." : detail;
    events.append(new Json().start().str("time", Json.isoTime(System.currentTimeMillis())).str("op", "task")
        .str("path", path).str("result", result).str("detail", d).line().getBytes(StandardCharsets.UTF_8));
    events.publish();
  }

  /** Root wrote settings.json: parsed strictly, checked against the policy, kept sealed. */
  void changeSettings(byte[] data) {
    AgentSettings s;
    try {
      s = AgentSettings.parse(data);
    } catch (AgentSettingsException e) {
      throw new FsException(Errno.EINVAL, "settings.json: " + e.getMessage());
    }
    if (!s.embedded()) {
      String why = endpointDenial(s);
      if (why != null) {
        // the reason names the URL, which may carry a key in its path: not for the log
        LOG.log(Level.WARNING, "agent {0}: settings refused: the endpoint is not allowed", agent.name());
        throw new FsException(Errno.EINVAL, why);
      }
      if (s.apiKeySecret() != null && ctx.gate().denial(self(), Access.READ, "/vault/" + s.apiKeySecret()) != null) {
        why = "the policy does not grant agent " + agent.name() + " the secret " + s.apiKeySecret()
            + " (secrets: [" + s.apiKeySecret() + "] in a rule for agent:" + agent.name() + ")";
        // not the name: a key pasted where the secret's name goes must not reach the log
        LOG.log(Level.WARNING, "agent {0}: settings refused: the key''s secret is not granted", agent.name());
        throw new FsException(Errno.EINVAL, why);
      }
    }
    ctx.settings().put(agent.name(), s);
    settings = s;
    LOG.log(Level.INFO, "agent {0}: settings changed ({1})", agent.name(), s.embedded() ? "embedded librarian" : s.baseUrl());
  }

  private String endpointDenial(AgentSettings s) {
    var d = ctx.gate().policies().decideEndpoint(ctx.gate().subject(self()), s.baseUrl());
    return d.allowed() ? null : "the policy does not allow this endpoint: " + d.reason();
  }

  /** The agent as a caller of the file system (its uid and gid). */
  Caller caller() {
    return new Caller(agent.uid(), agent.gid(), 0);
  }

  private Caller self() {
    return caller();
  }

  /**
   * Queues {@code text} (a question from ask/, or a task from inbox/) asked by {@code asker};
   * {@code answered} gets the answer, or an error in words, when it is done.
   */
  void submit(String text, Caller asker, boolean question, Consumer<String> answered) {
    waiting.incrementAndGet();
    queue.submit(() -> {
      waiting.decrementAndGet();
      String out;
      try {
        out = render(answer(text, asker, question));
        done.incrementAndGet();
      } catch (RuntimeException e) {
        failed.incrementAndGet();
        lastError = Json.isoTime(System.currentTimeMillis()) + " " + ClawfsCli.messageOf(e);
        log(new TranscriptEvent.Failure(java.time.Instant.now(), 0, ClawfsCli.messageOf(e)));
        out = "ERROR: " + ClawfsCli.messageOf(e) + "\n";
      }
      answered.accept(out);
    });
  }

  private AgentAnswer answer(String text, Caller asker, boolean question) {
    AgentSettings s = settings;
    MountAgentTools tools = new MountAgentTools(ctx.fs(), ctx.gate(), ctx.search(), ctx.tools(), ctx.audit(), agent, asker);
    currentAsker = asker == null || asker.uid() == 0 || asker.uid() == agent.uid() ? null : asker;
    InjectionScanner scanner = InjectionScanner.of(ctx.gate().policies().injectionPatterns(ctx.gate().subject(self()))
        .stream().map(AgentRunner::pattern).toList());
    TranscriptListener listener = this::log;
    AgentLoop.Delivery delivery = question ? AgentLoop.Delivery.DIRECT : AgentLoop.Delivery.OUTBOX;
    if (s.embedded()) {
      try {
        return AgentLoop.create(scanner).run(text, s, tools, null, null, listener, delivery); // the librarian
      } catch (dev.clawfs.agent.ChatException e) {
        throw new IllegalStateException("the embedded librarian called a model", e);
      }
    }
    String why = endpointDenial(s);
    if (why != null) {
      throw new FsException(Errno.EACCES, why);
    }
    char[] key = s.apiKeySecret() == null ? null : readSecret(s.apiKeySecret());
    try {
      // the loop reads the key at each model call and never keeps it; it is wiped below
      return AgentLoop.create(scanner).run(text, s.withDefaults(), tools, ChatClient.create(),
          key == null ? null : () -> key, listener, delivery);
    } catch (dev.clawfs.agent.ChatException e) {
      throw new FsException(Errno.EIO, "the model provider failed: " + e.getMessage(), e);
    } finally {
      if (key != null) {
        java.util.Arrays.fill(key, '\0');
      }
    }
  }

  private static dev.clawfs.agent.InjectionPattern pattern(dev.clawfs.policy.InjectionRule r) {
    return new dev.clawfs.agent.InjectionPattern(r.name(), r.regex(),
        r.action() == dev.clawfs.policy.InjectionRule.Action.BLOCK
            ? dev.clawfs.agent.InjectionPattern.Action.BLOCK : dev.clawfs.agent.InjectionPattern.Action.FLAG);
  }

  /** The API key: /vault/NAME, which the policy must grant this agent by name. */
  private char[] readSecret(String name) {
    String path = "/vault/" + name;
    if (!name.matches("[A-Za-z0-9][A-Za-z0-9._-]{0,127}")) {
      throw new FsException(Errno.EINVAL, "apiKeySecret: not a secret's name: " + name);
    }
    String denial = ctx.gate().denial(self(), Access.READ, path);
    if (denial != null) {
      throw new FsException(Errno.EACCES, "the policy does not grant agent " + agent.name() + " the secret "
          + name + " (secrets: [" + name + "] in a rule for agent:" + agent.name() + ")");
    }
    byte[] b;
    try {
      b = new CoreToolFiles(ctx.fs()).read(path, 0, 64 * 1024);
    } catch (java.io.IOException e) {
      throw new FsException(Errno.ENOENT, "the secret " + name + " cannot be read: " + e.getMessage());
    }
    String k = new String(b, StandardCharsets.UTF_8).strip();
    java.util.Arrays.fill(b, (byte) 0);
    return k.toCharArray();
  }

  /** Whom the task in progress is for (null: the agent itself), and its tool calls by id. */
  private volatile Caller currentAsker;
  private final java.util.Map<String, TranscriptEvent.ToolCalled> calls = new java.util.concurrent.ConcurrentHashMap<>();

  /**
   * Every refused tool call is audited here, whoever refused it: the policy (through
   * MountAgentTools) or the loop's own rules (a /vault path, an unknown tool, bad arguments).
   */
  private void auditRefusal(TranscriptEvent.ToolResult r) {
    TranscriptEvent.ToolCalled c = calls.remove(r.callId());
    String op = switch (r.tool()) {
      case "read_file" -> "read";
      case "list_dir" -> "list";
      case "write_note" -> "note";
      case "run_tool" -> "tool";
      default -> r.tool();
    };
    String path = "";
    if (c != null) {
      try {
        com.fasterxml.jackson.databind.JsonNode a = new com.fasterxml.jackson.databind.ObjectMapper().readTree(c.arguments());
        path = a.hasNonNull("path") ? a.get("path").asText()
            : a.hasNonNull("scope") ? a.get("scope").asText()
            : a.hasNonNull("tool") ? "/tools/" + a.get("tool").asText()
            : a.hasNonNull("name") ? a.get("name").asText() : "";
      } catch (java.io.IOException | RuntimeException ex) {
        path = ""; // the model's arguments were not JSON: the detail says so
      }
    }
    ctx.audit().agentCall(agent.name(), self(), currentAsker, op, path, "refused", r.detail());
  }

  private void log(TranscriptEvent e) {
    if (e instanceof TranscriptEvent.Task) {
      calls.clear();
    } else if (e instanceof TranscriptEvent.ToolCalled c) {
      calls.put(c.callId(), c);
    } else if (e instanceof TranscriptEvent.ToolResult r && r.outcome() == TranscriptEvent.Outcome.REFUSED) {
      auditRefusal(r);
    }
    byte[] line = (e.toJsonLine() + "\n").getBytes(StandardCharsets.UTF_8);
    transcript.append(line);
    transcript.publish();
    TranscriptHistory kept = ctx.transcripts();
    if (kept != null) {
      kept.append(agent.name(), line, e instanceof TranscriptEvent.Final || e instanceof TranscriptEvent.Failure);
    }
    if (e instanceof TranscriptEvent.Flagged f) {
      ctx.audit().agentCall(agent.name(), self(), null, f.write() ? "flag-write" : "flag", f.source(),
          f.blocked() ? "blocked" : "flagged", f.finding().pattern());
    }
  }

  /** The answer as a reader sees it: the text, then where it comes from and how it was made. */
  static String render(AgentAnswer a) {
    StringBuilder b = new StringBuilder(a.text().strip()).append("\n");
    if (!a.citedPaths().isEmpty()) {
      b.append("\nSources:\n");
      for (String p : a.citedPaths()) {
        b.append("- ").append(p).append('\n');
      }
    }
    if (!a.complete()) {
      b.append("\n[incomplete: ").append(a.stopReason()).append("]\n");
    }
    if (!a.flags().isEmpty()) {
      b.append("\n[flagged: ");
      for (int i = 0; i < a.flags().size(); i++) {
        Finding f = a.flags().get(i);
        b.append(i == 0 ? "" : ", ").append(f.pattern());
      }
      b.append(" (see the transcript)]\n");
    }
    return b.toString();
  }

  /** Questions and tasks waiting or running, for system/metrics. */
  int queued() {
    return waiting.get();
  }

  long doneCount() {
    return done.get();
  }

  long failedCount() {
    return failed.get();
  }

  /** The last failure's message, or null. */
  String lastError() {
    return lastError;
  }

  String status() {
    AgentSettings s = settings;
    StringBuilder b = new StringBuilder();
    b.append("agent: ").append(agent.name()).append(" (uid ").append(Integer.toUnsignedString(agent.uid())).append(")\n");
    b.append("provider: ").append(s.embedded() ? "embedded librarian (retrieval only, no model, no network)"
        : s.baseUrl()).append('\n');
    b.append("model: ").append(s.embedded() ? "none" : s.model()).append('\n');
    b.append("queue: ").append(waiting.get()).append('\n');
    b.append("done: ").append(done.get()).append('\n');
    b.append("failed: ").append(failed.get()).append('\n');
    String e = lastError;
    b.append("last error: ").append(e == null ? "none" : e).append('\n');
    return b.toString();
  }

  @Override
  public void close() {
    queue.shutdownNow();
    transcript.close();
    events.close();
  }
}
