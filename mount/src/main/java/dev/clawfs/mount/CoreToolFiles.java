package dev.clawfs.mount;

import dev.clawfs.fuse.Attr;
import dev.clawfs.fuse.Caller;
import dev.clawfs.fuse.ClawFileSystem;
import dev.clawfs.fuse.Errno;
import dev.clawfs.fuse.FsException;
import dev.clawfs.tools.ToolFiles;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/**
 * The files a WASM tool reads (and, where granted, writes), served by the ClawFS core: the
 * decrypted content of the mount, never the host disk. Only the stored trees (workspaces/, specs/,
 * agents/, vault/) are served; virtual files (system/, search/, tools/) are not, since a stream
 * such as the audit log would block a tool for ever. Every lookup goes through the core's path
 * API, which does not follow symbolic links (a link is reported as a link; the tool runtime checks
 * each hop itself). Who may read what is decided per run by the tool runtime's PathGate (policy
 * and Unix modes of the caller); here the core is called as root.
 */
final class CoreToolFiles implements ToolFiles {
  private static final int O_RDONLY = 0;
  private static final int O_WRONLY = 1;
  private static final int O_CREAT = 0100;
  private static final int O_TRUNC = 01000;
  private static final int S_IFMT = 0170000;
  private static final int S_IFDIR = 0040000;
  private static final int S_IFLNK = 0120000;
  private static final int S_IFREG = 0100000;

  private final ClawFileSystem fs;

  CoreToolFiles(ClawFileSystem fs) {
    this.fs = fs;
  }

  @Override
  public Stat stat(String path) throws IOException {
    return statOf(path, call(path, () -> fs.getattr(bytes(path))));
  }

  @Override
  public List<Entry> list(String path) throws IOException {
    List<ClawFileSystem.DirEntry> entries = call(path, () -> fs.readdir(bytes(path)));
    List<Entry> out = new ArrayList<>(entries.size());
    String prefix = path.endsWith("/") ? path : path + "/";
    for (ClawFileSystem.DirEntry e : entries) {
      String name = new String(e.name(), StandardCharsets.UTF_8);
      if (name.equals(".") || name.equals("..") || name.indexOf('/') >= 0) {
        continue;
      }
      try {
        out.add(new Entry(name, stat(prefix + name)));
      } catch (NoSuchFileException gone) {
        // removed between the listing and its stat
      }
    }
    return out;
  }

  @Override
  public byte[] read(String path, long offset, int length) throws IOException {
    if (offset < 0 || length < 0) {
      throw new IllegalArgumentException("offset " + offset + ", length " + length);
    }
    Attr a = call(path, () -> fs.getattr(bytes(path)));
    if ((a.mode() & S_IFMT) != S_IFREG) {
      throw new FileSystemException(path, null, "not a regular file");
    }
    long fh = call(path, () -> fs.open(bytes(path), O_RDONLY, Caller.ROOT));
    try {
      byte[] buf = new byte[(int) Math.max(0, Math.min(length, a.size() - Math.min(offset, a.size())))];
      int done = 0;
      while (done < buf.length) {
        int at = done;
        byte[] chunk = new byte[Math.min(buf.length - done, 1 << 20)];
        int n = call(path, () -> fs.read(fh, offset + at, chunk, chunk.length));
        if (n <= 0) {
          break;
        }
        System.arraycopy(chunk, 0, buf, done, n);
        done += n;
      }
      return done == buf.length ? buf : java.util.Arrays.copyOf(buf, done);
    } finally {
      fs.release(fh);
    }
  }

  @Override
  public String readLink(String path) throws IOException {
    return new String(call(path, () -> fs.readlink(bytes(path))), StandardCharsets.UTF_8);
  }

  @Override
  public void write(String path, byte[] content) throws IOException {
    long fh = call(path, () -> fs.create(bytes(path), 0644, O_WRONLY | O_CREAT | O_TRUNC, Caller.ROOT));
    try {
      call(path, () -> {
        fs.ftruncate(fh, 0);
        int done = 0;
        while (done < content.length) {
          int n = Math.min(content.length - done, 1 << 20);
          byte[] chunk = java.util.Arrays.copyOfRange(content, done, done + n);
          done += fs.write(fh, done, chunk, n);
        }
        return null;
      });
    } finally {
      fs.release(fh);
    }
  }

  @Override
  public void createDirectory(String path) throws IOException {
    call(path, () -> {
      fs.mkdir(bytes(path), 0755, Caller.ROOT);
      return null;
    });
  }

  @Override
  public void delete(String path) throws IOException {
    Attr a = call(path, () -> fs.getattr(bytes(path)));
    call(path, () -> {
      if ((a.mode() & S_IFMT) == S_IFDIR) {
        fs.rmdir(bytes(path));
      } else {
        fs.unlink(bytes(path));
      }
      return null;
    });
  }

  @Override
  public void rename(String from, String to) throws IOException {
    served(to);
    call(from, () -> {
      fs.rename(bytes(from), bytes(to));
      return null;
    });
  }

  private static Stat statOf(String path, Attr a) throws IOException {
    Kind kind = switch (a.mode() & S_IFMT) {
      case S_IFDIR -> Kind.DIRECTORY;
      case S_IFLNK -> Kind.SYMLINK;
      case S_IFREG -> Kind.FILE;
      default -> null;
    };
    if (kind == null) {
      throw new NoSuchFileException(path, null, "not a file, directory or link");
    }
    long ns = a.mtimeNs();
    return new Stat(kind, a.size(), Instant.ofEpochSecond(Math.floorDiv(ns, 1_000_000_000L),
        Math.floorMod(ns, 1_000_000_000L)), a.ino());
  }

  private static byte[] bytes(String path) {
    return path.getBytes(StandardCharsets.UTF_8);
  }

  /** Only the stored trees are served (see the class comment); the root itself is not. */
  private static void served(String path) throws NoSuchFileException {
    if (!path.startsWith("/")) {
      throw new NoSuchFileException(path, null, "not an absolute mount path");
    }
    int slash = path.indexOf('/', 1);
    String top = slash < 0 ? path.substring(1) : path.substring(1, slash);
    if (!ClawFileSystem.NAMESPACE.contains(top)) {
      throw new NoSuchFileException(path, null, "tools are served the stored trees only");
    }
  }

  @FunctionalInterface
  private interface CoreCall<T> {
    T call();
  }

  /** Runs a core call on {@code path}, turning its errno into the java.nio exception WASI maps. */
  private static <T> T call(String path, CoreCall<T> c) throws IOException {
    served(path);
    try {
      return c.call();
    } catch (FsException e) {
      throw switch (e.errno()) {
        case Errno.ENOENT -> new NoSuchFileException(path);
        case Errno.EEXIST -> new FileAlreadyExistsException(path);
        case Errno.ENOTEMPTY -> new DirectoryNotEmptyException(path);
        case Errno.ENOTDIR -> new NotDirectoryException(path);
        case Errno.EACCES, Errno.EPERM -> new AccessDeniedException(path, null, e.getMessage());
        default -> new FileSystemException(path, null, Errno.name(e.errno()) + ": " + e.getMessage());
      };
    }
  }
}
