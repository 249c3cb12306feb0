package dev.clawfs.tools;

import java.util.HashMap;
import java.util.Map;

/**
 * Counts the runs going on, per tool and per caller, and refuses one that would go over either cap.
 * Both counts are checked and taken under one lock: two semaphores would need a roll-back when the
 * second refuses, and the caps vary per call (they come from the manifest and the caller's policy),
 * which fixed semaphore permits do not.
 */
public final class ToolLimiter {

  private final Map<String, Integer> perTool = new HashMap<>();
  private final Map<Integer, Integer> perCaller = new HashMap<>();

  /** The answer to {@link #tryAcquire}: a permit to close when the run ends, or a refusal. */
  public final class Permit implements AutoCloseable {
    private final String tool;
    private final int caller;
    private final String refusal;
    private boolean open;

    private Permit(String tool, int caller, String refusal) {
      this.tool = tool;
      this.caller = caller;
      this.refusal = refusal;
      this.open = refusal == null;
    }

    public boolean granted() {
      return refusal == null;
    }

    /** Why the run was refused, or {@code null} when granted. */
    public String refusal() {
      return refusal;
    }

    /** Gives the slot back (once; later calls do nothing). */
    @Override
    public void close() {
      synchronized (ToolLimiter.this) {
        if (open) {
          open = false;
          perTool.merge(tool, -1, (a, b) -> a + b == 0 ? null : a + b);
          perCaller.merge(caller, -1, (a, b) -> a + b == 0 ? null : a + b);
        }
      }
    }
  }

  /** A slot for one run of {@code tool} by {@code callerUid}, unless a cap is reached. */
  public synchronized Permit tryAcquire(String tool, int toolCap, int callerUid, int callerCap) {
    int t = perTool.getOrDefault(tool, 0);
    int c = perCaller.getOrDefault(callerUid, 0);
    if (t >= toolCap) {
      return new Permit(
          tool,
          callerUid,
          "concurrency limit: "
              + tool
              + " already has "
              + t
              + " run"
              + (t == 1 ? "" : "s")
              + " going (limit "
              + toolCap
              + ")");
    }
    if (c >= callerCap) {
      return new Permit(
          tool,
          callerUid,
          "concurrency limit: uid "
              + callerUid
              + " already has "
              + c
              + " tool run"
              + (c == 1 ? "" : "s")
              + " going (limit "
              + callerCap
              + ")");
    }
    perTool.put(tool, t + 1);
    perCaller.put(callerUid, c + 1);
    return new Permit(tool, callerUid, null);
  }

  /** Runs of {@code tool} going on now. */
  public synchronized int running(String tool) {
    return perTool.getOrDefault(tool, 0);
  }

  /** Runs by {@code callerUid} going on now. */
  public synchronized int runningFor(int callerUid) {
    return perCaller.getOrDefault(callerUid, 0);
  }
}
