package dev.clawfs.policy;

import java.util.Objects;

/**
 * The answer to "may this agent send requests to this model endpoint?".
 *
 * @param allowed whether the caller may use the endpoint
 * @param reason what decided, in words a user can act on: it names the policy file, line and
 *     {@code endpoints[i]} entry that decided, or says that no endpoint rule allows the URL or
 *     why the URL is refused ({@code denied by site.yaml:9: endpoints[1] denies
 *     "https://api.example.com/v1" to agent:bob}). The URL is quoted without its user info, query
 *     and fragment, which can carry keys.
 */
public record EndpointDecision(boolean allowed, String reason) {

  public EndpointDecision {
    Objects.requireNonNull(reason, "reason");
  }

  @Override
  public String toString() {
    return reason;
  }
}
