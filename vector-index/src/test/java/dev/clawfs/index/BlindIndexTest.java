package dev.clawfs.index;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.clawfs.crypto.AuthenticationFailedException;
import dev.clawfs.crypto.KeyedHash;
import dev.clawfs.crypto.Sealer;
import java.io.IOException;
import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.TreeSet;
import javax.crypto.spec.SecretKeySpec;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class BlindIndexTest {
  private static final SecureRandom RANDOM = new SecureRandom();

  @TempDir
  Path dir;

  private Path db;
  private byte[] tokenKey;
  private byte[] sealKey;
  private final List<AutoCloseable> open = new ArrayList<>();

  @BeforeEach
  void keys() {
    db = dir.resolve("index.db");
    tokenKey = random32();
    sealKey = random32();
  }

  @AfterEach
  void closeAll() throws Exception {
    for (int i = open.size() - 1; i >= 0; i--) {
      open.get(i).close();
    }
  }

  private static byte[] random32() {
    byte[] k = new byte[32];
    RANDOM.nextBytes(k);
    return k;
  }

  /** A caller-owned connection as the mount will have it: WAL, autocommit off. */
  private Connection connect() throws SQLException {
    Connection c = DriverManager.getConnection("jdbc:sqlite:" + db);
    try (Statement st = c.createStatement()) {
      st.execute("PRAGMA journal_mode=WAL");
    }
    c.setAutoCommit(false);
    open.add(c);
    return c;
  }

  private BlindIndex index(Connection c, byte[] tokenKeyBytes, byte[] sealKeyBytes) throws SQLException {
    BlindIndex idx = new BlindIndex(c, KeyedHash.of(new SecretKeySpec(tokenKeyBytes, "AES")),
        Sealer.of(new SecretKeySpec(sealKeyBytes, "AES")));
    open.add(idx);
    return idx;
  }

  private BlindIndex index(Connection c) throws SQLException {
    return index(c, tokenKey, sealKey);
  }

  private static List<Long> ids(BlindIndex idx, String query) throws SQLException {
    List<Long> out = new ArrayList<>();
    for (BlindIndex.Hit h : idx.search(KeywordQuery.parse(query), 100)) {
      out.add(h.passageId());
    }
    return out;
  }

  private static Set<Long> idSet(BlindIndex idx, String query) throws SQLException {
    return new TreeSet<>(ids(idx, query));
  }

  @Test
  void bm25RanksDenserMatchesFirst() throws SQLException {
    Connection c = connect();
    BlindIndex idx = index(c);
    idx.put(1, "The key is rotated every month. Key rotation keeps the key fresh; rotated keys expire.");
    idx.put(2, "A long passage about the vault that mentions a key once among many other words about"
        + " storage layout, chunks, headers, nonces, authentication tags and directory entries.");
    idx.put(3, "Gardens need water and sunlight.");
    c.commit();
    List<BlindIndex.Hit> hits = idx.search(KeywordQuery.parse("key"), 10);
    assertEquals(List.of(1L, 2L), hits.stream().map(BlindIndex.Hit::passageId).toList());
    assertTrue(hits.get(0).score() > hits.get(1).score(), hits.toString());
    assertTrue(hits.get(1).score() > 0, "higher is better, so scores are positive: " + hits);
    assertEquals(List.of(1L), ids(idx, "rotating keys"));
    assertEquals(List.of(1L), ids(idx, "ROTATED"));
    assertEquals(List.of(1L), idx.search(KeywordQuery.parse("key"), 1).stream()
        .map(BlindIndex.Hit::passageId).toList());
    assertEquals(List.of(), idx.search(KeywordQuery.parse("key"), 0));
  }

  @Test
  void phraseIsNotABagOfWords() throws SQLException {
    Connection c = connect();
    BlindIndex idx = index(c);
    idx.put(1, "Key rotation is scheduled weekly.");
    idx.put(2, "The rotation of the key is scheduled weekly.");
    assertEquals(Set.of(1L, 2L), idSet(idx, "key rotation"));
    assertEquals(List.of(1L), ids(idx, "\"key rotation\""));
    assertEquals(List.of(1L), ids(idx, "\"keys rotated\"")); // stems on both sides
    assertEquals(List.of(), ids(idx, "\"rotation key\""));
    assertEquals(List.of(2L), ids(idx, "\"rotation of the key\""));
  }

  @Test
  void prefixesExpandThroughTheSealedVocabulary() throws SQLException {
    Connection c = connect();
    BlindIndex idx = index(c);
    idx.put(1, "rotation");
    idx.put(2, "rotated");
    idx.put(3, "rotor");
    idx.put(4, "rodent");
    idx.put(5, "Über-rotation");
    assertEquals(5, idx.vocabularySize()); // rotation rotated rotor rodent über
    assertEquals(Set.of(1L, 2L, 5L), idSet(idx, "rota*"));
    assertEquals(Set.of(1L, 2L, 3L, 5L), idSet(idx, "rot*"));
    assertEquals(Set.of(1L, 2L, 3L, 4L, 5L), idSet(idx, "ro*"));
    // matched against unstemmed words: "rotati" is past the stem "rotat" yet finds "rotation"
    // (and, through the shared stem, "rotated")
    assertEquals(Set.of(1L, 2L, 5L), idSet(idx, "rotati*"));
    assertEquals(List.of(5L), ids(idx, "\"über rot\"*"));
    assertEquals(List.of(5L), ids(idx, "ÜBER*"));
    assertEquals(List.of(), ids(idx, "zebra*"));
    assertEquals(List.of(), ids(idx, "rodent zebra*")); // an AND with an empty prefix
    assertEquals(List.of(4L), ids(idx, "rodent OR zebra*"));
  }

  @Test
  void booleanOperatorsAndNear() throws SQLException {
    Connection c = connect();
    BlindIndex idx = index(c);
    idx.put(1, "alpha beta");
    idx.put(2, "alpha gamma");
    idx.put(3, "beta gamma");
    idx.put(4, "alpha one two three omega");
    idx.put(5, "alpha one two three four five six seven eight nine ten eleven omega");
    assertEquals(Set.of(2L, 4L, 5L), idSet(idx, "alpha NOT beta"));
    assertEquals(Set.of(1L, 2L, 3L, 4L, 5L), idSet(idx, "alpha OR beta"));
    assertEquals(Set.of(1L, 4L, 5L), idSet(idx, "(alpha OR beta) NOT gamma"));
    assertEquals(Set.of(1L), idSet(idx, "alpha AND beta"));
    assertEquals(Set.of(4L), idSet(idx, "NEAR(alpha omega, 3)"));
    assertEquals(Set.of(4L, 5L), idSet(idx, "NEAR(alpha omega, 20)"));
    assertEquals(Set.of(4L), idSet(idx, "NEAR(\"one two\" omega, 5)"));
    // default 10: passage 5 has exactly ten terms between "one two" and "omega"
    assertEquals(Set.of(4L, 5L), idSet(idx, "NEAR(\"one two\" omega)"));
  }

  @Test
  void putReplacesAndDeleteRemoves() throws SQLException {
    Connection c = connect();
    BlindIndex idx = index(c);
    idx.put(7, "apple pie");
    idx.put(7, "banana split");
    assertEquals(List.of(), ids(idx, "apple"));
    assertEquals(List.of(7L), ids(idx, "banana"));
    idx.delete(7);
    assertEquals(List.of(), ids(idx, "banana"));
    idx.delete(7); // deleting what is not there is fine
    idx.put(8, " -- ?! "); // no terms: nothing to index
    idx.put(7, "banana again");
    c.commit();
    assertEquals(List.of(7L), ids(idx, "banana"));
    // words stay in the vocabulary after their passages go (documented): apple pie banana split again
    assertEquals(5, idx.vocabularySize());
    assertEquals(List.of(), ids(idx, "appl*"));
  }

  @Test
  void persistsAcrossReopen() throws Exception {
    Connection c = connect();
    BlindIndex idx = index(c);
    idx.put(1, "Vault headers are sealed with the content key.");
    idx.put(2, "Chunks are sealed one by one.");
    c.commit();
    int vocabulary = idx.vocabularySize();
    idx.close();
    c.close();

    Connection c2 = connect();
    BlindIndex again = index(c2);
    assertEquals(vocabulary, again.vocabularySize());
    assertEquals(Set.of(1L, 2L), idSet(again, "sealing"));
    assertEquals(List.of(1L), ids(again, "\"content keys\""));
    assertEquals(List.of(2L), ids(again, "chunk*"));
  }

  @Test
  void aWrongKeyIsDetectedAtOpen() throws Exception {
    Connection c = connect();
    index(c).put(1, "secret words here");
    c.commit();
    assertThrows(AuthenticationFailedException.class, () -> index(c, tokenKey, random32()));
    // right sealing key, wrong token key: the words open but sit under ids of another key
    assertThrows(AuthenticationFailedException.class, () -> index(c, random32(), sealKey));
  }

  @Test
  void rolledBackWordsAreForgotten() throws Exception {
    Connection c = connect();
    BlindIndex idx = index(c);
    idx.put(1, "alpha");
    c.commit();
    idx.put(2, "quixotic zeppelin");
    assertEquals(3, idx.vocabularySize());
    c.rollback();
    assertEquals(1, idx.vocabularySize());
    assertEquals(List.of(), ids(idx, "quix*"));
    idx.put(2, "quixotic zeppelin"); // learned again, so its vocabulary rows are written again
    c.commit();
    idx.close();
    c.close();
    BlindIndex reopened = index(connect());
    assertEquals(3, reopened.vocabularySize());
    assertEquals(List.of(2L), ids(reopened, "quix*"));
  }

  @Test
  void prefixCapIsReported() throws SQLException {
    Connection c = connect();
    BlindIndex idx = index(c);
    for (int i = 0; i < 300; i++) {
      idx.put(i, "pfx" + i);
    }
    BlindIndex.Results r = idx.searchWithReport(KeywordQuery.parse("pfx*"), 1000);
    assertEquals(List.of("pfx"), r.cappedPrefixes());
    assertEquals(KeywordQuery.PREFIX_CAP, r.hits().size());
    // shortest words first: pfx0..pfx99 (5 chars or less) are all searched
    Set<Long> found = new TreeSet<>();
    r.hits().forEach(h -> found.add(h.passageId()));
    for (long i = 0; i < 100; i++) {
      assertTrue(found.contains(i), "pfx" + i);
    }
    assertEquals(List.of(), idx.searchWithReport(KeywordQuery.parse("pfx2*"), 1000).cappedPrefixes());
  }

  @Test
  void hostileQueriesReturnOrRefuseButNeverFailInSql() throws SQLException {
    Connection c = connect();
    BlindIndex idx = index(c);
    idx.put(1, "alpha \"beta\" (gamma) NOT delta / * OR AND NEAR");
    for (String q : new String[] {"\"", "*", "NEAR(", "a\" OR \"b", "'); DROP TABLE blind_fts; --",
        "alpha*\"*", "\"(gamma)\"", "NEAR(alpha gamma, 2)", "/ OR *", "ＮＯＴ", "\ud800*", "n*"}) {
      try {
        idx.search(KeywordQuery.parse(q), 10);
      } catch (KeywordQuery.SyntaxException expected) {
        assertTrue(expected.offset() >= 0);
      }
    }
    assertEquals(List.of(1L), ids(idx, "\"(gamma) NOT delta\""));
    assertEquals(List.of(1L), ids(idx, "NEAR(alpha gamma, 2)"));
  }

  @Test
  void largePassageKeepsPositions() throws SQLException {
    Connection c = connect();
    BlindIndex idx = index(c);
    StringBuilder big = new StringBuilder();
    for (int i = 0; i < 100_000; i++) {
      big.append("filler").append(i % 50).append(' ');
    }
    big.append("needle haystack");
    idx.put(1, big.toString());
    c.commit();
    assertEquals(List.of(1L), ids(idx, "\"needle haystack\""));
    assertEquals(List.of(), ids(idx, "\"haystack needle\""));
  }

  // ---- leakage ----

  private static final String[] INDEXED = {
      "The zanzibarian quetzalcoatlus befriended a xylophonist near Marmaladeboat harbour.",
      "Schwarzwaldklinik records mention Ångströmsvägen and a naïveté überraschung.",
      "Переворот в Жмеринке; 東京都庁 の 予算; mysteriousness of the quetzalcoatlus.",
      "Passphrase hunter2isbadpassword and account number 9876543210123 for Thaddeus.",
  };
  private static final String[] QUERIES = {
      "flibbertigibbet", "kerfuffle*", "\"hullabaloo brouhaha\"", "zanzibarian", "quetz*",
      "NEAR(xylophonist marmaladeboat)", "thaddeus NOT skedaddle", "überraschung", "Жмеринк*",
  };

  @Test
  void databaseAndWalHoldNoPlaintextWord() throws Exception {
    Connection c = connect();
    BlindIndex idx = index(c);
    for (int i = 0; i < INDEXED.length; i++) {
      idx.put(i + 1, INDEXED[i]);
    }
    c.commit();
    for (String q : QUERIES) {
      idx.search(KeywordQuery.parse(q), 10);
    }
    assertEquals(List.of(1L, 3L), ids(idx, "quetzalcoatlus"));
    c.commit();

    Set<String> secrets = new LinkedHashSet<>();
    for (String text : INDEXED) {
      Tokenizer.words(text, secrets::add); // every indexed (vocabulary) word
      secrets.addAll(Tokenizer.terms(text)); // and every stem
    }
    for (String q : QUERIES) {
      Tokenizer.words(q, secrets::add);
      secrets.addAll(Tokenizer.terms(q));
    }
    for (String w : List.copyOf(secrets)) {
      secrets.add(w.toUpperCase(Locale.ROOT));
      secrets.add(Character.toUpperCase(w.charAt(0)) + w.substring(1));
    }
    // Shorter words ("the", "and", single CJK characters) occur in the schema text or by chance
    // in binary data; everything distinctive is at least 6 characters (3 for CJK runs).
    secrets.removeIf(w -> w.length() < 6 && !w.equals("東京都庁"));
    secrets.add("東京都庁");
    assertTrue(secrets.size() > 40, secrets.toString());

    byte[] dbBytes = Files.readAllBytes(db);
    byte[] wal = Files.readAllBytes(dir.resolve("index.db-wal"));
    assertTrue(wal.length > 0, "the committed rows are in the WAL");
    assertNoneIn(secrets, dbBytes, "database");
    assertNoneIn(secrets, wal, "WAL");

    // Positive control: the scan does find a word that is stored in plain text.
    try (Statement st = c.createStatement()) {
      st.execute("CREATE TABLE control(t TEXT)");
      st.execute("INSERT INTO control VALUES ('canaryplaintextword')");
    }
    c.commit();
    byte[] walAfter = Files.readAllBytes(dir.resolve("index.db-wal"));
    assertTrue(indexOf(walAfter, "canaryplaintextword".getBytes(StandardCharsets.UTF_8)) >= 0);
    try (Statement st = c.createStatement()) {
      st.execute("DROP TABLE control");
    }
    c.commit();

    // After a checkpoint and close, the database file alone.
    idx.close();
    try (Statement st = c.createStatement()) {
      c.setAutoCommit(true);
      st.execute("PRAGMA wal_checkpoint(TRUNCATE)");
    }
    c.close();
    assertNoneIn(secrets, Files.readAllBytes(db), "checkpointed database");
  }

  private static void assertNoneIn(Set<String> words, byte[] haystack, String where) {
    List<String> found = new ArrayList<>();
    for (String w : words) {
      for (Charset cs : new Charset[] {StandardCharsets.UTF_8, StandardCharsets.UTF_16LE,
          StandardCharsets.UTF_16BE}) {
        if (indexOf(haystack, w.getBytes(cs)) >= 0) {
          found.add(w + " (" + cs + ")");
        }
      }
    }
    assertEquals(List.of(), found, "plaintext in the " + where);
  }

  private static int indexOf(byte[] haystack, byte[] needle) {
    outer:
    for (int i = 0; i + needle.length <= haystack.length; i++) {
      for (int j = 0; j < needle.length; j++) {
        if (haystack[i + j] != needle[j]) {
          continue outer;
        }
      }
      return i;
    }
    return -1;
  }

  @Test
  void tokensAreSixteenBase32CharsAndKeyed() throws SQLException {
    Connection c = connect();
    BlindIndex a = index(c);
    String t = a.token("rotat");
    assertTrue(t.matches("[a-z2-7]{16}"), t);
    assertEquals(t, a.token("rotat"));
    assertNotEquals(t, a.token("rotate"));
    BlindIndex other = new BlindIndex(c, KeyedHash.of(new SecretKeySpec(random32(), "AES")),
        Sealer.of(new SecretKeySpec(sealKey, "AES")));
    open.add(other);
    assertNotEquals(t, other.token("rotat"));
    assertFalse(t.contains("rotat"));
  }
}
