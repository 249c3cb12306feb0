package dev.clawfs.mount;

import dev.clawfs.bpf.Availability;
import dev.clawfs.bpf.BpfAudit;
import dev.clawfs.bpf.BpfEvent;
import dev.clawfs.bpf.BpfException;
import dev.clawfs.fuse.Caller;
import dev.clawfs.fuse.Errno;
import dev.clawfs.fuse.FsException;
import dev.clawfs.fuse.OpEvent;
import dev.clawfs.fuse.OpListener;
import dev.clawfs.fuse.VirtualDir;
import dev.clawfs.fuse.VirtualNode;
import dev.clawfs.policy.Activity;
import dev.clawfs.policy.Anomaly;
import dev.clawfs.policy.AnomalyDetector;
import dev.clawfs.policy.PolicySet;
import dev.clawfs.policy.Subject;
import java.io.IOException;
import java.lang.System.Logger.Level;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The audit: takes one event per file operation from the FUSE threads ({@link OpListener}) and
 * the agents' process events from eBPF, and, on one thread of its own, adds the process name and
 * the agent, feeds the anomaly detector, and writes each event as a JSON line to the live stream
 * ({@code /system/audit/stream}) and the sealed history. Taking an event never blocks: the queue
 * is bounded, and what does not fit is counted and reported in the stream and the status.
 *
 * <p>Operations on the stream file itself are not audited (a reader would otherwise see its own
 * reads, for ever); denials of it are.
 */
final class AuditService implements OpListener, AutoCloseable {
  private static final System.Logger LOG = System.getLogger("clawfs.audit");
  static final String STREAM_PATH = "/system/audit/stream";
  static final int QUEUE = 65536;
  /** How long the drain thread rests when the queue is empty: the stream's added latency. */
  private static final long DRAIN_MS = 10;
  private static final int O_ACCMODE = 3;
  private static final int O_WRONLY = 1;
  private static final int O_RDWR = 2;

  private final ArrayBlockingQueue<Object> queue;
  private final AtomicLong queueDrops = new AtomicLong();
  private final AtomicLong fuseEvents = new AtomicLong();
  private final AtomicLong ebpfEvents = new AtomicLong();
  private final AtomicLong toolEvents = new AtomicLong();
  private final AtomicLong agentEvents = new AtomicLong();
  private final AtomicLong anomalies = new AtomicLong();
  private final AtomicLong denials = new AtomicLong();
  private long reportedDrops;
  private final AuditLog log = new AuditLog(8 << 20, 65536);
  private final AuditHistory history;
  private final AgentRegistry agents;
  private final boolean root;
  private volatile AnomalyDetector detector;
  private final Thread drainer;
  private volatile boolean running = true;
  private final Json json = new Json();
  /**
   * Process names by pid, read from /proc on the FUSE thread when a pid is first seen (the process
   * may be gone by the time the drain thread gets to its events) and again after {@link
   * #COMM_TTL_MS} (pids are reused, exec renames). A slot per pid modulo the table size; slots
   * hold immutable records, so racing writers are harmless.
   */
  private final Comm[] comms = new Comm[4096];

  private static final long COMM_TTL_MS = 250;

  private record Comm(int pid, String name, long until) {}
  private BpfAudit bpf;
  private String bpfOff = "ebpf: off: no agents (it starts with the first agent)";
  /** Recent query answers by file name, so stat and open run the query once. */
  private final Map<String, byte[]> answers = new LinkedHashMap<>(8, 0.75f, true) {
    @Override
    protected boolean removeEldestEntry(Map.Entry<String, byte[]> e) {
      return size() > 4;
    }
  };
  private final Map<String, Long> answerTimes = new HashMap<>();

  AuditService(AuditHistory history, AgentRegistry agents, PolicySet policies, int queueSize) {
    this.queue = new ArrayBlockingQueue<>(queueSize);
    this.history = history;
    this.agents = agents;
    this.root = Identity.uid() == 0;
    this.detector = AnomalyDetector.create(policies);
    this.drainer = new Thread(this::drain, "clawfs-audit");
    this.drainer.setDaemon(true);
  }

  /**
   * Starts the audit and serves {@code system/audit/}. {@code history} may be null (no history
   * kept). eBPF starts when there are agents and this process may load it.
   */
  static AuditService start(AuditHistory history, AgentRegistry agents, PolicySet policies, VirtualDir system) {
    AuditService a = new AuditService(history, agents, policies, QUEUE);
    a.startDraining();
    VirtualDir audit = system.dir("audit");
    audit.stream("stream", a.log, 0400);
    audit.file("status", () -> a.status().getBytes(StandardCharsets.UTF_8));
    audit.tree("query", a::queryTree);
    agents.onChange(a::agentsChanged);
    a.agentsChanged(agents.list());
    return a;
  }

  /** Starts the drain thread; the stream's first line says the audit started. */
  void startDraining() {
    log.append(json.start().str("time", Json.isoTime(System.currentTimeMillis())).str("source", "audit")
        .str("op", "start").num("pid", ProcessHandle.current().pid())
        .str("detail", "audit stream of this mount started").line().getBytes(StandardCharsets.UTF_8));
    drainer.start();
  }

  /** The live stream (for tests). */
  AuditLog log() {
    return log;
  }

  /** The policies changed: anomaly rules come from them (counts start afresh). */
  void policiesChanged(PolicySet policies) {
    detector = AnomalyDetector.create(policies);
  }

  // ================================================================== taking events (FUSE threads)

  @Override
  public void completed(OpEvent e) {
    if (e.deniedBy() == null && STREAM_PATH.equals(e.path())) {
      return;
    }
    Comm c = comms[e.pid() & (comms.length - 1)];
    if (c == null || c.pid() != e.pid() || c.until() < e.timeMillis()) {
      comms[e.pid() & (comms.length - 1)] = new Comm(e.pid(), readComm(e.pid()), e.timeMillis() + COMM_TTL_MS);
    }
    if (!queue.offer(e)) {
      queueDrops.incrementAndGet();
    }
  }

  /** One tool call an agent made (search, read, list, note, tool): the agent, whom for, what, how it went. */
  record AgentCall(long timeMillis, String agent, int uid, int gid, int askerUid, String op, String path,
      String result, String detail) {}

  /** An agent's tool call, as an event in the stream ({@code "source":"agent"}). */
  void agentCall(String agent, Caller self, Caller asker, String op, String path, String result, String detail) {
    AgentCall c = new AgentCall(System.currentTimeMillis(), agent, self.uid(), self.gid(),
        asker == null ? -1 : asker.uid(), op, path, result, detail);
    if (!queue.offer(c)) {
      queueDrops.incrementAndGet();
    }
  }

  /** A WASM tool run (or refusal) from the tool service: one event in the stream. */
  void toolRun(dev.clawfs.tools.RunRecord r) {
    if (!queue.offer(r)) {
      queueDrops.incrementAndGet();
    }
  }

  private void bpfEvent(BpfEvent e) {
    if (!queue.offer(e)) {
      queueDrops.incrementAndGet();
    }
  }

  // ================================================================== the drain thread

  /**
   * Takes events in batches every {@link #DRAIN_MS} rather than waiting on the queue: a thread
   * blocked on the queue would be woken (a context switch) by every single file operation.
   */
  private void drain() {
    List<Object> batch = new ArrayList<>(4096);
    while (running || !queue.isEmpty()) {
      try {
        queue.drainTo(batch, 4096);
        long now = System.currentTimeMillis();
        if (batch.isEmpty()) {
          Thread.sleep(DRAIN_MS);
        } else {
          for (Object o : batch) {
            try {
              if (o instanceof OpEvent op) {
                fuse(op);
              } else if (o instanceof BpfEvent b) {
                ebpf(b);
              } else if (o instanceof dev.clawfs.tools.RunRecord r) {
                tool(r);
              } else if (o instanceof AgentCall c) {
                agentCall(c);
              }
            } catch (RuntimeException ex) {
              LOG.log(Level.WARNING, "audit event not recorded: {0}", ex.toString());
            }
          }
          batch.clear();
          log.publish();
        }
        long drops = queueDrops.get();
        if (drops != reportedDrops) {
          emit(json.start().str("time", Json.isoTime(now)).str("source", "audit").str("op", "dropped")
              .num("count", drops - reportedDrops).str("reason", "the audit queue was full").line());
          log.publish();
          reportedDrops = drops;
        }
        if (history != null) {
          history.flushIfDue(now);
        }
      } catch (InterruptedException e) {
        if (!running) {
          break;
        }
      } catch (Throwable t) {
        LOG.log(Level.ERROR, "audit drain failed", t);
      }
    }
  }

  private void fuse(OpEvent e) {
    fuseEvents.incrementAndGet();
    String agent = e.uid() == 0 ? null : agents.agentOf(e.uid());
    json.start().str("time", Json.isoTime(e.timeMillis())).str("source", "fuse").str("op", e.op())
        .str("path", e.path()).optStr("path2", e.path2())
        .str("result", e.errno() == 0 ? "ok" : Errno.name(e.errno()))
        .num("uid", Integer.toUnsignedLong(e.uid())).num("gid", Integer.toUnsignedLong(e.gid())).num("pid", e.pid())
        .str("comm", comm(e.pid())).str("agent", agent);
    if (e.op().equals("open") || e.op().equals("create")) {
      json.str("access", access(e.flags()));
    }
    if (e.deniedBy() != null) {
      json.str("rule", e.deniedBy());
    }
    emit(json.num("duration_us", e.durationNanos() / 1000).line());
    if (e.deniedBy() != null) {
      denials.incrementAndGet();
      observe(e.timeMillis(), e.uid(), e.gid(), agent, Activity.DENIED, e.path(), "fuse");
    } else if (e.errno() == 0 && e.op().equals("open") && (e.flags() & O_ACCMODE) != O_WRONLY) {
      observe(e.timeMillis(), e.uid(), e.gid(), agent, Activity.READ, e.path(), "fuse");
    }
  }

  private void agentCall(AgentCall c) {
    agentEvents.incrementAndGet();
    json.start().str("time", Json.isoTime(c.timeMillis())).str("source", "agent").str("op", c.op())
        .str("path", c.path()).str("result", c.result())
        .num("uid", Integer.toUnsignedLong(c.uid())).num("gid", Integer.toUnsignedLong(c.gid())).str("agent", c.agent());
    if (c.askerUid() != -1) {
      json.num("for_uid", Integer.toUnsignedLong(c.askerUid()));
    }
    if (c.detail() != null) {
      json.str("detail", c.detail());
    }
    emit(json.line());
    if (c.result().equals("refused")) {
      denials.incrementAndGet();
      observe(c.timeMillis(), c.uid(), c.gid(), c.agent(), Activity.DENIED, c.path(), "agent");
    }
  }

  private void tool(dev.clawfs.tools.RunRecord r) {
    toolEvents.incrementAndGet();
    json.start().str("time", Json.isoTime(r.started().toEpochMilli())).str("source", "tool").str("op", "run")
        .str("path", "/tools/" + r.tool()).str("result", r.succeeded() ? "ok" : r.outcome().name().toLowerCase(java.util.Locale.ROOT));
    if (r.outcome() == dev.clawfs.tools.RunRecord.Outcome.EXITED) {
      json.num("exit", r.exitCode());
    }
    if (r.limitHit() != null) {
      json.str("limit", r.limitHit().name().toLowerCase(java.util.Locale.ROOT));
    }
    json.num("uid", Integer.toUnsignedLong(r.callerUid())).str("agent", r.agent().isEmpty() ? null : r.agent())
        .num("duration_us", r.duration().toNanos() / 1000).num("bytes_in", r.bytesIn()).num("bytes_out", r.bytesOut())
        .str("module_sha256", r.moduleHash());
    if (!r.succeeded() && !r.message().isEmpty()) {
      json.str("detail", r.message());
    }
    if (!r.denials().isEmpty()) {
      json.num("denials", r.denials().size());
    }
    emit(json.line());
  }

  private static String access(int flags) {
    int m = flags & O_ACCMODE;
    return m == O_WRONLY ? "write" : m == O_RDWR ? "read-write" : "read";
  }

  private void ebpf(BpfEvent e) {
    ebpfEvents.incrementAndGet();
    String agent = agents.agentOf(e.uid());
    json.start().str("time", Json.isoTime(e.timeMillis())).str("source", "ebpf").str("op", e.kind().label());
    switch (e.kind()) {
      case EXEC -> {
        json.str("path", e.path());
        if (!e.args().isEmpty()) {
          json.str("args", e.args());
        }
      }
      case OPEN -> json.str("path", e.path()).str("flags", "0" + Long.toOctalString(e.flags()));
      case CONNECT -> json.str("proto", e.protocol()).str("address",
          (e.address().indexOf(':') >= 0 ? "[" + e.address() + "]" : e.address()) + ":" + e.port());
    }
    json.str("result", e.result() < 0 ? e.resultText() : "ok");
    if (e.kind() == BpfEvent.Kind.OPEN && e.result() >= 0) {
      json.num("fd", e.result());
    }
    json.num("uid", Integer.toUnsignedLong(e.uid())).num("gid", Integer.toUnsignedLong(e.gid())).num("pid", e.pid())
        .num("ppid", e.ppid()).str("comm", e.comm()).str("agent", agent);
    if (e.truncated()) {
      json.str("truncated", "true");
    }
    emit(json.line());
    if (e.kind() == BpfEvent.Kind.EXEC && e.result() == 0) {
      observe(e.timeMillis(), e.uid(), e.gid(), agent, Activity.EXEC, e.path(), "ebpf");
    }
  }

  private void observe(long time, int uid, int gid, String agent, Activity activity, String detail, String source) {
    List<Anomaly> fired = detector.observe(time, new Subject(uid, gid, agent), activity, detail);
    for (Anomaly a : fired) {
      anomalies.incrementAndGet();
      json.start().str("time", Json.isoTime(a.timeMillis())).str("source", source).str("op", "anomaly")
          .str("rule", a.rule()).str("where", a.source()).str("path", a.detail())
          .num("uid", Integer.toUnsignedLong(uid)).num("gid", Integer.toUnsignedLong(gid)).str("agent", agent)
          .num("count", a.count()).num("window_ms", a.windowMillis());
      emit(json.line());
      log.publish();
      LOG.log(Level.WARNING, "anomaly {0} ({1}) by {2}", a.rule(), a.source(), a.subject());
    }
  }

  private void emit(String line) {
    byte[] b = line.getBytes(StandardCharsets.UTF_8);
    log.append(b);
    if (history != null) {
      history.append(b);
    }
  }

  /** The process name of {@code pid} as seen when its operation was taken (else read now). */
  private String comm(int pid) {
    Comm c = comms[pid & (comms.length - 1)];
    return c != null && c.pid() == pid ? c.name() : readComm(pid);
  }

  private static String readComm(int pid) {
    try {
      return Files.readString(Path.of("/proc", Integer.toString(pid), "comm"), StandardCharsets.UTF_8).strip();
    } catch (IOException | RuntimeException e) {
      return null; // the process has ended already
    }
  }

  // ================================================================== eBPF

  /** Starts, retargets or stops the eBPF audit so it watches exactly the agents' uids. */
  private synchronized void agentsChanged(List<AgentRegistry.Agent> list) {
    if (list.isEmpty()) {
      if (bpf != null) {
        bpf.close();
        bpf = null;
        LOG.log(Level.INFO, "eBPF audit stopped: no agents left");
      }
      bpfOff = "ebpf: off: no agents (it starts with the first agent)";
      return;
    }
    if (bpf == null) {
      Availability a = BpfAudit.probe();
      if (!a.available()) {
        bpfOff = a.statusLine();
        return;
      }
      try {
        bpf = BpfAudit.start(this::bpfEvent);
        LOG.log(Level.INFO, "eBPF audit started");
      } catch (BpfException e) {
        bpfOff = e.statusLine();
        LOG.log(Level.WARNING, "eBPF audit not started: {0}", e.statusLine());
        return;
      } catch (RuntimeException | LinkageError e) {
        bpfOff = "ebpf: off: " + e;
        LOG.log(Level.WARNING, "eBPF audit not started: {0}", e.toString());
        return;
      }
    }
    Set<Integer> want = new java.util.HashSet<>();
    for (AgentRegistry.Agent ag : list) {
      want.add(ag.uid());
    }
    for (int uid : bpf.watchedUids()) {
      if (!want.contains(uid)) {
        bpf.unwatchUid(uid);
      }
    }
    Set<Integer> have = bpf.watchedUids();
    for (int uid : want) {
      if (!have.contains(uid)) {
        bpf.watchUid(uid);
      }
    }
  }

  private synchronized String bpfStatus() {
    return bpf != null ? bpf.statusLine() : bpfOff;
  }

  private synchronized long bpfDropped() {
    return bpf != null ? bpf.dropped() : 0;
  }

  // ================================================================== status and queries

  /** The audit's counters for system/metrics and system/health; {@code history} null when none is kept. */
  record Counters(long fuseEvents, long ebpfEvents, long toolEvents, long agentEvents, long denials, long anomalies,
      long queueDrops, long readerDrops, long ebpfDrops, int queued, int queueCapacity, int readers, boolean ebpfOn,
      String ebpfStatus, AuditHistory.Usage history) {}

  Counters counters() {
    boolean on;
    synchronized (this) {
      on = bpf != null;
    }
    return new Counters(fuseEvents.get(), ebpfEvents.get(), toolEvents.get(), agentEvents.get(), denials.get(),
        anomalies.get(), queueDrops.get(), log.readerDrops(), bpfDropped(), queue.size(), QUEUE, log.readers(), on,
        bpfStatus(), history == null ? null : history.usage());
  }

  String status() {
    StringBuilder b = new StringBuilder();
    b.append("fuse: on\n");
    b.append(bpfStatus()).append('\n');
    b.append("events fuse: ").append(fuseEvents.get()).append('\n');
    b.append("events ebpf: ").append(ebpfEvents.get()).append('\n');
    b.append("events tool runs: ").append(toolEvents.get()).append('\n');
    b.append("events agent calls: ").append(agentEvents.get()).append('\n');
    b.append("denials: ").append(denials.get()).append('\n');
    b.append("anomalies: ").append(anomalies.get()).append('\n');
    b.append("dropped queue full: ").append(queueDrops.get()).append('\n');
    b.append("dropped slow readers: ").append(log.readerDrops()).append('\n');
    b.append("dropped ebpf ring buffer: ").append(bpfDropped()).append('\n');
    b.append("queue: ").append(queue.size()).append(" of ").append(QUEUE).append('\n');
    b.append("stream readers: ").append(log.readers()).append('\n');
    b.append("history: ").append(history == null ? "off" : history.status()).append('\n');
    return b.toString();
  }

  private static final String QUERY_README = """
      Query the sealed audit history by reading a file whose name is the query:
        cat '/clawfs/system/audit/query/since=10m&agent=alice&op=open'
      Keys (joined by &, values URL-encoded, a / in a path is %2F):
        since, until   30s, 10m, 2h, 1d back from now, or an ISO-8601 time
        agent, uid, op, source (fuse, ebpf, audit), result (ok, denied, error, EACCES, ...)
        path           a glob: * and ? within a name, ** across names (matched on path and path2)
        limit          the newest N matches (1 to 100000, default 1000)
      The answer lists matching events oldest first, one JSON object per line; a query that
      cannot run answers {"error": "..."}. `clawfs audit MOUNTPOINT --since 10m ...` does the same.
      """;

  private VirtualNode queryTree(List<String> path, Caller caller) {
    if (path.isEmpty()) {
      return new VirtualNode.Directory(() -> List.of(new VirtualNode.Entry("README", VirtualNode.Kind.FILE)));
    }
    if (path.size() > 1) {
      throw new FsException(Errno.ENOTDIR, "not a directory");
    }
    String name = path.get(0);
    if (name.equals("README")) {
      return VirtualNode.File.readOnly(() -> QUERY_README.getBytes(StandardCharsets.UTF_8));
    }
    return new VirtualNode.File(() -> answer(name), null, 0400);
  }

  /** The answer to a query file name, computed once for stat and open (kept 5 s). */
  private byte[] answer(String name) {
    long now = System.currentTimeMillis();
    synchronized (answers) {
      byte[] a = answers.get(name);
      Long t = answerTimes.get(name);
      if (a != null && t != null && now - t < 5000) {
        return a;
      }
    }
    byte[] out;
    try {
      if (history == null) {
        throw new AuditQuery.BadQueryException("no history is kept on this mount (--audit-history-mib 0)");
      }
      out = AuditQuery.parse(name, now).run(history);
    } catch (AuditQuery.BadQueryException e) {
      StringBuilder b = new StringBuilder("{\"error\":");
      Json.quote(b, e.getMessage());
      out = b.append("}\n").toString().getBytes(StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new FsException(Errno.EIO, "audit history: " + e.getMessage(), e);
    }
    synchronized (answers) {
      answers.put(name, out);
      answerTimes.put(name, now);
      answerTimes.keySet().retainAll(answers.keySet());
    }
    return out;
  }

  @Override
  public void close() {
    synchronized (this) {
      if (bpf != null) {
        bpf.close();
        bpf = null;
      }
    }
    running = false; // the drain thread empties the queue, then ends
    try {
      drainer.join(5000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    log.close();
    if (history != null) {
      history.close();
    }
  }
}
