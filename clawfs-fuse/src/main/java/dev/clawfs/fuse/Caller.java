package dev.clawfs.fuse;

/** Who is calling an operation, as the kernel reports it for each FUSE request. */
public record Caller(int uid, int gid, int pid) {
  public static final Caller ROOT = new Caller(0, 0, 0);
}
