package dev.clawfs.tools;

import dev.clawfs.tools.RunRecord.Outcome;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Installs and runs sandboxed WebAssembly tools (WASI preview 1 commands) on Chicory.
 *
 * <p>What a run is given: stdin, stdout, stderr, its arguments and the request's environment, a
 * wall clock and a cryptographic random source, and the subtrees of the mount its manifest grants
 * and the caller's policy allows, served by {@link ToolFiles} (read-only unless granted for
 * writing). Nothing else: no host files, no network (WASI preview 1 has no socket creation and its
 * socket calls are not offered), no host function but WASI's.
 *
 * <p>What bounds a run, each the stricter of the manifest's and the policy's ({@link ToolLimits}):
 * memory pages (a grow past the limit stops it), wall time (the module's thread is interrupted),
 * output bytes (stdout, stderr and written files; going over stops it), runs at once per tool and
 * per caller ({@link ToolLimiter}; over is refused). A run over a limit ends with {@link
 * RunRecord.Outcome#LIMIT}, the {@link LimitHit} and a message; nothing a module does is thrown to
 * the caller or can stop the server.
 *
 * <p>Thread safety: all methods may be called from any thread; runs go on in parallel.
 */
public final class ToolRuntime {

  /** What executes a module's code. */
  public enum Engine {
    /** Chicory's interpreter: no start-up cost, slowest. */
    INTERPRETER,
    /**
     * Chicory's runtime compiler: each function to JVM bytecode once per module (at install), then
     * JIT-compiled like any Java; much faster for work of more than a few milliseconds.
     */
    COMPILER
  }

  private static final SecureRandom RANDOM = new SecureRandom();
  private static final AtomicLong RUN_IDS = new AtomicLong();

  private final ToolFiles files;
  private final Engine engine;
  private final Clock clock;
  private final long stackBytes;
  private final ToolLimiter limiter = new ToolLimiter();
  private final List<RunListener> listeners = new CopyOnWriteArrayList<>();
  private final Map<String, Tool> tools = new TreeMap<>();
  private final Map<String, LoadedModule> modules = new HashMap<>();

  private ToolRuntime(Builder b) {
    this.files = b.files;
    this.engine = b.engine;
    this.clock = b.clock;
    this.stackBytes = b.stackBytes;
    this.listeners.addAll(b.listeners);
  }

  public static Builder builder() {
    return new Builder();
  }

  /** Settings of a runtime; every one has a default. */
  public static final class Builder {
    private ToolFiles files;
    private Engine engine = Engine.COMPILER;
    private Clock clock = Clock.systemUTC();
    private long stackBytes = 16 << 20;
    private final List<RunListener> listeners = new ArrayList<>();

    private Builder() {}

    /** The mount's files; without them tools run on stdin and arguments only. */
    public Builder withFiles(ToolFiles toolFiles) {
      this.files = toolFiles;
      return this;
    }

    /** The engine for modules installed from now on (default: the compiler). */
    public Builder withEngine(Engine newEngine) {
      this.engine = Objects.requireNonNull(newEngine);
      return this;
    }

    /** The clock tools read through WASI (default: the system's UTC clock). */
    public Builder withClock(Clock newClock) {
      this.clock = Objects.requireNonNull(newClock);
      return this;
    }

    /** The Java stack of each run's thread: deep wasm recursion traps when it is used up. */
    public Builder withStackBytes(long bytes) {
      this.stackBytes = bytes;
      return this;
    }

    public Builder withListener(RunListener listener) {
      listeners.add(Objects.requireNonNull(listener));
      return this;
    }

    public ToolRuntime build() {
      return new ToolRuntime(this);
    }
  }

  public void addListener(RunListener listener) {
    listeners.add(Objects.requireNonNull(listener));
  }

  public void removeListener(RunListener listener) {
    listeners.remove(listener);
  }

  /** Runs going on, per tool and per caller. */
  public ToolLimiter limiter() {
    return limiter;
  }

  // ---- installing ----

  /**
   * Installs (or replaces) the tool the manifest names, after checking the module: it must be a
   * WebAssembly WASI command importing only WASI preview 1 functions, with an initial memory within
   * the manifest's limit. Modules are parsed and compiled once per content hash.
   */
  public Tool install(ToolManifest manifest, byte[] module) throws ToolException {
    String hash = LoadedModule.sha256(module);
    LoadedModule loaded;
    synchronized (modules) {
      loaded = modules.get(hash);
    }
    if (loaded == null) {
      loaded =
          LoadedModule.load(
              hash, module.clone(), engine); // outside the lock: compiling takes a while
    }
    int initial =
        loaded
            .module()
            .memorySection()
            .map(s -> s.memoryCount() == 0 ? 0 : s.getMemory(0).limits().initialPages())
            .orElse(0);
    if (initial > manifest.limits().memoryPages()) {
      throw new ToolException(
          "module refused: it needs "
              + initial
              + " memory pages at start, the manifest's"
              + " limits.memoryPages is "
              + manifest.limits().memoryPages());
    }
    Tool tool;
    synchronized (modules) {
      LoadedModule existing = modules.putIfAbsent(hash, loaded);
      if (existing != null) {
        loaded = existing;
      }
      tool = new Tool(manifest, loaded);
      synchronized (tools) {
        tools.put(manifest.name(), tool);
      }
      dropUnused();
    }
    return tool;
  }

  /** {@link #install(ToolManifest, byte[])} from the manifest's JSON. */
  public Tool install(byte[] manifestJson, byte[] module) throws ToolException {
    return install(ToolManifest.parse(manifestJson), module);
  }

  /** Removes a tool; runs going on finish. */
  public boolean remove(String name) {
    synchronized (modules) {
      boolean removed;
      synchronized (tools) {
        removed = tools.remove(name) != null;
      }
      dropUnused();
      return removed;
    }
  }

  private void dropUnused() {
    synchronized (tools) {
      modules
          .keySet()
          .removeIf(h -> tools.values().stream().noneMatch(t -> t.moduleHash().equals(h)));
    }
  }

  public Optional<Tool> tool(String name) {
    synchronized (tools) {
      return Optional.ofNullable(tools.get(name));
    }
  }

  /** The installed tools by name. */
  public List<Tool> tools() {
    synchronized (tools) {
      return List.copyOf(tools.values());
    }
  }

  // ---- running ----

  /** Runs the tool called {@code name}; see {@link #run(Tool, ToolRequest, ToolPolicy)}. */
  public RunResult run(String name, ToolRequest request, ToolPolicy policy) {
    Optional<Tool> tool = tool(name);
    if (tool.isEmpty()) {
      return finish(
          refused(name, "", request, clock.instant(), System.nanoTime(), "no tool named " + name),
          new byte[0],
          new byte[0]);
    }
    return run(tool.get(), request, policy);
  }

  /**
   * Runs {@code tool} for {@code request} under {@code policy} and the manifest, waiting for the
   * end. Never throws for anything the module does: the result says how it ended. Blocks the
   * calling thread at most the effective wall time plus a short grace.
   */
  public RunResult run(Tool tool, ToolRequest request, ToolPolicy policy) {
    Instant started = clock.instant();
    long t0 = System.nanoTime();
    ToolManifest m = tool.manifest();
    if (!m.inputs().takesArgs() && !request.args().isEmpty()) {
      return finish(
          refused(
              m.name(), tool.moduleHash(), request, started, t0, m.name() + " takes no arguments"),
          new byte[0],
          new byte[0]);
    }
    ToolLimits limits = m.limits().stricter(policy.limits());
    ToolLimiter.Permit permit =
        limiter.tryAcquire(
            m.name(), limits.concurrency(), request.callerUid(), policy.callerConcurrency());
    if (!permit.granted()) {
      RunRecord r =
          record(
              tool,
              request,
              started,
              t0,
              Outcome.LIMIT,
              -1,
              0,
              0,
              LimitHit.CONCURRENCY,
              permit.refusal(),
              List.of());
      return finish(r, new byte[0], new byte[0]);
    }

    ToolRun run = new ToolRun(tool, request, limits, files, policy.paths(), clock, RANDOM);
    Thread worker =
        new Thread(
            null,
            () -> {
              try {
                run.execute();
              } finally {
                permit.close(); // the slot is given back when the module has really stopped
              }
            },
            "tool-" + m.name() + "-" + RUN_IDS.incrementAndGet(),
            stackBytes);
    worker.setDaemon(true);
    worker.start();

    boolean timedOut = false;
    boolean cancelled = false;
    boolean stuck = false;
    try {
      worker.join(limits.wallTime().toMillis());
      if (worker.isAlive()) {
        timedOut = true;
        worker.interrupt();
        run.view().abort();
        worker.join(ToolRun.GRACE_MILLIS);
        stuck = worker.isAlive();
      }
    } catch (InterruptedException e) {
      // the caller gave up (e.g. the FUSE request was interrupted): stop the module too
      worker.interrupt();
      run.view().abort();
      Thread.currentThread().interrupt();
      cancelled = true;
    }
    return finish(
        classify(tool, request, run, limits, started, t0, timedOut, cancelled, stuck),
        run.capturedOut(),
        run.capturedErr());
  }

  private RunRecord classify(
      Tool tool,
      ToolRequest request,
      ToolRun run,
      ToolLimits limits,
      Instant started,
      long t0,
      boolean timedOut,
      boolean cancelled,
      boolean stuck) {
    Throwable failure = run.failure();
    LimitExceeded limit = failure == null ? null : ToolRun.limitIn(failure);
    Outcome outcome;
    LimitHit hit = null;
    int exit = -1;
    String message;
    if (limit != null) {
      outcome = Outcome.LIMIT;
      hit = limit.limit();
      message = limit.getMessage();
    } else if (cancelled) {
      outcome = Outcome.CANCELLED;
      message = "the caller stopped waiting; the module was interrupted";
    } else if (timedOut || (failure != null && ToolRun.interrupted(failure))) {
      outcome = Outcome.LIMIT;
      hit = LimitHit.TIME;
      message =
          "time limit: stopped after "
              + limits.wallTime().toMillis()
              + " ms"
              + (stuck
                  ? " (the module is blocked in a host call and will stop when it returns)"
                  : "");
    } else if (failure != null) {
      outcome = Outcome.TRAPPED;
      message = trapMessage(failure);
    } else if (run.exitCode() != null) {
      outcome = Outcome.EXITED;
      exit = run.exitCode();
      message = "";
    } else {
      outcome = Outcome.TRAPPED;
      message = "the run ended without an exit status";
    }
    return record(
        tool,
        request,
        started,
        t0,
        outcome,
        exit,
        run.bytesIn(),
        run.bytesOut(),
        hit,
        message,
        run.view().denials());
  }

  private static String trapMessage(Throwable t) {
    if (t instanceof StackOverflowError) {
      return "the module trapped: call stack exhausted";
    }
    if (t instanceof OutOfMemoryError) {
      return "the run was stopped: the server ran out of Java heap";
    }
    String m = t.getMessage();
    if (t instanceof com.dylibso.chicory.wasm.ChicoryException) {
      return "the module trapped: " + (m == null ? t.getClass().getSimpleName() : m);
    }
    return "the run failed: " + t.getClass().getSimpleName() + (m == null ? "" : ": " + m);
  }

  private RunRecord refused(
      String tool, String hash, ToolRequest request, Instant started, long t0, String message) {
    return new RunRecord(
        tool,
        hash,
        request.callerUid(),
        request.agent(),
        started,
        elapsed(t0),
        Outcome.REFUSED,
        -1,
        0,
        0,
        null,
        message,
        List.of());
  }

  private RunRecord record(
      Tool tool,
      ToolRequest request,
      Instant started,
      long t0,
      Outcome outcome,
      int exit,
      long in,
      long out,
      LimitHit hit,
      String message,
      List<String> denials) {
    return new RunRecord(
        tool.name(),
        tool.moduleHash(),
        request.callerUid(),
        request.agent(),
        started,
        elapsed(t0),
        outcome,
        exit,
        in,
        out,
        hit,
        message,
        denials);
  }

  private static Duration elapsed(long t0) {
    return Duration.ofNanos(System.nanoTime() - t0);
  }

  private RunResult finish(RunRecord record, byte[] out, byte[] err) {
    for (RunListener l : listeners) {
      try {
        l.onRun(record);
      } catch (RuntimeException e) {
        // an audit sink's failure must not change the caller's result
      }
    }
    return new RunResult(record, out, err);
  }
}
