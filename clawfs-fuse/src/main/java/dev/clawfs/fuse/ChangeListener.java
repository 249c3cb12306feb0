package dev.clawfs.fuse;

/**
 * Change events the core emits for features that follow the files (the search index, later
 * agents' change hooks). Called on FUSE threads, possibly with file system locks held: an
 * implementation only records the inode and returns; it must not call back into the file system
 * on that thread. Events carry inode numbers, not paths: a listener asks {@link
 * ClawFileSystem#fileInfo} for the current path when it gets to the work, so a rename that
 * happens in between is never missed.
 */
public interface ChangeListener {
  ChangeListener NONE = new ChangeListener() {
    @Override
    public void contentChanged(long ino) {}

    @Override
    public void namesChanged(long ino) {}
  };

  /** A file's content changed and a writer closed it or fsynced it (or it was truncated by path). */
  void contentChanged(long ino);

  /**
   * A name of the inode (a file or a directory) was moved or removed: its path, and for a
   * directory every path below it, may have changed or be gone.
   */
  void namesChanged(long ino);

  /**
   * A name was removed: unlinked, a directory removed, replaced by a rename, or renamed to one of
   * libfuse's hidden names (an unlink of an open file). {@code path} is the removed name's path
   * (a copy the listener may keep); {@code dir} tells a directory from a file. The inode may live
   * on under other names; {@link #namesChanged} is reported too where it applies.
   */
  default void removed(long ino, byte[] path, boolean dir) {}
}
