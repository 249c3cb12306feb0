package dev.clawfs.policy;

/**
 * An anomaly rule fired.
 *
 * @param rule the anomaly rule's name
 * @param source where the anomaly rule is written: {@code file:line}
 * @param subject who did it
 * @param count how many events made it fire (1 for exec rules)
 * @param windowMillis the rule's window (0 for exec rules)
 * @param timeMillis the time of the event that made it fire
 * @param detail that event's detail: a path or a program
 */
public record Anomaly(
    String rule,
    String source,
    Subject subject,
    int count,
    long windowMillis,
    long timeMillis,
    String detail) {

  @Override
  public String toString() {
    String what =
        windowMillis == 0 ? "" : " (" + count + " events within " + windowMillis + " ms)";
    return "anomaly " + rule + what + " by " + subject + ": " + detail + " [" + source + "]";
  }
}
