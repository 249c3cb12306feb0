package dev.clawfs.mount;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.clawfs.mount.MountedVault.Result;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The vault on a small tmpfs, filled through the mount: the writer gets ENOSPC (not EIO, not
 * silent loss), every file written before stays intact, space freed by a delete can be written
 * again, and all of it survives an unmount and mount. Needs root (to mount the tmpfs).
 */
class FullDiskIT {
  private static final String ENOSPC = "No space left on device";
  private static final String DISK_SIZE = "48m";

  @TempDir Path base;
  private Path disk;
  private boolean diskMounted;
  private MountedVault vault;
  private long serverPid = -1;

  @BeforeEach
  void smallDisk() throws IOException {
    MountedVault.assumeMountable();
    Result id = MountedVault.run(List.of("id", "-u"), null, 30);
    Assumptions.assumeTrue(id.stdout().strip().equals("0"),
        "SKIPPED: needs root to mount a small tmpfs for the vault (uid " + id.stdout().strip() + ")");
    disk = base.resolve("small-disk");
    Files.createDirectories(disk);
    Result r = MountedVault.run(
        List.of("mount", "-t", "tmpfs", "-o", "size=" + DISK_SIZE + ",mode=0700", "clawfs-fulldisk",
            disk.toString()), null, 30);
    Assumptions.assumeTrue(r.exitCode() == 0, "SKIPPED: cannot mount a tmpfs here: " + r);
    diskMounted = true;
  }

  @AfterEach
  void cleanUp() throws InterruptedException {
    if (vault != null) {
      vault.close();
    }
    // the server keeps files open on the tmpfs until it has exited
    if (serverPid > 0) {
      for (int i = 0; i < 400 && Files.exists(Path.of("/proc/" + serverPid)); i++) {
        Thread.sleep(25);
      }
      if (Files.exists(Path.of("/proc/" + serverPid))) {
        MountedVault.run(List.of("kill", "-9", Long.toString(serverPid)), null, 30);
        Thread.sleep(500);
      }
    }
    if (diskMounted) {
      Result r = MountedVault.run(List.of("umount", disk.toString()), null, 60);
      if (r.exitCode() != 0) {
        MountedVault.run(List.of("umount", "-l", disk.toString()), null, 60);
      }
    }
  }

  @Test
  void fillingTheDiskGivesEnospcAndKeepsEverythingWrittenBefore() throws Exception {
    // with the search index on: the index must not take the reserve the metadata commit that
    // frees the deleted files' space needs (it once did, and the last write failed)
    vault = MountedVault.existing(base, disk.resolve("vault"), base.resolve("mnt"));
    List<String> init = new ArrayList<>(List.of("init", vault.vault().toString(),
        "--passphrase-file", vault.passphraseFile().toString()));
    init.addAll(List.of(MountedVault.TEST_KDF));
    Result r = MountedVault.clawfs(init.toArray(String[]::new));
    assertEquals(0, r.exitCode(), "clawfs init failed: " + r);
    vault.mount();
    serverPid = vault.serverPid();

    Path ws = vault.path("workspaces/full");
    Files.createDirectories(ws.resolve("many"));
    Random rnd = new Random(1);
    Map<Path, byte[]> known = new TreeMap<>();
    for (int size : new int[] {0, 1, 100, 4096, 65_537, 100_000, 2 << 20, (5 << 20) + 3}) {
      byte[] b = new byte[size];
      rnd.nextBytes(b);
      known.put(ws.resolve("known-" + size), b);
    }
    for (int i = 0; i < 50; i++) {
      known.put(ws.resolve("many/note-" + i + ".txt"),
          ("note " + i + "\n").repeat(i * 10).getBytes(StandardCharsets.UTF_8));
    }
    byte[] log = "line of a log that is appended to on a full disk\n".repeat(200)
        .getBytes(StandardCharsets.US_ASCII);
    Path appendLog = ws.resolve("append.log");
    known.put(appendLog, log);
    for (Map.Entry<Path, byte[]> e : known.entrySet()) {
      writeSynced(e.getKey(), e.getValue());
    }
    Files.createSymbolicLink(ws.resolve("link"), Path.of("known-100"));

    // 1. one big file, 1 MiB writes, until the disk is full
    Path filler = ws.resolve("filler.bin");
    long acknowledged = 0;
    IOException stop = null;
    boolean stoppedInWrite = false;
    try (FileChannel ch = FileChannel.open(filler, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
      try {
        while (true) {
          ByteBuffer buf = ByteBuffer.wrap(pattern(acknowledged, 1 << 20));
          acknowledged += ch.write(buf);
          if (acknowledged > (1L << 30)) {
            fail("wrote 1 GiB through the mount onto a " + DISK_SIZE + " tmpfs without an error");
          }
        }
      } catch (IOException e) {
        stop = e;
        stoppedInWrite = true;
      }
      try {
        ch.force(true);
      } catch (IOException e) {
        stop = stop == null ? e : stop;
      }
    } catch (IOException e) {
      stop = stop == null ? e : stop;
    }
    assertTrue(stop != null && String.valueOf(stop.getMessage()).contains(ENOSPC),
        "filling the disk must fail with ENOSPC, got: " + stop);
    System.out.println("FullDiskIT: disk full after " + acknowledged + " bytes of filler");
    byte[] fill = readFully(filler, "filler after ENOSPC");
    assertTrue(fill.length <= acknowledged, "filler is longer (" + fill.length
        + ") than the bytes write() accepted (" + acknowledged + ")");
    if (stoppedInWrite) {
      assertEquals(acknowledged, fill.length,
          "bytes that write() reported as written are missing from the filler");
    }
    assertArrayEquals(pattern(0, fill.length), fill,
        "the filler does not read back as what was written (half-written chunk?)");

    // 2. many small files until the metadata side is full too
    List<Path> smalls = new ArrayList<>();
    IOException smallStop = null;
    for (int i = 0; i < 100_000 && smallStop == null; i++) {
      Path p = ws.resolve("many/small-" + i);
      try {
        Files.write(p, pattern(i, 3000));
        smalls.add(p);
      } catch (IOException e) {
        smallStop = e;
        if (Files.exists(p)) {
          smalls.add(p);
        }
      }
    }
    assertTrue(smallStop != null && String.valueOf(smallStop.getMessage()).contains(ENOSPC),
        "creating small files on a full disk must end in ENOSPC, got: " + smallStop);

    // 3. an append and a mkdir on the full disk: either work or say ENOSPC, never anything else
    byte[] more = "appended on a full disk\n".repeat(500).getBytes(StandardCharsets.US_ASCII);
    boolean appended = false;
    try (FileChannel ch = FileChannel.open(appendLog, StandardOpenOption.WRITE, StandardOpenOption.APPEND)) {
      ByteBuffer buf = ByteBuffer.wrap(more);
      while (buf.hasRemaining()) {
        ch.write(buf); // a short write, then ENOSPC, is what ext4 does here
      }
      ch.force(true);
      appended = true;
    } catch (IOException e) {
      assertTrue(String.valueOf(e.getMessage()).contains(ENOSPC), "append on a full disk: " + e);
    }
    try {
      Files.createDirectory(ws.resolve("dir-on-full-disk"));
    } catch (IOException e) {
      assertTrue(String.valueOf(e.getMessage()).contains(ENOSPC), "mkdir on a full disk: " + e);
    }
    byte[] logNow = readFully(appendLog, "append.log on a full disk");
    if (appended) {
      known.put(appendLog, concat(log, more));
    } else {
      // a failed append leaves the old bytes, plus at most a correct part of the new ones
      assertArrayEquals(log, Arrays.copyOf(logNow, log.length), "append.log lost its old content");
      assertArrayEquals(Arrays.copyOf(more, logNow.length - log.length),
          Arrays.copyOfRange(logNow, log.length, logNow.length), "append.log has garbage after ENOSPC");
      known.put(appendLog, logNow);
    }
    assertKnown(known, "on the full disk");

    // 4. free the space: the filler and the small files go, and new writes succeed
    Files.delete(filler);
    for (Path p : smalls) {
      Files.delete(p);
    }
    byte[] fresh = new byte[4 << 20];
    rnd.nextBytes(fresh);
    Path freshFile = ws.resolve("written-after-freeing");
    try {
      writeSynced(freshFile, fresh);
    } catch (IOException e) {
      String du = MountedVault.run(
          List.of("sh", "-c", "du -a -k " + disk + " | sort -n | tail -8"), null, 30).stdout();
      fail("after deleting the " + fill.length + "-byte filler and " + smalls.size()
          + " small files, writing 4 MiB failed (is the space of deleted files released?): " + e
          + "\nlargest on the vault's disk (KiB):\n" + du, e);
    }
    known.put(freshFile, fresh);
    assertKnown(known, "after freeing space");
    assertEquals("known-100", Files.readSymbolicLink(ws.resolve("link")).toString());

    // 5. unmount and mount again: all there, nothing half-written anywhere
    vault.unmount();
    vault.mount();
    serverPid = vault.serverPid();
    assertKnown(known, "after remount");
    assertTrue(!Files.exists(filler), "the deleted filler came back");
    assertEquals(List.of(), CrashIT.readEverything(vault.path("workspaces")),
        "files that fail to read after remount");
  }

  private static void writeSynced(Path p, byte[] b) throws IOException {
    try (FileChannel ch = FileChannel.open(p, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
        StandardOpenOption.TRUNCATE_EXISTING)) {
      ByteBuffer buf = ByteBuffer.wrap(b);
      while (buf.hasRemaining()) {
        ch.write(buf);
      }
      ch.force(true);
    }
  }

  private static void assertKnown(Map<Path, byte[]> known, String when) {
    for (Map.Entry<Path, byte[]> e : known.entrySet()) {
      byte[] now = readFully(e.getKey(), when);
      if (!Arrays.equals(e.getValue(), now)) {
        fail(when + ": " + e.getKey() + " changed (" + e.getValue().length + " bytes written, "
            + now.length + " read, first difference at " + Arrays.mismatch(e.getValue(), now) + ")");
      }
    }
  }

  private static byte[] readFully(Path p, String when) {
    try (InputStream in = Files.newInputStream(p)) {
      return in.readAllBytes();
    } catch (IOException e) {
      throw new AssertionError(when + ": cannot read " + p + ": " + e, e);
    }
  }

  /** Bytes that depend on their offset, so a shifted or foreign chunk is seen. */
  private static byte[] pattern(long offset, int length) {
    byte[] b = new byte[length];
    for (int i = 0; i < length; i++) {
      long x = offset + i;
      b[i] = (byte) (x ^ (x >>> 8) ^ (x >>> 16) ^ (x >>> 24) ^ 0x5a);
    }
    return b;
  }

  private static byte[] concat(byte[] a, byte[] b) {
    byte[] c = Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, c, a.length, b.length);
    return c;
  }
}
