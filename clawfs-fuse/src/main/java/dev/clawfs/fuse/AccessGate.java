package dev.clawfs.fuse;

/**
 * Decides, before each operation reaches the file system, whether the caller may do it. The
 * core knows nothing about who the callers are or what the rules say: the mount server plugs in
 * its policies here. Called on every FUSE operation from many threads at once, so an
 * implementation must be thread-safe, must not block, and should not allocate when it allows.
 *
 * <p>Paths are absolute inside the mount and normalised ("/" is the mount's root, no trailing
 * "/"), decoded as UTF-8 (bytes that are not UTF-8 become U+FFFD).
 */
public interface AccessGate {
  /** Allows everything (a mount without policies). */
  AccessGate ALLOW_ALL = new AccessGate() {
    @Override
    public String denial(Caller caller, Access access, String path) {
      return null;
    }

    @Override
    public String invisibility(Caller caller, String path) {
      return null;
    }
  };

  /**
   * May {@code caller} do {@code access} on {@code path}?
   *
   * @return null when allowed; otherwise what denied it, in a few words ("default.yaml:42",
   *     "default deny"), for the audit record. The operation then fails with EACCES.
   */
  String denial(Caller caller, Access access, String path);

  /**
   * May {@code caller} look up and stat {@code path} (getattr, lookup, access, statfs)?
   *
   * @return null when it may; otherwise what hides it, as for {@link #denial}
   */
  String invisibility(Caller caller, String path);
}
