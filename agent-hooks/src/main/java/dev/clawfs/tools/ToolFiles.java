package dev.clawfs.tools;

import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.time.Instant;
import java.util.List;
import java.util.Objects;

/**
 * The files a tool may be shown, by mount path ({@code "/workspaces/x/a.md"}: absolute, no {@code
 * "."} or {@code ".."} segments, no trailing slash). The server implements it over the ClawFS core,
 * so a tool reads decrypted content through the same code as any caller and never the host disk.
 * The runtime only asks for paths under the roots granted to the run, after the caller's policy
 * allowed them ({@link PathGate}).
 *
 * <p>Implementations resolve a path without following symbolic links in any component (as the
 * core's lookups do: FUSE leaves symlinks to the kernel); a symlink is reported as one, and the
 * runtime resolves its target itself, through the same grant checks.
 *
 * <p>The write methods are needed only for roots a manifest and policy grant for writing; their
 * defaults refuse.
 */
public interface ToolFiles {

  /** What is at {@code path}, or {@code null} when nothing is. */
  Stat stat(String path) throws IOException;

  /** The entries of directory {@code path} (not "." or ".."), each with its attributes. */
  List<Entry> list(String path) throws IOException;

  /**
   * Up to {@code length} bytes of regular file {@code path} from {@code offset}; fewer only at the
   * end of the file, none at or past it.
   */
  byte[] read(String path, long offset, int length) throws IOException;

  /** The target of symbolic link {@code path}, as stored. */
  default String readLink(String path) throws IOException {
    throw new AccessDeniedException(path, null, "symbolic links are not served");
  }

  /** Creates or replaces regular file {@code path} with {@code content}. */
  default void write(String path, byte[] content) throws IOException {
    throw new AccessDeniedException(path, null, "read-only");
  }

  /** Creates directory {@code path}; its parent exists. */
  default void createDirectory(String path) throws IOException {
    throw new AccessDeniedException(path, null, "read-only");
  }

  /** Deletes the file, symlink or empty directory at {@code path}. */
  default void delete(String path) throws IOException {
    throw new AccessDeniedException(path, null, "read-only");
  }

  /** Renames {@code from} to {@code to}, replacing a file at {@code to}. */
  default void rename(String from, String to) throws IOException {
    throw new AccessDeniedException(from, to, "read-only");
  }

  /** The kinds of node a tool can see; devices, sockets and the like are not shown. */
  enum Kind {
    FILE,
    DIRECTORY,
    SYMLINK
  }

  /**
   * Attributes of one node.
   *
   * @param kind file, directory or symlink
   * @param size content bytes (0 for a directory)
   * @param modified last modification
   * @param id a number unique among the nodes of the mount (the inode number), for WASI's ino
   */
  record Stat(Kind kind, long size, Instant modified, long id) {
    public Stat {
      Objects.requireNonNull(kind, "kind");
      Objects.requireNonNull(modified, "modified");
      if (size < 0) {
        throw new IllegalArgumentException("size " + size);
      }
    }
  }

  /** One directory entry: a name (no '/') and its attributes. */
  record Entry(String name, Stat stat) {
    public Entry {
      Objects.requireNonNull(stat, "stat");
      if (name.isEmpty() || name.indexOf('/') >= 0 || name.equals(".") || name.equals("..")) {
        throw new IllegalArgumentException("bad entry name: " + name);
      }
    }
  }
}
