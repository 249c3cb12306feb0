package dev.clawfs.tools;

/**
 * The caller's policy on the paths a tool run may touch, asked for every path the tool reaches (the
 * policies module's decision function sits behind it). A path is reachable only when the tool's
 * manifest grants a root above it and this gate permits it, so the effective grant is the
 * intersection of the two.
 */
@FunctionalInterface
public interface PathGate {

  /** Everything the manifest grants (for tests and for root). */
  PathGate ALL = (path, write) -> true;

  /** Nothing: the tool runs on stdin and arguments only. */
  PathGate NONE = (path, write) -> false;

  /**
   * Whether the run may read ({@code write == false}) or change ({@code write == true}) the node at
   * mount path {@code path}.
   */
  boolean permits(String path, boolean write);
}
