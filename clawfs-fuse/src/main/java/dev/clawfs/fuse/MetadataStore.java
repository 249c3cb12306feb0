package dev.clawfs.fuse;

import dev.clawfs.crypto.CryptoException;
import dev.clawfs.crypto.KeyPurpose;
import dev.clawfs.crypto.KeyedHash;
import dev.clawfs.crypto.MasterKeys;
import dev.clawfs.crypto.Sealer;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.lang.System.Logger.Level;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Persists the in-memory inode tree in SQLite (WAL), every value sealed: inode records with
 * AAD "inode"||id, chunk-version blocks with AAD "vmap"||id||block (their digests live in the
 * sealed inode record, so a block rolled back on its own is detected), directory entries keyed by
 * a keyed hash of (parent, name) with the name sealed under AAD parent||hash||child.
 *
 * <p>Write order (crash safety): operations are queued and committed in batches by one writer
 * thread. For each batch the writer (1) snapshots the queued inodes, (2) makes all content
 * written so far durable (syncfs on the vault's file system), (3) commits the batch in one SQLite
 * transaction with synchronous=FULL. A chunk is thus always on disk before any metadata that
 * names its version, and chunk writes never overwrite the slot of a committed version (see
 * {@link ContentFile}), so a crash at any point leaves the last committed state readable.
 */
final class MetadataStore implements AutoCloseable {
  static final String DB_FILE = "metadata.db";
  static final long ROOT_ID = 1;
  private static final System.Logger LOG = System.getLogger("clawfs.metadata");
  private static final int RECORD_FORMAT = 1;

  private final Path vaultDir;
  private final Connection conn;
  private final MasterKeys keys;
  /** The master key the database is sealed under; changed (with the two below) only by a reseal. */
  private volatile int keyId;
  private volatile Sealer sealer;
  private volatile KeyedHash nameHash;
  private final Libc.Syncer syncer;
  private final long commitIntervalNs;

  // ---- queue state (this) ----
  private final ArrayDeque<Op> queue = new ArrayDeque<>();
  private long enqueuedSeq;
  private long durableSeq;
  private long takenSeq;
  private long firstPendingNs;
  private boolean flushRequested;
  private boolean closing;
  private FsException lastError;
  private long failedUpToSeq;
  private final Thread writer;
  private volatile boolean contentWritten;
  private volatile ContentStore contentStore;
  final CommitMetrics commitMetrics = new CommitMetrics();

  /** Queued change; inode snapshots are taken when the batch is committed. */
  sealed interface Op {}

  record Put(Inode inode) implements Op {}

  record Delete(long id, byte[] fileId) implements Op {}

  record Link(long parent, Name name, long child) implements Op {}

  record Unlink(long parent, Name name) implements Op {}

  /** Re-seals every row under master key {@code keyId} and re-hashes every name, first in its batch. */
  record Reseal(int keyId) implements Op {}

  /** Removes a content file no inode names any more once the batch has committed (re-encryption). */
  record DropContent(long inode, byte[] fileId) implements Op {}

  private MetadataStore(Path vaultDir, Connection conn, MasterKeys keys, int keyId, long commitIntervalMs) {
    this.vaultDir = vaultDir;
    this.conn = conn;
    this.keys = keys;
    this.keyId = keyId;
    this.sealer = Sealer.of(keys.subkey(keyId, KeyPurpose.METADATA));
    this.nameHash = KeyedHash.of(keys.subkey(keyId, KeyPurpose.NAME_HASH));
    this.syncer = Libc.syncer(vaultDir);
    this.commitIntervalNs = commitIntervalMs * 1_000_000L;
    this.writer = new Thread(this::writerLoop, "clawfs-metadata-writer");
    this.writer.setDaemon(true);
  }

  static Connection connect(Path vaultDir) throws SQLException {
    Connection c = DriverManager.getConnection("jdbc:sqlite:" + vaultDir.resolve(DB_FILE));
    try (Statement s = c.createStatement()) {
      s.execute("PRAGMA journal_mode=WAL");
      s.execute("PRAGMA synchronous=FULL");
      s.execute("PRAGMA busy_timeout=5000");
      s.execute("PRAGMA secure_delete=ON");
    }
    return c;
  }

  /** Creates the schema in a new vault. */
  static void initialize(Path vaultDir, MasterKeys keys, Inode root, List<Inode> dirs)
      throws SQLException, IOException {
    if (Files.exists(vaultDir.resolve(DB_FILE))) {
      throw new FsException(Errno.EEXIST, "metadata database already exists");
    }
    try (Connection c = connect(vaultDir)) {
      createSchema(c);
      MetadataStore m = new MetadataStore(vaultDir, c, keys, keys.primaryKeyId(), 0);
      c.setAutoCommit(false);
      putMetaRows(c, keys, keys.primaryKeyId());
      m.writeInode(root);
      for (Inode d : dirs) {
        m.writeInode(d);
        m.writeLink(ROOT_ID, nameOf(root, d), d.id);
      }
      c.commit();
    }
  }

  private static Name nameOf(Inode parent, Inode child) {
    for (Map.Entry<Name, Inode> e : parent.children.entrySet()) {
      if (e.getValue() == child) {
        return e.getKey();
      }
    }
    throw new IllegalStateException("child not in parent");
  }

  /** The tables of a new (or rebuilt) metadata database. */
  static void createSchema(Connection c) throws SQLException {
    try (Statement s = c.createStatement()) {
      s.execute("CREATE TABLE meta (k TEXT PRIMARY KEY, v BLOB NOT NULL)");
      s.execute("CREATE TABLE inode (id INTEGER PRIMARY KEY, rec BLOB NOT NULL)");
      s.execute(
          "CREATE TABLE dirent (parent INTEGER NOT NULL, hname BLOB NOT NULL,"
              + " child INTEGER NOT NULL, sname BLOB NOT NULL, PRIMARY KEY (parent, hname))"
              + " WITHOUT ROWID");
      s.execute(
          "CREATE TABLE vmap (inode INTEGER NOT NULL, blk INTEGER NOT NULL, data BLOB NOT NULL,"
              + " PRIMARY KEY (inode, blk)) WITHOUT ROWID");
    }
  }

  /**
   * The format row, the key id row (which master key seals the database, u32) and the sealed
   * vault check record, whose AAD binds that key id.
   */
  static void putMetaRows(Connection c, MasterKeys keys, int keyId) throws SQLException {
    Sealer sealer = Sealer.of(keys.subkey(keyId, KeyPurpose.METADATA));
    try (PreparedStatement ps = c.prepareStatement("INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)")) {
      ps.setString(1, "format");
      ps.setBytes(2, new byte[] {1});
      ps.executeUpdate();
      ps.setString(1, KEY_ROW);
      ps.setBytes(2, ByteBuffer.allocate(4).putInt(keyId).array());
      ps.executeUpdate();
      ps.setString(1, "check");
      ps.setBytes(2, sealer.seal(keys.vaultId(), checkAad(new StoreKey(keyId, false))));
      ps.executeUpdate();
    }
  }

  /** AAD of the check record of a database written before key rotation existed (no key id row). */
  static final byte[] CHECK_AAD = "check".getBytes(StandardCharsets.US_ASCII);
  /** The meta row naming the master key the database is sealed under. */
  static final String KEY_ROW = "keyid";

  /**
   * Which master key seals a metadata database: {@code legacy} when it has no key id row (written
   * before rotation existed; then it is the key whose check record opens).
   */
  record StoreKey(int keyId, boolean legacy) {}

  static byte[] checkAad(StoreKey k) {
    return k.legacy() ? CHECK_AAD
        : ByteBuffer.allocate(CHECK_AAD.length + 4).put(CHECK_AAD).putInt(k.keyId()).array();
  }

  /**
   * The key of the database behind {@code c}: its key id row; without one, the key (primary
   * first) under which the check record opens, else the primary (the check then fails as usual).
   */
  static StoreKey storeKey(Connection c, MasterKeys keys) throws SQLException {
    byte[] row = metaValue(c, KEY_ROW);
    if (row != null) {
      if (row.length != 4) {
        throw new FsException(Errno.EIO, "metadata database has a malformed key id row");
      }
      return new StoreKey(ByteBuffer.wrap(row).getInt(), false);
    }
    byte[] check = metaValue(c, "check");
    if (check != null) {
      List<Integer> order = new ArrayList<>();
      order.add(keys.primaryKeyId());
      for (int id : keys.keyIds()) {
        if (id != keys.primaryKeyId()) {
          order.add(id);
        }
      }
      for (int id : order) {
        try {
          Sealer.of(keys.subkey(id, KeyPurpose.METADATA)).open(check, CHECK_AAD, "vault check record");
          return new StoreKey(id, true);
        } catch (CryptoException e) {
          // not this key
        }
      }
    }
    return new StoreKey(keys.primaryKeyId(), true);
  }

  private static byte[] metaValue(Connection c, String k) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement("SELECT v FROM meta WHERE k = ?")) {
      ps.setString(1, k);
      try (ResultSet rs = ps.executeQuery()) {
        return rs.next() ? rs.getBytes(1) : null;
      }
    }
  }

  /** Id of the master key the database is sealed under now. */
  int keyId() {
    return keyId;
  }

  /** Opens the metadata of an existing vault and loads the whole tree into memory. */
  static MetadataStore open(Path vaultDir, MasterKeys keys, long commitIntervalMs)
      throws SQLException {
    if (!Files.exists(vaultDir.resolve(DB_FILE))) {
      throw new FsException(Errno.EIO, "vault has no metadata database (" + DB_FILE + ")");
    }
    Connection c = connect(vaultDir);
    StoreKey key = storeKey(c, keys);
    if (!keys.keyIds().contains(key.keyId())) {
      c.close();
      throw new FsException(Errno.EIO, "metadata database is sealed under key id " + Integer.toUnsignedString(key.keyId())
          + ", which is not in this vault's keyset (an old copy of the header?)");
    }
    MetadataStore m = new MetadataStore(vaultDir, c, keys, key.keyId(), commitIntervalMs);
    try (Statement s = c.createStatement();
        ResultSet rs = s.executeQuery("SELECT v FROM meta WHERE k = 'check'")) {
      if (!rs.next()) {
        throw new FsException(Errno.EIO, "metadata database has no vault check record");
      }
      byte[] id = m.sealer.open(rs.getBytes(1), checkAad(key), "vault check record");
      if (!Arrays.equals(id, keys.vaultId())) {
        throw new FsException(Errno.EIO, "metadata database belongs to another vault");
      }
    } catch (CryptoException e) {
      c.close();
      throw new FsException(Errno.EIO, "metadata database does not belong to this vault: " + e.getMessage(), e);
    }
    c.setAutoCommit(false);
    return m;
  }

  void start(ContentStore content) {
    this.contentStore = content;
    writer.start();
  }

  // ------------------------------------------------------------------ loading

  /** The persisted tree: every inode by id, directories wired to their children. */
  Map<Long, Inode> load() throws SQLException, IOException {
    Map<Long, Inode> inodes = new HashMap<>();
    try (Statement s = conn.createStatement();
        ResultSet rs = s.executeQuery("SELECT id, rec FROM inode")) {
      while (rs.next()) {
        long id = rs.getLong(1);
        inodes.put(id, readInode(id, rs.getBytes(2)));
      }
    }
    try (Statement s = conn.createStatement();
        ResultSet rs = s.executeQuery("SELECT inode, blk, data FROM vmap ORDER BY inode, blk")) {
      while (rs.next()) {
        long id = rs.getLong(1);
        int blk = rs.getInt(2);
        Inode inode = inodes.get(id);
        if (inode == null || blk >= inode.blockDigests.length) {
          continue; // stale block of a deleted inode or truncated file: cleaned at next write
        }
        byte[] plain = sealer.open(rs.getBytes(3), vmapAad(id, blk), "version block " + blk + " of inode " + id);
        if (!Arrays.equals(digest(plain), inode.blockDigests[blk])) {
          throw new FsException(Errno.EIO, "version block " + blk + " of inode " + id + " was rolled back or replaced");
        }
        ByteBuffer bb = ByteBuffer.wrap(plain);
        int base = blk * Inode.BLOCK_CHUNKS;
        int n = plain.length / 8;
        if (inode.versions.length < base + n) {
          inode.versions = Arrays.copyOf(inode.versions, base + n);
        }
        for (int i = 0; i < n; i++) {
          inode.versions[base + i] = bb.getLong();
        }
        inode.dirtyBlocks.clear(blk);
      }
    }
    for (Inode inode : inodes.values()) {
      if (!inode.dirtyBlocks.isEmpty()) {
        throw new FsException(Errno.EIO, "version blocks of inode " + inode.id + " are missing");
      }
      inode.committed = inode.versions.clone();
      if (inode.isDir()) {
        inode.children = new HashMap<>();
      }
    }
    Inode root = inodes.get(ROOT_ID);
    if (root == null) {
      throw new FsException(Errno.EIO, "metadata has no root directory");
    }
    root.parent = root;
    try (Statement s = conn.createStatement();
        ResultSet rs = s.executeQuery("SELECT parent, hname, child, sname FROM dirent")) {
      while (rs.next()) {
        long parent = rs.getLong(1);
        byte[] hname = rs.getBytes(2);
        long child = rs.getLong(3);
        byte[] name = sealer.open(rs.getBytes(4), direntAad(parent, hname, child), "a directory entry of inode " + parent);
        if (!Arrays.equals(nameHash.hash16(idBytes(parent), name), hname)) {
          throw new FsException(Errno.EIO, "a directory entry of inode " + parent + " was moved");
        }
        Inode p = inodes.get(parent);
        Inode c = inodes.get(child);
        if (p == null || !p.isDir() || c == null) {
          LOG.log(Level.WARNING, "dropping dangling directory entry in inode {0}", parent);
          deleteLinkRow(parent, hname);
          continue;
        }
        Name n = Name.of(name);
        p.children.put(n, c);
        if (c.isDir() || (c.parent == null && !n.isFuseHidden())) {
          c.parent = p;
          c.name = n;
        }
      }
    }
    sweepUnreachable(inodes, root);
    conn.commit();
    return inodes;
  }

  /** Drops inodes no directory reaches (unlinked while open before a crash) and fixes link counts. */
  private void sweepUnreachable(Map<Long, Inode> inodes, Inode root) throws SQLException, IOException {
    Map<Long, Integer> links = new HashMap<>();
    ArrayDeque<Inode> todo = new ArrayDeque<>();
    todo.add(root);
    links.put(root.id, 1);
    while (!todo.isEmpty()) {
      Inode d = todo.poll();
      for (Inode c : d.children.values()) {
        Integer prev = links.put(c.id, links.getOrDefault(c.id, 0) + 1);
        if (prev == null && c.isDir()) {
          todo.add(c);
        }
      }
    }
    List<Long> dead = new ArrayList<>();
    for (Inode inode : inodes.values()) {
      if (!links.containsKey(inode.id)) {
        dead.add(inode.id);
        continue;
      }
      int n;
      if (inode.isDir()) {
        n = 2;
        for (Inode c : inode.children.values()) {
          if (c.isDir()) {
            n++;
          }
        }
      } else {
        n = links.get(inode.id);
      }
      if (inode.nlink != n) {
        inode.nlink = n;
        writeInode(inode);
      }
    }
    for (long id : dead) {
      Inode inode = inodes.remove(id);
      deleteInodeRows(id);
      if (inode.fileId != null) {
        Files.deleteIfExists(ContentStore.pathOf(vaultDir, inode.fileId));
      }
    }
    if (!dead.isEmpty()) {
      LOG.log(Level.INFO, "removed {0} unreachable inodes left by an earlier crash", dead.size());
    }
  }

  // ------------------------------------------------------------------ queue

  /** Queues a snapshot of the inode unless one is already queued. Caller holds the inode's write lock. */
  long put(Inode inode) {
    if (inode.queued) {
      synchronized (this) {
        return enqueuedSeq;
      }
    }
    inode.queued = true;
    return enqueue(List.of(new Put(inode)));
  }

  /** Queues a group of changes that must land in the same transaction. */
  synchronized long enqueue(List<Op> ops) {
    if (enqueuedSeq == takenSeq) {
      firstPendingNs = System.nanoTime();
    }
    long seq = ++enqueuedSeq;
    queue.addAll(ops);
    notifyAll();
    return seq;
  }

  void contentWritten() {
    contentWritten = true;
  }

  synchronized long enqueuedSeq() {
    return enqueuedSeq;
  }

  /** Commits everything queued so far and waits until it is durable. */
  void flush() {
    long target;
    synchronized (this) {
      target = enqueuedSeq;
      if (durableSeq >= target) {
        return;
      }
      flushRequested = true;
      notifyAll();
      while (durableSeq < target) {
        if (lastError != null && failedUpToSeq >= target) {
          throw lastError;
        }
        if (!writer.isAlive()) {
          throw new FsException(Errno.EIO, "metadata writer stopped");
        }
        try {
          wait(1000);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new FsException(Errno.EIO, "interrupted while flushing");
        }
      }
    }
  }

  synchronized int pendingOps() {
    return queue.size();
  }

  synchronized String lastErrorMessage() {
    return lastError == null ? null : lastError.getMessage();
  }

  private void writerLoop() {
    while (true) {
      List<Op> batch = new ArrayList<>();
      long batchSeq;
      synchronized (this) {
        // work is pending when anything was enqueued since the last drain, even an empty group
        // (fsync enqueues one to force a batch: content made durable and a commit)
        while (enqueuedSeq == takenSeq && !closing) {
          waitQuietly(0);
        }
        if (enqueuedSeq == takenSeq && closing) {
          notifyAll();
          return;
        }
        while (!flushRequested && !closing && queue.size() < 50_000) {
          long left = commitIntervalNs - (System.nanoTime() - firstPendingNs);
          if (left <= 0) {
            break;
          }
          waitQuietly(Math.max(1, left / 1_000_000));
        }
        flushRequested = false;
        batch.addAll(queue);
        queue.clear();
        batchSeq = enqueuedSeq;
        takenSeq = batchSeq;
      }
      try {
        long t0 = System.nanoTime();
        commit(batch);
        commitMetrics.succeeded(batch.size(), System.nanoTime() - t0);
        synchronized (this) {
          durableSeq = batchSeq;
          if (lastError != null && failedUpToSeq <= batchSeq) {
            lastError = null;
          }
          notifyAll();
        }
      } catch (Exception e) {
        FsException fe =
            e instanceof FsException f ? f : new FsException(isFull(e) ? Errno.ENOSPC : Errno.EIO, "metadata commit failed: " + e.getMessage(), e);
        LOG.log(Level.ERROR, "metadata commit failed; will retry: {0}", fe.getMessage());
        commitMetrics.failed(fe.errno());
        synchronized (this) {
          lastError = fe;
          failedUpToSeq = batchSeq;
          takenSeq = durableSeq; // the batch is pending again
          // put the batch back in front, in order; snapshots are retaken
          for (int i = batch.size() - 1; i >= 0; i--) {
            queue.addFirst(batch.get(i));
          }
          notifyAll();
          if (!closing) {
            waitQuietly(500);
          } else {
            // give up on close after reporting; the committed state stays consistent
            queue.clear();
            notifyAll();
            return;
          }
        }
      }
    }
  }

  private static boolean isFull(Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      String m = String.valueOf(t.getMessage());
      if (m.contains("SQLITE_FULL") || m.contains("No space left")) {
        return true;
      }
    }
    return false;
  }

  private void waitQuietly(long ms) {
    try {
      wait(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** A snapshot of one inode taken under its lock: what the batch writes for it. */
  private record Snapshot(
      Inode inode, byte[] record, Map<Integer, byte[]> blocks, int blockCount, Map<Integer, Long> pending) {}

  private void commit(List<Op> batch) throws Exception {
    // 1. snapshots, one per inode (the latest state; earlier queued states are subsumed)
    Map<Long, Snapshot> snaps = new LinkedHashMap<>();
    for (Op op : batch) {
      if (op instanceof Put p && !snaps.containsKey(p.inode().id)) {
        snaps.put(p.inode().id, snapshot(p.inode()));
      }
    }
    Sealer sealerBefore = sealer;
    KeyedHash hashBefore = nameHash;
    int keyBefore = keyId;
    try {
      // 2. content before metadata
      if (contentWritten) {
        contentWritten = false;
        syncer.sync();
      }
      // 3. one transaction; a reseal comes first, so the batch's own rows go under the new key
      for (Op op : batch) {
        if (op instanceof Reseal r && r.keyId() != keyId) {
          resealAll(r.keyId());
        }
      }
      for (Op op : batch) {
        if (op instanceof Put p) {
          Snapshot s = snaps.remove(p.inode().id);
          if (s != null) {
            writeSnapshot(s);
            snaps.put(-p.inode().id - 1, s); // keep for post-commit under another key
          }
        } else if (op instanceof Delete d) {
          deleteInodeRows(d.id());
        } else if (op instanceof Link l) {
          writeLink(l.parent(), l.name(), l.child());
        } else if (op instanceof Unlink u) {
          deleteLinkRow(u.parent(), nameHash.hash16(idBytes(u.parent()), u.name().rawBytes()));
        }
      }
      conn.commit();
    } catch (Exception e) {
      try {
        conn.rollback();
      } catch (SQLException ignored) {
        // the connection reports the original failure
      }
      sealer = sealerBefore;
      nameHash = hashBefore;
      keyId = keyBefore;
      // snapshots were not persisted: mark their inodes dirty again
      for (Snapshot s : snaps.values()) {
        Inode inode = s.inode();
        // release in-flight chunks first: a writer may hold the inode lock while waiting on them
        synchronized (inode.commitMonitor) {
          inode.inflight.clear();
          inode.commitMonitor.notifyAll();
        }
        inode.lock.writeLock().lock();
        try {
          for (int b : s.blocks().keySet()) {
            inode.dirtyBlocks.set(b);
          }
          inode.queued = true;
        } finally {
          inode.lock.writeLock().unlock();
        }
      }
      throw e;
    }
    // 4. post-commit: the committed slots move; deleted content goes
    for (Snapshot s : snaps.values()) {
      Inode inode = s.inode();
      synchronized (inode.commitMonitor) {
        for (Map.Entry<Integer, Long> e : s.pending().entrySet()) {
          int i = e.getKey();
          if (i >= inode.committed.length) {
            inode.committed = Arrays.copyOf(inode.committed, Math.max(i + 1, inode.committed.length * 2));
          }
          inode.committed[i] = e.getValue();
          inode.inflight.remove(i);
        }
        inode.commitMonitor.notifyAll();
      }
    }
    for (Op op : batch) {
      if (op instanceof Delete d && d.fileId() != null && contentStore != null) {
        try {
          contentStore.delete(d.fileId());
        } catch (IOException e) {
          LOG.log(Level.WARNING, "could not delete content of inode {0}: {1}", d.id(), e.getMessage());
        }
      } else if (op instanceof DropContent d && contentStore != null) {
        try {
          contentStore.delete(d.fileId());
        } catch (IOException e) {
          LOG.log(Level.WARNING, "could not delete the old content file of inode {0}: {1}", d.inode(), e.getMessage());
        }
      }
    }
  }

  /**
   * Re-seals every row of the database under master key {@code newKeyId} and re-hashes every
   * name, with the key id row and the check record, inside the writer's open transaction: the
   * commit makes it all or nothing. The caller restores the old keys if the commit fails.
   */
  private void resealAll(int newKeyId) throws SQLException {
    Sealer to = Sealer.of(keys.subkey(newKeyId, KeyPurpose.METADATA));
    KeyedHash toHash = KeyedHash.of(keys.subkey(newKeyId, KeyPurpose.NAME_HASH));
    // each table is read whole before it is rewritten: updating rows under an open cursor can
    // make SQLite visit an updated row again (vmap has no rowid)
    List<Object[]> rows = new ArrayList<>();
    try (Statement s = conn.createStatement(); ResultSet rs = s.executeQuery("SELECT id, rec FROM inode")) {
      while (rs.next()) {
        rows.add(new Object[] {rs.getLong(1), rs.getBytes(2)});
      }
    }
    try (PreparedStatement up = conn.prepareStatement("UPDATE inode SET rec = ? WHERE id = ?")) {
      for (Object[] r : rows) {
        long id = (Long) r[0];
        byte[] aad = inodeAad(id);
        up.setBytes(1, to.seal(sealer.open((byte[]) r[1], aad, "the record of inode " + id), aad));
        up.setLong(2, id);
        up.executeUpdate();
      }
    }
    rows.clear();
    try (Statement s = conn.createStatement(); ResultSet rs = s.executeQuery("SELECT inode, blk, data FROM vmap")) {
      while (rs.next()) {
        rows.add(new Object[] {rs.getLong(1), rs.getInt(2), rs.getBytes(3)});
      }
    }
    try (PreparedStatement up = conn.prepareStatement("UPDATE vmap SET data = ? WHERE inode = ? AND blk = ?")) {
      for (Object[] r : rows) {
        long id = (Long) r[0];
        int blk = (Integer) r[1];
        byte[] aad = vmapAad(id, blk);
        up.setBytes(1, to.seal(sealer.open((byte[]) r[2], aad, "version block " + blk + " of inode " + id), aad));
        up.setLong(2, id);
        up.setInt(3, blk);
        up.executeUpdate();
      }
    }
    List<Object[]> links = new ArrayList<>();
    try (Statement s = conn.createStatement();
        ResultSet rs = s.executeQuery("SELECT parent, hname, child, sname FROM dirent")) {
      while (rs.next()) {
        long parent = rs.getLong(1);
        long child = rs.getLong(3);
        byte[] name = sealer.open(rs.getBytes(4), direntAad(parent, rs.getBytes(2), child),
            "a directory entry of inode " + parent);
        links.add(new Object[] {parent, name, child});
      }
    }
    try (Statement s = conn.createStatement()) {
      s.executeUpdate("DELETE FROM dirent");
    }
    for (Object[] l : links) {
      putLinkRow(conn, to, toHash, (Long) l[0], (byte[]) l[1], (Long) l[2]);
      Arrays.fill((byte[]) l[1], (byte) 0);
    }
    putMetaRows(conn, keys, newKeyId);
    sealer = to;
    nameHash = toHash;
    keyId = newKeyId;
    LOG.log(Level.INFO, "metadata re-sealed under key id {0} ({1} entries)", Integer.toUnsignedString(newKeyId), links.size());
  }

  /**
   * Re-seals the whole database under master key {@code newKeyId} in one transaction (with the
   * queued changes) and waits until it is durable.
   */
  void reseal(int newKeyId) {
    enqueue(List.of(new Reseal(newKeyId)));
    flush();
    if (keyId != newKeyId) {
      throw new FsException(Errno.EIO, "metadata could not be re-sealed under the new key");
    }
  }

  private Snapshot snapshot(Inode inode) throws IOException {
    inode.lock.readLock().lock();
    try {
      int blockCount = inode.isRegular() ? inode.blockCount() : 0;
      Map<Integer, byte[]> blocks = new HashMap<>();
      Map<Integer, Long> pending = new HashMap<>();
      if (inode.blockDigests.length != blockCount) {
        inode.blockDigests = Arrays.copyOf(inode.blockDigests, blockCount);
      }
      for (int b = 0; b < blockCount; b++) {
        if (inode.blockDigests[b] == null) {
          inode.dirtyBlocks.set(b); // a block never persisted (the file grew sparsely past it)
        }
      }
      for (int b = inode.dirtyBlocks.nextSetBit(0); b >= 0; b = inode.dirtyBlocks.nextSetBit(b + 1)) {
        int base = b * Inode.BLOCK_CHUNKS;
        // pending chunk versions of this block (including ones cut off by a truncate)
        synchronized (inode.commitMonitor) {
          int end = Math.max(Math.min(inode.versions.length, base + Inode.BLOCK_CHUNKS),
              Math.min(inode.committed.length, base + Inode.BLOCK_CHUNKS));
          for (int i = base; i < end; i++) {
            long v = i < inode.versions.length ? inode.versions[i] : 0;
            long c = i < inode.committed.length ? inode.committed[i] : 0;
            if (v != c) {
              pending.put(i, v);
              inode.inflight.put(i, v);
            }
          }
        }
        if (b >= blockCount) {
          continue;
        }
        long chunks = inode.chunkCount();
        int n = (int) Math.min(Inode.BLOCK_CHUNKS, chunks - base);
        ByteBuffer bb = ByteBuffer.allocate(n * 8);
        for (int i = 0; i < n; i++) {
          int idx = base + i;
          bb.putLong(idx < inode.versions.length ? inode.versions[idx] : 0);
        }
        byte[] plain = bb.array();
        inode.blockDigests[b] = digest(plain);
        blocks.put(b, plain);
      }
      // blocks that still exist but whose last chunk count changed are covered because any
      // size change marks the affected block dirty (see ClawFileSystem.setSize)
      inode.dirtyBlocks.clear();
      inode.queued = false;
      byte[] rec = encodeRecord(inode);
      return new Snapshot(inode, rec, blocks, blockCount, pending);
    } finally {
      inode.lock.readLock().unlock();
    }
  }

  private void writeSnapshot(Snapshot s) throws SQLException {
    long id = s.inode().id;
    putInodeRow(conn, sealer, id, s.record());
    for (Map.Entry<Integer, byte[]> e : s.blocks().entrySet()) {
      putVmapRow(conn, sealer, id, e.getKey(), e.getValue());
    }
    try (PreparedStatement ps = conn.prepareStatement("DELETE FROM vmap WHERE inode = ? AND blk >= ?")) {
      ps.setLong(1, id);
      ps.setInt(2, s.blockCount());
      ps.executeUpdate();
    }
  }

  /** Direct write used at initialisation and load (no snapshot bookkeeping needed). */
  private void writeInode(Inode inode) throws SQLException, IOException {
    putInodeRow(conn, sealer, inode.id, encodeRecord(inode));
  }

  private void writeLink(long parent, Name name, long child) throws SQLException {
    putLinkRow(conn, sealer, nameHash, parent, name.rawBytes(), child);
  }

  /** Writes (or replaces) the sealed record of inode {@code id}. */
  static void putInodeRow(Connection c, Sealer sealer, long id, byte[] record) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement("INSERT OR REPLACE INTO inode (id, rec) VALUES (?, ?)")) {
      ps.setLong(1, id);
      ps.setBytes(2, sealer.seal(record, inodeAad(id)));
      ps.executeUpdate();
    }
  }

  /** Writes (or replaces) version block {@code blk} of inode {@code id}. */
  static void putVmapRow(Connection c, Sealer sealer, long id, int blk, byte[] plain) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement("INSERT OR REPLACE INTO vmap (inode, blk, data) VALUES (?, ?, ?)")) {
      ps.setLong(1, id);
      ps.setInt(2, blk);
      ps.setBytes(3, sealer.seal(plain, vmapAad(id, blk)));
      ps.executeUpdate();
    }
  }

  /** Writes (or replaces) the directory entry {@code name} of {@code parent}, naming {@code child}. */
  static void putLinkRow(Connection c, Sealer sealer, KeyedHash nameHash, long parent, byte[] name, long child)
      throws SQLException {
    byte[] h = nameHash.hash16(idBytes(parent), name);
    try (PreparedStatement ps = c.prepareStatement(
        "INSERT OR REPLACE INTO dirent (parent, hname, child, sname) VALUES (?, ?, ?, ?)")) {
      ps.setLong(1, parent);
      ps.setBytes(2, h);
      ps.setLong(3, child);
      ps.setBytes(4, sealer.seal(name, direntAad(parent, h, child)));
      ps.executeUpdate();
    }
  }

  private void deleteLinkRow(long parent, byte[] hname) throws SQLException {
    try (PreparedStatement ps = conn.prepareStatement("DELETE FROM dirent WHERE parent = ? AND hname = ?")) {
      ps.setLong(1, parent);
      ps.setBytes(2, hname);
      ps.executeUpdate();
    }
  }

  private void deleteInodeRows(long id) throws SQLException {
    try (PreparedStatement ps = conn.prepareStatement("DELETE FROM inode WHERE id = ?")) {
      ps.setLong(1, id);
      ps.executeUpdate();
    }
    try (PreparedStatement ps = conn.prepareStatement("DELETE FROM vmap WHERE inode = ?")) {
      ps.setLong(1, id);
      ps.executeUpdate();
    }
  }

  // ------------------------------------------------------------------ encoding

  static byte[] encodeRecord(Inode n) throws IOException {
    ByteArrayOutputStream bos = new ByteArrayOutputStream(128);
    DataOutputStream out = new DataOutputStream(bos);
    out.writeByte(RECORD_FORMAT);
    out.writeInt(n.mode);
    out.writeInt(n.uid);
    out.writeInt(n.gid);
    out.writeInt(n.nlink);
    out.writeLong(n.size);
    out.writeLong(n.atimeNs);
    out.writeLong(n.mtimeNs);
    out.writeLong(n.ctimeNs);
    out.writeLong(n.versionCounter);
    out.writeBoolean(n.fileId != null);
    if (n.fileId != null) {
      out.write(n.fileId);
    }
    byte[] target = n.symlinkTarget == null ? new byte[0] : n.symlinkTarget;
    out.writeInt(target.length);
    out.write(target);
    Map<String, byte[]> x = n.xattrs == null ? Map.of() : n.xattrs;
    out.writeInt(x.size());
    for (Map.Entry<String, byte[]> e : x.entrySet()) {
      byte[] k = e.getKey().getBytes(StandardCharsets.ISO_8859_1);
      out.writeInt(k.length);
      out.write(k);
      out.writeInt(e.getValue().length);
      out.write(e.getValue());
    }
    out.writeInt(n.blockDigests.length);
    for (byte[] d : n.blockDigests) {
      out.write(d);
    }
    out.flush();
    return bos.toByteArray();
  }

  private Inode readInode(long id, byte[] sealed) throws IOException {
    return decodeRecord(id, sealer.open(sealed, inodeAad(id), "the record of inode " + id));
  }

  /**
   * An inode from its record (opened); its chunk versions are still to be loaded from the version
   * blocks, which {@code dirtyBlocks} lists until each has been read.
   */
  static Inode decodeRecord(long id, byte[] plain) throws IOException {
    DataInputStream in = new DataInputStream(new ByteArrayInputStream(plain));
    int format = in.readUnsignedByte();
    if (format != RECORD_FORMAT) {
      throw new FsException(Errno.EIO, "inode " + id + " has unknown record format " + format);
    }
    Inode n = new Inode(id, in.readInt());
    n.uid = in.readInt();
    n.gid = in.readInt();
    n.nlink = in.readInt();
    n.size = in.readLong();
    n.atimeNs = in.readLong();
    n.mtimeNs = in.readLong();
    n.ctimeNs = in.readLong();
    n.versionCounter = in.readLong();
    if (in.readBoolean()) {
      n.fileId = in.readNBytes(16);
    }
    int tl = in.readInt();
    if (tl > 0) {
      n.symlinkTarget = in.readNBytes(tl);
    }
    int xc = in.readInt();
    for (int i = 0; i < xc; i++) {
      String k = new String(in.readNBytes(in.readInt()), StandardCharsets.ISO_8859_1);
      n.xattrs().put(k, in.readNBytes(in.readInt()));
    }
    int bc = in.readInt();
    n.blockDigests = new byte[bc][];
    for (int i = 0; i < bc; i++) {
      n.blockDigests[i] = in.readNBytes(16);
      n.dirtyBlocks.set(i); // cleared as each block loads; any left means a block is missing
    }
    return n;
  }

  static byte[] digest(byte[] data) {
    try {
      return Arrays.copyOf(MessageDigest.getInstance("SHA-256").digest(data), 16);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  static byte[] idBytes(long id) {
    return ByteBuffer.allocate(8).putLong(id).array();
  }

  static byte[] inodeAad(long id) {
    return ByteBuffer.allocate(13).put("inode".getBytes(StandardCharsets.US_ASCII)).putLong(id).array();
  }

  static byte[] vmapAad(long id, int blk) {
    return ByteBuffer.allocate(16).put("vmap".getBytes(StandardCharsets.US_ASCII)).putLong(id).putInt(blk).array();
  }

  static byte[] direntAad(long parent, byte[] hname, long child) {
    return ByteBuffer.allocate(6 + 8 + hname.length + 8)
        .put("dirent".getBytes(StandardCharsets.US_ASCII))
        .putLong(parent)
        .put(hname)
        .putLong(child)
        .array();
  }

  @Override
  public void close() throws SQLException {
    synchronized (this) {
      closing = true;
      flushRequested = true;
      notifyAll();
    }
    try {
      writer.join(120_000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    try (Statement s = conn.createStatement()) {
      conn.commit();
      conn.setAutoCommit(true);
      s.execute("PRAGMA wal_checkpoint(TRUNCATE)");
    } catch (SQLException e) {
      LOG.log(Level.WARNING, "checkpoint on close failed: {0}", e.getMessage());
    }
    conn.close();
  }
}
