package dev.clawfs.tools;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotLinkException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * {@link ToolFiles} over an in-memory tree, keeping the contract the server's implementation keeps:
 * lookups never follow symbolic links in any component. Counts reads so tests can see that content
 * is fetched on demand.
 */
final class MemoryToolFiles implements ToolFiles {

  private static final Instant T = Instant.parse("2025-01-01T00:00:00Z");

  private final Map<String, Node> nodes = new TreeMap<>();
  private final AtomicLong ids = new AtomicLong(1);
  final AtomicLong reads = new AtomicLong();

  private record Node(Kind kind, byte[] content, String target, long id) {}

  MemoryToolFiles() {
    nodes.put("/", new Node(Kind.DIRECTORY, null, null, ids.getAndIncrement()));
  }

  synchronized MemoryToolFiles dir(String path) {
    mkdirs(path);
    return this;
  }

  synchronized MemoryToolFiles file(String path, String text) {
    return file(path, text.getBytes(StandardCharsets.UTF_8));
  }

  synchronized MemoryToolFiles file(String path, byte[] content) {
    mkdirs(parent(path));
    nodes.put(path, new Node(Kind.FILE, content.clone(), null, ids.getAndIncrement()));
    return this;
  }

  synchronized MemoryToolFiles symlink(String path, String target) {
    mkdirs(parent(path));
    nodes.put(path, new Node(Kind.SYMLINK, null, target, ids.getAndIncrement()));
    return this;
  }

  synchronized byte[] content(String path) {
    Node n = nodes.get(path);
    return n == null || n.kind() != Kind.FILE ? null : n.content().clone();
  }

  synchronized String text(String path) {
    byte[] b = content(path);
    return b == null ? null : new String(b, StandardCharsets.UTF_8);
  }

  private void mkdirs(String path) {
    if (path.equals("/") || nodes.containsKey(path)) {
      return;
    }
    mkdirs(parent(path));
    nodes.put(path, new Node(Kind.DIRECTORY, null, null, ids.getAndIncrement()));
  }

  private static String parent(String path) {
    int slash = path.lastIndexOf('/');
    return slash <= 0 ? "/" : path.substring(0, slash);
  }

  /** The node at path, each ancestor required to be a directory (symlinks are not followed). */
  private Node find(String path) throws IOException {
    if (!path.equals("/")) {
      Node p = find(parent(path));
      if (p == null) {
        return null;
      }
      if (p.kind() != Kind.DIRECTORY) {
        throw new FileSystemException(path, null, "not a directory");
      }
    }
    return nodes.get(path);
  }

  @Override
  public synchronized Stat stat(String path) throws IOException {
    Node n = find(path);
    if (n == null) {
      return null;
    }
    long size =
        n.kind() == Kind.FILE
            ? n.content().length
            : n.kind() == Kind.SYMLINK ? n.target().length() : 0;
    return new Stat(n.kind(), size, T, n.id());
  }

  @Override
  public synchronized List<Entry> list(String path) throws IOException {
    Node n = find(path);
    if (n == null || n.kind() != Kind.DIRECTORY) {
      throw new NoSuchFileException(path);
    }
    String prefix = path.equals("/") ? "/" : path + "/";
    List<Entry> out = new ArrayList<>();
    for (String p : nodes.keySet()) {
      if (p.startsWith(prefix)
          && p.length() > prefix.length()
          && p.indexOf('/', prefix.length()) < 0) {
        out.add(new Entry(p.substring(prefix.length()), stat(p)));
      }
    }
    return out;
  }

  @Override
  public synchronized byte[] read(String path, long offset, int length) throws IOException {
    Node n = find(path);
    if (n == null || n.kind() != Kind.FILE) {
      throw new NoSuchFileException(path);
    }
    reads.incrementAndGet();
    int from = (int) Math.min(offset, n.content().length);
    return Arrays.copyOfRange(
        n.content(), from, (int) Math.min(n.content().length, from + (long) length));
  }

  @Override
  public synchronized String readLink(String path) throws IOException {
    Node n = find(path);
    if (n == null || n.kind() != Kind.SYMLINK) {
      throw new NotLinkException(path);
    }
    return n.target();
  }

  @Override
  public synchronized void write(String path, byte[] content) throws IOException {
    Node p = find(parent(path));
    if (p == null || p.kind() != Kind.DIRECTORY) {
      throw new NoSuchFileException(path);
    }
    Node old = nodes.get(path);
    nodes.put(
        path,
        new Node(Kind.FILE, content.clone(), null, old == null ? ids.getAndIncrement() : old.id()));
  }

  @Override
  public synchronized void createDirectory(String path) throws IOException {
    Node p = find(parent(path));
    if (p == null || p.kind() != Kind.DIRECTORY) {
      throw new NoSuchFileException(path);
    }
    if (nodes.containsKey(path)) {
      throw new FileAlreadyExistsException(path);
    }
    nodes.put(path, new Node(Kind.DIRECTORY, null, null, ids.getAndIncrement()));
  }

  @Override
  public synchronized void delete(String path) throws IOException {
    Node n = find(path);
    if (n == null) {
      throw new NoSuchFileException(path);
    }
    if (n.kind() == Kind.DIRECTORY && !list(path).isEmpty()) {
      throw new DirectoryNotEmptyException(path);
    }
    nodes.remove(path);
  }

  @Override
  public synchronized void rename(String from, String to) throws IOException {
    Node n = find(from);
    if (n == null) {
      throw new NoSuchFileException(from);
    }
    if (n.kind() == Kind.DIRECTORY) {
      throw new FileSystemException(from, to, "directories are not renamed in this test tree");
    }
    nodes.remove(from);
    nodes.put(to, n);
  }
}
