package dev.clawfs.mount;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.clawfs.crypto.MasterKeys;
import dev.clawfs.fuse.Access;
import dev.clawfs.fuse.Caller;
import dev.clawfs.fuse.ClawFileSystem;
import dev.clawfs.fuse.Errno;
import dev.clawfs.fuse.FsException;
import dev.clawfs.fuse.SessionSource;
import dev.clawfs.fuse.VirtualDir;
import dev.clawfs.fuse.VirtualNode;
import dev.clawfs.fuse.VirtualTree;
import dev.clawfs.policy.ToolDecision;
import dev.clawfs.policy.ToolLimitsSpec;
import dev.clawfs.tools.BuiltinTools;
import dev.clawfs.tools.LimitHit;
import dev.clawfs.tools.ManifestException;
import dev.clawfs.tools.PathGate;
import dev.clawfs.tools.RunRecord;
import dev.clawfs.tools.RunResult;
import dev.clawfs.tools.Tool;
import dev.clawfs.tools.ToolException;
import dev.clawfs.tools.ToolLimits;
import dev.clawfs.tools.ToolManifest;
import dev.clawfs.tools.ToolPolicy;
import dev.clawfs.tools.ToolRequest;
import dev.clawfs.tools.ToolRuntime;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.System.Logger.Level;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Deque;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Pattern;

/**
 * {@code /tools/}: the WASM tools, reached as files (docs/tools.md is the user's description).
 *
 * <pre>
 * tools/NAME/manifest.json   the manifest (root may write a new one)
 * tools/NAME/module.wasm     the module (root writes one to install or replace the tool)
 * tools/NAME/run             one-descriptor transaction: write stdin, read stdout (the first read ends the input)
 * tools/NAME/run.json        the same with a JSON request (args, stdin) and a JSON reply (exit, stdout, stderr, ...)
 * tools/NAME/inbox/JOB       drop box: a JSON request written here runs in the background ...
 * tools/NAME/outbox/JOB      ... and its JSON reply is read here (a read waits until it is done)
 * tools/NAME/log             the caller's recent runs of the tool, as JSON lines (root sees all)
 * </pre>
 *
 * Root installs with {@code mkdir tools/NAME} and writing module.wasm (and manifest.json), which
 * is what {@code clawfs tool add} does; {@code rmdir tools/NAME} removes. Installed modules are
 * kept sealed in {@code VAULT/tools/} under random file names and installed again at each mount;
 * the shipped tools come from the jar. Who may run a tool, and within which limits, is the
 * policy's {@code tools:} section; which files the tool then reads is the manifest's paths and
 * the caller's own access (policy and Unix modes), served by the ClawFS core.
 */
final class ToolService implements VirtualTree {
  private static final System.Logger LOG = System.getLogger("clawfs.tools");
  private static final ObjectMapper JSON = new ObjectMapper()
      .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION);
  private static final Pattern JOB_NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,127}");
  /** The largest JSON request (run.json, inbox) and raw stdin kept waiting in memory. */
  static final int MAX_REQUEST = 64 << 20;
  /** JSON request bytes one caller (not root) may have waiting in open run.json descriptors. */
  static final long MAX_HELD_PER_CALLER = 128L << 20;
  /** Jobs kept per caller and tool; the oldest finished ones go first. */
  static final int MAX_JOBS = 64;
  /** Runs shown in each tool's log. */
  static final int LOG_RUNS = 200;
  /** Bytes of raw stdin buffered ahead of the tool (a writer waits beyond this). */
  static final int PIPE_BYTES = 1 << 20;
  private static final long WAIT_SLICE_MS = 200;

  private final ClawFileSystem fs;
  private final Path store;
  private final MasterKeys keys;
  private final PolicyGate gate;
  private final AuditService audit;
  private final ToolRuntime runtime;
  /** Stored file of each tool installed by root (shipped tools have none unless replaced). */
  private final Map<String, Path> stored = new ConcurrentHashMap<>();
  /** Directories root made that have no module yet, with the manifest written to them, if any. */
  private final Map<String, byte[]> pending = new ConcurrentHashMap<>();
  /** Jobs by tool, then caller uid, then job name. */
  private final Map<String, Map<Integer, LinkedHashMap<String, PendingReply>>> jobs = new ConcurrentHashMap<>();
  private final Map<String, Deque<RunRecord>> logs = new ConcurrentHashMap<>();
  private final Deque<String> errors = new ArrayDeque<>();
  private final ExecutorService runners = Executors.newCachedThreadPool(r -> {
    Thread t = new Thread(r, "clawfs-tool-caller");
    t.setDaemon(true);
    return t;
  });
  private final Map<Integer, AtomicLong> held = new ConcurrentHashMap<>();
  private final AtomicLong runs = new AtomicLong();
  private final AtomicLong failedRuns = new AtomicLong();
  /** Runs by tool and outcome, for system/metrics. */
  private final Map<RunKey, AtomicLong> runsByOutcome = new ConcurrentHashMap<>();

  /** A tool and how its runs ended: ok, nonzero_exit, limit, trapped, refused, cancelled. */
  record RunKey(String tool, String outcome) {}
  private final String unavailable;

  private ToolService(ClawFileSystem fs, Path store, MasterKeys keys, PolicyGate gate, AuditService audit) {
    this.fs = fs;
    this.store = store;
    this.keys = keys;
    this.gate = gate;
    this.audit = audit;
    this.runtime = ToolRuntime.builder().withFiles(new CoreToolFiles(fs)).withListener(this::recorded).build();
    this.unavailable = BuiltinTools.unavailableReason().orElse(null);
  }

  /**
   * Installs the shipped tools and those kept in {@code VAULT/tools/}, and serves {@code /tools}
   * and {@code /system/tools/}. A kept tool that no longer installs is reported, not fatal.
   */
  static ToolService start(ClawFileSystem fs, Path vault, MasterKeys keys, PolicyGate gate, AuditService audit,
      VirtualDir system) throws IOException {
    ToolService s = new ToolService(fs, vault.resolve("tools"), keys, gate, audit);
    if (s.unavailable == null) {
      try {
        BuiltinTools.installAll(s.runtime);
      } catch (ToolException e) {
        s.error("shipped tools: " + e.getMessage());
      }
    } else {
      LOG.log(Level.WARNING, "no shipped tools: {0}", s.unavailable);
    }
    s.loadStored();
    fs.registerVirtual("tools", s);
    VirtualDir dir = system.dir("tools");
    dir.file("status", () -> s.status().getBytes(StandardCharsets.UTF_8));
    dir.file("errors", () -> s.errorsText().getBytes(StandardCharsets.UTF_8));
    return s;
  }

  ToolRuntime runtime() {
    return runtime;
  }

  // ================================================================== the kept modules

  private void loadStored() throws IOException {
    if (!Files.isDirectory(store)) {
      return;
    }
    try (DirectoryStream<Path> ds = Files.newDirectoryStream(store, "*.sealed")) {
      for (Path p : ds) {
        try {
          byte[] plain = new SealedFile(p, "tool", keys).read();
          JsonNode n = JSON.readTree(plain);
          byte[] manifest = n.get("manifest").asText().getBytes(StandardCharsets.UTF_8);
          byte[] module = Base64.getDecoder().decode(n.get("module").asText());
          Tool t = runtime.install(manifest, module);
          Path old = stored.put(t.name(), p);
          if (old != null) {
            // two kept files for one name (a crash between writing the new and removing the old)
            LOG.log(Level.WARNING, "two kept modules for tool {0}; using one of them", t.name());
          }
        } catch (IOException | RuntimeException | ToolException e) {
          error("kept tool " + p.getFileName() + " not installed: " + ClawfsCli.messageOf(e));
        }
      }
    }
  }

  /** Keeps a tool sealed in the vault under a random name, then drops the file it replaces. */
  private void keep(Tool t) {
    ObjectNode n = JSON.createObjectNode();
    n.put("manifest", new String(t.manifest().toJson(), StandardCharsets.UTF_8));
    n.put("module", Base64.getEncoder().encodeToString(t.moduleBytes()));
    byte[] name = new byte[16];
    new SecureRandom().nextBytes(name);
    Path p = store.resolve(HexFormat.of().formatHex(name) + ".sealed");
    try {
      new SealedFile(p, "tool", keys).write(JSON.writeValueAsBytes(n));
    } catch (IOException e) {
      throw new FsException(Errno.EIO, "cannot keep the module in the vault: " + e.getMessage(), e);
    }
    Path old = stored.put(t.name(), p);
    if (old != null) {
      try {
        Files.deleteIfExists(old);
      } catch (IOException e) {
        LOG.log(Level.WARNING, "old kept module of {0} not removed: {1}", t.name(), e.getMessage());
      }
    }
  }

  // ================================================================== the tree

  @Override
  public VirtualNode resolve(List<String> path, Caller caller) {
    if (path.isEmpty()) {
      return new VirtualNode.Directory(() -> listTools(caller), rootFiles, 0755);
    }
    String name = path.get(0);
    Optional<Tool> tool = runtime.tool(name);
    if (tool.isEmpty()) {
      if (caller.uid() == 0 && pending.containsKey(name)) {
        return pendingNode(name, path.subList(1, path.size()));
      }
      throw new FsException(Errno.ENOENT, "no tool named " + name);
    }
    List<String> rest = path.subList(1, path.size());
    if (rest.isEmpty()) {
      return new VirtualNode.Directory(() -> List.of(
          new VirtualNode.Entry("inbox", VirtualNode.Kind.DIRECTORY),
          new VirtualNode.Entry("log", VirtualNode.Kind.FILE),
          new VirtualNode.Entry("manifest.json", VirtualNode.Kind.FILE),
          new VirtualNode.Entry("module.wasm", VirtualNode.Kind.FILE),
          new VirtualNode.Entry("outbox", VirtualNode.Kind.DIRECTORY),
          new VirtualNode.Entry("run", VirtualNode.Kind.FILE),
          new VirtualNode.Entry("run.json", VirtualNode.Kind.FILE)));
    }
    String leaf = rest.get(0);
    if (rest.size() > 1 && !leaf.equals("inbox") && !leaf.equals("outbox")) {
      throw new FsException(Errno.ENOTDIR, "not a directory");
    }
    return switch (leaf) {
      case "manifest.json" -> new VirtualNode.File(() -> currentTool(name).manifest().toJson(),
          (data, c) -> writeManifest(name, data, c), 0644);
      case "module.wasm" -> new VirtualNode.File(() -> currentTool(name).moduleBytes(),
          (data, c) -> writeModule(name, data, c), 0644);
      case "run" -> new VirtualNode.Session((c, flags) -> new RawSession(name, c), 0666);
      case "run.json" -> new VirtualNode.Session((c, flags) -> new JsonSession(name, c), 0666);
      case "log" -> VirtualNode.File.readOnly(() -> logText(name, caller));
      case "inbox" -> inboxNode(name, rest.subList(1, rest.size()), caller);
      case "outbox" -> outboxNode(name, rest.subList(1, rest.size()), caller);
      default -> throw new FsException(Errno.ENOENT, "no such file in a tool's folder");
    };
  }

  private List<VirtualNode.Entry> listTools(Caller caller) {
    List<VirtualNode.Entry> out = new ArrayList<>();
    for (Tool t : runtime.tools()) {
      out.add(new VirtualNode.Entry(t.name(), VirtualNode.Kind.DIRECTORY));
    }
    if (caller.uid() == 0) {
      for (String p : pending.keySet()) {
        if (runtime.tool(p).isEmpty()) {
          out.add(new VirtualNode.Entry(p, VirtualNode.Kind.DIRECTORY));
        }
      }
    }
    return out;
  }

  private Tool currentTool(String name) {
    return runtime.tool(name).orElseThrow(() -> new FsException(Errno.ENOENT, "no tool named " + name));
  }

  /** mkdir and rmdir in /tools: root's install and removal. */
  private final VirtualNode.Files rootFiles = new VirtualNode.Files() {
    @Override
    public VirtualNode.File create(String name, Caller caller) {
      throw new FsException(Errno.EACCES, "make a folder for the tool (mkdir) and write its module.wasm there");
    }

    @Override
    public void mkdir(String name, Caller caller) {
      requireRoot(caller, "installs tools");
      if (runtime.tool(name).isPresent() || pending.containsKey(name)) {
        throw new FsException(Errno.EEXIST, "tool " + name + " exists");
      }
      String problem = nameProblem(name);
      if (problem != null) {
        throw new FsException(Errno.EINVAL, problem);
      }
      pending.put(name, new byte[0]);
    }

    @Override
    public void remove(String name, Caller caller) {
      requireRoot(caller, "removes tools");
      if (pending.remove(name) != null && runtime.tool(name).isEmpty()) {
        return;
      }
      if (runtime.tool(name).isEmpty()) {
        throw new FsException(Errno.ENOENT, "no tool named " + name);
      }
      Path kept = stored.remove(name);
      boolean shipped = unavailable == null && BuiltinTools.names().contains(name);
      if (kept == null && shipped) {
        throw new FsException(Errno.EPERM, name + " is a shipped tool: it can be replaced, not removed");
      }
      if (kept != null) {
        try {
          Files.deleteIfExists(kept);
        } catch (IOException e) {
          throw new FsException(Errno.EIO, "cannot remove the kept module: " + e.getMessage(), e);
        }
      }
      if (shipped) {
        try {
          runtime.install(BuiltinTools.manifest(name), BuiltinTools.module(name));
        } catch (ToolException e) {
          throw new FsException(Errno.EIO, "the shipped " + name + " did not install again: " + e.getMessage(), e);
        }
        LOG.log(Level.INFO, "tool {0}: the replacement was removed, the shipped module is back", name);
      } else {
        runtime.remove(name);
        logs.remove(name);
        LOG.log(Level.INFO, "tool {0} removed", name);
      }
    }
  };

  static String nameProblem(String name) {
    if (!name.matches("[a-z0-9][a-z0-9_-]{0,63}")) {
      return "a tool name is 1 to 64 of a-z, 0-9, _ and -, starting with a letter or digit: " + name;
    }
    return null;
  }

  private static void requireRoot(Caller caller, String what) {
    if (caller.uid() != 0) {
      throw new FsException(Errno.EACCES, "only root " + what);
    }
  }

  /** A folder made with mkdir that has no module yet: manifest.json and module.wasm to write. */
  private VirtualNode pendingNode(String name, List<String> rest) {
    if (rest.isEmpty()) {
      return new VirtualNode.Directory(() -> List.of(
          new VirtualNode.Entry("manifest.json", VirtualNode.Kind.FILE),
          new VirtualNode.Entry("module.wasm", VirtualNode.Kind.FILE)));
    }
    if (rest.size() == 1 && rest.get(0).equals("manifest.json")) {
      return new VirtualNode.File(() -> pending.getOrDefault(name, new byte[0]),
          (data, c) -> writeManifest(name, data, c), 0644);
    }
    if (rest.size() == 1 && rest.get(0).equals("module.wasm")) {
      return new VirtualNode.File(() -> new byte[0], (data, c) -> writeModule(name, data, c), 0644);
    }
    throw new FsException(Errno.ENOENT, "tool " + name + " has no module yet");
  }

  private void writeManifest(String name, byte[] data, Caller caller) {
    requireRoot(caller, "installs tools");
    ToolManifest m;
    try {
      m = ToolManifest.parse(data);
    } catch (ManifestException e) {
      throw refuse(name, e.getMessage());
    }
    if (!m.name().equals(name)) {
      throw refuse(name, "manifest.json: name is \"" + m.name() + "\" but the folder is " + name);
    }
    Optional<Tool> current = runtime.tool(name);
    if (current.isEmpty()) {
      pending.put(name, data.clone());
      return;
    }
    install(name, m, current.get().moduleBytes());
  }

  private void writeModule(String name, byte[] data, Caller caller) {
    requireRoot(caller, "installs tools");
    if (data.length == 0) {
      return; // the truncating open of `cp`, before the bytes come
    }
    ToolManifest m;
    Optional<Tool> current = runtime.tool(name);
    try {
      byte[] manifest = pending.get(name);
      if (manifest != null && manifest.length > 0) {
        m = ToolManifest.parse(manifest);
      } else if (current.isPresent()) {
        m = current.get().manifest();
      } else {
        m = ToolManifest.parse(("{\"name\":\"" + name + "\",\"description\":\"installed without a manifest\"}")
            .getBytes(StandardCharsets.UTF_8));
      }
    } catch (ManifestException e) {
      throw refuse(name, e.getMessage());
    }
    install(name, m, data);
  }

  private void install(String name, ToolManifest m, byte[] module) {
    Tool t;
    try {
      t = runtime.install(m, module);
    } catch (ToolException e) {
      throw refuse(name, e.getMessage());
    }
    keep(t);
    pending.remove(name);
    LOG.log(Level.INFO, "tool {0} installed (module sha256 {1}, {2} bytes)", name, t.moduleHash(), t.moduleSize());
  }

  private FsException refuse(String name, String why) {
    error(name + ": " + why);
    return new FsException(Errno.EINVAL, why);
  }

  private void error(String line) {
    LOG.log(Level.WARNING, "tools: {0}", line);
    synchronized (errors) {
      errors.addLast(Json.isoTime(System.currentTimeMillis()) + " " + line.replace('\n', ' '));
      while (errors.size() > 50) {
        errors.removeFirst();
      }
    }
  }

  private String errorsText() {
    synchronized (errors) {
      return errors.isEmpty() ? "" : String.join("\n", errors) + "\n";
    }
  }

  /** Runs so far by tool and outcome. */
  Map<RunKey, Long> runCounts() {
    Map<RunKey, Long> out = new java.util.TreeMap<>(java.util.Comparator.comparing(RunKey::tool).thenComparing(RunKey::outcome));
    runsByOutcome.forEach((k, v) -> out.put(k, v.get()));
    return out;
  }

  /** Tools installed (shipped and root's). */
  int toolCount() {
    return runtime.tools().size();
  }

  private String status() {
    StringBuilder b = new StringBuilder();
    b.append("tools: ").append(runtime.tools().size()).append('\n');
    b.append("shipped: ").append(unavailable == null ? String.join(" ", BuiltinTools.names())
        : "none (" + unavailable + ")").append('\n');
    b.append("installed by root: ").append(String.join(" ", new java.util.TreeSet<>(stored.keySet()))).append('\n');
    b.append("runs: ").append(runs.get()).append('\n');
    b.append("runs that failed or hit a limit: ").append(failedRuns.get()).append('\n');
    b.append("engines:");
    for (Tool t : runtime.tools()) {
      b.append(' ').append(t.name()).append('=').append(t.engine().name().toLowerCase(java.util.Locale.ROOT));
    }
    b.append('\n');
    return b.toString();
  }

  // ================================================================== running

  /**
   * What {@code caller} may do with tool {@code name}: EACCES when the policy denies it; else the
   * limits of the policy and a path gate that lets the tool read (write) only what the caller may.
   */
  private ToolPolicy policyFor(String name, Caller caller) {
    ToolDecision d = gate.policies().decideTool(gate.subject(caller), name);
    if (!d.allowed()) {
      throw refused(name, caller, new FsException(Errno.EACCES, d.reason()));
    }
    ToolLimitsSpec l = d.limits();
    ToolLimits u = ToolLimits.UNLIMITED;
    ToolLimits limits = new ToolLimits(
        l.memoryPages() != null ? l.memoryPages() : u.memoryPages(),
        l.wallMs() != null ? Duration.ofMillis(l.wallMs()) : u.wallTime(),
        l.outputBytes() != null ? l.outputBytes() : u.outputBytes(),
        u.concurrency());
    int perCaller = l.concurrency() != null ? l.concurrency() : ToolLimits.MAX_CONCURRENCY;
    PathGate paths = (path, write) -> gate.denial(caller, write ? Access.WRITE : Access.READ, path) == null
        && unixMay(caller, path, write);
    return new ToolPolicy(limits, perCaller, paths);
  }

  /** Unix modes of the caller on path: x on each folder, then r (or w) on the last component. */
  private boolean unixMay(Caller caller, String path, boolean write) {
    if (!write) {
      return SearchService.unixMayRead(fs, caller, path);
    }
    if (caller.uid() == 0) {
      return true;
    }
    // a write needs w on the file when it exists, else on its folder
    String target = path;
    try {
      fs.getattr(path.getBytes(StandardCharsets.UTF_8));
    } catch (FsException e) {
      int slash = path.lastIndexOf('/');
      target = slash <= 0 ? "/" : path.substring(0, slash);
    }
    try {
      var a = fs.getattr(target.getBytes(StandardCharsets.UTF_8));
      int shift = a.uid() == caller.uid() ? 6 : a.gid() == caller.gid() ? 3 : 0;
      return (a.mode() >> shift & 2) != 0 && SearchService.unixMayRead(fs, caller, parentOf(target));
    } catch (FsException e) {
      return false;
    }
  }

  private static String parentOf(String p) {
    int slash = p.lastIndexOf('/');
    return slash <= 0 ? "/" : p.substring(0, slash);
  }

  private String agentOf(Caller c) {
    var s = gate.subject(c);
    return s.agent() == null ? "" : s.agent();
  }

  /** A refusal by this service (policy, a bad request): recorded like the runtime's own, then thrown. */
  private FsException refused(String name, Caller caller, FsException e) {
    String hash = runtime.tool(name).map(Tool::moduleHash).orElse("");
    recorded(new RunRecord(name, hash, caller.uid(), agentOf(caller), java.time.Instant.now(), Duration.ZERO,
        RunRecord.Outcome.REFUSED, -1, 0, 0, null, e.getMessage(), List.of()));
    return e;
  }

  /** Every run and refusal: counted, kept in the tool's log, sent to the audit stream. */
  private void recorded(RunRecord r) {
    runs.incrementAndGet();
    String outcome = r.succeeded() ? "ok" : r.outcome() == RunRecord.Outcome.EXITED ? "nonzero_exit"
        : r.outcome().name().toLowerCase(java.util.Locale.ROOT);
    runsByOutcome.computeIfAbsent(new RunKey(r.tool(), outcome), k -> new AtomicLong()).incrementAndGet();
    if (!r.succeeded()) {
      failedRuns.incrementAndGet();
    }
    Deque<RunRecord> d = logs.computeIfAbsent(r.tool(), k -> new ArrayDeque<>());
    synchronized (d) {
      d.addLast(r);
      while (d.size() > LOG_RUNS) {
        d.removeFirst();
      }
    }
    audit.toolRun(r);
  }

  private byte[] logText(String name, Caller caller) {
    Deque<RunRecord> d = logs.get(name);
    StringBuilder b = new StringBuilder();
    if (d != null) {
      List<RunRecord> copy;
      synchronized (d) {
        copy = new ArrayList<>(d);
      }
      Json j = new Json();
      for (RunRecord r : copy) {
        if (caller.uid() == 0 || r.callerUid() == caller.uid()) {
          b.append(runLine(j, r));
        }
      }
    }
    return b.toString().getBytes(StandardCharsets.UTF_8);
  }

  static String runLine(Json j, RunRecord r) {
    j.start().str("time", Json.isoTime(r.started().toEpochMilli())).str("tool", r.tool())
        .num("uid", Integer.toUnsignedLong(r.callerUid())).str("agent", r.agent().isEmpty() ? null : r.agent())
        .str("outcome", r.outcome().name());
    if (r.outcome() == RunRecord.Outcome.EXITED) {
      j.num("exit", r.exitCode());
    }
    if (r.limitHit() != null) {
      j.str("limit", r.limitHit().name());
    }
    j.num("duration_ms", r.duration().toMillis()).num("bytes_in", r.bytesIn()).num("bytes_out", r.bytesOut())
        .str("module_sha256", r.moduleHash());
    if (!r.message().isEmpty()) {
      j.str("message", r.message());
    }
    if (!r.denials().isEmpty()) {
      j.str("denials", String.join("; ", r.denials()));
    }
    return j.line();
  }

  /** The errno a failed raw run reads as, after its stdout (docs/tools.md). */
  static int errnoOf(RunResult r) {
    return switch (r.outcome()) {
      case EXITED, TRAPPED -> Errno.EIO;
      case LIMIT -> switch (r.limitHit()) {
        case TIME -> Errno.ETIME;
        case MEMORY -> Errno.ENOMEM;
        case OUTPUT -> Errno.EFBIG;
        case CONCURRENCY -> Errno.EBUSY;
      };
      case REFUSED -> Errno.EINVAL;
      case CANCELLED -> Errno.EINTR;
    };
  }

  // ---------------------------------------------------------------- requests and replies

  /** A parsed JSON request: args, env and stdin (inline text, base64, or a mount path read as the caller). */
  private record Request(List<String> args, Map<String, String> env, byte[] stdin) {}

  private Request parseRequest(byte[] data, Caller caller) {
    JsonNode n;
    try {
      n = JSON.readTree(data);
    } catch (IOException e) {
      throw new FsException(Errno.EINVAL, "the request is not JSON: " + firstLine(e.getMessage()));
    }
    if (n == null || !n.isObject()) {
      throw new FsException(Errno.EINVAL, "the request must be a JSON object");
    }
    List<String> args = new ArrayList<>();
    Map<String, String> env = new LinkedHashMap<>();
    byte[] stdin = null;
    int stdins = 0;
    for (Iterator<Map.Entry<String, JsonNode>> it = n.fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> f = it.next();
      JsonNode v = f.getValue();
      switch (f.getKey()) {
        case "args" -> {
          if (!v.isArray()) {
            throw new FsException(Errno.EINVAL, "args: must be an array of strings");
          }
          for (JsonNode a : v) {
            if (!a.isTextual()) {
              throw new FsException(Errno.EINVAL, "args: must be an array of strings");
            }
            args.add(a.asText());
          }
        }
        case "env" -> {
          if (!v.isObject()) {
            throw new FsException(Errno.EINVAL, "env: must be an object of strings");
          }
          for (Iterator<Map.Entry<String, JsonNode>> e = v.fields(); e.hasNext(); ) {
            Map.Entry<String, JsonNode> kv = e.next();
            if (!kv.getValue().isTextual() || kv.getKey().isEmpty() || kv.getKey().contains("=")) {
              throw new FsException(Errno.EINVAL, "env: must be an object of strings (names without =)");
            }
            env.put(kv.getKey(), kv.getValue().asText());
          }
        }
        case "stdin" -> {
          if (!v.isTextual()) {
            throw new FsException(Errno.EINVAL, "stdin: must be a string");
          }
          stdin = v.asText().getBytes(StandardCharsets.UTF_8);
          stdins++;
        }
        case "stdinBase64" -> {
          try {
            stdin = Base64.getDecoder().decode(v.asText());
          } catch (IllegalArgumentException e) {
            throw new FsException(Errno.EINVAL, "stdinBase64: not base64");
          }
          stdins++;
        }
        case "stdinPath" -> {
          stdin = readAsCaller(v.asText(), caller);
          stdins++;
        }
        default -> throw new FsException(Errno.EINVAL, "unknown field " + f.getKey()
            + " (a request has args, env and one of stdin, stdinBase64, stdinPath)");
      }
    }
    if (stdins > 1) {
      throw new FsException(Errno.EINVAL, "give at most one of stdin, stdinBase64, stdinPath");
    }
    return new Request(args, env, stdin == null ? new byte[0] : stdin);
  }

  /** A stored file read with the caller's rights (policy and Unix modes): stdinPath. */
  private byte[] readAsCaller(String path, Caller caller) {
    if (!path.startsWith("/") || path.contains("/../") || path.endsWith("/..") || path.contains("/./")) {
      throw new FsException(Errno.EINVAL, "stdinPath: must be an absolute mount path (/workspaces/...)");
    }
    if (gate.denial(caller, Access.READ, path) != null || !SearchService.unixMayRead(fs, caller, path)) {
      throw new FsException(Errno.EACCES, "stdinPath: " + path + ": you may not read it");
    }
    try {
      var a = fs.getattr(path.getBytes(StandardCharsets.UTF_8));
      if (a.size() > MAX_REQUEST) {
        throw new FsException(Errno.EFBIG, "stdinPath: larger than " + (MAX_REQUEST >> 20) + " MiB");
      }
      return new CoreToolFiles(fs).read(path, 0, (int) a.size());
    } catch (IOException e) {
      throw new FsException(Errno.ENOENT, "stdinPath: " + path + ": " + e.getMessage());
    } catch (FsException e) {
      if (e.errno() == Errno.ENOENT) {
        throw new FsException(Errno.ENOENT, "stdinPath: no file " + path);
      }
      throw e;
    }
  }

  private static String firstLine(String s) {
    String m = String.valueOf(s);
    int nl = m.indexOf('\n');
    return nl < 0 ? m : m.substring(0, nl);
  }

  /** Runs a parsed request to the end (on the calling thread) and gives the JSON reply. */
  private byte[] runToReply(String name, Caller caller, byte[] requestBytes) {
    RunResult r;
    try {
      ToolPolicy p = policyFor(name, caller);
      Request q;
      try {
        q = parseRequest(requestBytes, caller);
      } catch (FsException e) {
        throw refused(name, caller, e);
      }
      r = runtime.run(name, new ToolRequest(caller.uid(), agentOf(caller), q.args(), q.env(),
          new java.io.ByteArrayInputStream(q.stdin()), null, null), p);
    } catch (FsException e) {
      return refusalReply(name, e);
    }
    return reply(name, r);
  }

  /**
   * A run for a caller inside the server (an agent's run_tool): the same policy, limits, file
   * grants and records as a run through the files. Throws FsException when there is no such tool
   * or the policy denies it.
   */
  RunResult runAs(String name, Caller caller, Caller asker, List<String> args, byte[] stdin) {
    currentTool(name);
    ToolPolicy p = policyFor(name, caller);
    if (asker != null) {
      // a task someone asked: the tool reads only what the asker may read too
      PathGate own = p.paths();
      p = p.withPaths((path, write) -> own.permits(path, write)
          && gate.denial(asker, write ? Access.WRITE : Access.READ, path) == null && unixMay(asker, path, write));
    }
    return runtime.run(name, new ToolRequest(caller.uid(), agentOf(caller), args, Map.of(),
        new java.io.ByteArrayInputStream(stdin), null, null), p);
  }

  static byte[] refusalReply(String name, FsException e) {
    ObjectNode o = JSON.createObjectNode();
    o.put("tool", name);
    o.put("outcome", "REFUSED");
    o.putNull("exit");
    o.put("error", Errno.name(e.errno()));
    o.put("message", e.getMessage());
    return bytesOf(o);
  }

  static byte[] reply(String name, RunResult r) {
    ObjectNode o = JSON.createObjectNode();
    RunRecord rec = r.record();
    o.put("tool", name);
    o.put("outcome", rec.outcome().name());
    if (rec.outcome() == RunRecord.Outcome.EXITED) {
      o.put("exit", rec.exitCode());
    } else {
      o.putNull("exit");
    }
    if (rec.limitHit() != null) {
      o.put("limit", rec.limitHit().name());
    }
    o.put("message", rec.message());
    putText(o, "stdout", r.stdout());
    putText(o, "stderr", r.stderr());
    o.put("durationMs", rec.duration().toMillis());
    o.put("bytesIn", rec.bytesIn());
    o.put("bytesOut", rec.bytesOut());
    if (!rec.denials().isEmpty()) {
      var a = o.putArray("denials");
      rec.denials().forEach(a::add);
    }
    return bytesOf(o);
  }

  /** Text as a JSON string when it is UTF-8, else under NAME + "Base64". */
  private static void putText(ObjectNode o, String field, byte[] b) {
    try {
      String s = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(b)).toString();
      o.put(field, s);
    } catch (CharacterCodingException e) {
      o.put(field + "Base64", Base64.getEncoder().encodeToString(b));
    }
  }

  private static byte[] bytesOf(ObjectNode o) {
    try {
      byte[] b = JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(o);
      byte[] out = java.util.Arrays.copyOf(b, b.length + 1);
      out[b.length] = '\n';
      return out;
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }

  // ---------------------------------------------------------------- the raw transaction: run

  /**
   * {@code run}: bytes written are the tool's stdin, streamed to it as it runs (the run starts at
   * the first write or read); the first read ends the input and returns stdout as it is produced.
   * When stdout is all read, a run that exited 0 reads as end of file; any other end reads as an
   * error (errnoOf), once. Closing the descriptor early stops the run.
   */
  private final class RawSession implements SessionSource.Session {
    private final String name;
    private final Caller caller;
    private final ToolPolicy policy;
    private final Pipe stdin = new Pipe(PIPE_BYTES);
    private final Output stdout = new Output();
    private java.util.concurrent.Future<?> running;
    private volatile RunResult result;
    private long delivered;
    private boolean errorReported;

    RawSession(String name, Caller caller) {
      this.name = name;
      this.caller = caller;
      currentTool(name);
      this.policy = policyFor(name, caller); // EACCES at open when the policy denies the tool
    }

    private synchronized void start() {
      if (running == null) {
        running = runners.submit(() -> {
          RunResult r = runtime.run(name, new ToolRequest(caller.uid(), agentOf(caller), List.of(), Map.of(),
              stdin.input(), stdout, OutputStream.nullOutputStream()), policy);
          stdin.close();
          result = r;
          stdout.finish();
        });
      }
    }

    @Override
    public void write(byte[] src, int len) throws InterruptedException {
      start();
      if (!stdin.write(src, len, () -> result != null)) {
        throw new FsException(Errno.EPIPE, "the tool has ended; it takes no more input");
      }
    }

    @Override
    public int read(long offset, byte[] dst, int len, long waitMillis) throws InterruptedException {
      start();
      stdin.close(); // the first read ends the input
      int n = stdout.read(delivered, dst, len, waitMillis);
      if (n > 0) {
        delivered += n;
        return n;
      }
      if (n == 0) {
        return 0;
      }
      RunResult r = result;
      if (r != null && !r.succeeded() && !errorReported) {
        errorReported = true;
        throw new FsException(errnoOf(r), r.message());
      }
      return -1;
    }

    @Override
    public void close() {
      stdin.close();
      java.util.concurrent.Future<?> f;
      synchronized (this) {
        f = running;
      }
      if (f != null && result == null) {
        f.cancel(true); // the caller gave up: the module is interrupted (CANCELLED)
      }
    }
  }

  // ---------------------------------------------------------------- the JSON transaction: run.json

  /** {@code run.json}: the bytes written are one JSON request; the first read runs it and reads the reply. */
  private final class JsonSession implements SessionSource.Session {
    private final String name;
    private final Caller caller;
    private final ByteArrayOutputStream request = new ByteArrayOutputStream();
    private java.util.concurrent.Future<byte[]> running;
    private long holding;
    private byte[] reply;
    private long delivered;

    JsonSession(String name, Caller caller) {
      this.name = name;
      this.caller = caller;
      currentTool(name);
      policyFor(name, caller); // EACCES at open when the policy denies the tool
    }

    @Override
    public synchronized void write(byte[] src, int len) {
      if (running != null) {
        throw new FsException(Errno.EPIPE, "the request was read already; open run.json again for another");
      }
      if (request.size() + len > MAX_REQUEST) {
        throw new FsException(Errno.EFBIG, "a request is at most " + (MAX_REQUEST >> 20) + " MiB; use stdinPath");
      }
      AtomicLong mine = held.computeIfAbsent(caller.uid(), k -> new AtomicLong());
      if (mine.addAndGet(len) > MAX_HELD_PER_CALLER && caller.uid() != 0) {
        mine.addAndGet(-len);
        throw new FsException(Errno.ENOMEM, "your open run.json requests hold " + (MAX_HELD_PER_CALLER >> 20)
            + " MiB already; read or close them first");
      }
      holding += len;
      request.write(src, 0, len);
    }

    /** Gives back what this request counted against its caller. */
    private synchronized void letGo() {
      if (holding > 0) {
        held.get(caller.uid()).addAndGet(-holding);
        holding = 0;
      }
    }

    @Override
    public int read(long offset, byte[] dst, int len, long waitMillis) throws InterruptedException {
      java.util.concurrent.Future<byte[]> f;
      synchronized (this) {
        if (running == null) {
          byte[] q = request.toByteArray();
          request.reset();
          letGo();
          running = runners.submit(() -> runToReply(name, caller, q));
        }
        f = running;
      }
      if (reply == null) {
        try {
          reply = f.get(waitMillis, java.util.concurrent.TimeUnit.MILLISECONDS);
        } catch (java.util.concurrent.TimeoutException e) {
          return 0;
        } catch (java.util.concurrent.ExecutionException e) {
          throw new FsException(Errno.EIO, "the run failed: " + e.getCause());
        }
      }
      if (delivered >= reply.length) {
        return -1;
      }
      int n = (int) Math.min(len, reply.length - delivered);
      System.arraycopy(reply, (int) delivered, dst, 0, n);
      delivered += n;
      return n;
    }

    @Override
    public void close() {
      letGo();
      java.util.concurrent.Future<byte[]> f;
      synchronized (this) {
        f = running;
      }
      if (f != null && !f.isDone()) {
        f.cancel(true);
      }
    }
  }

  // ---------------------------------------------------------------- the drop box: inbox, outbox

  private LinkedHashMap<String, PendingReply> jobsOf(String tool, Caller caller) {
    return jobs.computeIfAbsent(tool, k -> new ConcurrentHashMap<>())
        .computeIfAbsent(caller.uid(), k -> new LinkedHashMap<>());
  }

  private VirtualNode inboxNode(String tool, List<String> rest, Caller caller) {
    if (rest.isEmpty()) {
      return new VirtualNode.Directory(() -> {
        List<VirtualNode.Entry> out = new ArrayList<>();
        LinkedHashMap<String, PendingReply> mine = jobsOf(tool, caller);
        synchronized (mine) {
          mine.forEach((k, j) -> {
            if (j.reply() == null) {
              out.add(new VirtualNode.Entry(k, VirtualNode.Kind.FILE));
            }
          });
        }
        return out;
      }, new VirtualNode.Files() {
        @Override
        public VirtualNode.File create(String job, Caller c) {
          return inboxFile(tool, job, c);
        }

        @Override
        public void remove(String job, Caller c) {
          throw new FsException(Errno.EBUSY, "job " + job + " is running; its reply will be in outbox/");
        }
      }, 0777);
    }
    if (rest.size() > 1) {
      throw new FsException(Errno.ENOTDIR, "not a directory");
    }
    String job = rest.get(0);
    LinkedHashMap<String, PendingReply> mine = jobsOf(tool, caller);
    PendingReply j;
    synchronized (mine) {
      j = mine.get(job);
    }
    if (j == null && !writing.containsKey(key(tool, caller, job))) {
      throw new FsException(Errno.ENOENT, "no job " + job + " in the inbox");
    }
    // a job being written (libfuse stats it right after create), waiting for its run, or done
    // (not listed, but a name the kernel still has cached can be written again: a new job)
    return new VirtualNode.File(() -> new byte[0], (data, c) -> submit(tool, job, data, c), 0666);
  }

  /** Jobs being written, between create and close. */
  private final Map<String, Boolean> writing = new ConcurrentHashMap<>();

  private static String key(String tool, Caller c, String job) {
    return tool + "\0" + c.uid() + "\0" + job;
  }

  private VirtualNode.File inboxFile(String tool, String job, Caller caller) {
    if (!JOB_NAME.matcher(job).matches()) {
      throw new FsException(Errno.EINVAL, "a job name is 1 to 128 of A-Z, a-z, 0-9, ., _ and -: " + job);
    }
    policyFor(tool, caller);
    writing.put(key(tool, caller, job), true);
    return new VirtualNode.File(() -> new byte[0], (data, c) -> submit(tool, job, data, c), 0644);
  }

  /** A job written to the inbox: queued at close; its reply (or the refusal) goes to outbox/JOB. */
  private void submit(String tool, String job, byte[] data, Caller caller) {
    writing.remove(key(tool, caller, job));
    LinkedHashMap<String, PendingReply> mine = jobsOf(tool, caller);
    PendingReply j = new PendingReply();
    synchronized (mine) {
      PendingReply old = mine.get(job);
      if (old != null && old.reply() == null) {
        throw new FsException(Errno.EBUSY, "job " + job + " is still running");
      }
      mine.remove(job);
      mine.put(job, j);
      for (Iterator<Map.Entry<String, PendingReply>> it = mine.entrySet().iterator(); mine.size() > MAX_JOBS && it.hasNext(); ) {
        if (it.next().getValue().reply() != null) {
          it.remove();
        }
      }
    }
    try {
      parseRequest(data, caller); // a malformed job fails close(2) as well as reading as a refusal
    } catch (FsException e) {
      j.finish(refusalReply(tool, e));
      throw refused(tool, caller, e);
    }
    runners.submit(() -> {
      byte[] r;
      try {
        r = runToReply(tool, caller, data);
      } catch (RuntimeException e) {
        r = refusalReply(tool, new FsException(Errno.EIO, "the run failed: " + e));
      }
      j.finish(r);
    });
  }

  private VirtualNode outboxNode(String tool, List<String> rest, Caller caller) {
    LinkedHashMap<String, PendingReply> mine = jobsOf(tool, caller);
    if (rest.isEmpty()) {
      return new VirtualNode.Directory(() -> {
        List<VirtualNode.Entry> out = new ArrayList<>();
        synchronized (mine) {
          mine.keySet().forEach(k -> out.add(new VirtualNode.Entry(k, VirtualNode.Kind.FILE)));
        }
        return out;
      }, new VirtualNode.Files() {
        @Override
        public VirtualNode.File create(String job, Caller c) {
          throw new FsException(Errno.EACCES, "replies are written by the tool; write jobs to inbox/");
        }

        @Override
        public void remove(String job, Caller c) {
          LinkedHashMap<String, PendingReply> theirs = jobsOf(tool, c);
          synchronized (theirs) {
            PendingReply j = theirs.get(job);
            if (j == null) {
              throw new FsException(Errno.ENOENT, "no job " + job);
            }
            if (j.reply() == null) {
              throw new FsException(Errno.EBUSY, "job " + job + " is still running");
            }
            theirs.remove(job);
          }
        }
      }, 0777);
    }
    if (rest.size() > 1) {
      throw new FsException(Errno.ENOTDIR, "not a directory");
    }
    PendingReply j;
    synchronized (mine) {
      j = mine.get(rest.get(0));
    }
    if (j == null) {
      throw new FsException(Errno.ENOENT, "no job " + rest.get(0));
    }
    return new VirtualNode.Stream(j, 0444);
  }

  // ---------------------------------------------------------------- plumbing

  /** A bounded byte pipe from FUSE writes to the module's stdin. */
  private static final class Pipe {
    private final byte[] buf;
    private int head;
    private int count;
    private boolean closed;

    Pipe(int size) {
      buf = new byte[size];
    }

    /** Adds bytes, waiting while full; false when the input was closed (the tool ended). */
    boolean write(byte[] src, int len, java.util.function.BooleanSupplier ended) throws InterruptedException {
      int done = 0;
      synchronized (this) {
        while (done < len) {
          if (closed || ended.getAsBoolean()) {
            return false;
          }
          if (count == buf.length) {
            wait(WAIT_SLICE_MS);
            continue;
          }
          int tail = (head + count) % buf.length;
          int n = Math.min(len - done, Math.min(buf.length - count, buf.length - tail));
          System.arraycopy(src, done, buf, tail, n);
          count += n;
          done += n;
          notifyAll();
        }
      }
      return true;
    }

    synchronized void close() {
      closed = true;
      notifyAll();
    }

    InputStream input() {
      return new InputStream() {
        @Override
        public int read() throws IOException {
          byte[] one = new byte[1];
          int n = read(one, 0, 1);
          return n < 0 ? -1 : one[0] & 0xFF;
        }

        @Override
        public int read(byte[] dst, int off, int len) throws IOException {
          if (len == 0) {
            return 0;
          }
          synchronized (Pipe.this) {
            while (count == 0 && !closed) {
              try {
                Pipe.this.wait();
              } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new java.io.InterruptedIOException("stdin read interrupted");
              }
            }
            if (count == 0) {
              return -1;
            }
            int n = Math.min(len, Math.min(count, buf.length - head));
            System.arraycopy(buf, head, dst, off, n);
            head = (head + n) % buf.length;
            count -= n;
            Pipe.this.notifyAll();
            return n;
          }
        }
      };
    }
  }

  /** stdout of a raw run, appended by the module and read by the caller as it comes. */
  private static final class Output extends OutputStream {
    private byte[] buf = new byte[8192];
    private long base;
    private int length;
    private boolean finished;

    @Override
    public synchronized void write(int b) {
      write(new byte[] {(byte) b}, 0, 1);
    }

    @Override
    public synchronized void write(byte[] src, int off, int len) {
      if (length + len > buf.length) {
        buf = java.util.Arrays.copyOf(buf, Math.max(length + len, buf.length * 2));
      }
      System.arraycopy(src, off, buf, length, len);
      length += len;
      notifyAll();
    }

    synchronized void finish() {
      finished = true;
      notifyAll();
    }

    /** Bytes from {@code at}: more than 0, 0 when none came within the wait, -1 at the end. */
    synchronized int read(long at, byte[] dst, int len, long waitMillis) throws InterruptedException {
      if (at - base >= length && !finished && waitMillis > 0) {
        wait(waitMillis);
      }
      int from = (int) (at - base);
      if (from < length) {
        int n = Math.min(len, length - from);
        System.arraycopy(buf, from, dst, 0, n);
        // what was delivered is not needed again: drop it once it is most of the buffer
        if (from + n > (1 << 20) && from + n > length / 2) {
          int keep = length - (from + n);
          System.arraycopy(buf, from + n, buf, 0, keep);
          base += from + n;
          length = keep;
        }
        return n;
      }
      return finished ? -1 : 0;
    }
  }

  void close() {
    runners.shutdownNow();
  }
}
