package dev.clawfs.bpf;

import jnr.ffi.LibraryLoader;
import jnr.ffi.Pointer;
import jnr.ffi.annotations.Delegate;
import jnr.ffi.annotations.In;
import jnr.ffi.annotations.Out;
import jnr.ffi.types.size_t;

/** The native calls the loader makes, bound by jnr-ffi (which needs the interfaces public). */
final class Native {
  /**
   * The part of libbpf 1.x the loader uses. Functions returning int give 0 or a negative errno;
   * functions returning a pointer give NULL and set errno (libbpf 1.0 semantics).
   */
  public interface LibBpf {
    /** A ring buffer record: {@code int (*)(void *ctx, void *data, size_t size)}. */
    interface SampleCallback {
      @Delegate
      int onSample(Pointer ctx, Pointer data, @size_t long size);
    }

    /** libbpf's log hook: {@code int (*)(enum libbpf_print_level, const char *fmt, va_list)}. */
    interface PrintCallback {
      @Delegate
      int print(int level, Pointer format, Pointer vaList);
    }

    Pointer libbpf_set_print(PrintCallback callback);

    Pointer bpf_object__open_mem(Pointer buffer, @size_t long size, Pointer openOptions);

    int bpf_object__load(Pointer object);

    void bpf_object__close(Pointer object);

    Pointer bpf_object__next_program(Pointer object, Pointer previous);

    Pointer bpf_object__find_map_by_name(Pointer object, String name);

    String bpf_program__name(Pointer program);

    String bpf_program__section_name(Pointer program);

    int bpf_program__set_autoload(Pointer program, boolean autoload);

    Pointer bpf_program__attach(Pointer program);

    int bpf_link__destroy(Pointer link);

    int bpf_map__fd(Pointer map);

    int bpf_map_update_elem(int fd, @In int[] key, @In byte[] value, long flags);

    int bpf_map_delete_elem(int fd, @In int[] key);

    int bpf_map_lookup_elem(int fd, @In int[] key, @Out long[] value);

    int libbpf_num_possible_cpus();

    Pointer btf__load_vmlinux_btf();

    int btf__find_by_name_kind(Pointer btf, String name, int kind);

    void btf__free(Pointer btf);

    Pointer ring_buffer__new(int mapFd, SampleCallback callback, Pointer ctx, Pointer options);

    int ring_buffer__poll(Pointer ringBuffer, int timeoutMillis);

    void ring_buffer__free(Pointer ringBuffer);
  }

  /** The libc calls the loader needs beside libbpf. */
  public interface Libc {
    int vsnprintf(Pointer buffer, @size_t long size, Pointer format, Pointer vaList);

    int clock_gettime(int clock, @Out long[] timespec);
  }

  static final int CLOCK_MONOTONIC = 1;

  private static volatile LibBpf libbpf;
  private static volatile Libc libc;

  /**
   * Loads Debian's libbpf1 ({@code libbpf.so.1}), else whatever {@code libbpf.so} the system has.
   *
   * @throws UnsatisfiedLinkError when neither loads
   */
  static LibBpf libbpf() {
    LibBpf local = libbpf;
    if (local != null) {
      return local;
    }
    synchronized (Native.class) {
      if (libbpf == null) {
        UnsatisfiedLinkError first = null;
        for (String name : new String[] {"libbpf.so.1", "bpf"}) {
          try {
            libbpf = LibraryLoader.create(LibBpf.class).failImmediately().load(name);
            break;
          } catch (UnsatisfiedLinkError e) {
            first = first == null ? e : first;
          }
        }
        if (libbpf == null) {
          throw first;
        }
      }
      return libbpf;
    }
  }

  static Libc libc() {
    Libc local = libc;
    if (local == null) {
      local = LibraryLoader.create(Libc.class).failImmediately().load("c");
      libc = local;
    }
    return local;
  }

  /** CLOCK_MONOTONIC in nanoseconds: the clock bpf_ktime_get_ns reads. */
  static long monotonicNanos() {
    long[] ts = new long[2];
    if (libc().clock_gettime(CLOCK_MONOTONIC, ts) != 0) {
      throw new IllegalStateException("clock_gettime(CLOCK_MONOTONIC) failed");
    }
    return ts[0] * 1_000_000_000L + ts[1];
  }

  private Native() {}
}
