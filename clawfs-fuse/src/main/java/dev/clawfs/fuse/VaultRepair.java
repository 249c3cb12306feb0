package dev.clawfs.fuse;

import dev.clawfs.crypto.AuthenticationFailedException;
import dev.clawfs.crypto.ChunkCipher;
import dev.clawfs.crypto.CryptoException;
import dev.clawfs.crypto.FileHeader;
import dev.clawfs.crypto.KeyPurpose;
import dev.clawfs.crypto.KeyedHash;
import dev.clawfs.crypto.MasterKeys;
import dev.clawfs.crypto.Sealer;
import dev.clawfs.fuse.VaultCheck.Finding;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * Repairs an unmounted vault so that it mounts and keeps everything that can be kept. Nothing is
 * deleted: what the repair replaces or sets aside is moved to {@code VAULT/repair/<time>/}.
 *
 * <ol>
 *   <li>Metadata: when the database is damaged or disagrees with itself, a new {@code metadata.db}
 *       is built from every row that can still be read and authenticates (the old database goes
 *       to the backup). Entries naming lost inodes are left out; inodes no directory reaches are
 *       linked into {@code /workspaces/lost+found} as {@code #INODE}; a lost root or top-level
 *       directory is recreated; link counts are recomputed. The chunk versions of a lost version
 *       block are searched for by trial (the newest version that authenticates in either slot),
 *       and chunks not found become holes, which the file's note lists.
 *   <li>Content files no inode names (which a mount deletes) are moved to the backup.
 *   <li>Each file with chunks that fail is moved (renamed, not rewritten) to
 *       {@code /workspaces/lost+found/INODE-NAME}, its damaged chunks still reading as EIO, with a
 *       note {@code INODE-NAME.note.txt} saying which chunks failed and why, and a copy
 *       {@code INODE-NAME.salvaged} in which the damaged chunks read as zeros.
 * </ol>
 * lost+found is made mode 0700, owned by root: a file moved out of /vault must not become readable
 * to anyone it was not readable to before.
 */
public final class VaultRepair {
  /** The folder in the vault directory that keeps what a repair set aside. */
  public static final String BACKUP_DIR = "repair";
  private static final int O_RDWR = 2;
  /** Versions tried per slot when a version block is lost. */
  private static final int TRIAL_VERSIONS = 512;
  private static final DateTimeFormatter STAMP =
      DateTimeFormatter.ofPattern("uuuuMMdd'T'HHmmss'Z'").withZone(ZoneOffset.UTC);

  /**
   * What a repair did.
   *
   * @param backup where the old database and the set-aside content files went, or null when
   *     nothing had to be set aside
   * @param actions each change, in words
   * @param moved the files moved to lost+found, by inode, with their new paths
   */
  public record Result(Path backup, List<String> actions, Map<Long, String> moved) {}

  private final Path vault;
  private final MasterKeys keys;
  private final Sealer sealer;
  private final KeyedHash nameHash;
  private final Instant now;
  private final List<String> actions = new ArrayList<>();
  private final Map<Long, String> moved = new LinkedHashMap<>();
  /** Inode -> why some of its chunks were lost with its version map (for its note). */
  private final Map<Long, List<String>> versionLoss = new HashMap<>();
  /** Orphans linked into lost+found, by inode. */
  private final Set<Long> linkedOrphans = new HashSet<>();
  private Path backup;

  private VaultRepair(Path vault, MasterKeys keys, Instant now) {
    this.vault = vault;
    this.keys = keys;
    this.sealer = Sealer.of(keys.subkey(KeyPurpose.METADATA));
    this.nameHash = KeyedHash.of(keys.subkey(KeyPurpose.NAME_HASH));
    this.now = now;
  }

  /**
   * Repairs the unmounted vault at {@code vault}. The caller makes sure no server has it mounted.
   *
   * @throws IOException when the repair cannot proceed (nothing has been changed unless the
   *     actions say so)
   */
  public static Result run(Path vault, MasterKeys keys) throws IOException {
    VaultRepair r = new VaultRepair(vault, keys, Instant.now());
    r.repair();
    return new Result(r.backup, List.copyOf(r.actions), Map.copyOf(r.moved));
  }

  private void repair() throws IOException {
    try (MetadataSnapshot snap = MetadataSnapshot.read(vault, keys)) {
      if (snap.checkRecord == MetadataSnapshot.CheckRecord.FOREIGN) {
        throw new IOException(MetadataStore.DB_FILE + " belongs to another vault (or these are not its keys);"
            + " nothing was changed");
      }
      MetadataTree tree = new MetadataTree(snap);
      if (needsRebuild(snap, tree)) {
        rebuild(snap, tree);
      }
    }
    Set<String> live = new HashSet<>();
    Map<Long, List<Finding>> damaged;
    MetadataTree tree;
    try (MetadataSnapshot snap = MetadataSnapshot.read(vault, keys)) {
      tree = new MetadataTree(snap);
      if (snap.openError != null || !snap.integrity.isEmpty() || !snap.badInodes.isEmpty() || !snap.badBlocks.isEmpty()
          || !tree.orphans.isEmpty()) {
        throw new IOException("the rebuilt metadata is still not sound; the old database is in " + backup);
      }
      for (Inode n : snap.inodes.values()) {
        if (n.fileId != null) {
          live.add(ContentStore.hex(n.fileId));
        }
      }
      damaged = VaultCheck.damagedFiles(vault, keys, snap);
    }
    setAsideUnreferencedContent(live);
    if (!damaged.isEmpty() || !versionLoss.isEmpty() || !linkedOrphans.isEmpty()) {
      quarantine(tree, damaged);
    }
  }

  // ================================================================== metadata

  private static boolean needsRebuild(MetadataSnapshot snap, MetadataTree tree) {
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

  private void rebuild(MetadataSnapshot snap, MetadataTree tree) throws IOException {
    Path db = vault.resolve(MetadataStore.DB_FILE);
    Path dir = backupDir();
    for (String suffix : List.of("", "-wal", "-shm")) {
      Path f = vault.resolve(MetadataStore.DB_FILE + suffix);
      if (Files.exists(f)) {
        Files.copy(f, dir.resolve(MetadataStore.DB_FILE + suffix), StandardCopyOption.REPLACE_EXISTING);
      }
    }
    actions.add("kept the old metadata database in " + vault.relativize(dir) + "/");
    if (snap.openError != null) {
      actions.add("the metadata database could not be read (" + snap.openError + "): built an empty one");
    } else if (!snap.integrity.isEmpty() || !snap.scansClean()) {
      actions.add("rebuilt " + MetadataStore.DB_FILE + " from the rows SQLite could still read ("
          + snap.inodes.size() + " inodes, " + snap.entries.size() + " directory entries)");
    } else {
      actions.add("rebuilt " + MetadataStore.DB_FILE + " from its authenticated rows");
    }
    Map<Long, Inode> inodes = new TreeMap<>(snap.inodes);
    Set<Long> changed = new HashSet<>();
    for (Map.Entry<Long, String> e : snap.badInodes.entrySet()) {
      String p = tree.path(e.getKey());
      actions.add("lost inode " + e.getKey() + (p == null ? "" : " (" + p + ")") + ": " + e.getValue()
          + "; its entries are dropped and its content file (if any) kept in the backup");
    }
    for (Map.Entry<Long, Map<Integer, String>> e : snap.badBlocks.entrySet()) {
      Inode n = inodes.get(e.getKey());
      recoverVersions(n, e.getValue(), tree.path(n.id));
      changed.add(n.id);
    }
    long nextId = 1;
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
          actions.add("dropped the entry " + describe(tree, e) + ": it named inode " + e.child() + ", which does not exist");
        }
        continue;
      }
      if (c.isDir() && !dirNamed.add(c.id)) {
        actions.add("dropped the entry " + describe(tree, e) + ": a second name of directory inode " + c.id);
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
      actions.add("recreated the root directory");
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
        actions.add("linked the unnamed directory inode " + initial + " back as /" + top + " (the id init gives it)");
      } else {
        d = newDir(nextId++, top.equals("vault") ? 0700 : 0755);
        inodes.put(d.id, d);
        changed.add(d.id);
        actions.add("recreated the top-level directory /" + top + " (empty)");
      }
      links.add(link(root.id, bytes(top), d.id));
      hasParent.add(d.id);
      if (top.equals("workspaces")) {
        workspaces = d.id;
      }
    }
    // what no directory reaches goes to lost+found, under its inode number
    Set<Long> reached = reach(links, inodes);
    if (reached.size() < inodes.size()) {
      Long lf = childOf(links, workspaces, VaultCheck.LOST_FOUND);
      if (lf == null || !inodes.get(lf).isDir()) {
        Inode d = newDir(nextId++, 0700);
        inodes.put(d.id, d);
        changed.add(d.id);
        links.add(link(workspaces, bytes(VaultCheck.LOST_FOUND), d.id));
        lf = d.id;
        reached.add(d.id);
        actions.add("created " + VaultCheck.LOST_FOUND_PATH + " (mode 0700, root's)");
      }
      for (long id : inodes.keySet()) {
        if (reached.contains(id) || hasParent.contains(id)) {
          continue;
        }
        linkOrphan(links, lf, id, inodes, reached, hasParent);
      }
      // anything left is inside an unreachable cycle: link its lowest inode and look again
      for (long id : inodes.keySet()) {
        if (!reached.contains(id)) {
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
    actions.add("linked the unreachable " + (n.isDir() ? "directory" : "file") + " inode " + id + " into "
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
      MetadataStore.putMetaRows(c, sealer, keys);
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

  /**
   * The versions of the chunks in n's lost version blocks: for each chunk, the newest version that
   * authenticates in either of its slots (trying the {@value #TRIAL_VERSIONS} versions below the
   * file's counter per slot); a chunk with none becomes a hole.
   */
  private void recoverVersions(Inode n, Map<Integer, String> bad, String path) {
    if (n.versions.length < n.chunkCount()) {
      n.versions = Arrays.copyOf(n.versions, (int) n.chunkCount());
    }
    ChunkCipher cipher = null;
    FileChannel ch = null;
    try {
      if (n.fileId != null) {
        Path p = ContentStore.pathOf(vault, n.fileId);
        if (Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS)) {
          ch = FileChannel.open(p, StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS);
          byte[] h = new byte[FileHeader.SIZE];
          if (read(ch, h, 0) == h.length) {
            FileHeader header = FileHeader.decode(h, keys);
            if (Arrays.equals(header.fileId(), n.fileId)) {
              cipher = header.chunkCipher();
            }
          }
        }
      }
      List<String> lost = new ArrayList<>();
      int found = 0;
      byte[] sealed = new byte[ChunkCipher.SLOT_SIZE];
      byte[] plain = new byte[ChunkCipher.CHUNK_SIZE];
      for (int blk : bad.keySet()) {
        long first = (long) blk * Inode.BLOCK_CHUNKS;
        long end = Math.min(n.chunkCount(), first + Inode.BLOCK_CHUNKS);
        List<Long> missing = new ArrayList<>();
        for (long i = first; i < end; i++) {
          long v = cipher == null ? 0 : newestVersion(ch, cipher, n, i, sealed, plain);
          n.versions[(int) i] = v;
          if (v == 0) {
            missing.add(i);
          } else {
            found++;
          }
        }
        if (!missing.isEmpty()) {
          lost.add("version block " + blk + " " + bad.get(blk) + ": " + missing.size() + " chunk(s) could not be"
              + " recovered and now read as zeros: " + ranges(missing));
        }
      }
      String who = (path == null ? "inode " + n.id : path);
      actions.add("recovered the versions of " + found + " chunk(s) of " + who + " by trial (its version map was lost;"
          + " each chunk is the newest version that authenticates)" + (lost.isEmpty() ? "" : "; " + String.join("; ", lost)));
      if (!lost.isEmpty()) {
        // the file goes to lost+found with a note; a file whose chunks were all found stays
        List<String> note = new ArrayList<>(lost);
        if (found > 0) {
          note.add(found + " other chunk(s) whose version map was lost were recovered by trial: each is the newest"
              + " version that authenticates, which may be newer than the last committed one");
        }
        versionLoss.put(n.id, note);
      }
    } catch (IOException | CryptoException e) {
      for (int blk : bad.keySet()) {
        long first = (long) blk * Inode.BLOCK_CHUNKS;
        for (long i = first; i < Math.min(n.chunkCount(), first + Inode.BLOCK_CHUNKS); i++) {
          n.versions[(int) i] = 0;
        }
      }
      versionLoss.put(n.id, List.of("its version map was lost and its content file cannot be read ("
          + e.getMessage() + "): those chunks now read as zeros"));
      actions.add("could not recover the lost chunk versions of inode " + n.id + ": " + e.getMessage());
    } finally {
      if (ch != null) {
        try {
          ch.close();
        } catch (IOException ignored) {
          // read-only
        }
      }
    }
  }

  private static long newestVersion(FileChannel ch, ChunkCipher cipher, Inode n, long i, byte[] sealed, byte[] plain)
      throws IOException {
    int slen = Inode.chunkLength(i, n.size) + ChunkCipher.OVERHEAD;
    long best = 0;
    for (int parity = 0; parity < 2; parity++) {
      long off = ContentFile.slotOffset(i, parity);
      ByteBuffer bb = ByteBuffer.wrap(sealed, 0, slen);
      int got = 0;
      while (bb.hasRemaining()) {
        int r = ch.read(bb, off + got);
        if (r < 0) {
          break;
        }
        got += r;
      }
      if (got != slen) {
        continue;
      }
      long top = n.versionCounter - ((n.versionCounter & 1) == parity ? 0 : 1);
      for (long v = top, tries = 0; v > best && v >= 1 && tries < TRIAL_VERSIONS; v -= 2, tries++) {
        try {
          cipher.open(i, v, sealed, 0, slen, plain, 0);
          best = v;
          break;
        } catch (AuthenticationFailedException e) {
          // not this version
        }
      }
    }
    return best;
  }

  private static String ranges(List<Long> xs) {
    StringBuilder b = new StringBuilder();
    int i = 0;
    while (i < xs.size()) {
      int j = i;
      while (j + 1 < xs.size() && xs.get(j + 1) == xs.get(j) + 1) {
        j++;
      }
      if (b.length() > 0) {
        b.append(", ");
      }
      b.append(xs.get(i));
      if (j > i) {
        b.append("..").append(xs.get(j));
      }
      i = j + 1;
    }
    return b.toString();
  }

  private static int read(FileChannel ch, byte[] dst, long pos) throws IOException {
    ByteBuffer bb = ByteBuffer.wrap(dst);
    int total = 0;
    while (bb.hasRemaining()) {
      int r = ch.read(bb, pos + total);
      if (r < 0) {
        break;
      }
      total += r;
    }
    return total;
  }

  private Path backupDir() throws IOException {
    if (backup == null) {
      Path base = vault.resolve(BACKUP_DIR);
      Files.createDirectories(base);
      Path d = base.resolve(STAMP.format(now));
      for (int k = 2; Files.exists(d); k++) {
        d = base.resolve(STAMP.format(now) + "-" + k);
      }
      Files.createDirectory(d);
      Files.setPosixFilePermissions(base, PosixFilePermissions.fromString("rwx------"));
      Files.setPosixFilePermissions(d, PosixFilePermissions.fromString("rwx------"));
      backup = d;
    }
    return backup;
  }

  // ================================================================== content files

  private void setAsideUnreferencedContent(Set<String> live) throws IOException {
    int n = 0;
    for (Path f : VaultCheck.contentFiles(vault)) {
      if (live.contains(f.getFileName().toString())) {
        continue;
      }
      Path dest = backupDir().resolve(ContentStore.DIR).resolve(f.getParent().getFileName().toString())
          .resolve(f.getFileName().toString());
      Files.createDirectories(dest.getParent());
      Files.move(f, dest, StandardCopyOption.REPLACE_EXISTING);
      n++;
    }
    if (n > 0) {
      actions.add("moved " + n + " content file(s) no inode names to " + vault.relativize(backup) + "/"
          + ContentStore.DIR + "/ (a mount would delete them)");
    }
  }

  // ================================================================== lost+found

  private void quarantine(MetadataTree tree, Map<Long, List<Finding>> damaged) throws IOException {
    ClawFileSystem fs = ClawFileSystem.open(vault, keys, 50);
    try {
      byte[] lf = bytes(VaultCheck.LOST_FOUND_PATH);
      try {
        fs.getattr(lf);
      } catch (FsException e) {
        fs.mkdir(lf, 0700, Caller.ROOT);
        actions.add("created " + VaultCheck.LOST_FOUND_PATH + " (mode 0700, root's)");
      }
      Set<Long> todo = new java.util.TreeSet<>(damaged.keySet());
      todo.addAll(versionLoss.keySet());
      for (long ino : todo) {
        if (linkedOrphans.contains(ino)) {
          continue; // already in lost+found; its note is written below
        }
        byte[] path = tree.paths.get(ino);
        if (path == null) {
          continue;
        }
        if (tree.quarantined.contains(ino)) {
          continue; // moved by an earlier repair, with its note
        }
        moveDamaged(fs, ino, path, damaged.getOrDefault(ino, List.of()));
      }
      for (long ino : linkedOrphans) {
        byte[] path = MetadataTree.join(lf, bytes("#" + ino));
        writeNote(fs, MetadataTree.join(lf, bytes("#" + ino + ".note.txt")), orphanNote(ino, path, fs,
            damaged.getOrDefault(ino, List.of())));
      }
    } finally {
      fs.close();
    }
  }

  private void moveDamaged(ClawFileSystem fs, long ino, byte[] path, List<Finding> findings) {
    Attr a = fs.getattr(path);
    byte[] base = lastName(path);
    String prefix = ino + "-";
    int room = Name.MAX_BYTES - prefix.length() - ".note.txt".length() - 4;
    if (base.length > room) {
      base = Arrays.copyOf(base, room);
    }
    byte[] lf = bytes(VaultCheck.LOST_FOUND_PATH);
    byte[] name = concat(bytes(prefix), base);
    for (int k = 2; exists(fs, MetadataTree.join(lf, name)); k++) {
      name = concat(bytes(prefix), concat(base, bytes("-" + k)));
    }
    byte[] dest = MetadataTree.join(lf, name);
    fs.rename(path, dest);
    String was = new String(path, StandardCharsets.UTF_8);
    String now = new String(dest, StandardCharsets.UTF_8);
    moved.put(ino, now);
    actions.add("moved " + was + " to " + now);
    List<String> lines = new ArrayList<>();
    lines.add("clawfs check --repair, " + DateTimeFormatter.ISO_INSTANT.format(this.now));
    lines.add("");
    lines.add("File: " + was + " (inode " + ino + "), " + a.size() + " bytes, mode "
        + String.format("%04o", a.mode() & 07777) + ", owner " + a.uid() + ":" + a.gid());
    lines.add("Moved here as " + new String(name, StandardCharsets.UTF_8) + " by the repair: the file itself was not"
        + " changed; its damaged chunks still fail to read (EIO).");
    lines.addAll(damageLines(ino, findings));
    Salvage s = salvage(fs, dest, a);
    if (s.readable() > 0 && s.failed() > 0) {
      byte[] copy = concat(dest, bytes(".salvaged"));
      lines.add("");
      lines.add("A copy with every unreadable chunk replaced by zeros: " + new String(lastName(copy),
          StandardCharsets.UTF_8) + " (" + s.readable() + " of " + (s.readable() + s.failed())
          + " chunks readable).");
      writeCopy(fs, copy, a, s);
      actions.add("wrote " + new String(copy, StandardCharsets.UTF_8) + " (damaged chunks as zeros)");
    } else if (s.failed() > 0) {
      lines.add("");
      lines.add("No chunk of it could be read, so there is no salvaged copy.");
    }
    lines.add("");
    lines.add("Chunks are " + ChunkCipher.CHUNK_SIZE + " bytes: chunk N holds bytes N*" + ChunkCipher.CHUNK_SIZE
        + " to (N+1)*" + ChunkCipher.CHUNK_SIZE + "-1. The database before the repair, if it was replaced, is in"
        + " VAULT/" + BACKUP_DIR + "/.");
    byte[] note = concat(dest, bytes(".note.txt"));
    writeNote(fs, note, String.join("\n", lines) + "\n");
    actions.add("wrote " + new String(note, StandardCharsets.UTF_8));
  }

  private List<String> damageLines(long ino, List<Finding> findings) {
    List<String> lines = new ArrayList<>();
    if (!findings.isEmpty() || versionLoss.containsKey(ino)) {
      lines.add("");
      lines.add("What is wrong:");
    }
    for (Finding f : findings) {
      String where = f.chunk() == null ? "" : "chunk " + f.chunk() + " (bytes " + f.chunk() * ChunkCipher.CHUNK_SIZE
          + ".." + ((f.chunk() + 1) * ChunkCipher.CHUNK_SIZE - 1) + "): ";
      lines.add("  " + where + f.kind().code() + ": " + f.detail());
    }
    for (String s : versionLoss.getOrDefault(ino, List.of())) {
      lines.add("  version-map: " + s);
    }
    return lines;
  }

  private String orphanNote(long ino, byte[] path, ClawFileSystem fs, List<Finding> findings) {
    List<String> lines = new ArrayList<>();
    lines.add("clawfs check --repair, " + DateTimeFormatter.ISO_INSTANT.format(now));
    lines.add("");
    String what;
    try {
      Attr a = fs.getattr(path);
      what = ((a.mode() & Inode.S_IFMT) == Inode.S_IFDIR ? "directory" : "file") + ", " + a.size() + " bytes, mode "
          + String.format("%04o", a.mode() & 07777) + ", owner " + a.uid() + ":" + a.gid();
    } catch (FsException e) {
      what = "gone";
    }
    lines.add("#" + ino + " (inode " + ino + ", " + what + ") was reachable from no directory: the entry that named it"
        + " was lost. Its name is unknown; its content is as it was. A mount would have deleted it.");
    lines.addAll(damageLines(ino, findings));
    return String.join("\n", lines) + "\n";
  }

  /** Which chunks of a file read, and which fail. */
  private record Salvage(int readable, int failed, List<Long> bad) {}

  private static Salvage salvage(ClawFileSystem fs, byte[] path, Attr a) {
    long fh = fs.open(path, 0);
    int ok = 0;
    List<Long> bad = new ArrayList<>();
    try {
      byte[] buf = new byte[ChunkCipher.CHUNK_SIZE];
      for (long off = 0, i = 0; off < a.size(); off += ChunkCipher.CHUNK_SIZE, i++) {
        try {
          fs.read(fh, off, buf, buf.length);
          ok++;
        } catch (FsException e) {
          bad.add(i);
        }
      }
    } finally {
      fs.release(fh);
    }
    return new Salvage(ok, bad.size(), bad);
  }

  private static void writeCopy(ClawFileSystem fs, byte[] copy, Attr a, Salvage s) {
    long src = fs.open(lastNameParent(copy, ".salvaged"), 0);
    long dst = fs.create(copy, 0600, O_RDWR, Caller.ROOT);
    try {
      byte[] buf = new byte[ChunkCipher.CHUNK_SIZE];
      Set<Long> bad = new HashSet<>(s.bad());
      for (long off = 0, i = 0; off < a.size(); off += ChunkCipher.CHUNK_SIZE, i++) {
        if (bad.contains(i)) {
          continue; // a hole: zeros
        }
        int n = fs.read(src, off, buf, buf.length);
        int done = 0;
        while (done < n) {
          byte[] part = done == 0 ? buf : Arrays.copyOfRange(buf, done, n);
          done += fs.write(dst, off + done, part, n - done);
        }
      }
      fs.ftruncate(dst, a.size());
    } finally {
      fs.release(src);
      fs.release(dst);
    }
    fs.chown(copy, a.uid(), a.gid());
    fs.chmod(copy, a.mode() & 0777);
  }

  /** The path {@code copy} without {@code suffix}. */
  private static byte[] lastNameParent(byte[] copy, String suffix) {
    return Arrays.copyOf(copy, copy.length - suffix.length());
  }

  private static void writeNote(ClawFileSystem fs, byte[] path, String text) {
    byte[] data = text.getBytes(StandardCharsets.UTF_8);
    long fh = fs.create(path, 0600, O_RDWR, Caller.ROOT);
    try {
      fs.ftruncate(fh, 0);
      int done = 0;
      while (done < data.length) {
        byte[] part = done == 0 ? data : Arrays.copyOfRange(data, done, data.length);
        done += fs.write(fh, done, part, data.length - done);
      }
    } finally {
      fs.release(fh);
    }
  }

  private static boolean exists(ClawFileSystem fs, byte[] path) {
    try {
      fs.getattr(path);
      return true;
    } catch (FsException e) {
      return false;
    }
  }

  private static byte[] lastName(byte[] path) {
    int slash = -1;
    for (int i = 0; i < path.length; i++) {
      if (path[i] == '/') {
        slash = i;
      }
    }
    return Arrays.copyOfRange(path, slash + 1, path.length);
  }

  private static byte[] concat(byte[] a, byte[] b) {
    byte[] out = Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }
}
