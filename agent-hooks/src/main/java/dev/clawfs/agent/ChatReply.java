package dev.clawfs.agent;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;

/**
 * What the model answered: {@code choices[0].message} and the usage the provider counted.
 *
 * @param content the text, or {@code null} when the model only called tools
 * @param toolCalls the calls it asked for, in order; empty for a final answer
 * @param finishReason {@code stop}, {@code tool_calls}, {@code length}..., or {@code null}
 * @param usage the tokens the provider counted, or {@code null} when it reported none
 */
public record ChatReply(
    String content, List<ToolCall> toolCalls, String finishReason, Usage usage) {

  public ChatReply {
    toolCalls = List.copyOf(toolCalls);
  }

  /**
   * {@code usage} of a reply.
   *
   * @param promptTokens tokens read
   * @param completionTokens tokens written
   * @param totalTokens the provider's total (the sum when it sends none)
   */
  public record Usage(int promptTokens, int completionTokens, int totalTokens) {}

  /**
   * Reads a 2xx body. Lenient where servers differ harmlessly (content as a list of text parts,
   * arguments as an object rather than a string, a missing call id), strict where the reply would
   * otherwise be misread.
   *
   * @param where the endpoint, for messages
   */
  static ChatReply parse(JsonNode root, String where) throws ChatException {
    if (!root.isObject()) {
      throw bad(where, "sent JSON that is not an object");
    }
    JsonNode choices = root.get("choices");
    if ((choices == null || choices.isNull() || choices.isEmpty()) && root.has("error")) {
      String msg = ChatClient.providerMessage(root);
      throw new ChatException(
          ChatException.Kind.PROVIDER_ERROR,
          200,
          "model server " + where + " reported an error: " + (msg == null ? "(no message)" : msg));
    }
    if (choices == null || !choices.isArray() || choices.isEmpty()) {
      throw bad(where, "sent a reply with no choices");
    }
    JsonNode choice = choices.get(0);
    JsonNode message = choice.get("message");
    if (message == null || !message.isObject()) {
      throw bad(where, "sent a reply whose choices[0] has no message");
    }
    String content = content(message.get("content"), where);
    List<ToolCall> calls = new ArrayList<>();
    JsonNode tc = message.get("tool_calls");
    if (tc != null && !tc.isNull()) {
      if (!tc.isArray()) {
        throw bad(where, "sent choices[0].message.tool_calls that is not a list");
      }
      for (int i = 0; i < tc.size(); i++) {
        calls.add(call(tc.get(i), i, where));
      }
    }
    JsonNode fr = choice.get("finish_reason");
    String finish = fr != null && fr.isTextual() ? fr.textValue() : null;
    return new ChatReply(content, calls, finish, usage(root.get("usage")));
  }

  private static String content(JsonNode c, String where) throws ChatException {
    if (c == null || c.isNull()) {
      return null;
    }
    if (c.isTextual()) {
      return c.textValue();
    }
    if (c.isArray()) { // [{"type":"text","text":"..."}], as some servers send
      StringBuilder b = new StringBuilder();
      for (JsonNode part : c) {
        JsonNode t = part.get("text");
        if (t != null && t.isTextual()) {
          b.append(t.textValue());
        }
      }
      return b.toString();
    }
    throw bad(where, "sent choices[0].message.content that is not text");
  }

  private static ToolCall call(JsonNode n, int i, String where) throws ChatException {
    String at = "choices[0].message.tool_calls[" + i + "]";
    JsonNode f = n == null ? null : n.get("function");
    if (f == null || !f.isObject()) {
      throw bad(where, "sent " + at + " without a function");
    }
    JsonNode name = f.get("name");
    if (name == null || !name.isTextual()) {
      throw bad(where, "sent " + at + " without a function name");
    }
    JsonNode args = f.get("arguments");
    String arguments;
    if (args == null || args.isNull()) {
      arguments = "{}";
    } else if (args.isTextual()) {
      arguments = args.textValue();
    } else {
      arguments = Json.write(args); // Ollama's native shape: an object
    }
    JsonNode id = n.get("id");
    String callId =
        id != null && id.isTextual() && !id.textValue().isEmpty() ? id.textValue() : null;
    return new ToolCall(callId == null ? "call_" + i : callId, name.textValue(), arguments);
  }

  private static Usage usage(JsonNode u) {
    if (u == null || !u.isObject()) {
      return null;
    }
    int prompt = count(u.get("prompt_tokens"));
    int completion = count(u.get("completion_tokens"));
    int total = count(u.get("total_tokens"));
    if (prompt < 0 && completion < 0 && total < 0) {
      return null;
    }
    prompt = Math.max(prompt, 0);
    completion = Math.max(completion, 0);
    if (total < 0) {
      total = prompt + completion;
    }
    return new Usage(prompt, completion, total);
  }

  private static int count(JsonNode n) {
    if (n == null || !n.isNumber() || n.asLong() < 0) {
      return -1;
    }
    return (int) Math.min(n.asLong(), Integer.MAX_VALUE);
  }

  private static ChatException bad(String where, String what) {
    return new ChatException(
        ChatException.Kind.BAD_RESPONSE, 200, "model server " + where + " " + what);
  }
}
