package dev.clawfs.crypto;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.HexFormat;
import org.junit.jupiter.api.Test;

class HkdfTest {
  private static final HexFormat HEX = HexFormat.of();

  /** RFC 5869 appendix A.1, test case 1 (basic test case with SHA-256). */
  @Test
  void rfc5869TestCase1() {
    byte[] ikm = HEX.parseHex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b");
    byte[] salt = HEX.parseHex("000102030405060708090a0b0c");
    byte[] info = HEX.parseHex("f0f1f2f3f4f5f6f7f8f9");
    assertEquals("077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5",
        HEX.formatHex(Hkdf.extract(salt, ikm)));
    assertEquals("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
        HEX.formatHex(Hkdf.derive(ikm, salt, info, 42)));
  }

  /** RFC 5869 appendix A.3, test case 3 (zero-length salt and info). */
  @Test
  void rfc5869TestCase3() {
    byte[] ikm = HEX.parseHex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b");
    assertEquals("8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8",
        HEX.formatHex(Hkdf.derive(ikm, new byte[0], new byte[0], 42)));
  }

  @Test
  void refusesImpossibleLengths() {
    assertThrows(IllegalArgumentException.class, () -> Hkdf.expand(new byte[32], null, 0));
    assertThrows(IllegalArgumentException.class, () -> Hkdf.expand(new byte[32], null, 255 * 32 + 1));
  }
}
