package dev.clawfs.index;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Base64;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class ChunkerTest {

  @Test
  void emptyAndWhitespaceOnlyTextGiveNoPassages() {
    Chunker chunker = Chunker.defaults();
    assertTrue(chunker.chunk("").isEmpty());
    assertTrue(chunker.chunk(" \n\n\t \r\n  ").isEmpty());
  }

  @Test
  void shortTextIsOnePassageTrimmedToItsWords() {
    String text = "\n  Hello, encrypted world.  \n";
    List<Passage> passages = Chunker.defaults().chunk(text);
    assertEquals(List.of(new Passage(0, 3, 26, "Hello, encrypted world.")), passages);
  }

  @Test
  void rejectsNonsenseParameters() {
    assertThrows(IllegalArgumentException.class, () -> new Chunker(0, 0));
    assertThrows(IllegalArgumentException.class, () -> new Chunker(10, 10));
    assertThrows(IllegalArgumentException.class, () -> new Chunker(10, -1));
  }

  @Test
  void consecutivePassagesOverlapByTheRequestedWords() {
    String text = numberedWords(0, 1000, " ");
    List<Passage> passages = new Chunker(50, 10).chunk(text);
    assertWellFormed(text, new Chunker(50, 10), passages);
    for (int i = 0; i + 1 < passages.size(); i++) {
      int[] current = wordNumbers(passages.get(i));
      int[] next = wordNumbers(passages.get(i + 1));
      assertEquals(50, current[1] - current[0] + 1, "words in passage " + i);
      assertEquals(10, current[1] - next[0] + 1, "overlap after passage " + i);
    }
    assertEquals(999, wordNumbers(passages.get(passages.size() - 1))[1]);
    // 1000 words advancing 40 per passage: 24 full passages, then the last reaches the end.
    assertEquals(25, passages.size());
  }

  @Test
  void zeroOverlapTilesTheWords() {
    String text = numberedWords(0, 100, " ");
    List<Passage> passages = new Chunker(25, 0).chunk(text);
    assertEquals(4, passages.size());
    for (int i = 0; i < 4; i++) {
      int[] words = wordNumbers(passages.get(i));
      assertEquals(25 * i, words[0]);
      assertEquals(25 * i + 24, words[1]);
    }
  }

  @Test
  void endsPreferParagraphBreaks() {
    // Paragraphs of 30 words whose sentences end every 6 words; target 50 words.
    StringBuilder sb = new StringBuilder();
    for (int para = 0; para < 20; para++) {
      for (int w = 0; w < 30; w++) {
        sb.append("p").append(para).append("w").append(w).append(w % 6 == 5 ? ". " : " ");
      }
      sb.append("\n\n");
    }
    String text = sb.toString();
    Chunker chunker = new Chunker(50, 10);
    List<Passage> passages = chunker.chunk(text);
    assertWellFormed(text, chunker, passages);
    for (Passage p : passages) {
      int next = p.end();
      while (next < text.length() && Character.isWhitespace(text.charAt(next))) {
        next++;
      }
      assertTrue(
          next == text.length() || text.substring(p.end(), next).contains("\n\n"),
          "passage " + p.index() + " ends mid-paragraph");
    }
  }

  @Test
  void withoutParagraphsEndsPreferSentenceEnds() {
    StringBuilder sb = new StringBuilder();
    for (int w = 0; w < 2000; w++) {
      sb.append("word").append(w).append(w % 7 == 6 ? ". " : " ");
    }
    String text = sb.toString();
    Chunker chunker = new Chunker(50, 10);
    List<Passage> passages = chunker.chunk(text);
    assertWellFormed(text, chunker, passages);
    for (Passage p : passages.subList(0, passages.size() - 1)) {
      assertTrue(p.text().endsWith("."), "passage " + p.index() + " ends mid-sentence");
    }
  }

  @Test
  void aHugeTokenIsSplitAtTheCharacterCap() {
    byte[] random = new byte[768 * 1024];
    new Random(7).nextBytes(random);
    String token = Base64.getEncoder().encodeToString(random); // 1 MiB, no whitespace
    String text = "before the blob " + token + " after the blob";
    Chunker chunker = Chunker.defaults();
    List<Passage> passages = chunker.chunk(text);
    assertWellFormed(text, chunker, passages);
    assertEquals(1600, chunker.maxChars());
    assertTrue(passages.size() >= token.length() / 1600, "passages: " + passages.size());
    StringBuilder rebuilt = new StringBuilder();
    for (Passage p : passages) {
      assertTrue(p.text().length() <= 1600);
      if (p.start() >= 16 && p.end() <= 16 + token.length()) {
        rebuilt.append(p.text()); // pieces strictly inside the token do not overlap
      }
    }
    assertTrue(token.startsWith(rebuilt.toString()), "pieces do not rebuild the token");
    assertTrue(rebuilt.length() > token.length() - 1600, "rebuilt " + rebuilt.length());
  }

  @Test
  void splittingNeverSeparatesASurrogatePair() {
    String text = "😀".repeat(5000); // 10,000 chars with no whitespace
    Chunker chunker = new Chunker(10, 2); // 80-char cap, even: pieces fall on pair boundaries
    Chunker odd = new Chunker(11, 2); // 88-char cap
    for (Chunker c : List.of(chunker, odd)) {
      List<Passage> passages = c.chunk("x" + text);
      assertWellFormed("x" + text, c, passages);
    }
  }

  @Test
  void offsetsAndCoverageHoldOnRandomTexts() {
    long seed = Long.getLong("chunker.seed", System.nanoTime());
    System.out.println(
        "ChunkerTest random seed: " + seed + " (rerun with -Dchunker.seed=" + seed + ")");
    Random random = new Random(seed);
    String[] gaps = {" ", " ", " ", "  ", "\n", "\n\n", "\t", " \r\n", "\n \n", "\u2003"};
    String[] words = {
      "a", "go", "the", "file", "system", "encrypted.", "ok!", "(why?)", "é", "😀", "日本語"
    };
    for (int round = 0; round < 400; round++) {
      StringBuilder sb = new StringBuilder();
      if (random.nextBoolean()) {
        sb.append(gaps[random.nextInt(gaps.length)]);
      }
      int n = random.nextInt(round % 10 == 0 ? 3 : 600);
      for (int i = 0; i < n; i++) {
        if (random.nextInt(50) == 0) {
          sb.append("Z".repeat(random.nextInt(300))); // tokens around and beyond the cap
        } else {
          sb.append(words[random.nextInt(words.length)]);
        }
        sb.append(
            random.nextInt(40) == 0
                ? "   ".repeat(random.nextInt(80))
                : gaps[random.nextInt(gaps.length)]);
      }
      String text = sb.toString();
      int target = 1 + random.nextInt(60);
      Chunker chunker = new Chunker(target, random.nextInt(target));
      assertWellFormed(text, chunker, chunker.chunk(text));
    }
  }

  @Test
  void chunksSixteenMebibytesInOnePass() {
    Chunker chunker = Chunker.defaults();
    StringBuilder prose = new StringBuilder(16 << 20);
    Random random = new Random(1);
    while (prose.length() < 16 << 20) {
      prose
          .append("word")
          .append(random.nextInt(1000))
          .append(random.nextInt(12) == 0 ? ".\n\n" : " ");
    }
    String oneLetterWords = "a ".repeat(8 << 20);
    String oneToken = "x".repeat(16 << 20);
    for (String text : List.of(prose.toString(), oneLetterWords, oneToken)) {
      long started = System.nanoTime();
      List<Passage> passages = chunker.chunk(text);
      long millis = (System.nanoTime() - started) / 1_000_000;
      System.out.printf(
          "chunked %d chars into %d passages in %d ms%n", text.length(), passages.size(), millis);
      assertEquals(text.stripTrailing().length(), passages.get(passages.size() - 1).end());
      Passage previous = null;
      for (Passage p : passages) {
        assertTrue(p.end() - p.start() <= chunker.maxChars());
        assertTrue(
            previous == null || (p.start() > previous.start() && p.start() <= previous.end() + 2));
        previous = p;
      }
    }
  }

  /** The invariants every chunking must satisfy, checked in linear time. */
  static void assertWellFormed(String text, Chunker chunker, List<Passage> passages) {
    int first = 0;
    while (first < text.length() && Character.isWhitespace(text.charAt(first))) {
      first++;
    }
    if (first == text.length()) {
      assertTrue(passages.isEmpty());
      return;
    }
    assertFalse(passages.isEmpty());
    int[] wordLength = wordLengths(text);
    assertEquals(first, passages.get(0).start());
    assertEquals(text.stripTrailing().length(), passages.get(passages.size() - 1).end());
    Passage previous = null;
    for (int i = 0; i < passages.size(); i++) {
      Passage p = passages.get(i);
      String where = "passage " + i + " " + p.start() + ".." + p.end();
      assertEquals(i, p.index());
      assertTrue(p.start() < p.end(), where);
      assertEquals(text.substring(p.start(), p.end()), p.text(), where);
      assertTrue(p.text().length() <= chunker.maxChars(), where);
      assertFalse(Character.isWhitespace(p.text().charAt(0)), where);
      assertFalse(Character.isWhitespace(p.text().charAt(p.text().length() - 1)), where);
      // A boundary inside a word is allowed only in a word longer than the cap.
      for (int cut : new int[] {p.start(), p.end()}) {
        boolean insideWord =
            cut > 0
                && cut < text.length()
                && !Character.isWhitespace(text.charAt(cut - 1))
                && !Character.isWhitespace(text.charAt(cut));
        if (insideWord) {
          assertTrue(wordLength[cut] > chunker.maxChars(), where + " splits a short word");
          assertFalse(Character.isSurrogatePair(text.charAt(cut - 1), text.charAt(cut)), where);
        }
      }
      assertTrue(countWords(p.text()) <= chunker.maxChars() / 8, where);
      if (previous != null) {
        assertTrue(p.start() > previous.start(), where + " does not advance");
        assertTrue(p.end() > previous.end(), where + " adds nothing");
        assertTrue(
            p.start() <= previous.end() || text.substring(previous.end(), p.start()).isBlank(),
            where + " leaves words uncovered");
      }
      previous = p;
    }
  }

  private static int countWords(String s) {
    int words = 0;
    for (int i = 0; i < s.length(); i++) {
      if (!Character.isWhitespace(s.charAt(i))
          && (i == 0 || Character.isWhitespace(s.charAt(i - 1)))) {
        words++;
      }
    }
    return words;
  }

  /** For each position, the length of the whitespace-free run containing it (0 on whitespace). */
  private static int[] wordLengths(String text) {
    int[] lengths = new int[text.length() + 1];
    int i = 0;
    while (i < text.length()) {
      if (Character.isWhitespace(text.charAt(i))) {
        i++;
        continue;
      }
      int j = i;
      while (j < text.length() && !Character.isWhitespace(text.charAt(j))) {
        j++;
      }
      for (int k = i; k < j; k++) {
        lengths[k] = j - i;
      }
      i = j;
    }
    return lengths;
  }

  private static String numberedWords(int from, int to, String separator) {
    StringBuilder sb = new StringBuilder();
    for (int i = from; i < to; i++) {
      sb.append('w').append(i).append(separator);
    }
    return sb.toString();
  }

  /** First and last word number of a passage of "wN" words. */
  private static int[] wordNumbers(Passage p) {
    String[] words = p.text().split(" ");
    return new int[] {
      Integer.parseInt(words[0].substring(1)),
      Integer.parseInt(words[words.length - 1].substring(1))
    };
  }
}
