package dev.clawfs.crypto;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.HexFormat;
import javax.crypto.spec.SecretKeySpec;
import org.junit.jupiter.api.Test;

class SealerTest {
  private static final HexFormat HEX = HexFormat.of();

  /**
   * McGrew and Viega, "The Galois/Counter Mode of Operation (GCM)", test case 16 (AES-256, 96-bit
   * IV, 60-byte plaintext, 20-byte AAD); also NIST GCM test vectors. Cross-checked with Python
   * cryptography 48 (OpenSSL 3): {@code AESGCM(K).encrypt(IV, P, A)}.
   */
  @Test
  void gcmSpecTestCase16() {
    byte[] key = HEX.parseHex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308");
    byte[] p = HEX.parseHex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
        + "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39");
    byte[] a = HEX.parseHex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
    byte[] iv = HEX.parseHex("cafebabefacedbaddecaf888");
    String c = "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
        + "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662";
    String t = "76fc6ece0f4e1768cddf8853bb2d551b";
    Sealer sealer = Sealer.of(new SecretKeySpec(key, "AES"));
    byte[] sealed = sealer.sealWithNonce(iv, p, a);
    assertEquals(HEX.formatHex(iv) + c + t, HEX.formatHex(sealed));
  }

  /**
   * The record format: salt || GCM(recordKey, nonce, p, aad) with recordKey =
   * HMAC-SHA256(key, "clawfs/v1/record-key" || salt). The expectation is computed here
   * independently with the JDK's Mac and the GCM seam checked above.
   */
  @Test
  void recordKeyIsDerivedFromTheSalt() throws Exception {
    byte[] key = HEX.parseHex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
    byte[] salt = HEX.parseHex("a0a1a2a3a4a5a6a7a8a9aaabacadaeaf");
    byte[] nonce = HEX.parseHex("b0b1b2b3b4b5b6b7b8b9babb");
    byte[] p = "inode record".getBytes(StandardCharsets.UTF_8);
    byte[] a = "inode 7".getBytes(StandardCharsets.UTF_8);
    javax.crypto.Mac mac = javax.crypto.Mac.getInstance("HmacSHA256");
    mac.init(new SecretKeySpec(key, "HmacSHA256"));
    mac.update("clawfs/v1/record-key".getBytes(StandardCharsets.US_ASCII));
    byte[] recordKey = mac.doFinal(salt);
    byte[] expected = Sealer.of(new SecretKeySpec(recordKey, "AES")).sealWithNonce(nonce, p, a);
    Sealer sealer = Sealer.of(new SecretKeySpec(key, "AES"));
    byte[] sealed = sealer.sealWithSaltAndNonce(salt, nonce, p, a);
    assertEquals(HEX.formatHex(salt) + HEX.formatHex(expected), HEX.formatHex(sealed));
    assertArrayEquals(p, sealer.open(sealed, a, "record"));
  }

  @Test
  void roundTripWithRandomNonces() {
    Sealer s = Sealer.of(key(1));
    byte[] plain = "a file name.txt".getBytes(StandardCharsets.UTF_8);
    byte[] aad = "inode 42".getBytes(StandardCharsets.UTF_8);
    byte[] one = s.seal(plain, aad);
    byte[] two = s.seal(plain, aad);
    assertEquals(plain.length + Sealer.OVERHEAD, one.length);
    assertFalse(Arrays.equals(one, two), "fresh nonce each time");
    assertArrayEquals(plain, s.open(one, aad, "name"));
    assertArrayEquals(plain, s.open(two, aad, "name"));
    assertArrayEquals(new byte[0], s.open(s.seal(new byte[0], null), null, "empty"));
    assertArrayEquals(plain, s.open(s.seal(plain, null), new byte[0], "null aad is empty aad"));
  }

  @Test
  void differentAadFails() {
    Sealer s = Sealer.of(key(1));
    byte[] sealed = s.seal(new byte[] {1, 2, 3}, new byte[] {1});
    AuthenticationFailedException e = assertThrows(AuthenticationFailedException.class,
        () -> s.open(sealed, new byte[] {2}, "row 7 name"));
    assertTrue(e.getMessage().contains("row 7 name"), e.getMessage());
  }

  @Test
  void anyFlippedByteFails() {
    Sealer s = Sealer.of(key(1));
    byte[] sealed = s.seal("secret".getBytes(StandardCharsets.UTF_8), null);
    for (int i = 0; i < sealed.length; i++) {
      byte[] bad = sealed.clone();
      bad[i] ^= 0x01;
      assertThrows(AuthenticationFailedException.class, () -> s.open(bad, null, "x"));
    }
  }

  @Test
  void tooShortOrOtherKeyFails() {
    Sealer s = Sealer.of(key(1));
    AuthenticationFailedException e = assertThrows(AuthenticationFailedException.class,
        () -> s.open(new byte[27], null, "blob"));
    assertTrue(e.getMessage().contains("blob"));
    byte[] sealed = s.seal(new byte[] {9}, null);
    assertThrows(AuthenticationFailedException.class, () -> Sealer.of(key(2)).open(sealed, null, "x"));
  }

  @Test
  void refusesShortKeysAndAcceptsHmacLabelledKeys() {
    assertThrows(IllegalArgumentException.class, () -> Sealer.of(new SecretKeySpec(new byte[16], "AES")));
    Sealer s = Sealer.of(new SecretKeySpec(new byte[32], "HmacSHA256"));
    assertArrayEquals(new byte[] {5}, s.open(s.seal(new byte[] {5}, null), null, "x"));
  }

  static SecretKeySpec key(int seed) {
    byte[] k = new byte[32];
    Arrays.fill(k, (byte) seed);
    return new SecretKeySpec(k, "AES");
  }
}
