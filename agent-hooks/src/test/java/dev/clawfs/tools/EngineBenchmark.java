package dev.clawfs.tools;

import java.io.ByteArrayInputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * Interpreter against compiler on the shipped sha256 tool over 16 MiB of stdin, against the native
 * sha256sum for scale. Not a test: a measurement, printed, to choose the default engine.
 *
 * <pre>
 * mvn -q -o test-compile -pl agent-hooks
 * java -cp agent-hooks/target/test-classes:agent-hooks/target/classes:$(cat cp.txt) \
 *     dev.clawfs.tools.EngineBenchmark [MiB] [rounds]
 * </pre>
 */
public final class EngineBenchmark {

  private EngineBenchmark() {}

  public static void main(String[] args) throws Exception {
    int mib = args.length > 0 ? Integer.parseInt(args[0]) : 16;
    int rounds = args.length > 1 ? Integer.parseInt(args[1]) : 3;
    byte[] data = new byte[mib << 20];
    new Random(1).nextBytes(data);
    ToolManifest manifest = ToolManifest.parse(BuiltinTools.manifest("sha256"));
    ToolPolicy policy =
        ToolPolicy.UNRESTRICTED.withLimits(
            ToolLimits.UNLIMITED.stricter(
                new ToolLimits(64, java.time.Duration.ofMinutes(10), 1 << 20, 4)));
    ToolManifest unlimited =
        new ToolManifest(
            manifest.name(),
            manifest.description(),
            "",
            manifest.inputs(),
            new ToolLimits(64, java.time.Duration.ofMinutes(10), 1 << 20, 4),
            List.of(),
            List.of());

    System.out.printf("sha256 over %d MiB of stdin, %d rounds each (times in ms)%n", mib, rounds);
    for (ToolRuntime.Engine engine : ToolRuntime.Engine.values()) {
      long c0 = System.nanoTime();
      ToolRuntime rt = ToolRuntime.builder().withEngine(engine).build();
      Tool tool = rt.install(unlimited, BuiltinTools.module("sha256"));
      long installMs = (System.nanoTime() - c0) / 1_000_000;
      StringBuilder times = new StringBuilder();
      String digest = "";
      for (int i = 0; i < rounds; i++) {
        long t0 = System.nanoTime();
        RunResult r =
            rt.run(
                tool,
                new ToolRequest(
                    0, "", List.of(), Map.of(), new ByteArrayInputStream(data), null, null),
                policy);
        long ms = (System.nanoTime() - t0) / 1_000_000;
        if (!r.succeeded()) {
          throw new IllegalStateException(engine + ": " + r);
        }
        digest = r.stdoutText().substring(0, 16);
        times.append(ms).append(i + 1 < rounds ? ", " : "");
      }
      System.out.printf(
          "%-11s install %5d  runs %s  (%s...)%n",
          engine.name().toLowerCase(), installMs, times, digest);
    }
    Path tmp = Files.createTempFile("bench", ".bin");
    try {
      Files.write(tmp, data);
      long t0 = System.nanoTime();
      Process p = new ProcessBuilder("sha256sum", tmp.toString()).redirectErrorStream(true).start();
      p.getInputStream().transferTo(OutputStream.nullOutputStream());
      p.waitFor();
      System.out.printf("%-11s %d ms%n", "sha256sum", (System.nanoTime() - t0) / 1_000_000);
    } finally {
      Files.delete(tmp);
    }
  }
}
