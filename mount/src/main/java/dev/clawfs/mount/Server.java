package dev.clawfs.mount;

import dev.clawfs.crypto.CryptoException;
import dev.clawfs.crypto.MasterKeys;
import dev.clawfs.crypto.VaultFormatException;
import dev.clawfs.crypto.VaultHeader;
import dev.clawfs.crypto.WrongPassphraseException;
import dev.clawfs.fuse.ClawFileSystem;
import dev.clawfs.fuse.FsException;
import dev.clawfs.fuse.FuseAdapter;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.System.Logger.Level;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * The mount server: unlocks the vault, opens the file system, mounts it and serves until it is
 * unmounted. Started by {@code clawfs mount} in its own session; it reports readiness (or the
 * error and its exit code) as one line on stdout, which the starting command relays.
 */
@Command(name = "serve", hidden = true, description = "Serve a vault in the foreground (used by mount).")
final class Server implements Callable<Integer> {
  private static final System.Logger LOG = System.getLogger("clawfs.server");
  @Parameters(index = "0", paramLabel = "VAULT")
  Path vault;

  @Parameters(index = "1", paramLabel = "MOUNTPOINT")
  Path mountpoint;

  @CommandLine.Mixin
  ClawfsCli.PassphraseOptions pass;

  @Option(names = {"-o", "--options"})
  String fuseOptions;

  @Option(names = "--commit-interval-ms")
  long commitIntervalMs = 1000;

  @Option(names = "--no-atime")
  boolean noAtime;

  @CommandLine.Mixin
  ClawfsCli.SearchOptions search;

  @CommandLine.Mixin
  ClawfsCli.AuditOptions audit;

  @CommandLine.Mixin
  ClawfsCli.LogOptions logs = new ClawfsCli.LogOptions();

  @Option(names = "--keyring-timeout")
  long keyringTimeout;

  @Option(names = "--from-keyring")
  boolean fromKeyring;

  @Override
  public Integer call() throws Exception {
    logs.apply();
    PrintStream ready = new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), true, StandardCharsets.UTF_8);
    // from here on, stdout carries only the readiness line; everything else goes to the log (stderr)
    System.setOut(System.err);
    Unlock unlock;
    try {
      unlock = fromKeyring ? Unlock.keyring(keyringTimeout) : Unlock.passphrase(pass.read(false), keyringTimeout);
    } catch (RuntimeException e) {
      return report(ready, e);
    }
    return serve(vault.toAbsolutePath().normalize(), mountpoint.toAbsolutePath().normalize(), unlock, fuseOptions, commitIntervalMs,
        noAtime, search, audit, ready);
  }

  private static int report(PrintStream ready, Throwable e) {
    int code = ClawfsCli.exitCodeOf(e);
    String msg = ClawfsCli.messageOf(e);
    if (e instanceof FsException || e instanceof IOException) {
      code = ClawfsCli.BAD_VAULT;
      msg = "cannot open the vault: " + msg;
    }
    if (ready != null) {
      ready.println("ERROR " + code + " " + msg.replace('\n', ' '));
      ready.close();
      return code;
    }
    throw e instanceof RuntimeException r ? r : new ClawfsCli.CliException(code, msg);
  }

  /**
   * Serves until unmounted. {@code ready} gets the readiness line; null when run in the
   * foreground, where a systemd unit ({@code Type=notify}) hears of readiness through
   * {@code $NOTIFY_SOCKET} instead.
   */
  static int serve(Path vault, Path mountpoint, Unlock unlock, String extraOptions, long commitIntervalMs,
      boolean noAtime, ClawfsCli.SearchOptions searchOptions, ClawfsCli.AuditOptions auditOptions, PrintStream ready)
      throws Exception {
    MasterKeys keys;
    ClawFileSystem fs;
    VaultLock lock;
    char[] resumeRekey = null; // a rekey cut short needs the passphrase for its last header write
    try {
      Mounts.checkVault(vault);
      try {
        lock = VaultLock.acquire(vault, Duration.ofSeconds(60));
      } catch (ClawfsCli.CliException e) {
        unlock.wipe();
        throw e;
      }
      try {
        resumeRekey = unlock.passphraseCopy(); // null when the keys come from the keyring
        keys = unlock.open(vault);
      } catch (Unlock.Stale e) {
        if (resumeRekey != null) {
          Arrays.fill(resumeRekey, '\0');
        }
        lock.close();
        throw e;
      }
      try {
        fs = ClawFileSystem.open(vault, keys, commitIntervalMs);
      } catch (CryptoException e) {
        throw new FsException(dev.clawfs.fuse.Errno.EIO, "vault metadata failed authentication: " + e.getMessage(), e);
      } catch (FsException | IOException e) {
        Unlock.Stale stale = unlock.rejectedBy(e);
        if (stale != null) {
          keys.destroy();
          lock.close();
          throw stale;
        }
        throw e;
      }
      if (unlock.fromKeyring()) {
        LOG.log(Level.INFO, "unlocked with the key kept in the kernel keyring");
      }
      if (keys.keyIds().size() < 2 && resumeRekey != null) {
        Arrays.fill(resumeRekey, '\0');
        resumeRekey = null;
      } else if (keys.keyIds().size() > 1 && resumeRekey == null) {
        LOG.log(Level.WARNING, "a rekey was cut short; it needs the passphrase to finish: run clawfs rekey, or mount with the passphrase");
      }
    } catch (Unlock.Stale e) {
      // the starting command (or Mount, in the foreground) asks for the passphrase and tries again
      if (ready == null) {
        throw e;
      }
      ready.println("STALE " + e.getMessage().replace('\n', ' '));
      ready.close();
      return ClawfsCli.WRONG_PASSPHRASE;
    } catch (WrongPassphraseException | VaultFormatException | FsException | IOException | ClawfsCli.CliException e) {
      if (resumeRekey != null) {
        Arrays.fill(resumeRekey, '\0');
      }
      return report(ready, e);
    }
    // noatime and ro: reading never writes metadata (ro refuses everything else in the kernel)
    fs.setAtimeUpdates(!noAtime);
    long started = System.currentTimeMillis();
    dev.clawfs.fuse.VirtualDir system = new dev.clawfs.fuse.VirtualDir();
    system.file("status", () -> status(fs, vault, mountpoint, started).getBytes(StandardCharsets.UTF_8));
    fs.registerVirtual("system", system);
    // identity, policies and audit: who calls, what they may do, and the record of it
    AgentRegistry agents;
    PolicyFiles policyFiles;
    AuditHistory history;
    try {
      Path admin = vault.resolve("admin");
      agents = AgentRegistry.load(new SealedFile(admin.resolve("agents.sealed"), "agents", keys));
      policyFiles = PolicyFiles.load(new SealedFile(admin.resolve("policies.sealed"), "policies", keys));
      history = auditOptions.historyMiB <= 0 ? null
          : AuditHistory.open(vault.resolve("audit"), keys, auditOptions.historyMiB << 20);
    } catch (IOException | RuntimeException e) {
      fs.close();
      keys.destroy();
      return report(ready, new ClawfsCli.CliException(ClawfsCli.BAD_VAULT, "cannot open the agents, policies or audit history: "
          + ClawfsCli.messageOf(e)));
    }
    if (extraOptions != null && extraOptions.matches("(^|.*,)[ug]id=.*") && !agents.list().isEmpty()) {
      LOG.log(Level.WARNING, "uid=/gid= show every file as one owner's, agents' homes too: their own processes lose"
          + " access to them (agents: {0})", agents.list().size());
    }
    PolicyGate gate = new PolicyGate(policyFiles.current(), agents);
    AuditService auditService = AuditService.start(history, agents, policyFiles.current(), system);
    system.tree("policies", policyFiles);
    AgentService agentService = new AgentService(fs, agents);
    system.file("agents", agentService::listing, agentService::command);
    // WASM tools at /tools; a vault made before tools/ was virtual has a stored tools/ folder,
    // which goes when empty and otherwise keeps the name (its files are the user's)
    ToolService tools = null;
    String toolsOff = null;
    try {
      if (fs.dropEmptyTopLevel("tools")) {
        tools = ToolService.start(fs, vault, keys, gate, auditService, system);
      } else {
        String why = "tools/ is a stored folder with files in it (made before tools/ held WASM tools):"
            + " move them out and mount again to get the tools";
        LOG.log(Level.WARNING, why);
        toolsOff = why;
        system.dir("tools").file("status", () -> ("tools: off: " + why + "\n").getBytes(StandardCharsets.UTF_8));
      }
    } catch (IOException | RuntimeException e) {
      auditService.close();
      fs.close();
      keys.destroy();
      return report(ready, new ClawfsCli.CliException(ClawfsCli.BAD_VAULT, "cannot open the installed tools: "
          + ClawfsCli.messageOf(e)));
    }
    ToolService toolService = tools;
    SearchService search = null;
    if (!searchOptions.disabled) {
      try {
        search = SearchService.start(fs, keys, Embedders.create(searchOptions), system);
      } catch (IOException | RuntimeException e) {
        fs.close();
        keys.destroy();
        return report(ready, new ClawfsCli.CliException(ClawfsCli.BAD_VAULT, "cannot open the search index: " + ClawfsCli.messageOf(e)));
      }
    }
    SearchService searchService = search;
    KeyService keyService = new KeyService(vault, fs, keys, history, searchService);
    keyService.register(system);
    if (searchService != null) {
      // a caller's search hits are the files it could open itself
      searchService.filterBy((c, path) -> gate.denial(c, dev.clawfs.fuse.Access.READ, path) == null
          && SearchService.unixMayRead(fs, c, path));
      agents.onChange(list -> searchService.forget());
    }
    // agents at work: ask/, inbox/, outbox/, transcript.jsonl, status, settings.json in each home
    AgentSettingsStore agentSettings;
    try {
      agentSettings = AgentSettingsStore.load(new SealedFile(vault.resolve("admin").resolve("agent-settings.sealed"),
          "agent-settings", keys));
    } catch (IOException | RuntimeException e) {
      if (searchService != null) {
        searchService.close();
      }
      auditService.close();
      fs.close();
      keys.destroy();
      return report(ready, new ClawfsCli.CliException(ClawfsCli.BAD_VAULT, "cannot open the agents' settings: "
          + ClawfsCli.messageOf(e)));
    }
    // transcripts kept across mounts, sealed in VAULT/transcripts/
    TranscriptHistory transcripts = null;
    java.util.Map<String, java.util.List<byte[]>> storedTranscripts = new java.util.concurrent.ConcurrentHashMap<>();
    try {
      transcripts = TranscriptHistory.open(vault, keys);
      keyService.addHistory(transcripts.segments());
      storedTranscripts.putAll(transcripts.load());
      java.util.Set<String> registered = new java.util.HashSet<>();
      agents.list().forEach(a -> registered.add(a.name()));
      for (String gone : java.util.List.copyOf(storedTranscripts.keySet())) {
        if (!registered.contains(gone)) {
          storedTranscripts.remove(gone);
          transcripts.removed(gone);
        }
      }
    } catch (IOException | RuntimeException e) {
      LOG.log(Level.WARNING, "the agents' transcripts are not kept this time: {0}", ClawfsCli.messageOf(e));
    }
    final TranscriptHistory keptTranscripts = transcripts;
    final java.util.Map<String, java.util.List<byte[]>> stored = storedTranscripts;
    AgentRunner.Context agentContext = new AgentRunner.Context() {
      public ClawFileSystem fs() {
        return fs;
      }

      public PolicyGate gate() {
        return gate;
      }

      public SearchService search() {
        return searchService;
      }

      public ToolService tools() {
        return toolService;
      }

      public AuditService audit() {
        return auditService;
      }

      public AgentSettingsStore settings() {
        return agentSettings;
      }

      public TranscriptHistory transcripts() {
        return keptTranscripts;
      }

      public java.util.List<byte[]> storedTranscript(String agent) {
        return stored.getOrDefault(agent, java.util.List.of());
      }
    };
    java.util.Map<String, AgentRunner> runners = new java.util.concurrent.ConcurrentHashMap<>();
    java.util.function.Consumer<java.util.List<AgentRegistry.Agent>> syncRunners = list -> {
      java.util.Set<String> names = new java.util.HashSet<>();
      for (AgentRegistry.Agent a : list) {
        names.add(a.name());
        runners.computeIfAbsent(a.name(), n -> new AgentRunner(a, agentContext));
      }
      runners.keySet().removeIf(n -> {
        if (names.contains(n)) {
          return false;
        }
        runners.get(n).close();
        stored.remove(n);
        if (keptTranscripts != null) {
          keptTranscripts.removed(n);
        }
        return true;
      });
    };
    agents.onChange(syncRunners);
    syncRunners.accept(agents.list());
    fs.registerOverlay("agents", 2, new AgentHomes(runners));
    AgentEvents agentEvents = new AgentEvents(fs, gate, runners);
    fs.addChangeListener(agentEvents);

    policyFiles.onChange(set -> {
      gate.swap(set);
      auditService.policiesChanged(set);
      if (searchService != null) {
        searchService.forget();
      }
    });

    FuseAdapter adapter = new FuseAdapter(fs, gate, auditService);
    // system/metrics and system/health
    MetricsService metrics = MetricsService.start(new MetricsService.Parts(vault, mountpoint, fs, adapter, searchService,
        auditService, toolService, toolsOff, runners, started), system);
    boolean root = Identity.uid() == 0;
    try {
      String[] fuseOpts = FuseAdapter.mountOptions(vault.toString(), root, extraOptions);
      LOG.log(Level.DEBUG, "mounting with FUSE options {0}, {1} threads, commit interval {2} ms, log level {3}",
          String.join(" ", fuseOpts), fuseThreads(), Long.toString(commitIntervalMs), Logs.name(Logs.level()));
      var loop = adapter.start(mountpoint, fuseOpts, fuseThreads());
      long deadline = System.nanoTime() + 20_000_000_000L;
      while (!Mounts.isClawfsMount(mountpoint)) {
        if (loop.isDone()) {
          try {
            loop.join();
          } catch (java.util.concurrent.CompletionException e) {
            Throwable c = e.getCause();
            while (c.getCause() != null) {
              c = c.getCause();
            }
            throw new ClawfsCli.CliException(ClawfsCli.BAD_MOUNTPOINT, "libfuse refused the mount: " + c.getMessage());
          }
          throw new ClawfsCli.CliException(ClawfsCli.BAD_MOUNTPOINT, "libfuse ended before the mount came up");
        }
        if (System.nanoTime() > deadline) {
          throw new ClawfsCli.CliException(ClawfsCli.BAD_MOUNTPOINT, "the mount at " + mountpoint + " did not come up within 20 s");
        }
        Thread.sleep(20);
      }
    } catch (Exception e) {
      metrics.close();
      if (searchService != null) {
        searchService.close();
      }
      auditService.close();
      fs.close();
      keys.destroy();
      int code = e instanceof ClawfsCli.CliException c ? c.code : ClawfsCli.BAD_MOUNTPOINT;
      String msg = "cannot mount at " + mountpoint + ": " + ClawfsCli.messageOf(e);
      if (ready != null) {
        ready.println("ERROR " + code + " " + msg);
        ready.close();
        return code;
      }
      throw new ClawfsCli.CliException(code, msg);
    }
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      // SIGTERM or SIGINT: unmount lazily so the loop ends, then make sure the metadata is committed
      try {
        if (Mounts.isClawfsMount(mountpoint)) {
          Mounts.run(java.util.List.of("fusermount", "-u", "-z", mountpoint.toString()));
        }
        adapter.awaitDestroyed(java.time.Duration.ofSeconds(30));
        keyService.close();
        if (searchService != null) {
          searchService.close();
        }
        if (toolService != null) {
          toolService.close();
        }
        auditService.close();
        if (keptTranscripts != null) {
          keptTranscripts.close();
        }
        fs.close();
      } catch (Exception e) {
        LOG.log(Level.ERROR, "flush on shutdown failed: {0}", e.getMessage());
      }
    }, "clawfs-shutdown"));
    ClawFileSystem.warmUpCryptoInBackground();
    if (resumeRekey != null) {
      keyService.resumeIfNeeded(resumeRekey);
    }
    // plain `umount MOUNTPOINT` then goes through /sbin/umount.fuse.clawfs, which waits for the commit
    boolean marked = Mounts.markForUmountHelper(mountpoint);
    LOG.log(Level.INFO, "serving {0} at {1}", vault, mountpoint);
    // the keyring keeps the keyset only once it has proven itself: the metadata opened, the mount is up
    String kept = unlock.mounted();
    if (kept != null && ready != null) {
      ready.println("NOTE " + kept);
    } else if (kept != null) {
      System.err.println("clawfs: " + kept);
    }
    if (ready != null) {
      ready.println("READY " + ProcessHandle.current().pid());
      ready.close();
    } else {
      System.out.println("mounted " + vault + " at " + mountpoint + "; serving in the foreground (pid " + ProcessHandle.current().pid() + ")");
      SystemdNotify.send("READY=1\nSTATUS=serving " + vault + " at " + mountpoint);
    }
    adapter.awaitDestroyed();
    keyService.close();
    if (ready == null) {
      SystemdNotify.send("STOPPING=1\nSTATUS=unmounted; committing and closing");
    }
    metrics.close();
    long t0 = System.nanoTime();
    if (searchService != null) {
      searchService.close();
    }
    long t1 = System.nanoTime();
    if (toolService != null) {
      toolService.close();
    }
    long t2 = System.nanoTime();
    auditService.close();
    if (keptTranscripts != null) {
      keptTranscripts.close();
    }
    long t3 = System.nanoTime();
    fs.close();
    long t4 = System.nanoTime();
    keys.destroy();
    LOG.log(Level.INFO, "closed: search {0} ms, tools {1} ms, audit {2} ms, file system {3} ms",
        (t1 - t0) / 1_000_000, (t2 - t1) / 1_000_000, (t3 - t2) / 1_000_000, (t4 - t3) / 1_000_000);
    if (marked) {
      Mounts.forgetUmountHelper(mountpoint);
    }
    lock.close();
    LOG.log(Level.INFO, "unmounted {0}; all metadata committed", mountpoint);
    return ClawfsCli.OK;
  }

  /** FUSE worker threads: enough for parallel callers to overlap I/O, few enough to stay light. */
  static int fuseThreads() {
    String v = System.getenv("CLAWFS_FUSE_THREADS");
    if (v != null) {
      return Math.max(1, Integer.parseInt(v.trim()));
    }
    return Math.max(8, 4 * Runtime.getRuntime().availableProcessors());
  }

  static String status(ClawFileSystem fs, Path vault, Path mountpoint, long startedMs) {
    ClawFileSystem.Stats s = fs.stats();
    StringBuilder b = new StringBuilder();
    b.append("vault: ").append(vault).append('\n');
    b.append("mountpoint: ").append(mountpoint).append('\n');
    b.append("pid: ").append(ProcessHandle.current().pid()).append('\n');
    b.append("uptime: ").append(format(Duration.ofMillis(System.currentTimeMillis() - startedMs))).append('\n');
    b.append("files: ").append(s.files()).append('\n');
    b.append("directories: ").append(s.directories()).append('\n');
    b.append("bytes: ").append(s.bytes()).append('\n');
    b.append("open handles: ").append(s.openHandles()).append('\n');
    b.append("bytes read: ").append(s.bytesRead()).append('\n');
    b.append("bytes written: ").append(s.bytesWritten()).append('\n');
    b.append("metadata pending: ").append(s.pendingMetadataOps()).append('\n');
    b.append("authentication failures: ").append(s.authFailures()).append('\n');
    b.append("last error: ").append(s.lastError() == null ? "none" : s.lastError()).append('\n');
    return b.toString();
  }

  private static String format(Duration d) {
    long s = d.getSeconds();
    return String.format("%dd %02dh %02dm %02ds", s / 86400, (s / 3600) % 24, (s / 60) % 60, s % 60);
  }
}
