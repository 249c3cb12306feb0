package dev.clawfs.index;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.clawfs.crypto.AuthenticationFailedException;
import dev.clawfs.crypto.Sealer;
import dev.clawfs.index.VectorIndex.Hit;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.UnaryOperator;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import javax.crypto.spec.SecretKeySpec;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class VectorIndexTest {
  @TempDir Path dir;

  private Sealer sealer;
  private Path db;
  private Path snapshots;
  private Connection conn;

  @BeforeEach
  void setUp() throws SQLException {
    byte[] key = new byte[32];
    new SecureRandom().nextBytes(key);
    sealer = Sealer.of(new SecretKeySpec(key, "AES"));
    db = dir.resolve("index.db");
    snapshots = dir.resolve("snapshots");
    conn = connect();
  }

  @AfterEach
  void tearDown() throws SQLException {
    if (!conn.isClosed()) {
      conn.rollback();
      conn.close();
    }
  }

  @Test
  void putSearchRemoveReplace() throws SQLException {
    VectorIndex index = open(32);
    Random rnd = new Random(1);
    Map<Long, float[]> vectors = new HashMap<>();
    for (long id = 1; id <= 200; id++) {
      vectors.put(id, randomUnit(rnd, 32));
      index.put(id, vectors.get(id));
    }
    assertEquals(200, index.size());
    for (long id = 1; id <= 200; id += 17) {
      List<Hit> hits = index.search(vectors.get(id), 5);
      assertEquals(5, hits.size());
      assertEquals(id, hits.get(0).id());
      assertEquals(1f, hits.get(0).score(), 1e-5f);
      assertBestFirst(hits);
      assertEquals(index.exactSearch(vectors.get(id), 5), hits);
    }

    index.remove(5);
    index.remove(999); // absent: no effect
    assertEquals(199, index.size());
    assertFalse(ids(index.search(vectors.get(5L), 199)).contains(5L));
    assertFalse(ids(index.exactSearch(vectors.get(5L), 500)).contains(5L));

    float[] replacement = randomUnit(rnd, 32);
    index.put(7, replacement);
    index.put(7, replacement); // same vector again: no change
    assertEquals(199, index.size());
    Hit top = index.search(replacement, 1).get(0);
    assertEquals(7, top.id());
    assertEquals(1f, top.score(), 1e-5f);
    for (Hit h : index.search(vectors.get(7L), 199)) {
      if (h.id() == 7) {
        assertEquals(dot(vectors.get(7L), replacement), h.score(), 1e-5f, "scored by the new vector");
      }
    }

    // A vector that is not unit length is scaled; the score is still the cosine.
    float[] doubled = vectors.get(9L).clone();
    for (int i = 0; i < doubled.length; i++) {
      doubled[i] *= 2;
    }
    assertEquals(1f, index.search(doubled, 1).get(0).score(), 1e-5f);

    assertEquals(List.of(), index.search(vectors.get(9L), 0));
    assertEquals(199, index.search(vectors.get(9L), 1000).size());
    assertThrows(IllegalArgumentException.class, () -> index.search(vectors.get(9L), -1));
  }

  @Test
  void manyReplacementsNeverReturnStaleOrDuplicateIds() throws Exception {
    VectorIndex index = open(16);
    Random rnd = new Random(2);
    Map<Long, float[]> current = new HashMap<>();
    for (int round = 0; round < 5; round++) {
      for (long id = 0; id < 400; id++) {
        current.put(id, randomUnit(rnd, 16));
        index.put(id, current.get(id));
      }
    }
    for (long id = 0; id < 400; id += 3) {
      index.remove(id);
      current.remove(id);
    }
    assertEquals(current.size(), index.size());
    for (int q = 0; q < 50; q++) {
      float[] query = randomUnit(rnd, 16);
      List<Hit> hits = index.search(query, 20);
      assertEquals(20, new HashSet<>(ids(hits)).size(), "no duplicate ids");
      for (Hit h : hits) {
        assertTrue(current.containsKey(h.id()), "removed id " + h.id() + " returned");
        assertEquals(dot(query, current.get(h.id())), h.score(), 1e-5f, "stale vector scored");
      }
    }
    // Deleted nodes are compacted away when a snapshot is written.
    assertTrue(index.deletedNodes() >= VectorIndex.COMPACT_MIN_DELETED);
    conn.commit();
    index.saveSnapshot();
    assertEquals(0, index.deletedNodes());
    assertEquals(current.size(), index.size());
    float[] query = randomUnit(rnd, 16);
    assertEquals(index.exactSearch(query, 5), index.search(query, 5));
    VectorIndex reopened = reopen(16);
    assertTrue(reopened.loadedFromSnapshot());
    assertEquals(current.size(), reopened.size());
    assertEquals(index.exactSearch(query, 5), reopened.exactSearch(query, 5));
  }

  @Test
  void persistsAcrossReopenWithSnapshot() throws Exception {
    VectorIndex index = open(64);
    Map<Long, float[]> vectors = fill(index, 500, 64, new Random(3));
    conn.commit();
    assertTrue(index.snapshotStale());
    index.saveSnapshot();
    assertFalse(index.snapshotStale());
    assertTrue(Files.isRegularFile(snapshots.resolve(VectorIndex.SNAPSHOT_FILE)));
    float[] query = vectors.get(42L);
    List<Hit> before = index.search(query, 10);

    VectorIndex reopened = reopen(64);
    assertTrue(reopened.loadedFromSnapshot());
    assertFalse(reopened.snapshotStale());
    assertEquals(500, reopened.size());
    assertEquals(before, reopened.search(query, 10));
    assertEquals(index.exactSearch(query, 10), reopened.exactSearch(query, 10));
    assertEquals(42, reopened.search(query, 1).get(0).id());
  }

  @Test
  void persistsAcrossReopenWithoutSnapshot() throws Exception {
    VectorIndex index = open(64);
    Map<Long, float[]> vectors = fill(index, 500, 64, new Random(4));
    conn.commit();
    index.saveSnapshot();
    Files.delete(snapshots.resolve(VectorIndex.SNAPSHOT_FILE));
    Files.writeString(SealedSnapshot.tempFile(snapshots.resolve(VectorIndex.SNAPSHOT_FILE)), "torn");

    VectorIndex reopened = reopen(64);
    assertFalse(reopened.loadedFromSnapshot());
    assertTrue(reopened.snapshotStale(), "no snapshot on disk");
    assertFalse(Files.exists(SealedSnapshot.tempFile(snapshots.resolve(VectorIndex.SNAPSHOT_FILE))),
        "a leftover temporary file is removed");
    assertEquals(500, reopened.size());
    for (long id = 1; id <= 500; id += 49) {
      assertEquals(id, reopened.search(vectors.get(id), 1).get(0).id());
      assertEquals(index.exactSearch(vectors.get(id), 10), reopened.exactSearch(vectors.get(id), 10));
    }
  }

  @Test
  void reconcilesRowsChangedAfterTheSnapshot() throws Exception {
    VectorIndex index = open(32);
    Random rnd = new Random(5);
    Map<Long, float[]> vectors = fill(index, 300, 32, rnd);
    conn.commit();
    index.saveSnapshot();
    for (long id = 301; id <= 350; id++) {
      vectors.put(id, randomUnit(rnd, 32));
      index.put(id, vectors.get(id));
    }
    for (long id = 1; id <= 20; id++) {
      index.remove(id);
      vectors.remove(id);
    }
    Map<Long, float[]> replacedOld = new HashMap<>();
    for (long id = 100; id < 110; id++) {
      replacedOld.put(id, vectors.get(id));
      vectors.put(id, randomUnit(rnd, 32));
      index.put(id, vectors.get(id));
    }
    conn.commit();
    assertTrue(index.snapshotStale());

    VectorIndex reopened = reopen(32); // snapshot of 300, table of 330
    assertTrue(reopened.loadedFromSnapshot());
    assertTrue(reopened.snapshotStale(), "reconciled changes are not in the snapshot yet");
    assertEquals(330, reopened.size());
    for (long id = 1; id <= 20; id++) {
      assertFalse(ids(reopened.search(randomUnit(rnd, 32), 330)).contains(id), "removed " + id);
    }
    for (long id = 301; id <= 350; id++) {
      assertEquals(id, reopened.search(vectors.get(id), 1).get(0).id());
    }
    for (long id = 100; id < 110; id++) {
      assertEquals(id, reopened.search(vectors.get(id), 1).get(0).id());
      for (Hit h : reopened.exactSearch(replacedOld.get(id), 330)) {
        if (h.id() == id) {
          assertEquals(dot(replacedOld.get(id), vectors.get(id)), h.score(), 1e-5f);
        }
      }
    }
    reopened.saveSnapshot();
    assertFalse(reopened.snapshotStale());
    assertFalse(reopen(32).snapshotStale());
  }

  /**
   * Recall@10 of the graph against brute force on 20,000 clustered 384-dimension unit vectors:
   * 50 clusters, each a centre plus a random 128-dimension subspace plus isotropic noise, which
   * like text embeddings has a lower intrinsic dimension than its space (isotropic noise alone in
   * 384 dimensions makes every point nearly equidistant, unlike any real corpus). Tuned to be
   * about as hard as MiniLM embeddings of real text at low ef (recall@10 about 0.78 at ef 10 and
   * 0.92 at ef 20, against 0.85 and 0.94 for 20,000 text passages), so a weakened graph or
   * search shows.
   */
  @Test
  void recallAtTenIsAtLeastNinetyFivePercent() throws Exception {
    int dim = 384;
    int n = 20_000;
    ClusteredVectors data = new ClusteredVectors(dim, 50, 128, new Random(6));
    VectorIndex index = open(dim);
    long start = System.nanoTime();
    for (long id = 0; id < n; id++) {
      index.put(id, data.next());
    }
    conn.commit();
    double buildSeconds = (System.nanoTime() - start) / 1e9;
    int queries = 200;
    int found = 0;
    long searchNanos = 0;
    for (int q = 0; q < queries; q++) {
      float[] query = data.next();
      long t = System.nanoTime();
      List<Hit> approx = index.search(query, 10);
      searchNanos += System.nanoTime() - t;
      Set<Long> exact = new HashSet<>(ids(index.exactSearch(query, 10)));
      found += (int) approx.stream().filter(h -> exact.contains(h.id())).count();
    }
    double recall = found / (queries * 10.0);
    System.out.printf("VectorIndexTest recall@10 = %.4f on %d clustered %d-dim vectors (M=%d, "
            + "efConstruction=%d, ef=%d); %d puts took %.1f s; %.2f ms per search%n",
        recall, n, dim, VectorIndex.M, VectorIndex.EF_CONSTRUCTION, VectorIndex.EF, n, buildSeconds,
        searchNanos / 1e6 / queries);
    assertTrue(recall >= 0.95, "recall@10 " + recall);

    // The same graph read back from its snapshot searches as well.
    index.saveSnapshot();
    start = System.nanoTime();
    VectorIndex reopened = reopen(dim);
    double loadSeconds = (System.nanoTime() - start) / 1e9;
    assertTrue(reopened.loadedFromSnapshot());
    found = 0;
    for (int q = 0; q < queries; q++) {
      float[] query = data.next();
      Set<Long> exact = new HashSet<>(ids(reopened.exactSearch(query, 10)));
      found += (int) reopened.search(query, 10).stream().filter(h -> exact.contains(h.id())).count();
    }
    double reloadedRecall = found / (queries * 10.0);
    System.out.printf("VectorIndexTest after reopening from the snapshot (%.1f s): recall@10 = %.4f%n",
        loadSeconds, reloadedRecall);
    assertTrue(reloadedRecall >= 0.95, "recall@10 after reload " + reloadedRecall);
  }

  @Test
  void damagedSnapshotIsRebuiltFromTheTable() throws Exception {
    int dim = 384;
    VectorIndex index = open(dim);
    Map<Long, float[]> vectors = fill(index, 1500, dim, new Random(7));
    conn.commit();
    index.saveSnapshot();
    Path file = snapshots.resolve(VectorIndex.SNAPSHOT_FILE);
    byte[] good = Files.readAllBytes(file);
    index.saveSnapshot(); // same content, another generation
    byte[] otherGeneration = Files.readAllBytes(file);
    List<int[]> records = records(good);
    assertTrue(records.size() >= 3, "test needs several records, has " + records.size());
    assertEquals(records(otherGeneration).size(), records.size());
    int[] r0 = records.get(0);
    int[] r1 = records.get(1);
    int[] last = records.get(records.size() - 1);
    assertEquals(r0[1] - r0[0], r1[1] - r1[0], "full records have equal length");

    Map<String, UnaryOperator<byte[]>> damage = new HashMap<>();
    damage.put("flipped ciphertext byte", b -> flip(b, r1[0] + 100));
    damage.put("flipped generation byte", b -> flip(b, SealedSnapshot.HEADER_SIZE - 1));
    damage.put("flipped last flag", b -> flip(b, last[0]));
    damage.put("flipped length", b -> flip(b, r0[0] + 3));
    damage.put("truncated after a record", b -> Arrays.copyOf(b, last[0]));
    damage.put("truncated inside a record", b -> Arrays.copyOf(b, r1[0] + 1000));
    damage.put("truncated to nothing", b -> new byte[0]);
    damage.put("records swapped", b -> {
      byte[] out = b.clone();
      System.arraycopy(b, r1[0], out, r0[0], r1[1] - r1[0]);
      System.arraycopy(b, r0[0], out, r1[0], r0[1] - r0[0]);
      return out;
    });
    damage.put("record from another snapshot", b -> {
      byte[] out = b.clone();
      System.arraycopy(otherGeneration, r1[0], out, r1[0], r1[1] - r1[0]);
      return out;
    });
    damage.put("only the first two records", b -> Arrays.copyOf(b, r1[1]));
    damage.put("bytes appended", b -> {
      byte[] out = Arrays.copyOf(b, b.length + 1);
      out[b.length] = 1;
      return out;
    });

    conn.close();
    for (Map.Entry<String, UnaryOperator<byte[]>> d : damage.entrySet()) {
      Files.write(file, d.getValue().apply(good));
      conn = connect();
      VectorIndex reopened = new VectorIndex(conn, sealer, snapshots, dim);
      assertFalse(reopened.loadedFromSnapshot(), d.getKey() + " went unnoticed");
      assertEquals(1500, reopened.size(), d.getKey());
      for (long id = 1; id <= 1500; id += 499) {
        assertEquals(id, reopened.search(vectors.get(id), 1).get(0).id(), d.getKey());
      }
      conn.close();
    }
    // Control: the undamaged file loads.
    Files.write(file, good);
    conn = connect();
    assertTrue(new VectorIndex(conn, sealer, snapshots, dim).loadedFromSnapshot());
  }

  /** Set if a snapshot ever gets a Tripwire deserialized. */
  static volatile boolean tripped;

  /** A serializable class that the snapshot's class filter must refuse before readObject runs. */
  static final class Tripwire implements java.io.Serializable {
    private static final long serialVersionUID = 1L;

    private void readObject(java.io.ObjectInputStream in) throws java.io.IOException, ClassNotFoundException {
      in.defaultReadObject();
      tripped = true;
    }
  }

  @Test
  void authenticSnapshotWithForeignClassIsNotDeserialized() throws Exception {
    VectorIndex index = open(16);
    Map<Long, float[]> vectors = fill(index, 20, 16, new Random(14));
    conn.commit();
    // Sealed under the right key with a valid header: only the class filter stands in the way.
    Files.createDirectories(snapshots);
    SealedSnapshot.write(snapshots.resolve(VectorIndex.SNAPSHOT_FILE), sealer, out -> {
      java.io.DataOutputStream header = new java.io.DataOutputStream(out);
      header.writeInt(1);
      header.writeInt(16);
      header.writeInt(VectorIndex.M);
      header.writeInt(VectorIndex.EF_CONSTRUCTION);
      header.writeLong(0);
      header.flush();
      try (java.io.ObjectOutputStream objects = new java.io.ObjectOutputStream(out)) {
        objects.writeObject(new Tripwire());
      }
    });
    tripped = false;
    VectorIndex reopened = reopen(16);
    assertFalse(tripped, "a class outside the allow-list was deserialized");
    assertFalse(reopened.loadedFromSnapshot());
    assertEquals(20, reopened.size());
    assertEquals(7, reopened.search(vectors.get(7L), 1).get(0).id());
  }

  @Test
  void alteredRowFailsAuthentication() throws Exception {
    VectorIndex index = open(32);
    fill(index, 50, 32, new Random(8));
    conn.commit();
    index.saveSnapshot();
    byte[] row10 = blob(10);
    byte[] row11 = blob(11);

    setBlob(10, flip(row10, row10.length / 2));
    conn.commit();
    assertThrows(AuthenticationFailedException.class, () -> reopen(32), "with a snapshot");
    Files.delete(snapshots.resolve(VectorIndex.SNAPSHOT_FILE));
    assertThrows(AuthenticationFailedException.class, () -> reopen(32), "without a snapshot");

    // Intact rows moved to each other's ids: each is bound to its own id.
    setBlob(10, row11);
    setBlob(11, row10);
    conn.commit();
    assertThrows(AuthenticationFailedException.class, () -> reopen(32));
  }

  @Test
  void storesNoVectorInTheClear() throws Exception {
    int dim = 384;
    VectorIndex index = open(dim);
    Map<Long, float[]> vectors = fill(index, 300, dim, new Random(9));
    index.remove(3);
    conn.commit();
    index.saveSnapshot();
    conn.close();

    List<byte[]> patterns = new ArrayList<>();
    for (long id = 1; id <= 8; id++) {
      for (int i = 0; i < 16; i++) {
        float x = vectors.get(id)[i * 23];
        patterns.add(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putFloat(x).array());
        patterns.add(ByteBuffer.allocate(4).order(ByteOrder.BIG_ENDIAN).putFloat(x).array());
      }
    }
    // Control: the search finds every pattern in a plain encoding of the same vectors.
    ByteBuffer plain = ByteBuffer.allocate(8 * dim * 4).order(ByteOrder.LITTLE_ENDIAN);
    for (long id = 1; id <= 8; id++) {
      for (float x : vectors.get(id)) {
        plain.putFloat(x);
      }
    }
    assertTrue(occurrences(plain.array(), patterns) >= patterns.size() / 2);

    List<Path> files;
    try (Stream<Path> walk = Files.walk(dir)) {
      files = walk.filter(Files::isRegularFile).collect(Collectors.toList());
    }
    assertTrue(files.contains(db) && files.contains(snapshots.resolve(VectorIndex.SNAPSHOT_FILE)));
    long bytes = 0;
    int hits = 0;
    for (Path f : files) {
      byte[] content = Files.readAllBytes(f);
      bytes += content.length;
      hits += occurrences(content, patterns);
    }
    // Chance alone gives about bytes * 256 / 2^32 (under 0.1 here) hits of random 4-byte patterns;
    // a plaintext copy of the vectors would give at least 128.
    double expected = bytes * (double) patterns.size() / 4294967296.0;
    assertTrue(expected < 0.2, "files too large for this test: " + bytes);
    assertTrue(hits <= 3, hits + " float patterns of stored vectors found in " + files);
  }

  @Test
  void rejectsWrongDimensionsAndBadValues() throws Exception {
    VectorIndex index = open(8);
    assertThrows(IllegalArgumentException.class, () -> index.put(1, new float[7]));
    assertThrows(IllegalArgumentException.class, () -> index.put(1, new float[9]));
    assertThrows(IllegalArgumentException.class, () -> index.put(1, new float[8]), "zero vector");
    float[] nan = randomUnit(new Random(10), 8);
    nan[3] = Float.NaN;
    assertThrows(IllegalArgumentException.class, () -> index.put(1, nan));
    float[] inf = randomUnit(new Random(10), 8);
    inf[0] = Float.POSITIVE_INFINITY;
    assertThrows(IllegalArgumentException.class, () -> index.put(1, inf));
    assertEquals(0, index.size());
    index.put(1, randomUnit(new Random(11), 8));
    assertThrows(IllegalArgumentException.class, () -> index.search(new float[16], 1));
    assertThrows(IllegalArgumentException.class, () -> index.exactSearch(new float[4], 1));
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> index.search(randomUnit(new Random(12), 9), 1));
    assertTrue(e.getMessage().contains("9") && e.getMessage().contains("8"), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> open(0));
    conn.commit();
    index.saveSnapshot();
    // The table holds 8-dimension vectors: an index of another dimension cannot use them.
    assertThrows(IllegalStateException.class, () -> reopen(16));
  }

  @Test
  void concurrentSearchesDuringWrites() throws Exception {
    int dim = 64;
    VectorIndex index = open(dim);
    Random rnd = new Random(13);
    fill(index, 1000, dim, rnd);
    conn.commit();
    AtomicBoolean done = new AtomicBoolean();
    ConcurrentLinkedQueue<Throwable> failures = new ConcurrentLinkedQueue<>();
    int[] searches = new int[4];
    List<Thread> searchers = new ArrayList<>();
    for (int t = 0; t < 4; t++) {
      int slot = t;
      Random own = new Random(100 + t);
      Thread th = new Thread(() -> {
        try {
          while (!done.get()) {
            float[] q = randomUnit(own, dim);
            List<Hit> hits = slot % 2 == 0 ? index.search(q, 10) : index.exactSearch(q, 10);
            if (hits.size() != 10 || new HashSet<>(ids(hits)).size() != 10) {
              throw new AssertionError("bad result " + hits);
            }
            assertBestFirst(hits);
            index.size();
            searches[slot]++;
          }
        } catch (Throwable e) {
          failures.add(e);
        }
      });
      th.start();
      searchers.add(th);
    }
    for (int i = 0; i < 3000; i++) {
      long id = rnd.nextInt(2500) + 1; // inserts beyond the initial capacity, and replacements
      if (i % 10 == 9) {
        index.remove(id);
      } else {
        index.put(id, randomUnit(rnd, dim));
      }
      if (i == 1500) {
        index.saveSnapshot();
      }
    }
    conn.commit();
    done.set(true);
    for (Thread th : searchers) {
      th.join();
    }
    assertEquals(List.of(), List.copyOf(failures));
    assertTrue(Arrays.stream(searches).allMatch(s -> s > 0), Arrays.toString(searches));
    int rows;
    try (Statement s = conn.createStatement(); ResultSet rs = s.executeQuery("SELECT count(*) FROM vec")) {
      rs.next();
      rows = rs.getInt(1);
    }
    assertEquals(rows, index.size());
  }

  /**
   * Regression for what bench/search.sh found at 50,000 passages: vectors far from everything
   * else in the index (a new file on an unrelated topic) became unreachable in the graph, because
   * their neighbours' link lists were full of closer nodes and dropped the links back to them.
   * Here: one tight topic of 20,000 vectors, then a small second topic of 8 vectors, then more of
   * the first topic; a query near the second topic must find all 8 of them, as exact search does.
   */
  @Test
  void vectorsFarFromTheRestStayReachable() throws SQLException {
    int dim = 64;
    Random rnd = new Random(7);
    float[] topic = randomUnit(rnd, dim);
    float[] other = randomUnit(rnd, dim);
    VectorIndex index = open(dim);
    long id = 0;
    for (int i = 0; i < 20_000; i++) {
      index.put(id++, near(rnd, topic, 0.35f));
    }
    List<Long> outliers = new ArrayList<>();
    for (int i = 0; i < 8; i++) {
      outliers.add(id);
      index.put(id++, near(rnd, other, 0.35f));
    }
    for (int i = 0; i < 5_000; i++) {
      index.put(id++, near(rnd, topic, 0.35f));
    }
    conn.commit();
    int missed = 0;
    for (int trial = 0; trial < 20; trial++) {
      float[] q = near(rnd, other, 0.35f);
      Set<Long> exact = new HashSet<>();
      index.exactSearch(q, 8).forEach(h -> exact.add(h.id()));
      assertEquals(new HashSet<>(outliers), exact, "exact search finds the second topic");
      Set<Long> found = new HashSet<>();
      index.search(q, 8).forEach(h -> found.add(h.id()));
      for (long o : outliers) {
        if (!found.contains(o)) {
          missed++;
        }
      }
    }
    assertEquals(0, missed, "second-topic vectors missed by search over 20 queries ("
        + index.weaklyLinkedCount() + " vectors scored exactly)");
  }

  /** A unit vector near {@code centre}: the centre plus a random unit vector times {@code spread}. */
  private static float[] near(Random rnd, float[] centre, float spread) {
    float[] n = randomUnit(rnd, centre.length);
    float[] v = new float[centre.length];
    for (int i = 0; i < v.length; i++) {
      v[i] = centre[i] + spread * n[i];
    }
    return v;
  }

  // ---- helpers

  private Connection connect() throws SQLException {
    Connection c = DriverManager.getConnection("jdbc:sqlite:" + db);
    c.setAutoCommit(false);
    return c;
  }

  private VectorIndex open(int dim) throws SQLException {
    return new VectorIndex(conn, sealer, snapshots, dim);
  }

  /** Closes the connection (rolling back anything uncommitted) and opens the index afresh. */
  private VectorIndex reopen(int dim) throws SQLException {
    conn.rollback();
    conn.close();
    conn = connect();
    return open(dim);
  }

  private static Map<Long, float[]> fill(VectorIndex index, int n, int dim, Random rnd) throws SQLException {
    Map<Long, float[]> vectors = new HashMap<>();
    for (long id = 1; id <= n; id++) {
      vectors.put(id, randomUnit(rnd, dim));
      index.put(id, vectors.get(id));
    }
    return vectors;
  }

  private byte[] blob(long id) throws SQLException {
    try (PreparedStatement ps = conn.prepareStatement("SELECT v FROM vec WHERE id = ?")) {
      ps.setLong(1, id);
      try (ResultSet rs = ps.executeQuery()) {
        assertTrue(rs.next());
        return rs.getBytes(1);
      }
    }
  }

  private void setBlob(long id, byte[] v) throws SQLException {
    try (PreparedStatement ps = conn.prepareStatement("UPDATE vec SET v = ? WHERE id = ?")) {
      ps.setBytes(1, v);
      ps.setLong(2, id);
      assertEquals(1, ps.executeUpdate());
    }
  }

  /** [start, end) of each record (flags byte to the end of the sealed bytes). */
  private static List<int[]> records(byte[] file) {
    List<int[]> out = new ArrayList<>();
    int off = SealedSnapshot.HEADER_SIZE;
    while (off < file.length) {
      int len = ByteBuffer.wrap(file, off + 1, 4).getInt();
      int end = off + SealedSnapshot.RECORD_HEADER_SIZE + len;
      out.add(new int[] {off, end});
      off = end;
    }
    assertEquals(file.length, off);
    return out;
  }

  private static byte[] flip(byte[] b, int at) {
    byte[] out = b.clone();
    out[at] ^= 0x01;
    return out;
  }

  private static int occurrences(byte[] haystack, List<byte[]> patterns) {
    int hits = 0;
    for (byte[] p : patterns) {
      outer:
      for (int i = 0; i + p.length <= haystack.length; i++) {
        for (int j = 0; j < p.length; j++) {
          if (haystack[i + j] != p[j]) {
            continue outer;
          }
        }
        hits++;
      }
    }
    return hits;
  }

  private static List<Long> ids(List<Hit> hits) {
    return hits.stream().map(Hit::id).collect(Collectors.toList());
  }

  private static void assertBestFirst(List<Hit> hits) {
    for (int i = 1; i < hits.size(); i++) {
      if (hits.get(i - 1).score() < hits.get(i).score()) {
        throw new AssertionError("not best first: " + hits);
      }
    }
  }

  private static float dot(float[] a, float[] b) {
    double s = 0;
    for (int i = 0; i < a.length; i++) {
      s += (double) a[i] * b[i];
    }
    return (float) s;
  }

  static float[] randomUnit(Random rnd, int dim) {
    float[] v = new float[dim];
    for (int i = 0; i < dim; i++) {
      v[i] = (float) rnd.nextGaussian();
    }
    return normalize(v);
  }

  private static float[] normalize(float[] v) {
    double s = 0;
    for (float x : v) {
      s += (double) x * x;
    }
    double norm = Math.sqrt(s);
    for (int i = 0; i < v.length; i++) {
      v[i] = (float) (v[i] / norm);
    }
    return v;
  }

  /** Unit vectors drawn around random centres, each spread over its own low-dimension subspace. */
  private static final class ClusteredVectors {
    private final int dim;
    private final int local;
    private final Random rnd;
    private final float[][] centres;
    private final float[][][] bases;

    ClusteredVectors(int dim, int clusters, int local, Random rnd) {
      this.dim = dim;
      this.local = local;
      this.rnd = rnd;
      centres = new float[clusters][];
      bases = new float[clusters][local][];
      for (int c = 0; c < clusters; c++) {
        centres[c] = randomUnit(rnd, dim);
        for (int j = 0; j < local; j++) {
          bases[c][j] = randomUnit(rnd, dim);
        }
      }
    }

    float[] next() {
      int c = rnd.nextInt(centres.length);
      float[] v = centres[c].clone();
      double spread = 1.2 / Math.sqrt(local);
      for (int j = 0; j < local; j++) {
        float z = (float) (rnd.nextGaussian() * spread);
        for (int i = 0; i < dim; i++) {
          v[i] += z * bases[c][j][i];
        }
      }
      double noise = 0.6 / Math.sqrt(dim);
      for (int i = 0; i < dim; i++) {
        v[i] += (float) (rnd.nextGaussian() * noise);
      }
      return normalize(v);
    }
  }
}
