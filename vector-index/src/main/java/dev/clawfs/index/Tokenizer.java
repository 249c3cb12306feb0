package dev.clawfs.index;

import java.text.Normalizer;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;

/**
 * Splits text into search terms, the same way for indexed passages and for queries: Unicode NFKC,
 * lower case (Locale.ROOT), words are runs of letters and digits (combining marks stay inside a
 * word, so Devanagari or decomposed accents do not split it; {@code _} and all punctuation
 * separate), words longer than {@value #MAX_TERM_LENGTH} code points are dropped, and each word is
 * reduced by the Porter2 (Snowball English) stemmer unless it contains a digit or a letter outside
 * the Latin blocks. Han, Hiragana and Katakana, written without spaces, become one term per
 * character, so a quoted phrase finds a run of characters. The list order is the term position.
 * Thread-safe. It runs over whole files (16 MiB in well under a second), so a repeated ASCII word
 * costs a hash probe and no allocation.
 */
public final class Tokenizer {
  /** Longer words (hashes, base64 runs, minified code) are dropped: they are noise in an index. */
  public static final int MAX_TERM_LENGTH = 64;

  private Tokenizer() {}

  /** The stemmed terms of {@code text}, in order (index = position). */
  public static List<String> terms(String text) {
    List<String> out = new ArrayList<>();
    mapWords(text, Tokenizer::termOf, out::add);
    return out;
  }

  /** Receives the normalised, lower-cased, unstemmed words of a text in order. */
  @FunctionalInterface
  interface WordSink {
    void word(String word);
  }

  /**
   * The words of {@code text} before stemming (what a prefix query is matched against); {@link
   * #termOf} turns one into its term.
   */
  static void words(String text, WordSink sink) {
    scan(text, (s, from, to, ascii) -> sink.word(lowerCase(s, from, to, ascii)));
  }

  /**
   * Passes {@code f(word)} for each word of {@code text} to {@code sink}, in order, calling
   * {@code f} once per distinct word. A repeated word costs a hash probe and no allocation, which
   * is what makes a 16 MiB file cheap: its vocabulary is small next to its length.
   */
  static void mapWords(String text, Function<String, String> f, WordSink sink) {
    WordTable table = new WordTable(f);
    scan(text, (s, from, to, ascii) -> sink.word(table.get(s, from, to, ascii)));
  }

  /** A word as a span of the normalised text; ascii if all its chars are ASCII. */
  @FunctionalInterface
  private interface SpanSink {
    void span(String s, int from, int to, boolean ascii);
  }

  private static final boolean[] WORD_CHAR = new boolean[128];

  static {
    for (char c = 'a'; c <= 'z'; c++) {
      WORD_CHAR[c] = true;
      WORD_CHAR[c - 32] = true;
    }
    for (char c = '0'; c <= '9'; c++) {
      WORD_CHAR[c] = true;
    }
  }

  private static void scan(String text, SpanSink sink) {
    String s = isNfkcStable(text) ? text : Normalizer.normalize(text, Normalizer.Form.NFKC);
    int n = s.length();
    int start = -1; // start of the open word, -1 if none
    int codePoints = 0;
    boolean ascii = true;
    int i = 0;
    while (i < n) {
      char c = s.charAt(i);
      if (c < 0x80) {
        if (WORD_CHAR[c]) {
          if (start < 0) {
            start = i;
            codePoints = 0;
            ascii = true;
          }
          codePoints++;
        } else if (start >= 0) {
          emit(s, start, i, codePoints, ascii, sink);
          start = -1;
        }
        i++;
        continue;
      }
      int cp = s.codePointAt(i);
      int len = Character.charCount(cp);
      if (Character.isLetterOrDigit(cp)) {
        if (isUnspacedScript(cp)) {
          if (start >= 0) {
            emit(s, start, i, codePoints, ascii, sink);
            start = -1;
          }
          emit(s, i, i + len, 1, false, sink);
        } else {
          if (start < 0) {
            start = i;
            codePoints = 0;
          }
          ascii = false;
          codePoints++;
        }
      } else if (start >= 0 && isMark(cp)) {
        ascii = false;
        codePoints++;
      } else if (start >= 0) {
        emit(s, start, i, codePoints, ascii, sink);
        start = -1;
      }
      i += len;
    }
    if (start >= 0) {
      emit(s, start, n, codePoints, ascii, sink);
    }
  }

  private static void emit(String s, int from, int to, int codePoints, boolean ascii, SpanSink sink) {
    if (codePoints <= MAX_TERM_LENGTH) {
      sink.span(s, from, to, ascii);
    }
  }

  private static char lower(char c) {
    return c >= 'A' && c <= 'Z' ? (char) (c + 32) : c;
  }

  private static String lowerCase(String s, int from, int to, boolean ascii) {
    if (!ascii) {
      // Lower-casing can lengthen a word ('İ' becomes "i̇"): the length limit applied before.
      return s.substring(from, to).toLowerCase(Locale.ROOT);
    }
    char[] w = new char[to - from];
    for (int i = from; i < to; i++) {
      w[i - from] = lower(s.charAt(i));
    }
    return new String(w);
  }

  /**
   * Open-addressing map from lower-cased word to f(word), probed with a span of the text so that
   * a known ASCII word is found without building its String.
   */
  private static final class WordTable {
    private final Function<String, String> f;
    private String[] keys = new String[256];
    private String[] values = new String[256];
    private int[] hashes = new int[256];
    private int size;

    WordTable(Function<String, String> f) {
      this.f = f;
    }

    String get(String s, int from, int to, boolean ascii) {
      if (!ascii) {
        // Non-ASCII words are rare in most text: build the String, then probe with it.
        String word = lowerCase(s, from, to, false);
        return get(word, 0, word.length(), true);
      }
      int h = 0;
      for (int i = from; i < to; i++) {
        h = 31 * h + lower(s.charAt(i));
      }
      h ^= h >>> 16;
      int mask = keys.length - 1;
      int len = to - from;
      for (int slot = h & mask; ; slot = (slot + 1) & mask) {
        String k = keys[slot];
        if (k == null) {
          String word = lowerCase(s, from, to, true);
          String value = f.apply(word);
          keys[slot] = word;
          values[slot] = value;
          hashes[slot] = h;
          if (++size * 2 > keys.length) {
            grow();
          }
          return value;
        }
        if (hashes[slot] == h && k.length() == len && sameLowerCase(k, s, from)) {
          return values[slot];
        }
      }
    }

    private static boolean sameLowerCase(String k, String s, int from) {
      for (int i = 0, n = k.length(); i < n; i++) {
        if (k.charAt(i) != lower(s.charAt(from + i))) {
          return false;
        }
      }
      return true;
    }

    private void grow() {
      String[] oldKeys = keys;
      String[] oldValues = values;
      int[] oldHashes = hashes;
      keys = new String[oldKeys.length * 2];
      values = new String[keys.length];
      hashes = new int[keys.length];
      int mask = keys.length - 1;
      for (int i = 0; i < oldKeys.length; i++) {
        if (oldKeys[i] != null) {
          int slot = oldHashes[i] & mask;
          while (keys[slot] != null) {
            slot = (slot + 1) & mask;
          }
          keys[slot] = oldKeys[i];
          values[slot] = oldValues[i];
          hashes[slot] = oldHashes[i];
        }
      }
    }
  }

  /**
   * The term of one word from {@link #words}: its Porter2 stem, or the word itself when it holds
   * a digit ("v2", "2024") or a letter outside Latin (the stemmer only knows English suffixes).
   */
  static String termOf(String word) {
    for (int i = 0; i < word.length(); i++) {
      char c = word.charAt(i);
      if (c >= 0x250 || (c < 0x80 && !(c >= 'a' && c <= 'z'))) {
        return word;
      }
    }
    return Porter2.stem(word);
  }

  /**
   * The Porter2 (Snowball English) stem of a lower-case word, for example "rotated" to "rotat",
   * "generously" to "generous". Words of up to two letters are returned as they are.
   */
  public static String stem(String lowercaseWord) {
    return Porter2.stem(lowercaseWord);
  }

  private static boolean isMark(int cp) {
    int t = Character.getType(cp);
    return t == Character.NON_SPACING_MARK
        || t == Character.COMBINING_SPACING_MARK
        || t == Character.ENCLOSING_MARK;
  }

  /** Scripts written without spaces between words: each character is indexed as a term. */
  private static boolean isUnspacedScript(int cp) {
    if (cp < 0x2E80) {
      return false;
    }
    if (cp <= 0x30FF && cp >= 0x3000) {
      return true; // kana, with the prolonged sound mark (script Common)
    }
    Character.UnicodeScript script = Character.UnicodeScript.of(cp);
    return script == Character.UnicodeScript.HAN
        || script == Character.UnicodeScript.HIRAGANA
        || script == Character.UnicodeScript.KATAKANA;
  }

  /** Text below U+00A0 (ASCII and C1 controls) has no NFKC mapping: skip the normaliser. */
  private static boolean isNfkcStable(String text) {
    for (int i = 0, n = text.length(); i < n; i++) {
      if (text.charAt(i) >= 0xA0) {
        return false;
      }
    }
    return true;
  }

  /**
   * Porter2, the English stemmer of the Snowball project, written from its published description
   * (snowballstem.org, "The English (Porter2) stemming algorithm"): the exceptional forms, the
   * regions R1 and R2 with the gener/commun/arsen prefixes, steps 0, 1a, 1b, 1c, 2, 3, 4 and 5.
   * Works in place on a char array; 'Y' marks a consonant y as in the description.
   */
  private static final class Porter2 {
    private static final Map<String, String> EXCEPTIONS = Map.ofEntries(
        Map.entry("skis", "ski"),
        Map.entry("skies", "sky"),
        Map.entry("dying", "die"),
        Map.entry("lying", "lie"),
        Map.entry("tying", "tie"),
        Map.entry("idly", "idl"),
        Map.entry("gently", "gentl"),
        Map.entry("ugly", "ugli"),
        Map.entry("early", "earli"),
        Map.entry("only", "onli"),
        Map.entry("singly", "singl"),
        Map.entry("sky", "sky"),
        Map.entry("news", "news"),
        Map.entry("howe", "howe"),
        Map.entry("atlas", "atlas"),
        Map.entry("cosmos", "cosmos"),
        Map.entry("bias", "bias"),
        Map.entry("andes", "andes"));

    /** Left unchanged once step 1a has run. */
    private static final Set<String> AFTER_1A_INVARIANT = Set.of(
        "inning", "outing", "canning", "herring", "earring", "proceed", "exceed", "succeed");

    private static final String[] R1_PREFIXES = {"gener", "commun", "arsen"};

    // Suffix lists, longest first, so the first match is the longest (the algorithm acts on the
    // longest matching suffix only, even when its condition then fails).
    private static final String[] STEP2 = {
        "ization", "ational", "fulness", "ousness", "iveness",
        "tional", "biliti", "lessli",
        "entli", "ation", "alism", "aliti", "ousli", "iviti", "fulli",
        "enci", "anci", "abli", "izer", "ator", "alli",
        "bli", "ogi",
        "li"};
    private static final String[] STEP2_TO = {
        "ize", "ate", "ful", "ous", "ive",
        "tion", "ble", "less",
        "ent", "ate", "al", "al", "ous", "ive", "ful",
        "ence", "ance", "able", "ize", "ate", "al",
        "ble", "og",
        ""};
    private static final String[] STEP3 = {
        "ational", "tional", "alize", "icate", "iciti", "ative", "ical", "ness", "ful"};
    private static final String[] STEP3_TO = {"ate", "tion", "al", "ic", "ic", "", "ic", "", ""};
    private static final String[] STEP4 = {
        "ement", "ance", "ence", "able", "ible", "ment",
        "ant", "ent", "ism", "ate", "iti", "ous", "ive", "ize", "ion",
        "al", "er", "ic"};

    private final char[] b;
    private int k; // length of the word in b
    private int p1;
    private int p2;

    private Porter2(String w) {
      b = new char[w.length() + 1]; // step 1b may add one 'e'; no other rule lengthens the word
      w.getChars(0, w.length(), b, 0);
      k = w.length();
    }

    static String stem(String word) {
      String exception = EXCEPTIONS.get(word);
      if (exception != null) {
        return exception;
      }
      if (word.length() < 3) {
        return word;
      }
      Porter2 s = new Porter2(word);
      s.run();
      return new String(s.b, 0, s.k);
    }

    private void run() {
      if (b[0] == '\'') {
        System.arraycopy(b, 1, b, 0, --k);
      }
      boolean y = markConsonantY();
      markRegions();
      step0();
      step1a();
      if (!((k == 6 || k == 7) && AFTER_1A_INVARIANT.contains(new String(b, 0, k)))) {
        step1b();
        step1c();
        step2();
        step3();
        step4();
        step5();
      }
      if (y) {
        for (int i = 0; i < k; i++) {
          if (b[i] == 'Y') {
            b[i] = 'y';
          }
        }
      }
    }

    private static boolean isVowel(char c) {
      return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u' || c == 'y';
    }

    /** Initial y, and y after a vowel, are consonants: written 'Y' until the end. */
    private boolean markConsonantY() {
      boolean any = false;
      if (k > 0 && b[0] == 'y') {
        b[0] = 'Y';
        any = true;
      }
      for (int i = 1; i < k; i++) {
        if (b[i] == 'y' && isVowel(b[i - 1])) {
          b[i] = 'Y';
          any = true;
        }
      }
      return any;
    }

    /** R1 starts after the first non-vowel that follows a vowel; R2 is the same rule within R1. */
    private void markRegions() {
      p1 = -1;
      for (String prefix : R1_PREFIXES) {
        if (startsWith(prefix)) {
          p1 = prefix.length();
          break;
        }
      }
      if (p1 < 0) {
        p1 = regionAfter(0);
      }
      p2 = regionAfter(p1);
    }

    private int regionAfter(int from) {
      for (int i = from + 1; i < k; i++) {
        if (!isVowel(b[i]) && isVowel(b[i - 1])) {
          return i + 1;
        }
      }
      return k;
    }

    private boolean startsWith(String s) {
      if (s.length() > k) {
        return false;
      }
      for (int i = 0; i < s.length(); i++) {
        if (b[i] != s.charAt(i)) {
          return false;
        }
      }
      return true;
    }

    private boolean endsWith(String s) {
      int n = s.length();
      if (n > k) {
        return false;
      }
      for (int i = 0; i < n; i++) {
        if (b[k - n + i] != s.charAt(i)) {
          return false;
        }
      }
      return true;
    }

    /** The index of the longest suffix in {@code list} (longest first) that ends the word, or -1. */
    private int longest(String[] list) {
      for (int i = 0; i < list.length; i++) {
        if (endsWith(list[i])) {
          return i;
        }
      }
      return -1;
    }

    private void replace(int suffixLength, String with) {
      k -= suffixLength;
      with.getChars(0, with.length(), b, k);
      k += with.length();
    }

    private boolean hasVowelBefore(int end) {
      for (int i = 0; i < end; i++) {
        if (isVowel(b[i])) {
          return true;
        }
      }
      return false;
    }

    /**
     * A short syllable ends the first {@code end} chars: non-vowel, vowel, non-vowel other than
     * w, x and Y; or, at the start of the word, vowel then non-vowel.
     */
    private boolean shortSyllableEndingAt(int end) {
      if (end >= 3) {
        char c = b[end - 1];
        if (!isVowel(b[end - 3]) && isVowel(b[end - 2]) && !isVowel(c)
            && c != 'w' && c != 'x' && c != 'Y') {
          return true;
        }
      }
      return end == 2 && isVowel(b[0]) && !isVowel(b[1]);
    }

    private void step0() {
      if (endsWith("'s'")) {
        k -= 3;
      } else if (endsWith("'s")) {
        k -= 2;
      } else if (endsWith("'")) {
        k -= 1;
      }
    }

    private void step1a() {
      if (endsWith("sses")) {
        k -= 2;
      } else if (endsWith("ied") || endsWith("ies")) {
        k -= k - 3 > 1 ? 2 : 1; // "cries" -> "cri", "ties" -> "tie"
      } else if (endsWith("us") || endsWith("ss")) {
        return;
      } else if (endsWith("s") && hasVowelBefore(k - 2)) { // "gaps" -> "gap", "gas" stays
        k -= 1;
      }
    }

    private void step1b() {
      if (endsWith("eedly")) {
        if (k - 5 >= p1) {
          k -= 3;
        }
        return;
      }
      if (endsWith("eed")) {
        if (k - 3 >= p1) {
          k -= 1;
        }
        return;
      }
      int n;
      if (endsWith("ingly")) {
        n = 5;
      } else if (endsWith("edly")) {
        n = 4;
      } else if (endsWith("ing")) {
        n = 3;
      } else if (endsWith("ed")) {
        n = 2;
      } else {
        return;
      }
      if (!hasVowelBefore(k - n)) {
        return;
      }
      k -= n;
      if (endsWith("at") || endsWith("bl") || endsWith("iz")) {
        b[k++] = 'e'; // "luxuriat" -> "luxuriate"
      } else if (k >= 2 && b[k - 1] == b[k - 2] && "bdfgmnprt".indexOf(b[k - 1]) >= 0) {
        k -= 1; // "hopp" -> "hop"
      } else if (p1 >= k && shortSyllableEndingAt(k)) {
        b[k++] = 'e'; // "hop" -> "hope"
      }
    }

    private void step1c() {
      if (k > 2 && (b[k - 1] == 'y' || b[k - 1] == 'Y') && !isVowel(b[k - 2])) {
        b[k - 1] = 'i'; // "cry" -> "cri"; "by" and "say" stay
      }
    }

    private void step2() {
      int i = longest(STEP2);
      if (i < 0) {
        return;
      }
      String suffix = STEP2[i];
      int at = k - suffix.length();
      if (at < p1) {
        return;
      }
      if (suffix.equals("ogi") && (at == 0 || b[at - 1] != 'l')) {
        return;
      }
      if (suffix.equals("li") && (at == 0 || "cdeghkmnrt".indexOf(b[at - 1]) < 0)) {
        return;
      }
      replace(suffix.length(), STEP2_TO[i]);
    }

    private void step3() {
      int i = longest(STEP3);
      if (i < 0) {
        return;
      }
      String suffix = STEP3[i];
      int at = k - suffix.length();
      if (at < p1 || (suffix.equals("ative") && at < p2)) {
        return;
      }
      replace(suffix.length(), STEP3_TO[i]);
    }

    private void step4() {
      int i = longest(STEP4);
      if (i < 0) {
        return;
      }
      String suffix = STEP4[i];
      int at = k - suffix.length();
      if (at < p2) {
        return;
      }
      if (suffix.equals("ion") && (at == 0 || (b[at - 1] != 's' && b[at - 1] != 't'))) {
        return;
      }
      k = at;
    }

    private void step5() {
      if (k == 0) {
        return;
      }
      char last = b[k - 1];
      if (last == 'e') {
        if (k - 1 >= p2 || (k - 1 >= p1 && !shortSyllableEndingAt(k - 1))) {
          k -= 1;
        }
      } else if (last == 'l') {
        if (k - 1 >= p2 && k >= 2 && b[k - 2] == 'l') {
          k -= 1;
        }
      }
    }
  }
}
