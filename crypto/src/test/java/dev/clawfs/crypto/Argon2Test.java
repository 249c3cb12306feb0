package dev.clawfs.crypto;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Arrays;
import java.util.HexFormat;
import org.junit.jupiter.api.Test;

class Argon2Test {
  private static final HexFormat HEX = HexFormat.of();

  /**
   * RFC 9106 section 5.3 (Argon2id test vector): version 0x13, memory 32 KiB, 3 passes, 4 lanes,
   * tag length 32, password 32 x 0x01, salt 16 x 0x02, secret 8 x 0x03, associated data 12 x 0x04.
   * Also cross-checked with Python cryptography 48 (OpenSSL 3):
   * {@code Argon2id(salt=b'\x02'*16, length=32, iterations=3, lanes=4, memory_cost=32,
   * ad=b'\x04'*12, secret=b'\x03'*8).derive(b'\x01'*32)}.
   */
  @Test
  void rfc9106Section5_3() {
    byte[] tag = Argon2.derive(fill(32, 0x01), fill(16, 0x02), fill(8, 0x03), fill(12, 0x04), 32, 3, 4, 32);
    assertEquals("0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659", HEX.formatHex(tag));
  }

  @Test
  void kekIsDeterministicAndDependsOnEveryInput() {
    KdfParams p = new KdfParams(64, 1, 1);
    byte[] salt = fill(16, 7);
    byte[] a = Argon2.deriveKek("pässwörd".toCharArray(), salt, p);
    assertEquals(32, a.length);
    assertArrayEquals(a, Argon2.deriveKek("pässwörd".toCharArray(), salt, p));
    assertFalse(Arrays.equals(a, Argon2.deriveKek("passwörd".toCharArray(), salt, p)));
    assertFalse(Arrays.equals(a, Argon2.deriveKek("pässwörd".toCharArray(), fill(16, 8), p)));
    assertFalse(Arrays.equals(a, Argon2.deriveKek("pässwörd".toCharArray(), salt, new KdfParams(64, 2, 1))));
    assertFalse(Arrays.equals(a, Argon2.deriveKek("pässwörd".toCharArray(), salt, new KdfParams(72, 1, 1))));
  }

  /** The KEK is Argon2id over the passphrase's UTF-8 bytes, with no secret and no associated data. */
  @Test
  void kekUsesUtf8OfPassphrase() {
    KdfParams p = new KdfParams(64, 1, 1);
    byte[] salt = fill(16, 9);
    byte[] utf8 = "ü€".getBytes(java.nio.charset.StandardCharsets.UTF_8);
    assertArrayEquals(Argon2.derive(utf8, salt, null, null, 64, 1, 1, 32), Argon2.deriveKek("ü€".toCharArray(), salt, p));
  }

  @Test
  void loneSurrogateIsRefused() {
    assertThrows(IllegalArgumentException.class, () -> Argon2.utf8(new char[] {'a', '\ud800'}));
  }

  static byte[] fill(int n, int value) {
    byte[] b = new byte[n];
    Arrays.fill(b, (byte) value);
    return b;
  }
}
