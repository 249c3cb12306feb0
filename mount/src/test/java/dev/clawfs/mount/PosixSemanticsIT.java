package dev.clawfs.mount;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * POSIX behaviour of a real ClawFS mount, one behaviour per test, with ext4's answers as the
 * expected values. Steps that need exact errno values, byte-string names, xattrs or
 * renameat2 run as short python3 snippets; each snippet prints {@code key=value} lines that
 * the test asserts on.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class PosixSemanticsIT {
  private static final int CHUNK = 64 * 1024;

  /** Helpers every snippet gets: err() runs a call and names its errno, out() prints results. */
  private static final String PRELUDE =
      """
      import os, sys, errno, stat, time, ctypes, ctypes.util, hashlib
      def err(f, *a, **k):
          try:
              f(*a, **k)
              return 'OK'
          except OSError as e:
              return errno.errorcode.get(e.errno, str(e.errno))
      def safe(f):
          try:
              return f()
          except OSError as e:
              return errno.errorcode.get(e.errno, str(e.errno))
      def out(**kv):
          for k, v in kv.items():
              print(f'{k}={v}')
      """;

  @TempDir static Path base;
  private static MountedVault vault;
  private Path dir;

  @BeforeAll
  static void mountVault() throws IOException {
    vault = MountedVault.create(base);
  }

  @AfterAll
  static void unmountVault() {
    if (vault != null) {
      vault.close();
    }
  }

  @BeforeEach
  void freshDirectory(TestInfo info) throws IOException {
    assertTrue(Files.isDirectory(vault.path("workspaces")),
        "the mount is gone (did the server die in an earlier test?): " + vault.mountpoint());
    dir = vault.path("workspaces/posix").resolve(info.getTestMethod().orElseThrow().getName());
    Files.createDirectories(dir);
  }

  // ---------------------------------------------------------------- open flags

  @Test
  void appendModeWritesAtEndOfFileWhateverThePosition() throws IOException {
    Path f = dir.resolve("log");
    Files.writeString(f, "hello ");
    Map<String, String> r = py("""
        p = sys.argv[1]
        a = os.open(p, os.O_WRONLY | os.O_APPEND)
        b = os.open(p, os.O_WRONLY | os.O_APPEND)
        os.lseek(a, 0, os.SEEK_SET)
        os.write(a, b'world')
        pos = os.lseek(a, 0, os.SEEK_CUR)
        os.write(b, b'!')          # b's offset is stale; O_APPEND must still write at the end
        os.lseek(a, 2, os.SEEK_SET)
        os.write(a, b'?')
        os.close(a); os.close(b)
        out(pos=pos, size=os.stat(p).st_size)
        """, f);
    assertEquals("11", r.get("pos"), "offset after an O_APPEND write");
    assertEquals("13", r.get("size"));
    assertEquals("hello world!?", Files.readString(f));
  }

  @Test
  void truncOnOpenEmptiesTheFileAndOldBytesNeverComeBack() throws IOException {
    Path f = dir.resolve("t");
    Files.write(f, pattern(3 * CHUNK + 123, 7));
    Map<String, String> r = py("""
        p = sys.argv[1]
        fd = os.open(p, os.O_WRONLY | os.O_TRUNC)
        size0 = os.fstat(fd).st_size
        os.pwrite(fd, b'x', 2 * 65536 + 5)
        os.close(fd)
        out(size0=size0)
        """, f);
    assertEquals("0", r.get("size0"), "size right after O_TRUNC");
    byte[] expected = new byte[2 * CHUNK + 6];
    expected[2 * CHUNK + 5] = 'x';
    assertArrayEquals(expected, Files.readAllBytes(f), "bytes before the write must be zeros");
  }

  @Test
  void exclusiveCreateOfAnExistingNameFailsWithEexist() throws IOException {
    Files.writeString(dir.resolve("exists"), "keep");
    Files.createDirectory(dir.resolve("adir"));
    Files.createSymbolicLink(dir.resolve("dangling"), Path.of("nowhere"));
    Map<String, String> r = py("""
        d = sys.argv[1]
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
        out(file=err(os.open, os.path.join(d, 'exists'), flags, 0o644),
            dir=err(os.open, os.path.join(d, 'adir'), flags, 0o644),
            dangling=err(os.open, os.path.join(d, 'dangling'), flags, 0o644),
            new=err(os.open, os.path.join(d, 'new'), flags, 0o644),
            again=err(os.open, os.path.join(d, 'new'), flags, 0o644),
            nowhere=os.path.lexists(os.path.join(d, 'nowhere')))
        """, dir);
    assertAll(
        () -> assertEquals("EEXIST", r.get("file"), "O_EXCL on an existing file"),
        () -> assertEquals("EEXIST", r.get("dir"), "O_EXCL on an existing directory"),
        () -> assertEquals("EEXIST", r.get("dangling"), "O_EXCL on a dangling symlink"),
        () -> assertEquals("OK", r.get("new"), "O_EXCL on a new name"),
        () -> assertEquals("EEXIST", r.get("again"), "O_EXCL on the name just created"),
        () -> assertEquals("False", r.get("nowhere"), "O_EXCL must not follow the symlink"),
        () -> assertEquals("keep", Files.readString(dir.resolve("exists"))));
  }

  // ---------------------------------------------------------------- data

  @Test
  void readAndWriteAtArbitraryOffsetsMatchAnInMemoryCopy() throws IOException {
    Random rnd = new Random(20240601L);
    byte[] model = new byte[0];
    Path f = dir.resolve("rw");
    try (FileChannel ch = FileChannel.open(f, StandardOpenOption.CREATE_NEW,
        StandardOpenOption.READ, StandardOpenOption.WRITE)) {
      for (int i = 0; i < 300; i++) {
        int off = rnd.nextInt(5) == 0
            ? (1 + rnd.nextInt(5)) * CHUNK - rnd.nextInt(64) // straddle a chunk boundary
            : rnd.nextInt(6 * CHUNK);
        byte[] data = new byte[1 + rnd.nextInt(rnd.nextBoolean() ? 200 : 2 * CHUNK + 10)];
        rnd.nextBytes(data);
        writeFully(ch, data, off);
        if (off + data.length > model.length) {
          model = Arrays.copyOf(model, off + data.length);
        }
        System.arraycopy(data, 0, model, off, data.length);
        if (i % 10 == 0) {
          int roff = rnd.nextInt(model.length + 10);
          int rlen = rnd.nextInt(3 * CHUNK);
          byte[] got = readUpTo(ch, roff, rlen);
          int expectLen = Math.max(0, Math.min(rlen, model.length - roff));
          assertArrayEquals(Arrays.copyOfRange(model, Math.min(roff, model.length),
              Math.min(roff, model.length) + expectLen), got,
              "pread(" + roff + ", " + rlen + ") after write " + i);
        }
      }
      assertEquals(model.length, ch.size());
      assertEquals(0, readUpTo(ch, model.length, 100).length, "read at EOF returns nothing");
      assertEquals(0, readUpTo(ch, model.length + 5 * CHUNK, 100).length, "read past EOF");
    }
    assertArrayEquals(model, Files.readAllBytes(f), "content after close and reopen");
  }

  @Test
  void sparseHolesReadAsZeros() throws IOException {
    Path f = dir.resolve("sparse");
    long far = 10L * 1024 * 1024 + 3;
    try (FileChannel ch = FileChannel.open(f, StandardOpenOption.CREATE_NEW,
        StandardOpenOption.WRITE)) {
      writeFully(ch, bytes("A"), 0);
      writeFully(ch, bytes("B"), 40_000); // hole inside the first chunk
      writeFully(ch, bytes("C"), far); // hole over many chunks
    }
    byte[] all = Files.readAllBytes(f);
    assertEquals(far + 1, all.length);
    byte[] expected = new byte[(int) far + 1];
    expected[0] = 'A';
    expected[40_000] = 'B';
    expected[(int) far] = 'C';
    assertArrayEquals(expected, all);
  }

  @Test
  void truncateShrinksAndGrowsWithZerosNeverOldData() throws IOException {
    Path f = dir.resolve("tr");
    Files.write(f, filled(3 * CHUNK + 500, (byte) 0xAB));
    Map<String, String> r = py("""
        p = sys.argv[1]
        os.truncate(p, 100000)               # mid chunk 1, by path
        s1 = os.stat(p).st_size
        os.truncate(p, 300000)               # grow again
        s2 = os.stat(p).st_size
        fd = os.open(p, os.O_RDWR)
        os.ftruncate(fd, 65536)              # exactly at a chunk boundary, by descriptor
        s3 = os.fstat(fd).st_size
        os.pwrite(fd, b'Z', 70000)           # write beyond EOF after shrinking
        s4 = os.fstat(fd).st_size
        os.close(fd)
        out(s1=s1, s2=s2, s3=s3, s4=s4)
        """, f);
    assertEquals("100000", r.get("s1"));
    assertEquals("300000", r.get("s2"));
    assertEquals("65536", r.get("s3"));
    assertEquals("70001", r.get("s4"));
    byte[] expected = new byte[70001];
    Arrays.fill(expected, 0, CHUNK, (byte) 0xAB);
    expected[70000] = 'Z';
    assertArrayEquals(expected, Files.readAllBytes(f),
        "bytes cut off by truncate must read back as zeros when the file grows again");
    py("os.truncate(sys.argv[1], 0)", f);
    assertEquals(0, Files.size(f));
    assertEquals(0, Files.readAllBytes(f).length);
  }

  @Test
  void fsyncAndFdatasyncSucceedOnFilesAndDirectories() throws IOException {
    Path f = dir.resolve("synced");
    // each call on its own, so that a call that never returns is named in the failure
    step("fsync after a write", """
        fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
        os.write(fd, b'durable' * 10000); os.fsync(fd); os.close(fd)
        """, f);
    step("fdatasync after a write", """
        fd = os.open(sys.argv[1], os.O_RDWR | os.O_APPEND)
        os.write(fd, b'more'); os.fdatasync(fd); os.close(fd)
        """, f);
    step("fsync with nothing left to write", """
        fd = os.open(sys.argv[1], os.O_RDONLY); os.fsync(fd); os.fdatasync(fd); os.close(fd)
        """, f);
    step("fsync of a directory", """
        fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY); os.fsync(fd); os.close(fd)
        """, dir);
    assertEquals(70004, Files.size(f));
  }

  @Test
  void unlinkWhileOpenKeepsDataForTheHandleAndRemovesTheName() throws IOException {
    Map<String, String> r = py("""
        d = sys.argv[1]; p = os.path.join(d, 'f')
        fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
        os.write(fd, b'before' + bytes(70000) + b'tail')
        os.unlink(p)
        listing = sorted(os.listdir(d))
        exists = os.path.lexists(p)
        d1 = os.pread(fd, 6, 0) + os.pread(fd, 4, 70006)
        os.pwrite(fd, b'after', 70010)
        os.fsync(fd)
        d2 = os.pread(fd, 5, 70010)
        nlink = safe(lambda: os.fstat(fd).st_nlink); size = safe(lambda: os.fstat(fd).st_size)
        ftrunc = err(os.ftruncate, fd, 70015); fchmod = err(os.fchmod, fd, 0o600)
        fd2 = os.open(p, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)   # a new file, same name
        os.write(fd2, b'new')
        os.close(fd2)
        d3 = os.pread(fd, 6, 0)
        newc = open(p, 'rb').read()
        os.unlink(p)
        os.close(fd)
        sub = os.path.join(d, 'sub'); os.mkdir(sub); q = os.path.join(sub, 'g')
        fd3 = os.open(q, os.O_RDWR | os.O_CREAT, 0o644); os.write(fd3, b'x'); os.unlink(q)
        sublist = os.listdir(sub)
        rm = err(os.rmdir, sub)
        os.close(fd3)
        out(listing=listing, exists=exists, d1=d1, d2=d2, nlink=nlink, size=size,
            d3=d3, new=newc, after=sorted(os.listdir(d)), sublist=sublist, rmdir=rm,
            ftrunc=ftrunc, fchmod=fchmod)
        """, dir);
    assertAll(
        () -> assertEquals("[]", r.get("listing"), "directory listing after unlink (no hidden"
            + " placeholder names)"),
        () -> assertEquals("False", r.get("exists"), "the name is gone"),
        () -> assertEquals("b'beforetail'", r.get("d1"), "the handle still reads the data"),
        () -> assertEquals("b'after'", r.get("d2"), "the handle can still write"),
        () -> assertEquals("0", r.get("nlink"), "fstat st_nlink of an unlinked open file"),
        () -> assertEquals("70015", r.get("size"), "fstat st_size of an unlinked open file"),
        () -> assertEquals("OK", r.get("ftrunc"), "ftruncate of an unlinked open file"),
        () -> assertEquals("OK", r.get("fchmod"), "fchmod of an unlinked open file"),
        () -> assertEquals("b'before'", r.get("d3"), "a new file of the same name is separate"),
        () -> assertEquals("b'new'", r.get("new")),
        () -> assertEquals("['sub']", r.get("after"), "sub stays: rmdir refused while its file was open"),
        () -> assertEquals("[]", r.get("sublist")),
        // documented libfuse2 difference (README, "Semantics and limits"): the open file keeps a
        // hidden name in its directory until it is closed
        () -> assertEquals("ENOTEMPTY", r.get("rmdir"),
            "rmdir of a directory whose only file is unlinked but still open"));
  }

  @Test
  void anUnlinkedOpenFileKeepsItsDirectoryAndWorksInFull() throws IOException {
    Map<String, String> r = py("""
        d = sys.argv[1]; sub = os.path.join(d, 'sub'); p = os.path.join(sub, 'f')
        os.mkdir(sub)
        fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
        os.write(fd, b'data')
        os.unlink(p)
        rm = err(os.rmdir, sub)
        out(rmdir=rm, pwrite=safe(lambda: os.pwrite(fd, b'more', 4)),
            pread=safe(lambda: os.pread(fd, 100, 0)), size=safe(lambda: os.fstat(fd).st_size),
            nlink=safe(lambda: os.fstat(fd).st_nlink), fchmod=err(os.fchmod, fd, 0o600),
            ftruncate=err(os.ftruncate, fd, 6), after=safe(lambda: os.pread(fd, 100, 0)),
            listing=os.listdir(d))
        os.close(fd)
        """, dir);
    // documented libfuse2 difference (README): the directory is not empty while the unlinked file
    // is open, and the descriptor keeps working in full
    assertAll(
        () -> assertEquals("ENOTEMPTY", r.get("rmdir"), "rmdir while the unlinked file is open"),
        () -> assertEquals("4", r.get("pwrite")),
        () -> assertEquals("b'datamore'", r.get("pread")),
        () -> assertEquals("8", r.get("size"), "fstat st_size of the unlinked file"),
        () -> assertEquals("0", r.get("nlink"), "fstat st_nlink of the unlinked file"),
        () -> assertEquals("OK", r.get("fchmod")),
        () -> assertEquals("OK", r.get("ftruncate")),
        () -> assertEquals("b'datamo'", r.get("after")),
        () -> assertEquals("['sub']", r.get("listing")));
  }

  @Test
  void aDirectoryHoldingAnUnlinkedOpenFileIsNotEmptyForRename() throws IOException {
    Map<String, String> r = py("""
        d = sys.argv[1]; a = os.path.join(d, 'a'); b = os.path.join(d, 'b')
        os.mkdir(a); os.mkdir(b)
        open(os.path.join(a, 'kept'), 'wb').write(b'kept')
        fd = os.open(os.path.join(b, 'f'), os.O_RDWR | os.O_CREAT, 0o644)
        os.write(fd, b'open')
        os.unlink(os.path.join(b, 'f'))
        res = err(os.rename, a, b)
        out(rename=res, listing=sorted(os.listdir(d)), inside=sorted(os.listdir(b)),
            handle=safe(lambda: os.pread(fd, 10, 0)), size=safe(lambda: os.fstat(fd).st_size))
        os.close(fd)
        """, dir);
    // documented libfuse2 difference (README): not empty while the unlinked file is open
    assertAll(
        () -> assertEquals("ENOTEMPTY", r.get("rename"),
            "rename onto a directory whose only entry is unlinked but open"),
        () -> assertEquals("['a', 'b']", r.get("listing")),
        () -> assertEquals("[]", r.get("inside")),
        () -> assertEquals("b'open'", r.get("handle")),
        () -> assertEquals("4", r.get("size")));
  }

  // ---------------------------------------------------------------- directories and renames

  @Test
  void mkdirAndRmdirGiveEexistEnotemptyEnotdir() throws IOException {
    Map<String, String> r = py("""
        d = sys.argv[1]; s = os.path.join(d, 'd'); f = os.path.join(s, 'f')
        a = err(os.mkdir, s)
        b = err(os.mkdir, s)
        open(f, 'w').write('x')
        c = err(os.rmdir, s)
        e = err(os.rmdir, f)
        g = err(os.unlink, s)
        h = err(os.mkdir, os.path.join(f, 'under-a-file'))
        os.unlink(f)
        i = err(os.rmdir, s)
        j = err(os.rmdir, s)
        out(mkdir=a, again=b, nonempty=c, rmdirfile=e, unlinkdir=g, underfile=h, rmdir=i,
            missing=j, left=os.listdir(d))
        """, dir);
    assertAll(
        () -> assertEquals("OK", r.get("mkdir")),
        () -> assertEquals("EEXIST", r.get("again"), "mkdir of an existing directory"),
        () -> assertEquals("ENOTEMPTY", r.get("nonempty"), "rmdir of a non-empty directory"),
        () -> assertEquals("ENOTDIR", r.get("rmdirfile"), "rmdir of a file"),
        () -> assertEquals("EISDIR", r.get("unlinkdir"), "unlink of a directory"),
        () -> assertEquals("ENOTDIR", r.get("underfile"), "mkdir below a file"),
        () -> assertEquals("OK", r.get("rmdir")),
        () -> assertEquals("ENOENT", r.get("missing"), "rmdir of a missing directory"),
        () -> assertEquals("[]", r.get("left")));
  }

  @Test
  void directoryLinkCountsFollowSubdirectories() throws IOException {
    Map<String, String> r = py("""
        d = sys.argv[1]; p = os.path.join(d, 'p'); q = os.path.join(d, 'q')
        os.mkdir(p); os.mkdir(q)
        n0 = os.stat(p).st_nlink
        os.mkdir(os.path.join(p, 'a')); os.mkdir(os.path.join(p, 'b'))
        open(os.path.join(p, 'file'), 'w').close()
        n1 = os.stat(p).st_nlink
        os.rmdir(os.path.join(p, 'a'))
        n2 = os.stat(p).st_nlink
        os.rename(os.path.join(p, 'b'), os.path.join(q, 'b'))
        out(n0=n0, n1=n1, n2=n2, p=os.stat(p).st_nlink, q=os.stat(q).st_nlink)
        """, dir);
    assertAll(
        () -> assertEquals("2", r.get("n0"), "st_nlink of an empty directory"),
        () -> assertEquals("4", r.get("n1"), "st_nlink with two subdirectories and a file"),
        () -> assertEquals("3", r.get("n2"), "st_nlink after rmdir of one subdirectory"),
        () -> assertEquals("2", r.get("p"), "old parent after moving a subdirectory away"),
        () -> assertEquals("3", r.get("q"), "new parent after a subdirectory moved in"));
  }

  @Test
  void renameOverAnExistingFileReplacesItAndOpenHandlesKeepTheOldData() throws IOException {
    Files.writeString(dir.resolve("new"), "new content");
    Files.writeString(dir.resolve("old"), "old content");
    Map<String, String> r = py("""
        d = sys.argv[1]; new = os.path.join(d, 'new'); old = os.path.join(d, 'old')
        fd = os.open(old, os.O_RDONLY)
        ino = os.stat(new).st_ino
        os.rename(new, old)
        out(listing=sorted(os.listdir(d)), content=open(old, 'rb').read(),
            handle=os.pread(fd, 100, 0), nlink=safe(lambda: os.fstat(fd).st_nlink),
            sameino=(os.stat(old).st_ino == ino))
        os.close(fd)
        """, dir);
    assertAll(
        () -> assertEquals("['old']", r.get("listing")),
        () -> assertEquals("b'new content'", r.get("content"), "the name now has new content"),
        () -> assertEquals("b'old content'", r.get("handle"),
            "a handle opened on the replaced file still reads its data"),
        () -> assertEquals("0", r.get("nlink"), "the replaced file has no names left"),
        () -> assertEquals("True", r.get("sameino"), "rename keeps the inode number"));
  }

  @Test
  void renameBetweenTwoHardLinksOfOneFileDoesNothing() throws IOException {
    Files.writeString(dir.resolve("a"), "same");
    Files.createLink(dir.resolve("b"), dir.resolve("a"));
    Map<String, String> r = py("""
        d = sys.argv[1]
        res = err(os.rename, os.path.join(d, 'a'), os.path.join(d, 'b'))
        out(res=res, listing=sorted(os.listdir(d)), nlink=os.stat(os.path.join(d, 'b')).st_nlink)
        """, dir);
    assertEquals("OK", r.get("res"));
    assertEquals("['a', 'b']", r.get("listing"), "POSIX: both names remain");
    assertEquals("2", r.get("nlink"));
  }

  @Test
  void renameBetweenTwoHardLinksWhileTheTargetIsOpenKeepsOneName() throws IOException {
    Map<String, String> r = py("""
        d = sys.argv[1]; a = os.path.join(d, 'a'); b = os.path.join(d, 'b')
        open(a, 'wb').write(b'same'); os.link(a, b)
        fd = os.open(a, os.O_RDONLY)
        res = err(os.rename, b, a)
        out(res=res, listing=sorted(os.listdir(d)), nlink=os.stat(a).st_nlink,
            fdnlink=safe(lambda: os.fstat(fd).st_nlink))
        os.close(fd)
        out(closed=sorted(os.listdir(d)))
        """, dir);
    // documented libfuse2 difference (README): libfuse hides the open target before the rename,
    // so one name remains (POSIX: both); the file and its data are intact
    assertAll(
        () -> assertEquals("OK", r.get("res")),
        () -> assertEquals("['a']", r.get("listing"), "libfuse2: one name remains"),
        () -> assertEquals("1", r.get("nlink")),
        () -> assertEquals("1", r.get("fdnlink"), "st_nlink through the open descriptor"),
        () -> assertEquals("['a']", r.get("closed"), "after the descriptor is closed"));
  }

  @Test
  void renameMovesDirectoriesWithTheirContents() throws IOException {
    Files.createDirectories(dir.resolve("d1/sub/deeper"));
    Files.writeString(dir.resolve("d1/sub/deeper/f"), "deep");
    Files.createDirectories(dir.resolve("d2"));
    Files.move(dir.resolve("d1"), dir.resolve("d2/moved"),
        StandardCopyOption.ATOMIC_MOVE);
    assertFalse(Files.exists(dir.resolve("d1")));
    assertEquals("deep", Files.readString(dir.resolve("d2/moved/sub/deeper/f")));
    Files.writeString(dir.resolve("d2/moved/sub/deeper/g"), "new after move");
    assertEquals(List.of("f", "g"), list(dir.resolve("d2/moved/sub/deeper")));

    Map<String, String> r = py("""
        d = sys.argv[1]; j = lambda *a: os.path.join(d, *a)
        os.mkdir(j('e1')); os.mkdir(j('e2')); os.mkdir(j('full')); open(j('full', 'x'), 'w').close()
        open(j('file'), 'w').close()
        out(emptyOverEmpty=err(os.rename, j('e1'), j('e2')),
            dirOverNonEmpty=err(os.rename, j('e2'), j('full')),
            fileOverDir=err(os.rename, j('file'), j('full')),
            dirOverFile=err(os.rename, j('full'), j('file')),
            missing=err(os.rename, j('nothing'), j('x')),
            listing=sorted(os.listdir(d)))
        """, dir);
    assertAll(
        () -> assertEquals("OK", r.get("emptyOverEmpty"), "a directory over an empty one"),
        () -> assertEquals("ENOTEMPTY", r.get("dirOverNonEmpty")),
        () -> assertEquals("EISDIR", r.get("fileOverDir")),
        () -> assertEquals("ENOTDIR", r.get("dirOverFile")),
        () -> assertEquals("ENOENT", r.get("missing")),
        () -> assertEquals("['d2', 'e2', 'file', 'full']", r.get("listing")));
  }

  @Test
  void renameIntoOwnDescendantIsRefusedWithEinval() throws IOException {
    Files.createDirectories(dir.resolve("a/b"));
    Map<String, String> r = py("""
        d = sys.argv[1]; j = lambda *a: os.path.join(d, *a)
        out(intoChild=err(os.rename, j('a'), j('a', 'b', 'c')),
            ontoChild=err(os.rename, j('a'), j('a', 'b')),
            still=sorted(os.listdir(j('a'))))
        """, dir);
    assertEquals("EINVAL", r.get("intoChild"));
    assertEquals("EINVAL", r.get("ontoChild"));
    assertEquals("['b']", r.get("still"));
  }

  // ---------------------------------------------------------------- links

  @Test
  void symlinkAndReadlinkIncludingA4095ByteTarget() throws IOException {
    Map<String, String> r = py("""
        d = sys.argv[1]; j = lambda *a: os.path.join(d, *a)
        open(j('target'), 'w').write('via link')
        os.symlink('target', j('rel'))
        os.symlink('/no/such/place', j('dangling'))
        long = ('component-' * 500)[:4094] + 'x'
        os.symlink(long, j('long'))
        toolong = err(os.symlink, 'y' * 4096, j('toolong'))
        st = os.lstat(j('long'))
        out(rel=os.readlink(j('rel')), content=open(j('rel')).read(),
            dangling=os.readlink(j('dangling')), islink=stat.S_ISLNK(os.lstat(j('dangling')).st_mode),
            longlen=len(os.readlink(j('long'))), longsame=(os.readlink(j('long')) == long),
            longsize=st.st_size, relsize=os.lstat(j('rel')).st_size, toolong=toolong,
            readlinkfile=err(os.readlink, j('target')))
        """, dir);
    assertAll(
        () -> assertEquals("target", r.get("rel")),
        () -> assertEquals("via link", r.get("content"), "reading through a symlink"),
        () -> assertEquals("/no/such/place", r.get("dangling")),
        () -> assertEquals("True", r.get("islink")),
        () -> assertEquals("4095", r.get("longlen"), "readlink of a 4095-byte target"),
        () -> assertEquals("True", r.get("longsame")),
        () -> assertEquals("4095", r.get("longsize"), "lstat st_size of a symlink = target length"),
        () -> assertEquals("6", r.get("relsize")),
        () -> assertEquals("ENAMETOOLONG", r.get("toolong"), "a 4096-byte target"),
        () -> assertEquals("EINVAL", r.get("readlinkfile"), "readlink of a regular file"));
  }

  @Test
  void hardLinksShareDataAndCountLinksOnEveryName() throws IOException {
    Files.createDirectories(dir.resolve("other"));
    Map<String, String> r = py("""
        d = sys.argv[1]; j = lambda *a: os.path.join(d, *a)
        open(j('f'), 'wb').write(b'data')
        os.link(j('f'), j('g'))
        n1 = (os.stat(j('f')).st_nlink, os.stat(j('g')).st_nlink)
        same = os.stat(j('f')).st_ino == os.stat(j('g')).st_ino
        with open(j('g'), 'r+b') as h: h.seek(4); h.write(b'+more')
        via = open(j('f'), 'rb').read()
        os.link(j('g'), j('other', 'h'))
        n2 = (os.stat(j('f')).st_nlink, os.stat(j('other', 'h')).st_nlink)
        os.unlink(j('f'))
        n3 = (os.stat(j('g')).st_nlink, os.stat(j('other', 'h')).st_nlink)
        os.unlink(j('g'))
        n4 = os.stat(j('other', 'h')).st_nlink
        out(n1=n1, same=same, via=via, n2=n2, n3=n3, n4=n4, last=open(j('other', 'h'), 'rb').read(),
            linkdir=err(os.link, j('other'), j('dirlink')),
            linkexisting=err(os.link, j('other', 'h'), j('other', 'h')),
            linkmissing=err(os.link, j('nothing'), j('x')),
            listing=sorted(os.listdir(d)))
        """, dir);
    assertAll(
        () -> assertEquals("(2, 2)", r.get("n1"), "st_nlink on both names after link"),
        () -> assertEquals("True", r.get("same"), "both names have one inode number"),
        () -> assertEquals("b'data+more'", r.get("via"), "a write via one name is seen via the other"),
        () -> assertEquals("(3, 3)", r.get("n2")),
        () -> assertEquals("(2, 2)", r.get("n3"), "after unlinking one name"),
        () -> assertEquals("1", r.get("n4")),
        () -> assertEquals("b'data+more'", r.get("last")),
        () -> assertEquals("EPERM", r.get("linkdir"), "hard link to a directory"),
        () -> assertEquals("EEXIST", r.get("linkexisting")),
        () -> assertEquals("ENOENT", r.get("linkmissing")),
        () -> assertEquals("['other']", r.get("listing")));
  }

  @Test
  void unlinkingTheOpenNameOfAHardLinkedFileLeavesTheOtherNameCounted() throws IOException {
    Map<String, String> r = py("""
        d = sys.argv[1]; f = os.path.join(d, 'f'); g = os.path.join(d, 'g')
        open(f, 'wb').write(b'x'); os.link(f, g)
        fd = os.open(f, os.O_RDWR)
        os.unlink(f)
        one = (safe(lambda: os.fstat(fd).st_nlink), os.stat(g).st_nlink)
        os.pwrite(fd, b'y', 1)
        via = open(g, 'rb').read()
        os.unlink(g)
        none = safe(lambda: os.fstat(fd).st_nlink)
        os.close(fd)
        out(one=one, via=via, none=none, listing=os.listdir(d))
        """, dir);
    assertAll(
        () -> assertEquals("(1, 1)", r.get("one"), "st_nlink via the descriptor and via g"),
        () -> assertEquals("b'xy'", r.get("via")),
        () -> assertEquals("0", r.get("none"), "st_nlink once both names are gone"),
        () -> assertEquals("[]", r.get("listing")));
  }

  @Test
  void aDescriptorOpenOnOneHardLinkSeesWritesMadeThroughAnother() throws IOException {
    Map<String, String> r = py("""
        d = sys.argv[1]; x = os.path.join(d, 'x'); y = os.path.join(d, 'y')
        open(x, 'wb').write(b'A' * 10)
        os.link(x, y)
        h = os.open(x, os.O_RDWR)
        first = os.pread(h, 10, 0)                      # the kernel may now cache x's pages
        fd = os.open(y, os.O_WRONLY); os.pwrite(fd, b'BBBB', 0); os.close(fd)
        written = os.pread(h, 10, 0)
        os.truncate(y, 4)
        fd = os.open(y, os.O_WRONLY); os.pwrite(fd, b'CC', 8); os.close(fd)
        grown = os.pread(h, 20, 0)
        os.pwrite(h, b'D', 0)                           # and the other way round
        back = open(y, 'rb').read()
        os.close(h)
        # the descriptor is opened while the file has one name; the second name comes later
        p = os.path.join(d, 'p'); q = os.path.join(d, 'q')
        open(p, 'wb').write(b'A' * 10)
        h = os.open(p, os.O_RDWR)
        os.pread(h, 10, 0)
        os.link(p, q)
        fd = os.open(q, os.O_WRONLY); os.pwrite(fd, b'BBBB', 0); os.close(fd)
        late = os.pread(h, 10, 0)
        os.close(h)
        out(first=first, written=written, grown=grown, back=back, late=late)
        """, dir);
    assertAll(
        () -> assertEquals("b'AAAAAAAAAA'", r.get("first")),
        () -> assertEquals("b'BBBBAAAAAA'", r.get("written"),
            "a write through the other name, read through the open descriptor"),
        () -> assertEquals("b'BBBB\\x00\\x00\\x00\\x00CC'", r.get("grown"),
            "after truncate and write through the other name"),
        () -> assertEquals("b'DBBB\\x00\\x00\\x00\\x00CC'", r.get("back"),
            "a write through the descriptor, read through the other name"),
        // documented libfuse2 difference (README): a descriptor opened while the file had one
        // name keeps its cached pages when a write comes through a name linked later
        () -> assertEquals("b'AAAAAAAAAA'", r.get("late"),
            "descriptor opened before the second name was linked"));
  }

  // ---------------------------------------------------------------- attributes and times

  @Test
  void chmodSetsModeBitsAndBumpsCtime() throws IOException {
    Path f = dir.resolve("m");
    Files.writeString(f, "x");
    Map<String, String> r = py("""
        p = sys.argv[1]
        c0 = os.stat(p).st_ctime_ns; m0 = os.stat(p).st_mtime_ns
        time.sleep(0.05)
        os.chmod(p, 0o640)
        s = os.stat(p)
        os.chmod(p, 0o4755)
        s2 = os.stat(p)
        os.chmod(p, 0)
        s3 = os.stat(p)
        out(mode=oct(stat.S_IMODE(s.st_mode)), isreg=stat.S_ISREG(s.st_mode),
            ctime=(s.st_ctime_ns > c0), mtime=(s.st_mtime_ns == m0),
            suid=oct(stat.S_IMODE(s2.st_mode)), zero=oct(stat.S_IMODE(s3.st_mode)),
            rootreads=open(p).read())
        """, f);
    assertAll(
        () -> assertEquals("0o640", r.get("mode")),
        () -> assertEquals("True", r.get("isreg"), "chmod keeps the file type bits"),
        () -> assertEquals("True", r.get("ctime"), "chmod bumps st_ctime"),
        () -> assertEquals("True", r.get("mtime"), "chmod leaves st_mtime alone"),
        () -> assertEquals("0o4755", r.get("suid"), "setuid bit"),
        () -> assertEquals("0o0", r.get("zero")),
        () -> assertEquals("x", r.get("rootreads"), "root reads a mode-0 file"));
  }

  @Test
  void chownByRootChangesOwnerAndBumpsCtime() throws IOException {
    Assumptions.assumeTrue(
        "0".equals(py("print(os.geteuid())").get("")), "SKIPPED: chown needs root");
    Path f = dir.resolve("o");
    Files.writeString(f, "x");
    Map<String, String> r = py("""
        p = sys.argv[1]
        c0 = os.stat(p).st_ctime_ns
        time.sleep(0.05)
        os.chown(p, 1234, 5678)
        s = os.stat(p)
        os.chown(p, -1, 4321)
        s2 = os.stat(p)
        out(owner=(s.st_uid, s.st_gid), ctime=(s.st_ctime_ns > c0), partial=(s2.st_uid, s2.st_gid))
        """, f);
    assertEquals("(1234, 5678)", r.get("owner"));
    assertEquals("True", r.get("ctime"), "chown bumps st_ctime");
    assertEquals("(1234, 4321)", r.get("partial"), "chown with uid -1 keeps the uid");
  }

  @Test
  void chownClearsSetuidAsExt4Does() throws IOException {
    Assumptions.assumeTrue(
        "0".equals(py("print(os.geteuid())").get("")), "SKIPPED: chown needs root");
    String script = """
        p = sys.argv[1]
        open(p, 'w').close()
        os.chmod(p, 0o6755)
        os.chown(p, 1234, 5678)
        out(mode=oct(stat.S_IMODE(os.stat(p).st_mode)))
        os.unlink(p)
        """;
    // The kernel decides this; ext4 (the reference) is asked at run time, not hard-coded.
    String onDisk = py(script, base.resolve("suid-reference")).get("mode");
    assertEquals(onDisk, py(script, dir.resolve("suid")).get("mode"),
        "mode after root chowns a setuid/setgid file, compared with ext4");
  }

  @Test
  void utimensSetsAtimeAndMtimeExactlyAndBumpsCtime() throws IOException {
    Path f = dir.resolve("u");
    Files.writeString(f, "x");
    Map<String, String> r = py("""
        p = sys.argv[1]
        c0 = os.stat(p).st_ctime_ns
        time.sleep(0.05)
        os.utime(p, ns=(946684800_123456789, 981173106_987654321))
        s = os.stat(p)
        out(atime=s.st_atime_ns, mtime=s.st_mtime_ns, ctime=(s.st_ctime_ns > c0))
        """, f);
    assertEquals("946684800123456789", r.get("atime"), "atime to the nanosecond");
    assertEquals("981173106987654321", r.get("mtime"), "mtime to the nanosecond");
    assertEquals("True", r.get("ctime"), "utimens bumps st_ctime");

    // touch -d, as a user would: -m and -a separately
    run("touch", "-m", "-d", "2001-02-03 04:05:06.5 UTC", f.toString());
    run("touch", "-a", "-d", "1999-12-31 23:59:59 UTC", f.toString());
    Map<String, String> t = py("""
        s = os.stat(sys.argv[1]); out(atime=s.st_atime_ns, mtime=s.st_mtime_ns)
        """, f);
    assertEquals("981173106500000000", t.get("mtime"), "touch -m -d");
    assertEquals("946684799000000000", t.get("atime"), "touch -a -d");

    // touch without a date sets both to now (UTIME_NOW)
    Map<String, String> now = py("""
        p = sys.argv[1]
        before = time.time_ns()
        os.utime(p)
        s = os.stat(p)
        after = time.time_ns()
        slack = 2_000_000_000
        out(m=(before - slack <= s.st_mtime_ns <= after + slack),
            a=(before - slack <= s.st_atime_ns <= after + slack))
        """, f);
    assertEquals("True", now.get("m"), "utime(now) sets mtime to the current time");
    assertEquals("True", now.get("a"), "utime(now) sets atime to the current time");
  }

  @Test
  void writeAndTruncateBumpMtimeAndCtime() throws IOException {
    Path f = dir.resolve("w");
    Files.writeString(f, "x");
    Map<String, String> r = py("""
        p = sys.argv[1]
        os.utime(p, ns=(10**18, 10**18))
        s0 = os.stat(p)
        time.sleep(0.05)
        fd = os.open(p, os.O_WRONLY); os.pwrite(fd, b'written', 100); os.close(fd)
        s1 = os.stat(p)
        os.utime(p, ns=(10**18, 10**18))
        s1b = os.stat(p)
        time.sleep(0.05)
        os.truncate(p, 3)
        s2 = os.stat(p)
        out(wm=(s1.st_mtime_ns > s0.st_mtime_ns), wc=(s1.st_ctime_ns > s0.st_ctime_ns),
            tm=(s2.st_mtime_ns > s1b.st_mtime_ns), tc=(s2.st_ctime_ns > s1b.st_ctime_ns))
        """, f);
    assertAll(
        () -> assertEquals("True", r.get("wm"), "write bumps st_mtime"),
        () -> assertEquals("True", r.get("wc"), "write bumps st_ctime"),
        () -> assertEquals("True", r.get("tm"), "truncate bumps st_mtime"),
        () -> assertEquals("True", r.get("tc"), "truncate bumps st_ctime"));
  }

  @Test
  void statfsReportsSaneNumbers() throws IOException {
    Map<String, String> r = py("""
        v = os.statvfs(sys.argv[1])
        out(bsize=(v.f_bsize > 0), frsize=(v.f_frsize > 0), blocks=(v.f_blocks > 0),
            order=(0 <= v.f_bavail <= v.f_bfree <= v.f_blocks),
            files=(v.f_ffree <= v.f_files), namemax=v.f_namemax)
        """, vault.mountpoint());
    assertAll(
        () -> assertEquals("True", r.get("bsize"), "f_bsize > 0"),
        () -> assertEquals("True", r.get("frsize"), "f_frsize > 0"),
        () -> assertEquals("True", r.get("blocks"), "f_blocks > 0"),
        () -> assertEquals("True", r.get("order"), "0 <= f_bavail <= f_bfree <= f_blocks"),
        () -> assertEquals("True", r.get("files"), "f_ffree <= f_files"),
        () -> assertEquals("255", r.get("namemax"), "f_namemax"));
    MountedVault.Result df = MountedVault.run(
        List.of("df", "-P", vault.mountpoint().toString()), null, 60);
    assertEquals(0, df.exitCode(), "df on the mount: " + df);
    assertTrue(df.stdout().contains(vault.mountpoint().toString()), "df output: " + df);
  }

  @Test
  void accessFollowsModesWithRootsPrivileges() throws IOException {
    Assumptions.assumeTrue(
        "0".equals(py("print(os.geteuid())").get("")), "SKIPPED: the expectations are root's");
    Map<String, String> r = py("""
        d = sys.argv[1]; p = os.path.join(d, 'f'); q = os.path.join(d, 'x'); s = os.path.join(d, 's')
        open(p, 'w').close(); open(q, 'w').close(); os.mkdir(s)
        os.chmod(p, 0o644); os.chmod(q, 0o100); os.chmod(s, 0)
        a = (os.access(p, os.F_OK), os.access(p, os.R_OK), os.access(p, os.W_OK), os.access(p, os.X_OK))
        os.chmod(p, 0)
        b = (os.access(p, os.R_OK), os.access(p, os.W_OK), os.access(p, os.X_OK))
        out(a=a, b=b, x=os.access(q, os.X_OK), dirx=os.access(s, os.X_OK | os.R_OK | os.W_OK),
            missing=os.access(os.path.join(d, 'none'), os.F_OK))
        """, dir);
    assertAll(
        () -> assertEquals("(True, True, True, False)", r.get("a"), "F/R/W/X on mode 0644"),
        () -> assertEquals("(True, True, False)", r.get("b"), "R/W/X on mode 0 (root)"),
        () -> assertEquals("True", r.get("x"), "X_OK with one x bit set"),
        () -> assertEquals("True", r.get("dirx"), "root on a mode-0 directory"),
        () -> assertEquals("False", r.get("missing")));
  }

  @Test
  void extendedAttributesSetGetListRemove() throws IOException {
    Path f = dir.resolve("x");
    Files.writeString(f, "x");
    Map<String, String> r = py("""
        p = sys.argv[1]; d = os.path.dirname(p)
        binary = bytes(range(256)) * 4
        os.setxattr(p, 'user.one', b'1')
        os.setxattr(p, 'user.bin', binary)
        os.setxattr(p, 'user.empty', b'')
        os.setxattr(d, 'user.ondir', b'dir value')
        names = sorted(n for n in os.listxattr(p) if n.startswith('user.'))
        got = (os.getxattr(p, 'user.one'), os.getxattr(p, 'user.bin') == binary,
               os.getxattr(p, 'user.empty'), os.getxattr(d, 'user.ondir'))
        create = err(os.setxattr, p, 'user.one', b'2', os.XATTR_CREATE)
        replacemissing = err(os.setxattr, p, 'user.none', b'2', os.XATTR_REPLACE)
        os.setxattr(p, 'user.one', b'replaced', os.XATTR_REPLACE)
        replaced = os.getxattr(p, 'user.one')
        missing = err(os.getxattr, p, 'user.none')
        os.removexattr(p, 'user.one')
        after = sorted(n for n in os.listxattr(p) if n.startswith('user.'))
        gone = err(os.getxattr, p, 'user.one')
        removemissing = err(os.removexattr, p, 'user.one')
        out(names=names, got=got, create=create, replacemissing=replacemissing,
            replaced=replaced, missing=missing, after=after, gone=gone,
            removemissing=removemissing)
        """, f);
    assertAll(
        () -> assertEquals("['user.bin', 'user.empty', 'user.one']", r.get("names")),
        () -> assertEquals("(b'1', True, b'', b'dir value')", r.get("got")),
        () -> assertEquals("EEXIST", r.get("create"), "XATTR_CREATE on an existing name"),
        () -> assertEquals("ENODATA", r.get("replacemissing"), "XATTR_REPLACE on a missing name"),
        () -> assertEquals("b'replaced'", r.get("replaced")),
        () -> assertEquals("ENODATA", r.get("missing"), "getxattr of a missing name"),
        () -> assertEquals("['user.bin', 'user.empty']", r.get("after")),
        () -> assertEquals("ENODATA", r.get("gone")),
        () -> assertEquals("ENODATA", r.get("removemissing"), "removexattr of a missing name"));
  }

  // ---------------------------------------------------------------- names

  @Test
  void namesUpTo255BytesWorkAnd256BytesGiveEnametoolong() throws IOException {
    Map<String, String> r = py("""
        d = os.fsencode(sys.argv[1]); j = lambda n: os.path.join(d, n)
        ok = b'a' * 255
        multi = ('\\u00e9' * 127 + 'x').encode()       # 255 bytes of UTF-8
        long = b'b' * 256
        longmulti = ('\\u00e9' * 128).encode()          # 256 bytes
        open(j(ok), 'wb').write(b'255')
        open(j(multi), 'wb').write(b'multi')
        os.mkdir(j(b'D' * 255))
        res = dict(
            create=err(os.open, j(long), os.O_CREAT | os.O_WRONLY, 0o644),
            createmulti=err(os.open, j(longmulti), os.O_CREAT | os.O_WRONLY, 0o644),
            mkdir=err(os.mkdir, j(long)),
            symlink=err(os.symlink, b'x', j(long)),
            link=err(os.link, j(ok), j(long)),
            rename=err(os.rename, j(ok), j(long)),
            lookup=err(os.stat, j(long)))
        out(listing=sorted(os.listdir(d)) == sorted([ok, multi, b'D' * 255]),
            content=open(j(ok), 'rb').read(), mcontent=open(j(multi), 'rb').read(), **res)
        """, dir);
    assertAll(
        () -> assertEquals("True", r.get("listing"), "listing holds exactly the 255-byte names"),
        () -> assertEquals("b'255'", r.get("content")),
        () -> assertEquals("b'multi'", r.get("mcontent")),
        () -> assertEquals("ENAMETOOLONG", r.get("create")),
        () -> assertEquals("ENAMETOOLONG", r.get("createmulti")),
        () -> assertEquals("ENAMETOOLONG", r.get("mkdir")),
        () -> assertEquals("ENAMETOOLONG", r.get("symlink")),
        () -> assertEquals("ENAMETOOLONG", r.get("link")),
        () -> assertEquals("ENAMETOOLONG", r.get("rename")),
        () -> assertEquals("ENAMETOOLONG", r.get("lookup"), "stat of a 256-byte name"));
  }

  @Test
  void namesThatAreNotUtf8RoundTripByteExact() throws IOException {
    Map<String, String> r = py("""
        d = os.fsencode(sys.argv[1]); j = lambda n: os.path.join(d, n)
        names = [b'\\xff\\xfe-name', b'\\x80', b'a\\nb\\\\c\\td', b'\\xc3\\x28', b'\\xff' * 255,
                 b'caf\\xe9', b' lead and trail ']
        for i, n in enumerate(names):
            open(j(n), 'wb').write(b'content %d' % i)
        listed = sorted(os.listdir(d))
        contents = [open(j(n), 'rb').read() for n in names]
        os.rename(j(names[0]), j(b'\\xfe\\xff-renamed'))
        os.mkdir(j(b'dir\\xa0'))
        os.rename(j(names[1]), j(b'dir\\xa0/\\x81inner'))
        out(listed=(listed == sorted(names)), contents=contents == [b'content %d' % i for i in range(len(names))],
            renamed=open(j(b'\\xfe\\xff-renamed'), 'rb').read(), inner=os.listdir(j(b'dir\\xa0')),
            old=os.path.lexists(j(names[0])), rawlisting=listed)
        """, dir);
    assertAll(
        () -> assertEquals("True", r.get("listed"),
            "os.listdir(bytes) returns the names byte-exact: " + r.get("rawlisting")),
        () -> assertEquals("True", r.get("contents"), "each name opens its own file"),
        () -> assertEquals("b'content 0'", r.get("renamed")),
        () -> assertEquals("[b'\\x81inner']", r.get("inner")),
        () -> assertEquals("False", r.get("old")));
  }

  // ---------------------------------------------------------------- big and concurrent

  @Test
  void fileBeyond4GiBKeepsItsBytesAndHoles() throws IOException {
    Map<String, String> r = py(180, """
        p = sys.argv[1]
        G = 1 << 30
        fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
        os.pwrite(fd, b'Z', 5 * G)
        os.pwrite(fd, b'Y', 4 * G + 7)
        os.close(fd)
        fd = os.open(p, os.O_RDONLY)
        size = os.fstat(fd).st_size
        z = os.pread(fd, 1, 5 * G); y = os.pread(fd, 1, 4 * G + 7)
        holes = [os.pread(fd, 65536, 0), os.pread(fd, 32768, 4 * G - 32768),
                 os.pread(fd, 7, 4 * G), os.pread(fd, 65536, 5 * G - 65536),
                 os.pread(fd, 65536, 2 * G + 12345)]
        past = os.pread(fd, 10, 5 * G + 1)
        os.close(fd)
        out(size=size, z=z, y=y, holes=all(h == bytes(len(h)) for h in holes),
            lens=[len(h) for h in holes], past=past)
        os.truncate(p, 0)
        os.unlink(p)
        """, dir.resolve("big"));
    long g = 1L << 30;
    assertAll(
        () -> assertEquals(Long.toString(5 * g + 1), r.get("size")),
        () -> assertEquals("b'Z'", r.get("z"), "the byte at 5 GiB"),
        () -> assertEquals("b'Y'", r.get("y"), "the byte at 4 GiB + 7"),
        () -> assertEquals("True", r.get("holes"), "holes read as zeros"),
        () -> assertEquals("[65536, 32768, 7, 65536, 65536]", r.get("lens"), "full reads"),
        () -> assertEquals("b''", r.get("past")));
  }

  @Test
  void concurrentWritersOnDifferentFilesGiveExactContent() throws Exception {
    int threads = 6;
    int size = 3 * 1024 * 1024 + 777;
    ExecutorService pool = Executors.newFixedThreadPool(threads);
    try {
      List<Future<?>> done = new ArrayList<>();
      for (int t = 0; t < threads; t++) {
        int id = t;
        done.add(pool.submit(() -> {
          Random rnd = new Random(id);
          byte[] data = pattern(size, id);
          try (FileChannel ch = FileChannel.open(dir.resolve("f" + id),
              StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            for (int off = 0; off < size; ) {
              int n = Math.min(size - off, 1 + rnd.nextInt(200_000));
              writeFully(ch, Arrays.copyOfRange(data, off, off + n), off);
              off += n;
            }
          }
          return null;
        }));
      }
      for (Future<?> f : done) {
        f.get(4, TimeUnit.MINUTES);
      }
    } finally {
      pool.shutdownNow();
    }
    for (int t = 0; t < threads; t++) {
      assertEquals(sha256(pattern(size, t)), sha256(Files.readAllBytes(dir.resolve("f" + t))),
          "content of f" + t);
    }
  }

  @Test
  void concurrentWritersOnOneFileInDisjointRegionsGiveExactContent() throws Exception {
    int threads = 6;
    int region = 150_001; // not chunk aligned: neighbouring threads share chunks
    int size = threads * region;
    byte[] expected = new byte[size];
    for (int t = 0; t < threads; t++) {
      System.arraycopy(pattern(region, 100 + t), 0, expected, t * region, region);
    }
    Path f = dir.resolve("shared");
    Files.createFile(f);
    ExecutorService pool = Executors.newFixedThreadPool(threads);
    try (FileChannel shared = FileChannel.open(f, StandardOpenOption.WRITE)) {
      List<Future<?>> done = new ArrayList<>();
      for (int t = 0; t < threads; t++) {
        int id = t;
        done.add(pool.submit(() -> {
          Random rnd = new Random(id);
          // odd threads use the shared descriptor, even ones their own
          try (FileChannel own = FileChannel.open(f, StandardOpenOption.WRITE)) {
            FileChannel ch = id % 2 == 1 ? shared : own;
            // small pieces in random order, many of them across chunk boundaries
            List<int[]> pieces = new ArrayList<>();
            for (int off = 0; off < region; ) {
              int n = Math.min(region - off, 1 + rnd.nextInt(9000));
              pieces.add(new int[] {off, n});
              off += n;
            }
            Collections.shuffle(pieces, rnd);
            for (int[] p : pieces) {
              int at = id * region + p[0];
              writeFully(ch, Arrays.copyOfRange(expected, at, at + p[1]), at);
            }
          }
          return null;
        }));
      }
      for (Future<?> d : done) {
        d.get(4, TimeUnit.MINUTES);
      }
    } finally {
      pool.shutdownNow();
    }
    byte[] got = Files.readAllBytes(f);
    assertEquals(size, got.length);
    for (int t = 0; t < threads; t++) {
      int from = t * region;
      assertEquals(sha256(Arrays.copyOfRange(expected, from, from + region)),
          sha256(Arrays.copyOfRange(got, from, from + region)),
          "region of thread " + t + " (first difference at byte "
              + firstDifference(expected, got) + ")");
    }
  }

  // ---------------------------------------------------------------- documented limits

  @Test
  void renameNoreplaceAndExchangeGiveTheDocumentedEinval() throws IOException {
    Files.writeString(dir.resolve("a"), "A");
    Files.writeString(dir.resolve("b"), "B");
    Map<String, String> r = py("""
        d = sys.argv[1]; j = lambda n: os.path.join(d, n).encode()
        libc = ctypes.CDLL(ctypes.util.find_library('c'), use_errno=True)
        AT_FDCWD = -100
        def renameat2(a, b, flags):
            if libc.renameat2(AT_FDCWD, j(a), AT_FDCWD, j(b), flags) == 0:
                return 'OK'
            return errno.errorcode[ctypes.get_errno()]
        out(noreplaceExisting=renameat2('a', 'b', 1), noreplaceNew=renameat2('a', 'c', 1),
            exchange=renameat2('a', 'b', 2),
            state=[(n, open(os.path.join(d, n)).read()) for n in sorted(os.listdir(d))])
        """, dir);
    assertAll(
        // the VFS itself refuses NOREPLACE onto an existing name before asking the filesystem
        () -> assertEquals("EEXIST", r.get("noreplaceExisting"), "RENAME_NOREPLACE, target exists"),
        () -> assertEquals("EINVAL", r.get("noreplaceNew"), "RENAME_NOREPLACE to a new name"),
        () -> assertEquals("EINVAL", r.get("exchange"), "RENAME_EXCHANGE"),
        () -> assertEquals("[('a', 'A'), ('b', 'B')]", r.get("state"), "nothing moved"));
  }

  @Test
  void mknodOfADeviceIsRefusedClearly() throws IOException {
    Map<String, String> r = py("""
        d = sys.argv[1]
        out(chr=err(os.mknod, os.path.join(d, 'null'), stat.S_IFCHR | 0o600, os.makedev(1, 3)),
            blk=err(os.mknod, os.path.join(d, 'blk'), stat.S_IFBLK | 0o600, os.makedev(7, 0)),
            listing=os.listdir(d))
        """, dir);
    List<String> allowed = List.of("EPERM", "ENOSYS", "EOPNOTSUPP");
    assertTrue(allowed.contains(r.get("chr")), "mknod of a character device: " + r.get("chr"));
    assertTrue(allowed.contains(r.get("blk")), "mknod of a block device: " + r.get("blk"));
    assertEquals("[]", r.get("listing"), "a refused mknod leaves no entry");
  }

  @Test
  void largeDirectoryListsEveryEntryExactlyOnce() throws IOException {
    Map<String, String> r = py("""
        d = sys.argv[1]
        names = ['entry-%04d-%s' % (i, 'x' * (i % 200)) for i in range(1500)]
        for n in names:
            os.close(os.open(os.path.join(d, n), os.O_CREAT | os.O_WRONLY, 0o644))
        listed = os.listdir(d)
        with os.scandir(d) as it:
            scanned = [e.name for e in it]
        for n in names[::2]:
            os.unlink(os.path.join(d, n))
        after = os.listdir(d)
        out(count=len(listed), unique=len(set(listed)), same=(sorted(listed) == sorted(names)),
            scanned=(sorted(scanned) == sorted(names)), after=(sorted(after) == sorted(names[1::2])))
        """, dir);
    assertEquals("1500", r.get("count"));
    assertEquals("1500", r.get("unique"), "no entry listed twice");
    assertEquals("True", r.get("same"));
    assertEquals("True", r.get("scanned"));
    assertEquals("True", r.get("after"), "listing after removing every other entry");
  }

  // ---------------------------------------------------------------- persistence

  @Test
  void longNamesTargetsNonUtf8NamesModesAndXattrsSurviveRemount() throws IOException {
    String write = """
        d = os.fsencode(sys.argv[1]); j = lambda n: os.path.join(d, n)
        open(j(b'n' * 255), 'wb').write(b'long name')
        open(j(b'\\xff\\xfe-name'), 'wb').write(b'not utf-8')
        os.symlink(b'T' * 4095, j(b'longlink'))
        os.setxattr(j(b'n' * 255), 'user.k', b'v' * 300)
        os.chmod(j(b'\\xff\\xfe-name'), 0o604)
        open(j(b'timed'), 'wb').close()      # never read, so that its atime stays as set
        os.utime(j(b'timed'), ns=(3_000_000_003, 2_000_000_002))
        os.link(j(b'n' * 255), j(b'second'))
        """;
    String check = """
        d = os.fsencode(sys.argv[1]); j = lambda n: os.path.join(d, n)
        s = os.stat(j(b'\\xff\\xfe-name')); t = os.stat(j(b'timed'))
        out(names=sorted(os.listdir(d)) == sorted([b'n' * 255, b'\\xff\\xfe-name', b'longlink', b'second', b'timed']),
            a=open(j(b'n' * 255), 'rb').read(), b=open(j(b'\\xff\\xfe-name'), 'rb').read(),
            link=(os.readlink(j(b'longlink')) == b'T' * 4095), x=(os.getxattr(j(b'n' * 255), 'user.k') == b'v' * 300),
            mode=oct(stat.S_IMODE(s.st_mode)), times=(t.st_atime_ns, t.st_mtime_ns),
            nlink=os.stat(j(b'second')).st_nlink)
        """;
    py(write, dir);
    Map<String, String> before = py(check, dir);
    vault.unmount();
    vault.mount();
    Map<String, String> after = py(check, dir);
    assertAll(
        () -> assertEquals("True", after.get("names")),
        () -> assertEquals("b'long name'", after.get("a")),
        () -> assertEquals("b'not utf-8'", after.get("b")),
        () -> assertEquals("True", after.get("link"), "4095-byte symlink target after remount"),
        () -> assertEquals("True", after.get("x"), "xattr after remount"),
        () -> assertEquals("0o604", after.get("mode")),
        () -> assertEquals("(3000000003, 2000000002)", after.get("times"), "atime, mtime"),
        () -> assertEquals("2", after.get("nlink")),
        () -> assertEquals(before, after, "everything as it was before the remount"));
  }

  // ---------------------------------------------------------------- helpers

  /** Runs a python3 snippet (after {@link #PRELUDE}) with arguments; returns its key=value lines. */
  private static Map<String, String> py(String script, Object... args) {
    return py(60, script, args);
  }

  /** As {@link #py(String, Object...)}, failing if the snippet takes longer than the timeout. */
  private static Map<String, String> py(int timeoutSeconds, String script, Object... args) {
    List<String> cmd = new ArrayList<>(List.of("python3", "-c", PRELUDE + script));
    for (Object a : args) {
      cmd.add(a.toString());
    }
    MountedVault.Result r = MountedVault.run(cmd, null, timeoutSeconds);
    assertEquals(0, r.exitCode(), () -> "python step failed: " + r.stderr());
    Map<String, String> m = new HashMap<>();
    for (String line : r.stdout().split("\n")) {
      if (line.isEmpty()) {
        continue;
      }
      int eq = line.indexOf('=');
      if (eq < 0) {
        m.put("", line);
      } else {
        m.put(line.substring(0, eq), line.substring(eq + 1));
      }
    }
    return m;
  }

  /** Runs a snippet that must finish without error within 30 s; {@code what} names it. */
  private static void step(String what, String script, Object... args) {
    List<String> cmd = new ArrayList<>(List.of("python3", "-c", PRELUDE + script));
    for (Object a : args) {
      cmd.add(a.toString());
    }
    MountedVault.Result r;
    try {
      r = MountedVault.run(cmd, null, 30);
    } catch (AssertionError e) {
      throw new AssertionError(what + " did not return within 30 s (the caller hangs)", e);
    }
    assertEquals(0, r.exitCode(), () -> what + " failed: " + r.stderr());
  }

  private static void run(String... cmd) {
    MountedVault.Result r = MountedVault.run(List.of(cmd), null, 60);
    assertEquals(0, r.exitCode(), () -> String.join(" ", cmd) + ": " + r);
  }

  private static List<String> list(Path d) throws IOException {
    try (var s = Files.list(d)) {
      return s.map(p -> p.getFileName().toString()).sorted().toList();
    }
  }

  private static byte[] bytes(String s) {
    return s.getBytes(US_ASCII);
  }

  private static byte[] filled(int n, byte b) {
    byte[] a = new byte[n];
    Arrays.fill(a, b);
    return a;
  }

  /** Deterministic non-repeating content, different for each seed. */
  static byte[] pattern(int n, long seed) {
    byte[] a = new byte[n];
    new Random(seed * 7919 + 1).nextBytes(a);
    return a;
  }

  static void writeFully(FileChannel ch, byte[] data, long pos) throws IOException {
    ByteBuffer b = ByteBuffer.wrap(data);
    while (b.hasRemaining()) {
      pos += ch.write(b, pos);
    }
  }

  static byte[] readUpTo(FileChannel ch, long pos, int len) throws IOException {
    ByteBuffer b = ByteBuffer.allocate(len);
    while (b.hasRemaining()) {
      int n = ch.read(b, pos + b.position());
      if (n <= 0) {
        break;
      }
    }
    return Arrays.copyOf(b.array(), b.position());
  }

  static String sha256(byte[] data) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(data));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  private static int firstDifference(byte[] a, byte[] b) {
    for (int i = 0; i < Math.min(a.length, b.length); i++) {
      if (a[i] != b[i]) {
        return i;
      }
    }
    return a.length == b.length ? -1 : Math.min(a.length, b.length);
  }
}
