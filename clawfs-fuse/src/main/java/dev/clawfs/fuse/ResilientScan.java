package dev.clawfs.fuse;

import java.math.BigInteger;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads every readable row of one table in primary-key order, stepping over pages SQLite cannot
 * read. When a scan fails, the keys after the last row read are probed (galloping, then a binary
 * search) for the first key from which a scan works again, so only the rows on the damaged pages
 * are lost. SQLite's own recovery ({@code .recover}) belongs to its command-line shell, not to the
 * library the JDBC driver ships, hence this.
 *
 * <p>Keys are mapped to non-negative integers in key order ({@link KeySpace}), which is what the
 * probing needs. A scan of an intact table is one query.
 */
final class ResilientScan {
  /** Probes and gaps beyond these give up on the rest of the table (a badly broken file). */
  private static final int MAX_PROBES = 200_000;
  private static final int MAX_GAPS = 10_000;

  /** A table's primary key as an integer in key order. */
  interface KeySpace {
    /** The key of the current row (its key columns come first in the select list). */
    BigInteger of(ResultSet rs) throws SQLException;

    /** Binds {@code key} to the key parameters starting at index 1. */
    void bind(PreparedStatement ps, BigInteger key) throws SQLException;

    /** The largest key. */
    BigInteger max();
  }

  /** Receives each readable row. */
  interface Sink {
    void row(ResultSet rs) throws SQLException;
  }

  /** How a scan went: rows delivered, runs of unreadable rows skipped, SQLite's messages. */
  record Outcome(long rows, int gaps, List<String> errors, boolean gaveUp) {
    boolean clean() {
      return gaps == 0 && !gaveUp;
    }
  }

  private final Connection conn;
  private final String scanSql;
  private final String probeSql;
  private final KeySpace keys;
  private int probes;

  /**
   * @param keyColumns the primary key columns, comma separated ("parent, hname")
   * @param columns the columns to read, starting with the key columns
   */
  ResilientScan(Connection conn, String table, String keyColumns, String columns, KeySpace keys) {
    int n = keyColumns.split(",").length;
    String params = "(" + String.join(", ", java.util.Collections.nCopies(n, "?")) + ")";
    String where = " FROM " + table + " WHERE (" + keyColumns + ") >= " + params + " ORDER BY " + keyColumns;
    this.conn = conn;
    this.scanSql = "SELECT " + columns + where;
    this.probeSql = "SELECT " + columns + where + " LIMIT 1";
    this.keys = keys;
  }

  Outcome run(Sink sink) {
    List<String> errors = new ArrayList<>();
    long rows = 0;
    int gaps = 0;
    BigInteger from = BigInteger.ZERO;
    while (true) {
      BigInteger last = null;
      try (PreparedStatement ps = conn.prepareStatement(scanSql)) {
        keys.bind(ps, from);
        try (ResultSet rs = ps.executeQuery()) {
          while (rs.next()) {
            BigInteger k = keys.of(rs);
            sink.row(rs);
            rows++;
            last = k;
          }
        }
        return new Outcome(rows, gaps, errors, false);
      } catch (SQLException e) {
        if (errors.size() < 20) {
          errors.add(String.valueOf(e.getMessage()));
        }
      }
      gaps++;
      BigInteger bad = last == null ? from : last.add(BigInteger.ONE);
      BigInteger next = nextReadable(bad);
      if (next == null || gaps > MAX_GAPS) {
        return new Outcome(rows, gaps, errors, next != null);
      }
      from = next;
    }
  }

  /** The smallest key after {@code bad} from which a scan reads again, or null when none does. */
  private BigInteger nextReadable(BigInteger bad) {
    BigInteger max = keys.max();
    // gallop: the damaged run is usually short, and a binary search over the whole key space
    // could land beyond a second damaged run and skip the good rows between the two
    BigInteger lo = bad;
    BigInteger step = BigInteger.ONE;
    BigInteger hi = null;
    while (true) {
      BigInteger p = bad.add(step);
      if (p.compareTo(max) > 0) {
        break;
      }
      Boolean ok = probe(p);
      if (ok == null) {
        return null;
      }
      if (ok) {
        hi = p;
        break;
      }
      lo = p;
      step = step.shiftLeft(1);
    }
    if (hi == null) {
      return null; // unreadable to the end of the key space
    }
    while (hi.subtract(lo).compareTo(BigInteger.ONE) > 0) {
      BigInteger mid = lo.add(hi).shiftRight(1);
      Boolean ok = probe(mid);
      if (ok == null) {
        return null;
      }
      if (ok) {
        hi = mid;
      } else {
        lo = mid;
      }
    }
    return hi;
  }

  /** Whether the first row at or after {@code key} can be read; null once the probe budget is spent. */
  private Boolean probe(BigInteger key) {
    if (++probes > MAX_PROBES) {
      return null;
    }
    try (PreparedStatement ps = conn.prepareStatement(probeSql)) {
      keys.bind(ps, key);
      try (ResultSet rs = ps.executeQuery()) {
        if (rs.next()) {
          int n = rs.getMetaData().getColumnCount();
          for (int i = 1; i <= n; i++) {
            rs.getBytes(i);
          }
        }
      }
      return true;
    } catch (SQLException e) {
      return false;
    }
  }

  // ------------------------------------------------------------------ key spaces

  private static final BigInteger LONG_MAX = BigInteger.valueOf(Long.MAX_VALUE);

  /** One INTEGER key column (not negative). */
  static final KeySpace INTEGER = new KeySpace() {
    @Override
    public BigInteger of(ResultSet rs) throws SQLException {
      return BigInteger.valueOf(Math.max(0, rs.getLong(1)));
    }

    @Override
    public void bind(PreparedStatement ps, BigInteger key) throws SQLException {
      ps.setLong(1, key.longValueExact());
    }

    @Override
    public BigInteger max() {
      return LONG_MAX;
    }
  };

  /** Two INTEGER key columns, the second below 2^31 ({@code inode, blk}). */
  static final KeySpace INTEGER_PAIR = new KeySpace() {
    @Override
    public BigInteger of(ResultSet rs) throws SQLException {
      return BigInteger.valueOf(Math.max(0, rs.getLong(1))).shiftLeft(32)
          .or(BigInteger.valueOf(Math.max(0, Math.min(Integer.MAX_VALUE, rs.getLong(2)))));
    }

    @Override
    public void bind(PreparedStatement ps, BigInteger key) throws SQLException {
      ps.setLong(1, key.shiftRight(32).longValueExact());
      ps.setLong(2, key.and(BigInteger.valueOf(0xffffffffL)).longValue());
    }

    @Override
    public BigInteger max() {
      return LONG_MAX.shiftLeft(32).or(BigInteger.valueOf(Integer.MAX_VALUE));
    }
  };

  /** An INTEGER then a 16-byte BLOB ({@code parent, hname}); blobs compare as unsigned numbers. */
  static final KeySpace INTEGER_HASH = new KeySpace() {
    private static final BigInteger LOW = BigInteger.ONE.shiftLeft(128).subtract(BigInteger.ONE);

    @Override
    public BigInteger of(ResultSet rs) throws SQLException {
      byte[] h = rs.getBytes(2);
      byte[] b16 = new byte[16];
      if (h != null) {
        System.arraycopy(h, 0, b16, 0, Math.min(16, h.length));
      }
      return BigInteger.valueOf(Math.max(0, rs.getLong(1))).shiftLeft(128).or(new BigInteger(1, b16));
    }

    @Override
    public void bind(PreparedStatement ps, BigInteger key) throws SQLException {
      ps.setLong(1, key.shiftRight(128).longValueExact());
      byte[] raw = key.and(LOW).toByteArray();
      byte[] b16 = new byte[16];
      int n = Math.min(16, raw.length);
      System.arraycopy(raw, raw.length - n, b16, 16 - n, n);
      ps.setBytes(2, b16);
    }

    @Override
    public BigInteger max() {
      return LONG_MAX.shiftLeft(128).or(LOW);
    }
  };
}
