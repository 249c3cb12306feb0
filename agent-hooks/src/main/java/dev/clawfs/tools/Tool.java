package dev.clawfs.tools;

/** An installed tool: its manifest and its checked module. Made by {@link ToolRuntime#install}. */
public final class Tool {

  private final ToolManifest manifest;
  private final LoadedModule module;

  Tool(ToolManifest manifest, LoadedModule module) {
    this.manifest = manifest;
    this.module = module;
  }

  public String name() {
    return manifest.name();
  }

  public ToolManifest manifest() {
    return manifest;
  }

  /** SHA-256 of the module's bytes, hex. */
  public String moduleHash() {
    return module.hash();
  }

  /** The module's bytes (a copy), e.g. to serve {@code /clawfs/tools/<name>/module.wasm}. */
  public byte[] moduleBytes() {
    return module.bytes().clone();
  }

  public int moduleSize() {
    return module.bytes().length;
  }

  /** What runs it: the compiler, or the interpreter (asked for, or when compiling failed). */
  public ToolRuntime.Engine engine() {
    return module.engine();
  }

  LoadedModule loaded() {
    return module;
  }

  @Override
  public String toString() {
    return name()
        + " ("
        + moduleHash().substring(0, 12)
        + ", "
        + engine().name().toLowerCase()
        + ")";
  }
}
