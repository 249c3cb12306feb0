package dev.clawfs.fuse;

import java.lang.System.Logger.Level;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import jnr.ffi.LibraryLoader;
import jnr.ffi.Memory;
import jnr.ffi.Pointer;
import jnr.ffi.Runtime;
import jnr.ffi.byref.IntByReference;
import jnr.ffi.byref.PointerByReference;
import jnr.ffi.types.size_t;

/**
 * Serves libfuse2's high-level API from a fixed pool of Java threads instead of libfuse's own
 * worker threads ({@code fuse_loop_mt}).
 *
 * <p>Why: jffi attaches a native thread to the JVM for each callback and detaches it again after
 * (until that thread has made 1000 callbacks), so every callback on a libfuse worker created and
 * discarded a {@code java.lang.Thread}: measured here, about five per directory entry listed,
 * several hundred microseconds each. Threads that Java started are attached for good, so
 * callbacks on them cost a plain JNI upcall. Each pool thread does what a libfuse worker does:
 * {@code fuse_chan_recv} on the shared /dev/fuse channel, then {@code fuse_session_process}.
 *
 * <p>A request may wait for a long time (a read of a virtual stream waits for new events): before
 * it waits, {@link #keepOneFree()} starts another worker when none is idle, up to {@link
 * #MAX_THREADS}, so waiting readers never starve the mount.
 */
final class FuseLoop {
  private static final System.Logger LOG = System.getLogger("clawfs.fuse");
  private static final int EINTR = 4;
  private static final int EAGAIN = 11;
  private static final int ENOENT = 2;

  /** The libfuse 2.9 calls the loop needs (jnr-fuse binds only fuse_main). */
  public interface Lib {
    Pointer fuse_setup(int argc, String[] argv, Pointer op, @size_t long opSize,
        PointerByReference mountpoint, IntByReference multithreaded, Pointer userData);

    void fuse_teardown(Pointer fuse, Pointer mountpoint);

    Pointer fuse_get_session(Pointer fuse);

    Pointer fuse_session_next_chan(Pointer se, Pointer ch);

    @size_t
    long fuse_chan_bufsize(Pointer ch);

    int fuse_chan_recv(PointerByReference ch, Pointer buf, @size_t long size);

    void fuse_session_process(Pointer se, Pointer buf, @size_t long len, Pointer ch);

    int fuse_session_exited(Pointer se);

    void fuse_session_exit(Pointer se);

    /** Whether the request the calling thread is processing was interrupted (libfuse 2.9). */
    int fuse_interrupted();
  }

  /** Most worker threads there will ever be (each waiting stream reader holds one). */
  static final int MAX_THREADS = 64;

  private final Lib lib;
  private final Pointer fuse;
  private final Pointer mountpointC;
  private final Pointer session;
  private final Pointer channel;
  private final long bufSize;
  private final List<Thread> workers = new ArrayList<>();
  private final Object lock = new Object();
  /** Guarded by lock: workers started and not yet returned, and those waiting for a request. */
  private int alive;
  private int idle;

  private FuseLoop(Lib lib, Pointer fuse, Pointer mountpointC, int threads) {
    this.lib = lib;
    this.fuse = fuse;
    this.mountpointC = mountpointC;
    this.session = lib.fuse_get_session(fuse);
    this.channel = lib.fuse_session_next_chan(session, null);
    this.bufSize = lib.fuse_chan_bufsize(channel);
    for (int i = 0; i < threads; i++) {
      workers.add(newWorker(i));
    }
    alive = threads;
  }

  private Thread newWorker(int i) {
    Thread t = new Thread(this::work, "clawfs-fuse-" + i);
    t.setDaemon(true);
    return t;
  }

  /**
   * Called by a request that is about to wait for long: starts one more worker when no other is
   * idle, so other callers keep being served.
   */
  void keepOneFree() {
    Thread t;
    synchronized (lock) {
      if (idle > 0 || alive >= MAX_THREADS || lib.fuse_session_exited(session) != 0) {
        return;
      }
      t = newWorker(alive);
      alive++;
    }
    t.start();
  }

  /** Worker threads: {alive, idle (waiting for a request)}. */
  int[] threads() {
    synchronized (lock) {
      return new int[] {alive, idle};
    }
  }

  /** Whether the request the calling worker is processing was interrupted by the caller. */
  boolean interrupted() {
    return lib.fuse_interrupted() != 0;
  }

  /**
   * Mounts (fuse_setup: parses the options, mounts, creates the fuse handle with the given
   * operations struct) and starts {@code threads} workers. Throws if libfuse refuses.
   */
  static FuseLoop start(Pointer operations, long operationsSize, Path mountpoint, String[] options, int threads) {
    Lib lib = LibraryLoader.create(Lib.class).failImmediately().load("fuse");
    List<String> argv = new ArrayList<>();
    argv.add("clawfs");
    argv.add(mountpoint.toAbsolutePath().toString());
    argv.add("-f");
    argv.addAll(List.of(options));
    PointerByReference mp = new PointerByReference();
    IntByReference mt = new IntByReference();
    Pointer fuse = lib.fuse_setup(argv.size(), argv.toArray(String[]::new), operations, operationsSize, mp, mt, null);
    if (fuse == null) {
      throw new IllegalStateException("libfuse could not mount at " + mountpoint + " (see the messages above)");
    }
    FuseLoop loop = new FuseLoop(lib, fuse, mp.getValue(), threads);
    loop.workers.forEach(Thread::start);
    return loop;
  }

  private void work() {
    Pointer buf = Memory.allocateDirect(Runtime.getSystemRuntime(), (int) bufSize);
    try {
      while (lib.fuse_session_exited(session) == 0) {
        PointerByReference ch = new PointerByReference(channel);
        synchronized (lock) {
          idle++;
        }
        int res;
        try {
          res = lib.fuse_chan_recv(ch, buf, bufSize);
        } finally {
          synchronized (lock) {
            idle--;
          }
        }
        if (res == -EINTR || res == -EAGAIN || res == -ENOENT) {
          continue; // interrupted, or a request the kernel withdrew
        }
        if (res <= 0) {
          // 0 or -ENODEV: the file system was unmounted
          if (res < 0) {
            LOG.log(Level.DEBUG, "fuse_chan_recv ended with {0}", res);
          }
          lib.fuse_session_exit(session);
          break;
        }
        lib.fuse_session_process(session, buf, res, ch.getValue());
      }
    } catch (Throwable e) {
      LOG.log(Level.ERROR, "FUSE worker failed", e);
      lib.fuse_session_exit(session);
    } finally {
      synchronized (lock) {
        alive--;
        lock.notifyAll();
      }
    }
  }

  /** Blocks until the mount is gone and every worker has returned, then unmounts and destroys. */
  void awaitAndTeardown() throws InterruptedException {
    synchronized (lock) {
      while (alive > 0) {
        lock.wait();
      }
    }
    // fuse_teardown unmounts (a no-op when already unmounted) and calls the destroy operation
    lib.fuse_teardown(fuse, mountpointC);
  }

  /** Ends the loop from inside (for example on SIGTERM after a lazy unmount). */
  void exit() {
    lib.fuse_session_exit(session);
  }
}
