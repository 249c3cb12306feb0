package dev.clawfs.tools;

import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Objects;

/**
 * What one run (or refused run) did, for the audit stream and the tool's log.
 *
 * @param tool the tool's name
 * @param moduleHash SHA-256 of the module that ran (hex), "" when the tool was unknown
 * @param callerUid the caller's Unix uid
 * @param agent the agent the caller acts as, or "" for a person
 * @param started when the run was asked for
 * @param duration from the request to the result
 * @param outcome how it ended
 * @param exitCode the module's exit status when it exited, else -1
 * @param bytesIn bytes the module read from stdin
 * @param bytesOut bytes it wrote to stdout, stderr and files
 * @param limitHit the limit that stopped or refused it, or {@code null}
 * @param message what happened, in words ("" for a plain exit)
 * @param denials file accesses refused during the run, each in words (at most 16)
 */
public record RunRecord(
    String tool,
    String moduleHash,
    int callerUid,
    String agent,
    Instant started,
    Duration duration,
    Outcome outcome,
    int exitCode,
    long bytesIn,
    long bytesOut,
    LimitHit limitHit,
    String message,
    List<String> denials) {

  /** How a run ended. */
  public enum Outcome {
    /** the module ran to its end; {@link #exitCode} holds its status. */
    EXITED,
    /** stopped (or, for concurrency, not started) by the limit in {@link #limitHit}. */
    LIMIT,
    /** the module trapped: unreachable, out-of-bounds access, call stack exhausted, ... */
    TRAPPED,
    /** never started: unknown tool, arguments the tool does not take, a module refused. */
    REFUSED,
    /** the caller's thread was interrupted while waiting, and the module was stopped with it. */
    CANCELLED
  }

  public RunRecord {
    Objects.requireNonNull(tool, "tool");
    Objects.requireNonNull(moduleHash, "moduleHash");
    Objects.requireNonNull(agent, "agent");
    Objects.requireNonNull(started, "started");
    Objects.requireNonNull(duration, "duration");
    Objects.requireNonNull(outcome, "outcome");
    Objects.requireNonNull(message, "message");
    denials = List.copyOf(denials);
    if ((outcome == Outcome.LIMIT) != (limitHit != null)) {
      throw new IllegalArgumentException("a limit is named exactly for LIMIT outcomes");
    }
  }

  /** Whether the module exited with status 0. */
  public boolean succeeded() {
    return outcome == Outcome.EXITED && exitCode == 0;
  }
}
