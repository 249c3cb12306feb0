package dev.clawfs.fuse;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.clawfs.crypto.ChunkCipher;
import dev.clawfs.crypto.FileHeader;
import dev.clawfs.crypto.KdfParams;
import dev.clawfs.crypto.MasterKeys;
import dev.clawfs.crypto.VaultHeader;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The core without a mount: semantics, persistence across reopen, and tamper detection. */
class ClawFileSystemTest {
  private static final int O_RDWR = 2;
  private static final char[] PASS = "test passphrase".toCharArray();
  private static final Caller ME = new Caller(1000, 1000, 1);

  @TempDir Path dir;
  private MasterKeys keys;
  private ClawFileSystem fs;

  @BeforeEach
  void setUp() throws IOException {
    keys = VaultHeader.create(dir, PASS, new KdfParams(8192, 1, 1));
    ClawFileSystem.initialize(dir, keys, 0, 0);
    fs = ClawFileSystem.open(dir, keys, 50);
  }

  @AfterEach
  void tearDown() throws IOException {
    fs.close();
  }

  private static byte[] p(String path) {
    return path.getBytes(StandardCharsets.ISO_8859_1);
  }

  private void reopen() throws IOException {
    fs.close();
    fs = ClawFileSystem.open(dir, VaultHeader.unlock(dir, PASS), 50);
  }

  private byte[] readAll(String path) {
    long fh = fs.open(p(path), 0);
    try {
      long size = fs.fgetattr(fh).size();
      byte[] out = new byte[(int) size];
      int off = 0;
      while (off < size) {
        byte[] buf = new byte[131072];
        int n = fs.read(fh, off, buf, buf.length);
        if (n == 0) {
          break;
        }
        System.arraycopy(buf, 0, out, off, n);
        off += n;
      }
      return out;
    } finally {
      fs.release(fh);
    }
  }

  private void writeAt(long fh, long offset, byte[] data) {
    int done = 0;
    while (done < data.length) {
      int len = Math.min(131072, data.length - done);
      byte[] b = Arrays.copyOfRange(data, done, done + len);
      done += fs.write(fh, offset + done, b, len);
    }
  }

  private static byte[] random(int n, long seed) {
    byte[] b = new byte[n];
    new Random(seed).nextBytes(b);
    return b;
  }

  @Test
  void freshVaultHasTheNamespace() {
    List<String> names = fs.readdir(p("/")).stream().map(e -> new String(e.name(), StandardCharsets.ISO_8859_1)).sorted().collect(Collectors.toList());
    assertEquals(List.of("agents", "specs", "vault", "workspaces"), names);
    assertEquals(0700, fs.getattr(p("/vault")).mode() & 07777);
  }

  @Test
  void writesAcrossChunkBoundariesReadBackAndSurviveReopen() throws IOException {
    byte[] data = random(3 * ChunkCipher.CHUNK_SIZE + 1234, 1);
    long fh = fs.create(p("/workspaces/f"), 0644, O_RDWR, ME);
    writeAt(fh, 0, data);
    // overwrite a range straddling the first boundary
    byte[] patch = random(5000, 2);
    writeAt(fh, ChunkCipher.CHUNK_SIZE - 2500, patch);
    System.arraycopy(patch, 0, data, ChunkCipher.CHUNK_SIZE - 2500, patch.length);
    fs.release(fh);
    assertArrayEquals(data, readAll("/workspaces/f"));
    assertEquals(1000, fs.getattr(p("/workspaces/f")).uid());
    reopen();
    assertArrayEquals(data, readAll("/workspaces/f"));
  }

  @Test
  void readsLeaveAtimeAloneWhenAtimeUpdatesAreOff() throws IOException {
    long fh = fs.create(p("/workspaces/a"), 0644, O_RDWR, ME);
    writeAt(fh, 0, "some text".getBytes(StandardCharsets.UTF_8));
    fs.release(fh);
    // atime older than mtime: a relatime read would move it
    fs.utimens(p("/workspaces/a"), 1, 0, 2, 0);
    fs.setAtimeUpdates(false); // a noatime or ro mount
    readAll("/workspaces/a");
    assertEquals(1_000_000_000L, fs.getattr(p("/workspaces/a")).atimeNs(), "noatime: a read keeps atime");
    fs.setAtimeUpdates(true);
    readAll("/workspaces/a");
    assertTrue(fs.getattr(p("/workspaces/a")).atimeNs() > 2_000_000_000L, "relatime: a read moves an atime older than mtime");
  }

  @Test
  void sparseWritesAndTruncateReadZeros() throws IOException {
    long fh = fs.create(p("/workspaces/s"), 0644, O_RDWR, ME);
    writeAt(fh, 10, p("abc"));
    writeAt(fh, 5L * ChunkCipher.CHUNK_SIZE + 7, p("xyz"));
    byte[] got = readAll("/workspaces/s");
    byte[] want = new byte[5 * ChunkCipher.CHUNK_SIZE + 10];
    System.arraycopy(p("abc"), 0, want, 10, 3);
    System.arraycopy(p("xyz"), 0, want, 5 * ChunkCipher.CHUNK_SIZE + 7, 3);
    assertArrayEquals(want, got);
    fs.ftruncate(fh, 11); // cuts "abc" to "a"
    fs.ftruncate(fh, 100); // grows with zeros
    byte[] t = readAll("/workspaces/s");
    assertEquals(100, t.length);
    assertEquals('a', t[10]);
    for (int i = 11; i < 100; i++) {
      assertEquals(0, t[i], "byte " + i);
    }
    fs.release(fh);
    reopen();
    assertArrayEquals(t, readAll("/workspaces/s"));
  }

  @Test
  void bigSparseFileBeyondFourGiB() throws IOException {
    long fh = fs.create(p("/workspaces/huge"), 0644, O_RDWR, ME);
    long off = 5L << 30;
    writeAt(fh, off, p("end"));
    assertEquals(off + 3, fs.fgetattr(fh).size());
    fs.release(fh);
    reopen();
    long h = fs.open(p("/workspaces/huge"), 0);
    byte[] b = new byte[6];
    assertEquals(3, fs.read(h, off, b, 6));
    assertEquals("end", new String(b, 0, 3, StandardCharsets.ISO_8859_1));
    assertEquals(6, fs.read(h, 1L << 32, b, 6));
    assertArrayEquals(new byte[6], b);
    fs.release(h);
  }

  @Test
  void unlinkWhileOpenKeepsDataForTheHandle() throws IOException {
    long fh = fs.create(p("/workspaces/u"), 0644, O_RDWR, ME);
    writeAt(fh, 0, p("still here"));
    fs.unlink(p("/workspaces/u"));
    assertEquals(Errno.ENOENT, assertThrows(FsException.class, () -> fs.getattr(p("/workspaces/u"))).errno());
    byte[] b = new byte[10];
    assertEquals(10, fs.read(fh, 0, b, 10));
    assertEquals("still here", new String(b, StandardCharsets.ISO_8859_1));
    assertEquals(0, fs.fgetattr(fh).nlink());
    fs.release(fh);
    reopen();
    assertEquals(0, countContentFiles(), "content of the unlinked file is gone after release");
  }

  private long countContentFiles() throws IOException {
    try (Stream<Path> s = Files.walk(dir.resolve("content"))) {
      return s.filter(Files::isRegularFile).count();
    }
  }

  @Test
  void namespaceOperationsFollowPosix() throws IOException {
    fs.mkdir(p("/workspaces/d"), 0755, ME);
    fs.mkdir(p("/workspaces/d/sub"), 0755, ME);
    assertEquals(3, fs.getattr(p("/workspaces/d")).nlink());
    assertEquals(Errno.ENOTEMPTY, assertThrows(FsException.class, () -> fs.rmdir(p("/workspaces/d"))).errno());
    assertEquals(Errno.EEXIST, assertThrows(FsException.class, () -> fs.mkdir(p("/workspaces/d"), 0755, ME)).errno());
    assertEquals(Errno.EINVAL, assertThrows(FsException.class, () -> fs.rename(p("/workspaces/d"), p("/workspaces/d/sub/x"))).errno());
    long fh = fs.create(p("/workspaces/d/a"), 0644, O_RDWR, ME);
    writeAt(fh, 0, p("A"));
    fs.release(fh);
    fh = fs.create(p("/workspaces/b"), 0644, O_RDWR, ME);
    writeAt(fh, 0, p("B"));
    fs.release(fh);
    fs.link(p("/workspaces/d/a"), p("/workspaces/a2"));
    assertEquals(2, fs.getattr(p("/workspaces/a2")).nlink());
    fs.rename(p("/workspaces/b"), p("/workspaces/d/a")); // replaces one name of a
    assertEquals(1, fs.getattr(p("/workspaces/a2")).nlink());
    assertArrayEquals(p("B"), readAll("/workspaces/d/a"));
    assertArrayEquals(p("A"), readAll("/workspaces/a2"));
    fs.symlink(p("d/a"), p("/workspaces/ln"), ME);
    assertArrayEquals(p("d/a"), fs.readlink(p("/workspaces/ln")));
    fs.rename(p("/workspaces/d"), p("/workspaces/e"));
    reopen();
    assertArrayEquals(p("B"), readAll("/workspaces/e/a"));
    assertEquals(3, fs.getattr(p("/workspaces/e")).nlink());
    assertEquals(1, fs.getattr(p("/workspaces/a2")).nlink());
    assertEquals(Errno.EPERM, assertThrows(FsException.class, () -> fs.rmdir(p("/specs"))).errno());
  }

  @Test
  void namesUpTo255BytesAndAnyBytes() throws IOException {
    byte[] name = new byte[255];
    Arrays.fill(name, (byte) 0xC3);
    byte[] path = concat(p("/workspaces/"), name);
    fs.release(fs.create(path, 0644, O_RDWR, ME));
    byte[] tooLong = concat(p("/workspaces/"), new byte[256]);
    Arrays.fill(tooLong, 12, tooLong.length, (byte) 'x');
    assertEquals(Errno.ENAMETOOLONG, assertThrows(FsException.class, () -> fs.create(tooLong, 0644, O_RDWR, ME)).errno());
    reopen();
    assertTrue(fs.readdir(p("/workspaces")).stream().anyMatch(e -> Arrays.equals(e.name(), name)));
  }

  private static byte[] concat(byte[] a, byte[] b) {
    byte[] c = Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, c, a.length, b.length);
    return c;
  }

  @Test
  void xattrsPersist() throws IOException {
    fs.release(fs.create(p("/workspaces/x"), 0644, O_RDWR, ME));
    fs.setxattr(p("/workspaces/x"), "user.tag", p("blue"), 0);
    assertEquals(Errno.EEXIST, assertThrows(FsException.class, () -> fs.setxattr(p("/workspaces/x"), "user.tag", p("red"), 1)).errno());
    reopen();
    assertArrayEquals(p("blue"), fs.getxattr(p("/workspaces/x"), "user.tag"));
    fs.removexattr(p("/workspaces/x"), "user.tag");
    assertEquals(Errno.ENODATA, assertThrows(FsException.class, () -> fs.getxattr(p("/workspaces/x"), "user.tag")).errno());
  }

  // ------------------------------------------------------------------ tampering

  /** Writes a two-chunk file twice (so old ciphertext exists), closes, returns its content file. */
  private Path fileWithHistory(String name, byte[] v1, byte[] v2, Path oldCopy) throws IOException {
    long fh = fs.create(p(name), 0644, O_RDWR, ME);
    writeAt(fh, 0, v1);
    fs.fsync(fh);
    Path cf = onlyContentFileNewerThan(null);
    Files.copy(cf, oldCopy);
    writeAt(fh, 0, v2);
    fs.release(fh);
    fs.close();
    return cf;
  }

  private Path onlyContentFileNewerThan(Path ignored) throws IOException {
    try (Stream<Path> s = Files.walk(dir.resolve("content"))) {
      List<Path> files = s.filter(Files::isRegularFile).collect(Collectors.toList());
      assertEquals(1, files.size());
      return files.get(0);
    }
  }

  private int readErrno(String path) throws IOException {
    fs = ClawFileSystem.open(dir, VaultHeader.unlock(dir, PASS), 50);
    FsException e = assertThrows(FsException.class, () -> readAll(path));
    return e.errno();
  }

  @Test
  void flippedByteIsEio() throws IOException {
    Path cf = fileWithHistory("/workspaces/t", random(70000, 3), random(70000, 4), dir.resolve("old"));
    try (RandomAccessFile raf = new RandomAccessFile(cf.toFile(), "rw")) {
      // flip a byte in both slots of chunk 0, wherever the live one is
      for (long slot = 0; slot < 2; slot++) {
        long pos = FileHeader.SIZE + slot * ChunkCipher.SLOT_SIZE + 100;
        if (pos < raf.length()) {
          raf.seek(pos);
          int b = raf.read();
          raf.seek(pos);
          raf.write(b ^ 1);
        }
      }
    }
    assertEquals(Errno.EIO, readErrno("/workspaces/t"));
  }

  @Test
  void chunkRolledBackToOlderCiphertextIsEio() throws IOException {
    Path old = dir.resolve("old");
    Path cf = fileWithHistory("/workspaces/t", random(70000, 3), random(70000, 4), old);
    // restore the whole older content file: every chunk now carries an older version
    Files.copy(old, cf, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    assertEquals(Errno.EIO, readErrno("/workspaces/t"));
  }

  @Test
  void truncationAtAChunkBoundaryIsEio() throws IOException {
    Path cf = fileWithHistory("/workspaces/t", random(200000, 3), random(200000, 4), dir.resolve("old"));
    try (RandomAccessFile raf = new RandomAccessFile(cf.toFile(), "rw")) {
      raf.setLength(FileHeader.SIZE + 2L * 2 * ChunkCipher.SLOT_SIZE); // keep chunks 0 and 1 only
    }
    assertEquals(Errno.EIO, readErrno("/workspaces/t"));
  }

  @Test
  void allZeroChunkIsEio() throws IOException {
    Path cf = fileWithHistory("/workspaces/t", random(70000, 3), random(70000, 4), dir.resolve("old"));
    try (RandomAccessFile raf = new RandomAccessFile(cf.toFile(), "rw")) {
      byte[] zeros = new byte[2 * ChunkCipher.SLOT_SIZE];
      raf.seek(FileHeader.SIZE);
      raf.write(zeros);
    }
    assertEquals(Errno.EIO, readErrno("/workspaces/t"));
  }

  @Test
  void contentFilesSwappedBetweenFilesAreEio() throws IOException {
    long a = fs.create(p("/workspaces/a"), 0644, O_RDWR, ME);
    writeAt(a, 0, random(1000, 5));
    fs.release(a);
    long b = fs.create(p("/workspaces/b"), 0644, O_RDWR, ME);
    writeAt(b, 0, random(1000, 6));
    fs.release(b);
    fs.close();
    List<Path> files;
    try (Stream<Path> s = Files.walk(dir.resolve("content"))) {
      files = s.filter(Files::isRegularFile).collect(Collectors.toList());
    }
    assertEquals(2, files.size());
    Path tmp = dir.resolve("swap");
    Files.move(files.get(0), tmp);
    Files.move(files.get(1), files.get(0));
    Files.move(tmp, files.get(1));
    assertEquals(Errno.EIO, readErrno("/workspaces/a"));
    assertEquals(Errno.EIO, assertThrows(FsException.class, () -> readAll("/workspaces/b")).errno());
  }
}
