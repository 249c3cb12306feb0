package dev.clawfs.agent;

import java.util.Objects;

/**
 * What a WebAssembly tool run gave, as the tool runtime reports it.
 *
 * @param outcome {@code EXITED}, {@code LIMIT}, {@code TRAPPED}, {@code REFUSED} or {@code
 *     CANCELLED} (the runtime's {@code RunResult.Outcome} names)
 * @param exit the exit code when the module exited, otherwise {@code null}
 * @param stdout what it wrote (untrusted content)
 * @param stderr what it wrote (untrusted content)
 * @param message the runtime's words on how it ended ("time limit: stopped after 500 ms"), or
 *     {@code null}
 */
public record ToolRunResult(
    String outcome, Integer exit, String stdout, String stderr, String message) {
  public ToolRunResult {
    Objects.requireNonNull(outcome, "outcome");
    stdout = stdout == null ? "" : stdout;
    stderr = stderr == null ? "" : stderr;
  }
}
