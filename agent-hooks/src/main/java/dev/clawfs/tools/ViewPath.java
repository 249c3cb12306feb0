package dev.clawfs.tools;

import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.FileSystem;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.ProviderMismatchException;
import java.nio.file.WatchEvent;
import java.nio.file.WatchKey;
import java.nio.file.WatchService;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * A path in a tool's {@link ViewFileSystem}: Unix syntax, purely lexical. Nothing here touches any
 * storage; {@link #toRealPath} is the one method that asks the file system.
 */
final class ViewPath implements Path {

  private final ViewFileSystem fs;
  private final boolean absolute;
  private final String[] names;

  private ViewPath(ViewFileSystem fs, boolean absolute, String[] names) {
    this.fs = fs;
    this.absolute = absolute;
    this.names = names;
  }

  static ViewPath parse(ViewFileSystem fs, String path) {
    if (path.indexOf('\0') >= 0) {
      throw new java.nio.file.InvalidPathException(path, "NUL character in path");
    }
    List<String> parts = new ArrayList<>();
    for (String s : path.split("/")) {
      if (!s.isEmpty()) {
        parts.add(s);
      }
    }
    return new ViewPath(fs, path.startsWith("/"), parts.toArray(new String[0]));
  }

  static ViewPath root(ViewFileSystem fs) {
    return new ViewPath(fs, true, new String[0]);
  }

  private static ViewPath check(Path other) {
    if (!(other instanceof ViewPath)) {
      throw new ProviderMismatchException("not a tool view path: " + other);
    }
    return (ViewPath) other;
  }

  @Override
  public FileSystem getFileSystem() {
    return fs;
  }

  ViewFileSystem viewFileSystem() {
    return fs;
  }

  @Override
  public boolean isAbsolute() {
    return absolute;
  }

  @Override
  public Path getRoot() {
    return absolute ? root(fs) : null;
  }

  @Override
  public Path getFileName() {
    return names.length == 0
        ? null
        : new ViewPath(fs, false, new String[] {names[names.length - 1]});
  }

  @Override
  public Path getParent() {
    if (names.length == 0 || (names.length == 1 && !absolute)) {
      return null;
    }
    return new ViewPath(fs, absolute, Arrays.copyOf(names, names.length - 1));
  }

  @Override
  public int getNameCount() {
    return names.length;
  }

  @Override
  public Path getName(int index) {
    if (index < 0 || index >= names.length) {
      throw new IllegalArgumentException("index " + index);
    }
    return new ViewPath(fs, false, new String[] {names[index]});
  }

  @Override
  public Path subpath(int begin, int end) {
    if (begin < 0 || end > names.length || begin >= end) {
      throw new IllegalArgumentException("subpath " + begin + ".." + end);
    }
    return new ViewPath(fs, false, Arrays.copyOfRange(names, begin, end));
  }

  @Override
  public boolean startsWith(Path other) {
    if (!(other instanceof ViewPath)) {
      return false;
    }
    ViewPath o = (ViewPath) other;
    if (o.absolute != absolute || o.names.length > names.length) {
      return false;
    }
    for (int i = 0; i < o.names.length; i++) {
      if (!o.names[i].equals(names[i])) {
        return false;
      }
    }
    return true;
  }

  @Override
  public boolean endsWith(Path other) {
    if (!(other instanceof ViewPath)) {
      return false;
    }
    ViewPath o = (ViewPath) other;
    if (o.absolute) {
      return equals(o);
    }
    if (o.names.length > names.length) {
      return false;
    }
    int shift = names.length - o.names.length;
    for (int i = 0; i < o.names.length; i++) {
      if (!o.names[i].equals(names[shift + i])) {
        return false;
      }
    }
    return true;
  }

  /** Drops "." and folds "name/.." lexically; ".." at the root stays at the root, as in POSIX. */
  @Override
  public ViewPath normalize() {
    List<String> out = new ArrayList<>();
    for (String n : names) {
      if (n.equals(".")) {
        continue;
      }
      if (n.equals("..")) {
        if (!out.isEmpty() && !out.get(out.size() - 1).equals("..")) {
          out.remove(out.size() - 1);
          continue;
        }
        if (absolute) {
          continue;
        }
      }
      out.add(n);
    }
    return new ViewPath(fs, absolute, out.toArray(new String[0]));
  }

  @Override
  public Path resolve(Path other) {
    ViewPath o = check(other);
    if (o.absolute) {
      return o;
    }
    if (o.names.length == 0) {
      return this;
    }
    String[] joined = Arrays.copyOf(names, names.length + o.names.length);
    System.arraycopy(o.names, 0, joined, names.length, o.names.length);
    return new ViewPath(fs, absolute, joined);
  }

  @Override
  public Path resolve(String other) {
    return resolve(parse(fs, other));
  }

  @Override
  public Path relativize(Path other) {
    ViewPath o = check(other);
    if (o.absolute != absolute) {
      throw new IllegalArgumentException("one path is absolute, the other is not");
    }
    int common = 0;
    while (common < names.length
        && common < o.names.length
        && names[common].equals(o.names[common])) {
      common++;
    }
    List<String> out = new ArrayList<>();
    for (int i = common; i < names.length; i++) {
      out.add("..");
    }
    out.addAll(Arrays.asList(o.names).subList(common, o.names.length));
    return new ViewPath(fs, false, out.toArray(new String[0]));
  }

  @Override
  public URI toUri() {
    try {
      return new URI(ViewFileSystem.SCHEME, null, toAbsolutePath().toString(), null);
    } catch (URISyntaxException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Relative paths are taken from the root: the view has no working directory. */
  @Override
  public ViewPath toAbsolutePath() {
    return absolute ? this : new ViewPath(fs, true, names);
  }

  @Override
  public Path toRealPath(LinkOption... options) throws java.io.IOException {
    return fs.realPath(this, options);
  }

  @Override
  public WatchKey register(
      WatchService watcher, WatchEvent.Kind<?>[] events, WatchEvent.Modifier... modifiers) {
    throw new UnsupportedOperationException("a tool's view cannot be watched");
  }

  @Override
  public int compareTo(Path other) {
    return toString().compareTo(check(other).toString());
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof ViewPath
        && ((ViewPath) o).fs == fs
        && ((ViewPath) o).absolute == absolute
        && Arrays.equals(((ViewPath) o).names, names);
  }

  @Override
  public int hashCode() {
    return Objects.hash(absolute, Arrays.hashCode(names));
  }

  @Override
  public String toString() {
    String joined = String.join("/", names);
    return absolute ? "/" + joined : joined;
  }
}
