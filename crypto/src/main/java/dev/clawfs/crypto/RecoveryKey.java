package dev.clawfs.crypto;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import javax.security.auth.Destroyable;

/**
 * A vault's recovery key: a random 256-bit secret written as {@value #WORDS} words, 32 that
 * carry the secret (one byte each, from an embedded list of 256 words) and a checksum word
 * (CRC-8 of the secret), so a mistyped, missing or extra word is caught before any cryptography.
 *
 * <p>The word list ({@code recovery-words.txt}, one word per index 0..255, sorted) holds short
 * lowercase English words of 4 to 6 letters, each pair at least two edits apart and no two
 * sharing their first four letters; so the first four letters of a word are enough, and one
 * wrong letter never turns a word into another word. Changing the list or its order breaks
 * every recovery key printed so far: it is part of the vault format.
 *
 * <p>CRC-8 (polynomial x^8 + x^2 + x + 1, initial value 0) detects every error burst of up to 8
 * bits, so any change of a single word, the checksum word included, is caught; a swap of two
 * words is caught unless the CRC happens to agree (about 1 in 256).
 *
 * <p>The secret is wiped by {@link #destroy()}. The words are secret too: callers print them
 * once, on purpose, and nowhere else.
 */
public final class RecoveryKey implements Destroyable {
  /** Secret size in bytes (256 bits). */
  static final int SECRET_SIZE = 32;
  /** Words in a recovery key: one per secret byte, then the checksum word. */
  public static final int WORDS = SECRET_SIZE + 1;
  /** Words per printed line. */
  static final int PER_LINE = 3;
  private static final byte[] KEK_INFO = "clawfs/v1/recovery-secret".getBytes(StandardCharsets.US_ASCII);
  private static final List<String> WORD_LIST = load();
  private static final Map<String, Integer> INDEX = index(WORD_LIST);

  private final byte[] secret;
  private volatile boolean destroyed;

  private RecoveryKey(byte[] secret) {
    this.secret = secret;
  }

  /** A new random recovery key. */
  static RecoveryKey generate() {
    return new RecoveryKey(Rng.bytes(SECRET_SIZE));
  }

  /** For tests: a key with a given secret (copied). */
  static RecoveryKey ofSecret(byte[] secret) {
    if (secret.length != SECRET_SIZE) {
      throw new IllegalArgumentException("a recovery secret is " + SECRET_SIZE + " bytes");
    }
    return new RecoveryKey(secret.clone());
  }

  /**
   * Reads a recovery key as a person typed or pasted it: case does not matter, words may be
   * separated by any whitespace or punctuation, line numbers ("1:", "2.") are skipped, and a
   * word may be given by its first four letters.
   *
   * @throws WrongRecoveryKeyException naming the problem (the position of an unknown word, the
   *     wrong number of words, a checksum mismatch); the message never quotes a word
   */
  public static RecoveryKey parse(CharSequence text) {
    String[] tokens = text.toString().toLowerCase(Locale.ROOT).split("[^a-z]+");
    List<Integer> values = new ArrayList<>(WORDS);
    for (String t : tokens) {
      if (t.isEmpty()) {
        continue;
      }
      Integer v = INDEX.get(t);
      if (v == null) {
        // the word itself is not quoted: error messages may end up in a log, and a near-miss
        // gives a word of the key away
        throw new WrongRecoveryKeyException("word " + (values.size() + 1) + " is not a recovery key word:"
            + " check its spelling against the printed key");
      }
      values.add(v);
    }
    if (values.isEmpty()) {
      throw new WrongRecoveryKeyException("no recovery key words given");
    }
    if (values.size() != WORDS) {
      throw new WrongRecoveryKeyException("a recovery key has " + WORDS + " words; got " + values.size()
          + " (a line missing or given twice?)");
    }
    byte[] secret = new byte[SECRET_SIZE];
    for (int i = 0; i < SECRET_SIZE; i++) {
      secret[i] = (byte) (int) values.get(i);
    }
    if (crc8(secret) != values.get(SECRET_SIZE)) {
      Arrays.fill(secret, (byte) 0);
      throw new WrongRecoveryKeyException("the recovery key's checksum (its last word) does not match: a word is"
          + " mistyped, or two are swapped");
    }
    return new RecoveryKey(secret);
  }

  /** The words, in order: {@value #WORDS} of them, the checksum last. */
  public List<String> words() {
    checkLive();
    List<String> out = new ArrayList<>(WORDS);
    for (byte b : secret) {
      out.add(WORD_LIST.get(b & 0xff));
    }
    out.add(WORD_LIST.get(crc8(secret)));
    return Collections.unmodifiableList(out);
  }

  /** The words in numbered lines of {@value #PER_LINE}, as printed for the user to write down. */
  public String printable() {
    List<String> w = words();
    StringBuilder b = new StringBuilder();
    for (int i = 0; i < w.size(); i += PER_LINE) {
      StringBuilder line = new StringBuilder(String.format("%2d:", i / PER_LINE + 1));
      for (int j = i; j < Math.min(i + PER_LINE, w.size()); j++) {
        line.append(' ').append(String.format("%-6s", w.get(j)));
      }
      b.append(line.toString().stripTrailing()).append('\n');
    }
    return b.toString();
  }

  /**
   * The recovery key-encryption key: {@code HKDF-SHA256(ikm = secret, salt = vaultId,
   * info = "clawfs/v1/recovery-secret", L = 32)}. No Argon2: the secret is 256 random bits, not a
   * guessable passphrase. The caller wipes the result.
   */
  byte[] kek(byte[] vaultId) {
    checkLive();
    return Hkdf.derive(secret, vaultId, KEK_INFO, Gcm.KEY_SIZE);
  }

  /** The word list (256 words, index = byte value). */
  static List<String> wordList() {
    return WORD_LIST;
  }

  /** CRC-8, polynomial 0x07, initial value 0, no reflection, no final xor. */
  static int crc8(byte[] data) {
    int crc = 0;
    for (byte b : data) {
      crc ^= b & 0xff;
      for (int i = 0; i < 8; i++) {
        crc = (crc & 0x80) != 0 ? ((crc << 1) ^ 0x07) & 0xff : (crc << 1) & 0xff;
      }
    }
    return crc;
  }

  @Override
  public void destroy() {
    destroyed = true;
    Arrays.fill(secret, (byte) 0);
  }

  @Override
  public boolean isDestroyed() {
    return destroyed;
  }

  private void checkLive() {
    if (destroyed) {
      throw new IllegalStateException("recovery key destroyed");
    }
  }

  @Override
  public String toString() {
    return destroyed ? "RecoveryKey[destroyed]" : "RecoveryKey[" + WORDS + " words]";
  }

  private static List<String> load() {
    List<String> words = new ArrayList<>(256);
    try (InputStream in = RecoveryKey.class.getResourceAsStream("recovery-words.txt")) {
      if (in == null) {
        throw new IllegalStateException("recovery-words.txt is missing from the crypto jar");
      }
      BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.US_ASCII));
      for (String line = r.readLine(); line != null; line = r.readLine()) {
        if (!line.isBlank()) {
          words.add(line.strip());
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read the recovery word list", e);
    }
    if (words.size() != 256) {
      throw new IllegalStateException("the recovery word list must hold 256 words, not " + words.size());
    }
    return Collections.unmodifiableList(words);
  }

  /** Each word and its four-letter prefix map to the word's index (the prefixes are unique). */
  private static Map<String, Integer> index(List<String> words) {
    Map<String, Integer> m = new HashMap<>();
    for (int i = 0; i < words.size(); i++) {
      String w = words.get(i);
      if (m.put(w, i) != null) {
        throw new IllegalStateException("recovery word list: \"" + w + "\" is not unique");
      }
    }
    for (int i = 0; i < words.size(); i++) {
      String prefix = words.get(i).substring(0, 4);
      Integer other = m.putIfAbsent(prefix, i);
      if (other != null && other != i) {
        throw new IllegalStateException("recovery word list: the prefix \"" + prefix + "\" is not unique");
      }
    }
    return Map.copyOf(m);
  }
}
