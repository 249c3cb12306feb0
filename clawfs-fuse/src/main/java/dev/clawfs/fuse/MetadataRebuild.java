package dev.clawfs.fuse;

import dev.clawfs.crypto.KeyPurpose;
import dev.clawfs.crypto.KeyedHash;
import dev.clawfs.crypto.MasterKeys;
import dev.clawfs.crypto.Sealer;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * A new {@code metadata.db} from what a {@link MetadataSnapshot} could read and authenticate:
 * authenticated rows are copied as stored (re-sealed only where they change); entries naming lost
 * inodes and second names of directories are left out; a lost root or top-level directory is
 * recreated (or the unnamed directory with the id {@code init} gave it is linked back); inodes no
 * directory reaches are linked into {@code /workspaces/lost+found} as {@code #INODE}; link counts
 * are recomputed; the chunk versions of lost version blocks are found by {@link VersionTrial}. The
 * new database is written beside the old one, fsynced and renamed over it; the old one (with its
 * WAL) is copied to the repair's backup first.
 */
final class MetadataRebuild {
  private final VaultRepair repair;
  private final Path vault;
  private final MasterKeys keys;
  private Sealer sealer;
  private KeyedHash nameHash;
  /** The key the rebuilt database is sealed under: the damaged one's, so rows copied as stored still open. */
  private int keyId;
  private final Instant now;
  /** Inode -> what of its content went with its version map (for its note in lost+found). */
  final Map<Long, List<String>> versionLoss = new HashMap<>();
  /** Inodes linked into lost+found because no directory reached them. */
  final Set<Long> linkedOrphans = new HashSet<>();

  MetadataRebuild(VaultRepair repair) {
    this.repair = repair;
    this.vault = repair.vault();
    this.keys = repair.keys();
    this.now = repair.now();
  }

  /** Whether the database is damaged or disagrees with itself in a way a rebuild mends. */
  static boolean needed(MetadataSnapshot snap, MetadataTree tree) {
    if (snap.openError != null || !snap.integrity.isEmpty() || !snap.scansClean()
        || snap.checkRecord != MetadataSnapshot.CheckRecord.OK || !snap.badInodes.isEmpty()
        || !snap.badBlocks.isEmpty() || !snap.badEntries.isEmpty() || !tree.dangling.isEmpty()
        || !tree.homeless.isEmpty() || !tree.orphans.isEmpty() || !tree.multiplyLinkedDirs.isEmpty()) {
      return true;
    }
    Inode root = snap.inodes.get(MetadataStore.ROOT_ID);
    if (root == null || !root.isDir()) {
      return true;
    }
    for (String top : ClawFileSystem.NAMESPACE) {
      Long id = tree.childNamed(root.id, top);
      if (id == null || !snap.inodes.get(id).isDir()) {
        return true;
      }
    }
    for (long id : tree.reachable) {
      if (snap.inodes.get(id).nlink != tree.expectedLinks.getOrDefault(id, 0)) {
        return true;
      }
    }
    return false;
  }

  /** A directory entry of the new database. */
  private record Link(long parent, byte[] name, long child, byte[] hname, byte[] sealed) {}

  /** Writes the new database and puts it in place of the old one (which is kept in the backup). */
  void run(MetadataSnapshot snap, MetadataTree tree) throws IOException {
    keyId = snap.keyId;
    sealer = Sealer.of(keys.subkey(keyId, KeyPurpose.METADATA));
    nameHash = KeyedHash.of(keys.subkey(keyId, KeyPurpose.NAME_HASH));
    Path db = vault.resolve(MetadataStore.DB_FILE);
    Path dir = repair.backupDir();
    for (String suffix : List.of("", "-wal", "-shm")) {
      Path f = vault.resolve(MetadataStore.DB_FILE + suffix);
      if (Files.exists(f)) {
        Files.copy(f, dir.resolve(MetadataStore.DB_FILE + suffix), StandardCopyOption.REPLACE_EXISTING);
      }
    }
    repair.act("kept the old metadata database in " + vault.relativize(dir) + "/");
    if (snap.openError != null) {
      repair.act("the metadata database could not be read (" + snap.openError + "): built an empty one");
    } else if (!snap.integrity.isEmpty() || !snap.scansClean()) {
      repair.act("rebuilt " + MetadataStore.DB_FILE + " from the rows SQLite could still read ("
          + snap.inodes.size() + " inodes, " + snap.entries.size() + " directory entries)");
    } else {
      repair.act("rebuilt " + MetadataStore.DB_FILE + " from its authenticated rows");
    }
    Map<Long, Inode> inodes = new TreeMap<>(snap.inodes);
    Set<Long> changed = new HashSet<>();
    for (Map.Entry<Long, String> e : snap.badInodes.entrySet()) {
      String p = tree.path(e.getKey());
      repair.act("lost inode " + e.getKey() + (p == null ? "" : " (" + p + ")") + ": " + e.getValue()
          + "; its entries are dropped and its content file (if any) kept in the backup");
    }
    for (Map.Entry<Long, Map<Integer, String>> e : snap.badBlocks.entrySet()) {
      Inode n = inodes.get(e.getKey());
      recoverVersions(n, e.getValue(), tree.path(n.id));
      changed.add(n.id);
    }
    long nextId = MetadataStore.ROOT_ID + 1;
    for (long id : inodes.keySet()) {
      nextId = Math.max(nextId, id + 1);
    }
    for (long id : snap.badInodes.keySet()) {
      nextId = Math.max(nextId, id + 1);
    }
    // entries: the authenticated ones whose parent is a directory and whose child exists
    List<Link> links = new ArrayList<>();
    Set<Long> dirNamed = new HashSet<>();
    List<MetadataSnapshot.Entry> ordered = new ArrayList<>();
    for (long d : tree.reachable) {
      ordered.addAll(tree.children.getOrDefault(d, List.of()));
    }
    for (Map.Entry<Long, List<MetadataSnapshot.Entry>> e : tree.children.entrySet()) {
      if (!tree.reachable.contains(e.getKey())) {
        ordered.addAll(e.getValue());
      }
    }
    for (MetadataSnapshot.Entry e : ordered) {
      Inode c = inodes.get(e.child());
      if (c == null) {
        if (!snap.badInodes.containsKey(e.child())) {
          repair.act("dropped the entry " + describe(tree, e) + ": it named inode " + e.child() + ", which does not exist");
        }
        continue;
      }
      if (c.isDir() && !dirNamed.add(c.id)) {
        repair.act("dropped the entry " + describe(tree, e) + ": a second name of directory inode " + c.id);
        continue;
      }
      links.add(new Link(e.parent(), e.name(), e.child(), e.hname(), e.sealed()));
    }
    // the root and the fixed first level
    Inode root = inodes.get(MetadataStore.ROOT_ID);
    if (root == null || !root.isDir()) {
      root = newDir(MetadataStore.ROOT_ID, 0755);
      inodes.put(root.id, root);
      changed.add(root.id);
      repair.act("recreated the root directory");
    }
    Set<Long> hasParent = new HashSet<>();
    for (Link l : links) {
      hasParent.add(l.child());
    }
    long workspaces = -1;
    for (int k = 0; k < ClawFileSystem.NAMESPACE.size(); k++) {
      String top = ClawFileSystem.NAMESPACE.get(k);
      Long id = childOf(links, root.id, top);
      if (id != null && inodes.get(id).isDir()) {
        if (top.equals("workspaces")) {
          workspaces = id;
        }
        continue;
      }
      if (id != null) {
        // a non-directory in a fixed place: it goes to lost+found with the other strays
        long wrong = id;
        links.removeIf(l -> l.parent() == MetadataStore.ROOT_ID && l.child() == wrong && Arrays.equals(l.name(), bytes(top)));
        hasParent.remove(wrong);
      }
      long initial = MetadataStore.ROOT_ID + 1 + k; // the id `clawfs init` gave it
      Inode d = inodes.get(initial);
      if (d != null && d.isDir() && !hasParent.contains(initial)) {
        repair.act("linked the unnamed directory inode " + initial + " back as /" + top + " (the id init gives it)");
      } else {
        d = newDir(nextId++, top.equals("vault") ? 0700 : 0755);
        inodes.put(d.id, d);
        changed.add(d.id);
        repair.act("recreated the top-level directory /" + top + " (empty)");
      }
      links.add(link(root.id, bytes(top), d.id));
      hasParent.add(d.id);
      if (top.equals("workspaces")) {
        workspaces = d.id;
      }
    }
    // what no directory reaches goes to lost+found, under its inode number
    Set<Long> reached = reach(links, inodes);
    if (reached.size() + tree.unlinkedWhileOpen.size() < inodes.size()) {
      Long lf = childOf(links, workspaces, VaultCheck.LOST_FOUND);
      if (lf == null || !inodes.get(lf).isDir()) {
        Inode d = newDir(nextId++, 0700);
        inodes.put(d.id, d);
        changed.add(d.id);
        links.add(link(workspaces, bytes(VaultCheck.LOST_FOUND), d.id));
        lf = d.id;
        reached.add(d.id);
        repair.act("created " + VaultCheck.LOST_FOUND_PATH + " (mode 0700, root's)");
      }
      for (long id : inodes.keySet()) {
        if (reached.contains(id) || hasParent.contains(id) || tree.unlinkedWhileOpen.contains(id)) {
          continue;
        }
        linkOrphan(links, lf, id, inodes, reached, hasParent);
      }
      // anything left is inside an unreachable cycle: link its lowest inode and look again
      for (long id : inodes.keySet()) {
        if (!reached.contains(id) && !tree.unlinkedWhileOpen.contains(id)) {
          linkOrphan(links, lf, id, inodes, reached, hasParent);
        }
      }
    }
    // link counts from the entries: a directory has 2 plus its subdirectories, anything else
    // one per entry (as MetadataStore.load counts them)
    Map<Long, Integer> names = new HashMap<>();
    Map<Long, Integer> subdirs = new HashMap<>();
    for (Link l : links) {
      names.merge(l.child(), 1, Integer::sum);
      if (inodes.get(l.child()).isDir()) {
        subdirs.merge(l.parent(), 1, Integer::sum);
      }
    }
    for (Inode n : inodes.values()) {
      int want = n.isDir() ? 2 + subdirs.getOrDefault(n.id, 0) : names.getOrDefault(n.id, 0);
      if (n.nlink != want) {
        n.nlink = want;
        changed.add(n.id);
      }
    }
    writeDatabase(db, inodes, changed, snap, links);
  }

  private void linkOrphan(List<Link> links, long lf, long id, Map<Long, Inode> inodes, Set<Long> reached,
      Set<Long> hasParent) {
    links.add(link(lf, bytes("#" + id), id));
    hasParent.add(id);
    linkedOrphans.add(id);
    Inode n = inodes.get(id);
    repair.act("linked the unreachable " + (n.isDir() ? "directory" : "file") + " inode " + id + " into "
        + VaultCheck.LOST_FOUND_PATH + "/#" + id);
    reached.addAll(reach(links, inodes));
  }

  private static String describe(MetadataTree tree, MetadataSnapshot.Entry e) {
    String dir = tree.path(e.parent());
    String name = new String(e.name(), StandardCharsets.UTF_8);
    return dir == null ? "'" + name + "' of directory inode " + e.parent() : (dir.endsWith("/") ? dir : dir + "/") + name;
  }

  private static Long childOf(List<Link> links, long parent, String name) {
    byte[] b = bytes(name);
    for (Link l : links) {
      if (l.parent() == parent && Arrays.equals(l.name(), b)) {
        return l.child();
      }
    }
    return null;
  }

  private static Set<Long> reach(List<Link> links, Map<Long, Inode> inodes) {
    Map<Long, List<Long>> kids = new HashMap<>();
    for (Link l : links) {
      kids.computeIfAbsent(l.parent(), k -> new ArrayList<>()).add(l.child());
    }
    Set<Long> seen = new HashSet<>();
    java.util.ArrayDeque<Long> todo = new java.util.ArrayDeque<>();
    todo.add(MetadataStore.ROOT_ID);
    while (!todo.isEmpty()) {
      long d = todo.poll();
      if (!seen.add(d)) {
        continue;
      }
      Inode n = inodes.get(d);
      if (n != null && n.isDir()) {
        todo.addAll(kids.getOrDefault(d, List.of()));
      }
    }
    return seen;
  }

  private Link link(long parent, byte[] name, long child) {
    return new Link(parent, name, child, null, null);
  }

  private Inode newDir(long id, int perm) {
    Inode d = new Inode(id, Inode.S_IFDIR | perm);
    long t = now.toEpochMilli() * 1_000_000L;
    d.atimeNs = d.mtimeNs = d.ctimeNs = t;
    d.nlink = 2;
    return d;
  }

  private static byte[] bytes(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  /** Writes the new database beside the old one, then puts it in its place. */
  private void writeDatabase(Path db, Map<Long, Inode> inodes, Set<Long> changed, MetadataSnapshot snap,
      List<Link> links) throws IOException {
    Path fresh = vault.resolve(MetadataStore.DB_FILE + ".rebuild");
    for (String suffix : List.of("", "-wal", "-shm", "-journal")) {
      Files.deleteIfExists(vault.resolve(fresh.getFileName() + suffix));
    }
    try (Connection c = java.sql.DriverManager.getConnection("jdbc:sqlite:" + fresh)) {
      try (java.sql.Statement s = c.createStatement()) {
        s.execute("PRAGMA journal_mode=DELETE");
        s.execute("PRAGMA synchronous=FULL");
        s.execute("PRAGMA secure_delete=ON");
      }
      MetadataStore.createSchema(c);
      c.setAutoCommit(false);
      MetadataStore.putMetaRows(c, keys, keyId);
      for (Inode n : inodes.values()) {
        byte[] row = snap.inodeRows.get(n.id);
        if (changed.contains(n.id) || row == null) {
          if (n.isRegular()) {
            writeBlocks(c, n);
          }
          MetadataStore.putInodeRow(c, sealer, n.id, MetadataStore.encodeRecord(n));
        } else {
          try (PreparedStatement ps = c.prepareStatement("INSERT INTO inode (id, rec) VALUES (?, ?)")) {
            ps.setLong(1, n.id);
            ps.setBytes(2, row);
            ps.executeUpdate();
          }
          for (Map.Entry<Integer, byte[]> b : snap.vmapRows.getOrDefault(n.id, Map.of()).entrySet()) {
            if (b.getKey() < n.blockDigests.length) {
              try (PreparedStatement ps = c.prepareStatement("INSERT INTO vmap (inode, blk, data) VALUES (?, ?, ?)")) {
                ps.setLong(1, n.id);
                ps.setInt(2, b.getKey());
                ps.setBytes(3, b.getValue());
                ps.executeUpdate();
              }
            }
          }
        }
      }
      for (Link l : links) {
        if (l.sealed() != null) {
          try (PreparedStatement ps = c.prepareStatement(
              "INSERT OR REPLACE INTO dirent (parent, hname, child, sname) VALUES (?, ?, ?, ?)")) {
            ps.setLong(1, l.parent());
            ps.setBytes(2, l.hname());
            ps.setLong(3, l.child());
            ps.setBytes(4, l.sealed());
            ps.executeUpdate();
          }
        } else {
          MetadataStore.putLinkRow(c, sealer, nameHash, l.parent(), l.name(), l.child());
        }
      }
      c.commit();
      c.setAutoCommit(true);
      try (java.sql.Statement s = c.createStatement()) {
        s.execute("PRAGMA journal_mode=WAL"); // the mode the store expects, recorded in the file
      }
    } catch (SQLException e) {
      throw new IOException("cannot write the rebuilt metadata database: " + e.getMessage(), e);
    }
    try (FileChannel ch = FileChannel.open(fresh, StandardOpenOption.WRITE)) {
      ch.force(true);
    }
    Files.deleteIfExists(vault.resolve(MetadataStore.DB_FILE + "-wal"));
    Files.deleteIfExists(vault.resolve(MetadataStore.DB_FILE + "-shm"));
    Files.move(fresh, db, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    Libc.syncer(vault).sync();
  }

  /** Re-encodes every version block of n from its versions, updating the digests in its record. */
  private void writeBlocks(Connection c, Inode n) throws SQLException {
    int blocks = n.blockCount();
    long chunks = n.chunkCount();
    n.blockDigests = new byte[blocks][];
    for (int b = 0; b < blocks; b++) {
      int base = b * Inode.BLOCK_CHUNKS;
      int count = (int) Math.min(Inode.BLOCK_CHUNKS, chunks - base);
      ByteBuffer bb = ByteBuffer.allocate(count * 8);
      for (int i = 0; i < count; i++) {
        bb.putLong(n.version(base + i));
      }
      byte[] plain = bb.array();
      n.blockDigests[b] = MetadataStore.digest(plain);
      MetadataStore.putVmapRow(c, sealer, n.id, b, plain);
    }
  }

  /** The versions of n's lost version blocks, by trial ({@link VersionTrial}); what stays lost is noted. */
  private void recoverVersions(Inode n, Map<Integer, String> bad, String path) {
    VersionTrial.Outcome o = VersionTrial.recover(vault, keys, n, bad);
    String who = path == null ? "inode " + n.id : path;
    if (o.error() != null) {
      versionLoss.put(n.id, List.of("its version map was lost and " + o.error() + ": those chunks now read as zeros"));
      repair.act("could not recover the lost chunk versions of " + who + ": " + o.error());
      return;
    }
    repair.act("recovered the versions of " + o.found() + " chunk(s) of " + who + " by trial (its version map was"
        + " lost; each chunk is the newest version that authenticates)"
        + (o.lost().isEmpty() ? "" : "; " + String.join("; ", o.lost())));
    if (!o.lost().isEmpty()) {
      // the file goes to lost+found with a note; a file whose chunks were all found stays
      List<String> note = new ArrayList<>(o.lost());
      if (o.found() > 0) {
        note.add(o.found() + " other chunk(s) whose version map was lost were recovered by trial: each is the newest"
            + " version that authenticates, which may be newer than the last committed one");
      }
      versionLoss.put(n.id, note);
    }
  }
}
