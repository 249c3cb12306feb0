package dev.clawfs.fuse;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.clawfs.crypto.ChunkCipher;
import dev.clawfs.crypto.KdfParams;
import dev.clawfs.crypto.KeyPurpose;
import dev.clawfs.crypto.MasterKeys;
import dev.clawfs.crypto.Sealer;
import dev.clawfs.crypto.VaultHeader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Key rotation in the core: metadata re-sealed in one transaction, content re-encrypted per file, old key retired. */
class RekeyTest {
  private static final int O_RDWR = 2;
  private static final char[] PASS = "test passphrase".toCharArray();
  private static final Caller ME = new Caller(1000, 1000, 1);
  private static final int CHUNK = ChunkCipher.CHUNK_SIZE;

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
    if (fs != null) {
      fs.close();
    }
  }

  private static byte[] p(String path) {
    return path.getBytes(StandardCharsets.ISO_8859_1);
  }

  private static byte[] random(int n, long seed) {
    byte[] b = new byte[n];
    new Random(seed).nextBytes(b);
    return b;
  }

  private void write(String path, byte[] data) {
    long fh = fs.create(p(path), 0644, O_RDWR, ME);
    try {
      for (int done = 0; done < data.length; ) {
        int len = Math.min(131072, data.length - done);
        done += fs.write(fh, done, Arrays.copyOfRange(data, done, done + len), len);
      }
    } finally {
      fs.release(fh);
    }
  }

  private byte[] read(String path) {
    long fh = fs.open(p(path), 0);
    try {
      byte[] out = new byte[(int) fs.fgetattr(fh).size()];
      int off = 0;
      while (off < out.length) {
        byte[] buf = new byte[131072];
        int n = fs.read(fh, off, buf, buf.length);
        System.arraycopy(buf, 0, out, off, n);
        off += n;
      }
      return out;
    } finally {
      fs.release(fh);
    }
  }

  private long ino(String path) {
    return fs.getattr(p(path)).ino();
  }

  /** The whole rotation, as clawfs rekey does it, then a reopen with the old key gone from the keyset. */
  @Test
  void rotateReencryptResealRetireAndReopen() throws IOException {
    byte[] big = random(3 * CHUNK + 777, 1);
    write("/workspaces/big", big);
    write("/workspaces/small", "hello".getBytes(StandardCharsets.UTF_8));
    fs.mkdir(p("/workspaces/d"), 0755, ME);
    write("/workspaces/d/sparse", new byte[0]);
    long sfh = fs.open(p("/workspaces/d/sparse"), O_RDWR);
    fs.write(sfh, 5L * CHUNK, new byte[] {7}, 1); // chunks 0..4 are holes
    fs.release(sfh);
    fs.sync();
    int oldKey = keys.primaryKeyId();
    assertEquals(oldKey, fs.metadataKeyId());

    keys.install(VaultHeader.rotate(dir, PASS));
    int newKey = keys.primaryKeyId();
    assertEquals(3, fs.filesNotUnderPrimary().size());
    fs.resealMetadata();
    assertEquals(newKey, fs.metadataKeyId());
    for (long ino : fs.filesNotUnderPrimary().keySet()) {
      assertTrue(fs.reencrypt(ino) > 0);
    }
    assertEquals(Map.of(), fs.filesNotUnderPrimary());
    assertEquals(Map.of(newKey, 3), fs.contentKeyUse().files());
    assertArrayEquals(big, read("/workspaces/big"));
    fs.sync();
    assertEquals(3, contentFiles().size(), "the old content files were removed after the commit");

    fs.close();
    keys.install(VaultHeader.retire(dir, PASS, oldKey));
    MasterKeys only = VaultHeader.unlock(dir, PASS);
    assertEquals(Set.of(newKey), only.keyIds());
    fs = ClawFileSystem.open(dir, only, 50);
    assertArrayEquals(big, read("/workspaces/big"));
    assertArrayEquals("hello".getBytes(StandardCharsets.UTF_8), read("/workspaces/small"));
    byte[] sparse = read("/workspaces/d/sparse");
    assertEquals(5 * CHUNK + 1, sparse.length);
    assertEquals(7, sparse[5 * CHUNK]);
    assertEquals(0, sparse[100]);
    CheckReport r = VaultCheck.run(dir, only, false);
    assertTrue(r.problems().isEmpty(), r.problems().toString());
  }

  /** A write into a file still under the old key re-encrypts it first: nothing new lands under the old key. */
  @Test
  void aWriteAfterRotationMovesTheFileToTheNewKeyFirst() throws IOException {
    write("/workspaces/f", random(2 * CHUNK, 2));
    fs.sync();
    keys.install(VaultHeader.rotate(dir, PASS));
    long fh = fs.open(p("/workspaces/f"), O_RDWR);
    fs.write(fh, 10, new byte[] {1, 2, 3}, 3);
    fs.release(fh);
    assertEquals(Map.of(), fs.filesNotUnderPrimary());
    byte[] expect = random(2 * CHUNK, 2);
    expect[10] = 1;
    expect[11] = 2;
    expect[12] = 3;
    assertArrayEquals(expect, read("/workspaces/f"));
  }

  /** Readers and writers of the same files go on while every file is re-encrypted; nothing written is lost. */
  @Test
  void reencryptionRacesReadsAndWrites() throws Exception {
    int files = 6;
    for (int i = 0; i < files; i++) {
      write("/workspaces/f" + i, random(2 * CHUNK + 100, 10 + i));
    }
    fs.sync();
    keys.install(VaultHeader.rotate(dir, PASS));
    AtomicBoolean stop = new AtomicBoolean();
    AtomicReference<Throwable> failure = new AtomicReference<>();
    List<Thread> threads = new ArrayList<>();
    long[] counters = new long[files];
    for (int i = 0; i < files; i++) {
      int f = i;
      threads.add(new Thread(() -> {
        try {
          long fh = fs.open(p("/workspaces/f" + f), O_RDWR);
          try {
            while (!stop.get()) {
              long c = ++counters[f];
              byte[] stamp = String.format("%016d", c).getBytes(StandardCharsets.US_ASCII);
              fs.write(fh, CHUNK - 8, stamp, stamp.length); // straddles a chunk boundary
              byte[] back = new byte[16];
              fs.read(fh, CHUNK - 8, back, 16);
              assertArrayEquals(stamp, back);
            }
          } finally {
            fs.release(fh);
          }
        } catch (Throwable t) {
          failure.compareAndSet(null, t);
        }
      }));
    }
    threads.forEach(Thread::start);
    fs.resealMetadata();
    for (int round = 0; round < 3; round++) {
      for (long ino : fs.filesNotUnderPrimary().keySet()) {
        fs.reencrypt(ino);
      }
    }
    stop.set(true);
    for (Thread t : threads) {
      t.join();
    }
    if (failure.get() != null) {
      throw new AssertionError(failure.get());
    }
    assertEquals(Map.of(), fs.filesNotUnderPrimary());
    fs.close();
    fs = ClawFileSystem.open(dir, VaultHeader.unlock(dir, PASS), 50);
    for (int i = 0; i < files; i++) {
      byte[] got = read("/workspaces/f" + i);
      assertEquals(String.format("%016d", counters[i]), new String(got, CHUNK - 8, 16, StandardCharsets.US_ASCII));
    }
  }

  /** A vault written before rotation existed (no key id row, check record without the key id) still opens. */
  @Test
  void aDatabaseWithoutAKeyIdRowOpensAndGetsOneAtReseal() throws Exception {
    write("/workspaces/f", "x".getBytes(StandardCharsets.UTF_8));
    fs.close();
    try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + dir.resolve("metadata.db"))) {
      c.createStatement().executeUpdate("DELETE FROM meta WHERE k = 'keyid'");
      try (PreparedStatement ps = c.prepareStatement("UPDATE meta SET v = ? WHERE k = 'check'")) {
        ps.setBytes(1, Sealer.of(keys.subkey(KeyPurpose.METADATA)).seal(keys.vaultId(), MetadataStore.CHECK_AAD));
        ps.executeUpdate();
      }
    }
    // rotated before the first reseal (a rekey killed right after the header write): still opens
    keys.install(VaultHeader.rotate(dir, PASS));
    fs = ClawFileSystem.open(dir, keys, 50);
    assertNotEquals(keys.primaryKeyId(), fs.metadataKeyId());
    fs.resealMetadata();
    assertEquals(keys.primaryKeyId(), fs.metadataKeyId());
    fs.close();
    fs = ClawFileSystem.open(dir, VaultHeader.unlock(dir, PASS), 50);
    assertArrayEquals("x".getBytes(StandardCharsets.UTF_8), read("/workspaces/f"));
  }

  /** Metadata sealed under a key the keyset no longer has is refused with a clear message. */
  @Test
  void metadataUnderAMissingKeyIsRefused() throws IOException {
    int oldKey = keys.primaryKeyId();
    fs.close();
    keys.install(VaultHeader.rotate(dir, PASS));
    keys.install(VaultHeader.retire(dir, PASS, oldKey));
    FsException e = assertThrows(FsException.class, () -> ClawFileSystem.open(dir, VaultHeader.unlock(dir, PASS), 50));
    assertTrue(e.getMessage().contains("not in this vault's keyset"), e.getMessage());
    fs = null;
  }

  private List<Path> contentFiles() throws IOException {
    try (Stream<Path> s = Files.walk(dir.resolve("content"))) {
      return s.filter(Files::isRegularFile).toList();
    }
  }
}
