package dev.clawfs.index;

import dev.clawfs.crypto.AuthenticationFailedException;
import dev.clawfs.crypto.KeyedHash;
import dev.clawfs.crypto.Sealer;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;
import org.sqlite.SQLiteCommitListener;
import org.sqlite.SQLiteConnection;

/**
 * A blind keyword index: SQLite FTS5 over keyed hashes of terms, so BM25 ranking, phrases, NEAR
 * and boolean queries work while the database holds no plaintext word.
 *
 * <p>Each term (see {@link Tokenizer}) becomes a token: the first {@value #TOKEN_BYTES} bytes of
 * {@link KeyedHash#hash16} of its UTF-8 bytes, in lower-case base32 without padding (16
 * characters). A passage's FTS5 row (rowid = passage id) is its tokens in order, separated by
 * spaces, so positions are kept. The table is
 * {@code fts5(body, tokenize='ascii', detail=full, content='', contentless_delete=1)}:
 *
 * <ul>
 *   <li>{@code detail=full} stores positions, which phrase and NEAR queries need ("column" and
 *       "none" would refuse them).
 *   <li>{@code content=''} (contentless): the token text is not stored a second time; nothing
 *       reads it back, since snippets come from the decrypted file. {@code contentless_delete=1}
 *       (SQLite 3.43+) still allows deleting and replacing rows.
 *   <li>{@code columnsize} stays on (the default): BM25 needs each row's length, and a
 *       contentless table cannot recompute it.
 *   <li>{@code tokenize='ascii'} is the cheapest tokenizer and enough for base32.
 * </ul>
 *
 * <p>Prefix queries need plaintext, so the vocabulary is kept sealed: a row per distinct
 * unstemmed word, keyed by a keyed hash of the word (domain-separated from the tokens) and holding
 * the word sealed with the associated data {@code "clawfs/v1/blind-vocab" || id}, so rows cannot
 * be swapped. It is opened into a sorted in-memory map at construction, and a prefix expands to
 * the tokens of the words that start with it (shortest words first). Words are never removed when
 * passages go: the vocabulary only grows, and a stale word costs only a token that matches
 * nothing. Unstemmed words are kept, rather than stems, so that "rotati*" finds "rotation" even
 * though its term is "rotat".
 *
 * <p>What leaks to someone holding the database: the number of passages, each passage's length in
 * terms, and for each token its occurrences and positions; in effect every passage is a
 * word-by-word substitution of the text, open to frequency and co-occurrence analysis. The
 * number of distinct words leaks through the vocabulary's row count. No word, stem or query term
 * is stored, and queries are not stored at all.
 *
 * <p>The caller owns the connection and its transactions (autocommit off; the caller commits).
 * Words learned in a transaction that is rolled back are forgotten again through the driver's
 * commit listener, so the in-memory vocabulary matches the committed rows (a rollback to a
 * savepoint is not reported by SQLite and is not handled). Methods are synchronized; the
 * connection must not be used by another thread during a call.
 */
public final class BlindIndex implements AutoCloseable {
  /** Bytes of the keyed hash kept per token: 80 bits, so collisions stay below 2^-40 per pair. */
  public static final int TOKEN_BYTES = 10;

  private static final byte[] VOCAB_LABEL = "clawfs/v1/blind-vocab".getBytes(StandardCharsets.US_ASCII);
  private static final char[] BASE32 = "abcdefghijklmnopqrstuvwxyz234567".toCharArray();

  private final Connection conn;
  private final KeyedHash tokenKey;
  private final Sealer sealer;
  /** Unstemmed word to token. Guarded by itself (also touched by the commit listener). */
  private final TreeMap<String, String> vocabulary = new TreeMap<>();
  /** Words added since the last commit, dropped again on rollback. Guarded by vocabulary. */
  private final Set<String> uncommitted = new HashSet<>();
  private final SQLiteCommitListener listener;
  private final PreparedStatement deleteRow;
  private final PreparedStatement insertRow;
  private final PreparedStatement insertWord;
  private final PreparedStatement match;
  private boolean closed;

  /**
   * Opens the index in the caller's connection: creates its two tables if absent and loads the
   * vocabulary.
   *
   * @throws AuthenticationFailedException if a vocabulary row does not open under this key
   */
  public BlindIndex(Connection conn, KeyedHash tokenKey, Sealer sealer) throws SQLException {
    this.conn = Objects.requireNonNull(conn, "conn");
    this.tokenKey = Objects.requireNonNull(tokenKey, "tokenKey");
    this.sealer = Objects.requireNonNull(sealer, "sealer");
    try (Statement st = conn.createStatement()) {
      st.execute("CREATE VIRTUAL TABLE IF NOT EXISTS blind_fts USING fts5(body, tokenize='ascii',"
          + " detail=full, content='', contentless_delete=1)");
      st.execute("CREATE TABLE IF NOT EXISTS blind_vocab(id BLOB PRIMARY KEY, sealed BLOB NOT NULL)"
          + " WITHOUT ROWID");
      try (ResultSet rs = st.executeQuery("SELECT id, sealed FROM blind_vocab")) {
        while (rs.next()) {
          byte[] id = rs.getBytes(1);
          byte[] plain = sealer.open(rs.getBytes(2), vocabAad(id), "blind index vocabulary entry");
          String word = new String(plain, StandardCharsets.UTF_8);
          Arrays.fill(plain, (byte) 0);
          if (!Arrays.equals(id, wordId(word))) {
            throw new AuthenticationFailedException("blind index vocabulary entry under a wrong id");
          }
          vocabulary.put(word, token(Tokenizer.termOf(word)));
        }
      }
    }
    deleteRow = conn.prepareStatement("DELETE FROM blind_fts WHERE rowid = ?");
    insertRow = conn.prepareStatement("INSERT INTO blind_fts(rowid, body) VALUES (?, ?)");
    insertWord = conn.prepareStatement("INSERT OR IGNORE INTO blind_vocab(id, sealed) VALUES (?, ?)");
    match = conn.prepareStatement(
        "SELECT rowid, rank FROM blind_fts WHERE blind_fts MATCH ? ORDER BY rank LIMIT ?");
    listener = new SQLiteCommitListener() {
      @Override
      public void onCommit() {
        synchronized (vocabulary) {
          uncommitted.clear();
        }
      }

      @Override
      public void onRollback() {
        synchronized (vocabulary) {
          vocabulary.keySet().removeAll(uncommitted);
          uncommitted.clear();
        }
      }
    };
    if (conn.isWrapperFor(SQLiteConnection.class)) {
      conn.unwrap(SQLiteConnection.class).addCommitListener(listener);
    }
  }

  /** A search result: higher score is better (the negated FTS5 bm25). */
  public record Hit(long passageId, double score) {}

  /**
   * Hits and the prefixes that had more than {@value KeywordQuery#PREFIX_CAP} expansions, of which
   * only the shortest words were searched.
   */
  public record Results(List<Hit> hits, List<String> cappedPrefixes) {}

  /** Indexes a passage's text, replacing what was indexed under the same id. */
  public synchronized void put(long passageId, String text) throws SQLException {
    Objects.requireNonNull(text, "text");
    deleteRow.setLong(1, passageId);
    deleteRow.executeUpdate();
    StringBuilder body = new StringBuilder(text.length() / 2);
    Map<String, String> learned = new LinkedHashMap<>();
    Tokenizer.mapWords(text, w -> { // called once per distinct word of the text
      String t;
      synchronized (vocabulary) {
        t = vocabulary.get(w);
      }
      if (t == null) {
        t = token(Tokenizer.termOf(w));
        learned.put(w, t);
      }
      return t;
    }, t -> body.append(t).append(' '));
    if (!learned.isEmpty()) {
      for (String w : learned.keySet()) {
        byte[] id = wordId(w);
        byte[] plain = w.getBytes(StandardCharsets.UTF_8);
        insertWord.setBytes(1, id);
        insertWord.setBytes(2, sealer.seal(plain, vocabAad(id)));
        Arrays.fill(plain, (byte) 0);
        insertWord.addBatch();
      }
      insertWord.executeBatch();
      synchronized (vocabulary) {
        vocabulary.putAll(learned);
        uncommitted.addAll(learned.keySet());
      }
    }
    if (body.length() > 0) {
      body.setLength(body.length() - 1);
      insertRow.setLong(1, passageId);
      insertRow.setString(2, body.toString());
      insertRow.executeUpdate();
    }
  }

  /** Removes a passage; its words stay in the vocabulary. */
  public synchronized void delete(long passageId) throws SQLException {
    deleteRow.setLong(1, passageId);
    deleteRow.executeUpdate();
  }

  /** The best {@code limit} passages for a query by BM25, best first. */
  public List<Hit> search(KeywordQuery q, int limit) throws SQLException {
    return searchWithReport(q, limit).hits();
  }

  /** {@link #search}, also saying which prefixes were cut to {@value KeywordQuery#PREFIX_CAP}. */
  public synchronized Results searchWithReport(KeywordQuery q, int limit) throws SQLException {
    Objects.requireNonNull(q, "q");
    if (limit < 0) {
      throw new IllegalArgumentException("limit < 0: " + limit);
    }
    KeywordQuery.Rendered r = q.render(this::token, this::prefixTokens);
    if (r.expression().isEmpty() || limit == 0) {
      return new Results(List.of(), r.cappedPrefixes());
    }
    List<Hit> hits = new ArrayList<>();
    match.setString(1, r.expression().get());
    match.setInt(2, limit);
    try (ResultSet rs = match.executeQuery()) {
      while (rs.next()) {
        hits.add(new Hit(rs.getLong(1), -rs.getDouble(2)));
      }
    }
    return new Results(List.copyOf(hits), r.cappedPrefixes());
  }

  /** Distinct unstemmed words indexed so far (the vocabulary only grows). */
  public int vocabularySize() {
    synchronized (vocabulary) {
      return vocabulary.size();
    }
  }

  /**
   * Detaches from the connection (which stays open) and drops the in-memory vocabulary, the one
   * plaintext copy of the indexed words.
   */
  @Override
  public synchronized void close() throws SQLException {
    if (closed) {
      return;
    }
    closed = true;
    if (!conn.isClosed() && conn.isWrapperFor(SQLiteConnection.class)) {
      conn.unwrap(SQLiteConnection.class).removeCommitListener(listener);
    }
    synchronized (vocabulary) {
      vocabulary.clear();
      uncommitted.clear();
    }
    deleteRow.close();
    insertRow.close();
    insertWord.close();
    match.close();
  }

  /** The tokens of the vocabulary words starting with {@code prefix}, shortest words first. */
  private List<String> prefixTokens(String prefix) {
    List<Map.Entry<String, String>> found = new ArrayList<>();
    synchronized (vocabulary) {
      for (Map.Entry<String, String> e : vocabulary.tailMap(prefix, true).entrySet()) {
        if (!e.getKey().startsWith(prefix)) {
          break;
        }
        found.add(e);
      }
    }
    found.sort(Comparator.comparingInt((Map.Entry<String, String> e) -> e.getKey().length())
        .thenComparing(Map.Entry::getKey));
    Set<String> tokens = new LinkedHashSet<>();
    for (Map.Entry<String, String> e : found) {
      tokens.add(e.getValue());
    }
    return new ArrayList<>(tokens);
  }

  /** The FTS5 token of a term. */
  String token(String term) {
    byte[] h = tokenKey.hash16(term.getBytes(StandardCharsets.UTF_8));
    char[] out = new char[TOKEN_BYTES * 8 / 5];
    // Two groups of 5 bytes, each 40 bits = 8 base32 digits.
    for (int g = 0; g < 2; g++) {
      long v = 0;
      for (int i = 0; i < 5; i++) {
        v = (v << 8) | (h[g * 5 + i] & 0xFF);
      }
      for (int i = 7; i >= 0; i--) {
        out[g * 8 + i] = BASE32[(int) (v & 31)];
        v >>>= 5;
      }
    }
    Arrays.fill(h, (byte) 0);
    return new String(out);
  }

  /** Row key of a vocabulary word: two-part keyed hash, so it never equals a token's hash. */
  private byte[] wordId(String word) {
    return tokenKey.hash16(VOCAB_LABEL, word.getBytes(StandardCharsets.UTF_8));
  }

  static byte[] vocabAad(byte[] id) {
    byte[] aad = Arrays.copyOf(VOCAB_LABEL, VOCAB_LABEL.length + id.length);
    System.arraycopy(id, 0, aad, VOCAB_LABEL.length, id.length);
    return aad;
  }
}
