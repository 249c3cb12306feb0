package dev.clawfs.crypto;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

class ChunkCipherTest {
  private static final HexFormat HEX = HexFormat.of();
  private static final byte[] KEY = bytes(32, 0x11);
  private static final byte[] FILE_A = bytes(16, 0xa0);
  private static final byte[] FILE_B = bytes(16, 0xb0);
  private static final int KEY_ID = 0x12345678;

  /**
   * Format vector: key 00..1f, fileId a0..af, index 5, version 7, keyId 0x12345678, nonce 10..1b,
   * plaintext "ClawFS chunk format vector". Produced independently with Python cryptography 48
   * (OpenSSL 3), not with this code:
   * <pre>
   * python3 -c 'from cryptography.hazmat.primitives.ciphers.aead import AESGCM; k=bytes(range(32));
   *   fid=bytes(range(0xa0,0xb0)); aad=fid+(5).to_bytes(8,"big")+(7).to_bytes(8,"big")
   *   +(0x12345678).to_bytes(4,"big"); n=bytes(range(0x10,0x1c)); p=b"ClawFS chunk format vector";
   *   print((n+AESGCM(k).encrypt(n,p,aad)).hex())'
   * </pre>
   */
  @Test
  void formatVector() {
    byte[] key = HEX.parseHex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
    byte[] fileId = HEX.parseHex("a0a1a2a3a4a5a6a7a8a9aaabacadaeaf");
    byte[] nonce = HEX.parseHex("101112131415161718191a1b");
    byte[] plain = "ClawFS chunk format vector".getBytes(StandardCharsets.US_ASCII);
    String expected = "101112131415161718191a1b3e92f9610f9a1ad0a20066762f1f0621ba313a2e6da7"
        + "34c5888bd0cd9942c07c92f0ef82cb59b47c5c72";
    ChunkCipher c = new ChunkCipher(key, fileId, 0x12345678);
    byte[] out = new byte[plain.length + ChunkCipher.OVERHEAD + 3];
    int n = c.sealWithNonce(nonce, 5, 7, plain, 0, plain.length, out, 3);
    assertEquals(plain.length + ChunkCipher.OVERHEAD, n);
    assertEquals(expected, HEX.formatHex(out, 3, 3 + n));
    byte[] back = new byte[plain.length];
    assertEquals(plain.length, c.open(5, 7, HEX.parseHex(expected), 0, n, back, 0));
    assertArrayEquals(plain, back);
  }

  @Test
  void constantsAgree() {
    assertEquals(65536, ChunkCipher.CHUNK_SIZE);
    assertEquals(28, ChunkCipher.OVERHEAD);
    assertEquals(65536 + 28, ChunkCipher.SLOT_SIZE);
  }

  @Test
  void roundTripFullPartialEmptyAndOffsets() {
    ChunkCipher c = cipher(FILE_A, KEY_ID);
    for (int len : new int[] {0, 1, 4095, ChunkCipher.CHUNK_SIZE}) {
      byte[] plain = random(len + 10, len);
      byte[] sealed = new byte[len + ChunkCipher.OVERHEAD + 7];
      assertEquals(len + 28, c.seal(3, 9, plain, 10, len, sealed, 7));
      byte[] out = new byte[len + 5];
      assertEquals(len, c.open(3, 9, sealed, 7, len + 28, out, 5));
      assertArrayEquals(Arrays.copyOfRange(plain, 10, 10 + len), Arrays.copyOfRange(out, 5, 5 + len));
    }
  }

  @Test
  void freshNoncePerSeal() {
    ChunkCipher c = cipher(FILE_A, KEY_ID);
    byte[] plain = random(100, 1);
    assertFalse(Arrays.equals(seal(c, 0, 0, plain), seal(c, 0, 0, plain)));
  }

  @Test
  void everyFlippedByteFails() {
    ChunkCipher c = cipher(FILE_A, KEY_ID);
    byte[] sealed = seal(c, 1, 1, random(64, 2));
    for (int i = 0; i < sealed.length; i++) { // nonce 0..11, ciphertext, tag last 16
      byte[] bad = sealed.clone();
      bad[i] ^= (byte) (1 << (i % 8));
      assertAuthFails(() -> open(c, 1, 1, bad));
    }
  }

  @Test
  void flippedBytesInFullChunkFail() {
    ChunkCipher c = cipher(FILE_A, KEY_ID);
    byte[] sealed = seal(c, 0, 0, random(ChunkCipher.CHUNK_SIZE, 3));
    for (int i : new int[] {0, 11, 12, 30000, ChunkCipher.SLOT_SIZE - 17, ChunkCipher.SLOT_SIZE - 16, ChunkCipher.SLOT_SIZE - 1}) {
      byte[] bad = sealed.clone();
      bad[i] ^= (byte) 0x80;
      assertAuthFails(() -> open(c, 0, 0, bad));
    }
  }

  @Test
  void swappedChunksFail() {
    ChunkCipher c = cipher(FILE_A, KEY_ID);
    byte[] chunk0 = seal(c, 0, 1, random(100, 4));
    byte[] chunk1 = seal(c, 1, 1, random(100, 5));
    assertAuthFails(() -> open(c, 1, 1, chunk0));
    assertAuthFails(() -> open(c, 0, 1, chunk1));
  }

  @Test
  void chunkMovedToAnotherFileFails() {
    // Same content key on purpose: only the file id in the AAD tells the files apart.
    byte[] sealed = seal(cipher(FILE_A, KEY_ID), 0, 1, random(100, 6));
    assertAuthFails(() -> open(cipher(FILE_B, KEY_ID), 0, 1, sealed));
  }

  @Test
  void rollbackToOlderVersionFails() {
    ChunkCipher c = cipher(FILE_A, KEY_ID);
    byte[] old = seal(c, 2, 4, random(100, 7));
    assertAuthFails(() -> open(c, 2, 5, old));
  }

  @Test
  void wrongKeyIdFails() {
    byte[] sealed = seal(cipher(FILE_A, KEY_ID), 0, 0, random(100, 8));
    assertAuthFails(() -> open(cipher(FILE_A, KEY_ID + 1), 0, 0, sealed));
  }

  @Test
  void wrongContentKeyFails() {
    byte[] sealed = seal(cipher(FILE_A, KEY_ID), 0, 0, random(100, 8));
    assertAuthFails(() -> open(new ChunkCipher(bytes(32, 0x12), FILE_A, KEY_ID), 0, 0, sealed));
  }

  @Test
  void truncatedOrAllZeroChunksFail() {
    ChunkCipher c = cipher(FILE_A, KEY_ID);
    byte[] sealed = seal(c, 0, 0, random(100, 9));
    for (int len : new int[] {sealed.length - 1, sealed.length - 16, 28, 27, 12, 0}) {
      byte[] shorter = Arrays.copyOf(sealed, len);
      assertAuthFails(() -> open(c, 0, 0, shorter));
    }
    assertAuthFails(() -> open(c, 0, 0, new byte[128]));
    assertAuthFails(() -> open(c, 0, 0, new byte[ChunkCipher.SLOT_SIZE]));
    assertAuthFails(() -> open(c, 0, 0, new byte[ChunkCipher.SLOT_SIZE + 1]));
  }

  @Test
  void failureNamesTheChunkAndZeroesTheOutput() {
    ChunkCipher c = cipher(FILE_A, KEY_ID);
    byte[] sealed = seal(c, 6, 8, random(100, 10));
    sealed[40] ^= 1;
    byte[] out = new byte[100];
    Arrays.fill(out, (byte) 0x55);
    AuthenticationFailedException e = assertThrows(AuthenticationFailedException.class,
        () -> c.open(6, 8, sealed, 0, sealed.length, out, 0));
    assertTrue(e.getMessage().contains(HEX.formatHex(FILE_A)), e.getMessage());
    assertTrue(e.getMessage().contains("chunk 6"), e.getMessage());
    assertTrue(e.getMessage().contains("version 8"), e.getMessage());
    assertArrayEquals(new byte[100], out);
  }

  @Test
  void refusesOversizeChunksAndSmallBuffers() {
    ChunkCipher c = cipher(FILE_A, KEY_ID);
    byte[] big = new byte[ChunkCipher.CHUNK_SIZE + 1];
    assertThrows(IllegalArgumentException.class,
        () -> c.seal(0, 0, big, 0, big.length, new byte[big.length + 28], 0));
    assertThrows(IndexOutOfBoundsException.class, () -> c.seal(0, 0, new byte[10], 0, 10, new byte[37], 0));
    assertThrows(IllegalArgumentException.class, () -> c.seal(-1, 0, new byte[1], 0, 1, new byte[29], 0));
    assertThrows(IllegalArgumentException.class, () -> new ChunkCipher(new byte[16], FILE_A, 1));
    assertThrows(IllegalArgumentException.class, () -> new ChunkCipher(KEY, new byte[8], 1));
  }

  /** Many threads sealing and opening through one instance: per-thread state, no cross-talk. */
  @Test
  void concurrentUse() throws Exception {
    ChunkCipher c = cipher(FILE_A, KEY_ID);
    ExecutorService pool = Executors.newFixedThreadPool(8);
    try {
      List<Future<?>> futures = new ArrayList<>();
      for (int t = 0; t < 8; t++) {
        int seed = t;
        futures.add(pool.submit(() -> {
          for (int i = 0; i < 50; i++) {
            byte[] plain = random(1000 + i, seed * 1000 + i);
            byte[] back = new byte[plain.length];
            byte[] sealed = seal(c, i, seed, plain);
            c.open(i, seed, sealed, 0, sealed.length, back, 0);
            assertArrayEquals(plain, back);
          }
          return null;
        }));
      }
      for (Future<?> f : futures) {
        f.get();
      }
    } finally {
      pool.shutdownNow();
    }
  }

  private static void assertAuthFails(Executable e) {
    assertThrows(AuthenticationFailedException.class, e);
  }

  private static ChunkCipher cipher(byte[] fileId, int keyId) {
    return new ChunkCipher(KEY, fileId, keyId);
  }

  private static byte[] seal(ChunkCipher c, long index, long version, byte[] plain) {
    byte[] out = new byte[plain.length + ChunkCipher.OVERHEAD];
    c.seal(index, version, plain, 0, plain.length, out, 0);
    return out;
  }

  private static byte[] open(ChunkCipher c, long index, long version, byte[] sealed) {
    byte[] out = new byte[Math.max(0, sealed.length - ChunkCipher.OVERHEAD)];
    c.open(index, version, sealed, 0, sealed.length, out, 0);
    return out;
  }

  static byte[] random(int n, long seed) {
    byte[] b = new byte[n];
    new Random(seed).nextBytes(b);
    return b;
  }

  static byte[] bytes(int n, int value) {
    byte[] b = new byte[n];
    Arrays.fill(b, (byte) value);
    return b;
  }
}
