package dev.clawfs.crypto;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import org.junit.jupiter.api.Test;

class KeyedHashTest {

  @Test
  void sixteenBytesDeterministicPerKey() {
    KeyedHash h = KeyedHash.of(SealerTest.key(1));
    byte[] a = h.hash16(b("report.pdf"));
    assertEquals(16, a.length);
    assertArrayEquals(a, h.hash16(b("report.pdf")));
    assertFalse(Arrays.equals(a, h.hash16(b("report.pdg"))));
    assertFalse(Arrays.equals(a, KeyedHash.of(SealerTest.key(2)).hash16(b("report.pdf"))));
  }

  @Test
  void partsAreLengthPrefixed() {
    KeyedHash h = KeyedHash.of(SealerTest.key(1));
    assertFalse(Arrays.equals(h.hash16(b("ab"), b("c")), h.hash16(b("a"), b("bc"))));
    assertFalse(Arrays.equals(h.hash16(b("abc")), h.hash16(b("ab"), b("c"))));
    assertFalse(Arrays.equals(h.hash16(), h.hash16(new byte[0])));
  }

  /** The definition, computed with a plain JDK Mac: HMAC(u32 len || part ...) truncated to 16. */
  @Test
  void matchesDefinition() throws Exception {
    SecretKeySpec key = SealerTest.key(3);
    Mac mac = Mac.getInstance("HmacSHA256");
    mac.init(key);
    mac.update(new byte[] {0, 0, 0, 2, 'a', 'b', 0, 0, 0, 1, 'c'});
    byte[] expected = Arrays.copyOf(mac.doFinal(), 16);
    assertArrayEquals(expected, KeyedHash.of(key).hash16(b("ab"), b("c")));
  }

  @Test
  void aFailedCallDoesNotPoisonTheNext() {
    KeyedHash h = KeyedHash.of(SealerTest.key(1));
    byte[] before = h.hash16(b("x"));
    try {
      h.hash16(b("x"), null);
    } catch (NullPointerException expected) {
      // fine
    }
    assertArrayEquals(before, h.hash16(b("x")));
  }

  private static byte[] b(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }
}
