package dev.clawfs.mount;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.clawfs.crypto.KeyPurpose;
import dev.clawfs.crypto.MasterKeys;
import dev.clawfs.crypto.Sealer;
import dev.clawfs.crypto.VaultHeader;
import dev.clawfs.fuse.CheckReport;
import dev.clawfs.fuse.CheckReport.Kind;
import dev.clawfs.fuse.CheckReport.Problem;
import dev.clawfs.fuse.VaultCheck;
import dev.clawfs.fuse.VaultRepair;
import dev.clawfs.index.IndexCheck;
import dev.clawfs.index.SearchEngine;
import dev.clawfs.mount.ClawfsCli.CliException;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code clawfs check VAULT [--json] [--repair]}: verifies a vault ({@link VaultCheck}) and its
 * search index ({@link IndexCheck}) and, with {@code --repair}, repairs what it found
 * ({@link VaultRepair}). Unmounted, it holds the vault's lock, so nothing mounts it meanwhile;
 * mounted, it checks read-only from committed snapshots and refuses {@code --repair}.
 */
@Command(name = "check", description = "Verify every chunk, record and directory entry of a vault, its databases and"
    + " its search index; --repair (unmounted) moves damaged files to /workspaces/lost+found and rebuilds what it can.")
final class CheckCommand implements Callable<Integer> {
  @Parameters(index = "0", paramLabel = "VAULT")
  Path vault;

  @CommandLine.Mixin
  ClawfsCli.PassphraseOptions pass;

  @Option(names = "--json", description = "Print one JSON object (the report) instead of the summary.")
  boolean json;

  @Option(names = "--repair", description = "Repair what was found (the vault must not be mounted):"
      + " damaged files go to /workspaces/lost+found with a note, nothing is deleted.")
  boolean repair;

  private static final java.util.logging.Logger FS_LOG = java.util.logging.Logger.getLogger("clawfs.fs");
  private final PrintStream out = new PrintStream(new FileOutputStream(FileDescriptor.out), true, StandardCharsets.UTF_8);

  @Override
  public Integer call() throws Exception {
    Path v = vault.toAbsolutePath().normalize();
    Mounts.checkVault(v);
    try (VaultLock lock = VaultLock.tryAcquire(v)) {
      Path mountedAt = Mounts.mountOf(v);
      boolean mounted = lock == null || mountedAt != null;
      if (repair && mounted) {
        throw new CliException(ClawfsCli.BAD_MOUNTPOINT, "the vault " + v + " is "
            + (mountedAt != null ? "mounted at " + mountedAt + "; unmount it first (clawfs umount " + mountedAt + ")"
                : "in use by another clawfs process (mounted, or being checked)")
            + ": --repair needs it to itself; nothing was changed");
      }
      char[] p = pass.read(false);
      MasterKeys keys;
      try {
        keys = VaultHeader.unlock(v, p);
      } finally {
        Arrays.fill(p, '\0');
      }
      try {
        return run(v, keys, mounted, mountedAt);
      } finally {
        keys.destroy();
      }
    }
  }

  private int run(Path v, MasterKeys keys, boolean mounted, Path mountedAt) throws IOException {
    CheckReport before = checkAll(v, keys, mounted);
    if (!repair) {
      if (json) {
        out.println(toJson(before, null, null));
      } else {
        printReport(before, mountedAt);
        printVerdict(before, v);
      }
      return before.clean() ? ClawfsCli.OK : ClawfsCli.PROBLEMS;
    }
    if (before.clean()) {
      if (json) {
        out.println(toJson(before, null, null));
      } else {
        printReport(before, null);
        out.println("nothing to repair");
      }
      return ClawfsCli.OK;
    }
    VaultRepair.Result result;
    // the salvage reads every chunk of the damaged files; the core logs each failure, which the
    // report already says in words
    FS_LOG.setLevel(java.util.logging.Level.OFF);
    try {
      result = VaultRepair.run(v, keys);
    } catch (IOException e) {
      if (!json) {
        printReport(before, null);
      }
      throw new CliException(ClawfsCli.BAD_VAULT, "repair failed: " + e.getMessage());
    }
    List<String> actions = new ArrayList<>(result.actions());
    if (before.problems().stream().anyMatch(x -> x.kind() == Kind.INDEX)) {
      dropIndex(v);
      actions.add("dropped the search index (damaged; it is derived from the files): the next mount rebuilds it");
    }
    CheckReport after = checkAll(v, keys, false);
    if (json) {
      out.println(toJson(before, new VaultRepair.Result(result.backup(), actions, result.moved()), after));
    } else {
      printReport(before, null);
      out.println();
      out.println("repair:");
      for (String a : actions) {
        out.println("  " + a);
      }
      out.println();
      out.println("after the repair:");
      printReport(after, null);
      printVerdict(after, v);
    }
    return after.clean() ? ClawfsCli.OK : ClawfsCli.PROBLEMS;
  }

  /** The file system's check plus the search index's. */
  static CheckReport checkAll(Path v, MasterKeys keys, boolean mounted) {
    CheckReport r = VaultCheck.run(v, keys, mounted);
    Map<Long, SearchEngine.FileRef> files = new HashMap<>();
    for (CheckReport.FileStamp f : r.files()) {
      files.put(f.ino(), new SearchEngine.FileRef(f.ino(), f.path(), f.size(), f.stamp()));
    }
    java.util.Set<Long> damaged = new java.util.HashSet<>();
    for (Problem x : r.problems()) {
      if (x.ino() != null && x.kind().damagesContent()) {
        damaged.add(x.ino());
      }
    }
    IndexCheck.Result ix = IndexCheck.run(v.resolve("index"), Sealer.of(keys.subkey(SearchService.indexKeyId(v.resolve("index"), keys), KeyPurpose.VECTORS)), files,
        damaged);
    List<Problem> more = new ArrayList<>();
    for (String d : ix.damage()) {
      more.add(new Problem(Kind.INDEX, null, null, null, "search index: " + d
          + "; --repair drops the index and the next mount rebuilds it from the files", false));
    }
    if (ix.stale() + ix.gone() + ix.missing() > 0) {
      more.add(new Problem(Kind.INDEX_STALE, null, null, null, "the search index is behind the files (" + ix.stale()
          + " changed, " + ix.gone() + " gone, " + ix.missing() + " not yet indexed): the next mount catches up", false));
    }
    return r.with(more, Instant.now());
  }

  private static void dropIndex(Path v) throws IOException {
    Path index = v.resolve("index");
    for (String f : List.of("index.db", "index.db-wal", "index.db-shm", "index.db-journal", "hnsw.sealed")) {
      Files.deleteIfExists(index.resolve(f));
    }
  }

  // ------------------------------------------------------------------ people

  private void printReport(CheckReport r, Path mountedAt) {
    CheckReport.Counts c = r.counts();
    if (r.mounted()) {
      out.println("clawfs check: " + r.vault() + " (" + (mountedAt == null ? "in use by another clawfs process"
          : "mounted at " + mountedAt) + ": checked read-only from committed snapshots)");
    } else {
      out.println("clawfs check: " + r.vault());
    }
    out.printf("checked %d inodes (%d files, %d directories, %d symbolic links%s), %d content files,"
        + " %d chunks (%s verified), the metadata and the search index%n", c.inodes(), c.files(), c.directories(),
        c.symlinks(), c.others() > 0 ? ", " + c.others() + " others" : "", c.contentFiles(), c.chunks(),
        bytes(c.bytesVerified()));
    List<Problem> faults = r.faults();
    if (!faults.isEmpty()) {
      out.println("problems (" + faults.size() + "):");
      for (Problem x : faults) {
        out.println("  " + x.describe());
      }
    }
    List<Problem> notes = r.notes();
    if (!notes.isEmpty()) {
      out.println("notes (" + notes.size() + "):");
      for (Problem x : notes) {
        out.println("  " + x.describe());
      }
    }
  }

  private void printVerdict(CheckReport r, Path v) {
    if (r.clean()) {
      out.println("result: clean");
      return;
    }
    long files = r.damagedFiles();
    out.println("result: " + r.faults().size() + " problem(s)" + (files > 0 ? ", " + files + " damaged file(s)" : "")
        + (repair ? " remain" : "; `clawfs check --repair " + v + "` (unmounted) moves damaged files to "
        + VaultCheck.LOST_FOUND_PATH + " and rebuilds what it can"));
  }

  private static String bytes(long n) {
    if (n < 1024) {
      return n + " B";
    }
    String[] units = {"KiB", "MiB", "GiB", "TiB"};
    double x = n;
    int u = -1;
    while (x >= 1024 && u < units.length - 1) {
      x /= 1024;
      u++;
    }
    return String.format("%.1f %s", x, units[u]);
  }

  // ------------------------------------------------------------------ machines

  private static final ObjectMapper JSON = new ObjectMapper().disable(SerializationFeature.INDENT_OUTPUT);

  static String toJson(CheckReport r, VaultRepair.Result repaired, CheckReport after) throws IOException {
    ObjectNode o = report(r);
    if (repaired != null) {
      ObjectNode rep = o.putObject("repair");
      rep.put("backup", repaired.backup() == null ? null : repaired.backup().toString());
      ArrayNode acts = rep.putArray("actions");
      repaired.actions().forEach(acts::add);
      ObjectNode moved = rep.putObject("moved");
      repaired.moved().forEach((ino, path) -> moved.put(Long.toString(ino), path));
      rep.set("after", report(after));
    }
    return JSON.writeValueAsString(o);
  }

  private static ObjectNode report(CheckReport r) {
    ObjectNode o = JSON.createObjectNode();
    o.put("vault", r.vault().toString());
    o.put("mounted", r.mounted());
    o.put("started", r.started().toString());
    o.put("finished", r.finished().toString());
    o.put("clean", r.clean());
    CheckReport.Counts c = r.counts();
    ObjectNode counts = o.putObject("counts");
    counts.put("inodes", c.inodes());
    counts.put("files", c.files());
    counts.put("directories", c.directories());
    counts.put("symlinks", c.symlinks());
    counts.put("others", c.others());
    counts.put("contentFiles", c.contentFiles());
    counts.put("chunks", c.chunks());
    counts.put("chunksOk", c.chunksOk());
    counts.put("bytesVerified", c.bytesVerified());
    counts.put("problems", r.faults().size());
    counts.put("damagedFiles", r.damagedFiles());
    counts.put("notes", r.notes().size());
    ArrayNode problems = o.putArray("problems");
    r.faults().forEach(x -> problems.add(problem(x)));
    ArrayNode notes = o.putArray("notes");
    r.notes().forEach(x -> notes.add(problem(x)));
    return o;
  }

  private static ObjectNode problem(Problem x) {
    ObjectNode p = JSON.createObjectNode();
    p.put("kind", x.kind().code());
    p.put("severity", x.kind().severity().name().toLowerCase(java.util.Locale.ROOT));
    if (x.ino() == null) {
      p.putNull("ino");
    } else {
      p.put("ino", x.ino());
    }
    p.put("path", x.path());
    if (x.chunk() == null) {
      p.putNull("chunk");
    } else {
      p.put("chunk", x.chunk());
    }
    p.put("detail", x.detail());
    p.put("quarantined", x.quarantined());
    return p;
  }
}
