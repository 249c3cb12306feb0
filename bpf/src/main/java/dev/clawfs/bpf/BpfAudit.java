package dev.clawfs.bpf;

import java.io.IOException;
import java.lang.System.Logger.Level;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import jnr.ffi.Memory;
import jnr.ffi.Pointer;
import jnr.ffi.Runtime;

/**
 * Records what the watched uids (the agents) do outside the mount: execs, opens, connects. The
 * filtering happens in the kernel, so other processes cost one hash lookup per hooked call.
 *
 * <pre>{@code
 * Availability a = BpfAudit.probe();              // cheap: no kernel objects
 * try (BpfAudit audit = BpfAudit.start(audit::publish)) {
 *   audit.watchUid(1001);
 *   ...
 * } catch (BpfException e) {
 *   status(e.statusLine());                      // "ebpf: off: needs root (EPERM loading program)"
 * }
 * }</pre>
 *
 * <p>Events reach the sink on one daemon thread, in order per CPU; a sink that blocks holds up the
 * ring buffer, and what does not fit is counted in {@link #dropped()}. The sink's exceptions are
 * logged, never propagated. The process that starts the audit is ignored (its tgid is in the kernel's
 * ignore map), so the server reading its own vault never feeds the audit stream.
 */
public final class BpfAudit implements AutoCloseable {
  private static final System.Logger LOG = System.getLogger("clawfs.bpf");
  private static final Path BTF = Path.of("/sys/kernel/btf/vmlinux");
  private static final int POLL_MILLIS = 100;
  private static final int BTF_KIND_TYPEDEF = 8;
  private static final int BTF_KIND_FUNC = 12;
  private static final int CAP_SYS_ADMIN = 21;
  private static final int CAP_PERFMON = 38;
  private static final int CAP_BPF = 39;

  private final Native.LibBpf lib;
  private final Pointer objectBuffer; // libbpf reads the ELF from here until load finishes
  private final Pointer object;
  private final List<Pointer> links;
  private final List<String> hooks;
  private final List<String> hooksOff;
  private final int watchedFd;
  private final int ignoredFd;
  private final int droppedFd;
  private final Set<Integer> watched = new TreeSet<>();
  private final EventDecoder decoder;
  private final Consumer<BpfEvent> sink;
  private final AtomicLong events = new AtomicLong();
  private final AtomicLong malformed = new AtomicLong();
  private final AtomicLong sinkFailures = new AtomicLong();
  private final Native.LibBpf.SampleCallback callback; // referenced so the native stub is not collected
  private Pointer ringBuffer;
  private Thread poller;
  private volatile boolean closing;
  private volatile String failure;
  private boolean released;
  private long droppedAtRelease;

  private BpfAudit(
      Native.LibBpf lib, Pointer objectBuffer, Pointer object, List<Pointer> links, List<String> hooks,
      List<String> hooksOff, Consumer<BpfEvent> sink) throws BpfException {
    this.lib = lib;
    this.objectBuffer = objectBuffer;
    this.object = object;
    this.links = links;
    this.hooks = List.copyOf(hooks);
    this.hooksOff = List.copyOf(hooksOff);
    this.sink = sink;
    this.watchedFd = mapFd("watched_uids");
    this.ignoredFd = mapFd("ignored_tgids");
    this.droppedFd = mapFd("dropped");
    this.decoder = new EventDecoder(EventDecoder.measureEpochOffset());
    this.callback = this::onSample;
  }

  /**
   * Checks, without touching the kernel's BPF subsystem, what {@link #start} needs: the object in the
   * jar, Linux with BTF, libbpf, and the capabilities to load tracing programs.
   */
  public static Availability probe() {
    try {
      AuditObject.bytes();
    } catch (BpfException e) {
      return Availability.missing(e.reason(), e.getMessage());
    }
    if (!System.getProperty("os.name", "").toLowerCase(Locale.ROOT).contains("linux")) {
      return Availability.missing(BpfException.Reason.UNSUPPORTED_KERNEL, "not Linux");
    }
    if (!Files.isReadable(BTF)) {
      return Availability.missing(BpfException.Reason.UNSUPPORTED_KERNEL,
          "no kernel BTF (" + BTF + "; needs CONFIG_DEBUG_INFO_BTF)");
    }
    try {
      Native.libbpf();
      Native.libc();
    } catch (UnsatisfiedLinkError e) {
      return Availability.missing(BpfException.Reason.NO_LIBBPF,
          "libbpf not found (apt-get install libbpf1): " + e.getMessage());
    } catch (LinkageError e) {
      return Availability.missing(BpfException.Reason.NO_LIBBPF, "jnr-ffi unusable: " + e);
    }
    if (!privileged()) {
      return Availability.missing(BpfException.Reason.NOT_PERMITTED,
          "needs root (CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN)");
    }
    return Availability.ready();
  }

  /**
   * Loads and attaches the programs and starts delivering events of watched uids to {@code sink}.
   * No uid is watched yet: call {@link #watchUid}.
   *
   * @throws BpfException with a one-line reason ({@link BpfException#statusLine()}) when the machine,
   *     the permissions or the kernel do not allow it; nothing stays loaded then
   */
  public static BpfAudit start(Consumer<BpfEvent> sink) throws BpfException {
    if (sink == null) {
      throw new NullPointerException("sink");
    }
    Availability availability = probe();
    if (!availability.available()) {
      throw availability.toException();
    }
    try {
      return load(Native.libbpf(), AuditObject.bytes(), sink);
    } catch (LinkageError e) {
      throw new BpfException(BpfException.Reason.NO_LIBBPF, "libbpf too old or incomplete: " + e.getMessage());
    }
  }

  private static BpfAudit load(Native.LibBpf lib, byte[] elf, Consumer<BpfEvent> sink) throws BpfException {
    LibbpfLog.install(lib);
    LibbpfLog.clear();
    Runtime runtime = Runtime.getRuntime(lib);
    Pointer buffer = Memory.allocateDirect(runtime, elf.length);
    buffer.put(0, elf, 0, elf.length);
    // struct bpf_object_open_opts { size_t sz; const char *object_name; ... }: the first two suffice
    byte[] nameBytes = "clawfs_audit\0".getBytes(StandardCharsets.US_ASCII);
    Pointer name = Memory.allocateDirect(runtime, nameBytes.length);
    name.put(0, nameBytes, 0, nameBytes.length);
    Pointer opts = Memory.allocateDirect(runtime, 16);
    opts.putLong(0, 16);
    opts.putPointer(8, name);

    Pointer object = lib.bpf_object__open_mem(buffer, elf.length, opts);
    if (object == null) {
      throw new BpfException(BpfException.Reason.LOAD_FAILED,
          "eBPF object unreadable by libbpf: " + Errno.name(runtime.getLastError()), LibbpfLog.tail(20));
    }
    List<Pointer> links = new ArrayList<>();
    boolean ok = false;
    try {
      List<Pointer> programs = programs(lib, object);
      List<String> off = disableMissingHooks(lib, programs);
      if (off.size() == programs.size()) {
        throw new BpfException(BpfException.Reason.LOAD_FAILED, "no hook exists in this kernel: " + String.join("; ", off));
      }
      int err = lib.bpf_object__load(object);
      if (err == -Errno.EPERM) {
        throw new BpfException(BpfException.Reason.NOT_PERMITTED, privileged()
            ? "kernel refused program " + failedProgram() + " with EPERM although privileged (lockdown or a restricted kernel)"
            : "needs root (EPERM loading program)", LibbpfLog.tail(20));
      }
      if (err < 0) {
        throw new BpfException(BpfException.Reason.LOAD_FAILED,
            "kernel refused the eBPF programs: " + Errno.name(err) + lastLine(), LibbpfLog.tail(40));
      }
      List<String> on = new ArrayList<>();
      for (Pointer program : programs) {
        String label = label(lib, program);
        if (off.stream().anyMatch(o -> o.startsWith(label + " "))) {
          continue;
        }
        Pointer link = lib.bpf_program__attach(program);
        if (link == null) {
          int errno = runtime.getLastError();
          throw new BpfException(errno == Errno.EPERM ? BpfException.Reason.NOT_PERMITTED : BpfException.Reason.ATTACH_FAILED,
              "attaching " + label + " (" + lib.bpf_program__section_name(program) + ") failed: " + Errno.name(errno),
              LibbpfLog.tail(20));
        }
        links.add(link);
        on.addAll(List.of(label.split("\\+")));
      }
      BpfAudit audit = new BpfAudit(lib, buffer, object, links, on, off, sink);
      audit.ignorePid((int) ProcessHandle.current().pid());
      audit.startPolling();
      ok = true;
      return audit;
    } finally {
      if (!ok) {
        for (Pointer link : links) {
          lib.bpf_link__destroy(link);
        }
        lib.bpf_object__close(object);
      }
    }
  }

  private static List<Pointer> programs(Native.LibBpf lib, Pointer object) {
    List<Pointer> programs = new ArrayList<>();
    for (Pointer p = lib.bpf_object__next_program(object, null); p != null; p = lib.bpf_object__next_program(object, p)) {
      programs.add(p);
    }
    return programs;
  }

  /**
   * Turns off programs whose kernel function or tracepoint this kernel lacks (functions get renamed
   * or inlined between releases), so the other hooks still load. Returns "open off: ..." notes.
   */
  private static List<String> disableMissingHooks(Native.LibBpf lib, List<Pointer> programs) throws BpfException {
    Pointer btf = lib.btf__load_vmlinux_btf();
    if (btf == null) {
      throw new BpfException(BpfException.Reason.UNSUPPORTED_KERNEL, "kernel BTF unreadable by libbpf", LibbpfLog.tail(10));
    }
    List<String> off = new ArrayList<>();
    try {
      for (Pointer program : programs) {
        String section = lib.bpf_program__section_name(program);
        int slash = section.indexOf('/');
        String type = slash < 0 ? section : section.substring(0, slash);
        String target = slash < 0 ? "" : section.substring(slash + 1);
        boolean present = switch (type) {
          case "tp_btf" -> lib.btf__find_by_name_kind(btf, "btf_trace_" + target, BTF_KIND_TYPEDEF) > 0;
          case "fentry", "fexit" -> lib.btf__find_by_name_kind(btf, target, BTF_KIND_FUNC) > 0;
          default -> true;
        };
        if (!present) {
          lib.bpf_program__set_autoload(program, false);
          off.add(label(lib, program) + " off: " + target + " not in this kernel");
        }
      }
    } finally {
      lib.btf__free(btf);
    }
    return off;
  }

  /** What a program reports: "exec" for clawfs_exec, "open+connect" for clawfs_syscalls. */
  private static String label(Native.LibBpf lib, Pointer program) {
    String name = lib.bpf_program__name(program);
    return switch (name) {
      case "clawfs_exec" -> "exec";
      case "clawfs_syscalls" -> "open+connect";
      default -> name;
    };
  }

  /** The program libbpf named in "prog 'clawfs_exec': BPF program load failed", or "?". */
  private static String failedProgram() {
    for (String line : LibbpfLog.tail(40)) {
      int i = line.indexOf("prog '");
      int j = i < 0 ? -1 : line.indexOf('\'', i + 6);
      if (j > 0 && line.contains("load failed")) {
        return line.substring(i + 6, j);
      }
    }
    return "?";
  }

  private static boolean privileged() {
    long caps = effectiveCapabilities();
    return has(caps, CAP_SYS_ADMIN) || (has(caps, CAP_BPF) && has(caps, CAP_PERFMON));
  }

  private static String lastLine() {
    List<String> tail = LibbpfLog.tail(1);
    return tail.isEmpty() ? "" : " (" + tail.get(0) + ")";
  }

  private int mapFd(String name) throws BpfException {
    Pointer map = lib.bpf_object__find_map_by_name(object, name);
    int fd = map == null ? -1 : lib.bpf_map__fd(map);
    if (fd < 0) {
      throw new BpfException(BpfException.Reason.MAP_FAILED, "eBPF map " + name + " missing from the object");
    }
    return fd;
  }

  private void startPolling() throws BpfException {
    Pointer map = lib.bpf_object__find_map_by_name(object, "events");
    int fd = map == null ? -1 : lib.bpf_map__fd(map);
    ringBuffer = fd < 0 ? null : lib.ring_buffer__new(fd, callback, null, null);
    if (ringBuffer == null) {
      throw new BpfException(BpfException.Reason.MAP_FAILED,
          "ring buffer setup failed: " + Errno.name(Runtime.getRuntime(lib).getLastError()), LibbpfLog.tail(10));
    }
    poller = new Thread(this::poll, "clawfs-bpf-poll");
    poller.setDaemon(true);
    poller.start();
  }

  private void poll() {
    try {
      while (!closing) {
        int n = lib.ring_buffer__poll(ringBuffer, POLL_MILLIS);
        if (n < 0 && n != -Errno.EINTR) {
          failure = "ring buffer poll failed: " + Errno.name(n);
          LOG.log(Level.ERROR, failure);
          break;
        }
      }
    } catch (Throwable t) {
      failure = "poll thread failed: " + t;
      LOG.log(Level.ERROR, "eBPF poll thread failed", t);
    } finally {
      // whoever stops the loop (close, or an error) frees the kernel objects: nothing stays attached
      release();
    }
  }

  /** Called by libbpf inside ring_buffer__poll on the poll thread; must not throw. */
  private int onSample(Pointer ctx, Pointer data, long size) {
    if (closing) {
      return 0;
    }
    try {
      byte[] bytes = new byte[(int) size];
      data.get(0, bytes, 0, bytes.length);
      BpfEvent event = decoder.decode(ByteBuffer.wrap(bytes).order(ByteOrder.nativeOrder()));
      if (event == null) {
        malformed.incrementAndGet();
        return 0;
      }
      events.incrementAndGet();
      sink.accept(event);
    } catch (Throwable t) {
      // a consumer that always fails must not flood the log: the first with its trace, then a count
      long n = sinkFailures.incrementAndGet();
      if (n == 1) {
        LOG.log(Level.WARNING, "eBPF audit sink failed on a record", t);
      } else if (n % 1000 == 0) {
        LOG.log(Level.WARNING, "eBPF audit sink failed on {0} records, last: {1}", n, t.toString());
      }
    }
    return 0;
  }

  /** Reports the processes of {@code uid} (real uid) from now on. */
  public synchronized void watchUid(int uid) {
    checkOpen();
    int err = lib.bpf_map_update_elem(watchedFd, new int[] {uid}, new byte[] {1}, 0);
    if (err < 0) {
      throw new IllegalStateException("watching uid " + uid + " failed: " + Errno.name(err));
    }
    watched.add(uid);
  }

  /** Stops reporting {@code uid}; records already in the ring buffer are still delivered. */
  public synchronized void unwatchUid(int uid) {
    checkOpen();
    lib.bpf_map_delete_elem(watchedFd, new int[] {uid});
    watched.remove(uid);
  }

  /** Never reports process {@code pid} (a tgid), whatever its uid. The starting process is ignored already. */
  public synchronized void ignorePid(int pid) {
    checkOpen();
    int err = lib.bpf_map_update_elem(ignoredFd, new int[] {pid}, new byte[] {1}, 0);
    if (err < 0) {
      throw new IllegalStateException("ignoring pid " + pid + " failed: " + Errno.name(err));
    }
  }

  public synchronized Set<Integer> watchedUids() {
    return Set.copyOf(watched);
  }

  /** What is being recorded: some of "exec", "open", "connect". */
  public List<String> hooks() {
    return hooks;
  }

  /** Events delivered to the sink so far. */
  public long events() {
    return events.get();
  }

  /** Records the kernel could not queue because the ring buffer was full, summed over CPUs. */
  public synchronized long dropped() {
    if (released) {
      return droppedAtRelease;
    }
    long[] perCpu = new long[Math.max(1, lib.libbpf_num_possible_cpus())];
    if (lib.bpf_map_lookup_elem(droppedFd, new int[] {0}, perCpu) < 0) {
      return droppedAtRelease;
    }
    long sum = 0;
    for (long n : perCpu) {
      sum += n;
    }
    return sum + malformed.get();
  }

  /** False once closed, or when the poll thread stopped on an error ({@link #statusLine()} says which). */
  public boolean running() {
    return !closing && failure == null;
  }

  /** "ebpf: on (exec, open, connect; 2 uids, 120 events, 0 dropped)" or "ebpf: off: ...". */
  public String statusLine() {
    String f = failure;
    if (f != null) {
      return "ebpf: off: " + f;
    }
    if (closing) {
      return "ebpf: off: closed";
    }
    StringBuilder b = new StringBuilder("ebpf: on (").append(String.join(", ", hooks));
    for (String off : hooksOff) {
      b.append("; ").append(off);
    }
    return b.append("; ").append(watchedUids().size()).append(" uids, ").append(events()).append(" events, ")
        .append(dropped()).append(" dropped)").toString();
  }

  /**
   * Detaches every program and frees the kernel objects; no event reaches the sink once this returns
   * (unless called from the sink itself, when the poll thread finishes the release after it).
   */
  @Override
  public void close() {
    closing = true;
    Thread t = poller;
    if (t != null && t != Thread.currentThread()) {
      boolean interrupted = false;
      while (t.isAlive()) {
        try {
          t.join();
        } catch (InterruptedException e) {
          interrupted = true;
        }
      }
      if (interrupted) {
        Thread.currentThread().interrupt();
      }
    }
    if (t == null) {
      release();
    }
  }

  private synchronized void release() {
    if (released) {
      return;
    }
    droppedAtRelease = dropped();
    released = true;
    if (ringBuffer != null) {
      lib.ring_buffer__free(ringBuffer);
      ringBuffer = null;
    }
    for (Pointer link : links) {
      lib.bpf_link__destroy(link);
    }
    links.clear();
    lib.bpf_object__close(object);
    LOG.log(Level.DEBUG, "eBPF audit released ({0} bytes of object)", objectBuffer.size());
  }

  private void checkOpen() {
    if (released || closing) {
      throw new IllegalStateException("eBPF audit is closed");
    }
  }

  private static boolean has(long caps, int cap) {
    return (caps & (1L << cap)) != 0;
  }

  /** CapEff from /proc/self/status; 0 when unreadable. */
  static long effectiveCapabilities() {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
        if (line.startsWith("CapEff:")) {
          return Long.parseUnsignedLong(line.substring(7).strip(), 16);
        }
      }
    } catch (IOException | NumberFormatException e) {
      LOG.log(Level.DEBUG, "cannot read capabilities", e);
    }
    return 0;
  }
}
