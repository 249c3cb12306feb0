package dev.clawfs.fuse;

/**
 * What an operation does to a path, as an {@link AccessGate} is asked about it. The adapter maps
 * each FUSE operation to one of these before the operation touches storage; a rename is {@link
 * #DELETE} on the source and {@link #CREATE} on the target.
 */
public enum Access {
  /** open for reading, readlink, getxattr and listxattr of user attributes. */
  READ,
  /** open for writing, truncate, chmod, chown, utimens, setxattr, removexattr. */
  WRITE,
  /** opendir and readdir. */
  LIST,
  /** create, mkdir, mknod, symlink, the new name of a link or rename. */
  CREATE,
  /** unlink, rmdir, the old name of a rename. */
  DELETE
}
