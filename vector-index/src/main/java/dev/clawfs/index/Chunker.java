package dev.clawfs.index;

import java.util.ArrayList;
import java.util.List;

/**
 * Cuts extracted text into overlapping {@link Passage}s of about {@code targetWords} words, the
 * unit that is embedded and ranked: small enough to fit an embedding model's window and to quote,
 * large enough to carry meaning.
 *
 * <p>A word is a maximal run of non-whitespace characters ({@link Character#isWhitespace}). A
 * passage starts at a word start and ends at a word end, so it never splits a word and never begins
 * or ends with whitespace; {@code text.substring(start, end)} is exactly its text. Within the last
 * half of the window the end prefers a paragraph break (a blank line); within the last quarter, a
 * sentence end, then a line break; otherwise the window is full. The next passage starts {@code
 * overlapWords} words before the previous end, so a sentence cut at one boundary is whole in a
 * neighbour, and together the passages cover every word in order; each passage starts and ends
 * later than the one before.
 *
 * <p>A passage is also capped at {@code 8 * targetWords} characters (whitespace included), which
 * bounds what an embedder receives from long tokens. A single word longer than the cap (base64,
 * minified code) is the one case that is split, at the cap, never inside a surrogate pair; the
 * overlap shrinks in proportion when the cap shortens a passage.
 *
 * <p>One forward scan that rereads only the overlap and one lookahead word, so time is linear in
 * the text; the working memory besides the passages is three arrays of {@code targetWords} entries.
 * Immutable and thread-safe.
 */
public final class Chunker {
  private static final byte NO_BREAK = 0;
  private static final byte LINE = 1;
  private static final byte SENTENCE = 2;
  private static final byte PARAGRAPH = 3;

  private final int targetWords;
  private final int overlapWords;
  private final int maxChars;

  /**
   * @param targetWords words per passage, 1 to 100,000
   * @param overlapWords words shared by consecutive passages, 0 to {@code targetWords - 1}
   */
  public Chunker(int targetWords, int overlapWords) {
    if (targetWords < 1 || targetWords > 100_000) {
      throw new IllegalArgumentException("targetWords must be 1..100000: " + targetWords);
    }
    if (overlapWords < 0 || overlapWords >= targetWords) {
      throw new IllegalArgumentException(
          "overlapWords must be 0.." + (targetWords - 1) + ": " + overlapWords);
    }
    this.targetWords = targetWords;
    this.overlapWords = overlapWords;
    this.maxChars = 8 * targetWords;
  }

  /** 200-word passages overlapping by 40 words: within a MiniLM or bge window for most prose. */
  public static Chunker defaults() {
    return new Chunker(200, 40);
  }

  /** Longest passage in chars: {@code 8 * targetWords}. */
  public int maxChars() {
    return maxChars;
  }

  /** The passages of {@code text} in order; none if it is empty or only whitespace. */
  public List<Passage> chunk(String text) {
    int length = text.length();
    List<Passage> passages = new ArrayList<>();
    // Words of the current window: starts, ends, and the kind of break that follows each.
    int[] starts = new int[targetWords];
    int[] ends = new int[targetWords];
    byte[] breaks = new byte[targetWords];
    int p = skipWhitespace(text, 0);
    int shared = 0; // words this passage repeats from the previous one
    while (p < length) {
      int limit = (int) Math.min(length, (long) p + maxChars);
      int count = 0;
      boolean atEnd = false;
      boolean split = false;
      int pos = p;
      while (count < targetWords) {
        int end = pos;
        while (end < limit && !Character.isWhitespace(text.charAt(end))) {
          end++;
        }
        if (end == limit && end < length && !Character.isWhitespace(text.charAt(end))) {
          if (count > 0) {
            break; // the next word would run past the cap
          }
          split = true;
          if (Character.isSurrogatePair(text.charAt(end - 1), text.charAt(end))) {
            end--; // keep the pair whole
          }
          starts[0] = pos;
          ends[0] = end;
          breaks[0] = NO_BREAK;
          count = 1;
          break;
        }
        starts[count] = pos;
        ends[count] = end;
        int gap = end;
        int newlines = 0;
        while (gap < limit && Character.isWhitespace(text.charAt(gap))) {
          if (text.charAt(gap) == '\n') {
            newlines++;
          }
          gap++;
        }
        breaks[count] =
            newlines >= 2
                ? PARAGRAPH
                : endsSentence(text, pos, end) ? SENTENCE : newlines == 1 ? LINE : NO_BREAK;
        count++;
        if (gap == length) {
          atEnd = true;
          break;
        }
        if (gap == limit) {
          break; // the next word cannot fit
        }
        pos = gap;
      }

      int e = atEnd ? count : chooseEnd(breaks, count, Math.min(count, shared + 1));
      passages.add(new Passage(passages.size(), p, ends[e - 1], text.substring(p, ends[e - 1])));
      if (atEnd) {
        break;
      }
      // Overlap in proportion to how many words fitted, so char-capped passages overlap less.
      int overlap = (int) Math.min(overlapWords, (long) count * overlapWords / targetWords);
      overlap = Math.min(overlap, e - 1);
      if (overlap > 0 && e == count) {
        // The word after this passage must fit beside the overlap, or the next passage would
        // only repeat words already covered.
        int next =
            nextWordEnd(text, ends[e - 1], (int) Math.min(length, (long) starts[e - 1] + maxChars));
        while (overlap > 0 && (next < 0 || next - starts[e - overlap] > maxChars)) {
          overlap--;
        }
      }
      shared = overlap;
      if (overlap > 0) {
        p = starts[e - overlap];
      } else if (e < count) {
        p = starts[e];
      } else {
        p = split ? ends[0] : skipWhitespace(text, ends[e - 1]);
      }
    }
    return passages;
  }

  /**
   * Number of words to keep out of {@code count}, at least {@code min}: the last paragraph break in
   * the second half, else the strongest break (sentence, then line) in the last quarter, else all.
   */
  private static int chooseEnd(byte[] breaks, int count, int min) {
    int paragraphFloor = Math.max(min, count / 2);
    int otherFloor = Math.max(min, count - count / 4);
    int best = count;
    int bestKind = -1;
    for (int e = count; e >= paragraphFloor; e--) {
      int kind = breaks[e - 1];
      if (kind == PARAGRAPH) {
        return e;
      }
      if (e >= otherFloor && kind > bestKind) {
        best = e;
        bestKind = kind;
      }
    }
    return best;
  }

  private static boolean endsSentence(String text, int start, int end) {
    int i = end - 1;
    while (i > start && "\"')]}»”’".indexOf(text.charAt(i)) >= 0) {
      i--;
    }
    char c = text.charAt(i);
    return c == '.' || c == '!' || c == '?' || c == '…' || c == '。' || c == '！' || c == '？';
  }

  /** End of the first word at or after {@code from}, or -1 if it does not end by {@code bound}. */
  private static int nextWordEnd(String text, int from, int bound) {
    int i = from;
    while (i < bound && Character.isWhitespace(text.charAt(i))) {
      i++;
    }
    while (i < bound && !Character.isWhitespace(text.charAt(i))) {
      i++;
    }
    boolean ended = i == text.length() || Character.isWhitespace(text.charAt(i));
    return ended && i > from && !Character.isWhitespace(text.charAt(i - 1)) ? i : -1;
  }

  private static int skipWhitespace(String text, int from) {
    int i = from;
    while (i < text.length() && Character.isWhitespace(text.charAt(i))) {
      i++;
    }
    return i;
  }
}
