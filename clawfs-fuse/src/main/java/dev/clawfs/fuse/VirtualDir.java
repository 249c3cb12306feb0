package dev.clawfs.fuse;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.function.Supplier;

/**
 * A virtual directory of named children that features add to at start-up: files, nested
 * directories and whole trees (system/ is one, with index/, audit/ and so on from different
 * modules). Thread-safe.
 */
public final class VirtualDir implements VirtualTree {
  private final Map<String, VirtualTree> children = new ConcurrentSkipListMap<>();

  /** Adds a read-only file whose content is produced at each open. */
  public VirtualDir file(String name, Supplier<byte[]> content) {
    return add(name, VirtualNode.File.readOnly(content));
  }

  /** Adds a file that root may also write (see {@link VirtualNode.File}). */
  public VirtualDir file(String name, Supplier<byte[]> content, VirtualNode.WriteHandler writer) {
    return add(name, new VirtualNode.File(content, writer));
  }

  /** Adds a file with the given permission bits (see {@link VirtualNode.File}). */
  public VirtualDir file(String name, Supplier<byte[]> content, VirtualNode.WriteHandler writer, int perm) {
    return add(name, new VirtualNode.File(content, writer, perm));
  }

  /** Adds a stream (see {@link VirtualNode.Stream}). */
  public VirtualDir stream(String name, StreamSource source, int perm) {
    return add(name, new VirtualNode.Stream(source, perm));
  }

  /** Adds a transaction file (see {@link VirtualNode.Session}). */
  public VirtualDir session(String name, SessionSource source, int perm) {
    return add(name, new VirtualNode.Session(source, perm));
  }

  /** The child directory of that name, created empty if absent. */
  public VirtualDir dir(String name) {
    VirtualTree t = children.computeIfAbsent(name, k -> new VirtualDir());
    if (!(t instanceof VirtualDir d)) {
      throw new IllegalStateException(name + " is not a plain virtual directory");
    }
    return d;
  }

  /** Mounts a whole tree (a dynamic one such as search results) at a name. */
  public VirtualDir tree(String name, VirtualTree tree) {
    children.put(name, tree);
    return this;
  }

  private VirtualDir add(String name, VirtualNode node) {
    children.put(name, (path, caller) -> {
      if (!path.isEmpty()) {
        throw new FsException(Errno.ENOTDIR, "not a directory");
      }
      return node;
    });
    return this;
  }

  @Override
  public VirtualNode resolve(List<String> path, Caller caller) {
    if (path.isEmpty()) {
      return new VirtualNode.Directory(() -> {
        List<VirtualNode.Entry> out = new ArrayList<>();
        for (Map.Entry<String, VirtualTree> e : children.entrySet()) {
          VirtualNode n;
          try {
            n = e.getValue().resolve(List.of(), caller);
          } catch (FsException ex) {
            continue;
          }
          out.add(new VirtualNode.Entry(e.getKey(), VirtualNode.kindOf(n)));
        }
        return out;
      });
    }
    VirtualTree child = children.get(path.get(0));
    if (child == null) {
      throw new FsException(Errno.ENOENT, "no such virtual file");
    }
    return child.resolve(path.subList(1, path.size()), caller);
  }
}
