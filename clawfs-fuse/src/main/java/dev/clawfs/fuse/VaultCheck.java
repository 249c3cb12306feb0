package dev.clawfs.fuse;

import dev.clawfs.crypto.MasterKeys;
import dev.clawfs.fuse.CheckReport.Kind;
import dev.clawfs.fuse.CheckReport.Problem;
import dev.clawfs.fuse.ContentVerifier.Finding;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

/**
 * Checks a vault without mounting it: the SQLite integrity of the metadata, every record and
 * directory entry against its seal, the directory tree (every entry names an inode, link counts,
 * what no directory reaches), and every chunk the metadata names, opened with the file's real
 * cipher: a tag that fails is an altered chunk, and since the AAD binds file id, chunk index and
 * version, so is a chunk rolled back to an older ciphertext or moved; a content file that ends
 * before a chunk's slot is truncated. Nothing in the vault is written.
 *
 * <p>While the vault is mounted ({@code mounted}), the metadata is read from one committed
 * snapshot (SQLite WAL), and a chunk that fails is judged against a newer snapshot before it is
 * reported: the server may have committed a new version of the file meanwhile, and may then
 * reuse the old version's slot. A fault is reported only when the chunk failed under the version
 * that was still committed after it was read. Content files no inode names yet are not reported
 * then (a file being written has its content before its metadata).
 */
public final class VaultCheck {
  /** The lost+found directory's name, inside /workspaces (the first level is fixed). */
  public static final String LOST_FOUND = "lost+found";
  public static final String LOST_FOUND_PATH = "/workspaces/" + LOST_FOUND;

  private final Path vault;
  private final boolean mounted;
  private final List<Problem> problems = new ArrayList<>();
  private final ContentVerifier verifier;
  private long contentFiles;

  private VaultCheck(Path vault, MasterKeys keys, boolean mounted) {
    this.vault = vault;
    this.mounted = mounted;
    this.verifier = new ContentVerifier(vault, keys);
  }

  /**
   * Checks the vault at {@code vault}, unlocked with {@code keys}.
   *
   * @param mounted whether a server has it mounted (see the class comment)
   */
  public static CheckReport run(Path vault, MasterKeys keys, boolean mounted) {
    Instant started = Instant.now();
    VaultCheck c = new VaultCheck(vault, keys, mounted);
    try (MetadataSnapshot snap = MetadataSnapshot.read(vault, keys)) {
      return c.check(snap, started);
    }
  }

  private CheckReport check(MetadataSnapshot snap, Instant started) {
    database(snap);
    MetadataTree tree = new MetadataTree(snap);
    if (snap.openError == null && snap.checkRecord != MetadataSnapshot.CheckRecord.FOREIGN) {
      records(snap, tree);
      tree(snap, tree);
      for (Inode n : snap.inodes.values()) {
        if (n.isRegular()) {
          for (Finding f : content(snap, n)) {
            add(f.kind(), n.id, tree, f.chunk(), f.detail());
          }
        }
      }
      if (!mounted) {
        unreferencedContent(snap);
      } else {
        countContentFiles();
      }
    }
    long files = 0;
    long dirs = 0;
    long links = 0;
    long others = 0;
    List<CheckReport.FileStamp> stamps = new ArrayList<>();
    for (Inode n : snap.inodes.values()) {
      if (n.isRegular()) {
        files++;
        String p = tree.path(n.id);
        if (p != null && tree.reachable.contains(n.id)) {
          stamps.add(new CheckReport.FileStamp(n.id, p, n.size, ClawFileSystem.stamp(n)));
        }
      } else if (n.isDir()) {
        dirs++;
      } else if (n.isSymlink()) {
        links++;
      } else {
        others++;
      }
    }
    CheckReport.Counts counts = new CheckReport.Counts(snap.inodes.size() + snap.badInodes.size(), files, dirs, links,
        others, contentFiles, verifier.chunks, verifier.chunksOk, verifier.bytesVerified);
    return new CheckReport(vault, mounted, started, Instant.now(), counts, List.copyOf(problems), List.copyOf(stamps));
  }

  private void add(Kind kind, Long ino, MetadataTree tree, Long chunk, String detail) {
    String path = ino == null ? null : tree.path(ino);
    boolean quarantined = ino != null && tree.quarantined.contains(ino);
    problems.add(new Problem(kind, ino, path, chunk, detail, quarantined));
  }

  // ------------------------------------------------------------------ database

  private void database(MetadataSnapshot snap) {
    if (snap.openError != null) {
      problems.add(new Problem(Kind.DATABASE, null, null, null, snap.openError
          + ": no file's metadata can be read", false));
      return;
    }
    if (!snap.integrity.isEmpty()) {
      int shown = Math.min(5, snap.integrity.size());
      problems.add(new Problem(Kind.DATABASE, null, null, null, "SQLite integrity check of " + MetadataStore.DB_FILE
          + " failed (" + snap.integrity.size() + " messages): " + String.join("; ", snap.integrity.subList(0, shown)),
          false));
    }
    for (Map.Entry<String, ResilientScan.Outcome> e : snap.scans.entrySet()) {
      ResilientScan.Outcome o = e.getValue();
      if (!o.clean()) {
        problems.add(new Problem(Kind.DATABASE, null, null, null, "table " + e.getKey() + ": " + o.gaps()
            + " unreadable run(s) of rows skipped" + (o.gaveUp() ? ", the rest of the table given up" : "")
            + "; " + o.rows() + " rows read (" + (o.errors().isEmpty() ? "" : o.errors().get(0)) + ")", false));
      }
    }
    switch (snap.checkRecord) {
      case MISSING -> problems.add(new Problem(Kind.VAULT_CHECK, null, null, null,
          "the vault check record is missing from " + MetadataStore.DB_FILE + " (the vault will not mount)", false));
      case UNREADABLE -> problems.add(new Problem(Kind.VAULT_CHECK, null, null, null,
          "the vault check record cannot be read or fails authentication (the vault will not mount)", false));
      case FOREIGN -> problems.add(new Problem(Kind.VAULT_CHECK, null, null, null,
          MetadataStore.DB_FILE + " belongs to another vault (no record opens with this vault's keys)", false));
      default -> { }
    }
  }

  // ------------------------------------------------------------------ records and tree

  private void records(MetadataSnapshot snap, MetadataTree tree) {
    for (Map.Entry<Long, String> e : snap.badInodes.entrySet()) {
      add(Kind.INODE_RECORD, e.getKey(), tree, null, e.getValue()
          + ": its attributes, chunk versions and content are lost (the vault will not mount)");
    }
    for (Map.Entry<Long, Map<Integer, String>> e : snap.badBlocks.entrySet()) {
      for (Map.Entry<Integer, String> b : e.getValue().entrySet()) {
        long first = (long) b.getKey() * Inode.BLOCK_CHUNKS;
        add(Kind.VERSION_MAP, e.getKey(), tree, first, "version block " + b.getKey() + " (chunks " + first + ".."
            + (first + Inode.BLOCK_CHUNKS - 1) + ") " + b.getValue()
            + ": those chunks cannot be verified (the vault will not mount)");
      }
    }
    for (MetadataSnapshot.BadEntry e : snap.badEntries) {
      add(Kind.DIRENT, e.child(), tree, null, "a directory entry in directory inode " + e.parent() + " naming inode "
          + e.child() + " " + e.reason() + " (the vault will not mount)");
    }
  }

  private void tree(MetadataSnapshot snap, MetadataTree tree) {
    Inode root = snap.inodes.get(MetadataStore.ROOT_ID);
    if (root == null || !root.isDir()) {
      problems.add(new Problem(Kind.TREE, MetadataStore.ROOT_ID, "/", null,
          "the root directory is " + (root == null ? "lost" : "not a directory") + " (the vault will not mount)", false));
      return;
    }
    for (String top : ClawFileSystem.NAMESPACE) {
      Long id = tree.childNamed(root.id, top);
      Inode d = id == null ? null : snap.inodes.get(id);
      if (d == null || !d.isDir()) {
        problems.add(new Problem(Kind.TREE, id, "/" + top, null, "the top-level directory /" + top + " is "
            + (id == null ? "missing" : d == null ? "lost" : "not a directory"), false));
      }
    }
    for (MetadataSnapshot.Entry e : tree.dangling) {
      String where = tree.path(e.parent());
      String name = new String(e.name(), java.nio.charset.StandardCharsets.UTF_8);
      problems.add(new Problem(Kind.DANGLING_ENTRY, e.child(), where == null ? null : where + (where.endsWith("/") ? "" : "/") + name,
          null, "the entry names inode " + e.child() + ", which does not exist (mounting drops the entry)", false));
    }
    for (MetadataSnapshot.Entry e : tree.homeless) {
      if (snap.badInodes.containsKey(e.parent())) {
        continue; // the lost directory is reported; its children show as orphans
      }
      Inode p = snap.inodes.get(e.parent());
      add(Kind.DANGLING_ENTRY, e.child(), tree, null, "an entry of inode " + e.parent() + ", which "
          + (p == null ? "does not exist" : "is not a directory") + " (mounting drops the entry)");
    }
    for (long d : tree.multiplyLinkedDirs) {
      add(Kind.TREE, d, tree, null, "the directory has more than one name (directories cannot be hard links)");
    }
    for (long id : tree.orphanRoots) {
      Inode n = snap.inodes.get(id);
      add(Kind.ORPHAN, id, tree, null, "no directory entry reaches this " + kindOf(n)
          + (n.isDir() ? " (nor what it holds)" : "")
          + ": mounting deletes it and its content; --repair links it into " + LOST_FOUND_PATH + " as #" + id);
    }
    for (long id : tree.reachable) {
      Inode n = snap.inodes.get(id);
      int want = tree.expectedLinks.getOrDefault(id, 0);
      if (n.nlink != want) {
        add(Kind.NLINK, id, tree, null, "the record says " + n.nlink + " links, the directory entries make " + want
            + " (mounting corrects it)");
      }
    }
    if (!mounted) {
      for (long id : tree.unlinkedWhileOpen) {
        add(Kind.UNLINKED_OPEN, id, tree, null, "a file unlinked while it was open, left by a crash:"
            + " the next mount deletes it, as its owner did");
      }
      for (MetadataSnapshot.Entry e : tree.hidden) {
        add(Kind.HIDDEN_NAME, e.child(), tree, null, "a name libfuse gave a file unlinked while open, left by a crash:"
            + " the next mount removes it (and the file, when it has no other name)");
      }
    }
  }

  private static String kindOf(Inode n) {
    return n.isDir() ? "directory" : n.isRegular() ? "file" : n.isSymlink() ? "symbolic link" : "special file";
  }

  // ------------------------------------------------------------------ content

  private List<Finding> content(MetadataSnapshot snap, Inode n) {
    List<Finding> found = verifier.verify(n, snap.badBlocks.getOrDefault(n.id, Map.of()).keySet());
    if (!mounted || found.isEmpty()) {
      return found;
    }
    // mounted: a fault stands only if the version it failed under is still the committed one
    Inode then = n;
    for (int round = 0; round < 4; round++) {
      Inode now = snap.current(n.id);
      if (now == null) {
        return List.of(); // gone, or changing under us: nothing committed to judge against
      }
      if (sameFor(found, then, now)) {
        return found;
      }
      then = now;
      found = verifier.verify(now, Set.of());
      if (found.isEmpty()) {
        return found;
      }
    }
    return List.of(new Finding(Kind.CHANGING, null, "the file changed on every look while it was checked; not verified"));
  }

  /** Whether every finding concerns the same committed state in {@code a} and {@code b}. */
  private static boolean sameFor(List<Finding> found, Inode a, Inode b) {
    if (!java.util.Arrays.equals(a.fileId, b.fileId) || a.size != b.size) {
      return false;
    }
    for (Finding f : found) {
      if (f.chunk() != null && a.version(f.chunk()) != b.version(f.chunk())) {
        return false;
      }
    }
    return true;
  }

  // ------------------------------------------------------------------ content files

  private void unreferencedContent(MetadataSnapshot snap) {
    Set<String> live = new HashSet<>();
    for (Inode n : snap.inodes.values()) {
      if (n.fileId != null) {
        live.add(ContentStore.hex(n.fileId));
      }
    }
    for (Path f : contentFiles(vault)) {
      contentFiles++;
      String name = f.getFileName().toString();
      if (!live.contains(name)) {
        problems.add(new Problem(Kind.UNREFERENCED_CONTENT, null, null, null, "the content file "
            + vault.relativize(f) + " is named by no inode (left by a crash, or its inode's record is lost):"
            + " mounting deletes it; --repair keeps it in VAULT/" + VaultRepair.BACKUP_DIR + "/", false));
      }
    }
  }

  private void countContentFiles() {
    contentFiles = contentFiles(vault).size();
  }

  /** Every file under content/xx/. */
  static List<Path> contentFiles(Path vault) {
    List<Path> out = new ArrayList<>();
    Path root = vault.resolve(ContentStore.DIR);
    if (!Files.isDirectory(root)) {
      return out;
    }
    try (Stream<Path> dirs = Files.list(root)) {
      for (Path d : (Iterable<Path>) dirs.sorted()::iterator) {
        if (!Files.isDirectory(d, LinkOption.NOFOLLOW_LINKS)) {
          continue;
        }
        try (Stream<Path> files = Files.list(d)) {
          files.sorted().forEach(out::add);
        }
      }
    } catch (IOException e) {
      // a directory that vanished (mounted: a file deleted) is simply not counted
    }
    return out;
  }

  /** The findings of each regular file with damaged content, by inode (for the repair). */
  static Map<Long, List<Finding>> damagedFiles(Path vault, MasterKeys keys, MetadataSnapshot snap) {
    ContentVerifier verifier = new ContentVerifier(vault, keys);
    Map<Long, List<Finding>> out = new HashMap<>();
    for (Inode n : snap.inodes.values()) {
      if (n.isRegular()) {
        List<Finding> f = verifier.verify(n, snap.badBlocks.getOrDefault(n.id, Map.of()).keySet());
        if (!f.isEmpty()) {
          out.put(n.id, f);
        }
      }
    }
    return out;
  }
}
