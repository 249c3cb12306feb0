package dev.clawfs.mount;

import dev.clawfs.fuse.ClawFileSystem;
import dev.clawfs.fuse.CommitMetrics;
import dev.clawfs.fuse.Errno;
import dev.clawfs.fuse.FsException;
import dev.clawfs.fuse.FuseAdapter;
import dev.clawfs.fuse.FuseMetrics;
import dev.clawfs.fuse.LatencyHistogram;
import dev.clawfs.fuse.StatFs;
import dev.clawfs.fuse.VirtualDir;
import dev.clawfs.fuse.VirtualNode;
import dev.clawfs.index.SearchEngine;
import java.io.IOException;
import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryUsage;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * {@code system/metrics} (Prometheus text, format 0.0.4) and {@code system/health}: read from the
 * counters the parts of the server keep anyway, when the file is opened; nothing here is on the
 * path of a file operation. A tick every few seconds notes when failure counters last grew, so
 * that health can say "failing in the last 10 minutes" rather than "failed once since the mount".
 */
final class MetricsService implements AutoCloseable {
  /** How long a failure keeps a check failing after its counter last grew. */
  static final long RECENT_MS = 10 * 60_000L;
  private static final long TICK_MS = 5_000;

  /** What the server is made of; search and tools may be null (off), with the reason. */
  record Parts(Path vault, Path mountpoint, ClawFileSystem fs, FuseAdapter adapter, SearchService search,
      AuditService audit, ToolService tools, String toolsOff, Map<String, AgentRunner> agents, long startedMillis) {}

  private final Parts p;
  private final ScheduledExecutorService ticker;
  private final Recent searchFailures = new Recent();
  private final Recent auditQueueDrops = new Recent();
  private final Recent auditReaderDrops = new Recent();
  private final Recent ebpfDrops = new Recent();
  private final Recent historyFailures = new Recent();
  private final Map<String, Recent> agentFailures = new java.util.concurrent.ConcurrentHashMap<>();

  private MetricsService(Parts parts) {
    this.p = parts;
    this.ticker = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "clawfs-health-tick");
      t.setDaemon(true);
      return t;
    });
  }

  /** Serves system/metrics and system/health from {@code parts}. */
  static MetricsService start(Parts parts, VirtualDir system) {
    MetricsService m = new MetricsService(parts);
    system.file("metrics", () -> m.metricsText().getBytes(StandardCharsets.UTF_8));
    system.tree("health", (path, caller) -> {
      if (!path.isEmpty()) {
        throw new FsException(Errno.ENOTDIR, "not a directory");
      }
      boolean root = caller.uid() == 0;
      return VirtualNode.File.readOnly(() -> m.health().text(root).getBytes(StandardCharsets.UTF_8));
    });
    m.ticker.scheduleWithFixedDelay(m::tick, TICK_MS, TICK_MS, TimeUnit.MILLISECONDS);
    return m;
  }

  @Override
  public void close() {
    ticker.shutdownNow();
  }

  /** When a counter last grew, as observed by the ticks and by every read of health. */
  static final class Recent {
    private long last;
    private long grewAtMillis;

    synchronized void observe(long value, long now) {
      if (value > last) {
        grewAtMillis = now;
      }
      last = value;
    }

    /** Milliseconds since the counter last grew, or -1 if it has not grown within {@link #RECENT_MS}. */
    synchronized long agoIfRecent(long now) {
      return grewAtMillis != 0 && now - grewAtMillis <= RECENT_MS ? now - grewAtMillis : -1;
    }
  }

  private void tick() {
    try {
      observe(System.currentTimeMillis(), p.audit().counters(), p.search() == null ? null : p.search().indexStatus());
    } catch (RuntimeException e) {
      // a tick must never end the ticker; the next read of health tries again
      System.getLogger("clawfs.metrics").log(System.Logger.Level.DEBUG, "health tick: {0}", e.toString());
    }
  }

  private void observe(long now, AuditService.Counters a, SearchEngine.Status s) {
    auditQueueDrops.observe(a.queueDrops(), now);
    auditReaderDrops.observe(a.readerDrops(), now);
    ebpfDrops.observe(a.ebpfDrops(), now);
    historyFailures.observe(a.history() == null ? 0 : a.history().writeFailures(), now);
    if (s != null) {
      searchFailures.observe(s.failures(), now);
    }
    for (Map.Entry<String, AgentRunner> e : p.agents().entrySet()) {
      agentFailures.computeIfAbsent(e.getKey(), k -> new Recent()).observe(e.getValue().failedCount(), now);
    }
  }

  // ================================================================== health

  Health health() {
    long now = System.currentTimeMillis();
    AuditService.Counters audit = p.audit().counters();
    SearchEngine.Status search = p.search() == null ? null : p.search().indexStatus();
    observe(now, audit, search);
    ClawFileSystem.Stats stats = p.fs().stats();
    List<Health.Check> checks = new ArrayList<>();
    checks.add(vaultCheck());
    checks.add(diskCheck());
    checks.add(commitCheck(now, stats));
    checks.add(stats.authFailures() == 0 ? Health.Check.ok("integrity", "no chunk has failed authentication")
        : Health.Check.fail("integrity", stats.authFailures() + " chunk reads failed authentication since the mount"
            + " (tampering or bit rot; those reads got EIO): run clawfs check"));
    checks.add(searchCheck(now, search));
    checks.add(auditCheck(now, audit));
    checks.add(ebpfCheck(audit));
    checks.add(p.tools() == null ? Health.Check.warn("tools", "off: " + p.toolsOff())
        : Health.Check.ok("tools", p.tools().toolCount() + " tools"));
    checks.add(agentsCheck(now));
    checks.add(fuseCheck());
    checks.add(memoryCheck());
    return new Health(checks);
  }

  private Health.Check vaultCheck() {
    Path v = p.vault();
    if (!Files.isDirectory(v.resolve("content"))) {
      return Health.Check.fail("vault", "the vault directory " + v + " has no content/ folder any more"
          + " (removed, or a file system mounted over it?)");
    }
    try {
      if (!Files.isWritable(v) || Files.getFileStore(v).isReadOnly()) {
        return Health.Check.fail("vault", "the vault directory " + v + " is not writable (read-only file system?):"
            + " metadata cannot be committed");
      }
    } catch (IOException e) {
      return Health.Check.fail("vault", "cannot look at the vault directory " + v + ": " + e.getMessage());
    }
    return Health.Check.ok("vault", v + " is writable");
  }

  private Health.Check diskCheck() {
    StatFs s;
    try {
      s = p.fs().statfs();
    } catch (FsException e) {
      return Health.Check.fail("disk", "cannot ask the vault's disk how full it is: " + e.getMessage());
    }
    long total = s.totalBlocks() * s.blockSize();
    long avail = s.availBlocks() * s.blockSize();
    String what = bytes(avail) + " free for files of " + bytes(total) + " (net of the reserve kept for metadata"
        + " and the index)";
    if (avail < Math.min(1L << 30, total / 20)) {
      return Health.Check.fail("disk", "the vault's disk is " + (avail < (1 << 20) ? "full: writes fail with ENOSPC; "
          : "nearly full: ") + what);
    }
    if (avail < Math.min(5L << 30, total / 10)) {
      return Health.Check.warn("disk", "the vault's disk is filling up: " + what);
    }
    return Health.Check.ok("disk", what);
  }

  private Health.Check commitCheck(long now, ClawFileSystem.Stats stats) {
    CommitMetrics c = p.fs().commitMetrics();
    if (stats.lastError() != null) {
      int errno = c.lastFailureErrno();
      return Health.Check.fail("commit", "the last metadata commit failed" + (errno != 0 ? " with " + Errno.name(errno) : "")
          + " " + ago(now, c.lastFailureMillis()) + "; retrying; " + stats.pendingMetadataOps() + " changes wait"
          + " (fsync fails until a commit succeeds)").withRootDetail(stats.lastError());
    }
    LatencyHistogram.Snapshot l = c.latency();
    String done = c.commits() == 0 ? "no commit yet" : c.commits() + " commits (the last " + ago(now, c.lastSuccessMillis())
        + ", p99 " + millis(l.quantileSeconds(0.99)) + ")";
    return Health.Check.ok("commit", done + ", " + stats.pendingMetadataOps() + " changes pending");
  }

  private Health.Check searchCheck(long now, SearchEngine.Status s) {
    if (s == null) {
      return Health.Check.ok("search", "off (mounted with --no-search)");
    }
    if (s.paused() != null) {
      return Health.Check.fail("search", "indexing paused: " + s.paused());
    }
    long ago = searchFailures.agoIfRecent(now);
    if (ago >= 0) {
      return Health.Check.fail("search", "indexing is failing: " + s.failures() + " failures since the mount, the last "
          + seconds(ago) + " ago").withRootDetail(s.lastError());
    }
    boolean idle = p.search().indexIdle();
    if (s.reindexTotal() > 0 && !idle && s.indexedFiles() + s.skippedFiles() < s.reindexTotal()) {
      return Health.Check.warn("search", "rebuilding the index: " + (s.indexedFiles() + s.skippedFiles()) + " of "
          + s.reindexTotal() + " files; results are incomplete until it is done");
    }
    return Health.Check.ok("search", (idle ? "idle" : "indexing") + ": " + s.indexedFiles() + " files indexed, "
        + s.queued() + " queued, " + s.embedBacklogFiles() + " waiting for embeddings (" + s.model() + ")");
  }

  private Health.Check auditCheck(long now, AuditService.Counters a) {
    long ago = auditQueueDrops.agoIfRecent(now);
    if (ago >= 0) {
      return Health.Check.fail("audit", "dropping events: " + a.queueDrops() + " dropped since the mount because the"
          + " queue was full, the last " + seconds(ago) + " ago");
    }
    ago = historyFailures.agoIfRecent(now);
    if (ago >= 0) {
      return Health.Check.fail("audit", "the sealed history is not being written: " + a.history().writeFailures()
          + " writes failed, the last " + seconds(ago) + " ago");
    }
    String counts = a.fuseEvents() + a.ebpfEvents() + a.toolEvents() + a.agentEvents() + " events, "
        + a.queueDrops() + " dropped; history " + (a.history() == null ? "off"
            : bytes(a.history().bytes()) + " of " + bytes(a.history().maxBytes()));
    ago = auditReaderDrops.agoIfRecent(now);
    if (ago >= 0) {
      return Health.Check.warn("audit", "a stream reader fell behind and missed lines (" + a.readerDrops()
          + " since the mount, the last " + seconds(ago) + " ago; the history has them); " + counts);
    }
    ago = ebpfDrops.agoIfRecent(now);
    if (ago >= 0) {
      return Health.Check.warn("audit", "the eBPF ring buffer overflowed (" + a.ebpfDrops() + " events lost, the last "
          + seconds(ago) + " ago); " + counts);
    }
    return Health.Check.ok("audit", counts);
  }

  private Health.Check ebpfCheck(AuditService.Counters a) {
    String line = a.ebpfStatus().startsWith("ebpf: ") ? a.ebpfStatus().substring(6) : a.ebpfStatus();
    if (line.startsWith("on")) {
      return Health.Check.ok("ebpf", line);
    }
    // off with agents: what they do outside the mount is not recorded
    return p.agents().isEmpty() ? Health.Check.ok("ebpf", line)
        : Health.Check.warn("ebpf", line + " (agents' exec, open and connect outside the mount are not audited)");
  }

  private Health.Check agentsCheck(long now) {
    int queued = 0;
    List<String> failing = new ArrayList<>();
    String detail = null;
    for (Map.Entry<String, AgentRunner> e : new java.util.TreeMap<>(p.agents()).entrySet()) {
      queued += e.getValue().queued();
      Recent r = agentFailures.get(e.getKey());
      long ago = r == null ? -1 : r.agoIfRecent(now);
      if (ago >= 0) {
        failing.add(e.getKey() + " (" + e.getValue().failedCount() + " failed, the last " + seconds(ago) + " ago)");
        detail = e.getKey() + ": " + e.getValue().lastError();
      }
    }
    String counts = p.agents().size() + " agents, " + queued + " questions or tasks queued";
    if (!failing.isEmpty()) {
      return Health.Check.warn("agents", "tasks failing: " + String.join(", ", failing) + "; " + counts)
          .withRootDetail(detail);
    }
    return Health.Check.ok("agents", counts);
  }

  private Health.Check fuseCheck() {
    int[] t = p.adapter().workerThreads();
    String what = t[0] + " FUSE threads, " + t[1] + " idle";
    if (t[0] > 0 && t[1] == 0 && t[0] >= 64) {
      return Health.Check.warn("fuse", "every FUSE thread is busy (" + what + "): new requests wait");
    }
    return Health.Check.ok("fuse", what);
  }

  private Health.Check memoryCheck() {
    MemoryUsage h = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage();
    String what = "heap " + bytes(h.getUsed()) + " used of " + bytes(h.getMax());
    if (h.getMax() > 0 && h.getUsed() > h.getMax() * 0.9) {
      return Health.Check.warn("memory", what + " (above 90%)");
    }
    return Health.Check.ok("memory", what);
  }

  private static String ago(long now, long then) {
    return then == 0 ? "at an unknown time" : seconds(now - then) + " ago";
  }

  private static String seconds(long ms) {
    return ms < 10_000 ? String.format(java.util.Locale.ROOT, "%.1f s", ms / 1000.0) : (ms / 1000) + " s";
  }

  private static String millis(double seconds) {
    return Double.isNaN(seconds) ? "n/a" : String.format(java.util.Locale.ROOT, "%.1f ms", seconds * 1000);
  }

  static String bytes(long b) {
    if (b < 0) {
      return "unknown";
    }
    if (b < 1024) {
      return b + " B";
    }
    String[] units = {"KiB", "MiB", "GiB", "TiB", "PiB"};
    double v = b;
    int u = -1;
    while (v >= 1024 && u < units.length - 1) {
      v /= 1024;
      u++;
    }
    return String.format(java.util.Locale.ROOT, "%.1f %s", v, units[u]);
  }

  // ================================================================== metrics

  String metricsText() {
    PromText t = new PromText();
    fuse(t);
    storage(t);
    search(t);
    audit(t);
    toolsAndAgents(t);
    Health h = health();
    t.family("clawfs_health_ok", PromText.Type.GAUGE,
        "1 when the check passes or only warns, 0 when it fails (cat system/health says why).");
    for (Health.Check c : h.checks()) {
      t.sample(c.status() == Health.Status.FAIL ? 0 : 1, "check", c.name());
    }
    process(t);
    return t.toString();
  }

  private void fuse(PromText t) {
    FuseMetrics m = p.adapter().metrics();
    t.family("clawfs_fuse_ops_total", PromText.Type.COUNTER,
        "FUSE operations completed, by operation and result (ok, or the errno returned).");
    List<String> ops = FuseMetrics.OPS;
    for (int i = 0; i < ops.size(); i++) {
      t.sample(m.ok(i), "op", ops.get(i), "result", "ok");
      for (int e = 1; e < FuseMetrics.errnoSlots(); e++) {
        long n = m.errors(i, e);
        if (n > 0) {
          t.sample(n, "op", ops.get(i), "result", Errno.name(e));
        }
      }
    }
    t.family("clawfs_fuse_op_duration_seconds", PromText.Type.HISTOGRAM,
        "Time the server spent on a FUSE operation (policy check, file system, audit hand-off), by operation.");
    for (int i = 0; i < ops.size(); i++) {
      t.histogram(m.latency(i), "op", ops.get(i));
    }
    t.counter("clawfs_fuse_read_bytes_total", "Bytes returned by FUSE reads (stored and virtual files).", m.bytesRead());
    t.counter("clawfs_fuse_written_bytes_total", "Bytes accepted by FUSE writes (stored and virtual files).",
        m.bytesWritten());
    t.family("clawfs_fuse_opens_total", PromText.Type.COUNTER,
        "Opens and creates by page caching. ClawFS keeps no plaintext cache of its own (every read it serves"
            + " decrypts its chunks); repeated reads are served from the kernel's page cache, except for descriptors"
            + " opened with direct_io: virtual files, and stored files with more than one name.");
    t.sample(m.cachedOpens(), "cache", "page_cache");
    t.sample(m.directOpens(), "cache", "direct_io");
    t.counter("clawfs_policy_denials_total", "FUSE operations the access policy refused with EACCES.", m.denials());
    int[] w = p.adapter().workerThreads();
    t.family("clawfs_fuse_threads", PromText.Type.GAUGE, "FUSE worker threads, busy (serving a request) or idle.");
    t.sample(w[0] - w[1], "state", "busy");
    t.sample(w[1], "state", "idle");
  }

  private void storage(PromText t) {
    ClawFileSystem.Stats s = p.fs().stats();
    t.gauge("clawfs_open_handles", "Open file descriptors on the mount (stored and virtual files).", s.openHandles());
    t.gauge("clawfs_files", "Stored files, symbolic links and special files.", s.files());
    t.gauge("clawfs_directories", "Stored directories.", s.directories());
    t.gauge("clawfs_stored_bytes", "Sum of the sizes of stored regular files (plaintext length).", s.bytes());
    t.counter("clawfs_content_read_bytes_total", "Plaintext bytes read from stored files (decrypted).", s.bytesRead());
    t.counter("clawfs_content_written_bytes_total", "Plaintext bytes written to stored files (encrypted).",
        s.bytesWritten());
    t.counter("clawfs_chunk_auth_failures_total",
        "Chunk reads that failed authentication (tampering or bit rot); each read got EIO.", s.authFailures());
    CommitMetrics c = p.fs().commitMetrics();
    t.gauge("clawfs_metadata_pending_ops", "Metadata changes waiting for the next commit.", s.pendingMetadataOps());
    t.counter("clawfs_metadata_commits_total", "Metadata commits that succeeded.", c.commits());
    t.counter("clawfs_metadata_commit_failures_total", "Metadata commits that failed (and were retried).", c.failures());
    t.counter("clawfs_metadata_committed_ops_total", "Metadata changes committed.", c.ops());
    t.family("clawfs_metadata_commit_duration_seconds", PromText.Type.HISTOGRAM,
        "Time a successful commit took: making content durable, the SQLite transaction, the post-commit.");
    t.histogram(c.latency());
    t.gauge("clawfs_metadata_last_commit_timestamp_seconds", "When the last commit succeeded (Unix time; 0: none yet).",
        c.lastSuccessMillis() / 1000.0);
    try {
      StatFs f = p.fs().statfs();
      t.gauge("clawfs_vault_disk_size_bytes", "Size of the file system the vault is on.", f.totalBlocks() * f.blockSize());
      t.gauge("clawfs_vault_disk_available_bytes",
          "Bytes file content may still take on the vault's disk (net of the metadata and index reserves; df shows this).",
          f.availBlocks() * f.blockSize());
    } catch (FsException e) {
      // statfs failing is a health matter (disk check); the gauges are left out of this scrape
    }
  }

  private void search(PromText t) {
    SearchService ss = p.search();
    t.gauge("clawfs_index_enabled", "1 when the search index runs, 0 when mounted with --no-search.", ss == null ? 0 : 1);
    if (ss == null) {
      return;
    }
    SearchEngine.Status s = ss.indexStatus();
    t.gauge("clawfs_index_queued_files", "Files waiting to be (re)indexed for keywords.", s.queued());
    t.gauge("clawfs_index_embedding_backlog_files", "Files indexed for keywords whose passages wait for embeddings.",
        s.embedBacklogFiles());
    t.gauge("clawfs_index_indexed_files", "Files in the index.", s.indexedFiles());
    t.gauge("clawfs_index_skipped_files", "Files not indexed (binary, too large, unreadable).", s.skippedFiles());
    t.gauge("clawfs_index_passages", "Passages in the keyword index.", s.passages());
    t.gauge("clawfs_index_vectors", "Vectors in the semantic (HNSW) index.", s.vectors());
    t.counter("clawfs_index_embedded_passages_total", "Passages embedded since the mount.", s.embeddedPassages());
    t.counter("clawfs_index_failures_total", "Indexing failures since the mount (system/index/status has the last).",
        s.failures());
    t.gauge("clawfs_index_paused", "1 while indexing is paused because the vault's disk is nearly full.",
        s.paused() == null ? 0 : 1);
    t.gauge("clawfs_index_reindex_files", "Files in the rebuild under way or last done (0: none since the mount).",
        s.reindexTotal());
  }

  private void audit(PromText t) {
    AuditService.Counters a = p.audit().counters();
    t.family("clawfs_audit_events_total", PromText.Type.COUNTER, "Events recorded in the audit stream, by source.");
    t.sample(a.fuseEvents(), "source", "fuse");
    t.sample(a.ebpfEvents(), "source", "ebpf");
    t.sample(a.toolEvents(), "source", "tool");
    t.sample(a.agentEvents(), "source", "agent");
    t.family("clawfs_audit_dropped_total", PromText.Type.COUNTER,
        "Audit events lost: queue_full (never recorded anywhere), slow_reader (lines a stream reader missed; the"
            + " history has them), ebpf_ring_buffer (kernel events lost before they reached the server).");
    t.sample(a.queueDrops(), "reason", "queue_full");
    t.sample(a.readerDrops(), "reason", "slow_reader");
    t.sample(a.ebpfDrops(), "reason", "ebpf_ring_buffer");
    t.counter("clawfs_audit_denials_total", "Denied operations recorded by the audit.", a.denials());
    t.counter("clawfs_audit_anomalies_total", "Anomalies the audit raised (denial bursts, read floods, shells).",
        a.anomalies());
    t.gauge("clawfs_audit_queue_length", "Events waiting in the audit queue.", a.queued());
    t.gauge("clawfs_audit_queue_capacity", "Size of the audit queue; a full queue drops events.", a.queueCapacity());
    t.gauge("clawfs_audit_stream_readers", "Descriptors open on system/audit/stream.", a.readers());
    t.gauge("clawfs_audit_history_bytes", "Sealed audit history in the vault, in bytes (0 when none is kept).",
        a.history() == null ? 0 : Math.max(0, a.history().bytes()));
    t.gauge("clawfs_audit_history_limit_bytes", "The bound on the sealed history (--audit-history-mib).",
        a.history() == null ? 0 : a.history().maxBytes());
    t.counter("clawfs_audit_history_write_failures_total", "Writes of the sealed history that failed.",
        a.history() == null ? 0 : a.history().writeFailures());
    t.gauge("clawfs_ebpf_enabled", "1 while the eBPF programs record agents' exec, open and connect.",
        a.ebpfStatus().startsWith("ebpf: on") ? 1 : 0);
  }

  private void toolsAndAgents(PromText t) {
    ToolService ts = p.tools();
    t.gauge("clawfs_tools", "WASM tools installed (0 when tools are off).", ts == null ? 0 : ts.toolCount());
    t.family("clawfs_tool_runs_total", PromText.Type.COUNTER,
        "WASM tool runs by tool and outcome: ok, nonzero_exit, limit, trapped, refused, cancelled.");
    if (ts != null) {
      for (Map.Entry<ToolService.RunKey, Long> e : ts.runCounts().entrySet()) {
        t.sample(e.getValue(), "tool", e.getKey().tool(), "outcome", e.getKey().outcome());
      }
    }
    Map<String, AgentRunner> agents = new java.util.TreeMap<>(p.agents());
    t.gauge("clawfs_agents", "Agents registered.", agents.size());
    t.family("clawfs_agent_tasks_queued", PromText.Type.GAUGE, "Questions and tasks waiting for or being worked on by an agent.");
    agents.forEach((n, r) -> t.sample(r.queued(), "agent", n));
    t.family("clawfs_agent_tasks_done_total", PromText.Type.COUNTER, "Questions and tasks an agent finished.");
    agents.forEach((n, r) -> t.sample(r.doneCount(), "agent", n));
    t.family("clawfs_agent_tasks_failed_total", PromText.Type.COUNTER, "Questions and tasks that failed.");
    agents.forEach((n, r) -> t.sample(r.failedCount(), "agent", n));
  }

  private void process(PromText t) {
    t.gauge("clawfs_build_info", "The ClawFS version serving this mount.", 1, "version", ClawfsCli.VERSION);
    t.gauge("clawfs_mount_info", "The vault served and where (both are in the mount table anyway).", 1,
        "vault", p.vault().toString(), "mountpoint", p.mountpoint().toString());
    t.gauge("clawfs_start_time_seconds", "When the mount was served (Unix time).", p.startedMillis() / 1000.0);
    t.family("clawfs_log_messages_total", PromText.Type.COUNTER, "Log records written, by level.");
    for (Map.Entry<String, Long> e : Logs.counts().entrySet()) {
      t.sample(e.getValue(), "level", e.getKey());
    }
    ProcessHandle.current().info().startInstant().ifPresent(i ->
        t.gauge("process_start_time_seconds", "Start time of the server process (Unix time).", i.toEpochMilli() / 1000.0));
    if (ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os) {
      t.counter("process_cpu_seconds_total", "CPU time the server process used.", os.getProcessCpuTime() / 1e9);
    }
    try {
      String[] statm = Files.readString(Path.of("/proc/self/statm")).trim().split(" ");
      t.gauge("process_resident_memory_bytes", "Resident memory of the server process.", Long.parseLong(statm[1]) * 4096);
    } catch (IOException | RuntimeException e) {
      // not Linux: left out
    }
    try (var fds = Files.list(Path.of("/proc/self/fd"))) {
      t.gauge("process_open_fds", "File descriptors the server process holds open.", fds.count());
    } catch (IOException | RuntimeException e) {
      // not Linux: left out
    }
    var mem = ManagementFactory.getMemoryMXBean();
    t.family("jvm_memory_used_bytes", PromText.Type.GAUGE, "JVM memory in use, heap and non-heap.");
    t.sample(mem.getHeapMemoryUsage().getUsed(), "area", "heap");
    t.sample(mem.getNonHeapMemoryUsage().getUsed(), "area", "nonheap");
    t.family("jvm_memory_committed_bytes", PromText.Type.GAUGE, "JVM memory committed, heap and non-heap.");
    t.sample(mem.getHeapMemoryUsage().getCommitted(), "area", "heap");
    t.sample(mem.getNonHeapMemoryUsage().getCommitted(), "area", "nonheap");
    t.gauge("jvm_memory_max_bytes", "Most heap the JVM may use.", mem.getHeapMemoryUsage().getMax(), "area", "heap");
    t.gauge("jvm_threads_current", "Live JVM threads.", ManagementFactory.getThreadMXBean().getThreadCount());
    List<GarbageCollectorMXBean> gcs = ManagementFactory.getGarbageCollectorMXBeans();
    t.family("jvm_gc_collections_total", PromText.Type.COUNTER, "Garbage collections, by collector.");
    gcs.forEach(g -> t.sample(Math.max(0, g.getCollectionCount()), "gc", g.getName()));
    t.family("jvm_gc_collection_seconds_total", PromText.Type.COUNTER, "Time spent in garbage collection, by collector.");
    gcs.forEach(g -> t.sample(Math.max(0, g.getCollectionTime()) / 1000.0, "gc", g.getName()));
  }
}
