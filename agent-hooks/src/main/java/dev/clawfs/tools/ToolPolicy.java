package dev.clawfs.tools;

import java.util.Objects;

/**
 * What the caller's policy allows a tool run; the policies module builds one per caller and tool.
 * Each limit of the run is the stricter of this and the tool's manifest.
 *
 * @param limits the caller's limits; {@code limits.concurrency()} caps runs of this tool at once
 * @param callerConcurrency runs of any tool this caller may have going at once
 * @param paths which granted paths the caller lets the tool read and write
 */
public record ToolPolicy(ToolLimits limits, int callerConcurrency, PathGate paths) {

  /** No limits beyond the manifest's, every granted path: for root and for tests. */
  public static final ToolPolicy UNRESTRICTED =
      new ToolPolicy(ToolLimits.UNLIMITED, ToolLimits.MAX_CONCURRENCY, PathGate.ALL);

  public ToolPolicy {
    Objects.requireNonNull(limits, "limits");
    Objects.requireNonNull(paths, "paths");
    if (callerConcurrency < 1) {
      throw new IllegalArgumentException("callerConcurrency must be at least 1");
    }
  }

  /** This policy with other limits. */
  public ToolPolicy withLimits(ToolLimits newLimits) {
    return new ToolPolicy(newLimits, callerConcurrency, paths);
  }

  /** This policy with another path gate. */
  public ToolPolicy withPaths(PathGate newPaths) {
    return new ToolPolicy(limits, callerConcurrency, newPaths);
  }

  /** This policy with another cap on the caller's runs at once. */
  public ToolPolicy withCallerConcurrency(int runs) {
    return new ToolPolicy(limits, runs, paths);
  }
}
