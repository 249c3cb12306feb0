package dev.clawfs.agent;

import java.util.Objects;

/**
 * One function call a model asked for.
 *
 * @param id the provider's call id, echoed in the {@code tool} message that answers it (generated
 *     as {@code call_<n>} when a server sends none)
 * @param name the function's name as the model wrote it; not necessarily one the agent has
 * @param arguments the arguments as the JSON text the model wrote; not necessarily valid JSON
 */
public record ToolCall(String id, String name, String arguments) {
  public ToolCall {
    Objects.requireNonNull(id, "id");
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(arguments, "arguments");
  }
}
