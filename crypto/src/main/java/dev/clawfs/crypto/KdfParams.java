package dev.clawfs.crypto;

/**
 * Argon2id cost parameters, stored in the vault header. Validated when built so that a hostile
 * or corrupt header cannot ask for an impossible derivation.
 *
 * @param memoryKiB memory in KiB; at least 8 per lane (Argon2's own minimum), at most 4 GiB
 * @param iterations passes over memory, at least 1
 * @param parallelism lanes, 1 to 16
 */
public record KdfParams(int memoryKiB, int iterations, int parallelism) {

  /** 4 GiB in KiB: more than any machine we target should be asked for by a header. */
  static final int MAX_MEMORY_KIB = 4 * 1024 * 1024;

  public KdfParams {
    if (parallelism < 1 || parallelism > 16) {
      throw new IllegalArgumentException("Argon2id parallelism must be 1..16, got " + parallelism);
    }
    if (iterations < 1) {
      throw new IllegalArgumentException("Argon2id iterations must be >= 1, got " + iterations);
    }
    if (memoryKiB < 8 * parallelism) {
      throw new IllegalArgumentException(
          "Argon2id memory must be >= 8 KiB per lane (" + 8 * parallelism + " KiB), got " + memoryKiB);
    }
    if (memoryKiB > MAX_MEMORY_KIB) {
      throw new IllegalArgumentException("Argon2id memory must be <= 4 GiB, got " + memoryKiB + " KiB");
    }
  }

  /** 64 MiB, 3 passes, 1 lane: RFC 9106's second recommended option, about 0.1-0.3 s. */
  public static KdfParams defaults() {
    return new KdfParams(65536, 3, 1);
  }
}
