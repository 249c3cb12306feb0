package dev.clawfs.tools;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The tools built from {@code test-data/tools/<name>/} into this jar by the Maven build ({@code
 * dev/clawfs/tools/builtin/<name>.wasm} and {@code <name>.json}, listed in {@code tools.list}).
 * When the build machine had no WebAssembly C toolchain the jar holds none and {@link
 * #unavailableReason} says why.
 */
public final class BuiltinTools {

  private static final String DIR = "/dev/clawfs/tools/builtin/";

  private BuiltinTools() {}

  /** The names of the tools in the jar, in build order. */
  public static List<String> names() {
    byte[] list = resource("tools.list");
    List<String> out = new ArrayList<>();
    if (list != null) {
      for (String line : new String(list, StandardCharsets.UTF_8).split("\n")) {
        if (!line.isBlank()) {
          out.add(line.trim());
        }
      }
    }
    return out;
  }

  /** Why the jar holds no tools (the build's reason), or empty when it does. */
  public static Optional<String> unavailableReason() {
    byte[] reason = resource("unavailable");
    if (reason != null) {
      return Optional.of(new String(reason, StandardCharsets.UTF_8).trim());
    }
    if (resource("tools.list") == null) {
      return Optional.of(
          "the jar was built without the tool build step (no " + DIR + "tools.list)");
    }
    return Optional.empty();
  }

  /** The module of tool {@code name}. */
  public static byte[] module(String name) {
    return required(name + ".wasm");
  }

  /** The manifest (JSON) of tool {@code name}. */
  public static byte[] manifest(String name) {
    return required(name + ".json");
  }

  /** Installs every tool of the jar into {@code runtime}. */
  public static List<Tool> installAll(ToolRuntime runtime) throws ToolException {
    List<Tool> out = new ArrayList<>();
    for (String name : names()) {
      out.add(runtime.install(manifest(name), module(name)));
    }
    return out;
  }

  private static byte[] required(String file) {
    byte[] b = resource(file);
    if (b == null) {
      throw new IllegalArgumentException("no built-in tool file " + DIR + file);
    }
    return b;
  }

  private static byte[] resource(String file) {
    try (InputStream in = BuiltinTools.class.getResourceAsStream(DIR + file)) {
      return in == null ? null : in.readAllBytes();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
