package dev.clawfs.tools;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.clawfs.tools.ViewFileSystem.Grant;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The tool's view of the mount, through the java.nio API that Chicory's WASI layer uses. */
class ViewFileSystemTest {

  private MemoryToolFiles files;
  private ViewFileSystem view;
  private OutputBudget budget;

  @BeforeEach
  void setUp() {
    files =
        new MemoryToolFiles()
            .file("/workspaces/x/a.txt", "alpha\n")
            .symlink("/workspaces/x/in", "a.txt")
            .symlink("/workspaces/x/out", "/specs/s.txt")
            .symlink("/workspaces/x/up", "../../specs/s.txt")
            .symlink("/workspaces/x/loop1", "loop2")
            .symlink("/workspaces/x/loop2", "loop1")
            .symlink("/workspaces/x/dir", "/specs")
            .dir("/workspaces/w")
            .file("/specs/s.txt", "secret\n");
    budget = new OutputBudget(1000);
    view =
        new ViewFileSystem(
            files,
            List.of(new Grant("/workspaces/x", false), new Grant("/workspaces/w", true)),
            PathGate.ALL,
            budget,
            100);
  }

  private Path p(String path) {
    return view.getPath(path);
  }

  @Test
  void pathsAreLexicalUnixPaths() {
    Path a = p("/workspaces/x/../x/./a.txt");
    assertEquals("/workspaces/x/a.txt", a.normalize().toString());
    assertEquals("/", p("/../..").normalize().toString(), ".. stops at the root");
    assertEquals("../y", p("/workspaces/x").relativize(p("/workspaces/y")).toString());
    assertEquals(p("/workspaces/x/a.txt"), p("/workspaces/x").resolve("a.txt"));
    assertEquals("a.txt", a.getFileName().toString());
    assertTrue(p("/workspaces/x/a.txt").startsWith(p("/workspaces")));
    assertFalse(p("/workspacesx").startsWith(p("/workspaces")));
    assertEquals("/workspaces/x/a.txt", p("workspaces/x/a.txt").toAbsolutePath().toString());
  }

  @Test
  void grantedFilesReadOnDemand() throws IOException {
    assertEquals(0, files.reads.get());
    assertTrue(Files.isDirectory(p("/workspaces/x")));
    assertEquals(0, files.reads.get(), "a stat reads no content");
    assertEquals("alpha\n", Files.readString(p("/workspaces/x/a.txt")));
    assertEquals(1, files.reads.get());
    assertEquals(6L, Files.size(p("/workspaces/x/a.txt")));
  }

  @Test
  void largeFilesAreReadInRanges() throws IOException {
    byte[] big = new byte[3 << 20];
    new Random(3).nextBytes(big);
    files.file("/workspaces/x/big.bin", big);
    try (FileChannel ch = FileChannel.open(p("/workspaces/x/big.bin"), StandardOpenOption.READ)) {
      ByteBuffer buf = ByteBuffer.allocate(4096);
      ch.position(big.length - 10);
      assertEquals(10, ch.read(buf));
      assertEquals(-1, ch.read(buf.clear()));
      buf.clear();
      assertEquals(4096, ch.read(buf, 12345));
      assertArrayEquals(java.util.Arrays.copyOfRange(big, 12345, 12345 + 4096), buf.array());
    }
    assertArrayEquals(big, Files.readAllBytes(p("/workspaces/x/big.bin")));
  }

  @Test
  void nothingOutsideTheGrantsExists() {
    for (String s :
        List.of(
            "/etc/passwd", "/specs/s.txt", "/workspaces/x/../../specs/s.txt", "/", "/workspaces")) {
      assertFalse(Files.exists(p(s)), s);
      assertThrows(NoSuchFileException.class, () -> Files.readAllBytes(p(s)), s);
    }
    assertTrue(
        view.denials().contains("denied read /etc/passwd: outside the paths granted to the tool"),
        view.denials()::toString);
  }

  @Test
  void symlinksAreFollowedOnlyWithinTheGrants() throws IOException {
    assertEquals("alpha\n", Files.readString(p("/workspaces/x/in")));
    assertEquals(p("/workspaces/x/a.txt"), Files.readSymbolicLink(p("/workspaces/x/in")));
    assertTrue(Files.isSymbolicLink(p("/workspaces/x/out")));
    assertThrows(NoSuchFileException.class, () -> Files.readString(p("/workspaces/x/out")));
    assertThrows(NoSuchFileException.class, () -> Files.readString(p("/workspaces/x/up")));
    FileSystemException loop =
        assertThrows(FileSystemException.class, () -> Files.readString(p("/workspaces/x/loop1")));
    assertEquals("too many levels of symbolic links", loop.getReason());
    FileSystemException viaDirLink =
        assertThrows(
            FileSystemException.class, () -> Files.readString(p("/workspaces/x/dir/s.txt")));
    assertEquals("not a directory: /workspaces/x/dir", viaDirLink.getReason());
  }

  @Test
  void aToolFilesThatFollowsSymlinksStillCannotLeadOut() {
    // a careless implementation that reports the link as a link but resolves paths below it
    // through the link, as a kernel path walk would
    ToolFiles careless =
        new ToolFiles() {
          @Override
          public Stat stat(String path) throws IOException {
            return files.stat(path.replace("/workspaces/x/dir/", "/specs/"));
          }

          @Override
          public List<Entry> list(String path) throws IOException {
            return files.list(path.replace("/workspaces/x/dir/", "/specs/"));
          }

          @Override
          public byte[] read(String path, long offset, int length) throws IOException {
            return files.read(path.replace("/workspaces/x/dir/", "/specs/"), offset, length);
          }
        };
    ViewFileSystem v =
        new ViewFileSystem(
            careless, List.of(new Grant("/workspaces/x", false)), PathGate.ALL, budget, 100);
    assertThrows(
        FileSystemException.class, () -> Files.readString(v.getPath("/workspaces/x/dir/s.txt")));
  }

  @Test
  void listingsHoldTheEntriesThePolicyShows() throws IOException {
    ViewFileSystem gated =
        new ViewFileSystem(
            files,
            List.of(new Grant("/workspaces/x", false)),
            (path, write) -> !path.endsWith("/in"),
            budget,
            100);
    try (Stream<Path> s = Files.list(gated.getPath("/workspaces/x"))) {
      assertEquals(
          List.of("a.txt", "dir", "loop1", "loop2", "out", "up"),
          s.map(e -> e.getFileName().toString()).sorted().toList());
    }
    assertThrows(
        AccessDeniedException.class, () -> Files.readString(gated.getPath("/workspaces/x/in")));
  }

  @Test
  void readOnlyGrantsRefuseEveryChange() {
    Path a = p("/workspaces/x/a.txt");
    assertThrows(AccessDeniedException.class, () -> Files.writeString(a, "changed"));
    assertThrows(
        AccessDeniedException.class, () -> Files.writeString(p("/workspaces/x/new.txt"), "new"));
    assertThrows(AccessDeniedException.class, () -> Files.delete(a));
    assertThrows(AccessDeniedException.class, () -> Files.createDirectory(p("/workspaces/x/d")));
    assertThrows(AccessDeniedException.class, () -> Files.move(a, p("/workspaces/w/a.txt")));
    assertThrows(
        AccessDeniedException.class, () -> Files.createSymbolicLink(p("/workspaces/w/l"), a));
    assertThrows(
        AccessDeniedException.class,
        () -> Files.setLastModifiedTime(a, java.nio.file.attribute.FileTime.fromMillis(0)));
    assertEquals("alpha\n", files.text("/workspaces/x/a.txt"));
  }

  @Test
  void writableGrantsWriteThroughOnClose() throws IOException {
    Path f = p("/workspaces/w/out.txt");
    try (FileChannel ch =
        FileChannel.open(f, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
      ch.write(ByteBuffer.wrap("hello ".getBytes(StandardCharsets.UTF_8)));
      assertEquals("", files.text("/workspaces/w/out.txt"), "created at once, content on close");
      assertEquals(6L, Files.size(f), "the live size while open");
      ch.write(ByteBuffer.wrap("world".getBytes(StandardCharsets.UTF_8)));
    }
    assertEquals("hello world", files.text("/workspaces/w/out.txt"));
    Files.writeString(f, "!", StandardOpenOption.APPEND);
    assertEquals("hello world!", files.text("/workspaces/w/out.txt"));
    Files.createDirectory(p("/workspaces/w/sub"));
    Files.move(f, p("/workspaces/w/sub/moved.txt"));
    assertEquals("hello world!", files.text("/workspaces/w/sub/moved.txt"));
    assertEquals(12, budget.used(), "written bytes are output");
    assertThrows(
        AccessDeniedException.class,
        () -> Files.delete(p("/workspaces/w")),
        "not the granted root itself");
  }

  @Test
  void writesOverTheBudgetStopTheRun() throws IOException {
    LimitExceeded e =
        assertThrows(
            LimitExceeded.class, () -> Files.write(p("/workspaces/w/big"), new byte[1001]));
    assertEquals(LimitHit.OUTPUT, e.limit());
    files.file("/workspaces/w/large", new byte[101]);
    assertThrows(
        AccessDeniedException.class,
        () -> Files.writeString(p("/workspaces/w/large"), "x", StandardOpenOption.APPEND),
        "over the edit cap");
  }

  @Test
  void anAbortedRunKeepsNoPendingWrites() throws IOException {
    FileChannel ch =
        FileChannel.open(
            p("/workspaces/w/half.txt"), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
    ch.write(ByteBuffer.wrap("half".getBytes(StandardCharsets.UTF_8)));
    view.abort();
    ch.close();
    assertEquals("", files.text("/workspaces/w/half.txt"));
  }

  @Test
  void unixAttributesForWasi() throws IOException {
    Map<String, Object> a = Files.readAttributes(p("/workspaces/x/a.txt"), "unix:*");
    assertEquals(6L, a.get("size"));
    assertEquals(0100444, a.get("mode"));
    assertTrue(a.get("ino") instanceof Long);
    assertEquals(1, a.get("nlink"));
    Map<String, Object> w = Files.readAttributes(p("/workspaces/w"), "unix:mode,isDirectory");
    assertEquals(Map.of("mode", 040755, "isDirectory", true), w);
    assertNull(
        Files.getFileAttributeView(
            p("/workspaces/x/a.txt"), java.nio.file.attribute.PosixFileAttributeView.class));
  }
}
