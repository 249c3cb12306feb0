package dev.clawfs.fuse;

import java.util.List;

/**
 * A read-mostly subtree a feature serves under a top-level name of the mount (search/, system/).
 * The core knows nothing of what the files mean: it asks the tree what a path is and serves it.
 * Implementations are called on FUSE threads concurrently and must be thread-safe.
 */
@FunctionalInterface
public interface VirtualTree {
  /**
   * The node at {@code path}: the components below the top-level name, decoded as UTF-8
   * (empty for the top itself). Throws {@link FsException} (usually ENOENT) when there is none.
   */
  VirtualNode resolve(List<String> path, Caller caller);
}
