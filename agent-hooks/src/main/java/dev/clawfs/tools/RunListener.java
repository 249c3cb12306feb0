package dev.clawfs.tools;

/**
 * Told of every run when it ends, refused runs included (the audit stream subscribes). Called on
 * the thread that asked for the run; an exception it throws is ignored.
 */
@FunctionalInterface
public interface RunListener {
  void onRun(RunRecord record);
}
