package dev.clawfs.agent;

/**
 * Told of each step of a task as it happens (the mount appends them to the agent's transcript and
 * sends flags and refusals to the audit stream). Called on the task's thread; an exception it
 * throws is ignored, so a broken listener cannot stop a task.
 */
@FunctionalInterface
public interface TranscriptListener {

  void onEvent(TranscriptEvent event);

  /** A listener that ignores everything. */
  static TranscriptListener none() {
    return e -> {};
  }
}
