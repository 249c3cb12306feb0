package dev.clawfs.fuse;

import java.lang.System.Logger.Level;
import java.nio.ByteBuffer;
import java.nio.charset.Charset;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.function.IntSupplier;
import jnr.ffi.Pointer;
import jnr.ffi.Struct;
import jnr.ffi.types.dev_t;
import jnr.ffi.types.gid_t;
import jnr.ffi.types.mode_t;
import jnr.ffi.types.off_t;
import jnr.ffi.types.size_t;
import jnr.ffi.types.uid_t;
import ru.serce.jnrfuse.FuseFillDir;
import ru.serce.jnrfuse.FuseStubFS;
import ru.serce.jnrfuse.struct.FileStat;
import ru.serce.jnrfuse.struct.FuseFileInfo;
import ru.serce.jnrfuse.struct.Statvfs;
import ru.serce.jnrfuse.struct.Timespec;

/**
 * The thin binding between libfuse2 (through jnr-fuse) and {@link ClawFileSystem}. It converts
 * structs and paths and maps every failure to an errno in one place ({@link #call}); nothing is
 * ever thrown into a native callback. Operations ClawFS does not offer answer ENOSYS.
 *
 * <p>Every operation on a path is first put to the {@link AccessGate} (a denial is EACCES and
 * the file system is not touched), and reported to the {@link OpListener} when it completed.
 * Operations on an open descriptor (read, write, flush, fsync, release, fgetattr, ftruncate,
 * readdir's continuation) were decided when it was opened and are not reported one by one.
 */
public final class FuseAdapter extends FuseStubFS {
  private static final System.Logger LOG = System.getLogger("clawfs.fuse");
  /** Offset of the bitfield word (direct_io, keep_cache, ...) in libfuse2's struct fuse_file_info on x86_64. */
  private static final int FI_BITS_OFFSET = 20;

  private static final int O_ACCMODE = 3;
  private static final int O_WRONLY = 1;
  private static final int O_RDWR = 2;
  private static final int O_TRUNC = 01000;

  private final ClawFileSystem fs;
  private final AccessGate gate;
  private final OpListener listener;
  private final boolean auditing;
  private final Charset charset = Charset.defaultCharset();
  private final boolean asciiCompatible = isAsciiCompatible(charset);
  private final CountDownLatch destroyed = new CountDownLatch(1);
  private final FuseMetrics metrics = new FuseMetrics();
  private volatile FuseLoop loop;

  public FuseAdapter(ClawFileSystem fs) {
    this(fs, AccessGate.ALLOW_ALL, OpListener.NONE);
  }

  /** An adapter that asks {@code gate} before every operation and tells {@code listener} after. */
  public FuseAdapter(ClawFileSystem fs, AccessGate gate, OpListener listener) {
    this.fs = fs;
    this.gate = gate;
    this.listener = listener;
    this.auditing = listener != OpListener.NONE;
    // nullpath_ok: read/write/fgetattr/release on unlinked-but-open files work by handle (hard_remove);
    // utime_omit_ok: utimens gets UTIME_NOW / UTIME_OMIT as the caller passed them.
    Pointer ops = Struct.getMemory(fuseOperations);
    ops.putByte(flagsOffset(), (byte) 0b101);
  }

  /** Offset of the flag bitfield in struct fuse_operations (after 38 function pointers in libfuse 2.9). */
  private long flagsOffset() {
    try {
      Object member = ru.serce.jnrfuse.struct.FuseOperations.class.getField("flag_nullpath_ok").get(fuseOperations);
      java.lang.reflect.Method m = member.getClass().getSuperclass().getDeclaredMethod("offset");
      m.setAccessible(true);
      return ((Number) m.invoke(member)).longValue();
    } catch (ReflectiveOperationException | RuntimeException e) {
      return 38L * 8;
    }
  }

  /** The FUSE options ClawFS mounts with; {@code extra} (comma separated) is appended. */
  public static String[] mountOptions(String fsName, boolean allowOther, String extra) {
    StringBuilder o = new StringBuilder();
    o.append("fsname=clawfs:").append(fsName.replace(",", "_"))
        .append(",subtype=clawfs")
        .append(",use_ino,big_writes,max_write=131072,max_read=131072")
        .append(",entry_timeout=1,negative_timeout=1,attr_timeout=0")
        .append(",default_permissions");
    if (allowOther) {
      o.append(",allow_other");
    }
    if (extra != null && !extra.isBlank()) {
      o.append(',').append(extra);
    }
    return new String[] {"-o", o.toString()};
  }

  /** The counters of this adapter's operations (for system/metrics). */
  public FuseMetrics metrics() {
    return metrics;
  }

  /** FUSE worker threads: {alive, idle}; {0, 0} before the mount is up. */
  public int[] workerThreads() {
    FuseLoop l = loop;
    return l == null ? new int[2] : l.threads();
  }

  /** Blocks until libfuse calls destroy (after an unmount). */
  public void awaitDestroyed() throws InterruptedException {
    destroyed.await();
  }

  /** As {@link #awaitDestroyed()}, for at most {@code limit}; true when destroyed. */
  public boolean awaitDestroyed(java.time.Duration limit) throws InterruptedException {
    return destroyed.await(limit.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
  }

  /**
   * Mounts and serves from {@code threads} Java threads (see {@link FuseLoop} for why not
   * libfuse's own). The future completes when the mount has ended and the file system is closed
   * (exceptionally when the mount fails). Readiness is for the caller to observe in the mount table.
   */
  public java.util.concurrent.CompletableFuture<Void> start(Path mountpoint, String[] options, int threads) {
    java.util.concurrent.CompletableFuture<Void> done = new java.util.concurrent.CompletableFuture<>();
    Thread t = new Thread(() -> {
      try {
        FuseLoop l = FuseLoop.start(Struct.getMemory(fuseOperations), Struct.size(fuseOperations), mountpoint, options, threads);
        loop = l;
        l.awaitAndTeardown();
        done.complete(null);
      } catch (Throwable e) {
        done.completeExceptionally(e);
      } finally {
        destroyed.countDown();
      }
    }, "clawfs-fuse-main");
    t.setDaemon(true);
    t.start();
    return done;
  }

  private byte[] bytes(String path) {
    return path == null ? null : path.getBytes(charset);
  }

  private Caller caller() {
    var ctx = getContext();
    return new Caller((int) ctx.uid.get(), (int) ctx.gid.get(), (int) ctx.pid.get());
  }

  /**
   * An operation on an open descriptor, timed and counted. The one errno mapping: specific
   * failures first, then anything else logged and turned into EIO.
   */
  private int call(String op, IntSupplier body) {
    long t0 = System.nanoTime();
    int r;
    try {
      r = body.getAsInt();
    } catch (Throwable e) {
      r = errnoOf(op, e);
    }
    metrics.record(op, r, System.nanoTime() - t0);
    return r;
  }

  private static int errnoOf(String op, Throwable t) {
    if (t instanceof FsException e) {
      if (e.errno() == Errno.EIO) {
        LOG.log(Level.ERROR, "{0}: {1}", op, e.getMessage());
      }
      return -e.errno();
    } else if (t instanceof Denied) {
      return -Errno.EACCES;
    } else if (t instanceof OutOfMemoryError) {
      LOG.log(Level.ERROR, "{0}: out of memory", op);
      return -Errno.ENOSPC;
    }
    LOG.log(Level.ERROR, op + " failed", t);
    return -Errno.EIO;
  }

  /** An operation on paths, given its caller. */
  @FunctionalInterface
  private interface Body {
    int run(Caller c);
  }

  /** The gate said no: carries what denied it to the report; never leaves the adapter. */
  private static final class Denied extends RuntimeException {
    private static final long serialVersionUID = 1L;
    final String by;

    Denied(String by) {
      super(by, null, false, false);
      this.by = by;
    }
  }

  /**
   * Runs an operation on {@code path} (and {@code path2}) for the calling process, maps its failure
   * to an errno, and reports it to the listener.
   */
  private int op(String op, String path, String path2, int flags, Body body) {
    long t0 = System.nanoTime();
    Caller c = caller();
    int r;
    String deniedBy = null;
    try {
      r = body.run(c);
    } catch (Denied d) {
      r = -Errno.EACCES;
      deniedBy = d.by;
      metrics.denied();
    } catch (Throwable e) {
      r = errnoOf(op, e);
    }
    long took = System.nanoTime() - t0;
    metrics.record(op, r, took);
    if (auditing) {
      try {
        listener.completed(new OpEvent(System.currentTimeMillis(), op, gatePath(path), gatePath(path2),
            r < 0 ? -r : 0, c.uid(), c.gid(), c.pid(), flags, took, deniedBy));
      } catch (RuntimeException e) {
        LOG.log(Level.WARNING, "audit listener failed: {0}", e.toString());
      }
    }
    return r;
  }

  private void check(Caller c, Access access, String path) {
    String by = gate.denial(c, access, gatePath(path));
    if (by != null) {
      throw new Denied(by);
    }
  }

  private void checkVisible(Caller c, String path) {
    String by = gate.invisibility(c, gatePath(path));
    if (by != null) {
      throw new Denied(by);
    }
  }

  /**
   * A FUSE path as the gate and the listener see it: decoded as UTF-8. The launcher decodes names
   * as ISO-8859-1 (one char per byte) so that any byte survives; an ASCII path is the same string
   * either way, so only paths with other bytes are converted.
   */
  private String gatePath(String path) {
    if (path == null) {
      return null;
    }
    for (int i = 0; i < path.length(); i++) {
      if (path.charAt(i) >= 0x80 || !asciiCompatible) {
        return new String(path.getBytes(charset), java.nio.charset.StandardCharsets.UTF_8);
      }
    }
    return path;
  }

  private static boolean isAsciiCompatible(Charset cs) {
    byte[] b = "azAZ09/._-".getBytes(cs);
    return b.length == 10 && new String(b, java.nio.charset.StandardCharsets.US_ASCII).equals("azAZ09/._-");
  }

  /** The actions an open with these flags needs, READ and/or WRITE. */
  private void checkOpen(Caller c, String path, int flags) {
    int mode = flags & O_ACCMODE;
    if (mode != O_WRONLY) {
      check(c, Access.READ, path);
    }
    if (mode == O_WRONLY || mode == O_RDWR || (flags & O_TRUNC) != 0) {
      check(c, Access.WRITE, path);
    }
  }

  /**
   * Attributes in the user and trusted namespaces are content and need READ (WRITE to change);
   * security.* and system.* (ACLs, capabilities, SELinux labels) are metadata that ls and cp probe
   * on every file, so looking at them needs only what stat needs.
   */
  private static boolean isContentXattr(String name) {
    return name == null || !(name.startsWith("security.") || name.startsWith("system."));
  }

  private static void fill(FileStat st, Attr a) {
    st.st_ino.set(a.ino());
    st.st_mode.set(a.mode());
    st.st_nlink.set(a.nlink());
    st.st_uid.set(a.uid() & 0xFFFFFFFFL);
    st.st_gid.set(a.gid() & 0xFFFFFFFFL);
    st.st_size.set(a.size());
    st.st_blocks.set(a.blocks());
    st.st_blksize.set(65536);
    st.st_atim.tv_sec.set(Math.floorDiv(a.atimeNs(), 1_000_000_000L));
    st.st_atim.tv_nsec.set(Math.floorMod(a.atimeNs(), 1_000_000_000L));
    st.st_mtim.tv_sec.set(Math.floorDiv(a.mtimeNs(), 1_000_000_000L));
    st.st_mtim.tv_nsec.set(Math.floorMod(a.mtimeNs(), 1_000_000_000L));
    st.st_ctim.tv_sec.set(Math.floorDiv(a.ctimeNs(), 1_000_000_000L));
    st.st_ctim.tv_nsec.set(Math.floorMod(a.ctimeNs(), 1_000_000_000L));
  }

  @Override
  public int getattr(String path, FileStat stat) {
    return op("getattr", path, null, 0, c -> {
      checkVisible(c, path);
      fill(stat, fs.getattr(bytes(path), c));
      return 0;
    });
  }

  @Override
  public int fgetattr(String path, FileStat stbuf, FuseFileInfo fi) {
    return call("fgetattr", () -> {
      fill(stbuf, fs.fgetattr(fi.fh.get()));
      return 0;
    });
  }

  @Override
  public int readlink(String path, Pointer buf, @size_t long size) {
    return op("readlink", path, null, 0, c -> {
      check(c, Access.READ, path);
      byte[] t = fs.readlink(bytes(path), c);
      int n = (int) Math.min(t.length, size - 1);
      buf.put(0, t, 0, n);
      buf.putByte(n, (byte) 0);
      return 0;
    });
  }

  @Override
  public int mknod(String path, @mode_t long mode, @dev_t long rdev) {
    return op("mknod", path, null, 0, c -> {
      check(c, Access.CREATE, path);
      fs.mknod(bytes(path), (int) mode, c);
      return 0;
    });
  }

  @Override
  public int mkdir(String path, @mode_t long mode) {
    return op("mkdir", path, null, 0, c -> {
      check(c, Access.CREATE, path);
      fs.mkdir(bytes(path), (int) mode, c);
      return 0;
    });
  }

  @Override
  public int unlink(String path) {
    return op("unlink", path, null, 0, c -> {
      check(c, Access.DELETE, path);
      fs.unlink(bytes(path), c);
      return 0;
    });
  }

  @Override
  public int rmdir(String path) {
    return op("rmdir", path, null, 0, c -> {
      check(c, Access.DELETE, path);
      fs.rmdir(bytes(path), c);
      return 0;
    });
  }

  @Override
  public int symlink(String oldpath, String newpath) {
    // the event's path is the new link, path2 its target (a string, not checked: it names nothing yet)
    return op("symlink", newpath, oldpath, 0, c -> {
      check(c, Access.CREATE, newpath);
      fs.symlink(bytes(oldpath), bytes(newpath), c);
      return 0;
    });
  }

  @Override
  public int rename(String oldpath, String newpath) {
    return op("rename", oldpath, newpath, 0, c -> {
      check(c, Access.DELETE, oldpath);
      check(c, Access.CREATE, newpath);
      fs.rename(bytes(oldpath), bytes(newpath));
      return 0;
    });
  }

  @Override
  public int link(String oldpath, String newpath) {
    return op("link", oldpath, newpath, 0, c -> {
      // a second name must not turn a path the caller may only read into one it may write
      check(c, Access.WRITE, oldpath);
      check(c, Access.CREATE, newpath);
      fs.link(bytes(oldpath), bytes(newpath));
      return 0;
    });
  }

  @Override
  public int chmod(String path, @mode_t long mode) {
    return op("chmod", path, null, 0, c -> {
      check(c, Access.WRITE, path);
      fs.chmod(bytes(path), (int) mode);
      return 0;
    });
  }

  @Override
  public int chown(String path, @uid_t long uid, @gid_t long gid) {
    return op("chown", path, null, 0, c -> {
      check(c, Access.WRITE, path);
      fs.chown(bytes(path), uid, gid);
      return 0;
    });
  }

  @Override
  public int truncate(String path, @off_t long size) {
    return op("truncate", path, null, 0, c -> {
      check(c, Access.WRITE, path);
      fs.truncate(bytes(path), size);
      return 0;
    });
  }

  @Override
  public int ftruncate(String path, @off_t long size, FuseFileInfo fi) {
    return call("ftruncate", () -> {
      fs.ftruncate(fi.fh.get(), size);
      return 0;
    });
  }

  @Override
  public int open(String path, FuseFileInfo fi) {
    int flags = fi.flags.get();
    return op("open", path, null, flags, c -> {
      checkOpen(c, path, flags);
      long fh = fs.open(bytes(path), flags, c);
      fi.fh.set(fh);
      Pointer mem = Struct.getMemory(fi);
      int bits = mem.getByte(FI_BITS_OFFSET);
      boolean direct = fs.bypassPageCache(fh);
      metrics.opened(direct);
      if (direct) {
        // direct_io: virtual content may change size between stat and read; a stored file with
        // more than one kernel inode (hard links, a name unlinked while open) must not be read
        // from pages cached under one of them (ClawFileSystem.bypassPageCache)
        bits |= 1;
      }
      // no keep_cache: libfuse2's high-level API gives each hard-link name its own kernel inode,
      // so pages cached under one name must be dropped at open to see writes made through another
      mem.putByte(FI_BITS_OFFSET, (byte) bits);
      return 0;
    });
  }

  @Override
  public int create(String path, @mode_t long mode, FuseFileInfo fi) {
    int flags = fi.flags.get();
    return op("create", path, null, flags, c -> {
      check(c, Access.CREATE, path);
      long fh = fs.create(bytes(path), (int) mode, flags, c);
      fi.fh.set(fh);
      boolean direct = fs.isVirtualHandle(fh);
      metrics.opened(direct);
      if (direct) {
        Pointer mem = Struct.getMemory(fi);
        mem.putByte(FI_BITS_OFFSET, (byte) (mem.getByte(FI_BITS_OFFSET) | 1));
      }
      return 0;
    });
  }

  private static final ThreadLocal<byte[]> IO = ThreadLocal.withInitial(() -> new byte[131072]);

  private static byte[] ioBuffer(long size) {
    byte[] b = IO.get();
    if (b.length < size) {
      b = new byte[(int) size];
      IO.set(b);
    }
    return b;
  }

  /** What a stream read that waits asks of the loop: was the caller interrupted, keep a thread free. */
  private final ClawFileSystem.ReadWait streamWait = new ClawFileSystem.ReadWait() {
    @Override
    public boolean interrupted() {
      FuseLoop l = loop;
      return l != null && l.interrupted();
    }

    @Override
    public void waiting() {
      FuseLoop l = loop;
      if (l != null) {
        l.keepOneFree();
      }
    }
  };

  @Override
  public int read(String path, Pointer buf, @size_t long size, @off_t long offset, FuseFileInfo fi) {
    return call("read", () -> {
      byte[] b = ioBuffer(size);
      int n = fs.read(fi.fh.get(), offset, b, (int) size, fi.flags.get(), streamWait);
      buf.put(0, b, 0, n);
      metrics.read(n);
      return n;
    });
  }

  @Override
  public int write(String path, Pointer buf, @size_t long size, @off_t long offset, FuseFileInfo fi) {
    return call("write", () -> {
      byte[] b = ioBuffer(size);
      buf.get(0, b, 0, (int) size);
      int n = fs.write(fi.fh.get(), offset, b, (int) size);
      metrics.written(n);
      return n;
    });
  }

  @Override
  public int statfs(String path, Statvfs stbuf) {
    return op("statfs", path, null, 0, c -> {
      checkVisible(c, path);
      StatFs s = fs.statfs();
      stbuf.f_bsize.set(s.blockSize());
      stbuf.f_frsize.set(s.blockSize());
      stbuf.f_blocks.set(s.totalBlocks());
      stbuf.f_bfree.set(s.freeBlocks());
      stbuf.f_bavail.set(s.availBlocks());
      stbuf.f_files.set(s.files());
      stbuf.f_ffree.set(s.freeFiles());
      stbuf.f_favail.set(s.freeFiles());
      stbuf.f_namemax.set(s.nameMax());
      return 0;
    });
  }

  @Override
  public int flush(String path, FuseFileInfo fi) {
    // stored data is written through on every write (durability is fsync's job); a virtual file
    // takes what was written now, so close(2) reports its verdict
    return call("flush", () -> {
      fs.flush(fi.fh.get());
      return 0;
    });
  }

  @Override
  public int release(String path, FuseFileInfo fi) {
    return call("release", () -> {
      fs.release(fi.fh.get());
      return 0;
    });
  }

  @Override
  public int fsync(String path, int isdatasync, FuseFileInfo fi) {
    return call("fsync", () -> {
      fs.fsync(fi.fh.get());
      return 0;
    });
  }

  @Override
  public int fsyncdir(String path, FuseFileInfo fi) {
    return call("fsyncdir", () -> {
      fs.sync();
      return 0;
    });
  }

  @Override
  public int setxattr(String path, String name, Pointer value, @size_t long size, int flags) {
    return op("setxattr", path, null, 0, c -> {
      check(c, Access.WRITE, path);
      byte[] v = new byte[(int) size];
      value.get(0, v, 0, v.length);
      fs.setxattr(bytes(path), name, v, flags);
      return 0;
    });
  }

  @Override
  public int getxattr(String path, String name, Pointer value, @size_t long size) {
    return op("getxattr", path, null, 0, c -> {
      if (isContentXattr(name)) {
        check(c, Access.READ, path);
      } else {
        checkVisible(c, path);
      }
      byte[] v = fs.getxattr(bytes(path), name);
      if (size == 0) {
        return v.length;
      }
      if (size < v.length) {
        return -Errno.ERANGE;
      }
      value.put(0, v, 0, v.length);
      return v.length;
    });
  }

  @Override
  public int listxattr(String path, Pointer list, @size_t long size) {
    return op("listxattr", path, null, 0, c -> {
      checkVisible(c, path); // names only: metadata, like stat
      List<String> names = fs.listxattr(bytes(path));
      ByteBuffer out = ByteBuffer.allocate(names.stream().mapToInt(n -> n.getBytes(charset).length + 1).sum());
      for (String n : names) {
        out.put(n.getBytes(charset)).put((byte) 0);
      }
      if (size == 0) {
        return out.capacity();
      }
      if (size < out.capacity()) {
        return -Errno.ERANGE;
      }
      list.put(0, out.array(), 0, out.capacity());
      return out.capacity();
    });
  }

  @Override
  public int removexattr(String path, String name) {
    return op("removexattr", path, null, 0, c -> {
      check(c, Access.WRITE, path);
      fs.removexattr(bytes(path), name);
      return 0;
    });
  }

  @Override
  public int opendir(String path, FuseFileInfo fi) {
    return op("opendir", path, null, 0, c -> {
      check(c, Access.LIST, path);
      Attr a = fs.getattr(bytes(path), c);
      if ((a.mode() & Inode.S_IFMT) != Inode.S_IFDIR) {
        return -Errno.ENOTDIR;
      }
      return 0;
    });
  }

  @Override
  public int readdir(String path, Pointer buf, FuseFillDir filter, @off_t long offset, FuseFileInfo fi) {
    return call("readdir", () -> {
      Caller c = caller();
      check(c, Access.LIST, path); // decided at opendir; asked again in case the policy changed
      List<ClawFileSystem.DirEntry> entries = fs.readdir(bytes(path), c);
      filter.apply(buf, cString(new byte[] {'.'}), null, 0);
      filter.apply(buf, cString(new byte[] {'.', '.'}), null, 0);
      for (ClawFileSystem.DirEntry e : entries) {
        if (filter.apply(buf, cString(e.name()), null, 0) != 0) {
          break;
        }
      }
      return 0;
    });
  }

  private static ByteBuffer cString(byte[] name) {
    ByteBuffer b = ByteBuffer.allocate(name.length + 1);
    b.put(name).put((byte) 0).flip();
    return b;
  }

  @Override
  public int releasedir(String path, FuseFileInfo fi) {
    return 0;
  }

  @Override
  public int access(String path, int mask) {
    return op("access", path, null, 0, c -> {
      checkVisible(c, path);
      fs.access(bytes(path), mask);
      return 0;
    });
  }

  @Override
  public int utimens(String path, Timespec[] timespec) {
    return op("utimens", path, null, 0, c -> {
      check(c, Access.WRITE, path);
      fs.utimens(bytes(path), timespec[0].tv_sec.get(), timespec[0].tv_nsec.longValue(),
          timespec[1].tv_sec.get(), timespec[1].tv_nsec.longValue());
      return 0;
    });
  }

  @Override
  public void destroy(Pointer initResult) {
    try {
      fs.close();
    } catch (Throwable e) {
      LOG.log(Level.ERROR, "closing the file system failed", e);
    } finally {
      destroyed.countDown();
    }
  }
}
