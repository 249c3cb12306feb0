package dev.clawfs.tools;

import java.nio.charset.StandardCharsets;
import java.util.Objects;

/**
 * The result of {@link ToolRuntime#run}: the record, and the output when the request asked for it
 * to be captured (no output streams given); otherwise the streams got it and these are empty.
 */
public record RunResult(RunRecord record, byte[] stdout, byte[] stderr) {

  public RunResult {
    Objects.requireNonNull(record, "record");
    Objects.requireNonNull(stdout, "stdout");
    Objects.requireNonNull(stderr, "stderr");
  }

  public RunRecord.Outcome outcome() {
    return record.outcome();
  }

  /** The module's exit status, or -1 when it did not exit. */
  public int exitCode() {
    return record.exitCode();
  }

  /** The limit that stopped the run, or {@code null}. */
  public LimitHit limitHit() {
    return record.limitHit();
  }

  /** What happened, in words, for the caller ("" for a plain exit). */
  public String message() {
    return record.message();
  }

  /** Whether the module exited with status 0. */
  public boolean succeeded() {
    return record.succeeded();
  }

  public String stdoutText() {
    return new String(stdout, StandardCharsets.UTF_8);
  }

  public String stderrText() {
    return new String(stderr, StandardCharsets.UTF_8);
  }

  @Override
  public String toString() {
    return record.tool()
        + ": "
        + record.outcome()
        + (record.outcome() == RunRecord.Outcome.EXITED ? " " + record.exitCode() : "")
        + (record.message().isEmpty() ? "" : " (" + record.message() + ")");
  }
}
