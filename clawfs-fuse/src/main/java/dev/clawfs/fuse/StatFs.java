package dev.clawfs.fuse;

/** What statfs(2) reports for the mount. */
public record StatFs(
    long blockSize, long totalBlocks, long freeBlocks, long availBlocks, long files, long freeFiles, int nameMax) {}
