package dev.clawfs.policy;

/**
 * The caller of a file operation.
 *
 * @param uid the caller's uid (0 is root)
 * @param gid the caller's gid
 * @param agent the name of the agent this uid belongs to, or {@code null} when the caller is not
 *     an agent
 */
public record Subject(int uid, int gid, String agent) {

  /** A caller that is not an agent (root when {@code uid} is 0). */
  public static Subject user(int uid, int gid) {
    return new Subject(uid, gid, null);
  }

  /** A caller that is the agent {@code name}. */
  public static Subject agent(int uid, int gid, String name) {
    if (name == null || name.isEmpty()) {
      throw new IllegalArgumentException("an agent needs a name");
    }
    return new Subject(uid, gid, name);
  }

  public boolean isRoot() {
    return uid == 0;
  }

  public boolean isAgent() {
    return agent != null;
  }

  @Override
  public String toString() {
    return agent == null
        ? (uid == 0 ? "root" : "uid " + uid + " gid " + gid)
        : "agent " + agent + " (uid " + uid + " gid " + gid + ")";
  }
}
