package dev.clawfs.fuse;

/** A snapshot of an inode's attributes, as stat(2) reports them. Times in nanoseconds since the epoch. */
public record Attr(
    long ino,
    int mode,
    int nlink,
    int uid,
    int gid,
    long size,
    long blocks,
    long atimeNs,
    long mtimeNs,
    long ctimeNs) {}
