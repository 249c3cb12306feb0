package dev.clawfs.fuse;

import dev.clawfs.crypto.AuthenticationFailedException;
import dev.clawfs.crypto.ChunkCipher;
import dev.clawfs.crypto.MasterKeys;
import java.io.IOException;
import java.lang.System.Logger.Level;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.function.LongSupplier;

/**
 * The file system core: inodes, directories, files, links, attributes and open handles over
 * sealed SQLite metadata ({@link MetadataStore}) and encrypted content files ({@link
 * ContentStore}). It speaks paths as byte strings and errnos as {@link FsException}; it knows
 * nothing of FUSE, so it can be tested without a mount.
 *
 * <p>Concurrency: one tree lock guards names (lookups share it, namespace changes hold it
 * briefly, never across I/O); each inode's own lock guards its attributes and content, so
 * readers and writers of different files never wait on each other.
 */
public final class ClawFileSystem implements AutoCloseable {
  private static final System.Logger LOG = System.getLogger("clawfs.fs");
  static final int CHUNK = ChunkCipher.CHUNK_SIZE;
  static final long MAX_FILE_SIZE = 1L << 44; // 16 TiB
  static final int MAX_SYMLINK = 4095;
  static final int MAX_XATTR_VALUE = 65536;
  private static final int O_ACCMODE = 3;
  private static final int O_WRONLY = 1;
  private static final int O_RDWR = 2;
  private static final int O_APPEND = 02000;
  private static final int O_TRUNC = 01000;
  private static final int S_IFIFO = 0010000;
  private static final int S_IFSOCK = 0140000;
  private static final int S_ISVTX = 01000;

  /** The fixed first level of the namespace (DESIGN.md); "system" and later "search" are virtual. */
  public static final List<String> NAMESPACE = List.of("workspaces", "specs", "vault", "agents");

  private final Path vaultDir;
  private final MetadataStore meta;
  private final ContentStore content;
  private final LongSupplier clock;
  private final ReentrantReadWriteLock tree = new ReentrantReadWriteLock();
  private final Map<Long, Inode> inodes;
  private final Inode root;
  private final AtomicLong nextId;
  private final Map<Long, Handle> handles = new ConcurrentHashMap<>();
  /** Descriptors of stored files served with direct_io (see bypassPageCache). */
  private final Set<Long> uncachedHandles = ConcurrentHashMap.newKeySet();
  private final AtomicLong nextHandle = new AtomicLong(1);
  private final Map<Name, VirtualTree> virtualTrees = new ConcurrentHashMap<>();
  /** Overlays by top-level name: virtual entries inside stored directories of one depth. */
  private final Map<Name, Overlay> overlays = new ConcurrentHashMap<>();

  private record Overlay(int depth, VirtualOverlay provider) {}
  private volatile ChangeListener changes = ChangeListener.NONE;
  private final long virtualIno = Long.MAX_VALUE / 2;
  private final long mountedAtNs = System.nanoTime();
  private final AtomicLong bytesRead = new AtomicLong();
  private final AtomicLong bytesWritten = new AtomicLong();
  private final AtomicLong authFailures = new AtomicLong();
  private volatile boolean closed;
  /** False on noatime and read-only mounts: reads then leave atime alone, as Linux does. */
  private volatile boolean atimeUpdates = true;

  /**
   * An open file: an inode, or the frozen content of a virtual file (and what is written to it),
   * or a virtual stream and this descriptor's reader of it.
   */
  private record Handle(Inode inode, int flags, byte[] virtualContent, VirtualWrite written,
      StreamSource stream, StreamSource.Reader reader, long ino, int perm) {
    Handle(Inode inode, int flags) {
      this(inode, flags, null, null, null, null, 0, 0);
    }
  }

  /**
   * How a read that would wait (on a virtual stream) learns that the caller gave up, and tells the
   * server that its thread is about to wait.
   */
  public interface ReadWait {
    ReadWait NONE = new ReadWait() {
      @Override
      public boolean interrupted() {
        return false;
      }

      @Override
      public void waiting() {}
    };

    /** True when the request was interrupted (the reader got a signal): the read ends with EINTR. */
    boolean interrupted();

    /** Called once before the read first waits, so the server can keep a thread free for others. */
    void waiting();
  }

  /** How long one wait of a stream read lasts before it checks for interruption again. */
  private static final long STREAM_WAIT_SLICE_MS = 200;
  private static final int O_NONBLOCK = 04000;

  /** Bytes written to a writable virtual file through one descriptor, handed over at close. */
  private static final class VirtualWrite {
    static final int MAX = 64 << 20;
    final VirtualNode.WriteHandler handler;
    final Caller caller;
    byte[] data = new byte[0];
    int length;
    boolean dirty;

    VirtualWrite(VirtualNode.WriteHandler handler, Caller caller) {
      this.handler = handler;
      this.caller = caller;
    }

    synchronized void write(long offset, byte[] src, int len) {
      if (offset + len > MAX) {
        throw new FsException(Errno.EFBIG, "at most 64 MiB can be written to a virtual file");
      }
      int end = (int) offset + len;
      if (end > data.length) {
        data = Arrays.copyOf(data, Math.max(end, Math.min(MAX, data.length * 2)));
      }
      System.arraycopy(src, 0, data, (int) offset, len);
      length = Math.max(length, end);
      dirty = true;
    }

    synchronized void truncate(long size) {
      length = (int) Math.min(length, size);
      dirty = true;
    }

    /** Hands the bytes to the feature once per batch of writes; its FsException is close's error. */
    synchronized void deliver() {
      if (dirty) {
        dirty = false;
        byte[] out = Arrays.copyOf(data, length);
        length = 0;
        handler.written(out, caller);
      }
    }
  }

  private ClawFileSystem(Path vaultDir, MetadataStore meta, ContentStore content, Map<Long, Inode> inodes, LongSupplier clock) {
    this.vaultDir = vaultDir;
    this.meta = meta;
    this.content = content;
    this.inodes = new ConcurrentHashMap<>(inodes);
    this.root = inodes.get(MetadataStore.ROOT_ID);
    this.clock = clock;
    long max = inodes.keySet().stream().mapToLong(Long::longValue).max().orElse(1);
    this.nextId = new AtomicLong(max + 1);
  }

  // ================================================================== lifecycle

  /** Creates the metadata and content layout of a new vault (the header must exist already). */
  public static void initialize(Path vaultDir, MasterKeys keys, int ownerUid, int ownerGid) throws IOException {
    long now = System.currentTimeMillis() * 1_000_000L;
    Inode root = newDir(MetadataStore.ROOT_ID, 0755, ownerUid, ownerGid, now);
    root.nlink = 2 + NAMESPACE.size();
    root.children = new LinkedHashMap<>();
    List<Inode> dirs = new ArrayList<>();
    long id = MetadataStore.ROOT_ID + 1;
    for (String n : NAMESPACE) {
      Inode d = newDir(id++, n.equals("vault") ? 0700 : 0755, ownerUid, ownerGid, now);
      d.nlink = 2;
      root.children.put(Name.of(n), d);
      dirs.add(d);
    }
    ContentStore.initialize(vaultDir);
    try {
      MetadataStore.initialize(vaultDir, keys, root, dirs);
    } catch (SQLException e) {
      throw new IOException("cannot create the metadata database: " + e.getMessage(), e);
    }
  }

  private static Inode newDir(long id, int perm, int uid, int gid, long now) {
    Inode d = new Inode(id, Inode.S_IFDIR | perm);
    d.uid = uid;
    d.gid = gid;
    d.atimeNs = d.mtimeNs = d.ctimeNs = now;
    d.children = new HashMap<>();
    return d;
  }

  /** Opens (loads) an initialised vault. {@code commitIntervalMs} bounds how long metadata waits in memory. */
  public static ClawFileSystem open(Path vaultDir, MasterKeys keys, long commitIntervalMs) throws IOException {
    try {
      MetadataStore meta = MetadataStore.open(vaultDir, keys, commitIntervalMs);
      Map<Long, Inode> inodes;
      try {
        inodes = meta.load();
      } catch (RuntimeException | SQLException | IOException e) {
        meta.close();
        throw e;
      }
      ContentStore content = new ContentStore(vaultDir, keys);
      Set<String> live = new HashSet<>();
      for (Inode n : inodes.values()) {
        if (n.fileId != null) {
          live.add(ContentStore.hex(n.fileId));
        }
      }
      int swept = content.sweep(live);
      if (swept > 0) {
        LOG.log(Level.INFO, "removed {0} unreferenced content files left by an earlier crash", swept);
      }
      meta.start(content);
      ClawFileSystem fs = new ClawFileSystem(vaultDir, meta, content, inodes,
          () -> System.currentTimeMillis() * 1_000_000L + (System.nanoTime() % 1_000_000L + 1_000_000L) % 1_000_000L);
      fs.purgeHiddenNames();
      return fs;
    } catch (SQLException e) {
      throw new IOException("metadata database: " + e.getMessage(), e);
    } catch (AuthenticationFailedException e) {
      throw new FsException(Errno.EIO, "vault metadata failed authentication: " + e.getMessage(), e);
    }
  }

  /**
   * Gets the JIT to compile the AES-GCM path (with its AES-NI / CLMUL intrinsics) before the
   * first large write: run cold, the JDK seals at tens of MB/s for the first seconds. Small
   * seals under a throwaway key reach the compile thresholds in about two seconds of one core.
   * Runs in a low-priority daemon thread; touches no vault key.
   */
  public static void warmUpCryptoInBackground() {
    Thread t = new Thread(() -> {
      byte[] key = new byte[32];
      byte[] id = new byte[16];
      new java.security.SecureRandom().nextBytes(key);
      ChunkCipher c = new ChunkCipher(key, id, 0);
      byte[] plain = new byte[512];
      byte[] sealed = new byte[512 + ChunkCipher.OVERHEAD];
      byte[] back = new byte[512];
      for (int i = 0; i < 40_000; i++) {
        int n = c.seal(i, i + 1, plain, 0, plain.length, sealed, 0);
        c.open(i, i + 1, sealed, 0, n, back, 0);
      }
      // then whole chunks, so the compiled loops are the ones large reads and writes run
      byte[] big = new byte[CHUNK];
      byte[] bigSealed = new byte[ChunkCipher.SLOT_SIZE];
      byte[] bigBack = new byte[CHUNK];
      for (int i = 0; i < 2_000; i++) {
        int n = c.seal(i, i + 1, big, 0, big.length, bigSealed, 0);
        c.open(i, i + 1, bigSealed, 0, n, bigBack, 0);
      }
      Arrays.fill(key, (byte) 0);
    }, "clawfs-crypto-warmup");
    t.setDaemon(true);
    t.setPriority(Thread.MIN_PRIORITY);
    t.start();
  }

  /** Removes libfuse's hidden names left by a crash: nothing can have them open any more. */
  private void purgeHiddenNames() {
    tree.writeLock().lock();
    try {
      List<MetadataStore.Op> ops = new ArrayList<>();
      for (Inode d : new ArrayList<>(inodes.values())) {
        if (!d.isDir()) {
          continue;
        }
        for (Map.Entry<Name, Inode> e : new ArrayList<>(d.children.entrySet())) {
          if (e.getKey().isFuseHidden()) {
            d.children.remove(e.getKey());
            ops.add(new MetadataStore.Unlink(d.id, e.getKey()));
            e.getValue().hiddenLinks++; // it was counted as a plain link when loaded
            dropLink(e.getValue(), ops, true);
          }
        }
      }
      if (!ops.isEmpty()) {
        LOG.log(Level.INFO, "removed {0} names of files that were unlinked while open before a crash", ops.size() / 2);
        meta.enqueue(ops);
      }
    } finally {
      tree.writeLock().unlock();
    }
  }

  /** Serves a virtual tree at a top-level name (for example "system" or "search"). */
  public void registerVirtual(String name, VirtualTree provider) {
    tree.readLock().lock();
    try {
      if (NAMESPACE.contains(name) || root.children.containsKey(Name.of(name))) {
        throw new IllegalArgumentException(name + " is a stored top-level directory");
      }
      virtualTrees.put(Name.of(name), provider);
    } finally {
      tree.readLock().unlock();
    }
  }

  /**
   * Adds the names {@code provider} gives to the stored directories {@code depth} components deep
   * below the stored top-level directory {@code top} (depth 2 under "agents": agents/NAME/).
   */
  public void registerOverlay(String top, int depth, VirtualOverlay provider) {
    if (!NAMESPACE.contains(top) || depth < 1) {
      throw new IllegalArgumentException("an overlay goes below a stored top-level directory: " + top);
    }
    overlays.put(Name.of(top), new Overlay(depth, provider));
  }

  /**
   * Removes the stored top-level directory {@code name} when it is empty, so that a virtual tree
   * can take the name (vaults made before tools/ became virtual have a stored tools/). Returns
   * false, and changes nothing, when it holds files: those are the user's.
   */
  public boolean dropEmptyTopLevel(String name) {
    if (NAMESPACE.contains(name)) {
      throw new IllegalArgumentException(name + " is part of the stored namespace");
    }
    tree.writeLock().lock();
    try {
      Name n = Name.of(name);
      Inode d = root.children.get(n);
      if (d == null) {
        return true;
      }
      List<MetadataStore.Op> ops = new ArrayList<>();
      if (d.isDir()) {
        dropClosedHiddenNames(d, ops);
      }
      if (!d.isDir() || !d.children.isEmpty()) {
        if (!ops.isEmpty()) {
          meta.enqueue(ops);
        }
        return false;
      }
      root.lock.writeLock().lock();
      try {
        root.children.remove(n);
        root.nlink--;
        root.mtimeNs = root.ctimeNs = now();
        root.queued = true;
        inodes.remove(d.id);
        d.nlink = 0;
        ops.add(new MetadataStore.Unlink(root.id, n));
        ops.add(new MetadataStore.Put(root));
        ops.add(new MetadataStore.Delete(d.id, null));
        meta.enqueue(ops);
      } finally {
        root.lock.writeLock().unlock();
      }
      LOG.log(Level.INFO, "removed the empty stored top-level directory {0}", name);
      return true;
    } finally {
      tree.writeLock().unlock();
    }
  }


  /**
   * Whether reads move atime (relatime-style, the default). A mount with {@code noatime} or
   * {@code ro} turns it off, so reading never writes metadata.
   */
  public void setAtimeUpdates(boolean on) {
    atimeUpdates = on;
  }

  /** Where change events go (one listener; it must only queue the event and return). */
  public void setChangeListener(ChangeListener listener) {
    changes = listener == null ? ChangeListener.NONE : listener;
  }

  /**
   * Adds a listener beside those already set (the search index and the agents' change hooks both
   * follow the files). Each must only queue the event and return, as {@link ChangeListener} says.
   */
  public synchronized void addChangeListener(ChangeListener listener) {
    ChangeListener before = changes;
    if (before == ChangeListener.NONE) {
      changes = listener;
      return;
    }
    changes = new ChangeListener() {
      @Override
      public void contentChanged(long ino) {
        before.contentChanged(ino);
        listener.contentChanged(ino);
      }

      @Override
      public void namesChanged(long ino) {
        before.namesChanged(ino);
        listener.namesChanged(ino);
      }

      @Override
      public void removed(long ino, byte[] path, boolean dir) {
        before.removed(ino, path, dir);
        listener.removed(ino, path, dir);
      }
    };
  }

  /** Commits all metadata and makes all content durable. */
  public void sync() {
    meta.contentWritten();
    meta.enqueue(List.of());
    meta.flush();
  }

  @Override
  public synchronized void close() throws IOException {
    if (closed) {
      return;
    }
    closed = true;
    for (Handle h : handles.values()) {
      if (h.inode() != null) {
        try {
          release(h.inode());
        } catch (RuntimeException e) {
          LOG.log(Level.WARNING, "release at close: {0}", e.getMessage());
        }
      }
    }
    handles.clear();
    meta.contentWritten();
    meta.enqueue(List.of()); // a last batch: content made durable even when no metadata changed
    try {
      meta.close();
    } catch (SQLException e) {
      throw new IOException("closing metadata: " + e.getMessage(), e);
    }
  }

  // ================================================================== status

  /** Counters for {@code clawfs status}. */
  public record Stats(long files, long directories, long bytes, int openHandles, long uptimeSeconds,
      long bytesRead, long bytesWritten, int pendingMetadataOps, long authFailures, String lastError) {}

  public Stats stats() {
    long files = 0;
    long dirs = 0;
    long bytes = 0;
    for (Inode n : inodes.values()) {
      if (n.isDir()) {
        dirs++;
      } else {
        files++;
        if (n.isRegular()) {
          bytes += n.size;
        }
      }
    }
    return new Stats(files, dirs, bytes, handles.size(), (System.nanoTime() - mountedAtNs) / 1_000_000_000L,
        bytesRead.get(), bytesWritten.get(), meta.pendingOps(), authFailures.get(), meta.lastErrorMessage());
  }

  public Path vaultDir() {
    return vaultDir;
  }

  /** What the metadata writer did (for system/metrics and system/health). */
  public CommitMetrics commitMetrics() {
    return meta.commitMetrics;
  }

  // ================================================================== path resolution

  /** "/a/b" of the first {@code count} names. */
  private static byte[] joined(List<Name> parts, int count) {
    java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
    for (int i = 0; i < count; i++) {
      out.write('/');
      out.writeBytes(parts.get(i).bytes());
    }
    return count == 0 ? new byte[] {'/'} : out.toByteArray();
  }

  private static List<Name> split(byte[] path) {
    List<Name> out = new ArrayList<>();
    int start = 0;
    for (int i = 0; i <= path.length; i++) {
      if (i == path.length || path[i] == '/') {
        if (i > start) {
          out.add(Name.of(Arrays.copyOfRange(path, start, i)));
        }
        start = i + 1;
      }
    }
    return out;
  }

  /** Resolves a path to an inode; tree lock (read or write) held by the caller. */
  private Inode lookup(List<Name> parts, int count) {
    Inode cur = root;
    for (int i = 0; i < count; i++) {
      if (!cur.isDir()) {
        throw new FsException(Errno.ENOTDIR, "not a directory");
      }
      Inode next = cur.children.get(parts.get(i));
      if (next == null) {
        throw new FsException(Errno.ENOENT, "no such file or directory");
      }
      cur = next;
    }
    return cur;
  }

  private Inode resolve(byte[] path) {
    List<Name> parts = split(path);
    if (isVirtual(parts)) {
      throw new FsException(Errno.EACCES, "virtual files are read-only");
    }
    tree.readLock().lock();
    try {
      return lookup(parts, parts.size());
    } finally {
      tree.readLock().unlock();
    }
  }



  private boolean isVirtual(List<Name> parts) {
    return !parts.isEmpty() && (virtualTrees.containsKey(parts.get(0)) || overlayOf(parts) != null);
  }

  /** The overlay that serves {@code parts}, or null when they are stored (or top-level virtual). */
  private Overlay overlayOf(List<Name> parts) {
    if (parts.size() < 2 || overlays.isEmpty()) {
      return null;
    }
    Overlay o = overlays.get(parts.get(0));
    if (o == null || parts.size() <= o.depth()) {
      return null;
    }
    return o.provider().names(strings(parts, 0, o.depth())).contains(string(parts.get(o.depth()))) ? o : null;
  }

  private static String string(Name n) {
    return new String(n.rawBytes(), java.nio.charset.StandardCharsets.UTF_8);
  }

  private static List<String> strings(List<Name> parts, int from, int to) {
    List<String> out = new ArrayList<>(to - from);
    for (int i = from; i < to; i++) {
      out.add(string(parts.get(i)));
    }
    return out;
  }

  /** What a virtual path is, asked of the tree that serves its top-level name. */
  private VirtualNode virtualNode(List<Name> parts, Caller caller) {
    Overlay o = virtualTrees.containsKey(parts.get(0)) ? null : overlayOf(parts);
    if (o != null) {
      return o.provider().resolve(strings(parts, 0, o.depth()), string(parts.get(o.depth())),
          strings(parts, o.depth() + 1, parts.size()), caller);
    }
    if (!virtualTrees.containsKey(parts.get(0))) {
      throw new FsException(Errno.ENOENT, "no such virtual file");
    }
    List<String> rest = new ArrayList<>(parts.size() - 1);
    for (int i = 1; i < parts.size(); i++) {
      rest.add(new String(parts.get(i).rawBytes(), java.nio.charset.StandardCharsets.UTF_8));
    }
    return virtualTrees.get(parts.get(0)).resolve(rest, caller);
  }

  /** The file creation and removal of the virtual directory holding {@code parts}' last name. */
  private VirtualNode.Files virtualFiles(List<Name> parts, Caller caller) {
    if (parts.size() < 2 || !isVirtual(parts.subList(0, parts.size() - 1))
        || !(virtualNode(parts.subList(0, parts.size() - 1), caller) instanceof VirtualNode.Directory d)
        || d.files() == null) {
      throw new FsException(Errno.EACCES, "virtual files are read-only");
    }
    return d.files();
  }

  private static String lastName(List<Name> parts) {
    return new String(parts.get(parts.size() - 1).rawBytes(), java.nio.charset.StandardCharsets.UTF_8);
  }

  /** A stable inode number for a virtual path (with use_ino, tools such as find compare them). */
  private long virtualIno(List<Name> parts) {
    long h = 1125899906842597L;
    for (Name n : parts) {
      for (byte b : n.rawBytes()) {
        h = 31 * h + b;
      }
      h = 31 * h + '/';
    }
    return virtualIno + (h & 0x3FFF_FFFF_FFFFL);
  }

  /** A parent directory and a new name in it; tree write lock held by the caller. */
  private record Target(Inode dir, Name name, int depth) {}

  private Target target(List<Name> parts) {
    if (parts.isEmpty()) {
      throw new FsException(Errno.EEXIST, "the root exists");
    }
    if (isVirtual(parts)) {
      throw new FsException(Errno.EACCES, "virtual files are read-only");
    }
    Inode dir = lookup(parts, parts.size() - 1);
    if (!dir.isDir()) {
      throw new FsException(Errno.ENOTDIR, "not a directory");
    }
    Name name = parts.get(parts.size() - 1);
    if (name.isDot()) {
      throw new FsException(Errno.EINVAL, "'.' and '..' cannot be created or removed");
    }
    return new Target(dir, name, parts.size());
  }

  /** The fixed first level cannot gain, lose or rename entries. */
  private static void checkNotTopLevel(Target t, String what) {
    if (t.depth() == 1) {
      throw new FsException(Errno.EPERM, what + " at the top level is not allowed: its layout is fixed");
    }
  }

  private long now() {
    return clock.getAsLong();
  }

  // ================================================================== attributes

  public Attr getattr(byte[] path) {
    return getattr(path, Caller.ROOT);
  }

  public Attr getattr(byte[] path, Caller caller) {
    List<Name> parts = split(path);
    if (isVirtual(parts)) {
      return virtualAttr(parts, caller);
    }
    Inode n = resolve(path);
    Attr a = attrOf(n);
    if (!parts.isEmpty() && parts.get(parts.size() - 1).isFuseHidden()) {
      // libfuse2 itself subtracts one link when it reports a hidden node; add it back so the
      // descriptor of an unlinked file shows the names that really remain
      a = new Attr(a.ino(), a.mode(), a.nlink() + 1, a.uid(), a.gid(), a.size(), a.blocks(), a.atimeNs(), a.mtimeNs(), a.ctimeNs());
    }
    return a;
  }

  public Attr fgetattr(long fh) {
    Handle h = handle(fh);
    if (h.stream() != null) {
      return streamAttr(h.ino(), h.stream(), h.perm());
    }
    if (h.inode() == null) {
      return virtualFileAttr(h.ino(), h.virtualContent().length, h.perm());
    }
    return attrOf(h.inode());
  }

  private Attr attrOf(Inode n) {
    n.lock.readLock().lock();
    try {
      return n.attr();
    } finally {
      n.lock.readLock().unlock();
    }
  }

  private Attr virtualAttr(List<Name> parts, Caller caller) {
    VirtualNode node = virtualNode(parts, caller);
    long ino = virtualIno(parts);
    if (node instanceof VirtualNode.Directory d) {
      long t = root.mtimeNs;
      return new Attr(ino, Inode.S_IFDIR | (d.perm() & 07777), 2, 0, 0, 0, 0, t, t, t);
    }
    if (node instanceof VirtualNode.Link l) {
      long t = root.mtimeNs;
      int size = l.target().getBytes(java.nio.charset.StandardCharsets.UTF_8).length;
      return new Attr(ino, Inode.S_IFLNK | 0777, 1, 0, 0, size, 0, t, t, t);
    }
    if (node instanceof VirtualNode.Stream st) {
      return streamAttr(ino, st.source(), st.perm());
    }
    if (node instanceof VirtualNode.Session se) {
      return virtualFileAttr(ino, 0, se.perm());
    }
    VirtualNode.File f = (VirtualNode.File) node;
    return virtualFileAttr(ino, f.content().get().length, f.perm());
  }

  private Attr virtualFileAttr(long ino, long size, int perm) {
    long t = now();
    return new Attr(ino, Inode.S_IFREG | (perm & 07777), 1, 0, 0, size, 0, t, t, t);
  }

  /** A stream looks like a log file being appended to: its size and mtime grow (tail -f polls them). */
  private static Attr streamAttr(long ino, StreamSource source, int perm) {
    long t = source.modifiedNanos();
    return new Attr(ino, Inode.S_IFREG | (perm & 07777), 1, 0, 0, source.size(), 0, t, t, t);
  }

  public void chmod(byte[] path, int mode) {
    Inode n = resolve(path);
    n.lock.writeLock().lock();
    try {
      n.mode = (n.mode & Inode.S_IFMT) | (mode & 07777);
      n.ctimeNs = now();
      meta.put(n);
    } finally {
      n.lock.writeLock().unlock();
    }
  }

  public void chown(byte[] path, long uid, long gid) {
    Inode n = resolve(path);
    n.lock.writeLock().lock();
    try {
      if (uid != -1 && uid != 0xFFFFFFFFL) {
        n.uid = (int) uid;
      }
      if (gid != -1 && gid != 0xFFFFFFFFL) {
        n.gid = (int) gid;
      }
      // as on ext4: a chown of a non-directory clears set-user-ID and set-group-ID
      if (!n.isDir()) {
        n.mode &= ~06000;
      }
      n.ctimeNs = now();
      meta.put(n);
    } finally {
      n.lock.writeLock().unlock();
    }
  }

  /** Sentinel values for {@link #utimens}, as in utimensat(2). */
  public static final long UTIME_NOW = (1L << 30) - 1;

  public static final long UTIME_OMIT = (1L << 30) - 2;

  /** Sets times; each of atime/mtime is (seconds, nanos) where nanos may be UTIME_NOW or UTIME_OMIT. */
  public void utimens(byte[] path, long aSec, long aNsec, long mSec, long mNsec) {
    Inode n = resolve(path);
    long now = now();
    n.lock.writeLock().lock();
    try {
      if (aNsec != UTIME_OMIT) {
        n.atimeNs = aNsec == UTIME_NOW ? now : aSec * 1_000_000_000L + aNsec;
      }
      if (mNsec != UTIME_OMIT) {
        n.mtimeNs = mNsec == UTIME_NOW ? now : mSec * 1_000_000_000L + mNsec;
      }
      n.ctimeNs = now;
      meta.put(n);
    } finally {
      n.lock.writeLock().unlock();
    }
  }

  public void access(byte[] path, int mask) {
    List<Name> parts = split(path);
    if (isVirtual(parts)) {
      VirtualNode node = virtualNode(parts, Caller.ROOT);
      if ((mask & 2) != 0 && !(node instanceof VirtualNode.File f && f.writer() != null)) {
        throw new FsException(Errno.EACCES, "virtual files are read-only");
      }
      return;
    }
    resolve(path); // existence; permission bits are checked by the kernel (default_permissions)
  }

  /**
   * Bytes free on the vault's disk beyond the reserve kept for metadata commits: what derived data
   * (the search index) may still take. File writes stop 8 MiB earlier, so this stays at least that
   * large unless the index itself took it. {@link Long#MAX_VALUE} when the disk cannot be asked.
   */
  public long spareBytes() {
    try {
      return content.spareForDerived();
    } catch (IOException e) {
      return Long.MAX_VALUE;
    }
  }

  public StatFs statfs() {
    try {
      long bs = 4096;
      long total = content.totalSpace() / bs;
      long avail = content.availableSpace() / bs;
      return new StatFs(bs, total, avail, avail, inodes.size() + 1_000_000L, 1_000_000L, Name.MAX_BYTES);
    } catch (IOException e) {
      throw new FsException(Errno.EIO, "statfs: " + e.getMessage(), e);
    }
  }

  // ================================================================== directories

  /** Entries of a directory (without "." and ".."), as name and attributes. */
  public record DirEntry(byte[] name, long ino, int mode) {}

  public List<DirEntry> readdir(byte[] path) {
    return readdir(path, Caller.ROOT);
  }

  public List<DirEntry> readdir(byte[] path, Caller caller) {
    List<Name> parts = split(path);
    List<DirEntry> out = new ArrayList<>();
    if (isVirtual(parts)) {
      if (!(virtualNode(parts, caller) instanceof VirtualNode.Directory d)) {
        throw new FsException(Errno.ENOTDIR, "not a directory");
      }
      for (VirtualNode.Entry e : d.entries().get()) {
        byte[] name = e.name().getBytes(java.nio.charset.StandardCharsets.UTF_8);
        List<Name> child = new ArrayList<>(parts);
        child.add(Name.of(name));
        int mode = switch (e.kind()) {
          case DIRECTORY -> Inode.S_IFDIR | 0555;
          case LINK -> Inode.S_IFLNK | 0777;
          case FILE -> Inode.S_IFREG | 0444;
        };
        out.add(new DirEntry(name, virtualIno(child), mode));
      }
      return out;
    }
    tree.readLock().lock();
    try {
      Inode dir = lookup(parts, parts.size());
      if (!dir.isDir()) {
        throw new FsException(Errno.ENOTDIR, "not a directory");
      }
      // the root is never inside an overlay (and a ConcurrentHashMap takes no null key)
      Overlay o = overlays.isEmpty() || parts.isEmpty() ? null : overlays.get(parts.get(0));
      java.util.Set<String> added = o != null && parts.size() == o.depth()
          ? o.provider().names(strings(parts, 0, parts.size())) : java.util.Set.of();
      for (Map.Entry<Name, Inode> e : dir.children.entrySet()) {
        if (!e.getKey().isFuseHidden() && (added.isEmpty() || !added.contains(string(e.getKey())))) {
          out.add(new DirEntry(e.getKey().bytes(), e.getValue().id, e.getValue().mode));
        }
      }
      for (String a : added) {
        List<Name> child = new ArrayList<>(parts);
        child.add(Name.of(a.getBytes(java.nio.charset.StandardCharsets.UTF_8)));
        VirtualNode vn;
        try {
          vn = virtualNode(child, caller);
        } catch (FsException ex) {
          continue;
        }
        int mode = switch (VirtualNode.kindOf(vn)) {
          case DIRECTORY -> Inode.S_IFDIR | 0555;
          case LINK -> Inode.S_IFLNK | 0777;
          case FILE -> Inode.S_IFREG | 0444;
        };
        out.add(new DirEntry(a.getBytes(java.nio.charset.StandardCharsets.UTF_8), virtualIno(child), mode));
      }
      if (dir == root) {
        for (Name v : virtualTrees.keySet()) {
          out.add(new DirEntry(v.bytes(), virtualIno(List.of(v)), Inode.S_IFDIR | 0555));
        }
      }
    } finally {
      tree.readLock().unlock();
    }
    return out;
  }

  public void mkdir(byte[] path, int mode, Caller caller) {
    List<Name> parts = split(path);
    if (isVirtual(parts)) {
      virtualFiles(parts, caller).mkdir(lastName(parts), caller);
      return;
    }
    tree.writeLock().lock();
    try {
      Target t = target(parts);
      checkNotTopLevel(t, "mkdir");
      ensureAbsent(t);
      long now = now();
      Inode d = newDir(nextId.getAndIncrement(), mode & 07777, caller.uid(), caller.gid(), now);
      inheritGroup(t.dir(), d, true);
      d.nlink = 2;
      d.parent = t.dir();
      d.name = t.name();
      inodes.put(d.id, d);
      Inode p = t.dir();
      p.lock.writeLock().lock();
      try {
        p.children.put(t.name(), d);
        p.nlink++;
        p.mtimeNs = p.ctimeNs = now;
        d.queued = true;
        p.queued = true;
        meta.enqueue(List.of(new MetadataStore.Put(d), new MetadataStore.Put(p),
            new MetadataStore.Link(p.id, t.name(), d.id)));
      } finally {
        p.lock.writeLock().unlock();
      }
    } finally {
      tree.writeLock().unlock();
    }
  }

  /** setgid directories pass their group (and, for directories, the bit) on, as ext4 does. */
  private static void inheritGroup(Inode parent, Inode child, boolean isDir) {
    if ((parent.mode & 02000) != 0) {
      child.gid = parent.gid;
      if (isDir) {
        child.mode |= 02000;
      }
    }
  }

  private static void ensureAbsent(Target t) {
    if (t.dir().children.containsKey(t.name())) {
      throw new FsException(Errno.EEXIST, "file exists");
    }
  }

  public void rmdir(byte[] path) {
    rmdir(path, Caller.ROOT);
  }

  public void rmdir(byte[] path, Caller caller) {
    List<Name> parts = split(path);
    if (isVirtual(parts)) {
      if (!(virtualNode(parts, caller) instanceof VirtualNode.Directory)) {
        throw new FsException(Errno.ENOTDIR, "not a directory");
      }
      virtualFiles(parts, caller).remove(lastName(parts), caller);
      return;
    }
    tree.writeLock().lock();
    try {
      Target t = target(parts);
      checkNotTopLevel(t, "rmdir");
      Inode d = t.dir().children.get(t.name());
      if (d == null) {
        throw new FsException(Errno.ENOENT, "no such directory");
      }
      if (!d.isDir()) {
        throw new FsException(Errno.ENOTDIR, "not a directory");
      }
      List<MetadataStore.Op> ops = new ArrayList<>();
      dropClosedHiddenNames(d, ops);
      if (!d.children.isEmpty()) {
        // also when hidden names of files still open remain: libfuse2 addresses those files by
        // a path inside this directory until they are closed
        throw new FsException(Errno.ENOTEMPTY, "directory not empty");
      }
      Inode p = t.dir();
      p.lock.writeLock().lock();
      try {
        p.children.remove(t.name());
        p.nlink--;
        p.mtimeNs = p.ctimeNs = now();
        p.queued = true;
        inodes.remove(d.id);
        d.nlink = 0;
        ops.add(new MetadataStore.Unlink(p.id, t.name()));
        ops.add(new MetadataStore.Put(p));
        ops.add(new MetadataStore.Delete(d.id, null));
        meta.enqueue(ops);
      } finally {
        p.lock.writeLock().unlock();
      }
      changes.removed(d.id, joined(parts, parts.size()), true);
    } finally {
      tree.writeLock().unlock();
    }
  }

  // ================================================================== names

  /** Creates a regular file (or fifo/socket node) and, for regular files, opens it. Returns the handle. */
  public long create(byte[] path, int mode, int flags, Caller caller) {
    List<Name> parts = split(path);
    if (isVirtual(parts)) {
      VirtualNode.File f = virtualFiles(parts, caller).create(lastName(parts), caller);
      if (f == null || f.writer() == null) {
        throw new FsException(Errno.EIO, "a created virtual file must be writable");
      }
      long fh = nextHandle.getAndIncrement();
      VirtualWrite written = new VirtualWrite(f.writer(), caller);
      written.truncate(0); // a file created and closed empty is handed over too (an empty drop-box job)
      handles.put(fh, new Handle(null, flags, new byte[0], written, null, null, virtualIno(parts), f.perm()));
      return fh;
    }
    Inode n = makeNode(path, Inode.S_IFREG | (mode & 07777), caller, null);
    return openHandle(n, flags);
  }

  /** mknod(2): regular files, fifos and sockets; device nodes are refused. */
  public void mknod(byte[] path, int mode, Caller caller) {
    int type = mode & Inode.S_IFMT;
    if (type != Inode.S_IFREG && type != S_IFIFO && type != S_IFSOCK) {
      throw new FsException(Errno.EPERM, "device nodes are not supported on ClawFS");
    }
    makeNode(path, mode, caller, null);
  }

  public void symlink(byte[] targetBytes, byte[] linkPath, Caller caller) {
    if (targetBytes.length > MAX_SYMLINK) {
      throw new FsException(Errno.ENAMETOOLONG, "symlink target longer than 4095 bytes");
    }
    makeNode(linkPath, Inode.S_IFLNK | 0777, caller, targetBytes.clone());
  }

  private Inode makeNode(byte[] path, int mode, Caller caller, byte[] symlinkTarget) {
    List<Name> parts = split(path);
    tree.writeLock().lock();
    try {
      Target t = target(parts);
      checkNotTopLevel(t, "creating files");
      ensureAbsent(t);
      long now = now();
      Inode n = new Inode(nextId.getAndIncrement(), mode);
      n.uid = caller.uid();
      n.gid = caller.gid();
      inheritGroup(t.dir(), n, false);
      n.nlink = 1;
      n.atimeNs = n.mtimeNs = n.ctimeNs = now;
      if (symlinkTarget != null) {
        n.symlinkTarget = symlinkTarget;
        n.size = symlinkTarget.length;
      }
      inodes.put(n.id, n);
      Inode p = t.dir();
      p.lock.writeLock().lock();
      try {
        p.children.put(t.name(), n);
        setPrimaryName(n, p, t.name());
        p.mtimeNs = p.ctimeNs = now;
        n.queued = true;
        p.queued = true;
        meta.enqueue(List.of(new MetadataStore.Put(n), new MetadataStore.Put(p),
            new MetadataStore.Link(p.id, t.name(), n.id)));
      } finally {
        p.lock.writeLock().unlock();
      }
      return n;
    } finally {
      tree.writeLock().unlock();
    }
  }

  public byte[] readlink(byte[] path) {
    return readlink(path, Caller.ROOT);
  }

  /** readlink(2); a virtual tree may answer differently per caller (search hits it may read). */
  public byte[] readlink(byte[] path, Caller caller) {
    List<Name> parts = split(path);
    if (isVirtual(parts)) {
      if (!(virtualNode(parts, caller) instanceof VirtualNode.Link l)) {
        throw new FsException(Errno.EINVAL, "not a symbolic link");
      }
      return l.target().getBytes(java.nio.charset.StandardCharsets.UTF_8);
    }
    Inode n = resolve(path);
    n.lock.readLock().lock();
    try {
      if (!n.isSymlink()) {
        throw new FsException(Errno.EINVAL, "not a symbolic link");
      }
      return n.symlinkTarget.clone();
    } finally {
      n.lock.readLock().unlock();
    }
  }

  public void link(byte[] from, byte[] to) {
    List<Name> src = split(from);
    List<Name> dst = split(to);
    tree.writeLock().lock();
    try {
      if (isVirtual(src)) {
        throw new FsException(Errno.EACCES, "virtual files are read-only");
      }
      Inode n = lookup(src, src.size());
      if (n.isDir()) {
        throw new FsException(Errno.EPERM, "hard links to directories are not allowed");
      }
      Target t = target(dst);
      checkNotTopLevel(t, "creating links");
      ensureAbsent(t);
      long now = now();
      Inode p = t.dir();
      p.lock.writeLock().lock();
      n.lock.writeLock().lock();
      try {
        if (n.nlink >= 65000) {
          throw new FsException(Errno.EMLINK, "too many links");
        }
        p.children.put(t.name(), n);
        if (n.parent == null) {
          setPrimaryName(n, p, t.name());
        }
        p.mtimeNs = p.ctimeNs = now;
        n.nlink++;
        n.ctimeNs = now;
        n.queued = true;
        p.queued = true;
        meta.enqueue(List.of(new MetadataStore.Put(n), new MetadataStore.Put(p),
            new MetadataStore.Link(p.id, t.name(), n.id)));
      } finally {
        n.lock.writeLock().unlock();
        p.lock.writeLock().unlock();
      }
    } finally {
      tree.writeLock().unlock();
    }
  }

  public void unlink(byte[] path) {
    unlink(path, Caller.ROOT);
  }

  public void unlink(byte[] path, Caller caller) {
    List<Name> parts = split(path);
    if (isVirtual(parts)) {
      virtualFiles(parts, caller).remove(lastName(parts), caller);
      return;
    }
    tree.writeLock().lock();
    try {
      Target t = target(parts);
      checkNotTopLevel(t, "unlink");
      Inode n = t.dir().children.get(t.name());
      if (n == null) {
        throw new FsException(Errno.ENOENT, "no such file");
      }
      if (n.isDir()) {
        throw new FsException(Errno.EISDIR, "is a directory");
      }
      Inode p = t.dir();
      List<MetadataStore.Op> ops = new ArrayList<>();
      p.lock.writeLock().lock();
      try {
        p.children.remove(t.name());
        dropPrimaryName(n, p, t.name());
        p.mtimeNs = p.ctimeNs = now();
        p.queued = true;
        ops.add(new MetadataStore.Unlink(p.id, t.name()));
        ops.add(new MetadataStore.Put(p));
      } finally {
        p.lock.writeLock().unlock();
      }
      dropLink(n, ops, t.name().isFuseHidden());
      meta.enqueue(ops);
      changes.namesChanged(n.id);
      if (!t.name().isFuseHidden()) {
        changes.removed(n.id, joined(parts, parts.size()), false);
      }
    } finally {
      tree.writeLock().unlock();
    }
  }

  /** Records (p, name) as n's primary name, the one {@link #pathOf} walks; tree write lock held. */
  private static void setPrimaryName(Inode n, Inode p, Name name) {
    if (n.isDir() || !name.isFuseHidden()) {
      n.parent = p;
      n.name = name;
    }
  }

  /** (p, name) is going: if it was n's primary name, n has none until pathOf finds another. */
  private static void dropPrimaryName(Inode n, Inode p, Name name) {
    if (!n.isDir() && n.parent == p && name.equals(n.name)) {
      n.parent = null;
      n.name = null;
    }
  }

  /** One name of n is gone: count it down, delete the inode when no name and no handle is left. */
  private void dropLink(Inode n, List<MetadataStore.Op> ops, boolean hiddenName) {
    n.lock.writeLock().lock();
    try {
      n.nlink--;
      if (hiddenName) {
        n.hiddenLinks--;
      }
      n.ctimeNs = now();
      if (n.nlink <= 0 && n.openCount == 0) {
        ops.add(deleteInode(n));
      } else {
        n.queued = true;
        ops.add(new MetadataStore.Put(n));
      }
    } finally {
      n.lock.writeLock().unlock();
    }
  }

  /** Caller holds n's write lock. */
  private MetadataStore.Op deleteInode(Inode n) {
    inodes.remove(n.id);
    closeContent(n);
    return new MetadataStore.Delete(n.id, n.fileId);
  }

  private static void closeContent(Inode n) {
    if (n.content != null) {
      try {
        n.content.close();
      } catch (IOException e) {
        LOG.log(Level.WARNING, "closing content of inode {0}: {1}", n.id, e.getMessage());
      }
      n.content = null;
    }
  }

  /**
   * Removes hidden names whose file is no longer open: libfuse2 normally unlinks them at the last
   * release, but the kernel sends RELEASE asynchronously, so one can outlive its file's handles.
   * Tree write lock held.
   */
  private void dropClosedHiddenNames(Inode dir, List<MetadataStore.Op> ops) {
    for (Map.Entry<Name, Inode> e : new ArrayList<>(dir.children.entrySet())) {
      if (e.getKey().isFuseHidden() && e.getValue().openCount == 0) {
        dir.children.remove(e.getKey());
        ops.add(new MetadataStore.Unlink(dir.id, e.getKey()));
        dropLink(e.getValue(), ops, true);
      }
    }
  }

  /** rename(2) with POSIX semantics: replaces an existing target atomically. */
  public void rename(byte[] from, byte[] to) {
    List<Name> src = split(from);
    List<Name> dst = split(to);
    tree.writeLock().lock();
    try {
      Target s = target(src);
      Target d = target(dst);
      checkNotTopLevel(s, "rename");
      checkNotTopLevel(d, "rename");
      Inode n = s.dir().children.get(s.name());
      if (n == null) {
        throw new FsException(Errno.ENOENT, "no such file or directory");
      }
      Inode existing = d.dir().children.get(d.name());
      if (existing == n) {
        return; // same inode (hard links or same name): POSIX says do nothing
      }
      if (n.isDir()) {
        // refuse moving a directory into itself or a descendant
        for (Inode a = d.dir(); ; a = a.parent) {
          if (a == n) {
            throw new FsException(Errno.EINVAL, "cannot move a directory into itself");
          }
          if (a == root) {
            break;
          }
        }
      }
      if (existing != null) {
        if (existing.isDir() && !n.isDir()) {
          throw new FsException(Errno.EISDIR, "target is a directory");
        }
        if (!existing.isDir() && n.isDir()) {
          throw new FsException(Errno.ENOTDIR, "target is not a directory");
        }
        if (existing.isDir()) {
          List<MetadataStore.Op> cleanup = new ArrayList<>();
          dropClosedHiddenNames(existing, cleanup);
          if (!cleanup.isEmpty()) {
            meta.enqueue(cleanup);
          }
        }
        if (existing.isDir() && !existing.children.isEmpty()) {
          throw new FsException(Errno.ENOTEMPTY, "target directory not empty");
        }
        // sticky-bit checks are done by the kernel (default_permissions)
      }
      long now = now();
      List<MetadataStore.Op> ops = new ArrayList<>();
      Inode sp = s.dir();
      Inode dp = d.dir();
      lockBoth(sp, dp);
      try {
        sp.children.remove(s.name());
        ops.add(new MetadataStore.Unlink(sp.id, s.name()));
        if (existing != null) {
          dp.children.remove(d.name());
          if (existing.isDir()) {
            dp.nlink--;
          }
        }
        dp.children.put(d.name(), n);
        ops.add(new MetadataStore.Link(dp.id, d.name(), n.id));
        if (existing != null) {
          dropPrimaryName(existing, dp, d.name());
        }
        if (n.isDir() || n.parent == null || (n.parent == sp && n.name.equals(s.name()))) {
          dropPrimaryName(n, sp, s.name());
          setPrimaryName(n, dp, d.name());
        }
        if (n.isDir() && sp != dp) {
          sp.nlink--;
          dp.nlink++;
        }
        sp.mtimeNs = sp.ctimeNs = now;
        dp.mtimeNs = dp.ctimeNs = now;
        sp.queued = true;
        dp.queued = true;
        ops.add(new MetadataStore.Put(sp));
        if (sp != dp) {
          ops.add(new MetadataStore.Put(dp));
        }
      } finally {
        unlockBoth(sp, dp);
      }
      n.lock.writeLock().lock();
      try {
        n.ctimeNs = now;
        n.hiddenLinks += (d.name().isFuseHidden() ? 1 : 0) - (s.name().isFuseHidden() ? 1 : 0);
        n.queued = true;
        ops.add(new MetadataStore.Put(n));
      } finally {
        n.lock.writeLock().unlock();
      }
      if (existing != null) {
        if (existing.isDir()) {
          existing.lock.writeLock().lock();
          try {
            existing.nlink = 0;
            ops.add(deleteInode(existing));
          } finally {
            existing.lock.writeLock().unlock();
          }
        } else {
          dropLink(existing, ops, d.name().isFuseHidden());
        }
        changes.namesChanged(existing.id);
        if (!d.name().isFuseHidden()) {
          changes.removed(existing.id, joined(dst, dst.size()), existing.isDir());
        }
      }
      meta.enqueue(ops);
      changes.namesChanged(n.id);
      if (d.name().isFuseHidden() && !s.name().isFuseHidden()) {
        changes.removed(n.id, joined(src, src.size()), n.isDir()); // libfuse2's unlink of an open file
      }
    } finally {
      tree.writeLock().unlock();
    }
  }

  private static void lockBoth(Inode a, Inode b) {
    // ordered by id so two renames never deadlock (the tree write lock already serialises them)
    Inode first = a.id <= b.id ? a : b;
    Inode second = first == a ? b : a;
    first.lock.writeLock().lock();
    if (second != first) {
      second.lock.writeLock().lock();
    }
  }

  private static void unlockBoth(Inode a, Inode b) {
    a.lock.writeLock().unlock();
    if (b != a) {
      b.lock.writeLock().unlock();
    }
  }

  // ================================================================== xattrs

  public void setxattr(byte[] path, String name, byte[] value, int flags) {
    if (name.startsWith("system.posix_acl_")) {
      // POSIX ACLs are not supported (the kernel checks modes: default_permissions). Refusing
      // matters: cp -a sets the mode through a minimal ACL and falls back to chmod only on ENOTSUP.
      throw new FsException(Errno.ENOTSUP, "POSIX ACLs are not supported");
    }
    if (value.length > MAX_XATTR_VALUE) {
      throw new FsException(Errno.ERANGE, "attribute value too large");
    }
    if (name.isEmpty() || name.length() > 255) {
      throw new FsException(Errno.ERANGE, "bad attribute name");
    }
    Inode n = resolve(path);
    n.lock.writeLock().lock();
    try {
      boolean exists = n.xattrs != null && n.xattrs.containsKey(name);
      if ((flags & 1) != 0 && exists) { // XATTR_CREATE
        throw new FsException(Errno.EEXIST, "attribute exists");
      }
      if ((flags & 2) != 0 && !exists) { // XATTR_REPLACE
        throw new FsException(Errno.ENODATA, "no such attribute");
      }
      n.xattrs().put(name, value.clone());
      n.ctimeNs = now();
      meta.put(n);
    } finally {
      n.lock.writeLock().unlock();
    }
  }

  public byte[] getxattr(byte[] path, String name) {
    if (isVirtual(split(path))) {
      throw new FsException(Errno.ENODATA, "no such attribute");
    }
    Inode n = resolve(path);
    n.lock.readLock().lock();
    try {
      byte[] v = n.xattrs == null ? null : n.xattrs.get(name);
      if (v == null) {
        throw new FsException(Errno.ENODATA, "no such attribute");
      }
      return v.clone();
    } finally {
      n.lock.readLock().unlock();
    }
  }

  public List<String> listxattr(byte[] path) {
    if (isVirtual(split(path))) {
      return List.of();
    }
    Inode n = resolve(path);
    n.lock.readLock().lock();
    try {
      return n.xattrs == null ? List.of() : new ArrayList<>(n.xattrs.keySet());
    } finally {
      n.lock.readLock().unlock();
    }
  }

  public void removexattr(byte[] path, String name) {
    Inode n = resolve(path);
    n.lock.writeLock().lock();
    try {
      if (n.xattrs == null || n.xattrs.remove(name) == null) {
        throw new FsException(Errno.ENODATA, "no such attribute");
      }
      n.ctimeNs = now();
      meta.put(n);
    } finally {
      n.lock.writeLock().unlock();
    }
  }

  // ================================================================== open files

  public long open(byte[] path, int flags) {
    return open(path, flags, Caller.ROOT);
  }

  public long open(byte[] path, int flags, Caller caller) {
    List<Name> parts = split(path);
    if (isVirtual(parts)) {
      VirtualNode node = virtualNode(parts, caller);
      if (node instanceof VirtualNode.Directory) {
        throw new FsException(Errno.EISDIR, "is a directory");
      }
      if (node instanceof VirtualNode.Stream st) {
        if ((flags & O_ACCMODE) != 0) {
          throw new FsException(Errno.EACCES, "a virtual stream is read-only");
        }
        StreamSource.Reader reader = st.source().open(caller);
        long fh = nextHandle.getAndIncrement();
        handles.put(fh, new Handle(null, flags, null, null, st.source(), reader, virtualIno(parts), st.perm()));
        return fh;
      }
      if (node instanceof VirtualNode.Session se) {
        SessionSource.Session session = se.source().open(caller, flags);
        long fh = nextHandle.getAndIncrement();
        handles.put(fh, new Handle(null, flags, new byte[0], null, null, session, virtualIno(parts), se.perm()));
        return fh;
      }
      if (!(node instanceof VirtualNode.File f)) {
        throw new FsException(Errno.ELOOP, "a virtual link is not opened itself");
      }
      VirtualWrite written = null;
      if ((flags & O_ACCMODE) != 0) {
        if (f.writer() == null) {
          throw new FsException(Errno.EACCES, "virtual files are read-only");
        }
        written = new VirtualWrite(f.writer(), caller);
      }
      byte[] content = (flags & O_ACCMODE) == O_WRONLY ? new byte[0] : f.content().get();
      long fh = nextHandle.getAndIncrement();
      handles.put(fh, new Handle(null, flags, content, written, null, null, virtualIno(parts), f.perm()));
      return fh;
    }
    Inode n = resolve(path);
    if (n.isDir()) {
      throw new FsException(Errno.EISDIR, "is a directory");
    }
    long fh = openHandle(n, flags);
    if ((flags & O_TRUNC) != 0 && (flags & O_ACCMODE) != 0) {
      ftruncate(fh, 0);
    }
    return fh;
  }

  public boolean isVirtualHandle(long fh) {
    Handle h = handles.get(fh);
    return h != null && h.inode() == null;
  }

  /**
   * Whether the descriptor fh must bypass the kernel's page cache (FuseAdapter sets direct_io).
   * libfuse2's high-level API gives each name of a file its own kernel inode, and a name unlinked
   * while open lives on as a hidden name with its own kernel inode too; pages one of them caches
   * go stale when the file is written through another. So a descriptor is uncached while the file
   * has more than one name (hidden names included) or while any uncached descriptor of it is still
   * open (its name may be gone by now). Virtual files are always uncached. Asked once, at open.
   */
  public boolean bypassPageCache(long fh) {
    Handle h = handle(fh);
    Inode n = h.inode();
    if (n == null) {
      return true;
    }
    n.lock.writeLock().lock();
    try {
      boolean direct = n.nlink > 1 || n.uncachedOpens > 0;
      if (direct && uncachedHandles.add(fh)) {
        n.uncachedOpens++;
      }
      return direct;
    } finally {
      n.lock.writeLock().unlock();
    }
  }

  private long openHandle(Inode n, int flags) {
    n.lock.writeLock().lock();
    try {
      n.openCount++;
    } finally {
      n.lock.writeLock().unlock();
    }
    long fh = nextHandle.getAndIncrement();
    handles.put(fh, new Handle(n, flags));
    return fh;
  }

  private Handle handle(long fh) {
    Handle h = handles.get(fh);
    if (h == null) {
      throw new FsException(Errno.EBADF, "bad file handle");
    }
    return h;
  }

  public void release(long fh) {
    Handle h = handles.remove(fh);
    if (h != null && h.reader() != null) {
      h.reader().close();
    } else if (h != null && h.inode() != null) {
      if (uncachedHandles.remove(fh)) {
        Inode n = h.inode();
        n.lock.writeLock().lock();
        try {
          n.uncachedOpens--;
        } finally {
          n.lock.writeLock().unlock();
        }
      }
      release(h.inode());
    } else if (h != null && h.written() != null) {
      try {
        h.written().deliver(); // normally done by flush already
      } catch (FsException e) {
        LOG.log(Level.INFO, "virtual file write refused at release: {0}", e.getMessage());
      }
    }
  }

  /**
   * close(2) of one descriptor: what was written to a virtual file is handed over now, so its
   * error (a malformed request, say) is what close returns. Stored files need nothing here.
   */
  public void flush(long fh) {
    Handle h = handles.get(fh);
    if (h != null && h.written() != null) {
      h.written().deliver();
    }
  }

  private void release(Inode n) {
    emitIfChanged(n);
    MetadataStore.Op delete = null;
    n.lock.writeLock().lock();
    try {
      n.openCount--;
      if (n.openCount == 0) {
        closeContent(n);
        if (n.nlink <= 0 && inodes.containsKey(n.id)) {
          delete = deleteInode(n);
        }
      }
    } finally {
      n.lock.writeLock().unlock();
    }
    if (delete != null) {
      meta.enqueue(List.of(delete));
    }
  }

  /** fsync/fdatasync: the file's data and all metadata queued so far become durable. */
  public void fsync(long fh) {
    Handle h = handle(fh);
    if (h.inode() != null) {
      sync();
      emitIfChanged(h.inode());
    }
  }

  /** Tells the change listener about content written since the last event (at close, fsync, truncate). */
  private void emitIfChanged(Inode n) {
    boolean dirty;
    n.lock.writeLock().lock();
    try {
      dirty = n.contentDirty;
      n.contentDirty = false;
    } finally {
      n.lock.writeLock().unlock();
    }
    if (dirty) {
      changes.contentChanged(n.id);
    }
  }

  // ================================================================== for features that follow the files

  /**
   * A regular file as a feature sees it: one current path (its primary name), size, owner and a
   * content stamp that changes whenever the content does (it is the per-file seal counter mixed
   * with the size: persisted, so stamps compare across mounts too).
   */
  public record FileInfo(long ino, byte[] path, long size, long stamp, int mode, int uid, int gid) {}

  /** The file's current state, or null when it is gone, is not a regular file or has no visible name. */
  public FileInfo fileInfo(long ino) {
    Inode n = inodes.get(ino);
    if (n == null || !n.isRegular()) {
      return null;
    }
    byte[] path;
    tree.readLock().lock();
    try {
      path = pathOf(n);
    } finally {
      tree.readLock().unlock();
    }
    if (path == null) {
      return null;
    }
    n.lock.readLock().lock();
    try {
      return new FileInfo(n.id, path, n.size, stamp(n), n.mode, n.uid, n.gid);
    } finally {
      n.lock.readLock().unlock();
    }
  }

  static long stamp(Inode n) {
    return n.versionCounter * 0x9E3779B97F4A7C15L + n.size;
  }

  /** A file's whole content with the stamp it had, read in one go under the file's lock. */
  public record Content(byte[] data, long stamp) {}

  /** Reads a whole file for indexing: ENOENT when gone, EFBIG when larger than maxBytes. */
  public Content readContent(long ino, int maxBytes) {
    Inode n = inodes.get(ino);
    if (n == null || !n.isRegular()) {
      throw new FsException(Errno.ENOENT, "no such file");
    }
    n.lock.readLock().lock();
    try {
      if (n.size > maxBytes) {
        throw new FsException(Errno.EFBIG, "file larger than " + maxBytes + " bytes");
      }
      byte[] data = new byte[(int) n.size];
      int done = 0;
      while (done < data.length) {
        int len = Math.min(CHUNK, data.length - done);
        byte[] buf = done == 0 && len == data.length ? data : new byte[len];
        int got = readLocked(n, done, buf, len);
        if (buf != data) {
          System.arraycopy(buf, 0, data, done, got);
        }
        done += got;
        if (got == 0) {
          break;
        }
      }
      return new Content(data, stamp(n));
    } finally {
      n.lock.readLock().unlock();
    }
  }

  /** Inode numbers of all regular files (for a full reindex). */
  public long[] regularFiles() {
    return inodes.values().stream().filter(Inode::isRegular).mapToLong(n -> n.id).toArray();
  }

  /**
   * One visible path of n as bytes ("/workspaces/a.txt"), or null when it has none (unlinked,
   * or only libfuse's hidden name while open). Tree lock held by the caller.
   */
  private byte[] pathOf(Inode n) {
    Inode cur = n;
    Name name = n.name;
    Inode parent = n.parent;
    if (n != root && parent == null) {
      // the primary name went but a hard link may remain: look for it (rare, so a scan)
      for (Inode d : inodes.values()) {
        if (d.isDir()) {
          for (Map.Entry<Name, Inode> e : d.children.entrySet()) {
            if (e.getValue() == n && !e.getKey().isFuseHidden()) {
              parent = d;
              name = e.getKey();
              break;
            }
          }
        }
        if (parent != null) {
          break;
        }
      }
      if (parent == null) {
        return null;
      }
    }
    List<Name> names = new ArrayList<>();
    while (cur != root) {
      names.add(name);
      cur = parent;
      name = cur.name;
      parent = cur.parent;
      if (names.size() > 4096) {
        return null; // a cycle would be a bug elsewhere; never loop forever here
      }
    }
    java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
    for (int i = names.size() - 1; i >= 0; i--) {
      out.write('/');
      out.writeBytes(names.get(i).rawBytes());
    }
    return names.isEmpty() ? new byte[] {'/'} : out.toByteArray();
  }

  public int read(long fh, long offset, byte[] dst, int len) {
    return read(fh, offset, dst, len, 0, ReadWait.NONE);
  }

  /**
   * A read; {@code flags} are the descriptor's current flags (O_NONBLOCK matters for streams) and
   * {@code wait} is asked while a stream read waits for data.
   */
  public int read(long fh, long offset, byte[] dst, int len, int flags, ReadWait wait) {
    Handle h = handle(fh);
    if (h.reader() != null) {
      return readStream(h.reader(), offset, dst, len, (flags & O_NONBLOCK) != 0, wait);
    }
    if (h.inode() == null) {
      byte[] c = h.virtualContent();
      if (offset >= c.length) {
        return 0;
      }
      int n = (int) Math.min(len, c.length - offset);
      System.arraycopy(c, (int) offset, dst, 0, n);
      return n;
    }
    Inode n = h.inode();
    int got;
    n.lock.readLock().lock();
    try {
      got = readLocked(n, offset, dst, len);
    } finally {
      n.lock.readLock().unlock();
    }
    bytesRead.addAndGet(got);
    touchAtime(n);
    return got;
  }

  /** relatime, as Linux mounts by default: atime moves when it is older than mtime/ctime or a day. */
  private void touchAtime(Inode n) {
    if (!atimeUpdates) {
      return;
    }
    long now = now();
    long a = n.atimeNs;
    if (a > n.mtimeNs && a > n.ctimeNs && now - a < 86_400_000_000_000L) {
      return;
    }
    n.lock.writeLock().lock();
    try {
      if (n.atimeNs <= n.mtimeNs || n.atimeNs <= n.ctimeNs || now - n.atimeNs >= 86_400_000_000_000L) {
        n.atimeNs = now;
        if (inodes.containsKey(n.id)) {
          meta.put(n);
        }
      }
    } finally {
      n.lock.writeLock().unlock();
    }
  }

  private static final ThreadLocal<byte[]> SEALED = ThreadLocal.withInitial(() -> new byte[ChunkCipher.SLOT_SIZE]);
  private static final ThreadLocal<byte[]> PLAIN = ThreadLocal.withInitial(() -> new byte[CHUNK]);

  private int readLocked(Inode n, long offset, byte[] dst, int len) {
    if (!n.isRegular()) {
      throw new FsException(Errno.EINVAL, "not a regular file");
    }
    if (offset >= n.size || len <= 0) {
      return 0;
    }
    int total = (int) Math.min(len, n.size - offset);
    int done = 0;
    byte[] plain = PLAIN.get();
    while (done < total) {
      long pos = offset + done;
      long idx = pos / CHUNK;
      int within = (int) (pos % CHUNK);
      int take = Math.min(CHUNK - within, total - done);
      if (n.version(idx) == 0) {
        Arrays.fill(dst, done, done + take, (byte) 0);
      } else {
        loadChunk(n, idx, n.size, plain);
        System.arraycopy(plain, within, dst, done, take);
      }
      done += take;
    }
    return total;
  }

  /** Decrypts chunk idx (as sealed for a file of fileSize bytes) into plain. Inode lock held. */
  private void loadChunk(Inode n, long idx, long fileSize, byte[] plain) {
    int plen = Inode.chunkLength(idx, fileSize);
    long ver = n.version(idx);
    byte[] sealed = SEALED.get();
    try {
      ContentFile cf = contentOf(n, false);
      int got = cf.read(sealed, 0, plen + ChunkCipher.OVERHEAD, ContentFile.slotOffset(idx, ver));
      if (got != plen + ChunkCipher.OVERHEAD) {
        authFailures.incrementAndGet();
        LOG.log(Level.ERROR, "content of inode {0} is truncated at chunk {1}", n.id, idx);
        throw new FsException(Errno.EIO, "content file truncated");
      }
      n.cipher.open(idx, ver, sealed, 0, got, plain, 0);
    } catch (AuthenticationFailedException e) {
      authFailures.incrementAndGet();
      LOG.log(Level.ERROR, "chunk {0} of inode {1} failed authentication: {2}", idx, n.id, e.getMessage());
      throw new FsException(Errno.EIO, "chunk failed authentication", e);
    } catch (IOException e) {
      throw new FsException(Errno.EIO, "reading content: " + e.getMessage(), e);
    }
  }

  /** The open content file of n, created when {@code create} and there is none. Lock held (write for create). */
  private ContentFile contentOf(Inode n, boolean create) throws IOException {
    if (n.content == null) {
      synchronized (n) {
        if (n.content == null) {
          if (n.fileId == null) {
            if (!create) {
              throw new FsException(Errno.EIO, "inode " + n.id + " has no content file");
            }
            n.content = content.create(n);
          } else {
            n.content = content.open(n);
          }
        }
      }
    }
    return n.content;
  }

  /** A stream read: data at once, else EAGAIN (non-blocking), else wait until data, EOF or a signal. */
  private static int readStream(StreamSource.Reader r, long offset, byte[] dst, int len, boolean nonBlocking, ReadWait wait) {
    boolean told = false;
    try {
      while (true) {
        int n = r.read(offset, dst, len, nonBlocking ? 0 : STREAM_WAIT_SLICE_MS);
        if (n != 0) {
          return Math.max(n, 0);
        }
        if (nonBlocking) {
          throw new FsException(Errno.EAGAIN, "no new data yet");
        }
        if (wait.interrupted()) {
          throw new FsException(Errno.EINTR, "interrupted");
        }
        if (!told) {
          told = true;
          wait.waiting();
        }
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new FsException(Errno.EINTR, "interrupted");
    }
  }

  public int write(long fh, long offset, byte[] src, int len) {
    Handle h = handle(fh);
    if (h.reader() instanceof SessionSource.Session session) {
      try {
        session.write(src, len);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new FsException(Errno.EINTR, "interrupted");
      }
      return len;
    }
    if (h.inode() == null) {
      if (h.written() == null) {
        throw new FsException(Errno.EBADF, "file not open for writing");
      }
      h.written().write(offset, src, len);
      return len;
    }
    if ((h.flags() & O_ACCMODE) == 0) {
      throw new FsException(Errno.EBADF, "file not open for writing");
    }
    Inode n = h.inode();
    for (int attempt = 0; ; attempt++) {
      n.lock.writeLock().lock();
      try {
        long off = (h.flags() & O_APPEND) != 0 ? n.size : offset;
        if (off + len > MAX_FILE_SIZE) {
          throw new FsException(Errno.EFBIG, "file too large");
        }
        int done = writeLocked(n, off, src, len);
        n.contentDirty = true;
        bytesWritten.addAndGet(done);
        return done;
      } catch (FsException e) {
        if (e.errno() != Errno.ENOSPC || attempt > 0) {
          throw e;
        }
      } finally {
        n.lock.writeLock().unlock();
      }
      // Full: space of deleted files comes back only when their deletion commits (the content
      // files go after the commit), so commit now and try once more, as ext4 forces a journal
      // commit before it reports ENOSPC.
      sync();
    }
  }

  private int writeLocked(Inode n, long offset, byte[] src, int len) {
    if (len == 0) {
      return 0;
    }
    upgradeKeyBeforeWrite(n);
    long oldSize = n.size;
    long newSize = Math.max(oldSize, offset + len);
    byte[] plain = PLAIN.get();
    int done = 0;
    try {
      // the old last chunk grows (zero-filled) when the file grows past it without this write covering it
      if (newSize > oldSize && oldSize % CHUNK != 0) {
        long last = (oldSize - 1) / CHUNK;
        if (offset / CHUNK > last && n.version(last) != 0) {
          resealChunk(n, last, oldSize, newSize);
        }
      }
      while (done < len) {
        long pos = offset + done;
        long idx = pos / CHUNK;
        int within = (int) (pos % CHUNK);
        int take = Math.min(CHUNK - within, len - done);
        int newLen = Inode.chunkLength(idx, newSize);
        boolean covers = within == 0 && take == newLen;
        if (!covers) {
          int oldLen = Inode.chunkLength(idx, oldSize);
          if (n.version(idx) != 0 && oldLen > 0) {
            loadChunk(n, idx, oldSize, plain);
            Arrays.fill(plain, oldLen, newLen, (byte) 0);
          } else {
            Arrays.fill(plain, 0, newLen, (byte) 0);
          }
        }
        System.arraycopy(src, done, plain, within, take);
        storeChunk(n, idx, plain, newLen);
        done += take;
        n.size = Math.max(n.size, pos + take);
      }
    } catch (FsException e) {
      if (done == 0) {
        throw e;
      }
    } catch (IOException e) {
      if (done == 0) {
        throw ioError(e);
      }
    } finally {
      if (done > 0 || n.size != oldSize) {
        long now = now();
        n.mtimeNs = n.ctimeNs = now;
        n.mode &= ~04000; // a write clears set-user-ID, as on ext4 (unprivileged writers)
        meta.put(n);
      }
    }
    return done;
  }

  private static FsException ioError(IOException e) {
    String m = String.valueOf(e.getMessage());
    if (m.contains("No space left")) {
      return new FsException(Errno.ENOSPC, "no space left on the vault's disk", e);
    }
    return new FsException(Errno.EIO, "content I/O: " + m, e);
  }

  /** Seals plain[0, len) as a new version of chunk idx into the slot the committed metadata does not use. */
  private void storeChunk(Inode n, long idx, byte[] plain, int len) throws IOException {
    content.checkSpace(ChunkCipher.SLOT_SIZE);
    ContentFile cf = contentOf(n, true);
    int i = Math.toIntExact(idx);
    long committedVersion;
    synchronized (n.commitMonitor) {
      while (n.inflight.containsKey(i)) {
        try {
          n.commitMonitor.wait();
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new FsException(Errno.EIO, "interrupted");
        }
      }
      committedVersion = i < n.committed.length ? n.committed[i] : 0;
    }
    long v = n.versionCounter + 1;
    if (committedVersion != 0 && (v & 1) == (committedVersion & 1)) {
      v++;
    }
    byte[] sealed = SEALED.get();
    int slen = n.cipher.seal(idx, v, plain, 0, len, sealed, 0);
    cf.write(sealed, 0, slen, ContentFile.slotOffset(idx, v));
    n.versionCounter = v;
    n.setVersion(idx, v);
    meta.contentWritten();
  }

  /** Re-seals chunk idx, sealed for a file of oldSize bytes, for a file of newSize bytes (zero-extending or cutting). */
  private void resealChunk(Inode n, long idx, long oldSize, long newSize) throws IOException {
    byte[] plain = PLAIN.get();
    int oldLen = Inode.chunkLength(idx, oldSize);
    int newLen = Inode.chunkLength(idx, newSize);
    loadChunk(n, idx, oldSize, plain);
    if (newLen > oldLen) {
      Arrays.fill(plain, oldLen, newLen, (byte) 0);
    }
    storeChunk(n, idx, plain, newLen);
  }

  public void truncate(byte[] path, long size) {
    List<Name> parts = split(path);
    if (isVirtual(parts)) {
      // the kernel truncates before an O_TRUNC write (echo x > file): nothing is stored to cut
      VirtualNode node = virtualNode(parts, Caller.ROOT);
      if (!(node instanceof VirtualNode.Session)
          && (!(node instanceof VirtualNode.File f) || f.writer() == null)) {
        throw new FsException(Errno.EACCES, "virtual files are read-only");
      }
      return;
    }
    Inode n = resolve(path);
    truncateInode(n, size);
    emitIfChanged(n);
  }

  public void ftruncate(long fh, long size) {
    Handle h = handle(fh);
    if (h.reader() instanceof SessionSource.Session) {
      return; // a conversation has nothing stored to cut (O_TRUNC)
    }
    if (h.inode() == null) {
      if (h.written() == null) {
        throw new FsException(Errno.EACCES, "virtual files are read-only");
      }
      h.written().truncate(size);
      return;
    }
    truncateInode(h.inode(), size);
  }

  private void truncateInode(Inode n, long size) {
    if (size < 0) {
      throw new FsException(Errno.EINVAL, "negative size");
    }
    if (size > MAX_FILE_SIZE) {
      throw new FsException(Errno.EFBIG, "file too large");
    }
    n.lock.writeLock().lock();
    try {
      if (n.isDir()) {
        throw new FsException(Errno.EISDIR, "is a directory");
      }
      if (!n.isRegular()) {
        throw new FsException(Errno.EINVAL, "not a regular file");
      }
      long old = n.size;
      if (size != old) {
        upgradeKeyBeforeWrite(n);
      }
      if (size < old) {
        long keep = (size + CHUNK - 1) / CHUNK;
        for (long i = keep; i < n.versions.length; i++) {
          n.setVersion(i, 0);
        }
        if (size % CHUNK != 0 && n.version(size / CHUNK) != 0) {
          resealChunk(n, size / CHUNK, old, size);
        }
      } else if (size > old && old % CHUNK != 0) {
        long last = (old - 1) / CHUNK;
        if (n.version(last) != 0) {
          resealChunk(n, last, old, size);
        }
      }
      // the chunk count of the last version block may have changed
      if (size != old) {
        long chunks = (Math.max(size, old) + CHUNK - 1) / CHUNK;
        n.dirtyBlocks.set((int) (Math.max(0, chunks - 1) / Inode.BLOCK_CHUNKS));
        n.dirtyBlocks.set((int) (Math.max(0, (size + CHUNK - 1) / CHUNK - 1) / Inode.BLOCK_CHUNKS));
      }
      if (size != old) {
        n.versionCounter++; // the content stamp (fileInfo) must change even when no chunk was resealed
      }
      n.size = size;
      n.contentDirty = true;
      long now = now();
      n.mtimeNs = n.ctimeNs = now;
      meta.put(n);
    } catch (IOException e) {
      throw ioError(e);
    } finally {
      if (n.openCount == 0) {
        closeContent(n);
      }
      n.lock.writeLock().unlock();
    }
  }

  // ================================================================== key rotation

  /**
   * Data written after a rotation must not be readable with a copy of the old header, so a file
   * whose content file is still under an older master key is re-encrypted under the primary before
   * its first write or truncate lands. When that fails (a chunk that does not authenticate), the
   * write goes ahead under the old key and the rekey reports the file. Inode write lock held.
   */
  private void upgradeKeyBeforeWrite(Inode n) {
    if (n.fileId == null) {
      return;
    }
    try {
      reencryptLocked(n);
    } catch (FsException | IOException e) {
      LOG.log(Level.WARNING, "inode {0} stays under its old key for this write: {1}", n.id, e.getMessage());
    }
  }

  /** Id of the master key the metadata database is sealed under. */
  public int metadataKeyId() {
    return meta.keyId();
  }

  /**
   * Re-seals the whole metadata database (rows, version blocks, names re-hashed, key id row and
   * check record) under the primary master key, in one transaction with the queued changes, and
   * waits until it is durable.
   */
  public void resealMetadata() {
    meta.reseal(content.primaryKeyId());
  }

  /**
   * Re-encrypts the content of regular file {@code ino} under the primary master key when its
   * content file is under another key: a new content file (new file id and content key, every
   * chunk re-sealed at its version), switched to in the inode record at the next commit; the old
   * content file is removed after that commit. Holds the file's write lock meanwhile, so reads and
   * writes of this file wait (others do not). Returns the plaintext bytes re-encrypted (0 when
   * there was nothing to do: no content, already under the primary, or the file is gone).
   */
  public long reencrypt(long ino) throws IOException {
    Inode n = inodes.get(ino);
    if (n == null || !n.isRegular()) {
      return 0;
    }
    n.lock.writeLock().lock();
    try {
      return reencryptLocked(n);
    } finally {
      if (n.openCount == 0) {
        closeContent(n);
      }
      n.lock.writeLock().unlock();
    }
  }

  /** See {@link #reencrypt}; inode write lock held. */
  private long reencryptLocked(Inode n) throws IOException {
    if (n.fileId == null || !inodes.containsKey(n.id)) {
      return 0;
    }
    int target = content.primaryKeyId();
    ContentFile old = contentOf(n, false); // reads the header: sets the cipher
    if (n.cipher.keyId() == target) {
      return 0;
    }
    content.checkSpace(n.size + (n.chunkCount() + 1) * ChunkCipher.OVERHEAD + dev.clawfs.crypto.FileHeader.SIZE);
    ContentStore.NewFile fresh = content.newFile();
    byte[] plain = PLAIN.get();
    byte[] sealed = SEALED.get();
    long bytes = 0;
    try {
      long chunks = n.chunkCount();
      for (long idx = 0; idx < chunks; idx++) {
        long v = n.version(idx);
        if (v == 0) {
          continue; // a hole stays a hole
        }
        int len = Inode.chunkLength(idx, n.size);
        loadChunk(n, idx, n.size, plain);
        int slen = fresh.cipher().seal(idx, v, plain, 0, len, sealed, 0);
        fresh.file().write(sealed, 0, slen, ContentFile.slotOffset(idx, v));
        bytes += len;
      }
    } catch (RuntimeException | IOException e) {
      try {
        fresh.file().close();
      } finally {
        content.delete(fresh.fileId());
      }
      throw e;
    } finally {
      Arrays.fill(plain, (byte) 0);
    }
    // The committed metadata still names the old file, which stays untouched until a commit names
    // the new one (made durable by that commit's syncfs); writes from now on go to the new file.
    byte[] oldId = n.fileId;
    n.fileId = fresh.fileId();
    n.cipher = fresh.cipher();
    n.content = fresh.file();
    try {
      old.close();
    } catch (IOException e) {
      LOG.log(Level.WARNING, "closing the old content of inode {0}: {1}", n.id, e.getMessage());
    }
    meta.contentWritten();
    meta.put(n);
    meta.enqueue(List.of(new MetadataStore.DropContent(n.id, oldId)));
    return Math.max(bytes, 1);
  }

  /** How many regular files' content files name each master key id in their header, and what could not be read. */
  public record KeyUse(Map<Integer, Integer> files, Map<Integer, Long> bytes, List<Long> unreadable) {}

  /**
   * Scans the header of every live content file on disk (not what memory says) for the key id it
   * names; each under the file's read lock, so no re-encryption is half done while it is read.
   */
  public KeyUse contentKeyUse() {
    Map<Integer, Integer> files = new HashMap<>();
    Map<Integer, Long> bytes = new HashMap<>();
    List<Long> unreadable = new ArrayList<>();
    for (Inode n : new ArrayList<>(inodes.values())) {
      if (!n.isRegular()) {
        continue;
      }
      n.lock.readLock().lock();
      try {
        if (n.fileId == null || !inodes.containsKey(n.id)) {
          continue;
        }
        Integer k = content.keyIdOnDisk(n.fileId);
        if (k == null) {
          unreadable.add(n.id);
        } else {
          files.merge(k, 1, Integer::sum);
          bytes.merge(k, n.size, Long::sum);
        }
      } catch (IOException e) {
        unreadable.add(n.id);
      } finally {
        n.lock.readLock().unlock();
      }
    }
    return new KeyUse(files, bytes, unreadable);
  }

  /** Regular files whose content file is not under the primary key (by their header on disk), with their sizes. */
  public Map<Long, Long> filesNotUnderPrimary() {
    int primary = content.primaryKeyId();
    Map<Long, Long> out = new LinkedHashMap<>();
    for (Inode n : new ArrayList<>(inodes.values())) {
      if (!n.isRegular()) {
        continue;
      }
      n.lock.readLock().lock();
      try {
        if (n.fileId != null && inodes.containsKey(n.id)) {
          Integer k = content.keyIdOnDisk(n.fileId);
          if (k == null || k != primary) {
            out.put(n.id, n.size);
          }
        }
      } catch (IOException e) {
        out.put(n.id, n.size);
      } finally {
        n.lock.readLock().unlock();
      }
    }
    return out;
  }
}
