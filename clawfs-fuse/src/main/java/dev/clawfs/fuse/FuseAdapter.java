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
 */
public final class FuseAdapter extends FuseStubFS {
  private static final System.Logger LOG = System.getLogger("clawfs.fuse");
  /** Offset of the bitfield word (direct_io, keep_cache, ...) in libfuse2's struct fuse_file_info on x86_64. */
  private static final int FI_BITS_OFFSET = 20;

  private final ClawFileSystem fs;
  private final Charset charset = Charset.defaultCharset();
  private final CountDownLatch destroyed = new CountDownLatch(1);

  public FuseAdapter(ClawFileSystem fs) {
    this.fs = fs;
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
        FuseLoop loop = FuseLoop.start(Struct.getMemory(fuseOperations), Struct.size(fuseOperations), mountpoint, options, threads);
        loop.awaitAndTeardown();
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

  /** The one errno mapping: specific failures first, then anything else logged and turned into EIO. */
  private static int call(String op, IntSupplier body) {
    try {
      return body.getAsInt();
    } catch (FsException e) {
      if (e.errno() == Errno.EIO) {
        LOG.log(Level.ERROR, "{0}: {1}", op, e.getMessage());
      }
      return -e.errno();
    } catch (OutOfMemoryError e) {
      LOG.log(Level.ERROR, "{0}: out of memory", op);
      return -Errno.ENOSPC;
    } catch (Throwable e) {
      LOG.log(Level.ERROR, op + " failed", e);
      return -Errno.EIO;
    }
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
    return call("getattr", () -> {
      fill(stat, fs.getattr(bytes(path), caller()));
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
    return call("readlink", () -> {
      byte[] t = fs.readlink(bytes(path));
      int n = (int) Math.min(t.length, size - 1);
      buf.put(0, t, 0, n);
      buf.putByte(n, (byte) 0);
      return 0;
    });
  }

  @Override
  public int mknod(String path, @mode_t long mode, @dev_t long rdev) {
    return call("mknod", () -> {
      fs.mknod(bytes(path), (int) mode, caller());
      return 0;
    });
  }

  @Override
  public int mkdir(String path, @mode_t long mode) {
    return call("mkdir", () -> {
      fs.mkdir(bytes(path), (int) mode, caller());
      return 0;
    });
  }

  @Override
  public int unlink(String path) {
    return call("unlink", () -> {
      fs.unlink(bytes(path));
      return 0;
    });
  }

  @Override
  public int rmdir(String path) {
    return call("rmdir", () -> {
      fs.rmdir(bytes(path));
      return 0;
    });
  }

  @Override
  public int symlink(String oldpath, String newpath) {
    return call("symlink", () -> {
      fs.symlink(bytes(oldpath), bytes(newpath), caller());
      return 0;
    });
  }

  @Override
  public int rename(String oldpath, String newpath) {
    return call("rename", () -> {
      fs.rename(bytes(oldpath), bytes(newpath));
      return 0;
    });
  }

  @Override
  public int link(String oldpath, String newpath) {
    return call("link", () -> {
      fs.link(bytes(oldpath), bytes(newpath));
      return 0;
    });
  }

  @Override
  public int chmod(String path, @mode_t long mode) {
    return call("chmod", () -> {
      fs.chmod(bytes(path), (int) mode);
      return 0;
    });
  }

  @Override
  public int chown(String path, @uid_t long uid, @gid_t long gid) {
    return call("chown", () -> {
      fs.chown(bytes(path), uid, gid);
      return 0;
    });
  }

  @Override
  public int truncate(String path, @off_t long size) {
    return call("truncate", () -> {
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
    return call("open", () -> {
      long fh = fs.open(bytes(path), fi.flags.get(), caller());
      fi.fh.set(fh);
      Pointer mem = Struct.getMemory(fi);
      int bits = mem.getByte(FI_BITS_OFFSET);
      if (fs.isVirtualHandle(fh)) {
        bits |= 1; // direct_io: virtual content may change size between stat and read
      } else if (fs.fgetattr(fh).nlink() > 1) {
        // direct_io for hard-linked files: libfuse2 gives each name its own kernel inode and page
        // cache, so a descriptor open on one name must not read cached pages that a write through
        // another name made stale
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
    return call("create", () -> {
      fi.fh.set(fs.create(bytes(path), (int) mode, fi.flags.get(), caller()));
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

  @Override
  public int read(String path, Pointer buf, @size_t long size, @off_t long offset, FuseFileInfo fi) {
    return call("read", () -> {
      byte[] b = ioBuffer(size);
      int n = fs.read(fi.fh.get(), offset, b, (int) size);
      buf.put(0, b, 0, n);
      return n;
    });
  }

  @Override
  public int write(String path, Pointer buf, @size_t long size, @off_t long offset, FuseFileInfo fi) {
    return call("write", () -> {
      byte[] b = ioBuffer(size);
      buf.get(0, b, 0, (int) size);
      return fs.write(fi.fh.get(), offset, b, (int) size);
    });
  }

  @Override
  public int statfs(String path, Statvfs stbuf) {
    return call("statfs", () -> {
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
    return call("setxattr", () -> {
      byte[] v = new byte[(int) size];
      value.get(0, v, 0, v.length);
      fs.setxattr(bytes(path), name, v, flags);
      return 0;
    });
  }

  @Override
  public int getxattr(String path, String name, Pointer value, @size_t long size) {
    return call("getxattr", () -> {
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
    return call("listxattr", () -> {
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
    return call("removexattr", () -> {
      fs.removexattr(bytes(path), name);
      return 0;
    });
  }

  @Override
  public int opendir(String path, FuseFileInfo fi) {
    return call("opendir", () -> {
      Attr a = fs.getattr(bytes(path));
      if ((a.mode() & Inode.S_IFMT) != Inode.S_IFDIR) {
        return -Errno.ENOTDIR;
      }
      return 0;
    });
  }

  @Override
  public int readdir(String path, Pointer buf, FuseFillDir filter, @off_t long offset, FuseFileInfo fi) {
    return call("readdir", () -> {
      List<ClawFileSystem.DirEntry> entries = fs.readdir(bytes(path), caller());
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
    return call("access", () -> {
      fs.access(bytes(path), mask);
      return 0;
    });
  }

  @Override
  public int utimens(String path, Timespec[] timespec) {
    return call("utimens", () -> {
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
