package dev.clawfs.index;

import dev.clawfs.crypto.Sealer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.sqlite.SQLiteConfig;

/**
 * Checks the search index in {@code VAULT/index/} against itself and the files, read-only: the
 * SQLite integrity of {@code index.db}, every sealed row (a row that fails authentication makes
 * the index refuse to open, so the mount fails), and each file's indexed stamp against the
 * file's current one. An index that is behind is not a fault: the next mount compares the stamps
 * and indexes again what changed. A damaged index is derived data: drop it and the next mount
 * rebuilds it from the files.
 */
public final class IndexCheck {
  private IndexCheck() {}

  /**
   * What was found.
   *
   * @param present whether the vault has an index at all
   * @param damage each fault in words (integrity messages, rows that fail authentication)
   * @param docs files the index has a record of
   * @param stale records whose stamp differs from the file's (indexed again at the next mount)
   * @param gone records of files that no longer exist or are no longer indexed (dropped at the next mount)
   * @param missing files that should be indexed and have no record yet
   */
  public record Result(boolean present, List<String> damage, int docs, int stale, int gone, int missing) {}

  /**
   * @param indexDir the vault's {@code index/} directory
   * @param sealer the index's sealer (the VECTORS subkey of the primary master key)
   * @param files every regular file with a visible path, by inode
   * @param unreadable files whose content cannot be read in whole (damaged): the index cannot
   *     have them, so they do not count as missing
   */
  public static Result run(Path indexDir, Sealer sealer, Map<Long, SearchEngine.FileRef> files, Set<Long> unreadable) {
    Path db = indexDir.resolve("index.db");
    if (!Files.isRegularFile(db)) {
      return new Result(false, List.of(), 0, 0, 0, 0);
    }
    List<String> damage = new ArrayList<>();
    int docs = 0;
    int stale = 0;
    int gone = 0;
    Set<Long> indexed = new HashSet<>();
    SQLiteConfig cfg = new SQLiteConfig();
    cfg.setReadOnly(true);
    cfg.setBusyTimeout(5000);
    try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + db, cfg.toProperties())) {
      c.setAutoCommit(false); // one read transaction: one committed state while a server writes
      try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery("PRAGMA integrity_check(20)")) {
        while (rs.next()) {
          String line = rs.getString(1);
          if (!"ok".equals(line) && !line.startsWith("*** in database")) {
            damage.add("index.db: " + line);
          }
        }
      }
      int badDocs = 0;
      try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery("SELECT ino, state FROM doc")) {
        while (rs.next()) {
          long ino = rs.getLong(1);
          docs++;
          SearchEngine.Doc d;
          try {
            d = SearchEngine.decodeDoc(sealer.open(rs.getBytes(2), SearchEngine.docAad(ino), "index state"));
          } catch (RuntimeException e) {
            badDocs++;
            continue;
          }
          indexed.add(ino);
          SearchEngine.FileRef f = files.get(ino);
          if (f == null || !SearchEngine.indexable(f.path())) {
            gone++;
          } else if (d.stamp != f.stamp()) {
            stale++;
          }
        }
      }
      count(damage, badDocs, "file records");
      count(damage, failing(c, sealer, "SELECT id, body FROM passage", Kind.PASSAGE), "passages");
      count(damage, failing(c, sealer, "SELECT id, v FROM vec", Kind.VECTOR), "vectors");
      count(damage, failing(c, sealer, "SELECT id, sealed FROM blind_vocab", Kind.VOCABULARY), "vocabulary entries");
    } catch (SQLException e) {
      damage.add("index.db cannot be read: " + e.getMessage());
    }
    int missing = 0;
    for (SearchEngine.FileRef f : files.values()) {
      if (SearchEngine.indexable(f.path()) && !indexed.contains(f.ino()) && !unreadable.contains(f.ino())) {
        missing++;
      }
    }
    return new Result(true, List.copyOf(damage), docs, stale, gone, missing);
  }

  private enum Kind { PASSAGE, VECTOR, VOCABULARY }

  private static void count(List<String> damage, int bad, String what) {
    if (bad > 0) {
      damage.add(bad + " " + what + " fail authentication (the index will not open)");
    }
  }

  /** Rows of a sealed table that fail authentication; a table that does not exist yet has none. */
  private static int failing(Connection c, Sealer sealer, String sql, Kind kind) throws SQLException {
    int bad = 0;
    try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery(sql)) {
      while (rs.next()) {
        try {
          byte[] aad = switch (kind) {
            case PASSAGE -> SearchEngine.passageAad(rs.getLong(1));
            case VECTOR -> VectorIndex.rowAad(rs.getLong(1));
            case VOCABULARY -> BlindIndex.vocabAad(rs.getBytes(1));
          };
          sealer.open(rs.getBytes(2), aad, "index row");
        } catch (RuntimeException e) {
          bad++;
        }
      }
    } catch (SQLException e) {
      if (String.valueOf(e.getMessage()).contains("no such table")) {
        return 0;
      }
      throw e;
    }
    return bad;
  }
}
