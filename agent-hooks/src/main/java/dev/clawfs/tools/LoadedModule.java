package dev.clawfs.tools;

import com.dylibso.chicory.compiler.InterpreterFallback;
import com.dylibso.chicory.compiler.MachineFactoryCompiler;
import com.dylibso.chicory.runtime.HostFunction;
import com.dylibso.chicory.runtime.Instance;
import com.dylibso.chicory.runtime.Machine;
import com.dylibso.chicory.wasi.WasiOptions;
import com.dylibso.chicory.wasi.WasiPreview1;
import com.dylibso.chicory.wasm.ChicoryException;
import com.dylibso.chicory.wasm.Parser;
import com.dylibso.chicory.wasm.WasmModule;
import com.dylibso.chicory.wasm.types.Export;
import com.dylibso.chicory.wasm.types.ExternalType;
import com.dylibso.chicory.wasm.types.FunctionImport;
import com.dylibso.chicory.wasm.types.FunctionType;
import com.dylibso.chicory.wasm.types.Import;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;

/**
 * A module checked, parsed and (for {@link ToolRuntime.Engine#COMPILER}) compiled once, shared by
 * every run and every tool name installed with the same bytes (keyed by their SHA-256).
 *
 * <p>The checks refuse, with a reason, what could never run as a tool: bytes that are not
 * WebAssembly, a malformed module, an import of anything but WASI preview 1's functions (a host
 * function ClawFS does not offer, sockets, imported memories or tables), no {@code _start}.
 */
final class LoadedModule {

  /** The largest module accepted: compiled classes and parse trees grow with it. */
  static final int MAX_MODULE_BYTES = 64 << 20;

  static final String WASI = "wasi_snapshot_preview1";

  /** WASI preview 1 functions a tool may import, with their types: all but the socket calls. */
  static final Map<String, FunctionType> OFFERED = offered();

  private final String hash;
  private final byte[] bytes;
  private final WasmModule module;
  private final Function<Instance, Machine> machineFactory;
  private final ToolRuntime.Engine engine;

  private LoadedModule(
      String hash,
      byte[] bytes,
      WasmModule module,
      Function<Instance, Machine> machineFactory,
      ToolRuntime.Engine engine) {
    this.hash = hash;
    this.bytes = bytes;
    this.module = module;
    this.machineFactory = machineFactory;
    this.engine = engine;
  }

  private static Map<String, FunctionType> offered() {
    Map<String, FunctionType> out = new LinkedHashMap<>();
    try (WasiPreview1 wasi =
        WasiPreview1.builder().withOptions(WasiOptions.builder().build()).build()) {
      for (HostFunction f : wasi.toHostFunctions()) {
        // no network: preview 1's socket calls are left out, so a module importing one is refused
        if (!f.name().startsWith("sock_")) {
          out.put(f.name(), f.functionType());
        }
      }
    }
    return Map.copyOf(out);
  }

  /** Host functions of {@code wasi} that a tool may link to. */
  static HostFunction[] offeredFunctions(WasiPreview1 wasi) {
    return Arrays.stream(wasi.toHostFunctions())
        .filter(f -> OFFERED.containsKey(f.name()))
        .toArray(HostFunction[]::new);
  }

  static String sha256(byte[] bytes) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  static LoadedModule load(byte[] bytes, ToolRuntime.Engine engine) throws ToolException {
    return load(sha256(bytes), bytes, engine);
  }

  static LoadedModule load(String hash, byte[] bytes, ToolRuntime.Engine engine)
      throws ToolException {
    if (bytes.length > MAX_MODULE_BYTES) {
      throw new ToolException(
          "module refused: " + bytes.length + " bytes, the most is " + MAX_MODULE_BYTES);
    }
    if (bytes.length < 8
        || bytes[0] != 0
        || bytes[1] != 'a'
        || bytes[2] != 's'
        || bytes[3] != 'm') {
      String hint =
          new String(
                      bytes,
                      0,
                      Math.min(bytes.length, 16),
                      java.nio.charset.StandardCharsets.ISO_8859_1)
                  .trim()
                  .startsWith("(module")
              ? " (this is the text format: compile it with wat2wasm first)"
              : "";
      throw new ToolException("module refused: not a WebAssembly module (no \\0asm header)" + hint);
    }
    if (bytes[4] != 1 || bytes[5] != 0 || bytes[6] != 0 || bytes[7] != 0) {
      throw new ToolException(
          "module refused: WebAssembly binary version "
              + (bytes[4] & 0xff)
              + " is not supported (only 1)");
    }
    WasmModule module;
    try {
      module = Parser.parse(bytes);
    } catch (ChicoryException | IllegalArgumentException | IndexOutOfBoundsException e) {
      throw new ToolException("module refused: malformed WebAssembly: " + e.getMessage(), e);
    }
    checkImports(module);
    checkExports(module);
    if (module.memorySection().map(s -> s.memoryCount()).orElse(0) > 1) {
      throw new ToolException("module refused: more than one memory");
    }

    Function<Instance, Machine> factory = null;
    ToolRuntime.Engine used = ToolRuntime.Engine.INTERPRETER;
    if (engine == ToolRuntime.Engine.COMPILER) {
      try {
        // functions too large for a JVM method stay interpreted; the rest run as bytecode
        factory =
            MachineFactoryCompiler.builder(module)
                .withInterpreterFallback(InterpreterFallback.SILENT)
                .compile();
        used = ToolRuntime.Engine.COMPILER;
      } catch (RuntimeException | LinkageError e) {
        factory = null; // the interpreter runs every valid module
        System.getLogger("clawfs.tools").log(System.Logger.Level.WARNING,
            "module {0}: the compiler failed ({1}); it runs in the interpreter, much slower",
            hash.substring(0, 12), e.toString());
      }
    }
    return new LoadedModule(hash, bytes, module, factory, used);
  }

  private static void checkImports(WasmModule module) throws ToolException {
    var types = module.typeSection();
    for (int i = 0; i < module.importSection().importCount(); i++) {
      Import imp = module.importSection().getImport(i);
      String what = imp.module() + "." + imp.name();
      if (imp.importType() != ExternalType.FUNCTION) {
        throw new ToolException(
            "module refused: imports "
                + imp.importType().name().toLowerCase()
                + " "
                + what
                + "; a tool may import only WASI preview 1 functions");
      }
      if (!imp.module().equals(WASI)) {
        throw new ToolException(
            "module refused: imports the host function "
                + what
                + ", which ClawFS does not offer;"
                + " a tool may import only WASI preview 1 ("
                + WASI
                + ": args, environment, clocks,"
                + " random, stdio and the files it is granted)");
      }
      if (imp.name().startsWith("sock_")) {
        throw new ToolException("module refused: imports " + what + "; tools get no network");
      }
      FunctionType offered = OFFERED.get(imp.name());
      if (offered == null) {
        throw new ToolException(
            "module refused: imports " + what + ", which is not a WASI preview 1 function");
      }
      FunctionType wanted = types.getType(((FunctionImport) imp).typeIndex());
      if (!offered.typesMatch(wanted)) {
        throw new ToolException(
            "module refused: imports " + what + " as " + wanted + ", but it is " + offered);
      }
    }
  }

  private static void checkExports(WasmModule module) throws ToolException {
    for (int i = 0; i < module.exportSection().exportCount(); i++) {
      Export e = module.exportSection().getExport(i);
      if (e.name().equals("_start") && e.exportType() == ExternalType.FUNCTION) {
        return;
      }
    }
    throw new ToolException(
        "module refused: no _start function; a tool is a WASI command (built with a main())");
  }

  String hash() {
    return hash;
  }

  byte[] bytes() {
    return bytes;
  }

  WasmModule module() {
    return module;
  }

  /** The compiled machine factory, or {@code null} to interpret. */
  Function<Instance, Machine> machineFactory() {
    return machineFactory;
  }

  ToolRuntime.Engine engine() {
    return engine;
  }

  static Set<String> offeredNames() {
    return OFFERED.keySet();
  }
}
