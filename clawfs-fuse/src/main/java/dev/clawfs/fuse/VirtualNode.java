package dev.clawfs.fuse;

import java.util.List;
import java.util.function.Supplier;

/**
 * What a virtual path is: a directory listing, a file whose content is produced when it is
 * opened, a stream that grows while it is read, or a symbolic link. Produced by a {@link
 * VirtualTree} on every lookup, so it is always current; the provider caches whatever is
 * expensive.
 */
public sealed interface VirtualNode
    permits VirtualNode.Directory, VirtualNode.File, VirtualNode.Stream, VirtualNode.Session,
        VirtualNode.Link {

  /** A listed name and whether it is a directory, a file or a link (for readdir's d_type). */
  record Entry(String name, Kind kind) {}

  enum Kind { DIRECTORY, FILE, LINK }

  /**
   * A directory; entries are listed on readdir. {@code files} is null, or lets root create and
   * remove files in it (create(2), unlink(2)).
   */
  record Directory(Supplier<List<Entry>> entries, Files files, int perm) implements VirtualNode {
    public Directory(Supplier<List<Entry>> entries) {
      this(entries, null, 0555);
    }

    public Directory(Supplier<List<Entry>> entries, Files files) {
      this(entries, files, 0555);
    }
  }

  /** Creation and removal of files in a {@link Directory} that allows them. */
  interface Files {
    /**
     * A new file named {@code name} is being created (and opened for writing): return its node,
     * which must be writable and must be what the directory resolves {@code name} to from now on
     * (libfuse stats it right after). Throw {@link FsException} to refuse.
     */
    File create(String name, Caller caller);

    /** {@code name} is being removed (unlink or rmdir); throw {@link FsException} to refuse. */
    void remove(String name, Caller caller);

    /** mkdir(2) of {@code name}; refused unless the directory allows it. */
    default void mkdir(String name, Caller caller) {
      throw new FsException(Errno.EACCES, "cannot make a directory here");
    }
  }

  /**
   * A file. {@code content} is called at open (and stat, for the size) and must not block for
   * long or return secrets. {@code writer} is null for read-only files; otherwise only the
   * owner (root) may open it for writing, the bytes written through one descriptor are collected
   * and handed to it when the descriptor is closed, and an {@link FsException} it throws is what
   * close(2) returns. {@code perm} is the permission bits stat shows (owner root).
   */
  record File(Supplier<byte[]> content, WriteHandler writer, int perm) implements VirtualNode {
    public File(Supplier<byte[]> content, WriteHandler writer) {
      this(content, writer, writer == null ? 0444 : 0644);
    }

    public static File readOnly(Supplier<byte[]> content) {
      return new File(content, null);
    }
  }

  /**
   * A read-only file that grows while it is read (see {@link StreamSource}): its size is what was
   * appended so far, reads at the end wait for more (or fail with EAGAIN under O_NONBLOCK), and
   * it is served without the page cache. {@code perm} as for {@link File}.
   */
  record Stream(StreamSource source, int perm) implements VirtualNode {}

  /**
   * A transaction on one descriptor (open read-write, write the request, read the reply): each
   * open gets its own {@link SessionSource.Session}; reads and writes ignore the offset, like a
   * pipe's. Served without the page cache; its size is 0. {@code perm} is what stat shows (owner
   * root); the policy gate decides who may open it.
   */
  record Session(SessionSource source, int perm) implements VirtualNode {}

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
