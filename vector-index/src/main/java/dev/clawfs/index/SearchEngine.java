package dev.clawfs.index;

import dev.clawfs.crypto.KeyedHash;
import dev.clawfs.crypto.Sealer;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.System.Logger.Level;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.FutureTask;
import java.util.concurrent.SynchronousQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Predicate;

/**
 * The search index of one vault: follows the files (through {@link Source} and change events),
 * keeps a blind keyword index and a vector index of their passages, and answers queries.
 *
 * <p>Indexing runs on one background thread in two phases per file: first the keyword index (a
 * few milliseconds, so a new file is found by keyword within the debounce), then embeddings in
 * batches, interleaved with keyword work so that a large backlog of embeddings never delays the
 * keyword index. Writes to the file system never wait for any of it.
 *
 * <p>Nothing stale is ever returned: a hit is checked against the live file system when the
 * query runs (the file must still have a visible path, outside vault/, in scope, with the very
 * content stamp that was indexed).
 *
 * <p>Storage (in the vault's index/ directory): SQLite {@code index.db} holding the blind FTS5
 * index ({@link BlindIndex}), the sealed vectors ({@link VectorIndex}), and two tables of this
 * class: {@code doc} (per file: stamp, passage count, state; sealed) and {@code passage} (each
 * passage's text and offsets, sealed, for snippets and re-embedding). Passage ids are
 * {@code ino << 20 | index}, so a file's passages are one id range.
 */
public final class SearchEngine implements AutoCloseable {
  private static final System.Logger LOG = System.getLogger("clawfs.index");
  static final int PASSAGE_BITS = 20;
  static final int MAX_PASSAGES = 1 << PASSAGE_BITS;
  private static final int EMBED_BATCH = 32;
  private static final int KEYWORD_BATCH = 256;
  private static final int SKIPPED_KEPT = 50;
  /**
   * Below this much spare space ({@link Source#spareBytes}) the index writes nothing and waits:
   * index data must never take the reserve the file system keeps for its metadata, or the commit
   * that frees the space of deleted files could not be written (FullDiskIT). One transaction
   * writes well under this.
   */
  static final long MIN_SPARE_BYTES = 2L << 20;
  /** Where the repair puts what it could not leave in place (VaultCheck.LOST_FOUND_PATH). */
  private static final String LOST_FOUND = "/workspaces/lost+found/";

  /** The file system as the index sees it. */
  public interface Source {
    /** The file's current visible path and content stamp, or null when it is gone or not a regular file. */
    FileRef file(long ino);

    /** The whole content; {@link java.nio.file.NoSuchFileException} when the file is gone. */
    byte[] read(long ino, int maxBytes) throws IOException;

    /** All regular files (for a full reindex). */
    long[] allFiles();

    /**
     * Bytes the index may still take on the vault's disk (what is free beyond the reserve the
     * file system keeps for its own metadata), or {@link Long#MAX_VALUE} when unknown.
     */
    default long spareBytes() {
      return Long.MAX_VALUE;
    }
  }

  /** A file: its current path in the mount ("/specs/a.md"), size and content stamp. */
  public record FileRef(long ino, String path, long size, long stamp) {}

  /** Tunables; {@link #defaults()} are what the mount uses. */
  public record Settings(int debounceMs, int maxFileBytes, int candidates, int rrfK, double keywordWeight,
      double semanticWeight, int snapshotIdleMs) {
    public static Settings defaults() {
      return new Settings(200, (int) TextExtractor.MAX_INDEXED_BYTES, 200, 10, 1.0, 1.0, 30_000);
    }
  }

  /** One ranked file. Ranks are 1-based positions in each method's list, 0 when absent. */
  public record Hit(long ino, String path, double score, String passage, int keywordRank, int semanticRank) {}

  public record Results(SearchQuery query, List<Hit> hits, long tookMicros) {}

  /** Per file: the stamp indexed, passages, and how far embedding got. */
  static final class Doc {
    long stamp;
    int passages;
    int embedded;
    String skipped; // reason, or null when indexed

    boolean vectorsDone() {
      return embedded >= passages;
    }
  }

  private final Source source;
  private final Embedder embedder;
  private final Settings settings;
  private final Chunker chunker = Chunker.defaults();
  private final Sealer sealer;
  private final Connection conn;
  private final ReentrantLock db = new ReentrantLock();
  private final BlindIndex keywords;
  private final VectorIndex vectors;
  private final Map<Long, Doc> docs = new ConcurrentHashMap<>();

  // work queues: changed files (due time), then files whose embeddings are pending
  private final Map<Long, Long> pending = new ConcurrentHashMap<>();
  private final Deque<Long> embedQueue = new ArrayDeque<>();
  private final Object signal = new Object();
  private final Thread worker;
  private volatile boolean closing;
  private volatile boolean working;
  private volatile long lastChangeNanos = System.nanoTime();

  // status
  private final AtomicLong indexedFiles = new AtomicLong();
  private final AtomicLong embeddedPassages = new AtomicLong();
  private final AtomicLong failures = new AtomicLong();
  private final AtomicLong generation = new AtomicLong();
  private volatile String lastError;
  /** Why indexing waits (the disk is nearly full), or null. */
  private volatile String paused;
  private final Deque<String> skippedLog = new ArrayDeque<>();
  private volatile long embedNanos;
  private volatile long reindexTotal;
  /**
   * Runs the semantic side of hybrid queries (embedding the query, then the HNSW search) while the
   * calling thread runs the keyword side, so a query takes the longer of the two rather than their
   * sum. A few threads that end when idle; when all are busy the caller runs both sides itself.
   */
  private final ThreadPoolExecutor querySide;

  private SearchEngine(Source source, Embedder embedder, Settings settings, Sealer sealer, Connection conn,
      BlindIndex keywords, VectorIndex vectors) {
    this.source = source;
    this.embedder = embedder;
    this.settings = settings;
    this.sealer = sealer;
    this.conn = conn;
    this.keywords = keywords;
    this.vectors = vectors;
    this.worker = new Thread(this::run, "clawfs-indexer");
    this.worker.setDaemon(true);
    AtomicLong n = new AtomicLong();
    this.querySide = new ThreadPoolExecutor(0, 4, 30, TimeUnit.SECONDS, new SynchronousQueue<>(), r -> {
      Thread t = new Thread(r, "clawfs-query-" + n.incrementAndGet());
      t.setDaemon(true);
      return t;
    }, new ThreadPoolExecutor.CallerRunsPolicy());
  }

  /**
   * Opens (creating if needed) the index in {@code dir}. When the stored index was built with a
   * different model, its vectors are dropped and every file is embedded again.
   */
  public static SearchEngine open(Path dir, Source source, Embedder embedder, Sealer sealer, KeyedHash tokenKey,
      Settings settings) throws IOException {
    Files.createDirectories(dir);
    try {
      Connection conn = DriverManager.getConnection("jdbc:sqlite:" + dir.resolve("index.db"));
      try (Statement s = conn.createStatement()) {
        s.execute("PRAGMA journal_mode=WAL");
        s.execute("PRAGMA synchronous=NORMAL");
        s.execute("CREATE TABLE IF NOT EXISTS setting (k TEXT PRIMARY KEY, v TEXT NOT NULL)");
        s.execute("CREATE TABLE IF NOT EXISTS doc (ino INTEGER PRIMARY KEY, state BLOB NOT NULL)");
        s.execute("CREATE TABLE IF NOT EXISTS passage (id INTEGER PRIMARY KEY, body BLOB NOT NULL)");
      }
      conn.setAutoCommit(false);
      String model = embedder.name() + "/" + embedder.dimension();
      String stored = setting(conn, "model");
      if (stored != null && !stored.equals(model)) {
        LOG.log(Level.INFO, "the embedding model changed ({0} -> {1}): every file is embedded again", stored, model);
        try (Statement s = conn.createStatement()) {
          s.execute("DROP TABLE IF EXISTS vec");
        }
        Files.deleteIfExists(dir.resolve("hnsw.sealed"));
      }
      try (PreparedStatement ps = conn.prepareStatement("INSERT OR REPLACE INTO setting VALUES ('model', ?)")) {
        ps.setString(1, model);
        ps.executeUpdate();
      }
      BlindIndex keywords = new BlindIndex(conn, tokenKey, sealer);
      VectorIndex vectors = new VectorIndex(conn, sealer, dir, embedder.dimension());
      conn.commit();
      SearchEngine e = new SearchEngine(source, embedder, settings, sealer, conn, keywords, vectors);
      e.load(stored != null && !stored.equals(model));
      e.worker.start();
      return e;
    } catch (SQLException e) {
      throw new IOException("search index: " + e.getMessage(), e);
    }
  }

  private static String setting(Connection conn, String key) throws SQLException {
    try (PreparedStatement ps = conn.prepareStatement("SELECT v FROM setting WHERE k = ?")) {
      ps.setString(1, key);
      try (ResultSet rs = ps.executeQuery()) {
        return rs.next() ? rs.getString(1) : null;
      }
    }
  }

  private void load(boolean modelChanged) throws SQLException {
    try (Statement s = conn.createStatement(); ResultSet rs = s.executeQuery("SELECT ino, state FROM doc")) {
      while (rs.next()) {
        long ino = rs.getLong(1);
        Doc d = decodeDoc(sealer.open(rs.getBytes(2), docAad(ino), "index state of a file"));
        if (modelChanged) {
          d.embedded = 0;
        }
        docs.put(ino, d);
        if (d.skipped == null) {
          indexedFiles.incrementAndGet();
          if (!d.vectorsDone()) {
            embedQueue.add(ino);
          }
        }
      }
    }
    // files that changed while the index was not running (a crash between a write and its
    // indexing) are found by comparing stamps once at start
    for (long ino : source.allFiles()) {
      Doc d = docs.get(ino);
      FileRef f = source.file(ino);
      if (f != null && indexable(f.path()) && (d == null || d.stamp != f.stamp())) {
        pending.put(ino, System.nanoTime());
      }
    }
    for (long ino : docs.keySet()) {
      FileRef f = source.file(ino);
      if (f == null || !indexable(f.path())) {
        pending.put(ino, System.nanoTime());
      }
    }
  }

  // ================================================================== events

  /** A file's content changed: it is indexed again after the debounce. */
  public void contentChanged(long ino) {
    pending.put(ino, System.nanoTime() + settings.debounceMs() * 1_000_000L);
    lastChangeNanos = System.nanoTime();
    wake();
  }

  /**
   * A file or directory was renamed or removed: it is checked at once (only recorded here: this
   * runs on a file system thread that may hold its locks).
   */
  public void namesChanged(long ino) {
    pending.put(ino, System.nanoTime());
    lastChangeNanos = System.nanoTime();
    wake();
  }

  /** Drops the whole index and indexes every file again. */
  public void reindex() {
    db.lock();
    try {
      for (long ino : new ArrayList<>(docs.keySet())) {
        deleteDoc(ino);
      }
      conn.commit();
      generation.incrementAndGet();
    } catch (SQLException e) {
      fail("reindex", e);
    } finally {
      db.unlock();
    }
    synchronized (embedQueue) {
      embedQueue.clear();
    }
    long now = System.nanoTime();
    long[] all = source.allFiles();
    reindexTotal = all.length;
    for (long ino : all) {
      pending.put(ino, now);
    }
    wake();
  }

  private void wake() {
    synchronized (signal) {
      signal.notifyAll();
    }
  }

  /**
   * True for paths the index covers: everything but vault/, version-control internals and
   * /workspaces/lost+found/, where `clawfs check --repair` puts damaged files and files whose name
   * was lost (a secret from vault/ among them, for all it knows).
   */
  static boolean indexable(String path) {
    if (path.equals("/vault") || path.startsWith("/vault/") || path.startsWith(LOST_FOUND)) {
      return false;
    }
    return !(path.contains("/.git/") || path.contains("/.hg/") || path.contains("/.svn/"));
  }

  // ================================================================== the worker

  private void run() {
    while (!closing) {
      try {
        if (!roomToWrite()) {
          synchronized (signal) {
            if (!closing) {
              signal.wait(1000);
            }
          }
          continue;
        }
        boolean worked = processDue();
        if (!worked) {
          worked = embedOneBatch();
        }
        if (!worked) {
          maybeSnapshot();
          long wait = nextDueMillis();
          synchronized (signal) {
            if (!closing && nextDueMillis() > 0) {
              signal.wait(Math.max(1, Math.min(wait, 1000)));
            }
          }
        }
      } catch (InterruptedException e) {
        return;
      } catch (RuntimeException e) {
        fail("indexer", e);
      }
    }
  }

  /**
   * Whether the index may write now and keep {@link #MIN_SPARE_BYTES} spare; when not, indexing
   * is paused (status says why) until there is room again. Checked before every transaction.
   */
  private boolean roomToWrite() {
    long spare = source.spareBytes();
    if (spare >= MIN_SPARE_BYTES) {
      if (paused != null) {
        paused = null;
        LOG.log(Level.INFO, "indexing resumed: the disk of the vault has room again");
      }
      return true;
    }
    if (paused == null) {
      LOG.log(Level.WARNING, "indexing paused: the disk of the vault is nearly full");
    }
    paused = "the vault's disk is nearly full (" + Math.max(0, spare >> 20) + " MiB spare, indexing needs "
        + (MIN_SPARE_BYTES >> 20) + " MiB)";
    return false;
  }

  /** Milliseconds until the next pending change is due (0 when one is due now). */
  private long nextDueMillis() {
    long now = System.nanoTime();
    long best = Long.MAX_VALUE;
    for (long due : pending.values()) {
      best = Math.min(best, due);
    }
    boolean embedding;
    synchronized (embedQueue) {
      embedding = !embedQueue.isEmpty();
    }
    if (embedding) {
      return 0;
    }
    return best == Long.MAX_VALUE ? 1000 : Math.max(0, (best - now) / 1_000_000L);
  }

  /** Indexes every change that is due (keywords only); true when there was any. */
  private boolean processDue() {
    long now = System.nanoTime();
    List<Long> due = new ArrayList<>();
    for (Map.Entry<Long, Long> e : pending.entrySet()) {
      if (e.getValue() <= now) {
        due.add(e.getKey());
      }
    }
    if (due.isEmpty()) {
      return false;
    }
    working = true;
    try {
      for (long ino : due) {
        Long at = pending.get(ino);
        if (at == null || at > now || !pending.remove(ino, at)) {
          continue; // changed again meanwhile: its new debounce applies
        }
        if (ino == -1L) {
          recheckAll();
        } else {
          indexFile(ino);
        }
      }
    } finally {
      working = false;
    }
    return true;
  }

  /** After a directory rename or removal: forget files gone or moved into vault/, pick up files moved out. */
  private void recheckAll() {
    for (long ino : new ArrayList<>(docs.keySet())) {
      FileRef f = source.file(ino);
      if (f == null || !indexable(f.path())) {
        indexFile(ino);
      }
    }
    for (long ino : source.allFiles()) {
      if (!docs.containsKey(ino)) {
        FileRef f = source.file(ino);
        if (f != null && indexable(f.path())) {
          indexFile(ino);
        }
      }
    }
  }

  private void indexFile(long ino) {
    FileRef f = source.file(ino);
    Doc old = docs.get(ino);
    if (f == null && old == null) {
      // a directory, or a file never indexed: files below a renamed directory may have moved
      // into or out of vault/, so every path is checked (once per batch of such events)
      pending.putIfAbsent(-1L, System.nanoTime());
      return;
    }
    if (f == null || !indexable(f.path())) {
      removeDoc(ino);
      return;
    }
    if (old != null && old.stamp == f.stamp()) {
      return;
    }
    Doc d = new Doc();
    List<Passage> passages = List.of();
    if (f.size() > settings.maxFileBytes()) {
      d.skipped = TextExtractor.tooLarge(f.size()).reason();
      d.stamp = f.stamp();
    } else {
      byte[] content;
      try {
        content = source.read(ino, settings.maxFileBytes());
      } catch (java.nio.file.NoSuchFileException e) {
        removeDoc(ino);
        return;
      } catch (IOException e) {
        failures.incrementAndGet();
        skipped(f.path(), "cannot read: " + e.getMessage());
        return;
      }
      FileRef now = source.file(ino);
      if (now == null) {
        removeDoc(ino);
        return;
      }
      d.stamp = now.stamp(); // what was read is at least this new; a later change re-queues it
      TextExtractor.Result r = TextExtractor.extract(fileName(f.path()), content);
      if (r instanceof TextExtractor.Skipped s) {
        d.skipped = s.reason();
      } else {
        passages = chunker.chunk(((TextExtractor.Text) r).text());
        if (passages.size() > MAX_PASSAGES) {
          passages = passages.subList(0, MAX_PASSAGES);
        }
      }
    }
    d.passages = passages.size();
    // in batches, each its own transaction, so that queries are not held up by a big file; the
    // file's record (and with it its new stamp) is written last, and until then its passages
    // cannot be hits (a hit needs the indexed stamp to equal the file's)
    int done = 0;
    do {
      if (!roomToWrite()) {
        pending.putIfAbsent(ino, System.nanoTime()); // again once there is room
        return;
      }
      db.lock();
      try {
        if (done == 0) {
          deleteDoc(ino);
        }
        int end = Math.min(passages.size(), done + KEYWORD_BATCH);
        try (PreparedStatement ps = conn.prepareStatement("INSERT INTO passage (id, body) VALUES (?, ?)")) {
          for (Passage p : passages.subList(done, end)) {
            long id = passageId(ino, p.index());
            keywords.put(id, p.text());
            ps.setLong(1, id);
            ps.setBytes(2, sealer.seal(encodePassage(p), passageAad(id)));
            ps.addBatch();
          }
          ps.executeBatch();
        }
        done = end;
        if (done == passages.size()) {
          writeDoc(ino, d);
          docs.put(ino, d);
        }
        conn.commit();
        generation.incrementAndGet();
      } catch (SQLException e) {
        rollback();
        fail("indexing a file", e);
        if (String.valueOf(e.getMessage()).contains("SQLITE_FULL")) {
          pending.putIfAbsent(ino, System.nanoTime() + 1_000_000_000L); // again once there is space
        }
        return;
      } finally {
        db.unlock();
      }
    } while (done < passages.size());
    if (d.skipped != null) {
      skipped(f.path(), d.skipped);
    } else {
      indexedFiles.incrementAndGet();
      if (d.passages > 0) {
        synchronized (embedQueue) {
          embedQueue.remove(ino);
          embedQueue.add(ino);
        }
      }
    }
  }

  /** Drops a file from the index, if it is there. */
  private void removeDoc(long ino) {
    if (!docs.containsKey(ino)) {
      return;
    }
    db.lock();
    try {
      deleteDoc(ino);
      conn.commit();
      generation.incrementAndGet();
    } catch (SQLException e) {
      rollback();
      fail("removing a file from the index", e);
    } finally {
      db.unlock();
    }
    synchronized (embedQueue) {
      embedQueue.remove(ino);
    }
  }

  /**
   * Deletes a file's rows (db lock held, caller commits). The passage table lists what is in the
   * keyword and vector indexes (rows go in together), so even the passages of an indexing cut
   * short by a crash are found and removed.
   */
  private void deleteDoc(long ino) throws SQLException {
    Doc old = docs.remove(ino);
    if (old != null && old.skipped == null) {
      indexedFiles.decrementAndGet();
    }
    List<Long> ids = new ArrayList<>();
    try (PreparedStatement ps = conn.prepareStatement("SELECT id FROM passage WHERE id >= ? AND id < ?")) {
      ps.setLong(1, passageId(ino, 0));
      ps.setLong(2, passageId(ino + 1, 0));
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          ids.add(rs.getLong(1));
        }
      }
    }
    for (long id : ids) {
      keywords.delete(id);
      vectors.remove(id);
    }
    try (PreparedStatement ps = conn.prepareStatement("DELETE FROM passage WHERE id >= ? AND id < ?")) {
      ps.setLong(1, passageId(ino, 0));
      ps.setLong(2, passageId(ino + 1, 0));
      ps.executeUpdate();
    }
    try (PreparedStatement ps = conn.prepareStatement("DELETE FROM doc WHERE ino = ?")) {
      ps.setLong(1, ino);
      ps.executeUpdate();
    }
  }

  /** Embeds the next batch of passages of the file at the head of the queue; true when there was one. */
  private boolean embedOneBatch() {
    long ino;
    synchronized (embedQueue) {
      if (embedQueue.isEmpty()) {
        return false;
      }
      ino = embedQueue.peekFirst();
    }
    Doc d = docs.get(ino);
    if (d == null || d.skipped != null || d.vectorsDone()) {
      synchronized (embedQueue) {
        embedQueue.remove(ino);
      }
      return true;
    }
    if (!roomToWrite()) {
      return false;
    }
    int from = d.embedded;
    int to = Math.min(d.passages, from + EMBED_BATCH);
    List<String> texts = new ArrayList<>();
    try {
      db.lock();
      try (PreparedStatement ps = conn.prepareStatement("SELECT id, body FROM passage WHERE id >= ? AND id < ? ORDER BY id")) {
        ps.setLong(1, passageId(ino, from));
        ps.setLong(2, passageId(ino, to));
        try (ResultSet rs = ps.executeQuery()) {
          while (rs.next()) {
            texts.add(decodePassage(sealer.open(rs.getBytes(2), passageAad(rs.getLong(1)), "a passage")).text());
          }
        }
      } finally {
        db.unlock();
      }
      if (texts.size() != to - from) {
        throw new SQLException("passages of a file are missing from the index");
      }
      long t0 = System.nanoTime();
      List<float[]> vs = embedder.embedPassages(texts);
      embedNanos += System.nanoTime() - t0;
      db.lock();
      try {
        if (docs.get(ino) != d) {
          return true; // re-indexed or removed while we embedded: these vectors are stale
        }
        for (int i = 0; i < vs.size(); i++) {
          vectors.put(passageId(ino, from + i), vs.get(i));
        }
        d.embedded = to;
        writeDoc(ino, d);
        conn.commit();
        generation.incrementAndGet();
      } finally {
        db.unlock();
      }
      embeddedPassages.addAndGet(vs.size());
    } catch (IOException | SQLException | RuntimeException e) {
      rollback();
      fail("embedding", e);
      synchronized (embedQueue) {
        embedQueue.remove(ino); // do not spin on a file that cannot be embedded; a change re-queues it
      }
      return true;
    }
    if (d.vectorsDone()) {
      synchronized (embedQueue) {
        embedQueue.remove(ino);
      }
    }
    return true;
  }

  private void maybeSnapshot() {
    // the new snapshot is written beside the old one (about 2 KB per vector each) before it replaces it
    if (vectors.snapshotStale() && System.nanoTime() - lastChangeNanos > settings.snapshotIdleMs() * 1_000_000L
        && source.spareBytes() - 4096L * vectors.size() >= MIN_SPARE_BYTES) {
      saveSnapshot();
    }
  }

  /** Runs on the worker, so no vector changes meanwhile; queries go on (the snapshot needs no database). */
  private void saveSnapshot() {
    try {
      vectors.saveSnapshot();
    } catch (IOException | RuntimeException e) {
      fail("saving the vector index", e);
    }
  }

  private void rollback() {
    try {
      conn.rollback();
    } catch (SQLException e) {
      LOG.log(Level.WARNING, "index rollback: {0}", e.getMessage());
    }
  }

  private void fail(String what, Exception e) {
    failures.incrementAndGet();
    lastError = what + ": " + e.getClass().getSimpleName() + (e.getMessage() == null ? "" : ": " + e.getMessage());
    LOG.log(Level.WARNING, lastError);
  }

  private void skipped(String path, String reason) {
    synchronized (skippedLog) {
      skippedLog.addFirst(path + "\t" + reason);
      while (skippedLog.size() > SKIPPED_KEPT) {
        skippedLog.removeLast();
      }
    }
  }

  // ================================================================== queries

  /** Runs a query; hits are checked against the live file system. */
  public Results search(SearchQuery q) throws SearchQuery.BadQueryException, IOException {
    return search(q, path -> true);
  }

  /**
   * Runs a query for a caller who may read only the files {@code readable} accepts (by mount path):
   * the others are left out before ranking, so they neither appear nor take a place among the
   * {@code limit} hits.
   */
  public Results search(SearchQuery q, Predicate<String> readable) throws SearchQuery.BadQueryException, IOException {
    return search(q, settings, q.mode() != SearchQuery.Mode.SEMANTIC, q.mode() != SearchQuery.Mode.TEXT, readable);
  }

  /**
   * Runs one or both sides with the given tunables (the quality test compares them). The keyword
   * side takes the keyword syntax in text: mode, and any of the query's words otherwise.
   */
  Results search(SearchQuery q, Settings settings, boolean useKeywords, boolean useVectors)
      throws SearchQuery.BadQueryException, IOException {
    return search(q, settings, useKeywords, useVectors, path -> true);
  }

  private Results search(SearchQuery q, Settings settings, boolean useKeywords, boolean useVectors,
      Predicate<String> readable) throws SearchQuery.BadQueryException, IOException {
    long t0 = System.nanoTime();
    int k = q.scope() == null ? settings.candidates() : settings.candidates() * 10;
    Map<Long, Candidate> byFile = new LinkedHashMap<>();
    FutureTask<List<VectorIndex.Hit>> semantic = null;
    if (useVectors) {
      semantic = new FutureTask<>(() -> vectors.search(embedder.embedQuery(q.text()), k));
      if (useKeywords) {
        querySide.execute(semantic); // runs here when every query thread is busy
      } else {
        semantic.run();
      }
    }
    if (useKeywords) {
      KeywordQuery kq;
      try {
        kq = q.mode() == SearchQuery.Mode.TEXT ? KeywordQuery.parse(q.text()) : KeywordQuery.anyOf(q.text());
      } catch (KeywordQuery.SyntaxException e) {
        throw new SearchQuery.BadQueryException(e.getMessage());
      }
      List<BlindIndex.Hit> hits;
      db.lock();
      try {
        hits = keywords.search(kq, k);
      } catch (SQLException e) {
        throw new IOException("keyword index: " + e.getMessage(), e);
      } finally {
        db.unlock();
      }
      int rank = 0;
      for (BlindIndex.Hit h : hits) {
        Candidate c = byFile.computeIfAbsent(fileOf(h.passageId()), Candidate::new);
        if (c.keywordRank == 0) {
          c.keywordRank = ++rank;
          c.keywordPassage = h.passageId();
        }
      }
    }
    if (semantic != null) {
      List<VectorIndex.Hit> found;
      try {
        found = semantic.get();
      } catch (InterruptedException e) {
        semantic.cancel(true);
        Thread.currentThread().interrupt();
        throw new java.io.InterruptedIOException("search interrupted");
      } catch (ExecutionException e) {
        Throwable c = e.getCause();
        if (c instanceof IOException io) {
          throw io;
        }
        if (c instanceof RuntimeException re) {
          throw re;
        }
        if (c instanceof Error err) {
          throw err;
        }
        throw new IOException("semantic search: " + c, c);
      }
      int rank = 0;
      for (VectorIndex.Hit h : found) {
        Candidate c = byFile.computeIfAbsent(fileOf(h.id()), Candidate::new);
        if (c.semanticRank == 0) {
          c.semanticRank = ++rank;
          c.semanticPassage = h.id();
        }
      }
    }
    // keep what is live, in scope and indexed at its current content; rank each method among those
    List<Candidate> live = new ArrayList<>();
    for (Candidate c : byFile.values()) {
      Doc d = docs.get(c.ino);
      FileRef f = source.file(c.ino);
      if (d == null || f == null || d.stamp != f.stamp() || !indexable(f.path()) || !q.inScope(f.path())
          || !readable.test(f.path())) {
        continue;
      }
      c.path = f.path();
      live.add(c);
    }
    rerank(live, true);
    rerank(live, false);
    for (Candidate c : live) {
      c.score = (c.keywordRank > 0 ? settings.keywordWeight() / (settings.rrfK() + c.keywordRank) : 0)
          + (c.semanticRank > 0 ? settings.semanticWeight() / (settings.rrfK() + c.semanticRank) : 0);
    }
    live.sort(Comparator.comparingDouble((Candidate c) -> -c.score).thenComparingLong(c -> c.ino));
    List<Hit> out = new ArrayList<>();
    for (Candidate c : live.subList(0, Math.min(q.limit(), live.size()))) {
      long pid = c.semanticRank > 0 && (c.keywordRank == 0 || c.semanticRank <= c.keywordRank) ? c.semanticPassage : c.keywordPassage;
      out.add(new Hit(c.ino, c.path, c.score, passageText(pid), c.keywordRank, c.semanticRank));
    }
    return new Results(q, out, (System.nanoTime() - t0) / 1000);
  }

  private static final class Candidate {
    final long ino;
    String path;
    int keywordRank;
    int semanticRank;
    long keywordPassage;
    long semanticPassage;
    double score;

    Candidate(long ino) {
      this.ino = ino;
    }
  }

  /** Renumbers one method's ranks 1..n among the live candidates, keeping their order. */
  private static void rerank(List<Candidate> live, boolean keyword) {
    List<Candidate> ranked = new ArrayList<>();
    for (Candidate c : live) {
      if ((keyword ? c.keywordRank : c.semanticRank) > 0) {
        ranked.add(c);
      }
    }
    ranked.sort(Comparator.comparingInt(c -> keyword ? c.keywordRank : c.semanticRank));
    for (int i = 0; i < ranked.size(); i++) {
      if (keyword) {
        ranked.get(i).keywordRank = i + 1;
      } else {
        ranked.get(i).semanticRank = i + 1;
      }
    }
  }

  private String passageText(long id) throws IOException {
    db.lock();
    try (PreparedStatement ps = conn.prepareStatement("SELECT body FROM passage WHERE id = ?")) {
      ps.setLong(1, id);
      try (ResultSet rs = ps.executeQuery()) {
        return rs.next() ? decodePassage(sealer.open(rs.getBytes(1), passageAad(id), "a passage")).text() : "";
      }
    } catch (SQLException e) {
      throw new IOException("search index: " + e.getMessage(), e);
    } finally {
      db.unlock();
    }
  }

  /** Whether the hit still stands (the file is there with the content indexed): for listings served from a cache. */
  public boolean stillValid(Hit h) {
    Doc d = docs.get(h.ino());
    FileRef f = source.file(h.ino());
    return d != null && f != null && d.stamp == f.stamp() && f.path().equals(h.path()) && indexable(f.path());
  }

  /** Bumped on every index commit; a cached result older than a generation may be stale. */
  public long generation() {
    return generation.get();
  }

  // ================================================================== status

  /** What {@code /clawfs/system/index/status} shows. */
  public record Status(String model, int dimension, int queued, long embedBacklogFiles, long indexedFiles,
      long skippedFiles, long passages, long vectors, long embeddedPassages, double passagesPerSecond,
      long failures, String lastError, long reindexTotal, List<String> recentlySkipped, String paused) {}

  VectorIndex vectors() {
    return vectors;
  }

  Embedder embedder() {
    return embedder;
  }

  public Status status() {
    long skippedFiles = docs.values().stream().filter(d -> d.skipped != null).count();
    long passages = docs.values().stream().mapToLong(d -> d.passages).sum();
    int backlog;
    synchronized (embedQueue) {
      backlog = embedQueue.size();
    }
    List<String> skipped = recentlySkipped();
    long ns = embedNanos;
    double rate = ns == 0 ? 0 : embeddedPassages.get() / (ns / 1e9);
    return new Status(embedder.name(), embedder.dimension(), pending.size(), backlog, indexedFiles.get(), skippedFiles,
        passages, vectors.size(), embeddedPassages.get(), rate, failures.get(), lastError, reindexTotal, skipped, paused);
  }

  /** True when nothing is queued for keywords or embeddings. */
  public boolean idle() {
    synchronized (embedQueue) {
      return !working && pending.isEmpty() && embedQueue.isEmpty();
    }
  }

  @Override
  public synchronized void close() throws IOException {
    if (closing) {
      return;
    }
    closing = true;
    wake();
    worker.interrupt();
    try {
      worker.join(30_000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    db.lock();
    try {
      if (vectors.snapshotStale()) {
        vectors.saveSnapshot();
      }
      conn.commit();
      conn.close();
    } catch (SQLException e) {
      throw new IOException("closing the search index: " + e.getMessage(), e);
    } finally {
      db.unlock();
      querySide.shutdown();
      embedder.close();
    }
  }

  // ================================================================== records

  static long passageId(long ino, int index) {
    return (ino << PASSAGE_BITS) | index;
  }

  static long fileOf(long passageId) {
    return passageId >>> PASSAGE_BITS;
  }

  private static String fileName(String path) {
    return path.substring(path.lastIndexOf('/') + 1);
  }

  static byte[] docAad(long ino) {
    return ByteBuffer.allocate(12).putInt(0x646f6331).putLong(ino).array(); // "doc1"
  }

  static byte[] passageAad(long id) {
    return ByteBuffer.allocate(12).putInt(0x70617331).putLong(id).array(); // "pas1"
  }

  private void writeDoc(long ino, Doc d) throws SQLException {
    try (PreparedStatement ps = conn.prepareStatement("INSERT OR REPLACE INTO doc (ino, state) VALUES (?, ?)")) {
      ps.setLong(1, ino);
      ps.setBytes(2, sealer.seal(encodeDoc(d), docAad(ino)));
      ps.executeUpdate();
    }
  }

  private static byte[] encodeDoc(Doc d) {
    try {
      ByteArrayOutputStream b = new ByteArrayOutputStream();
      DataOutputStream out = new DataOutputStream(b);
      out.writeByte(1);
      out.writeLong(d.stamp);
      out.writeInt(d.passages);
      out.writeInt(d.embedded);
      out.writeBoolean(d.skipped != null);
      if (d.skipped != null) {
        out.writeUTF(d.skipped);
      }
      return b.toByteArray();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  static Doc decodeDoc(byte[] b) {
    try {
      DataInputStream in = new DataInputStream(new java.io.ByteArrayInputStream(b));
      if (in.readByte() != 1) {
        throw new IOException("unknown index state version");
      }
      Doc d = new Doc();
      d.stamp = in.readLong();
      d.passages = in.readInt();
      d.embedded = in.readInt();
      d.skipped = in.readBoolean() ? in.readUTF() : null;
      return d;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static byte[] encodePassage(Passage p) {
    byte[] text = p.text().getBytes(StandardCharsets.UTF_8);
    return ByteBuffer.allocate(12 + text.length).putInt(p.index()).putInt(p.start()).putInt(p.end()).put(text).array();
  }

  private static Passage decodePassage(byte[] b) {
    ByteBuffer bb = ByteBuffer.wrap(b);
    int index = bb.getInt();
    int start = bb.getInt();
    int end = bb.getInt();
    return new Passage(index, start, end, new String(b, 12, b.length - 12, StandardCharsets.UTF_8));
  }

  /** Reasons recorded for the skipped files, newest first (path TAB reason). */
  public List<String> recentlySkipped() {
    synchronized (skippedLog) {
      return new ArrayList<>(skippedLog);
    }
  }

  /** For tests: waits until the queues are empty. */
  public boolean awaitIdle(long timeoutMs) throws InterruptedException {
    long end = System.currentTimeMillis() + timeoutMs;
    while (System.currentTimeMillis() < end) {
      if (idle()) {
        return true;
      }
      Thread.sleep(20);
    }
    return idle();
  }
}
