package dev.clawfs.fuse;

import java.util.List;
import java.util.function.Supplier;

/**
 * What a virtual path is: a directory listing, a file whose content is produced when it is
 * opened, or a symbolic link. Produced by a {@link VirtualTree} on every lookup, so it is always
 * current; the provider caches whatever is expensive.
 */
public sealed interface VirtualNode permits VirtualNode.Directory, VirtualNode.File, VirtualNode.Link {

  /** A listed name and whether it is a directory, a file or a link (for readdir's d_type). */
  record Entry(String name, Kind kind) {}

  enum Kind { DIRECTORY, FILE, LINK }

  /** A directory; entries are listed on readdir. */
  record Directory(Supplier<List<Entry>> entries) implements VirtualNode {}

  /**
   * A file. {@code content} is called at open (and stat, for the size) and must not block for
   * long or return secrets. {@code writer} is null for read-only files; otherwise only the
   * owner (root) may open it for writing, the bytes written through one descriptor are collected
   * and handed to it when the descriptor is closed, and an {@link FsException} it throws is what
   * close(2) returns.
   */
  record File(Supplier<byte[]> content, WriteHandler writer) implements VirtualNode {
    public static File readOnly(Supplier<byte[]> content) {
      return new File(content, null);
    }
  }

  /** A symbolic link, for example from a search hit to the real file. */
  record Link(String target) implements VirtualNode {}

  /** Receives what was written to a writable virtual file, when its descriptor is closed. */
  @FunctionalInterface
  interface WriteHandler {
    void written(byte[] data, Caller caller);
  }

  /** Kind of a node, for listings. */
  static Kind kindOf(VirtualNode n) {
    if (n instanceof Directory) {
      return Kind.DIRECTORY;
    }
    return n instanceof Link ? Kind.LINK : Kind.FILE;
  }
}
