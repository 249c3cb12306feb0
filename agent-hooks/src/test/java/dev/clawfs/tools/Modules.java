package dev.clawfs.tools;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/** The WebAssembly modules the build made for the tests; tests skip, saying why, without them. */
final class Modules {

  private Modules() {}

  /** Skips the calling test unless the shipped tools were built into the jar. */
  static void requireBuiltins() {
    assumeTrue(
        BuiltinTools.unavailableReason().isEmpty(),
        () -> "shipped tools not built: " + BuiltinTools.unavailableReason().orElse(""));
  }

  /** A hostile module from src/test/c, skipping the test when it was not built. */
  static byte[] hostile(String name) {
    String dir = "/dev/clawfs/tools/hostile/";
    try (InputStream in = Modules.class.getResourceAsStream(dir + name + ".wasm")) {
      if (in == null) {
        String reason;
        try (InputStream r = Modules.class.getResourceAsStream(dir + "unavailable")) {
          reason = r == null ? "not built" : new String(r.readAllBytes(), StandardCharsets.UTF_8);
        }
        assumeTrue(false, "hostile module " + name + " not built: " + reason);
      }
      return in.readAllBytes();
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }

  /** A manifest for a hostile module: its name, args allowed, the given limits and paths. */
  static ToolManifest manifest(
      String name, int pages, long wallMs, long outputBytes, String read, String write)
      throws ManifestException {
    return ToolManifest.parse(
        "{\"name\":\""
            + name
            + "\",\"description\":\"test module\","
            + "\"inputs\":{\"stdin\":\"anything\",\"args\":\"MODE [PATH]\"},"
            + "\"limits\":{\"memoryPages\":"
            + pages
            + ",\"wallMs\":"
            + wallMs
            + ",\"outputBytes\":"
            + outputBytes
            + ",\"concurrency\":4},"
            + "\"paths\":{\"read\":["
            + (read == null ? "" : "\"" + read + "\"")
            + "],"
            + "\"write\":["
            + (write == null ? "" : "\"" + write + "\"")
            + "]}}");
  }

  /** test-data/tools in the repository (the surefire configuration names it). */
  static Path toolSources() {
    String p = System.getProperty("clawfs.tools.source");
    Path dir = p != null ? Path.of(p) : Path.of("../test-data/tools");
    assumeTrue(Files.isDirectory(dir), "test-data/tools not found at " + dir.toAbsolutePath());
    return dir;
  }
}
