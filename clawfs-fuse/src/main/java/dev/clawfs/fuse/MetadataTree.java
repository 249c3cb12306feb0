package dev.clawfs.fuse;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The directory tree a {@link MetadataSnapshot} describes: which inodes the root reaches, the path
 * of each, the link counts the entries imply, and what no directory reaches. The same rules as
 * {@link MetadataStore#load}, which applies them silently at mount.
 */
final class MetadataTree {
  final MetadataSnapshot snap;
  /** Entries by parent, from directories that exist. */
  final Map<Long, List<MetadataSnapshot.Entry>> children = new HashMap<>();
  /** Primary path of each inode the root reaches, and of lost inodes that a reached entry names. */
  final Map<Long, byte[]> paths = new HashMap<>();
  /** Inodes the root reaches, in breadth-first order. */
  final Set<Long> reachable = new LinkedHashSet<>();
  /** Links each reached inode should have (as MetadataStore.load counts them). */
  final Map<Long, Integer> expectedLinks = new HashMap<>();
  /** Directories reached through more than one entry. */
  final Set<Long> multiplyLinkedDirs = new HashSet<>();
  /** Entries in a directory the root reaches whose child does not exist (lost records excluded). */
  final List<MetadataSnapshot.Entry> dangling = new ArrayList<>();
  /** Entries whose parent is not a directory that exists. */
  final List<MetadataSnapshot.Entry> homeless = new ArrayList<>();
  /** Entries with libfuse's hidden names (files unlinked while open). */
  final List<MetadataSnapshot.Entry> hidden = new ArrayList<>();
  /** Unreached inodes that no existing directory names: the tops of what is unreachable. */
  final List<Long> orphanRoots = new ArrayList<>();
  /** Every unreached inode, but those unlinked while open. */
  final Set<Long> orphans = new LinkedHashSet<>();
  /**
   * Unreached files whose record says no links: unlinked while open, then a crash. Not orphans:
   * their owner deleted them, and a mount removes them.
   */
  final Set<Long> unlinkedWhileOpen = new LinkedHashSet<>();
  /** Inodes in /workspaces/lost+found (and below it). */
  final Set<Long> quarantined = new HashSet<>();
  /** The /workspaces/lost+found directory, or null. */
  Long lostFound;

  MetadataTree(MetadataSnapshot snap) {
    this.snap = snap;
    Map<Long, Inode> inodes = snap.inodes;
    Map<Long, Boolean> namedByExisting = new HashMap<>();
    for (MetadataSnapshot.Entry e : snap.entries) {
      Inode p = inodes.get(e.parent());
      if (p == null || !p.isDir()) {
        homeless.add(e);
        continue;
      }
      children.computeIfAbsent(e.parent(), k -> new ArrayList<>()).add(e);
      namedByExisting.put(e.child(), true);
    }
    Inode root = inodes.get(MetadataStore.ROOT_ID);
    if (root != null && root.isDir()) {
      walk(root.id, new byte[] {'/'});
      Long ws = childNamed(root.id, "workspaces");
      lostFound = ws == null ? null : childNamed(ws, VaultCheck.LOST_FOUND);
      if (lostFound != null && inodes.containsKey(lostFound) && inodes.get(lostFound).isDir()) {
        collectBelow(lostFound, quarantined);
      } else {
        lostFound = null;
      }
    }
    for (long id : inodes.keySet()) {
      Inode n = inodes.get(id);
      if (!reachable.contains(id) && !n.isDir() && n.nlink <= 0 && !namedByExisting.containsKey(id)) {
        unlinkedWhileOpen.add(id);
      } else if (!reachable.contains(id)) {
        orphans.add(id);
        if (!namedByExisting.containsKey(id)) {
          orphanRoots.add(id);
        }
      }
    }
    // an unreachable cycle (a directory inside itself) has no root: take its lowest inode
    Set<Long> covered = new HashSet<>();
    for (long r : orphanRoots) {
      collectBelow(r, covered);
    }
    for (long id : orphans) {
      if (!covered.contains(id)) {
        orphanRoots.add(id);
        collectBelow(id, covered);
      }
    }
  }

  private void walk(long rootId, byte[] rootPath) {
    ArrayDeque<Long> todo = new ArrayDeque<>();
    todo.add(rootId);
    reachable.add(rootId);
    paths.put(rootId, rootPath);
    expectedLinks.put(rootId, 1);
    while (!todo.isEmpty()) {
      long d = todo.poll();
      byte[] dp = paths.get(d);
      for (MetadataSnapshot.Entry e : children.getOrDefault(d, List.of())) {
        long c = e.child();
        boolean hiddenName = hiddenName(e.name());
        if (hiddenName) {
          hidden.add(e);
        }
        Inode child = snap.inodes.get(c);
        if (child == null) {
          if (!snap.badInodes.containsKey(c)) {
            dangling.add(e);
          } else {
            paths.putIfAbsent(c, join(dp, e.name()));
          }
          continue;
        }
        expectedLinks.merge(c, 1, Integer::sum);
        if (!paths.containsKey(c) || (isHidden(paths.get(c)) && !hiddenName)) {
          paths.put(c, join(dp, e.name()));
        }
        if (reachable.add(c)) {
          if (child.isDir()) {
            todo.add(c);
          }
        } else if (child.isDir()) {
          multiplyLinkedDirs.add(c);
        }
      }
    }
    for (long id : reachable) {
      Inode n = snap.inodes.get(id);
      if (n.isDir()) {
        int links = 2;
        for (MetadataSnapshot.Entry e : children.getOrDefault(id, List.of())) {
          Inode c = snap.inodes.get(e.child());
          if (c != null && c.isDir()) {
            links++;
          }
        }
        expectedLinks.put(id, links);
      }
    }
  }

  private static boolean isHidden(byte[] path) {
    int slash = -1;
    for (int i = 0; i < path.length; i++) {
      if (path[i] == '/') {
        slash = i;
      }
    }
    return hiddenName(java.util.Arrays.copyOfRange(path, slash + 1, path.length));
  }

  private static final byte[] HIDDEN_PREFIX = ".fuse_hidden".getBytes(StandardCharsets.US_ASCII);

  /** libfuse's name for a file unlinked while open (as {@link Name#isFuseHidden}). */
  static boolean hiddenName(byte[] name) {
    return name.length >= HIDDEN_PREFIX.length
        && java.util.Arrays.equals(name, 0, HIDDEN_PREFIX.length, HIDDEN_PREFIX, 0, HIDDEN_PREFIX.length);
  }

  private void collectBelow(long top, Set<Long> out) {
    ArrayDeque<Long> todo = new ArrayDeque<>();
    todo.add(top);
    while (!todo.isEmpty()) {
      long d = todo.poll();
      if (!out.add(d)) {
        continue;
      }
      for (MetadataSnapshot.Entry e : children.getOrDefault(d, List.of())) {
        todo.add(e.child());
      }
    }
  }

  /** The child of {@code dir} named {@code name}, or null. */
  Long childNamed(long dir, String name) {
    byte[] b = name.getBytes(StandardCharsets.UTF_8);
    for (MetadataSnapshot.Entry e : children.getOrDefault(dir, List.of())) {
      if (java.util.Arrays.equals(e.name(), b)) {
        return e.child();
      }
    }
    return null;
  }

  /** The path of {@code id} for people (UTF-8, undecodable bytes replaced), or null. */
  String path(long id) {
    byte[] p = paths.get(id);
    return p == null ? null : new String(p, StandardCharsets.UTF_8);
  }

  static byte[] join(byte[] dir, byte[] name) {
    ByteArrayOutputStream out = new ByteArrayOutputStream(dir.length + 1 + name.length);
    out.writeBytes(dir);
    if (dir.length == 0 || dir[dir.length - 1] != '/') {
      out.write('/');
    }
    out.writeBytes(name);
    return out.toByteArray();
  }
}
