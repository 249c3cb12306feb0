package dev.clawfs.fuse;

/**
 * A read-only virtual file: its content is produced when it is opened (or stat'ed), so it is
 * always current. Features register them under a virtual top-level directory; the core knows
 * nothing about what they mean.
 */
@FunctionalInterface
public interface VirtualFile {
  /** The whole content as of now. Must not block for long and must never include secrets. */
  byte[] content();
}
