package dev.clawfs.tools;

/** The limit a run ran into; the run was stopped (or refused) because of it. */
public enum LimitHit {
  /** the module asked for more linear memory than its limit allows (64 KiB pages). */
  MEMORY,
  /** the run took longer than its wall-time limit and was interrupted. */
  TIME,
  /** stdout, stderr and written files together went over the output limit. */
  OUTPUT,
  /** the tool, or the caller, already had as many runs going as allowed; nothing was run. */
  CONCURRENCY
}
