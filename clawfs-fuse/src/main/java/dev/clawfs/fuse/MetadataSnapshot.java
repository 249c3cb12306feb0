package dev.clawfs.fuse;

import dev.clawfs.crypto.CryptoException;
import dev.clawfs.crypto.KeyPurpose;
import dev.clawfs.crypto.KeyedHash;
import dev.clawfs.crypto.MasterKeys;
import dev.clawfs.crypto.Sealer;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.sqlite.SQLiteConfig;

/**
 * The vault's metadata database as it is on disk, read through a read-only connection, every row
 * opened on its own: a row that fails authentication, or a page SQLite cannot read, costs that
 * row, not the whole load (unlike {@link MetadataStore#load}, which refuses the vault). All reads
 * of one {@link #read} run in one SQLite read transaction, so while a server has the vault
 * mounted they see one committed state (WAL readers are consistent).
 */
final class MetadataSnapshot implements AutoCloseable {
  /** A directory entry whose name opened and whose hash matches its row. */
  record Entry(long parent, byte[] hname, long child, byte[] sealed, byte[] name) {}

  /** A directory entry that cannot be trusted, and why. */
  record BadEntry(long parent, long child, String reason) {}

  /**
   * State of the vault check record in {@code meta}: OK; MISSING; UNREADABLE (the row cannot be
   * read or fails authentication while other rows open); FOREIGN (it names another vault, or not
   * one record opens: the database is another vault's).
   */
  enum CheckRecord { OK, MISSING, FOREIGN, UNREADABLE }

  final Path vault;
  private Sealer sealer;
  private KeyedHash nameHash;
  private Connection conn;

  /** Why the database could not be opened at all, or null. */
  String openError;
  /** What {@code PRAGMA integrity_check} reported other than "ok". */
  final List<String> integrity = new ArrayList<>();
  CheckRecord checkRecord = CheckRecord.UNREADABLE;
  /** Scan outcome per table. */
  final Map<String, ResilientScan.Outcome> scans = new LinkedHashMap<>();

  /** Records that opened: sealed bytes (as stored) and the decoded inode, by id. */
  final Map<Long, byte[]> inodeRows = new TreeMap<>();
  final Map<Long, Inode> inodes = new TreeMap<>();
  /** Records that did not open or decode, by id. */
  final Map<Long, String> badInodes = new TreeMap<>();
  /** Version blocks that opened (sealed bytes), by inode and block. */
  final Map<Long, Map<Integer, byte[]>> vmapRows = new HashMap<>();
  /** Per inode, its version blocks that are missing, fail authentication or do not match the record. */
  final Map<Long, Map<Integer, String>> badBlocks = new TreeMap<>();
  final List<Entry> entries = new ArrayList<>();
  final List<BadEntry> badEntries = new ArrayList<>();

  private MetadataSnapshot(Path vault, MasterKeys keys) {
    this.vault = vault;
    this.keyId = keys.primaryKeyId();
    this.sealer = Sealer.of(keys.subkey(KeyPurpose.METADATA));
    this.nameHash = KeyedHash.of(keys.subkey(KeyPurpose.NAME_HASH));
  }

  /** The master key the database is sealed under (its key id row; see MetadataStore.storeKey). */
  int keyId;
  private MetadataStore.StoreKey storeKey;

  /** Reads all of the metadata; never throws for damage, which it records instead. */
  static MetadataSnapshot read(Path vault, MasterKeys keys) {
    MetadataSnapshot s = new MetadataSnapshot(vault, keys);
    Path db = vault.resolve(MetadataStore.DB_FILE);
    if (!Files.isRegularFile(db)) {
      s.openError = MetadataStore.DB_FILE + " is missing";
      return s;
    }
    try {
      SQLiteConfig cfg = new SQLiteConfig();
      cfg.setReadOnly(true);
      cfg.setBusyTimeout(5000);
      s.conn = DriverManager.getConnection("jdbc:sqlite:" + db, cfg.toProperties());
      s.conn.setAutoCommit(false);
    } catch (SQLException e) {
      s.openError = "cannot open " + MetadataStore.DB_FILE + ": " + e.getMessage();
      return s;
    }
    try {
      s.load(keys);
    } finally {
      s.endTransaction();
    }
    return s;
  }

  private void load(MasterKeys keys) {
    try (Statement st = conn.createStatement(); ResultSet rs = st.executeQuery("PRAGMA integrity_check(100)")) {
      while (rs.next()) {
        String line = rs.getString(1);
        if (!"ok".equals(line) && !line.startsWith("*** in database")) {
          integrity.add(line);
        }
      }
    } catch (SQLException e) {
      integrity.add(String.valueOf(e.getMessage()));
    }
    try {
      storeKey = MetadataStore.storeKey(conn, keys);
      if (keys.keyIds().contains(storeKey.keyId())) {
        keyId = storeKey.keyId();
        sealer = Sealer.of(keys.subkey(keyId, KeyPurpose.METADATA));
        nameHash = KeyedHash.of(keys.subkey(keyId, KeyPurpose.NAME_HASH));
      } // else: a key this keyset lacks; nothing opens, and the check record says so
    } catch (SQLException | RuntimeException e) {
      storeKey = new MetadataStore.StoreKey(keyId, true);
    }
    try (Statement st = conn.createStatement(); ResultSet rs = st.executeQuery("SELECT v FROM meta WHERE k = 'check'")) {
      if (!rs.next()) {
        checkRecord = CheckRecord.MISSING;
      } else {
        byte[] id = sealer.open(rs.getBytes(1), MetadataStore.checkAad(storeKey), "vault check record");
        checkRecord = Arrays.equals(id, keys.vaultId()) ? CheckRecord.OK : CheckRecord.FOREIGN;
      }
    } catch (SQLException e) {
      checkRecord = CheckRecord.UNREADABLE;
    } catch (RuntimeException e) {
      checkRecord = CheckRecord.UNREADABLE; // altered, or another vault's: the rows will tell
    }
    if (checkRecord == CheckRecord.FOREIGN) {
      return; // another vault's rows: nothing in them would open
    }
    scans.put("inode", new ResilientScan(conn, "inode", "id", "id, rec", ResilientScan.INTEGER).run(rs -> {
      long id = rs.getLong(1);
      byte[] sealed = rs.getBytes(2);
      try {
        Inode n = decode(id, sealed);
        inodeRows.put(id, sealed);
        inodes.put(id, n);
      } catch (CryptoException e) {
        badInodes.put(id, "its record failed authentication");
      } catch (IOException | RuntimeException e) {
        badInodes.put(id, "its record cannot be decoded: " + e.getMessage());
      }
    }));
    if (checkRecord != CheckRecord.OK && inodes.isEmpty() && !badInodes.isEmpty()) {
      checkRecord = CheckRecord.FOREIGN; // not one record opens: the database is not this vault's
      return;
    }
    Map<Long, Map<Integer, byte[]>> blocks = new HashMap<>();
    Map<Long, Map<Integer, String>> failed = new HashMap<>();
    scans.put("vmap", new ResilientScan(conn, "vmap", "inode, blk", "inode, blk, data", ResilientScan.INTEGER_PAIR)
        .run(rs -> {
          long id = rs.getLong(1);
          int blk = rs.getInt(2);
          byte[] sealed = rs.getBytes(3);
          try {
            byte[] plain = sealer.open(sealed, MetadataStore.vmapAad(id, blk), "version block");
            blocks.computeIfAbsent(id, k -> new HashMap<>()).put(blk, plain);
            vmapRows.computeIfAbsent(id, k -> new HashMap<>()).put(blk, sealed);
          } catch (RuntimeException e) {
            failed.computeIfAbsent(id, k -> new HashMap<>()).put(blk, "failed authentication");
          }
        }));
    for (Inode n : inodes.values()) {
      Map<Integer, String> bad = applyBlocks(n, blocks.getOrDefault(n.id, Map.of()));
      for (Map.Entry<Integer, String> e : failed.getOrDefault(n.id, Map.of()).entrySet()) {
        if (e.getKey() < n.blockDigests.length) {
          bad.put(e.getKey(), e.getValue());
        }
      }
      if (!bad.isEmpty()) {
        badBlocks.put(n.id, bad);
      }
    }
    scans.put("dirent", new ResilientScan(conn, "dirent", "parent, hname", "parent, hname, child, sname",
        ResilientScan.INTEGER_HASH).run(rs -> {
          long parent = rs.getLong(1);
          byte[] hname = rs.getBytes(2);
          long child = rs.getLong(3);
          byte[] sealed = rs.getBytes(4);
          try {
            byte[] name = sealer.open(sealed, MetadataStore.direntAad(parent, hname, child), "directory entry");
            if (!Arrays.equals(nameHash.hash16(MetadataStore.idBytes(parent), name), hname)) {
              badEntries.add(new BadEntry(parent, child, "was moved (its name does not hash to its row)"));
            } else {
              entries.add(new Entry(parent, hname, child, sealed, name));
            }
          } catch (RuntimeException e) {
            badEntries.add(new BadEntry(parent, child, "failed authentication"));
          }
        }));
  }

  private Inode decode(long id, byte[] sealed) throws IOException {
    return MetadataStore.decodeRecord(id, sealer.open(sealed, MetadataStore.inodeAad(id), "inode record"));
  }

  /**
   * Fills n's chunk versions from its opened version blocks; returns the blocks that are
   * missing, do not match the digest in the record (rolled back or replaced) or hold the wrong
   * number of versions for the file's size.
   */
  static Map<Integer, String> applyBlocks(Inode n, Map<Integer, byte[]> blocks) {
    Map<Integer, String> bad = new TreeMap<>();
    long chunks = n.isRegular() ? n.chunkCount() : 0;
    n.versions = Inode.NO_VERSIONS;
    for (int blk = 0; blk < n.blockDigests.length; blk++) {
      byte[] plain = blocks.get(blk);
      if (plain == null) {
        bad.put(blk, "is missing");
        continue;
      }
      if (!Arrays.equals(MetadataStore.digest(plain), n.blockDigests[blk])) {
        bad.put(blk, "does not match the file's record (rolled back or replaced)");
        continue;
      }
      long base = (long) blk * Inode.BLOCK_CHUNKS;
      long want = Math.max(0, Math.min(Inode.BLOCK_CHUNKS, chunks - base));
      if (plain.length % 8 != 0 || plain.length / 8 != want) {
        bad.put(blk, "holds " + plain.length / 8 + " chunk versions where the file's size needs " + want);
        continue;
      }
      ByteBuffer bb = ByteBuffer.wrap(plain);
      int count = plain.length / 8;
      if (n.versions.length < base + count) {
        n.versions = Arrays.copyOf(n.versions, (int) (base + count));
      }
      for (int i = 0; i < count; i++) {
        n.versions[(int) base + i] = bb.getLong();
      }
    }
    n.dirtyBlocks.clear();
    return bad;
  }

  /**
   * Inode {@code id} as committed now (a new read transaction), with its chunk versions; null
   * when it is gone or cannot be read. Used while the vault is mounted to tell a real fault from
   * a file that changed while it was being checked.
   */
  Inode current(long id) {
    if (conn == null) {
      return null;
    }
    try {
      Inode n;
      try (PreparedStatement ps = conn.prepareStatement("SELECT rec FROM inode WHERE id = ?")) {
        ps.setLong(1, id);
        try (ResultSet rs = ps.executeQuery()) {
          if (!rs.next()) {
            return null;
          }
          n = decode(id, rs.getBytes(1));
        }
      }
      Map<Integer, byte[]> blocks = new HashMap<>();
      try (PreparedStatement ps = conn.prepareStatement("SELECT blk, data FROM vmap WHERE inode = ?")) {
        ps.setLong(1, id);
        try (ResultSet rs = ps.executeQuery()) {
          while (rs.next()) {
            int blk = rs.getInt(1);
            blocks.put(blk, sealer.open(rs.getBytes(2), MetadataStore.vmapAad(id, blk), "version block"));
          }
        }
      }
      return applyBlocks(n, blocks).isEmpty() ? n : null;
    } catch (SQLException | IOException | RuntimeException e) {
      return null;
    } finally {
      endTransaction();
    }
  }

  private void endTransaction() {
    try {
      if (conn != null) {
        conn.rollback();
      }
    } catch (SQLException e) {
      // a read transaction: nothing to undo
    }
  }

  /** Whether every table was read without a gap. */
  boolean scansClean() {
    return scans.values().stream().allMatch(ResilientScan.Outcome::clean);
  }

  @Override
  public void close() {
    if (conn != null) {
      try {
        conn.close();
      } catch (SQLException e) {
        // read-only: nothing to lose
      }
      conn = null;
    }
  }
}
