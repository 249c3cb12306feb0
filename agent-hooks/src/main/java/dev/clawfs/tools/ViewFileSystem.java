package dev.clawfs.tools;

import dev.clawfs.tools.ToolFiles.Kind;
import dev.clawfs.tools.ToolFiles.Stat;
import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.AccessMode;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileStore;
import java.nio.file.FileSystem;
import java.nio.file.FileSystemException;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.NotLinkException;
import java.nio.file.OpenOption;
import java.nio.file.Path;
import java.nio.file.PathMatcher;
import java.nio.file.StandardOpenOption;
import java.nio.file.WatchService;
import java.nio.file.attribute.UserPrincipalLookupService;
import java.nio.file.spi.FileSystemProvider;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * What one tool run sees as files: the granted subtrees of the mount, served by {@link ToolFiles}
 * and nothing else. Chicory's WASI layer works on {@code java.nio.file.Path}s; the preopened
 * directories it is given are paths of this file system, so every file operation of the module ends
 * here.
 *
 * <p>Why a file system of its own rather than the host disk or an in-memory copy (jimfs): the
 * content lives encrypted in the vault and only the core can read it, so the host disk is out; a
 * copy would decrypt and hold whole subtrees up front, bounded by a size cap, although a tool
 * usually reads a few files. Serving on demand reads only what the tool opens, in ranges, and keeps
 * the namespace to exactly the grants: every lookup, at any depth and after following a symlink, is
 * checked by {@link #admit}: a path outside every granted root does not exist here ({@code
 * /etc/passwd}, {@code ../} beyond a root, absolute symlink targets), a path the policy denies is
 * refused, and each directory between the root and the file must be a real directory (so a
 * symlinked directory cannot lead the lookup outside even if a {@link ToolFiles} followed it).
 * Writes are refused outside writable grants, buffered while the file is open, charged to the run's
 * output budget, and handed to {@link ToolFiles#write} when the file is closed; a run stopped by a
 * limit or a trap has its pending writes dropped ({@link #abort}).
 */
final class ViewFileSystem extends FileSystem {

  static final String SCHEME = "clawfs-tool";
  private static final int MAX_LINK_HOPS = 8;
  private static final int MAX_DENIALS = 16;

  /** A granted subtree. */
  record Grant(String root, boolean writable) {}

  /** A node found by a lookup: its mount path after following links, and its attributes. */
  record Node(String path, Stat stat) {}

  private final ViewProvider provider = new ViewProvider();
  private final ToolFiles files;
  private final List<Grant> grants;
  private final PathGate gate;
  private final OutputBudget budget;
  private final long editCap;
  private final Set<String> verifiedDirs = ConcurrentHashMap.newKeySet();
  private final Map<String, ViewWriteChannel> writers = new ConcurrentHashMap<>();
  private final List<String> denials = Collections.synchronizedList(new ArrayList<>());
  private volatile boolean aborted;

  /**
   * @param grants the subtrees the tool may see (a root granted for writing is also readable)
   * @param editCap the largest existing file the tool may open for writing without truncating
   */
  ViewFileSystem(
      ToolFiles files, List<Grant> grants, PathGate gate, OutputBudget budget, long editCap) {
    this.files = files;
    List<Grant> sorted = new ArrayList<>(grants);
    sorted.sort(Comparator.comparingInt((Grant g) -> g.root().length()).reversed());
    this.grants = List.copyOf(sorted);
    this.gate = gate;
    this.budget = budget;
    this.editCap = editCap;
  }

  /** The view path of a granted root, to preopen for the module. */
  ViewPath pathOf(String mountPath) {
    return ViewPath.parse(this, mountPath);
  }

  /** Refusals so far ("denied read /specs/x: ..."), for the run's result and the audit. */
  List<String> denials() {
    synchronized (denials) {
      return List.copyOf(denials);
    }
  }

  /** From now on nothing the tool wrote is kept: files still open are not written back. */
  void abort() {
    aborted = true;
  }

  OutputBudget budget() {
    return budget;
  }

  ToolFiles files() {
    return files;
  }

  // ---- checks ----

  static String mountPath(Path p) {
    return ((ViewPath) p).toAbsolutePath().normalize().toString();
  }

  private static String parentOf(String path) {
    int slash = path.lastIndexOf('/');
    return slash <= 0 ? "/" : path.substring(0, slash);
  }

  private static boolean under(String path, String root) {
    return path.equals(root) || path.startsWith(root) && path.charAt(root.length()) == '/';
  }

  /** The grant covering {@code path}: the deepest root, writable when any covering root is. */
  private Grant grantFor(String path) {
    Grant deepest = null;
    boolean writable = false;
    for (Grant g : grants) {
      if (under(path, g.root())) {
        if (deepest == null) {
          deepest = g;
        }
        writable |= g.writable();
      }
    }
    return deepest == null ? null : new Grant(deepest.root(), writable);
  }

  private void deny(String action, String path, String reason) {
    synchronized (denials) {
      String d = "denied " + action + " " + path + ": " + reason;
      if (denials.size() < MAX_DENIALS && !denials.contains(d)) {
        denials.add(d);
      }
    }
  }

  /**
   * Lets a lookup of {@code path} (normalised, absolute) go on, or throws: not found when it is
   * outside every grant, access denied when the policy or a read-only grant refuses.
   */
  Grant admit(String path, boolean write, String shown) throws IOException {
    Grant g = grantFor(path);
    if (g == null) {
      deny(write ? "write" : "read", path, "outside the paths granted to the tool");
      throw new NoSuchFileException(shown);
    }
    if (!gate.permits(path, false)) {
      deny("read", path, "the caller may not (its policy or the Unix modes)");
      throw new AccessDeniedException(shown, null, "denied by policy");
    }
    if (write) {
      if (!g.writable()) {
        deny("write", path, "granted read-only");
        throw new AccessDeniedException(shown, null, "read-only");
      }
      if (!gate.permits(path, true)) {
        deny("write", path, "the caller may not (its policy or the Unix modes)");
        throw new AccessDeniedException(shown, null, "denied by policy");
      }
    }
    verifyAncestors(path, g.root(), shown);
    return g;
  }

  /** Each directory from the grant's root down to {@code path}'s parent is a real directory. */
  private void verifyAncestors(String path, String root, String shown) throws IOException {
    if (path.equals(root)) {
      return;
    }
    List<String> chain = new ArrayList<>();
    for (String a = parentOf(path); ; a = parentOf(a)) {
      chain.add(a);
      if (a.equals(root)) {
        break;
      }
    }
    Collections.reverse(chain);
    for (String dir : chain) {
      if (verifiedDirs.contains(dir)) {
        continue;
      }
      Stat s = files.stat(dir);
      if (s == null) {
        throw new NoSuchFileException(shown);
      }
      if (s.kind() != Kind.DIRECTORY) {
        throw new FileSystemException(shown, null, "not a directory: " + dir);
      }
      verifiedDirs.add(dir);
    }
  }

  /** Attributes, with the live size of a file this run has open for writing. */
  private Stat statLive(String path) throws IOException {
    Stat s = files.stat(path);
    ViewWriteChannel w = writers.get(path);
    if (w != null) {
      return new Stat(Kind.FILE, w.sizeNow(), Instant.now(), s == null ? 0 : s.id());
    }
    return s;
  }

  /** What {@code p} names, following symlinks (each hop admitted again) when {@code follow}. */
  Node lookup(Path p, boolean follow) throws IOException {
    String shown = p.toString();
    String path = mountPath(p);
    for (int hop = 0; ; hop++) {
      admit(path, false, shown);
      Stat st = statLive(path);
      if (st == null) {
        throw new NoSuchFileException(shown);
      }
      if (st.kind() != Kind.SYMLINK || !follow) {
        return new Node(path, st);
      }
      if (hop == MAX_LINK_HOPS) {
        throw new FileSystemException(shown, null, "too many levels of symbolic links");
      }
      path = linkTarget(path);
    }
  }

  /** A symlink's target as a normalised mount path (relative targets from the link's directory). */
  private String linkTarget(String link) throws IOException {
    String target = files.readLink(link);
    ViewPath t = ViewPath.parse(this, target);
    Path full = t.isAbsolute() ? t : ViewPath.parse(this, parentOf(link)).resolve(t);
    return ((ViewPath) full).normalize().toString();
  }

  static boolean follows(LinkOption... options) {
    return !Arrays.asList(options).contains(LinkOption.NOFOLLOW_LINKS);
  }

  // ---- operations, called by ViewProvider ----

  ViewAttributes attributes(Path p, LinkOption... options) throws IOException {
    Node n = lookup(p, follows(options));
    return new ViewAttributes(n.stat(), grantFor(n.path()).writable());
  }

  DirectoryStream<Path> directory(Path dir, DirectoryStream.Filter<? super Path> filter)
      throws IOException {
    Node n = lookup(dir, true);
    if (n.stat().kind() != Kind.DIRECTORY) {
      throw new NotDirectoryException(dir.toString());
    }
    List<Path> entries = new ArrayList<>();
    for (ToolFiles.Entry e : files.list(n.path())) {
      String child = n.path().equals("/") ? "/" + e.name() : n.path() + "/" + e.name();
      if (!gate.permits(child, false)) {
        continue; // what the policy hides from the caller, the tool does not list either
      }
      Path entry = dir.resolve(e.name());
      if (filter == null || filter.accept(entry)) {
        entries.add(entry);
      }
    }
    return new DirectoryStream<>() {
      @Override
      public Iterator<Path> iterator() {
        return entries.iterator();
      }

      @Override
      public void close() {}
    };
  }

  ViewChannel open(Path p, Set<? extends OpenOption> options) throws IOException {
    boolean write =
        options.contains(StandardOpenOption.WRITE) || options.contains(StandardOpenOption.APPEND);
    boolean follow = !options.contains(LinkOption.NOFOLLOW_LINKS);
    if (!write) {
      Node n = lookup(p, follow);
      if (n.stat().kind() != Kind.FILE) {
        throw new FileSystemException(p.toString(), null, "not a regular file");
      }
      return new ViewReadChannel(files, n.path(), n.stat().size());
    }
    String shown = p.toString();
    String path = mountPath(p);
    admit(path, true, shown);
    Stat st = statLive(path);
    if (st != null && st.kind() == Kind.SYMLINK) {
      deny("write", path, "tools do not write through symbolic links");
      throw new AccessDeniedException(shown, null, "a symbolic link");
    }
    if (st != null && st.kind() != Kind.FILE) {
      throw new FileSystemException(shown, null, "not a regular file");
    }
    if (st != null && options.contains(StandardOpenOption.CREATE_NEW)) {
      throw new FileAlreadyExistsException(shown);
    }
    boolean create =
        options.contains(StandardOpenOption.CREATE)
            || options.contains(StandardOpenOption.CREATE_NEW);
    if (st == null && !create) {
      throw new NoSuchFileException(shown);
    }
    byte[] content = new byte[0];
    if (st != null && !options.contains(StandardOpenOption.TRUNCATE_EXISTING) && st.size() > 0) {
      if (st.size() > editCap) {
        deny("write", path, "larger than the output limit, cannot be changed in place");
        throw new AccessDeniedException(shown, null, "too large to change in place");
      }
      content = readAll(path, (int) st.size());
    }
    if (st == null) {
      files.write(path, content); // exists from now on, as after open(O_CREAT)
    }
    ViewWriteChannel w =
        new ViewWriteChannel(
            this,
            path,
            content,
            options.contains(StandardOpenOption.APPEND),
            options.contains(StandardOpenOption.READ));
    writers.put(path, w);
    return w;
  }

  private byte[] readAll(String path, int size) throws IOException {
    byte[] out = new byte[size];
    int done = 0;
    while (done < size) {
      byte[] part = files.read(path, done, Math.min(size - done, 1 << 20));
      if (part.length == 0) {
        return Arrays.copyOf(out, done);
      }
      System.arraycopy(part, 0, out, done, part.length);
      done += part.length;
    }
    return out;
  }

  /** Called when a write channel closes: hands the content to the core unless the run failed. */
  void commit(ViewWriteChannel w, String path, byte[] content) throws IOException {
    writers.remove(path, w);
    if (!aborted) {
      files.write(path, content);
    }
  }

  void createDirectory(Path dir) throws IOException {
    String path = mountPath(dir);
    admit(path, true, dir.toString());
    if (statLive(path) != null) {
      throw new FileAlreadyExistsException(dir.toString());
    }
    files.createDirectory(path);
  }

  void delete(Path p) throws IOException {
    String path = mountPath(p);
    Grant g = admit(path, true, p.toString());
    if (path.equals(g.root())) {
      deny("delete", path, "a granted root");
      throw new AccessDeniedException(p.toString(), null, "a granted root cannot be deleted");
    }
    if (files.stat(path) == null) {
      throw new NoSuchFileException(p.toString());
    }
    files.delete(path);
    verifiedDirs.clear();
  }

  void move(Path source, Path target) throws IOException {
    String from = mountPath(source);
    String to = mountPath(target);
    Grant g = admit(from, true, source.toString());
    Grant h = admit(to, true, target.toString());
    if (from.equals(g.root()) || to.equals(h.root())) {
      deny("rename", from, "a granted root");
      throw new AccessDeniedException(
          source.toString(), target.toString(), "a granted root cannot be renamed");
    }
    if (files.stat(from) == null) {
      throw new NoSuchFileException(source.toString());
    }
    files.rename(from, to);
    verifiedDirs.clear();
  }

  Path readLink(Path link) throws IOException {
    Node n = lookup(link, false);
    if (n.stat().kind() != Kind.SYMLINK) {
      throw new NotLinkException(link.toString());
    }
    return ViewPath.parse(this, linkTarget(n.path()));
  }

  void checkAccess(Path p, AccessMode... modes) throws IOException {
    Node n = lookup(p, true);
    for (AccessMode m : modes) {
      if (m == AccessMode.WRITE) {
        admit(n.path(), true, p.toString());
      } else if (m == AccessMode.EXECUTE && n.stat().kind() != Kind.DIRECTORY) {
        throw new AccessDeniedException(p.toString(), null, "nothing is executable here");
      }
    }
  }

  Path realPath(ViewPath p, LinkOption... options) throws IOException {
    return ViewPath.parse(this, lookup(p, follows(options)).path());
  }

  // ---- java.nio.file.FileSystem ----

  @Override
  public FileSystemProvider provider() {
    return provider;
  }

  @Override
  public void close() {}

  @Override
  public boolean isOpen() {
    return true;
  }

  @Override
  public boolean isReadOnly() {
    return grants.stream().noneMatch(Grant::writable);
  }

  @Override
  public String getSeparator() {
    return "/";
  }

  @Override
  public Iterable<Path> getRootDirectories() {
    return List.of(ViewPath.root(this));
  }

  @Override
  public Iterable<FileStore> getFileStores() {
    return List.of();
  }

  @Override
  public Set<String> supportedFileAttributeViews() {
    return Set.of("basic", "unix");
  }

  @Override
  public Path getPath(String first, String... more) {
    StringBuilder sb = new StringBuilder(first);
    for (String m : more) {
      sb.append('/').append(m);
    }
    return ViewPath.parse(this, sb.toString());
  }

  @Override
  public PathMatcher getPathMatcher(String syntaxAndPattern) {
    throw new UnsupportedOperationException("no path matchers in a tool's view");
  }

  @Override
  public UserPrincipalLookupService getUserPrincipalLookupService() {
    throw new UnsupportedOperationException("no users in a tool's view");
  }

  @Override
  public WatchService newWatchService() {
    throw new UnsupportedOperationException("a tool's view cannot be watched");
  }

  /** The provider of one view: stateless, every call handed to the path's file system. */
  final class ViewProvider extends FileSystemProvider {
    @Override
    public String getScheme() {
      return SCHEME;
    }

    @Override
    public FileSystem newFileSystem(java.net.URI uri, Map<String, ?> env) {
      throw new UnsupportedOperationException("tool views are made by the tool runtime");
    }

    @Override
    public FileSystem getFileSystem(java.net.URI uri) {
      throw new UnsupportedOperationException("tool views are made by the tool runtime");
    }

    @Override
    public Path getPath(java.net.URI uri) {
      throw new UnsupportedOperationException("tool views are made by the tool runtime");
    }

    private ViewFileSystem of(Path p) {
      if (!(p instanceof ViewPath) || ((ViewPath) p).viewFileSystem() != ViewFileSystem.this) {
        throw new java.nio.file.ProviderMismatchException("not a path of this tool view: " + p);
      }
      return ViewFileSystem.this;
    }

    @Override
    public java.nio.channels.SeekableByteChannel newByteChannel(
        Path path,
        Set<? extends OpenOption> options,
        java.nio.file.attribute.FileAttribute<?>... attrs)
        throws IOException {
      return of(path).open(path, options);
    }

    @Override
    public java.nio.channels.FileChannel newFileChannel(
        Path path,
        Set<? extends OpenOption> options,
        java.nio.file.attribute.FileAttribute<?>... attrs)
        throws IOException {
      return of(path).open(path, options);
    }

    @Override
    public DirectoryStream<Path> newDirectoryStream(
        Path dir, DirectoryStream.Filter<? super Path> filter) throws IOException {
      return of(dir).directory(dir, filter);
    }

    @Override
    public void createDirectory(Path dir, java.nio.file.attribute.FileAttribute<?>... attrs)
        throws IOException {
      of(dir).createDirectory(dir);
    }

    @Override
    public void createSymbolicLink(
        Path link, Path target, java.nio.file.attribute.FileAttribute<?>... attrs)
        throws IOException {
      of(link).deny("symlink", mountPath(link), "tools cannot create links");
      throw new AccessDeniedException(link.toString(), null, "tools cannot create links");
    }

    @Override
    public void createLink(Path link, Path existing) throws IOException {
      of(link).deny("link", mountPath(link), "tools cannot create links");
      throw new AccessDeniedException(link.toString(), null, "tools cannot create links");
    }

    @Override
    public void delete(Path path) throws IOException {
      of(path).delete(path);
    }

    @Override
    public Path readSymbolicLink(Path link) throws IOException {
      return of(link).readLink(link);
    }

    @Override
    public void copy(Path source, Path target, java.nio.file.CopyOption... options)
        throws IOException {
      throw new AccessDeniedException(
          source.toString(), target.toString(), "copy is not offered to tools");
    }

    @Override
    public void move(Path source, Path target, java.nio.file.CopyOption... options)
        throws IOException {
      of(target);
      of(source).move(source, target);
    }

    @Override
    public boolean isSameFile(Path a, Path b) throws IOException {
      return a.equals(b) || of(a).lookup(a, true).path().equals(of(b).lookup(b, true).path());
    }

    @Override
    public boolean isHidden(Path path) {
      Path name = path.getFileName();
      return name != null && name.toString().startsWith(".");
    }

    @Override
    public FileStore getFileStore(Path path) {
      throw new UnsupportedOperationException("no file stores in a tool's view");
    }

    @Override
    public void checkAccess(Path path, AccessMode... modes) throws IOException {
      of(path).checkAccess(path, modes);
    }

    @Override
    @SuppressWarnings("unchecked")
    public <V extends java.nio.file.attribute.FileAttributeView> V getFileAttributeView(
        Path path, Class<V> type, LinkOption... options) {
      if (type != java.nio.file.attribute.BasicFileAttributeView.class) {
        return null;
      }
      ViewFileSystem fs = of(path);
      return (V)
          new java.nio.file.attribute.BasicFileAttributeView() {
            @Override
            public String name() {
              return "basic";
            }

            @Override
            public java.nio.file.attribute.BasicFileAttributes readAttributes() throws IOException {
              return fs.attributes(path, options);
            }

            @Override
            public void setTimes(
                java.nio.file.attribute.FileTime modified,
                java.nio.file.attribute.FileTime access,
                java.nio.file.attribute.FileTime create)
                throws IOException {
              fs.deny("set times of", mountPath(path), "times are kept by ClawFS");
              throw new AccessDeniedException(path.toString(), null, "times are kept by ClawFS");
            }
          };
    }

    @Override
    @SuppressWarnings("unchecked")
    public <A extends java.nio.file.attribute.BasicFileAttributes> A readAttributes(
        Path path, Class<A> type, LinkOption... options) throws IOException {
      if (!type.isAssignableFrom(ViewAttributes.class)) {
        throw new UnsupportedOperationException("only basic attributes in a tool's view");
      }
      return (A) of(path).attributes(path, options);
    }

    @Override
    public Map<String, Object> readAttributes(Path path, String attributes, LinkOption... options)
        throws IOException {
      return of(path).attributes(path, options).select(attributes);
    }

    @Override
    public void setAttribute(Path path, String attribute, Object value, LinkOption... options)
        throws IOException {
      of(path).deny("set " + attribute + " of", mountPath(path), "attributes are kept by ClawFS");
      throw new AccessDeniedException(path.toString(), null, "attributes are kept by ClawFS");
    }
  }
}
