package dev.clawfs.agent;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.List;
import java.util.Objects;

/**
 * The body of one {@code POST /chat/completions}. The endpoint, timeout and key are not part of it:
 * they are given to {@link ChatClient#complete} at call time.
 *
 * @param model the provider's model name
 * @param messages the conversation so far
 * @param tools the functions offered; when empty, neither {@code tools} nor {@code tool_choice} is
 *     sent (some servers refuse a tool choice without tools)
 * @param maxTokens the reply's token cap ({@code max_tokens}), or {@code null} to send none
 * @param temperature or {@code null} to send none
 */
public record ChatRequest(
    String model,
    List<ChatMessage> messages,
    List<ToolSpec> tools,
    Integer maxTokens,
    Double temperature) {

  public ChatRequest {
    Objects.requireNonNull(model, "model");
    messages = List.copyOf(messages);
    tools = List.copyOf(tools);
  }

  /** The JSON body as sent. */
  public String toJson() {
    ObjectNode body = Json.object();
    body.put("model", model);
    ArrayNode ms = body.putArray("messages");
    messages.forEach(m -> ms.add(m.toJson()));
    if (!tools.isEmpty()) {
      ArrayNode ts = body.putArray("tools");
      tools.forEach(t -> ts.add(t.toJson()));
      body.put("tool_choice", "auto");
    }
    if (maxTokens != null) {
      body.put("max_tokens", maxTokens);
    }
    if (temperature != null) {
      body.put("temperature", temperature);
    }
    return Json.write(body);
  }

  /** Characters of text in the request, for estimating tokens when a server reports no usage. */
  int textLength() {
    int n = 0;
    for (ChatMessage m : messages) {
      n += m.content() == null ? 0 : m.content().length();
      for (ToolCall c : m.toolCalls()) {
        n += c.name().length() + c.arguments().length();
      }
    }
    for (ToolSpec t : tools) {
      n += t.description().length() + t.parametersSchema().length();
    }
    return n;
  }
}
