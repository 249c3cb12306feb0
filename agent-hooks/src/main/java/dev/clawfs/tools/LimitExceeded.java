package dev.clawfs.tools;

/**
 * Thrown inside a run (from a host call, the memory or an output stream) to stop the module at once
 * when it goes over a limit. Unchecked so that it passes through Chicory's machine, which turns
 * only I/O exceptions of host calls into WASI error numbers.
 */
final class LimitExceeded extends RuntimeException {

  private final LimitHit limit;

  LimitExceeded(LimitHit limit, String message) {
    super(message, null, false, false);
    this.limit = limit;
  }

  LimitHit limit() {
    return limit;
  }
}
