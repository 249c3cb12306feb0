package dev.clawfs.crypto;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import org.junit.jupiter.api.Test;

class RecoveryKeyTest {
  private static final byte[] VAULT_ID = ChunkCipherTest.bytes(16, 1);

  /** The list is part of the format: 256 distinct short words, unambiguous as documented. */
  @Test
  void wordListHasTheDocumentedProperties() {
    List<String> w = RecoveryKey.wordList();
    assertEquals(256, w.size());
    Set<String> prefixes = new HashSet<>();
    for (int i = 0; i < w.size(); i++) {
      String a = w.get(i);
      assertTrue(a.matches("[a-z]{4,6}"), a);
      assertTrue(prefixes.add(a.substring(0, 4)), "first four letters not unique: " + a);
      if (i > 0) {
        assertTrue(w.get(i - 1).compareTo(a) < 0, "not sorted at " + a);
      }
      for (int j = 0; j < i; j++) {
        assertTrue(editDistance(a, w.get(j)) >= 2, a + " and " + w.get(j) + " are one edit apart");
      }
    }
    // pinned: reordering or editing the list would break every printed key
    assertEquals("acorn", w.get(0));
    assertEquals("zipper", w.get(255));
  }

  /** Known-answer value of CRC-8 (poly 0x07, init 0, CRC-8/SMBUS): "123456789" gives 0xF4. */
  @Test
  void crc8KnownAnswer() {
    assertEquals(0xF4, RecoveryKey.crc8("123456789".getBytes(StandardCharsets.US_ASCII)));
  }

  @Test
  void wordsRoundTrip() {
    for (int round = 0; round < 50; round++) {
      RecoveryKey key = RecoveryKey.generate();
      List<String> words = key.words();
      assertEquals(RecoveryKey.WORDS, words.size());
      RecoveryKey back = RecoveryKey.parse(String.join(" ", words));
      assertEquals(words, back.words());
      assertArrayEquals(key.kek(VAULT_ID), back.kek(VAULT_ID));
      // the printed form parses too (line numbers skipped)
      assertEquals(words, RecoveryKey.parse(key.printable()).words());
    }
  }

  @Test
  void byteValuesMapToTheirWords() {
    byte[] secret = new byte[32];
    for (int i = 0; i < 32; i++) {
      secret[i] = (byte) (i * 8 + 7);
    }
    List<String> words = RecoveryKey.ofSecret(secret).words();
    for (int i = 0; i < 32; i++) {
      assertEquals(RecoveryKey.wordList().get(i * 8 + 7), words.get(i));
    }
    assertEquals(RecoveryKey.wordList().get(RecoveryKey.crc8(secret)), words.get(32));
  }

  @Test
  void printedInNumberedLinesOfThree() {
    RecoveryKey key = RecoveryKey.ofSecret(new byte[32]);
    String[] lines = key.printable().split("\n");
    assertEquals(11, lines.length);
    assertTrue(lines[0].startsWith(" 1: acorn  acorn  acorn"), lines[0]);
    assertTrue(lines[10].startsWith("11: "), lines[10]);
  }

  @Test
  void parsingForgivesCaseSpacingNumbersAndPrefixes() {
    RecoveryKey key = RecoveryKey.generate();
    List<String> words = key.words();
    StringBuilder messy = new StringBuilder("\n  ");
    for (int i = 0; i < words.size(); i++) {
      String w = words.get(i);
      if (i % 3 == 0) {
        messy.append(i / 3 + 1).append(". ");
      }
      String form = switch (i % 4) {
        case 0 -> w.toUpperCase(Locale.ROOT);
        case 1 -> w.substring(0, 4);
        case 2 -> Character.toUpperCase(w.charAt(0)) + w.substring(1);
        default -> w;
      };
      messy.append(form).append(i % 5 == 0 ? "\t\t" : i % 7 == 0 ? "\r\n" : "   ");
    }
    assertEquals(words, RecoveryKey.parse(messy).words());
  }

  /** Exhaustive: each of the 33 positions replaced by each of the other 255 words. */
  @Test
  void checksumCatchesEverySingleWordChange() {
    for (int round = 0; round < 3; round++) {
      List<String> words = RecoveryKey.generate().words();
      for (int pos = 0; pos < words.size(); pos++) {
        for (String other : RecoveryKey.wordList()) {
          if (other.equals(words.get(pos))) {
            continue;
          }
          List<String> changed = new ArrayList<>(words);
          changed.set(pos, other);
          WrongRecoveryKeyException e = assertThrows(WrongRecoveryKeyException.class,
              () -> RecoveryKey.parse(String.join(" ", changed)), "word " + pos + " -> " + other);
          assertTrue(e.getMessage().contains("checksum"), e.getMessage());
        }
      }
    }
  }

  @Test
  void mistypedWordsAreNamedWithTheirPosition() {
    List<String> words = new ArrayList<>(RecoveryKey.generate().words());
    String w = words.get(6);
    words.set(6, w.substring(0, w.length() - 1) + (w.endsWith("q") ? "x" : "q"));
    WrongRecoveryKeyException e = assertThrows(WrongRecoveryKeyException.class,
        () -> RecoveryKey.parse(String.join(" ", words)));
    assertTrue(e.getMessage().startsWith("word 7 "), e.getMessage());
    assertFalse(e.getMessage().contains(words.get(6)), "the mistyped word is not quoted: " + e.getMessage());
    assertTrue(e.getMessage().contains("not a recovery key word"), e.getMessage());
  }

  @Test
  void wrongWordCountsAreRefused() {
    List<String> words = RecoveryKey.generate().words();
    assertTrue(assertThrows(WrongRecoveryKeyException.class,
        () -> RecoveryKey.parse(String.join(" ", words.subList(0, 32)))).getMessage().contains("got 32"));
    List<String> more = new ArrayList<>(words);
    more.add(words.get(0));
    assertTrue(assertThrows(WrongRecoveryKeyException.class,
        () -> RecoveryKey.parse(String.join(" ", more))).getMessage().contains("got 34"));
    assertTrue(assertThrows(WrongRecoveryKeyException.class, () -> RecoveryKey.parse("  \n "))
        .getMessage().contains("no recovery key words"));
  }

  @Test
  void kekDependsOnTheVault() {
    RecoveryKey key = RecoveryKey.generate();
    assertFalse(Arrays.equals(key.kek(VAULT_ID), key.kek(ChunkCipherTest.bytes(16, 2))));
    assertEquals(32, key.kek(VAULT_ID).length);
    key.destroy();
    assertThrows(IllegalStateException.class, key::words);
  }

  private static int editDistance(String a, String b) {
    int[] d = new int[b.length() + 1];
    for (int j = 0; j <= b.length(); j++) {
      d[j] = j;
    }
    for (int i = 1; i <= a.length(); i++) {
      int prev = d[0];
      d[0] = i;
      for (int j = 1; j <= b.length(); j++) {
        int tmp = d[j];
        d[j] = Math.min(Math.min(d[j] + 1, d[j - 1] + 1), prev + (a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1));
        prev = tmp;
      }
    }
    return d[b.length()];
  }
}
