package dev.clawfs.mount;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.BufferedReader;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.net.URISyntaxException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * SIGKILL of the server while a separate process writes: every record whose fsync returned is
 * there after the remount, whatever follows it is whole or absent, files of earlier rounds are
 * untouched, and unsynced work leaves no file that fails to read.
 *
 * <p>Rounds: {@code -Dclawfs.crash.rounds=N} (default 5); the random schedule comes from
 * {@code -Dclawfs.crash.seed=S}, printed in every failure so a failing run can be repeated.
 */
class CrashIT {
  private static final int ROUNDS = Integer.getInteger("clawfs.crash.rounds", 5);
  private static final long SEED = Long.getLong("clawfs.crash.seed", System.nanoTime());

  @TempDir Path base;

  /** A file the writer appends to, with its fixed record size. */
  record Log(Path file, int recordSize) {
    String arg() {
      return file + ":" + recordSize;
    }
  }

  @Test
  void acknowledgedRecordsSurviveRepeatedSigkill() throws Exception {
    String seed = " [seed " + SEED + ", -Dclawfs.crash.seed=" + SEED + "]";
    System.out.println("CrashIT.acknowledgedRecordsSurviveRepeatedSigkill" + seed + ", rounds " + ROUNDS);
    Random rnd = new Random(SEED);
    try (MountedVault v = MountedVault.create(base)) {
      Path root = v.path("workspaces/crash");
      Files.createDirectories(root);
      fsyncDirectory(root);
      fsyncDirectory(root.getParent());
      Log shared = new Log(root.resolve("shared.log"), 512);
      Map<Path, String> finished = new LinkedHashMap<>(); // files of earlier rounds -> sha256
      long sharedVerified = 0;
      String sharedPrefix = sha256(new byte[0]);
      for (int round = 0; round < ROUNDS; round++) {
        String where = "round " + round + seed;
        Path dir = root.resolve("round-" + round);
        Files.createDirectories(dir);
        fsyncDirectory(dir);
        fsyncDirectory(root);
        // sizes chosen to straddle chunk boundaries: small, just under a page, > 64 KiB
        List<Log> logs = List.of(
            new Log(dir.resolve("small.log"), 1000),
            new Log(dir.resolve("page.log"), 4093),
            new Log(dir.resolve("large.log"), 70_001),
            shared);
        int minAcks = 3 + rnd.nextInt(60);
        long extraDelayMs = rnd.nextInt(1500);
        Writer.Run run = Writer.start(base, round, "append", logs.stream().map(Log::arg).toList());
        run.awaitLines(minAcks, 120, where);
        Thread.sleep(extraDelayMs);
        v.kill9();
        List<String> acks = run.finish();
        System.out.println("  " + where + ": killed after " + acks.size() + " acknowledged records");
        v.mount();

        Map<Path, Long> highestAck = new TreeMap<>();
        for (String a : acks) {
          int sp = a.lastIndexOf(' ');
          highestAck.merge(Path.of(a.substring(0, sp)), Long.parseLong(a.substring(sp + 1)), Math::max);
        }
        for (Log log : logs) {
          long need = highestAck.getOrDefault(log.file(), -1L) + 1;
          long have = Records.verify(log.file(), log.recordSize(), where);
          assertTrue(have >= need, where + ": " + log.file() + " holds " + have
              + " whole records but " + need + " were acknowledged (fsync returned)");
        }
        // earlier rounds' files: byte for byte what the check after their round saw
        for (Map.Entry<Path, String> e : finished.entrySet()) {
          assertEquals(e.getValue(), sha256(readAll(e.getKey(), where)),
              where + ": " + e.getKey() + " from an earlier round changed");
        }
        byte[] sharedNow = readAll(shared.file(), where);
        assertTrue(sharedNow.length >= sharedVerified, where + ": shared.log shrank");
        assertEquals(sharedPrefix, sha256(Arrays.copyOf(sharedNow, (int) sharedVerified)),
            where + ": shared.log's records of earlier rounds changed");
        sharedVerified = sharedNow.length;
        sharedPrefix = sha256(sharedNow);
        for (Log log : logs) {
          if (log != shared && Files.exists(log.file())) {
            finished.put(log.file(), sha256(readAll(log.file(), where)));
          }
        }
      }
      // a clean unmount and mount keeps exactly what the crashes left
      v.unmount();
      v.mount();
      for (Map.Entry<Path, String> e : finished.entrySet()) {
        assertEquals(e.getValue(), sha256(readAll(e.getKey(), "final" + seed)),
            e.getKey() + " changed across a clean remount" + seed);
      }
      assertEquals(sharedPrefix, sha256(readAll(shared.file(), "final" + seed)), "shared.log" + seed);
    }
  }

  @Test
  void unsyncedWorkKilledMidwayLeavesEveryFileReadable() throws Exception {
    String seed = " [seed " + SEED + ", -Dclawfs.crash.seed=" + SEED + "]";
    Random rnd = new Random(SEED ^ 0x5DEECE66DL);
    try (MountedVault v = MountedVault.create(base)) {
      // fsynced files that the crashes must not touch
      Path keep = v.path("workspaces/keep");
      Files.createDirectories(keep);
      fsyncDirectory(keep);
      fsyncDirectory(keep.getParent());
      Map<Path, String> kept = new TreeMap<>();
      for (int size : new int[] {0, 1, 4095, 65_536, 65_537, 1_000_000, 3 << 20}) {
        byte[] b = new byte[size];
        rnd.nextBytes(b);
        Path p = keep.resolve("kept-" + size);
        try (FileChannel ch = FileChannel.open(p, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
          ch.write(ByteBuffer.wrap(b));
          ch.force(true);
        }
        kept.put(p, sha256(b));
      }
      Path churn = v.path("workspaces/churn");
      Files.createDirectories(churn);
      // the probe below is written into churn/ after each crash: the directory itself must be
      // durable, or a kill within the first commit interval legitimately takes it away
      fsyncDirectory(churn);
      fsyncDirectory(churn.getParent());
      int rounds = Math.max(2, Math.min(ROUNDS, 3));
      for (int round = 0; round < rounds; round++) {
        String where = "unsynced round " + round + seed;
        Writer.Run run = Writer.start(base, round, "churn",
            List.of(churn.toString(), Long.toString(SEED + round)));
        run.awaitLines(10 + rnd.nextInt(100), 120, where);
        Thread.sleep(rnd.nextInt(1500));
        v.kill9();
        List<String> ops = run.finish();
        System.out.println("  " + where + ": killed after " + ops.size() + " unsynced operations");
        v.mount();
        List<String> failures = readEverything(v.path("workspaces"));
        assertEquals(List.of(), failures, where + ": files that fail to read after the crash");
        for (Map.Entry<Path, String> e : kept.entrySet()) {
          assertEquals(e.getValue(), sha256(readAll(e.getKey(), where)), where + ": " + e.getKey());
        }
        // still a working file system: write, fsync, read back, rename over, delete
        Path probe = churn.resolve("probe-" + round);
        byte[] b = new byte[200_000];
        rnd.nextBytes(b);
        try (FileChannel ch = FileChannel.open(probe, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
          ch.write(ByteBuffer.wrap(b));
          ch.force(true);
        }
        assertEquals(sha256(b), sha256(readAll(probe, where)), where + ": probe file");
        Files.move(probe, churn.resolve("probe-moved"), StandardCopyOption.REPLACE_EXISTING);
      }
      v.unmount();
      v.mount();
      assertEquals(List.of(), readEverything(v.path("workspaces")), "after clean remount" + seed);
      for (Map.Entry<Path, String> e : kept.entrySet()) {
        assertEquals(e.getValue(), sha256(readAll(e.getKey(), "final")), e.getKey() + seed);
      }
    }
  }

  /** fsync(2) on a directory, so that a directory made by the test survives the kill. */
  static void fsyncDirectory(Path dir) throws IOException {
    try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
      ch.force(true);
    }
  }

  /** Reads every file and link under a tree; returns what failed (empty when all read). */
  static List<String> readEverything(Path root) throws IOException {
    List<String> failures = new ArrayList<>();
    Files.walkFileTree(root, new SimpleFileVisitor<>() {
      @Override
      public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) {
        try {
          if (attrs.isSymbolicLink()) {
            Files.readSymbolicLink(file);
          } else if (attrs.isRegularFile()) {
            long n = 0;
            try (InputStream in = Files.newInputStream(file)) {
              byte[] buf = new byte[1 << 16];
              for (int r; (r = in.read(buf)) > 0; ) {
                n += r;
              }
            }
            if (n != attrs.size()) {
              failures.add(file + ": read " + n + " bytes, stat says " + attrs.size());
            }
          }
        } catch (IOException e) {
          failures.add(file + ": " + e);
        }
        return FileVisitResult.CONTINUE;
      }

      @Override
      public FileVisitResult visitFileFailed(Path file, IOException e) {
        failures.add(file + ": " + e);
        return FileVisitResult.CONTINUE;
      }
    });
    return failures;
  }

  static byte[] readAll(Path p, String where) {
    try {
      return Files.readAllBytes(p);
    } catch (IOException e) {
      throw new AssertionError(where + ": cannot read " + p + ": " + e, e);
    }
  }

  static String sha256(byte[] b) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b));
    } catch (NoSuchAlgorithmException e) {
      throw new AssertionError(e);
    }
  }

  /**
   * Fixed-size self-describing records: magic, sequence number, writer round, a hash of the
   * file name, the record size, a payload determined by name and sequence, and a SHA-256 prefix
   * over all of it, so a torn, zeroed, shifted or foreign record is recognised.
   */
  static final class Records {
    private static final byte[] MAGIC = "CLAW".getBytes(StandardCharsets.US_ASCII);
    private static final int HEADER = 4 + 8 + 4 + 4 + 4;

    static byte[] make(Path file, long seq, int round, int size) {
      ByteBuffer b = ByteBuffer.allocate(size);
      int nameHash = file.getFileName().toString().hashCode();
      b.put(MAGIC).putLong(seq).putInt(round).putInt(nameHash).putInt(size);
      byte[] payload = new byte[size - HEADER - 8];
      new Random(nameHash * 1_000_003L + seq).nextBytes(payload);
      b.put(payload);
      try {
        MessageDigest md = MessageDigest.getInstance("SHA-256");
        md.update(b.array(), 0, size - 8);
        b.put(md.digest(), 0, 8);
      } catch (NoSuchAlgorithmException e) {
        throw new AssertionError(e);
      }
      return b.array();
    }

    /** Checks the whole file; returns the number of records (all of them whole and in order). */
    static long verify(Path file, int size, String where) {
      if (!Files.exists(file)) {
        return 0;
      }
      try {
        assertTrue(Files.size(file) < (1L << 30), where + ": " + file + " is over 1 GiB");
      } catch (IOException e) {
        throw new AssertionError(where + ": cannot stat " + file + ": " + e, e);
      }
      byte[] all = readAll(file, where);
      long count = all.length / size;
      for (int i = 0; i < count; i++) {
        byte[] rec = Arrays.copyOfRange(all, i * size, (i + 1) * size);
        int round = ByteBuffer.wrap(rec).getInt(12);
        if (!Arrays.equals(rec, make(file, i, round, size))) {
          fail(where + ": " + file + " record " + i + " at offset " + (long) i * size + " is "
              + describe(rec, file, i, size) + " (file length " + all.length + ", "
              + count + " record slots)");
        }
      }
      int tail = all.length % size;
      if (tail != 0) {
        byte[] rest = Arrays.copyOfRange(all, (int) count * size, all.length);
        byte[] expected = Arrays.copyOf(make(file, count, ByteBuffer.wrap(pad(rest)).getInt(12), size), tail);
        fail(where + ": " + file + " ends in a torn record: " + tail + " of " + size
            + " bytes after " + count + " whole records ("
            + (Arrays.equals(rest, expected) ? "a correct prefix of the next record, cut short"
                : allZero(rest) ? "zeros" : "garbage") + ")");
      }
      return count;
    }

    private static byte[] pad(byte[] b) {
      return Arrays.copyOf(b, Math.max(b.length, HEADER));
    }

    private static String describe(byte[] rec, Path file, long seq, int size) {
      if (allZero(rec)) {
        return "all zeros";
      }
      ByteBuffer b = ByteBuffer.wrap(rec);
      byte[] magic = new byte[4];
      b.get(magic);
      if (!Arrays.equals(magic, MAGIC)) {
        return "garbage (no record magic)";
      }
      long s = b.getLong();
      return s != seq ? "record number " + s + " in the wrong place" : "corrupt (checksum or payload mismatch)";
    }

    private static boolean allZero(byte[] b) {
      for (byte x : b) {
        if (x != 0) {
          return false;
        }
      }
      return true;
    }
  }

  /**
   * The writer process, a separate JVM so that its file descriptors and acknowledgements are
   * those of an ordinary program. {@code append}: appends records to each file in turn, fsyncs,
   * then prints "file seq". {@code churn}: creates, overwrites, truncates, renames, links and
   * deletes files without any fsync, printing each operation.
   */
  static final class Writer {
    private Writer() {}

    public static void main(String[] args) throws Exception {
      PrintStream out = new PrintStream(new FileOutputStream(FileDescriptor.out), false, StandardCharsets.UTF_8);
      int round = Integer.parseInt(args[0]);
      try {
        if (args[1].equals("append")) {
          append(round, Arrays.copyOfRange(args, 2, args.length), out);
        } else {
          churn(Path.of(args[2]), Long.parseLong(args[3]), out);
        }
      } catch (IOException e) {
        // expected once the server is killed
        System.err.println("writer stopped: " + e);
        System.exit(3);
      }
    }

    private static void append(int round, String[] specs, PrintStream out) throws IOException {
      int k = specs.length;
      Path[] files = new Path[k];
      int[] sizes = new int[k];
      FileChannel[] ch = new FileChannel[k];
      long[] seq = new long[k];
      for (int i = 0; i < k; i++) {
        int c = specs[i].lastIndexOf(':');
        files[i] = Path.of(specs[i].substring(0, c));
        sizes[i] = Integer.parseInt(specs[i].substring(c + 1));
        ch[i] = FileChannel.open(files[i], StandardOpenOption.CREATE, StandardOpenOption.WRITE,
            StandardOpenOption.APPEND);
        long len = ch[i].size();
        if (len % sizes[i] != 0) {
          throw new IllegalStateException(files[i] + " has a torn tail before the round started");
        }
        seq[i] = len / sizes[i];
      }
      for (long n = 0; n < 1_000_000; n++) {
        int i = (int) (n % k);
        ByteBuffer rec = ByteBuffer.wrap(Records.make(files[i], seq[i], round, sizes[i]));
        while (rec.hasRemaining()) {
          ch[i].write(rec);
        }
        ch[i].force(true);
        out.println(files[i] + " " + seq[i]);
        out.flush();
        seq[i]++;
      }
    }

    private static void churn(Path dir, long seed, PrintStream out) throws IOException {
      Random rnd = new Random(seed);
      List<Path> files = new ArrayList<>();
      try (var s = Files.walk(dir)) {
        s.filter(Files::isRegularFile).forEach(files::add);
      }
      for (long n = 0; n < 1_000_000; n++) {
        int op = rnd.nextInt(10);
        Path target = files.isEmpty() ? null : files.get(rnd.nextInt(files.size()));
        String what;
        if (target == null || op <= 2) {
          Path d = rnd.nextBoolean() ? dir : dir.resolve("sub" + rnd.nextInt(4));
          Files.createDirectories(d);
          Path p = d.resolve("f-" + seed + "-" + n);
          int size = rnd.nextInt(4) == 0 ? rnd.nextInt(3 << 20) : rnd.nextInt(100_000);
          try (FileChannel ch = FileChannel.open(p, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
            writeRandom(ch, 0, size, rnd);
          }
          files.add(p);
          what = "create " + p + " " + size;
        } else if (op <= 4) {
          try (FileChannel ch = FileChannel.open(target, StandardOpenOption.WRITE)) {
            long at = ch.size() == 0 ? 0 : (long) (rnd.nextDouble() * ch.size());
            writeRandom(ch, at, rnd.nextInt(300_000), rnd);
          }
          what = "overwrite " + target;
        } else if (op == 5) {
          try (FileChannel ch = FileChannel.open(target, StandardOpenOption.WRITE, StandardOpenOption.APPEND)) {
            writeRandom(ch, ch.size(), rnd.nextInt(200_000), rnd);
          }
          what = "append " + target;
        } else if (op == 6) {
          try (FileChannel ch = FileChannel.open(target, StandardOpenOption.WRITE)) {
            long size = ch.size();
            long to = rnd.nextBoolean() ? (long) (rnd.nextDouble() * size) : size + rnd.nextInt(200_000);
            if (to < size) {
              ch.truncate(to);
            } else {
              ch.write(ByteBuffer.wrap(new byte[] {7}), to);
            }
          }
          what = "truncate " + target;
        } else if (op == 7) {
          Path to = files.get(rnd.nextInt(files.size()));
          if (!to.equals(target)) {
            Files.move(target, to, StandardCopyOption.REPLACE_EXISTING);
            files.remove(target);
          }
          what = "rename " + target + " over " + to;
        } else if (op == 8) {
          Path link = target.resolveSibling("link-" + seed + "-" + n);
          Files.createLink(link, target);
          files.add(link);
          what = "link " + link;
        } else {
          Files.delete(target);
          files.remove(target);
          what = "delete " + target;
        }
        out.println(what);
        out.flush();
      }
    }

    private static void writeRandom(FileChannel ch, long at, int size, Random rnd) throws IOException {
      byte[] b = new byte[Math.min(size, 1 << 20)];
      for (long done = 0; done < size; ) {
        int piece = (int) Math.min(size - done, 1 + rnd.nextInt(b.length == 0 ? 1 : b.length));
        rnd.nextBytes(b);
        ch.write(ByteBuffer.wrap(b, 0, piece), at + done);
        done += piece;
      }
    }

    /** Starts the writer JVM; stdout lines are collected as they come. */
    static Run start(Path base, int round, String mode, List<String> args) throws IOException {
      List<String> cmd = new ArrayList<>(List.of(
          Path.of(System.getProperty("java.home"), "bin", "java").toString(),
          "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xmx256m",
          "-cp", writerClasses(base).toString(),
          Writer.class.getName(), Integer.toString(round), mode));
      cmd.addAll(args);
      Path err = Files.createTempFile(base, "writer", ".err");
      Process p = new ProcessBuilder(cmd)
          .redirectError(err.toFile())
          .redirectInput(DevNull.input())
          .start();
      return new Run(p, err);
    }

    /**
     * The writer's classes, copied out of target/test-classes once per test, so that a build
     * running beside the test cannot take them away between rounds.
     */
    private static Path writerClasses(Path base) throws IOException {
      Path dir = base.resolve("writer-classes");
      Path pkg = dir.resolve(CrashIT.class.getPackageName().replace('.', '/'));
      if (!Files.isDirectory(pkg)) {
        Files.createDirectories(pkg);
        Path from = classesDir().resolve(CrashIT.class.getPackageName().replace('.', '/'));
        try (var s = Files.list(from)) {
          for (Path c : s.filter(p -> p.getFileName().toString().startsWith("CrashIT")).toList()) {
            Files.copy(c, pkg.resolve(c.getFileName().toString()));
          }
        }
      }
      return dir;
    }

    private static Path classesDir() {
      try {
        return Path.of(Writer.class.getProtectionDomain().getCodeSource().getLocation().toURI());
      } catch (URISyntaxException e) {
        throw new AssertionError(e);
      }
    }

    /** A running writer and the lines it has printed so far. */
    static final class Run {
      private final Process process;
      private final Path err;
      private final List<String> lines = new ArrayList<>();
      private final Thread reader;

      Run(Process process, Path err) {
        this.process = process;
        this.err = err;
        this.reader = new Thread(this::readLines, "writer-stdout");
        reader.setDaemon(true);
        reader.start();
      }

      private void readLines() {
        try (BufferedReader r = new BufferedReader(
            new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
          for (String line; (line = r.readLine()) != null; ) {
            synchronized (lines) {
              lines.add(line);
              lines.notifyAll();
            }
          }
        } catch (IOException e) {
          // the stream ends with the process
        }
      }

      /** Waits until the writer has printed n lines; fails if it stops before that. */
      void awaitLines(int n, int timeoutSeconds, String where) throws InterruptedException, IOException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(timeoutSeconds);
        synchronized (lines) {
          while (lines.size() < n) {
            if (!process.isAlive() && !reader.isAlive()) {
              fail(where + ": the writer stopped after " + lines.size() + " lines before the kill: "
                  + Files.readString(err));
            }
            long left = deadline - System.nanoTime();
            if (left <= 0) {
              process.destroyForcibly();
              fail(where + ": the writer printed only " + lines.size() + " lines in "
                  + timeoutSeconds + "s: " + Files.readString(err));
            }
            lines.wait(Math.min(200, TimeUnit.NANOSECONDS.toMillis(left) + 1));
          }
        }
      }

      /** After the server is gone: lets the writer fail out (or kills it) and returns all lines. */
      List<String> finish() throws InterruptedException {
        // its next write or fsync on the dead mount fails at once; a writer still going after
        // that grace period is stopped, so that the check sees a file that no longer changes
        if (!process.waitFor(10, TimeUnit.SECONDS)) {
          process.destroyForcibly();
          process.waitFor(30, TimeUnit.SECONDS);
        }
        reader.join(30_000);
        synchronized (lines) {
          return List.copyOf(lines);
        }
      }
    }
  }
}
