package dev.clawfs.agent;

import java.util.List;
import java.util.Objects;

/**
 * The result of one task.
 *
 * @param text the answer (for an incomplete task: why it stopped, then the model's last words)
 * @param citedPaths the paths the agent actually read or got as search hits that the answer
 *     mentions, in the order the answer first mentions them; a path the model names without having
 *     seen it (invented, or copied from a file's content) is not cited. For the librarian: the
 *     paths of the passages given
 * @param generated true when a model wrote it, false when it is extracted passages
 * @param complete false when the task stopped at a bound or the answer was withheld
 * @param stopReason {@code answered}, or why it stopped ("step limit: ...")
 * @param steps model calls made
 * @param tokens tokens spent (the providers' counts, estimated where a reply had none)
 * @param flags every injection finding of the task, reads and writes, blocked or not
 */
public record AgentAnswer(
    String text,
    List<String> citedPaths,
    boolean generated,
    boolean complete,
    String stopReason,
    int steps,
    int tokens,
    List<Finding> flags) {

  /** The stop reason of a task that ended with an answer. */
  public static final String ANSWERED = "answered";

  public AgentAnswer {
    Objects.requireNonNull(text, "text");
    Objects.requireNonNull(stopReason, "stopReason");
    citedPaths = List.copyOf(citedPaths);
    flags = List.copyOf(flags);
  }
}
