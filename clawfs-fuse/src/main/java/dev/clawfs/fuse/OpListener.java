package dev.clawfs.fuse;

/**
 * Receives one {@link OpEvent} per operation, on the FUSE thread that served it, after the
 * operation completed. An implementation must return at once (hand the event to a queue and
 * never block): it is on the path of every file operation.
 */
@FunctionalInterface
public interface OpListener {
  OpListener NONE = e -> {};

  void completed(OpEvent event);
}
