package dev.clawfs.fuse;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.clawfs.crypto.KdfParams;
import dev.clawfs.crypto.MasterKeys;
import dev.clawfs.crypto.VaultHeader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What features that follow the files rely on: change events, a file's current path through
 * renames and hard links, a content stamp that moves with the content, whole-file reads, and
 * virtual trees (listing, links, read-only and writable files).
 */
class FollowTheFilesTest {
  private static final int O_WRONLY = 1;
  private static final int O_RDWR = 2;
  private static final char[] PASS = "test passphrase".toCharArray();
  private static final Caller ME = new Caller(1000, 1000, 1);

  @TempDir Path dir;
  private ClawFileSystem fs;
  private final List<String> events = new ArrayList<>();

  @BeforeEach
  void setUp() throws IOException {
    MasterKeys keys = VaultHeader.create(dir, PASS, new KdfParams(8192, 1, 1));
    ClawFileSystem.initialize(dir, keys, 0, 0);
    fs = ClawFileSystem.open(dir, keys, 50);
    fs.setChangeListener(new ChangeListener() {
      @Override
      public synchronized void contentChanged(long ino) {
        events.add("content " + ino);
      }

      @Override
      public synchronized void namesChanged(long ino) {
        events.add("names " + ino);
      }
    });
  }

  @AfterEach
  void tearDown() throws IOException {
    fs.close();
  }

  private static byte[] p(String path) {
    return path.getBytes(StandardCharsets.UTF_8);
  }

  private long write(String path, String text) {
    long fh = fs.create(p(path), 0644, O_RDWR, ME);
    byte[] b = text.getBytes(StandardCharsets.UTF_8);
    fs.write(fh, 0, b, b.length);
    return fh;
  }

  private long ino(String path) {
    return fs.getattr(p(path)).ino();
  }

  private String pathOf(long ino) {
    ClawFileSystem.FileInfo fi = fs.fileInfo(ino);
    return fi == null ? null : new String(fi.path(), StandardCharsets.UTF_8);
  }

  @Test
  void contentEventsComeAtCloseFsyncAndTruncateNotOnEveryWrite() {
    long fh = write("/specs/a.md", "hello");
    long a = ino("/specs/a.md");
    fs.write(fh, 5, p(" world"), 6);
    assertEquals(List.of(), events, "writes alone emit nothing");
    fs.fsync(fh);
    assertEquals(List.of("content " + a), events);
    fs.release(fh);
    assertEquals(List.of("content " + a), events, "nothing written since the fsync");
    long ro = fs.open(p("/specs/a.md"), 0);
    fs.release(ro);
    assertEquals(1, events.size(), "a reader's close is not a change");
    fs.truncate(p("/specs/a.md"), 3);
    assertEquals(List.of("content " + a, "content " + a), events);
  }

  @Test
  void unlinkAndRenameEmitNameEventsAndPathsFollow() {
    fs.mkdir(p("/workspaces/proj"), 0755, ME);
    fs.mkdir(p("/workspaces/proj/docs"), 0755, ME);
    fs.release(write("/workspaces/proj/docs/x.txt", "x"));
    long x = ino("/workspaces/proj/docs/x.txt");
    long proj = ino("/workspaces/proj");
    assertEquals("/workspaces/proj/docs/x.txt", pathOf(x));
    events.clear();
    fs.rename(p("/workspaces/proj"), p("/workspaces/renamed"));
    assertEquals(List.of("names " + proj), events);
    assertEquals("/workspaces/renamed/docs/x.txt", pathOf(x), "a directory rename moves the paths below it");
    fs.rename(p("/workspaces/renamed/docs/x.txt"), p("/vault/x.txt"));
    assertEquals("/vault/x.txt", pathOf(x));
    fs.release(write("/specs/y.txt", "y"));
    long y = ino("/specs/y.txt");
    events.clear();
    fs.rename(p("/specs/y.txt"), p("/vault/x.txt")); // replaces x
    assertEquals(List.of("names " + x, "names " + y), events);
    assertNull(fs.fileInfo(x), "a replaced file is gone");
    assertEquals("/vault/x.txt", pathOf(y));
    events.clear();
    fs.unlink(p("/vault/x.txt"));
    assertEquals(List.of("names " + y), events);
    assertNull(fs.fileInfo(y));
  }

  @Test
  void aFileOpenAfterUnlinkUnderAHiddenNameHasNoPath() {
    long fh = write("/specs/open.txt", "still open");
    long n = ino("/specs/open.txt");
    fs.rename(p("/specs/open.txt"), p("/specs/.fuse_hidden0000000100000001")); // what libfuse does
    assertNull(fs.fileInfo(n), "the user sees the file as deleted");
    assertEquals("still open", new String(fs.readContent(n, 1 << 20).data(), StandardCharsets.UTF_8));
    fs.release(fh);
  }

  @Test
  void hardLinksKeepAPathWhenThePrimaryNameGoes() {
    fs.release(write("/specs/one", "linked"));
    long n = ino("/specs/one");
    fs.mkdir(p("/workspaces/w"), 0755, ME);
    fs.link(p("/specs/one"), p("/workspaces/w/two"));
    fs.unlink(p("/specs/one"));
    assertEquals("/workspaces/w/two", pathOf(n));
    fs.unlink(p("/workspaces/w/two"));
    assertNull(fs.fileInfo(n));
  }

  @Test
  void stampMovesWithContentOnlyAndSurvivesReopen() throws IOException {
    long fh = write("/specs/s.bin", "");
    long n = ino("/specs/s.bin");
    byte[] big = new byte[200_000];
    new Random(7).nextBytes(big);
    fs.write(fh, 0, big, big.length);
    long s1 = fs.fileInfo(n).stamp();
    fs.utimens(p("/specs/s.bin"), 1, 0, 1, 0);
    fs.chmod(p("/specs/s.bin"), 0600);
    assertEquals(s1, fs.fileInfo(n).stamp(), "times and modes are not content");
    fs.ftruncate(fh, 131_072); // a chunk boundary: no chunk is resealed
    long s2 = fs.fileInfo(n).stamp();
    assertNotEquals(s1, s2);
    fs.ftruncate(fh, 200_000); // back to the old size, the tail now zeros
    long s3 = fs.fileInfo(n).stamp();
    assertNotEquals(s1, s3, "same size as before, different content: the stamp must differ");
    fs.release(fh);
    ClawFileSystem.Content c = fs.readContent(n, 1 << 20);
    assertEquals(s3, c.stamp());
    byte[] expect = big.clone();
    java.util.Arrays.fill(expect, 131_072, 200_000, (byte) 0);
    assertArrayEquals(expect, c.data());
    assertThrows(FsException.class, () -> fs.readContent(n, 1000), "larger than the cap");
    fs.close();
    fs = ClawFileSystem.open(dir, VaultHeader.unlock(dir, PASS), 50);
    assertEquals(s3, fs.fileInfo(n).stamp(), "stamps compare across mounts");
    assertEquals("/specs/s.bin", pathOf(n));
    assertTrue(java.util.Arrays.stream(fs.regularFiles()).anyMatch(i -> i == n));
  }

  @Test
  void virtualTreesServeDirectoriesLinksAndFiles() {
    List<String> received = new ArrayList<>();
    VirtualDir system = new VirtualDir();
    system.dir("index").file("status", () -> p("queued 0\n"));
    system.file("control", () -> p(""), (data, caller) -> {
      String cmd = new String(data, StandardCharsets.UTF_8).trim();
      if (!cmd.equals("reindex")) {
        throw new FsException(Errno.EINVAL, "unknown command");
      }
      received.add(cmd + " by " + caller.uid());
    });
    fs.registerVirtual("system", system);
    fs.registerVirtual("search", (path, caller) -> {
      if (path.isEmpty()) {
        return new VirtualNode.Directory(List::of);
      }
      if (path.size() == 1) {
        return new VirtualNode.Directory(() -> List.of(new VirtualNode.Entry("1-a.md", VirtualNode.Kind.LINK)));
      }
      if (path.size() == 2 && path.get(1).equals("1-a.md")) {
        return new VirtualNode.Link("../../specs/a.md");
      }
      throw new FsException(Errno.ENOENT, "no such hit");
    });
    List<String> top = fs.readdir(p("/")).stream().map(e -> new String(e.name(), StandardCharsets.UTF_8)).toList();
    assertTrue(top.contains("system") && top.contains("search"), top.toString());
    assertEquals(List.of("control", "index"),
        fs.readdir(p("/system")).stream().map(e -> new String(e.name(), StandardCharsets.UTF_8)).toList());
    assertEquals(Inode.S_IFDIR, fs.getattr(p("/system/index")).mode() & Inode.S_IFMT);
    assertEquals(9, fs.getattr(p("/system/index/status")).size());
    long fh = fs.open(p("/system/index/status"), 0);
    byte[] buf = new byte[64];
    assertEquals("queued 0\n", new String(buf, 0, fs.read(fh, 0, buf, 64), StandardCharsets.UTF_8));
    fs.release(fh);
    assertEquals(FsException.class, assertThrows(FsException.class, () -> fs.open(p("/system/index/status"), O_WRONLY)).getClass());

    String q = "/search/how are keys rotated?";
    assertEquals(Inode.S_IFDIR, fs.getattr(p(q)).mode() & Inode.S_IFMT);
    assertEquals(Inode.S_IFLNK, fs.getattr(p(q + "/1-a.md")).mode() & Inode.S_IFMT);
    assertEquals("../../specs/a.md", new String(fs.readlink(p(q + "/1-a.md")), StandardCharsets.UTF_8));
    assertEquals(Errno.ENOENT, assertThrows(FsException.class, () -> fs.getattr(p(q + "/2-b.md"))).errno());
    assertEquals(fs.getattr(p(q)).ino(), fs.getattr(p(q)).ino(), "stable inode numbers");
    assertNotEquals(fs.getattr(p(q)).ino(), fs.getattr(p("/search/other")).ino());
    assertEquals(Errno.EACCES, assertThrows(FsException.class, () -> fs.mkdir(p("/search/x/y"), 0755, ME)).errno());

    fh = fs.open(p("/system/control"), O_WRONLY, new Caller(0, 0, 9));
    fs.truncate(p("/system/control"), 0);
    fs.write(fh, 0, p("rein"), 4);
    fs.write(fh, 4, p("dex\n"), 4);
    fs.flush(fh);
    fs.release(fh);
    assertEquals(List.of("reindex by 0"), received);
    long bad = fs.open(p("/system/control"), O_WRONLY, new Caller(0, 0, 9));
    fs.write(bad, 0, p("format c:"), 9);
    assertEquals(Errno.EINVAL, assertThrows(FsException.class, () -> fs.flush(bad)).errno(), "close reports the refusal");
    fs.release(bad);
    assertEquals(1, received.size());
  }
}
