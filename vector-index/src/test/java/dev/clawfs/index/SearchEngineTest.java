package dev.clawfs.index;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.clawfs.crypto.KeyedHash;
import dev.clawfs.crypto.Sealer;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import javax.crypto.spec.SecretKeySpec;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The engine over an in-memory file system, with the real model and real SQLite: both phases
 * of indexing, the three ranking modes, hits checked against the live files, and persistence.
 */
class SearchEngineTest {
  @TempDir Path dir;
  private final Map<Long, String[]> files = new ConcurrentHashMap<>(); // ino -> {path, content}
  private final Map<Long, Long> stamps = new ConcurrentHashMap<>();
  private final byte[] k1 = new byte[32];
  private final byte[] k2 = new byte[32];
  private SearchEngine engine;

  private final SearchEngine.Source source = new SearchEngine.Source() {
    @Override
    public SearchEngine.FileRef file(long ino) {
      String[] f = files.get(ino);
      return f == null ? null : new SearchEngine.FileRef(ino, f[0], f[1].length(), stamps.get(ino));
    }

    @Override
    public byte[] read(long ino, int maxBytes) throws IOException {
      String[] f = files.get(ino);
      if (f == null) {
        throw new NoSuchFileException("inode " + ino);
      }
      return f[1].getBytes(StandardCharsets.UTF_8);
    }

    @Override
    public long[] allFiles() {
      return files.keySet().stream().mapToLong(Long::longValue).toArray();
    }

    @Override
    public long spareBytes() {
      return spare.get();
    }
  };
  private final java.util.concurrent.atomic.AtomicLong spare = new java.util.concurrent.atomic.AtomicLong(Long.MAX_VALUE);

  @BeforeEach
  void open() throws IOException {
    new SecureRandom().nextBytes(k1);
    new SecureRandom().nextBytes(k2);
    engine = start(OnnxEmbedder.DEFAULT);
  }

  private SearchEngine start(String model) throws IOException {
    return SearchEngine.open(dir, source, OnnxEmbedder.load(model, 2), Sealer.of(new SecretKeySpec(k1, "AES")),
        KeyedHash.of(new SecretKeySpec(k2, "AES")), SearchEngine.Settings.defaults());
  }

  @AfterEach
  void close() throws IOException {
    engine.close();
  }

  private void write(long ino, String path, String content) {
    files.put(ino, new String[] {path, content});
    stamps.merge(ino, 1L, Long::sum);
    engine.contentChanged(ino);
  }

  private List<String> paths(String query) throws Exception {
    return engine.search(SearchQuery.parse(query)).hits().stream().map(SearchEngine.Hit::path).toList();
  }

  private void idle() throws InterruptedException {
    assertTrue(engine.awaitIdle(60_000), "the indexer did not finish");
  }

  @Test
  void indexesInBothPhasesAndRanksEachWay() throws Exception {
    write(2, "/specs/keys.md", "Rotating the master key adds a new key to the keyset and makes it primary.");
    write(3, "/workspaces/garden.txt", "Tomatoes need six hours of sun and a deep pot on the balcony.");
    write(4, "/vault/token.txt", "the master key of the production database is hunter2");
    idle();
    SearchEngine.Status st = engine.status();
    assertEquals(2, st.indexedFiles(), "vault/ is not indexed");
    assertEquals(2, st.vectors());
    assertEquals(List.of("/specs/keys.md"), paths("text:keyset"));
    assertEquals(List.of("/specs/keys.md"), paths("text:\"master key\""));
    assertEquals("/workspaces/garden.txt", paths("semantic:growing vegetables in containers").get(0));
    assertEquals("/specs/keys.md", paths("how do I change the primary key").get(0));
    assertEquals(List.of("/workspaces/garden.txt"), paths("in:workspaces sun"));
    SearchEngine.Hit h = engine.search(SearchQuery.parse("keyset")).hits().get(0);
    assertTrue(h.passage().contains("keyset") && h.keywordRank() == 1, h.toString());
    assertThrows(SearchQuery.BadQueryException.class, () -> engine.search(SearchQuery.parse("text:(keyset")));
  }

  @Test
  void filesTheCallerMayNotReadNeitherShowNorTakeAPlace() throws Exception {
    for (int i = 0; i < 6; i++) {
      write(10 + i, "/agents/bob/memory/note" + i + ".md", "Bob's note " + i + " about rotating the master key.");
    }
    write(20, "/specs/keys.md", "Rotating the master key adds a new key to the keyset.");
    idle();
    SearchQuery q = SearchQuery.parse("limit:3 rotating the master key");
    assertEquals(3, engine.search(q).hits().size());
    java.util.function.Predicate<String> notBobs = p -> !p.startsWith("/agents/bob/");
    for (String query : List.of("limit:3 rotating the master key", "limit:3 text:master", "limit:3 semantic:master key")) {
      List<String> seen = engine.search(SearchQuery.parse(query), notBobs).hits().stream()
          .map(SearchEngine.Hit::path).toList();
      assertEquals(List.of("/specs/keys.md"), seen, query);
    }
  }

  @Test
  void waitsWhileTheDiskIsNearlyFullAndCatchesUpAfter() throws Exception {
    spare.set(SearchEngine.MIN_SPARE_BYTES - 1);
    write(2, "/specs/a.md", "the okapi grazes at dawn");
    Thread.sleep(2500); // well past the debounce
    SearchEngine.Status st = engine.status();
    assertFalse(engine.idle(), "the change is still queued");
    assertEquals(0, st.indexedFiles(), "nothing is written to the index while the disk is nearly full");
    assertTrue(st.paused() != null && st.paused().contains("nearly full"), String.valueOf(st.paused()));
    spare.set(Long.MAX_VALUE);
    idle();
    assertEquals(null, engine.status().paused());
    assertEquals(List.of("/specs/a.md"), paths("text:okapi"));
  }

  @Test
  void hitsFollowTheLiveFilesBeforeTheIndexCatchesUp() throws Exception {
    write(2, "/specs/a.md", "the okapi grazes at dawn");
    idle();
    SearchEngine.Hit h = engine.search(SearchQuery.parse("text:okapi")).hits().get(0);
    files.put(2L, new String[] {"/specs/renamed.md", "the okapi grazes at dawn"}); // renamed, no event yet
    assertFalse(engine.stillValid(h), "a listing drops a hit whose path moved");
    assertEquals(List.of("/specs/renamed.md"), paths("text:okapi"), "a new query shows the new path at once");
    stamps.merge(2L, 1L, Long::sum); // rewritten, not yet reindexed
    assertEquals(List.of(), paths("text:okapi"), "no hit on content that changed since it was indexed");
    files.put(2L, new String[] {"/vault/a.md", "the okapi grazes at dawn"});
    engine.namesChanged(2);
    idle();
    assertEquals(List.of(), paths("text:okapi"));
    assertEquals(0, engine.status().indexedFiles(), "moved into vault/: dropped from the index");
    files.remove(2L);
    engine.namesChanged(2);
    idle();
  }

  @Test
  void theIndexPersistsAndAModelChangeReembeds() throws Exception {
    write(2, "/specs/a.md", "Nonces are random and never reused.");
    idle();
    engine.close();
    engine = start(OnnxEmbedder.DEFAULT);
    idle();
    assertEquals(0, engine.status().embeddedPassages(), "nothing embedded again");
    assertEquals(List.of("/specs/a.md"), paths("text:nonces"));
    assertEquals(List.of("/specs/a.md"), paths("semantic:random numbers used once"));
    stamps.merge(2L, 1L, Long::sum); // changed while not mounted
    engine.close();
    engine = start("all-minilm-l6-v2");
    idle();
    assertEquals(1, engine.status().embeddedPassages(), "a changed file and a new model: embedded again");
    assertEquals(List.of("/specs/a.md"), paths("semantic:random numbers used once"));
  }

  @Test
  void skipsWhatItCannotIndexWithAReason() throws Exception {
    files.put(5L, new String[] {"/workspaces/blob.bin", "\u0000\u0001\u0002binary"});
    stamps.put(5L, 1L);
    engine.contentChanged(5);
    engine.reindex();
    idle();
    assertEquals(1, engine.status().skippedFiles());
    assertTrue(engine.recentlySkipped().get(0).startsWith("/workspaces/blob.bin\tbinary"), engine.recentlySkipped().toString());
  }

  @Test
  void indexCheckTellsABehindIndexFromADamagedOne() throws Exception {
    write(2, "/specs/keys.md", "Rotating the master key adds a new key to the keyset and makes it primary.");
    write(3, "/workspaces/garden.txt", "Tomatoes need six hours of sun and a deep pot on the balcony.");
    write(4, "/workspaces/gone.txt", "A file that will be deleted while the index is not looking.");
    idle();
    engine.close();
    Sealer sealer = Sealer.of(new SecretKeySpec(k1, "AES"));
    Map<Long, SearchEngine.FileRef> now = new java.util.HashMap<>();
    for (long ino : List.of(2L, 3L, 4L)) {
      now.put(ino, source.file(ino));
    }
    IndexCheck.Result clean = IndexCheck.run(dir, sealer, now, java.util.Set.of());
    assertTrue(clean.present());
    assertEquals(List.of(), clean.damage());
    assertEquals(List.of(3, 0, 0, 0), List.of(clean.docs(), clean.stale(), clean.gone(), clean.missing()));

    // behind, not damaged: one file changed, one deleted, one new, while the index was closed
    now.put(3L, new SearchEngine.FileRef(3, "/workspaces/garden.txt", 10, stamps.get(3L) + 1));
    now.remove(4L);
    now.put(5L, new SearchEngine.FileRef(5, "/workspaces/new.txt", 10, 1));
    now.put(6L, new SearchEngine.FileRef(6, "/workspaces/lost+found/7-old.txt", 10, 1)); // never indexed
    IndexCheck.Result behind = IndexCheck.run(dir, sealer, now, java.util.Set.of());
    assertEquals(List.of(), behind.damage());
    assertEquals(List.of(1, 1, 1), List.of(behind.stale(), behind.gone(), behind.missing()));

    try (java.sql.Connection c = java.sql.DriverManager.getConnection("jdbc:sqlite:" + dir.resolve("index.db"));
        java.sql.Statement s = c.createStatement()) {
      assertEquals(1, flipInRow(c, "passage", "body", "id = (SELECT min(id) FROM passage)", 40));
    }
    IndexCheck.Result damaged = IndexCheck.run(dir, sealer, now, java.util.Set.of());
    assertEquals(List.of("1 passages fail authentication (the index will not open)"), damaged.damage());
    assertFalse(IndexCheck.run(dir.resolve("nothing"), sealer, now, java.util.Set.of()).present());
  }

  /** Flips one bit of byte {@code offset} of a blob column in the rows {@code where} selects. */
  static int flipInRow(java.sql.Connection c, String table, String column, String where, int offset)
      throws java.sql.SQLException {
    java.util.List<Object[]> rows = new java.util.ArrayList<>();
    try (java.sql.Statement s = c.createStatement();
        java.sql.ResultSet rs = s.executeQuery("SELECT rowid, " + column + " FROM " + table + " WHERE " + where)) {
      while (rs.next()) {
        rows.add(new Object[] {rs.getLong(1), rs.getBytes(2)});
      }
    } catch (java.sql.SQLException e) {
      // WITHOUT ROWID tables: flip by the where clause itself
      rows.clear();
      try (java.sql.Statement s = c.createStatement();
          java.sql.ResultSet rs = s.executeQuery("SELECT " + column + " FROM " + table + " WHERE " + where)) {
        while (rs.next()) {
          rows.add(new Object[] {null, rs.getBytes(1)});
        }
      }
    }
    int n = 0;
    for (Object[] r : rows) {
      byte[] b = (byte[]) r[1];
      b[offset] ^= 0x10;
      String sql = "UPDATE " + table + " SET " + column + " = ? WHERE " + (r[0] == null ? where : "rowid = " + r[0]);
      try (java.sql.PreparedStatement ps = c.prepareStatement(sql)) {
        ps.setBytes(1, b);
        n += ps.executeUpdate();
      }
    }
    return n;
  }
}
