package dev.clawfs.fuse;

import dev.clawfs.crypto.AuthenticationFailedException;
import dev.clawfs.crypto.ChunkCipher;
import dev.clawfs.crypto.CryptoException;
import dev.clawfs.crypto.FileHeader;
import dev.clawfs.crypto.MasterKeys;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.FileStore;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Set;
import java.util.stream.Stream;

/**
 * Content files under {@code content/xx/<file id hex>}: stored under random ids, never under
 * mirrored paths, so nothing in the vault names a file and no symlink in the vault can redirect
 * a write (files are created with CREATE_NEW and opened with NOFOLLOW_LINKS).
 */
final class ContentStore {
  static final String DIR = "content";
  private static final HexFormat HEX = HexFormat.of();

  private final Path root;
  private final MasterKeys keys;
  private final FileStore store;
  private final long reserveBytes;
  /**
   * Room file content may not take, kept for derived data (the search index) above the metadata
   * reserve: the index stops writing before it reaches the metadata reserve, and file writes stop
   * this much earlier, so neither can starve the metadata commit that frees deleted files' space.
   */
  static final long DERIVED_RESERVE = 8L << 20;
  private volatile long lastFree = Long.MAX_VALUE;
  private volatile long lastFreeCheckNs;

  ContentStore(Path vaultDir, MasterKeys keys) throws IOException {
    this.root = vaultDir.resolve(DIR);
    this.keys = keys;
    Files.createDirectories(root);
    this.store = Files.getFileStore(root);
    long total = store.getTotalSpace();
    // Room kept back for the metadata database, so a disk filled through the mount can still
    // commit the metadata of everything written before.
    this.reserveBytes = Math.max(1L << 20, Math.min(64L << 20, total / 32));
  }

  static void initialize(Path vaultDir) throws IOException {
    Path r = vaultDir.resolve(DIR);
    Files.createDirectories(r);
    for (int i = 0; i < 256; i++) {
      Files.createDirectories(r.resolve(String.format("%02x", i)));
    }
  }

  Path pathOf(byte[] fileId) {
    return pathOf(root.getParent(), fileId);
  }

  /** Where the content file of {@code fileId} lives in the vault at {@code vaultDir}. */
  static Path pathOf(Path vaultDir, byte[] fileId) {
    String hex = HEX.formatHex(fileId);
    return vaultDir.resolve(DIR).resolve(hex.substring(0, 2)).resolve(hex);
  }

  /** Creates a new content file with a fresh header; sets the inode's file id and cipher. */
  ContentFile create(Inode inode) throws IOException {
    NewFile f = newFile();
    inode.fileId = f.fileId();
    inode.cipher = f.cipher();
    return f.file();
  }

  /** A content file just created: nothing names it yet. */
  record NewFile(ContentFile file, byte[] fileId, ChunkCipher cipher) {}

  /** Creates a content file with a fresh header (new file id and content key, under the primary key). */
  NewFile newFile() throws IOException {
    FileHeader header = FileHeader.create(keys);
    Path p = pathOf(header.fileId());
    Files.createDirectories(p.getParent());
    FileChannel ch =
        FileChannel.open(
            p, StandardOpenOption.CREATE_NEW, StandardOpenOption.READ, StandardOpenOption.WRITE);
    ContentFile cf = new ContentFile(ch);
    byte[] h = header.encode(keys);
    try {
      cf.write(h, 0, h.length, 0);
    } catch (IOException e) {
      cf.close();
      Files.deleteIfExists(p);
      throw e;
    }
    return new NewFile(cf, header.fileId(), header.chunkCipher());
  }

  /** The key id new content files are created under. */
  int primaryKeyId() {
    return keys.primaryKeyId();
  }

  /**
   * The key id named in the header of the content file {@code fileId} as it is on disk (read
   * afresh, not from memory), or null when the file is missing or too short.
   */
  Integer keyIdOnDisk(byte[] fileId) throws IOException {
    try (FileChannel ch = FileChannel.open(pathOf(fileId), StandardOpenOption.READ, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
      java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(10);
      while (b.hasRemaining() && ch.read(b, b.position()) > 0) {
        // read the magic, version and key id
      }
      return b.hasRemaining() ? null : b.getInt(6);
    } catch (NoSuchFileException e) {
      return null;
    }
  }

  /** Opens an existing content file and checks that its header belongs to this inode. */
  ContentFile open(Inode inode) throws IOException {
    Path p = pathOf(inode.fileId);
    FileChannel ch;
    try {
      ch =
          FileChannel.open(
              p,
              StandardOpenOption.READ,
              StandardOpenOption.WRITE,
              java.nio.file.LinkOption.NOFOLLOW_LINKS);
    } catch (NoSuchFileException e) {
      throw new FsException(Errno.EIO, "content file of inode " + inode.id + " is missing", e);
    }
    ContentFile cf = new ContentFile(ch);
    if (inode.cipher == null) {
      byte[] h = new byte[FileHeader.SIZE];
      try {
        if (cf.read(h, 0, h.length, 0) != h.length) {
          throw new FsException(Errno.EIO, "content file of inode " + inode.id + " has no header");
        }
        FileHeader header = FileHeader.decode(h, keys);
        if (!Arrays.equals(header.fileId(), inode.fileId)) {
          throw new AuthenticationFailedException(
              "content file of inode " + inode.id + " belongs to another file");
        }
        inode.cipher = header.chunkCipher();
      } catch (CryptoException | FsException e) {
        cf.close();
        throw e instanceof FsException fe
            ? fe
            : new FsException(Errno.EIO, "content header of inode " + inode.id + ": " + e.getMessage(), e);
      }
    }
    return cf;
  }

  void delete(byte[] fileId) throws IOException {
    Files.deleteIfExists(pathOf(fileId));
  }

  /** Deletes content files that no inode references (left by a crash after a commit). */
  int sweep(Set<String> liveHex) throws IOException {
    int removed = 0;
    try (Stream<Path> dirs = Files.list(root)) {
      for (Path d : (Iterable<Path>) dirs::iterator) {
        if (!Files.isDirectory(d)) {
          continue;
        }
        try (Stream<Path> files = Files.list(d)) {
          for (Path f : (Iterable<Path>) files::iterator) {
            if (!liveHex.contains(f.getFileName().toString())) {
              Files.deleteIfExists(f);
              removed++;
            }
          }
        }
      }
    }
    return removed;
  }

  static String hex(byte[] fileId) {
    return HEX.formatHex(fileId);
  }

  /** Refuses a write that would eat into the metadata reserve. */
  void checkSpace(long bytes) {
    long now = System.nanoTime();
    long free = lastFree;
    if (free < (256L << 20) || now - lastFreeCheckNs > 100_000_000L) {
      try {
        free = store.getUsableSpace();
      } catch (IOException e) {
        free = Long.MAX_VALUE;
      }
      lastFree = free;
      lastFreeCheckNs = now;
    }
    if (free - bytes < reserveBytes + DERIVED_RESERVE) {
      throw new FsException(Errno.ENOSPC, "no space left on the vault's disk");
    }
  }

  long totalSpace() throws IOException {
    return store.getTotalSpace();
  }

  /** What file content may still take (statfs shows this as available). */
  long availableSpace() throws IOException {
    return Math.max(0, store.getUsableSpace() - reserveBytes - DERIVED_RESERVE);
  }

  /** What derived data (the search index) may still take: everything above the metadata reserve. */
  long spareForDerived() throws IOException {
    return Math.max(0, store.getUsableSpace() - reserveBytes);
  }
}
