package dev.clawfs.tools;

import com.dylibso.chicory.runtime.ChicoryInterruptedException;
import com.dylibso.chicory.runtime.ImportValues;
import com.dylibso.chicory.runtime.Instance;
import com.dylibso.chicory.wasi.WasiExitException;
import com.dylibso.chicory.wasi.WasiOptions;
import com.dylibso.chicory.wasi.WasiPreview1;
import com.dylibso.chicory.wasm.ChicoryException;
import java.io.ByteArrayOutputStream;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.time.Clock;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;

/**
 * One execution of a module, on a thread of its own: WASI set up with the request's streams (stdout
 * and stderr charged to the output budget), the granted subtrees preopened from a {@link
 * ViewFileSystem}, the memory guarded, then {@code _start}. The requesting thread waits at most the
 * wall time, then interrupts the run: Chicory's interpreter and its compiled code both check the
 * thread's interrupt flag on every call and backward branch, and its WASI sleep (poll_oneoff) ends
 * on it.
 */
final class ToolRun {

  /** How long a run interrupted at its wall time gets to unwind before the caller stops waiting. */
  static final long GRACE_MILLIS = 2000;

  private final Tool tool;
  private final ToolRequest request;
  private final ToolLimits limits;
  private final ViewFileSystem view;
  private final List<String> preopens;
  private final Clock clock;
  private final Random random;
  private final OutputBudget budget;
  private final ByteArrayOutputStream capturedOut;
  private final ByteArrayOutputStream capturedErr;
  private final AtomicLong bytesIn = new AtomicLong();

  private volatile Integer exitCode;
  private volatile Throwable failure;

  ToolRun(
      Tool tool,
      ToolRequest request,
      ToolLimits limits,
      ToolFiles files,
      PathGate gate,
      Clock clock,
      Random random) {
    this.tool = tool;
    this.request = request;
    this.limits = limits;
    this.clock = clock;
    this.random = random;
    this.budget = new OutputBudget(limits.outputBytes());
    this.capturedOut = request.stdout() == null ? new ByteArrayOutputStream() : null;
    this.capturedErr = request.stderr() == null ? new ByteArrayOutputStream() : null;

    List<ViewFileSystem.Grant> grants = new ArrayList<>();
    Set<String> roots = new LinkedHashSet<>();
    if (files != null) {
      for (String root : tool.manifest().readPaths()) {
        grants.add(new ViewFileSystem.Grant(root, false));
        roots.add(root);
      }
      for (String root : tool.manifest().writePaths()) {
        grants.add(new ViewFileSystem.Grant(root, true));
        roots.add(root);
      }
    }
    this.view = new ViewFileSystem(files, grants, gate, budget, limits.outputBytes());
    // a root the caller may not read at all is not shown to the tool
    this.preopens = roots.stream().filter(r -> gate.permits(r, false)).toList();
  }

  /** The thread body: runs the module to its end, recording how it ended. */
  void execute() {
    OutputStream out =
        budget.stream(capturedOut != null ? capturedOut : request.stdout(), "stdout");
    OutputStream err =
        budget.stream(capturedErr != null ? capturedErr : request.stderr(), "stderr");
    WasiOptions.Builder options =
        WasiOptions.builder()
            .withStdin(new CountingInput(request.stdin(), bytesIn), false)
            .withStdout(out, false)
            .withStderr(err, false)
            .withClock(clock)
            .withRandom(random)
            .withArguments(arguments());
    request.env().forEach(options::withEnvironment);
    for (String root : preopens) {
      options.withDirectory(root, view.pathOf(root));
    }
    WasiPreview1 wasi =
        WasiPreview1.builder()
            .withOptions(options.build())
            .withLogger(QuietLogger.INSTANCE)
            .build();
    try {
      var builder =
          Instance.builder(tool.loaded().module())
              .withImportValues(
                  ImportValues.builder().addFunction(LoadedModule.offeredFunctions(wasi)).build())
              .withMemoryFactory(declared -> GuardedMemory.create(declared, limits.memoryPages()))
              .withStart(false);
      if (tool.loaded().machineFactory() != null) {
        builder.withMachineFactory(tool.loaded().machineFactory());
      }
      Instance instance = builder.build();
      instance.export("_start").apply();
      exitCode = 0;
    } catch (WasiExitException e) {
      exitCode = e.exitCode();
    } catch (Throwable t) { // a run must never take the server down: everything is a result
      failure = t;
      view.abort();
    } finally {
      try {
        wasi.close(); // closes the module's files: writes in writable grants are handed over here
      } catch (RuntimeException e) {
        if (failure == null && exitCode != null) {
          failure = e;
        }
      }
      flushQuietly(out);
      flushQuietly(err);
    }
  }

  private List<String> arguments() {
    List<String> argv = new ArrayList<>();
    argv.add(tool.name());
    argv.addAll(request.args());
    return argv;
  }

  private static void flushQuietly(OutputStream s) {
    try {
      s.flush();
    } catch (IOException | RuntimeException e) {
      // the caller's stream is gone; the result still says how the run ended
    }
  }

  Integer exitCode() {
    return exitCode;
  }

  Throwable failure() {
    return failure;
  }

  ViewFileSystem view() {
    return view;
  }

  long bytesIn() {
    return bytesIn.get();
  }

  long bytesOut() {
    return budget.used();
  }

  byte[] capturedOut() {
    return capturedOut == null ? new byte[0] : capturedOut.toByteArray();
  }

  byte[] capturedErr() {
    return capturedErr == null ? new byte[0] : capturedErr.toByteArray();
  }

  /** The limit behind {@code t} (anywhere in its causes), or {@code null}. */
  static LimitExceeded limitIn(Throwable t) {
    for (Throwable c = t; c != null; c = c.getCause()) {
      if (c instanceof LimitExceeded) {
        return (LimitExceeded) c;
      }
      if (c.getCause() == c) {
        break;
      }
    }
    return null;
  }

  /** Whether {@code t} is the module being interrupted. */
  static boolean interrupted(Throwable t) {
    for (Throwable c = t; c != null; c = c.getCause()) {
      if (c instanceof ChicoryInterruptedException || c instanceof InterruptedException) {
        return true;
      }
      if (c instanceof ChicoryException && "Thread interrupted".equals(c.getMessage())) {
        return true; // WASI's sleep reports an interrupt this way
      }
      if (c.getCause() == c) {
        break;
      }
    }
    return false;
  }

  /** Counts what the module reads from stdin. */
  private static final class CountingInput extends FilterInputStream {
    private final AtomicLong count;

    CountingInput(InputStream in, AtomicLong count) {
      super(in);
      this.count = count;
    }

    @Override
    public int read() throws IOException {
      int b = super.read();
      if (b >= 0) {
        count.incrementAndGet();
      }
      return b;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      int n = super.read(b, off, len);
      if (n > 0) {
        count.addAndGet(n);
      }
      return n;
    }
  }
}
