package dev.clawfs.fuse;

import dev.clawfs.crypto.ChunkCipher;
import java.util.Arrays;
import java.util.BitSet;
import java.util.HashMap;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * An inode held in memory. All metadata lives in memory while mounted; {@link MetadataStore}
 * persists it (sealed) in SQLite.
 *
 * <p>Locking: attributes and content are guarded by {@link #lock} (readers share, writers and
 * attribute changes are exclusive), so different files never contend. Directory children and
 * {@link #parent} are guarded by the file system's tree lock. Commit bookkeeping
 * ({@link #committed}, {@link #inflight}) is guarded by {@link #commitMonitor}.
 */
final class Inode {
  static final int S_IFMT = 0170000;
  static final int S_IFREG = 0100000;
  static final int S_IFDIR = 0040000;
  static final int S_IFLNK = 0120000;

  /** Chunk versions per persisted version block. */
  static final int BLOCK_CHUNKS = 1024;

  static final long[] NO_VERSIONS = new long[0];

  final long id;
  final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();

  int mode;
  int uid;
  int gid;
  int nlink;
  /** Names of this inode that are libfuse's hidden names for unlinked-but-open files. */
  int hiddenLinks;
  long size;
  long atimeNs;
  long mtimeNs;
  long ctimeNs;

  /** Regular files: random id naming the content file and bound into every chunk's AAD. */
  byte[] fileId;

  /** Per-file monotonic counter: every chunk seal takes a fresh version, never reused. */
  long versionCounter;

  /** Current version of each chunk; 0 = hole (reads as zeros). */
  long[] versions = NO_VERSIONS;

  /** Symlink target bytes. */
  byte[] symlinkTarget;

  /** Extended attributes, name -> value. */
  Map<String, byte[]> xattrs;

  /** Directories: children by name (tree lock). */
  Map<Name, Inode> children;

  /**
   * The directory holding this inode's primary name, and that name (tree lock); root points to
   * itself. A file with hard links keeps one of them; when that one goes, both are null until a
   * lookup by {@code ClawFileSystem.pathOf} finds another.
   */
  Inode parent;

  Name name;

  /** Written or truncated since the last change event (inode lock). */
  boolean contentDirty;

  // ---- persistence state (lock held when touched) ----
  /** True while a snapshot of this inode is queued but not yet taken. */
  boolean queued;

  /** Version blocks changed since the last snapshot. */
  final BitSet dirtyBlocks = new BitSet();

  /** Digest of each persisted version block (kept in the sealed inode record). */
  byte[][] blockDigests = new byte[0][];

  // ---- commit state (commitMonitor) ----
  final Object commitMonitor = new Object();

  /** Version of each chunk in the last committed metadata; its slot must not be overwritten. */
  long[] committed = NO_VERSIONS;

  /** Chunk index -> version captured by a snapshot whose commit is under way. */
  final Map<Integer, Long> inflight = new HashMap<>();

  // ---- open state (lock) ----
  int openCount;
  /** Open descriptors of this file that bypass the kernel page cache (ClawFileSystem.bypassPageCache). */
  int uncachedOpens;
  ContentFile content;
  ChunkCipher cipher;

  Inode(long id, int mode) {
    this.id = id;
    this.mode = mode;
  }

  boolean isDir() {
    return (mode & S_IFMT) == S_IFDIR;
  }

  boolean isRegular() {
    return (mode & S_IFMT) == S_IFREG;
  }

  boolean isSymlink() {
    return (mode & S_IFMT) == S_IFLNK;
  }

  long chunkCount() {
    return (size + ChunkCipher.CHUNK_SIZE - 1) / ChunkCipher.CHUNK_SIZE;
  }

  /** Plaintext length of chunk {@code index} for a file of {@code fileSize} bytes. */
  static int chunkLength(long index, long fileSize) {
    long start = index * ChunkCipher.CHUNK_SIZE;
    return (int) Math.max(0, Math.min(ChunkCipher.CHUNK_SIZE, fileSize - start));
  }

  long version(long index) {
    return index < versions.length ? versions[(int) index] : 0;
  }

  void setVersion(long index, long version) {
    int i = Math.toIntExact(index);
    if (i >= versions.length) {
      if (version == 0) {
        return;
      }
      versions = Arrays.copyOf(versions, Math.max(i + 1, versions.length * 2));
    }
    if (versions[i] != version) {
      versions[i] = version;
      blocksCacheKey = -1;
      dirtyBlocks.set(i / BLOCK_CHUNKS);
    }
  }

  /** Number of version blocks that the current file size needs. */
  int blockCount() {
    long chunks = chunkCount();
    return (int) ((chunks + BLOCK_CHUNKS - 1) / BLOCK_CHUNKS);
  }

  Map<String, byte[]> xattrs() {
    if (xattrs == null) {
      xattrs = new TreeMap<>();
    }
    return xattrs;
  }

  private long blocksCacheKey = -1;
  private long blocksCacheSize = -1;
  private long blocksCache;

  Attr attr() {
    long blocks;
    if (isRegular() && blocksCacheKey == versionCounter && blocksCacheSize == size) {
      blocks = blocksCache;
    } else if (isRegular()) {
      long present = 0;
      long chunks = chunkCount();
      for (long i = 0; i < chunks && i < versions.length; i++) {
        if (versions[(int) i] != 0) {
          present += chunkLength(i, size);
        }
      }
      blocks = (present + 511) / 512;
      // racy but safe: readers under the shared lock may both compute the same value
      blocksCache = blocks;
      blocksCacheSize = size;
      blocksCacheKey = versionCounter;
    } else {
      blocks = (size + 511) / 512;
    }
    return new Attr(id, mode, nlink - hiddenLinks, uid, gid, size, blocks, atimeNs, mtimeNs, ctimeNs);
  }
}
