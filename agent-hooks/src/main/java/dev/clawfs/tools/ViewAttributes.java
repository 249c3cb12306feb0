package dev.clawfs.tools;

import dev.clawfs.tools.ToolFiles.Kind;
import dev.clawfs.tools.ToolFiles.Stat;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;

/** A node's attributes as java.nio shows them; Chicory's WASI layer reads the "unix" view. */
final class ViewAttributes implements BasicFileAttributes {

  private final Stat stat;
  private final boolean writable;

  ViewAttributes(Stat stat, boolean writable) {
    this.stat = stat;
    this.writable = writable;
  }

  @Override
  public FileTime lastModifiedTime() {
    return FileTime.from(stat.modified());
  }

  @Override
  public FileTime lastAccessTime() {
    return lastModifiedTime();
  }

  @Override
  public FileTime creationTime() {
    return lastModifiedTime();
  }

  @Override
  public boolean isRegularFile() {
    return stat.kind() == Kind.FILE;
  }

  @Override
  public boolean isDirectory() {
    return stat.kind() == Kind.DIRECTORY;
  }

  @Override
  public boolean isSymbolicLink() {
    return stat.kind() == Kind.SYMLINK;
  }

  @Override
  public boolean isOther() {
    return false;
  }

  @Override
  public long size() {
    return stat.size();
  }

  @Override
  public Object fileKey() {
    return stat.id();
  }

  /** The attributes named by {@code spec} ({@code "unix:*"}, {@code "basic:size,isDirectory"}). */
  Map<String, Object> select(String spec) {
    int colon = spec.indexOf(':');
    String view = colon < 0 ? "basic" : spec.substring(0, colon);
    String names = colon < 0 ? spec : spec.substring(colon + 1);
    if (!view.equals("basic") && !view.equals("unix")) {
      throw new UnsupportedOperationException("view " + view + " is not offered in a tool's view");
    }
    Map<String, Object> all = new LinkedHashMap<>();
    all.put("lastModifiedTime", lastModifiedTime());
    all.put("lastAccessTime", lastAccessTime());
    all.put("creationTime", creationTime());
    all.put("size", size());
    all.put("isRegularFile", isRegularFile());
    all.put("isDirectory", isDirectory());
    all.put("isSymbolicLink", isSymbolicLink());
    all.put("isOther", isOther());
    all.put("fileKey", fileKey());
    if (view.equals("unix")) {
      int type = isDirectory() ? 0040000 : isSymbolicLink() ? 0120000 : 0100000;
      int perm = isDirectory() ? (writable ? 0755 : 0555) : (writable ? 0644 : 0444);
      all.put("mode", type | perm);
      all.put("ino", stat.id());
      all.put("dev", 0L);
      all.put("rdev", 0L);
      all.put("nlink", 1);
      all.put("uid", 0);
      all.put("gid", 0);
      all.put("ctime", lastModifiedTime());
    }
    if (names.equals("*")) {
      return all;
    }
    Map<String, Object> out = new HashMap<>();
    for (String n : names.split(",")) {
      if (!all.containsKey(n)) {
        throw new IllegalArgumentException("no attribute " + n + " in view " + view);
      }
      out.put(n, all.get(n));
    }
    return out;
  }
}
