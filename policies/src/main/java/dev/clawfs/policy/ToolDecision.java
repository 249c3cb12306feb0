package dev.clawfs.policy;

import java.util.Objects;

/**
 * The answer to "may this caller run this tool?", with the limits the run gets.
 *
 * @param allowed whether the caller may run the tool
 * @param reason what decided, in words a user can act on: it names the policy file, line and
 *     {@code tools[i]} entry that decided, or says that root is always allowed or that no tool
 *     rule allows the tool ({@code denied by site.yaml:14: tools[1] denies "sha256" to
 *     agent:bob})
 * @param limits for an allowed run, the stricter of the limits of every tool rule that applies
 *     (fields no rule sets are {@code null}); for a denial, {@link ToolLimitsSpec#NONE}
 */
public record ToolDecision(boolean allowed, String reason, ToolLimitsSpec limits) {

  public ToolDecision {
    Objects.requireNonNull(reason, "reason");
    Objects.requireNonNull(limits, "limits");
    if (!allowed && !limits.isNone()) {
      throw new IllegalArgumentException("a denial carries no limits");
    }
  }

  @Override
  public String toString() {
    return allowed ? reason + " (limits: " + limits + ")" : reason;
  }
}
