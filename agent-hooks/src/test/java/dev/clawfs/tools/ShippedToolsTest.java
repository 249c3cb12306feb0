package dev.clawfs.tools;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

/**
 * The four shipped tools, built by the Maven build from test-data/tools, give the right output: the
 * fixtures in test-data/tools/<tool>/tests/ on both engines, and wordcount and sha256 byte-for-byte
 * against the native wc and sha256sum on the same input, from stdin and from files served through
 * ToolFiles.
 */
class ShippedToolsTest {

  private static ToolRuntime compiled;
  private static ToolRuntime interpreted;
  private static MemoryToolFiles files;
  private static final int UID = 1000;

  @BeforeAll
  static void install() throws Exception {
    files = new MemoryToolFiles();
    if (BuiltinTools.unavailableReason().isPresent()) {
      return; // each test skips with the reason
    }
    compiled =
        ToolRuntime.builder().withFiles(files).withEngine(ToolRuntime.Engine.COMPILER).build();
    interpreted =
        ToolRuntime.builder().withFiles(files).withEngine(ToolRuntime.Engine.INTERPRETER).build();
    BuiltinTools.installAll(compiled);
    BuiltinTools.installAll(interpreted);
  }

  @Test
  void jarShipsFourToolsWithManifests() throws Exception {
    Modules.requireBuiltins();
    assertEquals(
        List.of("jsonq", "md2text", "sha256", "wordcount"),
        BuiltinTools.names().stream().sorted().toList());
    for (String name : BuiltinTools.names()) {
      ToolManifest m = ToolManifest.parse(BuiltinTools.manifest(name));
      assertEquals(name, m.name());
      assertEquals(ToolRuntime.Engine.COMPILER, compiled.tool(name).orElseThrow().engine());
    }
  }

  /**
   * Every case under test-data/tools/<tool>/tests/<case>/: args, stdin, expected[, exit, stderr].
   */
  @TestFactory
  Stream<DynamicTest> fixtures() throws IOException {
    Modules.requireBuiltins();
    Path root = Modules.toolSources();
    List<DynamicTest> tests = new ArrayList<>();
    try (Stream<Path> toolDirs = Files.list(root)) {
      for (Path toolDir : toolDirs.sorted().toList()) {
        Path cases = toolDir.resolve("tests");
        if (!Files.isDirectory(cases)) {
          continue;
        }
        try (Stream<Path> caseDirs = Files.list(cases)) {
          for (Path c : caseDirs.sorted().toList()) {
            for (ToolRuntime rt : List.of(compiled, interpreted)) {
              String label =
                  (rt == compiled ? "compiled" : "interpreted")
                      + " "
                      + toolDir.getFileName()
                      + "/"
                      + c.getFileName();
              tests.add(
                  DynamicTest.dynamicTest(
                      label, () -> runCase(rt, toolDir.getFileName().toString(), c)));
            }
          }
        }
      }
    }
    assertTrue(tests.size() >= 2 * 20, "fixtures found: " + tests.size());
    return tests.stream();
  }

  private static void runCase(ToolRuntime rt, String tool, Path c) throws IOException {
    List<String> args =
        Files.exists(c.resolve("args"))
            ? Files.readAllLines(c.resolve("args")).stream().filter(s -> !s.isEmpty()).toList()
            : List.of();
    byte[] stdin =
        Files.exists(c.resolve("stdin")) ? Files.readAllBytes(c.resolve("stdin")) : new byte[0];
    RunResult r = rt.run(tool, ToolRequest.of(UID, stdin).withArgs(args), ToolPolicy.UNRESTRICTED);
    int exit =
        Files.exists(c.resolve("exit"))
            ? Integer.parseInt(Files.readString(c.resolve("exit")).trim())
            : 0;
    assertEquals(RunRecord.Outcome.EXITED, r.outcome(), r::toString);
    assertEquals(exit, r.exitCode(), () -> "exit status; stderr: " + r.stderrText());
    assertEquals(Files.readString(c.resolve("expected")), r.stdoutText());
    if (Files.exists(c.resolve("stderr"))) {
      String want = Files.readString(c.resolve("stderr")).trim();
      assertTrue(
          r.stderrText().contains(want), () -> "stderr " + r.stderrText() + " lacks " + want);
    }
  }

  private static List<byte[]> samples() {
    Random rnd = new Random(42);
    byte[] binary = new byte[300_000];
    rnd.nextBytes(binary);
    StringBuilder text = new StringBuilder();
    for (int i = 0; i < 5000; i++) {
      text.append(i % 7 == 0 ? "\n" : i % 5 == 0 ? "\t" : " ")
          .append("word")
          .append(i)
          .append(i % 11 == 0 ? "  café ñ " : "");
    }
    return List.of(
        new byte[0],
        "no newline at the end".getBytes(StandardCharsets.UTF_8),
        "   \n\n\t \r\n\u000b\f  \n".getBytes(StandardCharsets.UTF_8),
        "ctrl\u0001inside word\u0080 \u0080 x\n".getBytes(StandardCharsets.ISO_8859_1),
        text.toString().getBytes(StandardCharsets.UTF_8),
        binary);
  }

  @Test
  void wordcountMatchesNativeWcOnStdin() throws Exception {
    Modules.requireBuiltins();
    for (byte[] input : samples()) {
      for (List<String> args : List.of(List.<String>of(), List.of("-l"), List.of("-w", "-c"))) {
        List<String> cmd = new ArrayList<>(List.of("wc"));
        cmd.addAll(args);
        String expected = nativeRun(cmd, input, null);
        RunResult r =
            compiled.run(
                "wordcount", ToolRequest.of(UID, input).withArgs(args), ToolPolicy.UNRESTRICTED);
        assertEquals(
            expected, r.stdoutText(), () -> "wordcount " + args + " on " + input.length + " bytes");
      }
    }
  }

  @Test
  void sha256MatchesNativeSha256sumOnStdin() throws Exception {
    Modules.requireBuiltins();
    List<byte[]> inputs = new ArrayList<>(samples());
    for (int n : new int[] {55, 56, 63, 64, 65, 119, 120, 1 << 20}) {
      byte[] b = new byte[n];
      new Random(n).nextBytes(b);
      inputs.add(b);
    }
    for (byte[] input : inputs) {
      RunResult r = compiled.run("sha256", ToolRequest.of(UID, input), ToolPolicy.UNRESTRICTED);
      assertEquals(
          nativeRun(List.of("sha256sum"), input, null),
          r.stdoutText(),
          () -> input.length + " bytes");
    }
  }

  @Test
  void sha256Of16MiBStreamedFromAnInputStream() throws Exception {
    Modules.requireBuiltins();
    byte[] input = new byte[16 << 20];
    new Random(16).nextBytes(input);
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    RunResult r =
        compiled.run(
            "sha256",
            new ToolRequest(
                UID,
                "",
                List.of(),
                Map.of(),
                new java.io.ByteArrayInputStream(input),
                out,
                OutputStream.nullOutputStream()),
            ToolPolicy.UNRESTRICTED);
    assertTrue(r.succeeded(), r::toString);
    assertEquals(input.length, r.record().bytesIn());
    assertEquals(
        nativeRun(List.of("sha256sum"), input, null), out.toString(StandardCharsets.UTF_8));
    assertEquals(0, r.stdout().length, "output went to the request's stream, not the result");
  }

  @Test
  void filesThroughToolFilesMatchNativeTools(@TempDir Path dir) throws Exception {
    Modules.requireBuiltins();
    List<byte[]> inputs = samples();
    List<String> names = new ArrayList<>();
    for (int i = 0; i < inputs.size(); i++) {
      String name = "f" + i + ".txt";
      names.add(name);
      Files.write(dir.resolve(name), inputs.get(i));
      files.file("/workspaces/t/" + name, inputs.get(i));
    }
    List<String> mountArgs = names.stream().map(n -> "/workspaces/t/" + n).toList();
    for (String[] pair : new String[][] {{"wordcount", "wc"}, {"sha256", "sha256sum"}}) {
      List<String> cmd = new ArrayList<>(List.of(pair[1]));
      cmd.addAll(names);
      String expected = nativeRun(cmd, new byte[0], dir);
      RunResult r =
          compiled.run(
              pair[0],
              ToolRequest.of(UID, new byte[0]).withArgs(mountArgs),
              ToolPolicy.UNRESTRICTED);
      assertTrue(r.succeeded(), () -> r + " " + r.stderrText());
      assertEquals(expected, r.stdoutText().replace("/workspaces/t/", ""), pair[0]);
    }
  }

  @Test
  void aMissingFileIsAnErrorLikeTheNativeTools() throws Exception {
    Modules.requireBuiltins();
    files.file("/workspaces/t/present.txt", "present\n");
    RunResult r =
        compiled.run(
            "sha256",
            ToolRequest.of(
                UID, new byte[0], "/workspaces/t/absent.txt", "/workspaces/t/present.txt"),
            ToolPolicy.UNRESTRICTED);
    assertEquals(1, r.exitCode());
    assertTrue(
        r.stderrText().contains("/workspaces/t/absent.txt: No such file or directory"),
        r.stderrText());
    assertTrue(r.stdoutText().endsWith("  /workspaces/t/present.txt\n"), r.stdoutText());
  }

  @Test
  void jsonqAndMd2textReadFilesToo() throws Exception {
    Modules.requireBuiltins();
    files.file("/specs/doc.json", "{\"spec\": {\"title\": \"ClawFS\"}}");
    files.file("/specs/doc.md", "# Spec\n\nSome *text*.\n");
    RunResult j =
        compiled.run(
            "jsonq",
            ToolRequest.of(UID, new byte[0], "-r", ".spec.title", "/specs/doc.json"),
            ToolPolicy.UNRESTRICTED);
    assertEquals("ClawFS\n", j.stdoutText(), j::stderrText);
    RunResult m =
        compiled.run(
            "md2text", ToolRequest.of(UID, new byte[0], "/specs/doc.md"), ToolPolicy.UNRESTRICTED);
    assertEquals("Spec\n\nSome text.\n", m.stdoutText(), m::stderrText);
  }

  /** Runs a native command (C locale) with {@code input} on stdin and returns its stdout. */
  static String nativeRun(List<String> command, byte[] input, Path dir) throws Exception {
    ProcessBuilder pb = new ProcessBuilder(command);
    pb.environment().put("LC_ALL", "C");
    if (dir != null) {
      pb.directory(dir.toFile());
    }
    Process p;
    try {
      p = pb.start();
    } catch (IOException e) {
      assumeTrue(false, "native " + command.get(0) + " not available: " + e.getMessage());
      throw e;
    }
    Thread feeder =
        new Thread(
            () -> {
              try (OutputStream o = p.getOutputStream()) {
                o.write(input);
              } catch (IOException e) {
                // the command stopped reading
              }
            });
    feeder.start();
    byte[] out;
    try (InputStream in = p.getInputStream()) {
      out = in.readAllBytes();
    }
    feeder.join();
    p.waitFor();
    return new String(out, StandardCharsets.UTF_8);
  }
}
