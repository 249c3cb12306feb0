package dev.clawfs.mount;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.clawfs.crypto.KeyPurpose;
import dev.clawfs.crypto.KeyedHash;
import dev.clawfs.crypto.MasterKeys;
import dev.clawfs.crypto.Sealer;
import dev.clawfs.fuse.Caller;
import dev.clawfs.fuse.ChangeListener;
import dev.clawfs.fuse.ClawFileSystem;
import dev.clawfs.fuse.Errno;
import dev.clawfs.fuse.FsException;
import dev.clawfs.fuse.VirtualDir;
import dev.clawfs.fuse.VirtualNode;
import dev.clawfs.fuse.VirtualTree;
import dev.clawfs.index.Embedder;
import dev.clawfs.index.SearchEngine;
import dev.clawfs.index.SearchQuery;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.lang.System.Logger.Level;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Search as files: {@code /clawfs/search/<query>/} lists the hits as links to the real files
 * ("1-keys.md -> ../../specs/keys.md"), with {@code .results.json} beside them; a query the
 * index cannot run lists one entry whose name is the error. {@code /clawfs/system/index/status}
 * shows the indexer, and root writes "reindex" to {@code /clawfs/system/index/control}.
 *
 * <p>Each caller sees only the hits it could open itself ({@link #filterBy}): a file the policy
 * or the Unix modes keep from it neither shows nor takes a place among its hits, and its
 * passages never reach it. Results are cached per query and caller.
 */
final class SearchService implements AutoCloseable {
  static final String RESULTS = ".results.json";
  static final String ERROR_PREFIX = "ERROR ";
  private static final ObjectMapper JSON = new ObjectMapper();
  /** A result is reused while the index has not changed, and for this long regardless (one ls's lookups). */
  private static final long REUSE_NANOS = 200_000_000L;

  private static final System.Logger LOG = System.getLogger("clawfs.search");
  /** Replaced (closed, dropped, opened afresh) only by a key rotation. */
  private volatile SearchEngine engine;
  private final ClawFileSystem fs;
  private final MasterKeys keys;
  private final Embedder embedder;
  /** What each engine gets: the embedder outlives an engine replaced by a rekey, and closes with the service. */
  private Embedder shared;

  /** The embedder without its close: SearchEngine.close closes its embedder. */
  private record KeptOpen(Embedder e) implements Embedder {
    public String name() {
      return e.name();
    }

    public int dimension() {
      return e.dimension();
    }

    public List<float[]> embedPassages(List<String> passages) throws IOException {
      return e.embedPassages(passages);
    }

    public float[] embedQuery(String query) throws IOException {
      return e.embedQuery(query);
    }
  }
  private final Map<String, Cached> cache = new LinkedHashMap<>(64, 0.75f, true) {
    @Override
    protected boolean removeEldestEntry(Map.Entry<String, Cached> e) {
      return size() > 256;
    }
  };

  private record Cached(long generation, long atNanos, SearchEngine.Results results, String error) {}

  /** Whether a caller may read a file, by its path in the mount. */
  @FunctionalInterface
  interface Readable {
    boolean test(Caller caller, String path);
  }

  private volatile Readable readable = (c, p) -> true;

  /** From now on each caller's hits are only the files {@code r} lets it read (root sees all). */
  void filterBy(Readable r) {
    readable = r;
    forget();
  }

  /** Who may read what changed (policies, agents): cached results are not reused. */
  void forget() {
    synchronized (cache) {
      cache.clear();
    }
  }

  private SearchService(SearchEngine engine, ClawFileSystem fs, MasterKeys keys, Embedder embedder) {
    this.engine = engine;
    this.fs = fs;
    this.keys = keys;
    this.embedder = embedder;
  }

  /** Opens the vault's index (in VAULT/index), follows the file system and serves search/ and system/index/. */
  static SearchService start(ClawFileSystem fs, MasterKeys keys, Embedder embedder, VirtualDir system) throws IOException {
    SearchService s = new SearchService(null, fs, keys, embedder);
    s.shared = new KeptOpen(embedder);
    s.engine = s.openEngine();
    fs.addChangeListener(new ChangeListener() {
      @Override
      public void contentChanged(long ino) {
        s.engine.contentChanged(ino);
      }

      @Override
      public void namesChanged(long ino) {
        s.engine.namesChanged(ino);
      }
    });
    fs.registerVirtual("search", s.tree());
    system.dir("index")
        .file("status", () -> s.statusText().getBytes(StandardCharsets.UTF_8))
        .file("control", () -> "commands: reindex\n".getBytes(StandardCharsets.UTF_8), s::control);
    return s;
  }

  SearchEngine engine() {
    return engine;
  }

  // ================================================================== the index's key

  /** The {@code setting} row naming the master key the index is sealed under (plain, u32 as text). */
  private static final String KEY_SETTING = "keyid";

  /**
   * Opens the index under the key its key id row names. An index without the row (made before
   * rotation existed) is under the primary when the keyset has only that key; an index under a
   * key the keyset lacks, or one that cannot be told, is dropped and rebuilt from the files (it
   * is derived data). A new index is stamped with the primary.
   */
  private SearchEngine openEngine() throws IOException {
    Path dir = fs.vaultDir().resolve("index");
    Integer k = indexKeyId(dir);
    boolean exists = Files.exists(dir.resolve("index.db"));
    if (exists && (k == null ? keys.keyIds().size() > 1 : !keys.keyIds().contains(k))) {
      LOG.log(Level.INFO, "the search index is not under a key of this keyset: dropped, every file is indexed again");
      dropIndex(dir);
      exists = false;
    }
    int keyId = exists && k != null ? k : keys.primaryKeyId();
    stampKeyId(dir, keyId);
    return SearchEngine.open(dir, new FsSource(fs), shared,
        Sealer.of(keys.subkey(keyId, KeyPurpose.VECTORS)), KeyedHash.of(keys.subkey(keyId, KeyPurpose.INDEX_TOKENS)),
        SearchEngine.Settings.defaults());
  }

  /** The key id the index in {@code dir} names, or null (no index, or one without the row). */
  static Integer indexKeyId(Path dir) {
    Path db = dir.resolve("index.db");
    if (!Files.exists(db)) {
      return null;
    }
    org.sqlite.SQLiteConfig cfg = new org.sqlite.SQLiteConfig();
    cfg.setReadOnly(true);
    cfg.setBusyTimeout(5000);
    try (java.sql.Connection c = java.sql.DriverManager.getConnection("jdbc:sqlite:" + db, cfg.toProperties());
        java.sql.Statement s = c.createStatement();
        java.sql.ResultSet rs = s.executeQuery("SELECT v FROM setting WHERE k = '" + KEY_SETTING + "'")) {
      return rs.next() ? Integer.parseUnsignedInt(rs.getString(1)) : null;
    } catch (java.sql.SQLException | NumberFormatException e) {
      return null; // no setting table yet, or damaged: treated as an index of unknown key
    }
  }

  /** The key id of the index in {@code dir} as {@code clawfs check} should use it: its row, else the primary. */
  static int indexKeyId(Path dir, MasterKeys keys) {
    Integer k = indexKeyId(dir);
    return k != null && keys.keyIds().contains(k) ? k : keys.primaryKeyId();
  }

  private static void stampKeyId(Path dir, int keyId) throws IOException {
    Files.createDirectories(dir);
    try (java.sql.Connection c = java.sql.DriverManager.getConnection("jdbc:sqlite:" + dir.resolve("index.db"));
        java.sql.Statement s = c.createStatement()) {
      s.execute("PRAGMA journal_mode=WAL");
      s.execute("CREATE TABLE IF NOT EXISTS setting (k TEXT PRIMARY KEY, v TEXT NOT NULL)");
      s.executeUpdate("INSERT OR REPLACE INTO setting VALUES ('" + KEY_SETTING + "', '" + Integer.toUnsignedString(keyId) + "')");
    } catch (java.sql.SQLException e) {
      throw new IOException("search index: " + e.getMessage(), e);
    }
  }

  /** Deletes the index files (the database with its WAL, the HNSW snapshot). */
  static void dropIndex(Path dir) throws IOException {
    for (String f : List.of("index.db", "index.db-wal", "index.db-shm", "index.db-journal", "hnsw.sealed")) {
      Files.deleteIfExists(dir.resolve(f));
    }
  }

  /**
   * Key rotation: the index is dropped and rebuilt under the primary key from the files (the
   * blind tokens and vectors cannot be carried over without re-reading the text). Searches
   * meanwhile see what has been indexed again so far.
   */
  synchronized void rekey() throws IOException {
    Path dir = fs.vaultDir().resolve("index");
    Integer k = indexKeyId(dir);
    if (k != null && k == keys.primaryKeyId()) {
      return;
    }
    SearchEngine old = engine;
    old.close();
    dropIndex(dir);
    engine = openEngine();
    forget();
  }

  /** The key id the running index is sealed under. */
  Integer keyId() throws IOException {
    return indexKeyId(fs.vaultDir().resolve("index"));
  }

  /** The file system as the index sees it. */
  private record FsSource(ClawFileSystem fs) implements SearchEngine.Source {
    @Override
    public SearchEngine.FileRef file(long ino) {
      ClawFileSystem.FileInfo f = fs.fileInfo(ino);
      return f == null ? null : new SearchEngine.FileRef(ino, new String(f.path(), StandardCharsets.UTF_8), f.size(), f.stamp());
    }

    @Override
    public byte[] read(long ino, int maxBytes) throws IOException {
      try {
        return fs.readContent(ino, maxBytes).data();
      } catch (FsException e) {
        if (e.errno() == Errno.ENOENT) {
          throw new NoSuchFileException("inode " + ino);
        }
        throw new IOException(e.getMessage(), e);
      }
    }

    @Override
    public long[] allFiles() {
      return fs.regularFiles();
    }

    @Override
    public long spareBytes() {
      return fs.spareBytes();
    }
  }

  // ================================================================== search/

  private VirtualTree tree() {
    return (path, caller) -> {
      if (path.isEmpty()) {
        return new VirtualNode.Directory(() -> List.of(new VirtualNode.Entry("README", VirtualNode.Kind.FILE)));
      }
      if (path.size() == 1 && path.get(0).equals("README")) {
        return VirtualNode.File.readOnly(() -> HELP.getBytes(StandardCharsets.UTF_8));
      }
      // "in:workspaces/project failing tests" arrives as two components: the scope runs on
      // through components without white space, and the one with a space holds the query
      int q = 0;
      if (path.get(0).regionMatches(true, 0, "in:", 0, 3)) {
        while (q < path.size() && path.get(q).chars().noneMatch(Character::isWhitespace)) {
          q++;
        }
        if (q == path.size()) {
          return new VirtualNode.Directory(List::of); // a scope still being typed
        }
      }
      String query = String.join("/", path.subList(0, q + 1));
      List<String> rest = path.subList(q + 1, path.size());
      int depth = q + 2; // search/ plus the query's components
      if (rest.isEmpty()) {
        return new VirtualNode.Directory(() -> listing(query, caller));
      }
      if (rest.size() > 1) {
        throw new FsException(Errno.ENOENT, "no such entry");
      }
      return entry(query, rest.get(0), depth, caller);
    };
  }

  private List<VirtualNode.Entry> listing(String query, Caller caller) {
    Cached c = run(query, caller);
    List<VirtualNode.Entry> out = new ArrayList<>();
    if (c.error() != null) {
      out.add(new VirtualNode.Entry(errorName(c.error()), VirtualNode.Kind.FILE));
    } else {
      List<SearchEngine.Hit> hits = c.results().hits();
      for (int i = 0; i < hits.size(); i++) {
        if (engine.stillValid(hits.get(i))) {
          out.add(new VirtualNode.Entry(hitName(i + 1, hits.size(), hits.get(i).path()), VirtualNode.Kind.LINK));
        }
      }
    }
    out.add(new VirtualNode.Entry(RESULTS, VirtualNode.Kind.FILE));
    return out;
  }

  private VirtualNode entry(String query, String name, int depth, Caller caller) {
    Cached c = run(query, caller);
    if (name.equals(RESULTS)) {
      return VirtualNode.File.readOnly(() -> resultsJson(query, c));
    }
    if (c.error() != null) {
      if (name.equals(errorName(c.error()))) {
        return VirtualNode.File.readOnly(() -> (c.error() + "\n").getBytes(StandardCharsets.UTF_8));
      }
      throw new FsException(Errno.ENOENT, "no such entry");
    }
    List<SearchEngine.Hit> hits = c.results().hits();
    for (int i = 0; i < hits.size(); i++) {
      SearchEngine.Hit h = hits.get(i);
      if (name.equals(hitName(i + 1, hits.size(), h.path())) && engine.stillValid(h)) {
        return new VirtualNode.Link("../".repeat(depth) + h.path().substring(1));
      }
    }
    throw new FsException(Errno.ENOENT, "no such hit");
  }

  /** Runs the query for a caller, or reuses its result while the index has not changed. */
  private Cached run(String query, Caller caller) {
    long now = System.nanoTime();
    long gen = engine.generation();
    boolean all = caller.uid() == 0;
    String key = all ? query : query + '\0' + Integer.toUnsignedString(caller.uid()) + ':'
        + Integer.toUnsignedString(caller.gid());
    synchronized (cache) {
      Cached c = cache.get(key);
      if (c != null && (c.generation() == gen || now - c.atNanos() < REUSE_NANOS) && allStillValid(c)) {
        return c;
      }
    }
    Cached c;
    try {
      Readable r = readable;
      SearchQuery q = SearchQuery.parse(query);
      c = new Cached(gen, now, all ? engine.search(q) : engine.search(q, p -> r.test(caller, p)), null);
    } catch (SearchQuery.BadQueryException e) {
      c = new Cached(gen, now, null, e.getMessage());
    } catch (IOException e) {
      throw new FsException(Errno.EIO, "search failed: " + e.getMessage(), e);
    }
    synchronized (cache) {
      cache.put(key, c);
    }
    return c;
  }

  /** A hit renamed, deleted or changed since the query ran means running it again, not dropping the hit. */
  private boolean allStillValid(Cached c) {
    if (c.error() != null) {
      return true;
    }
    for (SearchEngine.Hit h : c.results().hits()) {
      if (!engine.stillValid(h)) {
        return false;
      }
    }
    return true;
  }

  /**
   * "3-keys.md": the rank, then the file's name, so {@code cat 1*} reads the best hit. With more
   * than nine hits the rank is zero-padded so that ls still sorts them in rank order.
   */
  static String hitName(int rank, int total, String path) {
    String base = path.substring(path.lastIndexOf('/') + 1);
    String prefix = (total > 9 ? String.format(total > 99 ? "%03d" : "%02d", rank) : Integer.toString(rank)) + "-";
    return prefix + truncateUtf8(base, 255 - prefix.length());
  }

  /** The error as an entry name: one line, no slash, at most 255 bytes. */
  static String errorName(String error) {
    return truncateUtf8(ERROR_PREFIX + error.replace('/', '\u2215').replaceAll("[\\p{Cntrl}]", " "), 255);
  }

  private static String truncateUtf8(String s, int maxBytes) {
    if (s.getBytes(StandardCharsets.UTF_8).length <= maxBytes) {
      return s;
    }
    StringBuilder b = new StringBuilder();
    int bytes = 0;
    for (int i = 0; i < s.length(); ) {
      int cp = s.codePointAt(i);
      int n = new String(Character.toChars(cp)).getBytes(StandardCharsets.UTF_8).length;
      if (bytes + n > maxBytes) {
        break;
      }
      b.appendCodePoint(cp);
      bytes += n;
      i += Character.charCount(cp);
    }
    return b.toString();
  }

  private byte[] resultsJson(String query, Cached c) {
    ObjectNode root = JSON.createObjectNode();
    root.put("query", query);
    if (c.error() != null) {
      root.put("error", c.error());
    } else {
      SearchEngine.Results r = c.results();
      root.put("mode", r.query().mode().name().toLowerCase(java.util.Locale.ROOT));
      if (r.query().scope() != null) {
        root.put("scope", r.query().scope());
      }
      root.put("text", r.query().text());
      root.put("took_ms", r.tookMicros() / 1000.0);
      ArrayNode hits = root.putArray("hits");
      List<SearchEngine.Hit> list = r.hits();
      for (int i = 0; i < list.size(); i++) {
        SearchEngine.Hit h = list.get(i);
        if (!engine.stillValid(h)) {
          continue;
        }
        ObjectNode o = hits.addObject();
        o.put("rank", i + 1);
        o.put("name", hitName(i + 1, list.size(), h.path()));
        o.put("path", h.path());
        o.put("score", Math.round(h.score() * 1e6) / 1e6);
        if (h.keywordRank() > 0) {
          o.put("keyword_rank", h.keywordRank());
        }
        if (h.semanticRank() > 0) {
          o.put("semantic_rank", h.semanticRank());
        }
        o.put("passage", h.passage());
      }
    }
    try {
      return (JSON.writerWithDefaultPrettyPrinter().writeValueAsString(root) + "\n").getBytes(StandardCharsets.UTF_8);
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      throw new FsException(Errno.EIO, "results: " + e.getMessage(), e);
    }
  }

  // ================================================================== system/index/

  /** The index's counters (for system/metrics and system/health). */
  SearchEngine.Status indexStatus() {
    return engine.status();
  }

  /** True when nothing is queued for keywords or embeddings. */
  boolean indexIdle() {
    return engine.idle();
  }

  String statusText() {
    SearchEngine.Status s = engine.status();
    StringBuilder b = new StringBuilder();
    b.append("state: ").append(s.paused() != null ? "paused: " + s.paused() : engine.idle() ? "idle" : "indexing")
        .append('\n');
    b.append("model: ").append(s.model()).append(" (").append(s.dimension()).append(" dimensions)\n");
    b.append("queued files: ").append(s.queued()).append('\n');
    b.append("files waiting for embeddings: ").append(s.embedBacklogFiles()).append('\n');
    b.append("indexed files: ").append(s.indexedFiles()).append('\n');
    b.append("skipped files: ").append(s.skippedFiles()).append('\n');
    b.append("passages: ").append(s.passages()).append('\n');
    b.append("vectors: ").append(s.vectors()).append('\n');
    b.append("embedded this mount: ").append(s.embeddedPassages()).append(" passages at ")
        .append(String.format(java.util.Locale.ROOT, "%.1f", s.passagesPerSecond())).append(" passages/s\n");
    if (s.reindexTotal() > 0) {
      b.append("reindex: ").append(s.indexedFiles() + s.skippedFiles()).append(" of ").append(s.reindexTotal())
          .append(" files\n");
    }
    b.append("failures: ").append(s.failures()).append('\n');
    b.append("last error: ").append(s.lastError() == null ? "none" : s.lastError()).append('\n');
    if (!s.recentlySkipped().isEmpty()) {
      b.append("recently skipped (path, reason):\n");
      for (String line : s.recentlySkipped()) {
        b.append("  ").append(line).append('\n');
      }
    }
    return b.toString();
  }

  private void control(byte[] data, Caller caller) {
    String cmd = new String(data, StandardCharsets.UTF_8).strip();
    if (caller.uid() != 0) {
      throw new FsException(Errno.EACCES, "only root controls the index");
    }
    if (!cmd.equals("reindex")) {
      throw new FsException(Errno.EINVAL, "unknown index command (known: reindex)");
    }
    engine.reindex();
    forget();
  }

  @Override
  public void close() throws IOException {
    engine.close();
    embedder.close();
  }

  /**
   * Whether Unix modes let {@code caller} read {@code path}: search permission on every folder on
   * the way and read permission on the file, judged by the caller's uid and primary gid (FUSE does
   * not pass supplementary groups, so a file readable only through one is left out: never shown
   * wrongly).
   */
  static boolean unixMayRead(ClawFileSystem fs, Caller caller, String path) {
    if (caller.uid() == 0) {
      return true;
    }
    int i = 0;
    while (true) {
      int slash = path.indexOf('/', i + 1);
      String prefix = slash < 0 ? path : path.substring(0, slash);
      dev.clawfs.fuse.Attr a;
      try {
        a = fs.getattr(prefix.getBytes(StandardCharsets.UTF_8));
      } catch (FsException e) {
        return false;
      }
      int bit = slash < 0 ? 4 : 1; // r on the file, x on each folder
      int shift = a.uid() == caller.uid() ? 6 : a.gid() == caller.gid() ? 3 : 0;
      if ((a.mode() >> shift & bit) == 0) {
        return false;
      }
      if (slash < 0) {
        return true;
      }
      i = slash;
    }
  }

  static final String HELP = """
      ClawFS search: the query is the directory name.

        ls "/clawfs/search/how are master keys rotated/"        hybrid (keywords and meaning), best first
        cat "/clawfs/search/how are master keys rotated/1"*     the best hit
        cat "/clawfs/search/key rotation/.results.json"         path, score and passage of each hit
        ls "/clawfs/search/text:nonce AND gcm/"                 keywords only: terms, "phrases", prefix*, AND OR NOT ( )
        ls "/clawfs/search/semantic:failing tests/"             meaning only
        ls "/clawfs/search/in:workspaces/project failing tests/" only files under workspaces/project
        ls "/clawfs/search/limit:20 key rotation/"              more hits (default 9)

      Each hit is a link to the real file, named <rank>-<file name>. A query the index cannot run
      lists one entry, "ERROR <what is wrong>". vault/ is never indexed.
      """;
}
