package dev.clawfs.policy;

/** What the {@link AnomalyDetector} is told about. */
public enum Activity {
  /** an operation was denied by the policy; detail: the path. */
  DENIED,
  /** a file was opened for reading; detail: the path. */
  READ,
  /** a program was executed; detail: the program's path. */
  EXEC
}
