package dev.clawfs.fuse;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.clawfs.crypto.ChunkCipher;
import dev.clawfs.crypto.FileHeader;
import dev.clawfs.crypto.KdfParams;
import dev.clawfs.crypto.MasterKeys;
import dev.clawfs.crypto.VaultHeader;
import dev.clawfs.fuse.CheckReport.Kind;
import dev.clawfs.fuse.CheckReport.Problem;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The checker and the repair without a mount: a vault written through {@link ClawFileSystem},
 * closed, then damaged byte by byte as docs/vault-format.md lays it out.
 */
class VaultCheckTest {
  private static final int O_RDWR = 2;
  private static final int CHUNK = ChunkCipher.CHUNK_SIZE;
  private static final int SLOT = ChunkCipher.SLOT_SIZE;
  private static final char[] PASS = "check passphrase".toCharArray();
  private static final Caller ME = new Caller(1000, 1000, 1);

  @TempDir Path dir;
  private MasterKeys keys;
  private ClawFileSystem fs;
  private final Map<String, byte[]> written = new LinkedHashMap<>();

  @BeforeEach
  void setUp() throws IOException {
    keys = VaultHeader.create(dir, PASS, new KdfParams(8192, 1, 1));
    ClawFileSystem.initialize(dir, keys, 0, 0);
    fs = ClawFileSystem.open(dir, keys, 50);
  }

  @AfterEach
  void tearDown() throws IOException {
    if (fs != null) {
      fs.close();
    }
  }

  private static byte[] p(String path) {
    return path.getBytes(StandardCharsets.UTF_8);
  }

  private static byte[] random(int n, long seed) {
    byte[] b = new byte[n];
    new Random(seed).nextBytes(b);
    return b;
  }

  private void write(String path, byte[] data) {
    long fh = fs.create(p(path), 0644, O_RDWR, ME);
    writeAt(fh, 0, data);
    fs.release(fh);
    written.put(path, data);
  }

  private void writeAt(long fh, long offset, byte[] data) {
    int done = 0;
    while (done < data.length) {
      int len = Math.min(131072, data.length - done);
      done += fs.write(fh, offset + done, Arrays.copyOfRange(data, done, done + len), len);
    }
  }

  private byte[] readAll(ClawFileSystem f, String path) {
    long fh = f.open(p(path), 0);
    try {
      long size = f.fgetattr(fh).size();
      byte[] out = new byte[(int) size];
      int off = 0;
      while (off < size) {
        byte[] buf = new byte[CHUNK];
        int n = f.read(fh, off, buf, buf.length);
        System.arraycopy(buf, 0, out, off, n);
        off += n;
      }
      return out;
    } finally {
      f.release(fh);
    }
  }

  private void close() throws IOException {
    fs.close();
    fs = null;
  }

  /** The inode at {@code path}, with its chunk versions, from the closed vault. */
  private Inode inodeAt(String path) {
    try (MetadataSnapshot s = MetadataSnapshot.read(dir, keys)) {
      MetadataTree t = new MetadataTree(s);
      for (Map.Entry<Long, byte[]> e : t.paths.entrySet()) {
        if (Arrays.equals(e.getValue(), p(path))) {
          return s.inodes.get(e.getKey());
        }
      }
    }
    throw new AssertionError("no inode at " + path);
  }

  private Path contentOf(String path) {
    return ContentStore.pathOf(dir, inodeAt(path).fileId);
  }

  private CheckReport check() {
    return VaultCheck.run(dir, keys, false);
  }

  private static List<Problem> of(CheckReport r, Kind kind) {
    return r.problems().stream().filter(x -> x.kind() == kind).collect(Collectors.toList());
  }

  private static void flip(Path f, long pos) throws IOException {
    try (RandomAccessFile raf = new RandomAccessFile(f.toFile(), "rw")) {
      raf.seek(pos);
      int b = raf.read();
      raf.seek(pos);
      raf.write(b ^ 0x20);
    }
  }

  // ------------------------------------------------------------------ a clean vault

  @Test
  void cleanVaultHasNoProblems() throws IOException {
    write("/workspaces/a.txt", "hello\n".getBytes(StandardCharsets.UTF_8));
    write("/specs/b.bin", random(3 * CHUNK + 17, 1));
    fs.mkdir(p("/workspaces/d"), 0755, ME);
    fs.symlink(p("../a.txt"), p("/workspaces/d/link"), ME);
    fs.link(p("/workspaces/a.txt"), p("/workspaces/d/hard"));
    write("/workspaces/sparse", new byte[0]);
    long fh = fs.open(p("/workspaces/sparse"), O_RDWR);
    writeAt(fh, 5L * CHUNK, random(100, 2));
    fs.release(fh);
    close();
    CheckReport r = check();
    assertTrue(r.clean(), () -> "problems: " + r.problems());
    assertEquals(List.of(), r.problems());
    assertEquals(6, r.counts().chunks()); // 4 of b.bin, 1 of a.txt, 1 of sparse (the rest are holes)
    assertEquals(r.counts().chunks(), r.counts().chunksOk());
    assertEquals(3, r.counts().files());
    assertTrue(r.files().stream().anyMatch(f -> f.path().equals("/specs/b.bin")));
  }

  // ------------------------------------------------------------------ each planted fault

  @Test
  void findsEachPlantedContentFault() throws IOException {
    write("/workspaces/healthy.txt", "all is well\n".getBytes(StandardCharsets.UTF_8));
    write("/specs/flip.bin", random(CHUNK + 5000, 3));
    write("/workspaces/cut.bin", random(4 * CHUNK, 4));
    write("/workspaces/zero.bin", random(CHUNK + 300, 5));
    write("/workspaces/gone.bin", random(1000, 6));
    // rollback: chunk 0 sealed three times (versions 1, 2, 3: slots B, A, B), a copy taken after the first
    List<Path> before = VaultCheck.contentFiles(dir);
    long fh = fs.create(p("/workspaces/roll.bin"), 0644, O_RDWR, ME);
    writeAt(fh, 0, random(CHUNK, 7));
    fs.fsync(fh);
    Path rollContent = newContentFile(before);
    byte[] oldSlotB = slot(rollContent, 0, 1);
    writeAt(fh, 0, random(CHUNK, 8));
    fs.fsync(fh);
    byte[] last = random(CHUNK, 9);
    writeAt(fh, 0, last);
    fs.release(fh);
    written.put("/workspaces/roll.bin", last);
    close();
    assertTrue(check().clean());

    flip(contentOf("/specs/flip.bin"), ContentFile.slotOffset(0, inodeAt("/specs/flip.bin").version(0)) + 500);
    Inode roll = inodeAt("/workspaces/roll.bin");
    assertEquals(3, roll.version(0));
    try (RandomAccessFile raf = new RandomAccessFile(contentOf("/workspaces/roll.bin").toFile(), "rw")) {
      raf.seek(ContentFile.slotOffset(0, 1));
      raf.write(oldSlotB);
    }
    try (RandomAccessFile raf = new RandomAccessFile(contentOf("/workspaces/cut.bin").toFile(), "rw")) {
      raf.setLength(FileHeader.SIZE + 2L * 2 * SLOT); // chunks 0 and 1 stay
    }
    try (RandomAccessFile raf = new RandomAccessFile(contentOf("/workspaces/zero.bin").toFile(), "rw")) {
      raf.seek(FileHeader.SIZE + 2L * SLOT); // both slots of chunk 1
      raf.write(new byte[2 * SLOT]);
    }
    Files.delete(contentOf("/workspaces/gone.bin"));

    CheckReport r = check();
    assertFalse(r.clean());
    Map<String, List<Problem>> byPath = r.faults().stream().collect(Collectors.groupingBy(Problem::path));
    assertEquals(List.of("/specs/flip.bin", "/workspaces/cut.bin", "/workspaces/gone.bin", "/workspaces/roll.bin",
        "/workspaces/zero.bin"), byPath.keySet().stream().sorted().toList(), () -> r.problems().toString());

    Problem flip = byPath.get("/specs/flip.bin").get(0);
    assertEquals(Kind.CHUNK_AUTH, flip.kind());
    assertEquals(0L, flip.chunk());
    assertTrue(flip.detail().contains("failed authentication"), flip.detail());

    Problem rb = byPath.get("/workspaces/roll.bin").get(0);
    assertEquals(Kind.CHUNK_ROLLBACK, rb.kind());
    assertEquals(0L, rb.chunk());
    assertTrue(rb.detail().contains("version 1 where the metadata names 3"), rb.detail());

    Problem cut = byPath.get("/workspaces/cut.bin").get(0);
    assertEquals(Kind.CHUNK_TRUNCATED, cut.kind());
    assertEquals(2L, cut.chunk());
    assertTrue(cut.detail().contains("2 chunks (2..3)"), cut.detail());

    Problem zero = byPath.get("/workspaces/zero.bin").get(0);
    assertEquals(Kind.CHUNK_ZERO, zero.kind());
    assertEquals(1L, zero.chunk());

    Problem gone = byPath.get("/workspaces/gone.bin").get(0);
    assertEquals(Kind.CONTENT_MISSING, gone.kind());
    assertTrue(gone.detail().contains("is missing"), gone.detail());

    assertEquals(5, r.damagedFiles());
    assertEquals(1, byPath.get("/workspaces/cut.bin").size()); // one truncation, not one per chunk
  }

  /** The content file that is not among {@code before}. */
  private Path newContentFile(List<Path> before) {
    List<Path> now = new ArrayList<>(VaultCheck.contentFiles(dir));
    now.removeAll(before);
    assertEquals(1, now.size(), now::toString);
    return now.get(0);
  }

  private static byte[] slot(Path content, long index, long version) throws IOException {
    try (RandomAccessFile raf = new RandomAccessFile(content.toFile(), "r")) {
      byte[] b = new byte[CHUNK + ChunkCipher.OVERHEAD];
      raf.seek(ContentFile.slotOffset(index, version));
      raf.readFully(b);
      return b;
    }
  }

  @Test
  void repairMovesDamagedFilesToLostAndFoundAndKeepsTheRest() throws IOException {
    write("/workspaces/keep1.txt", "first healthy file\n".getBytes(StandardCharsets.UTF_8));
    write("/specs/keep2.bin", random(2 * CHUNK + 9, 10));
    write("/vault/secret", "token-123\n".getBytes(StandardCharsets.UTF_8));
    write("/workspaces/flip.bin", random(2 * CHUNK + 10, 11));
    write("/specs/gone.bin", random(500, 12));
    fs.mkdir(p("/workspaces/sub"), 0755, ME);
    write("/workspaces/sub/cut.bin", random(3 * CHUNK, 13));
    close();
    Inode flipped = inodeAt("/workspaces/flip.bin");
    flip(contentOf("/workspaces/flip.bin"), ContentFile.slotOffset(1, flipped.version(1)) + 77);
    Files.delete(contentOf("/specs/gone.bin"));
    try (RandomAccessFile raf = new RandomAccessFile(contentOf("/workspaces/sub/cut.bin").toFile(), "rw")) {
      raf.setLength(FileHeader.SIZE + 2L * 2 * SLOT);
    }
    long flipIno = flipped.id;
    long goneIno = inodeAt("/specs/gone.bin").id;
    long cutIno = inodeAt("/workspaces/sub/cut.bin").id;
    assertEquals(3, check().damagedFiles());

    VaultRepair.Result result = VaultRepair.run(dir, keys);
    assertEquals(3, result.moved().size(), result.actions()::toString);
    String lf = VaultCheck.LOST_FOUND_PATH + "/";
    assertEquals(lf + flipIno + "-flip.bin", result.moved().get(flipIno));
    assertEquals(lf + goneIno + "-gone.bin", result.moved().get(goneIno));
    assertEquals(lf + cutIno + "-cut.bin", result.moved().get(cutIno));

    CheckReport after = check();
    assertTrue(after.clean(), () -> "after repair: " + after.faults());
    assertTrue(after.notes().stream().allMatch(Problem::quarantined), () -> after.notes().toString());
    assertEquals(3, after.notes().size());

    fs = ClawFileSystem.open(dir, VaultHeader.unlock(dir, PASS), 50);
    for (String keep : List.of("/workspaces/keep1.txt", "/specs/keep2.bin", "/vault/secret")) {
      assertArrayEquals(written.get(keep), readAll(fs, keep), keep);
    }
    assertEquals(0700, fs.getattr(p(VaultCheck.LOST_FOUND_PATH)).mode() & 07777);
    assertEquals(0, fs.getattr(p(VaultCheck.LOST_FOUND_PATH)).uid());
    // the moved file is unchanged: its good chunks read, the damaged one is still EIO
    String moved = lf + flipIno + "-flip.bin";
    long fh = fs.open(p(moved), 0);
    byte[] buf = new byte[CHUNK];
    assertEquals(CHUNK, fs.read(fh, 0, buf, CHUNK));
    assertArrayEquals(Arrays.copyOfRange(written.get("/workspaces/flip.bin"), 0, CHUNK), buf);
    assertEquals(Errno.EIO, assertThrows(FsException.class, () -> fs.read(fh, CHUNK, buf, CHUNK)).errno());
    fs.release(fh);
    // the salvaged copy: chunk 1 zeros, the rest as written
    byte[] expected = written.get("/workspaces/flip.bin").clone();
    Arrays.fill(expected, CHUNK, 2 * CHUNK, (byte) 0);
    assertArrayEquals(expected, readAll(fs, moved + ".salvaged"));
    String note = new String(readAll(fs, moved + ".note.txt"), StandardCharsets.UTF_8);
    assertTrue(note.contains("File: /workspaces/flip.bin (inode " + flipIno + ")"), note);
    assertTrue(note.contains("chunk 1 (bytes 65536..131071): chunk-auth"), note);
    // the truncated file: chunks 0 and 1 salvaged, 2 zeros
    byte[] cutExpected = written.get("/workspaces/sub/cut.bin").clone();
    Arrays.fill(cutExpected, 2 * CHUNK, 3 * CHUNK, (byte) 0);
    assertArrayEquals(cutExpected, readAll(fs, lf + cutIno + "-cut.bin.salvaged"));
    // nothing of the deleted one could be read: a note, no copy
    String goneNote = new String(readAll(fs, lf + goneIno + "-gone.bin.note.txt"), StandardCharsets.UTF_8);
    assertTrue(goneNote.contains("content-missing"), goneNote);
    assertTrue(goneNote.contains("no salvaged copy"), goneNote);
    assertEquals(Errno.ENOENT, assertThrows(FsException.class,
        () -> fs.getattr(p(lf + goneIno + "-gone.bin.salvaged"))).errno());
    assertEquals(Errno.ENOENT, assertThrows(FsException.class, () -> fs.getattr(p("/workspaces/flip.bin"))).errno());
  }

  // ------------------------------------------------------------------ the database

  @Test
  void corruptedDatabasePageIsFoundAndRepairKeepsEveryFileWhoseRecordSurvived() throws Exception {
    fs.mkdir(p("/workspaces/many"), 0755, ME);
    for (int i = 0; i < 300; i++) {
      write("/workspaces/many/file-" + i + ".txt", ("content of file " + i + "\n").getBytes(StandardCharsets.UTF_8));
    }
    close();
    int page = leafPageOf("dirent");
    try (RandomAccessFile raf = new RandomAccessFile(dir.resolve(MetadataStore.DB_FILE).toFile(), "rw")) {
      raf.seek((page - 1) * 4096L);
      raf.write(random(4096, 14));
    }
    CheckReport r = check();
    List<Problem> db = of(r, Kind.DATABASE);
    assertFalse(db.isEmpty(), () -> r.problems().toString());
    assertTrue(db.get(0).detail().contains("integrity check"), db.get(0).detail());
    List<Problem> orphans = of(r, Kind.ORPHAN);
    assertFalse(orphans.isEmpty(), "the files whose entries were on the page are unreachable now");
    assertTrue(orphans.size() < 300, "only one page of entries is lost: " + orphans.size());
    assertTrue(orphans.get(0).detail().contains("mounting deletes it"), orphans.get(0).detail());

    VaultRepair.Result result = VaultRepair.run(dir, keys);
    assertNotNull(result.backup());
    assertTrue(Files.exists(result.backup().resolve(MetadataStore.DB_FILE)), "the old database is kept");
    CheckReport after = check();
    assertTrue(after.clean(), () -> "after repair: " + after.faults());

    // every file is still there: at its name, or in lost+found under its inode number
    fs = ClawFileSystem.open(dir, VaultHeader.unlock(dir, PASS), 50);
    Map<String, String> found = new HashMap<>();
    for (ClawFileSystem.DirEntry e : fs.readdir(p("/workspaces/many"))) {
      String n = new String(e.name(), StandardCharsets.UTF_8);
      if (n.startsWith("file-")) {
        found.put(new String(readAll(fs, "/workspaces/many/" + n), StandardCharsets.UTF_8), n);
      }
    }
    int inLostFound = 0;
    for (ClawFileSystem.DirEntry e : fs.readdir(p(VaultCheck.LOST_FOUND_PATH))) {
      String n = new String(e.name(), StandardCharsets.UTF_8);
      if (n.startsWith("#") && !n.endsWith(".note.txt")) {
        found.put(new String(readAll(fs, VaultCheck.LOST_FOUND_PATH + "/" + n), StandardCharsets.UTF_8), n);
        inLostFound++;
        String note = new String(readAll(fs, VaultCheck.LOST_FOUND_PATH + "/" + n + ".note.txt"), StandardCharsets.UTF_8);
        assertTrue(note.contains("was reachable from no directory"), note);
      }
    }
    assertEquals(orphans.size(), inLostFound);
    for (int i = 0; i < 300; i++) {
      assertTrue(found.containsKey("content of file " + i + "\n"), "file " + i + " was lost");
    }
  }

  @Test
  void unreadableDatabaseIsReportedAndRepairKeepsTheContentAside() throws Exception {
    write("/workspaces/a.txt", "aaa\n".getBytes(StandardCharsets.UTF_8));
    write("/specs/b.bin", random(2 * CHUNK, 20));
    close();
    try (RandomAccessFile raf = new RandomAccessFile(dir.resolve(MetadataStore.DB_FILE).toFile(), "rw")) {
      raf.write(random(4096, 21)); // page 1: the header and the schema
    }
    CheckReport r = check();
    assertFalse(r.clean());
    assertFalse(of(r, Kind.DATABASE).isEmpty(), () -> r.problems().toString());
    assertEquals(2, of(r, Kind.UNREFERENCED_CONTENT).size(), () -> r.problems().toString());

    VaultRepair.Result result = VaultRepair.run(dir, keys);
    assertTrue(result.actions().stream().anyMatch(a -> a.contains("could not be read") || a.contains("rows SQLite could")),
        result.actions()::toString);
    assertTrue(check().clean(), () -> check().faults().toString());
    try (var files = Files.walk(result.backup())) {
      List<String> kept = files.filter(Files::isRegularFile).map(f -> result.backup().relativize(f).toString()).toList();
      assertTrue(kept.contains(MetadataStore.DB_FILE), kept::toString);
      assertEquals(2, kept.stream().filter(k -> k.startsWith(ContentStore.DIR + "/")).count(), kept::toString);
    }
    fs = ClawFileSystem.open(dir, VaultHeader.unlock(dir, PASS), 50);
    assertEquals(List.of("agents", "specs", "vault", "workspaces"), fs.readdir(p("/")).stream()
        .map(e -> new String(e.name(), StandardCharsets.UTF_8)).filter(n -> !n.startsWith(".")).sorted().toList());
  }

  @Test
  void fileUnlinkedWhileOpenBeforeACrashIsANoteNotAnOrphan() throws Exception {
    write("/workspaces/keep.txt", "kept\n".getBytes(StandardCharsets.UTF_8));
    write("/workspaces/doomed.txt", "deleted by its owner\n".getBytes(StandardCharsets.UTF_8));
    long fh = fs.open(p("/workspaces/doomed.txt"), 0);
    fs.unlink(p("/workspaces/doomed.txt"));
    fs.sync();
    // the state a crash leaves: the unlinked inode is still committed (it was open)
    Path saved = Files.createDirectory(dir.resolve("saved"));
    for (String f : List.of(MetadataStore.DB_FILE, MetadataStore.DB_FILE + "-wal")) {
      Files.copy(dir.resolve(f), saved.resolve(f));
    }
    List<Path> content = VaultCheck.contentFiles(dir);
    byte[][] bytes = new byte[content.size()][];
    for (int i = 0; i < content.size(); i++) {
      bytes[i] = Files.readAllBytes(content.get(i));
    }
    fs.release(fh);
    close();
    Files.deleteIfExists(dir.resolve(MetadataStore.DB_FILE + "-shm"));
    for (String f : List.of(MetadataStore.DB_FILE, MetadataStore.DB_FILE + "-wal")) {
      Files.copy(saved.resolve(f), dir.resolve(f), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    }
    for (int i = 0; i < content.size(); i++) {
      Files.write(content.get(i), bytes[i]);
    }
    CheckReport r = check();
    assertTrue(r.clean(), () -> r.problems().toString());
    assertEquals(List.of(Kind.UNLINKED_OPEN), r.problems().stream().map(Problem::kind).toList());
    assertTrue(of(r, Kind.ORPHAN).isEmpty());
    // nothing to repair; the next mount deletes it, as before
    fs = ClawFileSystem.open(dir, VaultHeader.unlock(dir, PASS), 50);
    assertEquals(List.of("keep.txt"), fs.readdir(p("/workspaces")).stream()
        .map(e -> new String(e.name(), StandardCharsets.UTF_8)).filter(n -> !n.startsWith(".")).toList());
  }

  /** A leaf page of {@code table} from the middle of its b-tree (SQLite's dbstat table). */
  private int leafPageOf(String table) throws Exception {
    List<Integer> leaves = new ArrayList<>();
    try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + dir.resolve(MetadataStore.DB_FILE));
        Statement s = c.createStatement();
        ResultSet rs = s.executeQuery("SELECT pageno FROM dbstat WHERE name = '" + table + "' AND pagetype = 'leaf'"
            + " ORDER BY path")) {
      while (rs.next()) {
        leaves.add(rs.getInt(1));
      }
    }
    assertTrue(leaves.size() >= 3, "the table spans several pages: " + leaves);
    return leaves.get(leaves.size() / 2);
  }

  @Test
  void corruptedInodePageLosesThoseFilesOnlyAndKeepsTheirContentAside() throws Exception {
    fs.mkdir(p("/workspaces/many"), 0755, ME);
    for (int i = 0; i < 300; i++) {
      write("/workspaces/many/f" + i, ("file " + i + "\n").getBytes(StandardCharsets.UTF_8));
    }
    close();
    int page = leafPageOf("inode");
    try (RandomAccessFile raf = new RandomAccessFile(dir.resolve(MetadataStore.DB_FILE).toFile(), "rw")) {
      raf.seek((page - 1) * 4096L);
      raf.write(random(4096, 22));
    }
    CheckReport r = check();
    List<Problem> dangling = of(r, Kind.DANGLING_ENTRY);
    assertFalse(of(r, Kind.DATABASE).isEmpty(), () -> r.problems().toString());
    assertFalse(dangling.isEmpty(), () -> r.problems().toString());
    assertTrue(dangling.size() < 300, "one page of records: " + dangling.size());
    assertTrue(dangling.get(0).path().startsWith("/workspaces/many/f"), dangling.get(0).toString());
    assertEquals(dangling.size(), of(r, Kind.UNREFERENCED_CONTENT).size(), "their content files are left");

    VaultRepair.Result result = VaultRepair.run(dir, keys);
    assertTrue(check().clean(), () -> check().faults().toString());
    try (var files = Files.walk(result.backup().resolve(ContentStore.DIR))) {
      assertEquals(dangling.size(), files.filter(Files::isRegularFile).count(), "their content is kept aside");
    }
    fs = ClawFileSystem.open(dir, VaultHeader.unlock(dir, PASS), 50);
    List<ClawFileSystem.DirEntry> left = fs.readdir(p("/workspaces/many"));
    assertEquals(300 - dangling.size(), left.stream().filter(e -> e.name()[0] == 'f').count());
    for (ClawFileSystem.DirEntry e : left) {
      String n = new String(e.name(), StandardCharsets.UTF_8);
      if (n.startsWith("f")) {
        assertEquals("file " + n.substring(1) + "\n",
            new String(readAll(fs, "/workspaces/many/" + n), StandardCharsets.UTF_8));
      }
    }
  }

  @Test
  void damagedRecordsAndEntriesAreReportedNotFatal() throws Exception {
    write("/workspaces/a.txt", "aaa\n".getBytes(StandardCharsets.UTF_8));
    write("/workspaces/b.txt", "bbb\n".getBytes(StandardCharsets.UTF_8));
    close();
    long a = inodeAt("/workspaces/a.txt").id;
    long b = inodeAt("/workspaces/b.txt").id;
    try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + dir.resolve(MetadataStore.DB_FILE));
        Statement s = c.createStatement()) {
      // a's record altered in place; b's name swapped for a's hash (an entry moved)
      assertEquals(1, flipInRow(c, "inode", "rec", "id = " + a, 20));
      assertEquals(1, flipInRow(c, "dirent", "sname", "child = " + b, 30));
    }
    // the mount refuses such a vault outright
    assertThrows(FsException.class, () -> ClawFileSystem.open(dir, keys, 50).close());
    CheckReport r = check();
    Problem rec = of(r, Kind.INODE_RECORD).get(0);
    assertEquals(a, rec.ino());
    assertEquals("/workspaces/a.txt", rec.path());
    Problem ent = of(r, Kind.DIRENT).get(0);
    assertEquals(b, ent.ino());
    assertEquals(1, of(r, Kind.ORPHAN).size()); // b, whose only entry no longer opens

    VaultRepair.Result result = VaultRepair.run(dir, keys);
    assertTrue(check().clean(), () -> check().faults().toString());
    fs = ClawFileSystem.open(dir, VaultHeader.unlock(dir, PASS), 50);
    assertEquals("bbb\n", new String(readAll(fs, VaultCheck.LOST_FOUND_PATH + "/#" + b), StandardCharsets.UTF_8));
    assertEquals(Errno.ENOENT, assertThrows(FsException.class, () -> fs.getattr(p("/workspaces/a.txt"))).errno());
    // a's content cannot be read without its record; it is kept, not deleted
    try (var files = Files.walk(result.backup().resolve(ContentStore.DIR))) {
      assertEquals(1, files.filter(Files::isRegularFile).count());
    }
  }

  @Test
  void versionBlockRolledBackIsFoundAndRecoveredByTrial() throws Exception {
    long fh = fs.create(p("/workspaces/v.bin"), 0644, O_RDWR, ME);
    writeAt(fh, 0, random(3 * CHUNK, 15));
    fs.fsync(fh);
    close();
    byte[] oldBlock;
    long id = inodeAt("/workspaces/v.bin").id;
    try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + dir.resolve(MetadataStore.DB_FILE));
        Statement s = c.createStatement(); ResultSet rs = s.executeQuery("SELECT data FROM vmap WHERE inode = " + id)) {
      rs.next();
      oldBlock = rs.getBytes(1);
    }
    fs = ClawFileSystem.open(dir, keys, 50);
    byte[] now = random(3 * CHUNK, 16);
    fh = fs.open(p("/workspaces/v.bin"), O_RDWR);
    writeAt(fh, 0, now);
    fs.release(fh);
    close();
    try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + dir.resolve(MetadataStore.DB_FILE));
        java.sql.PreparedStatement ps = c.prepareStatement("UPDATE vmap SET data = ? WHERE inode = ?")) {
      ps.setBytes(1, oldBlock);
      ps.setLong(2, id);
      ps.executeUpdate();
    }
    CheckReport r = check();
    Problem vm = of(r, Kind.VERSION_MAP).get(0);
    assertEquals("/workspaces/v.bin", vm.path());
    assertTrue(vm.detail().contains("rolled back"), vm.detail());

    VaultRepair.Result result = VaultRepair.run(dir, keys);
    assertTrue(result.actions().stream().anyMatch(a -> a.contains("recovered the versions of 3 chunk(s)")),
        result.actions()::toString);
    assertTrue(check().clean(), () -> check().faults().toString());
    assertEquals(Map.of(), result.moved(), "every chunk was found: the file stays where it is");
    fs = ClawFileSystem.open(dir, VaultHeader.unlock(dir, PASS), 50);
    assertArrayEquals(now, readAll(fs, "/workspaces/v.bin"), "the newest versions are found in the slots");
  }

  // ------------------------------------------------------------------ while mounted

  @Test
  void checkWhileWritingReportsNoFalseFaults() throws Exception {
    write("/workspaces/steady.bin", random(2 * CHUNK, 17));
    long fh = fs.create(p("/workspaces/busy.bin"), 0644, O_RDWR, ME);
    writeAt(fh, 0, random(4 * CHUNK, 18));
    fs.fsync(fh);
    AtomicBoolean stop = new AtomicBoolean();
    Thread writer = new Thread(() -> {
      Random rnd = new Random(19);
      byte[] data = new byte[CHUNK];
      int i = 0;
      while (!stop.get()) {
        rnd.nextBytes(data);
        writeAt(fh, (long) (i++ % 4) * CHUNK, data);
        if (i % 3 == 0) {
          fs.fsync(fh);
        }
      }
    });
    writer.start();
    try {
      for (int round = 0; round < 5; round++) {
        CheckReport r = VaultCheck.run(dir, keys, true);
        assertTrue(r.clean(), () -> "mounted check: " + r.faults());
        assertTrue(r.mounted());
      }
    } finally {
      stop.set(true);
      writer.join();
      fs.release(fh);
    }
  }

  /** Flips one bit of byte {@code offset} of a blob column in the rows {@code where} selects. */
  static int flipInRow(java.sql.Connection c, String table, String column, String where, int offset)
      throws java.sql.SQLException {
    java.util.List<Object[]> rows = new java.util.ArrayList<>();
    try (java.sql.Statement s = c.createStatement();
        java.sql.ResultSet rs = s.executeQuery("SELECT rowid, " + column + " FROM " + table + " WHERE " + where)) {
      while (rs.next()) {
        rows.add(new Object[] {rs.getLong(1), rs.getBytes(2)});
      }
    } catch (java.sql.SQLException e) {
      // WITHOUT ROWID tables: flip by the where clause itself
      rows.clear();
      try (java.sql.Statement s = c.createStatement();
          java.sql.ResultSet rs = s.executeQuery("SELECT " + column + " FROM " + table + " WHERE " + where)) {
        while (rs.next()) {
          rows.add(new Object[] {null, rs.getBytes(1)});
        }
      }
    }
    int n = 0;
    for (Object[] r : rows) {
      byte[] b = (byte[]) r[1];
      b[offset] ^= 0x10;
      String sql = "UPDATE " + table + " SET " + column + " = ? WHERE " + (r[0] == null ? where : "rowid = " + r[0]);
      try (java.sql.PreparedStatement ps = c.prepareStatement(sql)) {
        ps.setBytes(1, b);
        n += ps.executeUpdate();
      }
    }
    return n;
  }
}
