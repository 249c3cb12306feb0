package dev.clawfs.bpf;

import java.lang.System.Logger.Level;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import jnr.ffi.Memory;
import jnr.ffi.Pointer;
import jnr.ffi.Runtime;

/**
 * Collects what libbpf prints (warnings and the verifier log) instead of letting it reach stderr, so
 * that a failed load can name its cause. libbpf's print hook is process wide: installed once.
 */
final class LibbpfLog {
  private static final System.Logger LOG = System.getLogger("clawfs.bpf.libbpf");
  private static final int LIBBPF_DEBUG = 2;
  private static final int KEEP = 80;
  private static final Deque<String> LINES = new ArrayDeque<>();
  // held for the life of the process: libbpf keeps the function pointer
  private static Native.LibBpf.PrintCallback callback;

  static synchronized void install(Native.LibBpf lib) {
    if (callback != null) {
      return;
    }
    Native.Libc libc = Native.libc();
    Pointer buffer = Memory.allocateDirect(Runtime.getRuntime(lib), 4096);
    callback = (level, format, vaList) -> {
      if (level >= LIBBPF_DEBUG) {
        return 0;
      }
      try {
        // the buffer is shared: libbpf prints from the thread that loads, one at a time per object
        synchronized (LibbpfLog.class) {
          libc.vsnprintf(buffer, 4096, format, vaList);
          String text = buffer.getString(0);
          for (String line : text.split("\n")) {
            if (!line.isBlank()) {
              LINES.addLast(line.strip());
              if (LINES.size() > KEEP) {
                LINES.removeFirst();
              }
              LOG.log(Level.DEBUG, line);
            }
          }
        }
      } catch (RuntimeException | Error e) {
        // nothing may be thrown into libbpf
      }
      return 0;
    };
    lib.libbpf_set_print(callback);
  }

  static synchronized void clear() {
    LINES.clear();
  }

  /** The last few lines libbpf printed, most recent last. */
  static synchronized List<String> tail(int n) {
    List<String> all = new ArrayList<>(LINES);
    return all.subList(Math.max(0, all.size() - n), all.size());
  }

  private LibbpfLog() {}
}
