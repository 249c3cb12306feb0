package dev.clawfs.agent;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.List;
import java.util.Objects;

/**
 * One message of a chat-completions conversation. Built with the factories, which keep the
 * combinations the API accepts: {@code tool_calls} only on assistant messages, {@code tool_call_id}
 * only on tool messages.
 *
 * @param role {@code system}, {@code user}, {@code assistant} or {@code tool}
 * @param content the text, or {@code null} for an assistant message that only calls tools
 * @param toolCalls the calls of an assistant message, otherwise empty
 * @param toolCallId the call a tool message answers, otherwise {@code null}
 */
public record ChatMessage(
    String role, String content, List<ToolCall> toolCalls, String toolCallId) {

  public ChatMessage {
    Objects.requireNonNull(role, "role");
    toolCalls = List.copyOf(toolCalls);
  }

  public static ChatMessage system(String content) {
    return new ChatMessage("system", Objects.requireNonNull(content), List.of(), null);
  }

  public static ChatMessage user(String content) {
    return new ChatMessage("user", Objects.requireNonNull(content), List.of(), null);
  }

  public static ChatMessage assistant(String content, List<ToolCall> toolCalls) {
    return new ChatMessage("assistant", content, toolCalls, null);
  }

  public static ChatMessage tool(String toolCallId, String content) {
    return new ChatMessage(
        "tool", Objects.requireNonNull(content), List.of(), Objects.requireNonNull(toolCallId));
  }

  ObjectNode toJson() {
    ObjectNode m = Json.object();
    m.put("role", role);
    if (content == null) {
      m.putNull("content");
    } else {
      m.put("content", content);
    }
    if (!toolCalls.isEmpty()) {
      ArrayNode calls = m.putArray("tool_calls");
      for (ToolCall c : toolCalls) {
        ObjectNode call = calls.addObject();
        call.put("id", c.id());
        call.put("type", "function");
        ObjectNode f = call.putObject("function");
        f.put("name", c.name());
        f.put("arguments", c.arguments());
      }
    }
    if (toolCallId != null) {
      m.put("tool_call_id", toolCallId);
    }
    return m;
  }
}
