package dev.clawfs.index;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** The four bundled models, loaded from their Maven artifacts; no network is involved. */
class OnnxEmbedderTest {
  private static final Map<String, OnnxEmbedder> LOADED = new HashMap<>();

  // Common English words, each one word piece in the models' uncased BERT vocabulary, so that
  // n of them make exactly n + 2 tokens with [CLS] and [SEP].
  private static final String[] WORDS = {
    "house", "river", "city", "water", "light", "music", "garden", "paper", "window", "table",
    "morning", "evening", "road", "tree", "bird", "stone", "horse", "school", "friend", "market",
    "summer", "winter", "ship", "island", "mountain", "village", "forest", "bridge", "letter",
        "story"
  };

  static List<String> models() {
    return OnnxEmbedder.names();
  }

  private static synchronized OnnxEmbedder embedder(String name) throws IOException {
    OnnxEmbedder e = LOADED.get(name);
    if (e == null) {
      e = OnnxEmbedder.load(name, 2);
      LOADED.put(name, e);
    }
    return e;
  }

  @AfterAll
  static void closeAll() {
    LOADED.values().forEach(OnnxEmbedder::close);
  }

  @ParameterizedTest
  @MethodSource("models")
  void givesUnitVectorsOfTheModelsDimensionInOrder(String name) throws IOException {
    OnnxEmbedder e = embedder(name);
    assertEquals(name, e.name());
    assertEquals(384, e.dimension());
    List<String> passages =
        List.of(
            "The kernel mounts the root file system read-only during early boot.",
            "Bake the bread for forty minutes until the crust is golden.",
            "Swap space lets the system move idle memory pages to disk.");
    List<float[]> vectors = e.embedPassages(passages);
    assertEquals(3, vectors.size());
    for (int i = 0; i < vectors.size(); i++) {
      float[] v = vectors.get(i);
      assertEquals(384, v.length);
      assertEquals(1.0, Vectors.norm(v), 1e-5, "norm of vector " + i);
      // In order: each passage on its own gives the vector at its position.
      assertArrayEquals(e.embedPassages(List.of(passages.get(i))).get(0), v, 1e-6f);
    }
    assertEquals(1.0, Vectors.norm(e.embedQuery("how does the system boot")), 1e-5);
  }

  @ParameterizedTest
  @MethodSource("models")
  void isDeterministic(String name) throws IOException {
    OnnxEmbedder e = embedder(name);
    List<String> passages = List.of("Encrypted files are stored in chunks.", "A second passage.");
    List<float[]> first = e.embedPassages(passages);
    List<float[]> second = e.embedPassages(passages);
    for (int i = 0; i < passages.size(); i++) {
      assertArrayEquals(first.get(i), second.get(i));
    }
    assertArrayEquals(e.embedQuery("chunks"), e.embedQuery("chunks"));
  }

  @ParameterizedTest
  @MethodSource("models")
  void ranksTheRelatedPassageAboveTheUnrelatedOne(String name) throws IOException {
    OnnxEmbedder e = embedder(name);
    List<float[]> p =
        e.embedPassages(
            List.of(
                "To fix a punctured bicycle tyre, take the wheel off, lever the tyre from the rim"
                    + " and patch or replace the inner tube.",
                "The central bank raised interest rates by a quarter point to slow inflation.",
                "A kitten is napping on the couch.",
                "A cat sleeps on the sofa."));
    float[] q = e.embedQuery("how do I repair a flat tire on my bike");
    assertTrue(
        Vectors.dot(q, p.get(0)) > Vectors.dot(q, p.get(1)) + 0.1,
        () -> name + ": " + Vectors.dot(q, p.get(0)) + " vs " + Vectors.dot(q, p.get(1)));
    // Passage to passage: the two cat sentences are closer than either is to the bank.
    assertTrue(Vectors.dot(p.get(2), p.get(3)) > Vectors.dot(p.get(2), p.get(1)) + 0.1);
    assertTrue(Vectors.dot(p.get(2), p.get(3)) > Vectors.dot(p.get(3), p.get(1)) + 0.1);
  }

  @ParameterizedTest
  @MethodSource("models")
  void truncatesAtTheModelsWindowAndNotBefore(String name) throws IOException {
    OnnxEmbedder e = embedder(name);
    int window = e.maxTokens();
    assertEquals(name.startsWith("bge") ? 512 : 256, window);
    int fits = window - 2; // words that fill the window beside [CLS] and [SEP]
    List<float[]> v =
        e.embedPassages(
            List.of(words(fits - 1), words(fits), words(fits + 40), words(126), words(200)));
    assertFalse(Arrays.equals(v.get(0), v.get(1)), "the last word that fits changes the vector");
    assertArrayEquals(v.get(1), v.get(2), "words past the window are ignored");
    // The artifact's MiniLM tokenizer alone would stop at 128 tokens (126 words).
    assertTrue(Vectors.dot(v.get(3), v.get(4)) < 0.9999, "words 127..200 count");
  }

  @ParameterizedTest
  @MethodSource("models")
  void prefixesQueriesWithTheInstructionOnlyForBge(String name) throws IOException {
    OnnxEmbedder e = embedder(name);
    String text = "encrypted search index";
    float[] asQuery = e.embedQuery(text);
    float[] asPassage = e.embedPassages(List.of(text)).get(0);
    if (name.startsWith("bge")) {
      assertFalse(Arrays.equals(asQuery, asPassage));
      float[] instructed =
          e.embedPassages(
                  List.of("Represent this sentence for searching relevant passages: " + text))
              .get(0);
      assertArrayEquals(instructed, asQuery, 1e-6f);
    } else {
      assertArrayEquals(asPassage, asQuery, 1e-6f);
    }
  }

  @Test
  void oneThreadAndTwoGiveTheSameVectors() throws IOException {
    List<String> passages = new ArrayList<>();
    for (int i = 0; i < 9; i++) {
      passages.add(words(20 + 15 * i));
    }
    List<float[]> two = embedder(OnnxEmbedder.DEFAULT).embedPassages(passages);
    try (OnnxEmbedder single = OnnxEmbedder.load(OnnxEmbedder.DEFAULT, 1)) {
      List<float[]> one = single.embedPassages(passages);
      for (int i = 0; i < passages.size(); i++) {
        assertArrayEquals(two.get(i), one.get(i), 1e-6f, "passage " + i);
      }
    }
  }

  @Test
  void rejectsUnknownNamesListingTheValidOnes() {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> OnnxEmbedder.load("gpt-embed", 1));
    for (String valid : OnnxEmbedder.names()) {
      assertTrue(e.getMessage().contains(valid), e.getMessage());
    }
    assertTrue(e.getMessage().contains("gpt-embed"));
    assertEquals(
        List.of(
            "all-minilm-l6-v2", "all-minilm-l6-v2-q", "bge-small-en-v1.5", "bge-small-en-v1.5-q"),
        OnnxEmbedder.names());
    assertTrue(OnnxEmbedder.names().contains(OnnxEmbedder.DEFAULT));
    assertThrows(IllegalArgumentException.class, () -> OnnxEmbedder.load(OnnxEmbedder.DEFAULT, 0));
  }

  @Test
  void handlesEmptyAndBlankInput() throws IOException {
    OnnxEmbedder e = embedder(OnnxEmbedder.DEFAULT);
    assertEquals(List.of(), e.embedPassages(List.of()));
    IllegalArgumentException blank =
        assertThrows(IllegalArgumentException.class, () -> e.embedPassages(List.of("ok", " \n")));
    assertTrue(blank.getMessage().contains("passage 1"), blank.getMessage());
    assertThrows(IllegalArgumentException.class, () -> e.embedQuery(""));
  }

  @Test
  void refusesWorkAfterClose() throws IOException {
    OnnxEmbedder e = OnnxEmbedder.load(OnnxEmbedder.DEFAULT, 2);
    e.close();
    e.close(); // idempotent
    assertThrows(IllegalStateException.class, () -> e.embedPassages(List.of("text")));
    assertThrows(IllegalStateException.class, () -> e.embedQuery("text"));
  }

  @Test
  void rewritesTheTokenizersTruncation() throws IOException {
    byte[] json =
        "{\"truncation\":{\"max_length\":128},\"padding\":{\"strategy\":\"x\"},\"model\":{}}"
            .getBytes(StandardCharsets.UTF_8);
    String out = new String(OnnxEmbedder.withTruncation(json, 256), StandardCharsets.UTF_8);
    assertTrue(out.contains("\"max_length\":256"), out);
    assertTrue(out.contains("\"padding\":null"), out);
    assertTrue(out.contains("\"model\":{}"), out);
  }

  /** {@code n} words from {@link #WORDS} in a fixed, varied order. */
  private static String words(int n) {
    StringBuilder b = new StringBuilder();
    long x = 7;
    for (int i = 0; i < n; i++) {
      x = (x * 1103515245 + 12345) & 0x7fffffff;
      b.append(i == 0 ? "" : " ").append(WORDS[(int) (x % WORDS.length)]);
    }
    return b.toString();
  }
}
