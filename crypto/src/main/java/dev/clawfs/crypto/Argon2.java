package dev.clawfs.crypto;

import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import org.bouncycastle.crypto.generators.Argon2BytesGenerator;
import org.bouncycastle.crypto.params.Argon2Parameters;

/**
 * Argon2id (RFC 9106, version 0x13) through Bouncy Castle: the only use of Bouncy Castle here.
 * The known-answer test calls {@link #derive} directly, so it covers the same path as unlocking.
 */
final class Argon2 {
  static final int KEK_SIZE = 32;

  private Argon2() {}

  /** Derives the vault's key-encryption key from a passphrase (UTF-8, not normalised). */
  static byte[] deriveKek(char[] passphrase, byte[] salt, KdfParams params) {
    byte[] password = utf8(passphrase);
    try {
      return derive(password, salt, null, null,
          params.memoryKiB(), params.iterations(), params.parallelism(), KEK_SIZE);
    } finally {
      Arrays.fill(password, (byte) 0);
    }
  }

  /** Raw Argon2id; secret and associatedData may be null (the vault uses neither). */
  static byte[] derive(byte[] password, byte[] salt, byte[] secret, byte[] associatedData,
      int memoryKiB, int iterations, int parallelism, int length) {
    Argon2Parameters.Builder b = new Argon2Parameters.Builder(Argon2Parameters.ARGON2_id)
        .withVersion(Argon2Parameters.ARGON2_VERSION_13)
        .withMemoryAsKB(memoryKiB)
        .withIterations(iterations)
        .withParallelism(parallelism)
        .withSalt(salt);
    if (secret != null) {
      b.withSecret(secret);
    }
    if (associatedData != null) {
      b.withAdditional(associatedData);
    }
    Argon2BytesGenerator gen = new Argon2BytesGenerator();
    gen.init(b.build());
    byte[] out = new byte[length];
    gen.generateBytes(password, out);
    return out;
  }

  /** UTF-8 without going through a String, so the copy can be wiped. */
  static byte[] utf8(char[] chars) {
    ByteBuffer buf;
    try {
      buf = StandardCharsets.UTF_8.newEncoder()
          .onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT)
          .encode(CharBuffer.wrap(chars));
    } catch (CharacterCodingException e) {
      throw new IllegalArgumentException("passphrase is not valid Unicode (lone surrogate)");
    }
    byte[] out = new byte[buf.remaining()];
    buf.get(out);
    if (buf.hasArray()) {
      Arrays.fill(buf.array(), (byte) 0);
    }
    return out;
  }
}
