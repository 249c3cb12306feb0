package dev.clawfs.fuse;

/**
 * One operation on the mount, reported after it completed.
 *
 * @param timeMillis wall-clock time when the operation started
 * @param op the FUSE operation's name ("open", "mkdir", "rename", ...), a constant string
 * @param path the path it was called on, as {@link AccessGate} paths are given (UTF-8, "/"-rooted)
 * @param path2 the second path of rename and link (the new name) and symlink (the target), else null
 * @param errno 0 when it succeeded, else the errno it failed with
 * @param uid the caller's uid
 * @param gid the caller's gid
 * @param pid the caller's process id
 * @param flags for open and create, the open flags; else 0
 * @param durationNanos how long the operation took in the server
 * @param deniedBy when the {@link AccessGate} refused it, what refused it; else null
 */
public record OpEvent(
    long timeMillis,
    String op,
    String path,
    String path2,
    int errno,
    int uid,
    int gid,
    int pid,
    int flags,
    long durationNanos,
    String deniedBy) {}
