package dev.clawfs.mount;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import dev.clawfs.mount.MountedVault.Result;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserDefinedFileAttributeView;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Real programs on a real mount: tar, cp -a, rsync, git and sqlite3 must leave exactly the
 * bytes, modes, times and links they would leave on ext4.
 *
 * <p>The source tree is a copy of part of /usr/include and /usr/share/doc (several thousand
 * files, with their real symlinks), the project's test-data, and generated extras: a few MiB
 * files, a sparse file, hard links, odd names, odd modes and times with nanoseconds.
 */
class RealProgramsIT {
  /** Copy at most this many regular files from the system trees. */
  private static final int SYSTEM_FILES = 2200;
  /** ... and at most this many bytes of them. */
  private static final long SYSTEM_BYTES = 20L << 20;
  /** Pad with generated files up to this many regular files if the system trees are small. */
  private static final int MIN_FILES = 2600;
  /** The git repository gets this many files of the tree, plus the extras. */
  private static final int GIT_FILES = 800;

  @TempDir static Path shared;
  private static Path source;

  @TempDir Path base;
  private MountedVault vault;

  @BeforeAll
  static void buildSourceTree() throws IOException {
    MountedVault.assumeMountable();
    source = shared.resolve("src");
    Files.createDirectories(source);
    int files = 0;
    long bytes = 0;
    for (String root : List.of("/usr/include", "/usr/share/doc")) {
      Path r = Path.of(root);
      if (!Files.isDirectory(r)) {
        continue;
      }
      int[] count = {files};
      long[] size = {bytes};
      copySubset(r, source.resolve("sys" + root.replace('/', '-')), count, size);
      files = count[0];
      bytes = size[0];
    }
    String testData = System.getProperty("clawfs.testdata");
    if (testData != null && Files.isDirectory(Path.of(testData))) {
      int[] count = {0};
      long[] size = {0};
      copySubset(Path.of(testData), source.resolve("test-data"), count, size);
      files += count[0];
    }
    files += writeExtras(source.resolve("extra"));
    Random rnd = new Random(42);
    Path pad = source.resolve("generated");
    for (int i = 0; files < MIN_FILES; i++, files++) {
      Path d = pad.resolve("d" + (i / 100));
      Files.createDirectories(d);
      byte[] b = new byte[rnd.nextInt(4) == 0 ? rnd.nextInt(200_000) : rnd.nextInt(3000)];
      rnd.nextBytes(b);
      Files.write(d.resolve("f" + i + ".bin"), b);
    }
  }

  /** Copies regular files, directories and symlinks in sorted order while under the budget. */
  private static void copySubset(Path from, Path to, int[] files, long[] bytes) throws IOException {
    List<Path> all;
    try (Stream<Path> s = Files.walk(from)) {
      all = s.sorted().toList();
    } catch (java.io.UncheckedIOException e) {
      return;
    }
    for (Path p : all) {
      Path rel = from.relativize(p);
      Path dst = to.resolve(rel.toString());
      try {
        if (Files.isSymbolicLink(p)) {
          Files.createDirectories(dst.getParent());
          Files.copy(p, dst, LinkOption.NOFOLLOW_LINKS, StandardCopyOption.COPY_ATTRIBUTES);
        } else if (Files.isDirectory(p)) {
          Files.createDirectories(dst);
        } else if (Files.isRegularFile(p) && Files.isReadable(p)) {
          long sz = Files.size(p);
          if (files[0] >= SYSTEM_FILES || bytes[0] + sz > SYSTEM_BYTES || sz > (4 << 20)) {
            continue;
          }
          Files.createDirectories(dst.getParent());
          Files.copy(p, dst, StandardCopyOption.COPY_ATTRIBUTES);
          files[0]++;
          bytes[0] += sz;
        }
      } catch (IOException e) {
        // unreadable system file: leave it out, the tree stays large enough
      }
    }
    // directory times last, as cp -a does, so later copies do not disturb them
    for (Path p : all) {
      Path dst = to.resolve(from.relativize(p).toString());
      if (Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS) && Files.isDirectory(dst)) {
        Files.setLastModifiedTime(dst, Files.getLastModifiedTime(p));
      }
    }
  }

  /** Generated files that exercise what system trees rarely have. Returns the file count. */
  private static int writeExtras(Path x) throws IOException {
    Random rnd = new Random(7);
    Files.createDirectories(x.resolve("sub/deeper/deepest"));
    Files.createDirectories(x.resolve("empty-dir"));
    int n = 0;
    for (int mib : new int[] {1, 3, 5}) {
      byte[] b = new byte[(mib << 20) + mib * 4099];
      rnd.nextBytes(b);
      Files.write(x.resolve("big-" + mib + "mib.bin"), b);
      n++;
    }
    // sparse: a hole of 2 MiB, then data, then a hole at the end
    try (var ch =
        java.nio.channels.FileChannel.open(
            x.resolve("sparse.bin"),
            java.nio.file.StandardOpenOption.CREATE,
            java.nio.file.StandardOpenOption.WRITE)) {
      ch.write(ByteBuffer.wrap("data after a hole".getBytes(StandardCharsets.US_ASCII)), 2 << 20);
      ch.truncate(3 << 20);
      ch.write(ByteBuffer.wrap(new byte[] {1}), (3 << 20) - 1);
    }
    n++;
    Files.write(x.resolve("empty"), new byte[0]);
    Files.writeString(x.resolve("name with spaces.txt"), "spaces\n");
    Files.writeString(x.resolve("na\u00efve caf\u00e9 \u65e5\u672c.txt"), "unicode name\n");
    Files.writeString(x.resolve("-leading-dash"), "dash\n");
    Files.writeString(x.resolve("a".repeat(251) + ".txt"), "255-byte name\n");
    n += 5;
    // hard links: a pair across directories and a triple
    Files.writeString(x.resolve("hl-a"), "hard linked pair\n".repeat(100));
    Files.createLink(x.resolve("sub/hl-b"), x.resolve("hl-a"));
    byte[] t = new byte[70_000];
    rnd.nextBytes(t);
    Files.write(x.resolve("sub/deeper/hl-1"), t);
    Files.createLink(x.resolve("sub/deeper/hl-2"), x.resolve("sub/deeper/hl-1"));
    Files.createLink(x.resolve("hl-3"), x.resolve("sub/deeper/hl-1"));
    n += 5;
    // symlinks: relative file, relative dir, absolute, dangling, long target
    Files.createSymbolicLink(x.resolve("link-to-big"), Path.of("big-1mib.bin"));
    Files.createSymbolicLink(x.resolve("sub/link-to-dir"), Path.of("../sub/deeper"));
    Files.createSymbolicLink(x.resolve("link-absolute"), Path.of("/etc/hostname"));
    Files.createSymbolicLink(x.resolve("link-dangling"), Path.of("no/such/target"));
    Files.createSymbolicLink(
        x.resolve("link-long"), Path.of(("segment-" + "x".repeat(40) + "/").repeat(20) + "end"));
    // modes
    Path ro = x.resolve("read-only.txt");
    Files.writeString(ro, "read only\n");
    Path exe = x.resolve("script.sh");
    Files.writeString(exe, "#!/bin/sh\necho hello\n");
    Path secret = x.resolve("owner-only");
    Files.writeString(secret, "600\n");
    n += 3;
    Files.setPosixFilePermissions(ro, PosixFilePermissions.fromString("r--r--r--"));
    Files.setPosixFilePermissions(exe, PosixFilePermissions.fromString("rwxr-xr-x"));
    Files.setPosixFilePermissions(secret, PosixFilePermissions.fromString("rw-------"));
    Files.setPosixFilePermissions(x.resolve("sub/deeper/deepest"),
        PosixFilePermissions.fromString("rwx------"));
    Files.setPosixFilePermissions(x.resolve("empty-dir"), PosixFilePermissions.fromString("rwxr-x---"));
    // an extended attribute (only cp -a is asked to keep it)
    Path withXattr = x.resolve("with-xattr.txt");
    Files.writeString(withXattr, "has a user xattr\n");
    n++;
    try {
      Files.getFileAttributeView(withXattr, UserDefinedFileAttributeView.class)
          .write("clawfs.test", ByteBuffer.wrap("xattr value".getBytes(StandardCharsets.UTF_8)));
    } catch (IOException | UnsupportedOperationException e) {
      // the temp directory's file system has no user xattrs: nothing to compare then
    }
    // times with nanoseconds, in the past and the future; directories last
    Files.setLastModifiedTime(ro, FileTime.from(Instant.parse("1990-01-02T03:04:05.123456789Z")));
    Files.setLastModifiedTime(exe, FileTime.from(Instant.parse("2099-12-31T23:59:58.000000001Z")));
    Files.setLastModifiedTime(
        x.resolve("big-3mib.bin"), FileTime.from(Instant.parse("2011-11-11T11:11:11.5Z")));
    Files.setLastModifiedTime(
        x.resolve("sub/deeper"), FileTime.from(Instant.parse("2001-02-03T04:05:06.7Z")));
    Files.setLastModifiedTime(
        x.resolve("empty-dir"), FileTime.from(Instant.parse("2005-05-05T05:05:05.555555555Z")));
    return n;
  }

  @BeforeEach
  void mount() throws IOException {
    vault = MountedVault.create(base, "--no-search");
  }

  @AfterEach
  void unmount() {
    if (vault != null) {
      vault.close();
    }
  }

  @Test
  void tarTreeInAndOutKeepsEveryByteModeTimeAndLink() throws IOException {
    Path in = base.resolve("in.tar");
    sh("tar -C " + q(source) + " -cf " + q(in) + " .");
    Path dst = vault.path("workspaces/tar");
    Files.createDirectories(dst);
    sh("tar -C " + q(dst) + " -xpf " + q(in));
    Manifest.Options seconds = new Manifest.Options(Manifest.Times.SECONDS, false, false);
    Manifest.assertSame(Manifest.of(source, seconds), Manifest.of(dst, seconds), "tar -x into mount");

    Path out = base.resolve("out.tar");
    sh("tar -C " + q(dst) + " -cf " + q(out) + " .");
    Path back = base.resolve("back");
    Files.createDirectories(back);
    sh("tar -C " + q(back) + " -xpf " + q(out));
    Manifest.assertSame(Manifest.of(source, seconds), Manifest.of(back, seconds), "tar -c out of mount");
  }

  @Test
  void cpArchiveKeepsModesNanosecondTimesLinksAndXattrs() throws IOException {
    Path dst = vault.path("workspaces/cp");
    sh("cp -a " + q(source) + " " + q(dst));
    Manifest.Options exact = new Manifest.Options(Manifest.Times.NANOS, true, true);
    Manifest expected = Manifest.of(source, exact);
    Manifest.assertSame(expected, Manifest.of(dst, exact), "cp -a into mount");
    vault.unmount();
    vault.mount();
    Manifest.assertSame(expected, Manifest.of(dst, exact), "after remount");
  }

  @Test
  void rsyncArchiveThenChecksumDryRunFindsNothingToDo() throws IOException {
    Assumptions.assumeTrue(onPath("rsync"), "SKIPPED: rsync is not installed");
    Path dst = vault.path("workspaces/rsync");
    Result r = MountedVault.run(List.of("rsync", "-aH", source + "/", dst + "/"), null, 600);
    assertEquals(0, r.exitCode(), "rsync -aH failed: " + r);
    String changes = rsyncDryRun(source, dst);
    assertEquals("", changes, "rsync --checksum --dry-run wants to change files after a copy");

    // an incremental rsync of a changed tree on the mount converges too
    Path changed = base.resolve("changed");
    sh("cp -a " + q(source) + " " + q(changed));
    Files.writeString(changed.resolve("extra/name with spaces.txt"), "changed content\n");
    Files.delete(changed.resolve("extra/big-3mib.bin"));
    Files.writeString(changed.resolve("extra/new-file"), "new\n");
    try (FileChannel ch = FileChannel.open(changed.resolve("extra/big-5mib.bin"),
        StandardOpenOption.WRITE)) {
      ch.write(ByteBuffer.wrap("rewritten in the middle".getBytes(StandardCharsets.US_ASCII)),
          2_500_000); // rsync's delta transfer rewrites part of a large file in place
    }
    r = MountedVault.run(
        List.of("rsync", "-aH", "--delete", "--no-whole-file", "--inplace", changed + "/", dst + "/"),
        null, 600);
    assertEquals(0, r.exitCode(), "incremental rsync failed: " + r);
    vault.unmount();
    vault.mount();
    assertEquals("", rsyncDryRun(changed, dst), "rsync differences after incremental sync + remount");
  }

  private static String rsyncDryRun(Path from, Path to) {
    Result r = MountedVault.run(
        List.of("rsync", "-aH", "--checksum", "--delete", "--dry-run", "--itemize-changes",
            from + "/", to + "/"),
        null, 600);
    assertEquals(0, r.exitCode(), "rsync --dry-run failed: " + r);
    return r.stdout().strip();
  }

  @Test
  void gitCommitFsckStatusGcAndCloneOnTheMount() throws IOException {
    Assumptions.assumeTrue(onPath("git"), "SKIPPED: git is not installed");
    Path repo = vault.path("workspaces/repo");
    Files.createDirectories(repo);
    copyFirst(source, repo, GIT_FILES);
    sh("cp -a " + q(source.resolve("extra")) + " " + q(repo.resolve("extra")));
    sh("find " + q(repo) + " -type d -empty -delete"); // git keeps no empty directories
    Map<String, String> env = gitEnv();
    git(repo, env, "init", "-q", "-b", "main");
    git(repo, env, "add", "-A");
    git(repo, env, "commit", "-q", "-m", "initial import");
    // a second commit with edits, a rename and a delete
    Files.writeString(repo.resolve("extra/name with spaces.txt"), "edited\n");
    git(repo, env, "mv", "extra/script.sh", "extra/renamed.sh");
    git(repo, env, "rm", "-q", "extra/big-1mib.bin");
    git(repo, env, "commit", "-q", "-a", "-m", "edit, rename, delete");
    git(repo, env, "fsck", "--full", "--strict", "--no-progress");
    assertEquals("", git(repo, env, "status", "--porcelain").strip(), "git status not clean");

    git(repo, env, "gc", "-q", "--prune=now");
    git(repo, env, "fsck", "--full", "--strict", "--no-progress");
    assertEquals("", git(repo, env, "status", "--porcelain").strip(), "git status not clean after gc");

    Path clone = vault.path("workspaces/clone");
    git(vault.path("workspaces"), env, "clone", "-q", repo.toString(), clone.toString());
    git(clone, env, "fsck", "--full", "--strict", "--no-progress");
    assertEquals("", git(clone, env, "status", "--porcelain").strip(), "clone not clean");
    Result diff = MountedVault.run(
        List.of("diff", "-r", "--no-dereference", "-x", ".git", repo.toString(), clone.toString()),
        null, 300);
    assertEquals(0, diff.exitCode(), "clone's work tree differs: " + diff);
    assertEquals(git(repo, env, "rev-parse", "HEAD"), git(clone, env, "rev-parse", "HEAD"));

    vault.unmount();
    vault.mount();
    git(repo, env, "fsck", "--full", "--strict", "--no-progress");
    git(clone, env, "fsck", "--full", "--strict", "--no-progress");
    assertEquals("", git(repo, env, "status", "--porcelain").strip(), "status after remount");
    assertEquals("", git(clone, env, "status", "--porcelain").strip(), "clone after remount");
  }

  /** Copies the first {@code max} regular files (sorted) of a tree, with their symlinks. */
  private static void copyFirst(Path from, Path to, int max) throws IOException {
    List<Path> all;
    try (Stream<Path> s = Files.walk(from)) {
      all = s.filter(p -> !p.startsWith(from.resolve("extra"))).sorted().toList();
    }
    int n = 0;
    for (Path p : all) {
      Path dst = to.resolve(from.relativize(p).toString());
      if (Files.isSymbolicLink(p)) {
        Files.createDirectories(dst.getParent());
        Files.copy(p, dst, LinkOption.NOFOLLOW_LINKS);
      } else if (Files.isRegularFile(p) && n++ < max) {
        Files.createDirectories(dst.getParent());
        Files.copy(p, dst, StandardCopyOption.COPY_ATTRIBUTES);
      }
    }
  }

  private Map<String, String> gitEnv() throws IOException {
    Path home = base.resolve("home");
    Files.createDirectories(home);
    return Map.of(
        "HOME", home.toString(),
        "GIT_CONFIG_NOSYSTEM", "1",
        "GIT_AUTHOR_NAME", "ClawFS Test",
        "GIT_AUTHOR_EMAIL", "test@clawfs.invalid",
        "GIT_COMMITTER_NAME", "ClawFS Test",
        "GIT_COMMITTER_EMAIL", "test@clawfs.invalid");
  }

  private static String git(Path dir, Map<String, String> env, String... args) {
    List<String> cmd = new ArrayList<>(List.of("git"));
    cmd.addAll(List.of(args));
    Result r = MountedVault.run(cmd, dir, 600, env, null);
    assertEquals(0, r.exitCode(), "git " + String.join(" ", args) + " failed in " + dir + ": " + r);
    return r.stdout();
  }

  @Test
  void sqliteDatabasesInWalAndDeleteModeStayConsistentAcrossRemount() throws IOException {
    Assumptions.assumeTrue(onPath("sqlite3"), "SKIPPED: sqlite3 is not installed");
    Path dir = vault.path("workspaces/db");
    Files.createDirectories(dir);
    Map<String, String> digests = new TreeMap<>();
    for (String mode : List.of("WAL", "DELETE")) {
      Path db = dir.resolve(mode.toLowerCase() + ".db");
      String setup = "PRAGMA journal_mode=" + mode + ";\n"
          + "PRAGMA synchronous=FULL;\n"
          + "CREATE TABLE t(id INTEGER PRIMARY KEY, k TEXT UNIQUE, v BLOB, n INTEGER);\n"
          + "CREATE INDEX tn ON t(n);\n";
      assertEquals(mode.toLowerCase(), sqlite(db, setup).strip().toLowerCase(), "journal mode");
      StringBuilder batches = new StringBuilder();
      // ten transactions of 1000 rows with deterministic, varied-size blobs
      for (int tx = 0; tx < 10; tx++) {
        batches.append("BEGIN;\nWITH RECURSIVE c(x) AS (SELECT ").append(tx * 1000 + 1)
            .append(" UNION ALL SELECT x+1 FROM c WHERE x<").append(tx * 1000 + 1000)
            .append(") INSERT INTO t(k,v,n) SELECT 'key-'||x,"
                + " substr(replace(hex(zeroblob(700)),'00',printf('%02x',x%251)),1,50+(x*37)%1300),"
                + " x*x%9973 FROM c;\nCOMMIT;\n");
      }
      batches.append("BEGIN; UPDATE t SET v=v||'-updated', n=n+1 WHERE id%3=0;"
          + " DELETE FROM t WHERE id%7=0; COMMIT;\n");
      // many small transactions: each one an fsync of the journal and the database
      for (int i = 0; i < 300; i++) {
        batches.append("INSERT INTO t(k,v,n) VALUES('single-").append(i).append("', 'row ")
            .append(i).append("', ").append(i).append(");\n");
      }
      if (mode.equals("WAL")) {
        batches.append("PRAGMA wal_checkpoint(TRUNCATE);\n");
        batches.append("BEGIN; DELETE FROM t WHERE id%11=0; COMMIT;\n");
      }
      batches.append("VACUUM;\nINSERT INTO t(k,v,n) VALUES('after-vacuum','x',1);\n");
      sqlite(db, batches.toString());
      assertEquals("ok", sqlite(db, "PRAGMA integrity_check;").strip(), mode + " integrity");
      String count = sqlite(db, "SELECT count(*), sum(n), sum(length(v)) FROM t;").strip();
      assertEquals(expectedCount(mode), count.split("\\|")[0], mode + " row count: " + count);
      digests.put(mode, sqlite(db, ".sha3sum\nSELECT count(*), sum(n), sum(length(v)) FROM t;"));
    }
    vault.unmount();
    vault.mount();
    for (String mode : digests.keySet()) {
      Path db = dir.resolve(mode.toLowerCase() + ".db");
      assertEquals("ok", sqlite(db, "PRAGMA integrity_check;").strip(), mode + " after remount");
      assertEquals(digests.get(mode),
          sqlite(db, ".sha3sum\nSELECT count(*), sum(n), sum(length(v)) FROM t;"),
          mode + " content changed across remount");
      sqlite(db, "BEGIN; INSERT INTO t(k,v,n) VALUES('after-remount','y',2); COMMIT;");
      assertEquals("ok", sqlite(db, "PRAGMA integrity_check;").strip(), mode + " after new write");
    }
  }

  private static String expectedCount(String mode) {
    int n = 0;
    for (int id = 1; id <= 10_300; id++) {
      boolean alive = id % 7 != 0 || id > 10_000;
      if (mode.equals("WAL") && id % 11 == 0) {
        alive = false;
      }
      if (alive) {
        n++;
      }
    }
    return Integer.toString(n + 1);
  }

  private static String sqlite(Path db, String script) {
    Result r = MountedVault.run(List.of("sqlite3", "-bail", db.toString()), null, 600, Map.of(),
        script.getBytes(StandardCharsets.UTF_8));
    assertEquals(0, r.exitCode(), "sqlite3 failed on " + db + ": " + r);
    assertEquals("", r.stderr().strip(), "sqlite3 printed errors on " + db);
    return r.stdout();
  }

  // ---------------------------------------------------------------------------------------

  private static void sh(String script) {
    Result r = MountedVault.run(List.of("sh", "-c", script), null, 600);
    assertEquals(0, r.exitCode(), "command failed: " + script + "\n" + r);
  }

  private static String q(Path p) {
    return "'" + p.toString().replace("'", "'\\''") + "'";
  }

  static boolean onPath(String tool) {
    return MountedVault.run(List.of("sh", "-c", "command -v " + tool), null, 30).exitCode() == 0;
  }

  /**
   * What a tree holds, per relative path: type, mode, owner, size, content hash or link target,
   * mtime at the chosen precision, hard-link group and count, and optionally user xattrs.
   */
  static final class Manifest {
    enum Times { NONE, SECONDS, NANOS }

    record Options(Times times, boolean symlinkTimes, boolean xattrs) {}

    final Map<String, String> entries;

    private Manifest(Map<String, String> entries) {
      this.entries = entries;
    }

    static Manifest of(Path root, Options o) throws IOException {
      Map<String, String> entries = new TreeMap<>();
      Map<String, List<String>> byInode = new TreeMap<>();
      Map<String, String> inodeOf = new TreeMap<>();
      Files.walkFileTree(root, new SimpleFileVisitor<>() {
        @Override
        public FileVisitResult preVisitDirectory(Path dir, BasicFileAttributes attrs)
            throws IOException {
          if (!dir.equals(root)) {
            add(dir);
          }
          return FileVisitResult.CONTINUE;
        }

        @Override
        public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
          add(file);
          return FileVisitResult.CONTINUE;
        }

        private void add(Path p) throws IOException {
          String rel = root.relativize(p).toString();
          Map<String, Object> a = Files.readAttributes(p, "unix:*", LinkOption.NOFOLLOW_LINKS);
          int mode = (Integer) a.get("mode");
          StringBuilder sb = new StringBuilder();
          FileTime mtime = (FileTime) a.get("lastModifiedTime");
          boolean link = Files.isSymbolicLink(p);
          if (link) {
            sb.append("link -> ").append(Files.readSymbolicLink(p));
          } else if (Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)) {
            sb.append("dir");
          } else {
            sb.append("file size=").append(a.get("size")).append(" sha256=").append(sha256(p));
            int nlink = (Integer) a.get("nlink");
            if (nlink > 1) {
              String key = a.get("dev") + ":" + a.get("ino");
              byInode.computeIfAbsent(key, k -> new ArrayList<>()).add(rel);
              inodeOf.put(rel, key);
              sb.append(" nlink=").append(nlink);
            }
          }
          if (!link) {
            sb.append(" mode=").append(Integer.toOctalString(mode & 07777));
          }
          sb.append(" uid=").append(a.get("uid")).append(" gid=").append(a.get("gid"));
          if (!link || o.symlinkTimes()) {
            switch (o.times()) {
              case SECONDS -> sb.append(" mtime=").append(mtime.to(java.util.concurrent.TimeUnit.SECONDS));
              case NANOS -> sb.append(" mtime=").append(mtime.toInstant());
              case NONE -> { }
            }
          }
          if (o.xattrs() && !link) {
            sb.append(" xattrs=").append(xattrs(p));
          }
          entries.put(rel, sb.toString());
        }
      });
      for (Map.Entry<String, String> e : inodeOf.entrySet()) {
        List<String> group = new ArrayList<>(byInode.get(e.getValue()));
        group.sort(null); // readdir order differs between file systems
        entries.put(e.getKey(), entries.get(e.getKey()) + " links=" + String.join(",", group));
      }
      return new Manifest(entries);
    }

    private static String xattrs(Path p) throws IOException {
      UserDefinedFileAttributeView v =
          Files.getFileAttributeView(p, UserDefinedFileAttributeView.class, LinkOption.NOFOLLOW_LINKS);
      Map<String, String> m = new TreeMap<>();
      try {
        for (String name : v.list()) {
          ByteBuffer b = ByteBuffer.allocate(v.size(name));
          v.read(name, b);
          m.put(name, new String(b.array(), 0, b.position(), StandardCharsets.UTF_8));
        }
      } catch (IOException e) {
        return "unreadable(" + e.getMessage() + ")";
      }
      return m.toString();
    }

    static void assertSame(Manifest expected, Manifest actual, String what) {
      if (expected.entries.equals(actual.entries)) {
        return;
      }
      StringBuilder sb = new StringBuilder(what + ": trees differ (expected "
          + expected.entries.size() + " entries, got " + actual.entries.size() + ")\n");
      int shown = 0;
      for (Map.Entry<String, String> e : expected.entries.entrySet()) {
        String got = actual.entries.get(e.getKey());
        if (!e.getValue().equals(got) && shown++ < 25) {
          sb.append("  ").append(e.getKey()).append("\n    expected ").append(e.getValue())
              .append("\n    actual   ").append(got).append('\n');
        }
      }
      for (String k : actual.entries.keySet()) {
        if (!expected.entries.containsKey(k) && shown++ < 25) {
          sb.append("  unexpected ").append(k).append(": ").append(actual.entries.get(k)).append('\n');
        }
      }
      fail(sb.toString());
    }
  }

  static String sha256(Path p) throws IOException {
    try (InputStream in = Files.newInputStream(p)) {
      MessageDigest md = MessageDigest.getInstance("SHA-256");
      byte[] buf = new byte[1 << 16];
      for (int n; (n = in.read(buf)) > 0; ) {
        md.update(buf, 0, n);
      }
      return HexFormat.of().formatHex(md.digest());
    } catch (NoSuchAlgorithmException e) {
      throw new AssertionError(e);
    }
  }
}
