package dev.clawfs.agent;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.time.Instant;
import java.util.List;
import java.util.Objects;

/**
 * One step of an agent's task, as the transcript shows it. Events carry what a person needs to
 * follow and audit the task (which tool, which path, how many bytes, why refused, what was
 * flagged), and previews rather than whole bodies. They never carry the API key (the loop never has
 * it as text) nor the system prompt; message bodies appear only as previews of the model's own
 * replies and of the arguments it chose.
 */
public sealed interface TranscriptEvent {

  /** Previews of model replies and tool arguments are cut to this many characters. */
  int PREVIEW_MAX = 500;

  /** Longer texts (the task, the final answer) are cut to this many characters. */
  int TEXT_MAX = 2000;

  Instant at();

  /** The event as one line of JSON without the newline: {@code {"event":"tool_call","at":...}}. */
  String toJsonLine();

  /**
   * A task began.
   *
   * @param task the question or job, cut to {@value #TEXT_MAX} characters
   * @param mode the model's name, or {@code librarian} for the embedded librarian
   */
  record Task(Instant at, String task, String mode) implements TranscriptEvent {
    public Task {
      task = Text.cut(task, TEXT_MAX);
    }

    @Override
    public String toJsonLine() {
      ObjectNode n = head("task", at);
      n.put("task", task);
      n.put("mode", mode);
      return Json.write(n);
    }
  }

  /** The loop is about to call the model (step n, counted from 1). */
  record ModelRequest(Instant at, int step, int messages, int tools) implements TranscriptEvent {
    @Override
    public String toJsonLine() {
      ObjectNode n = head("model_request", at);
      n.put("step", step);
      n.put("messages", messages);
      n.put("tools", tools);
      return Json.write(n);
    }
  }

  /** A tool call as the model wrote it, its arguments cut to {@value #PREVIEW_MAX} characters. */
  record CallPreview(String name, String arguments) {
    public CallPreview {
      arguments = Text.cut(arguments, PREVIEW_MAX);
    }
  }

  /**
   * The model answered.
   *
   * @param content its text cut to {@value #PREVIEW_MAX} characters, or {@code null}
   * @param calls the tools it asked for
   * @param finishReason as the provider sent it, or {@code null}
   * @param tokens tokens this call cost (the provider's total, or an estimate when it sent none)
   */
  record ModelReply(
      Instant at,
      int step,
      String content,
      List<CallPreview> calls,
      String finishReason,
      int tokens)
      implements TranscriptEvent {
    public ModelReply {
      content = Text.cut(content, PREVIEW_MAX);
      calls = List.copyOf(calls);
    }

    @Override
    public String toJsonLine() {
      ObjectNode n = head("model_reply", at);
      n.put("step", step);
      n.put("content", content);
      ArrayNode a = n.putArray("calls");
      for (CallPreview c : calls) {
        a.addObject().put("name", c.name()).put("arguments", c.arguments());
      }
      n.put("finishReason", finishReason);
      n.put("tokens", tokens);
      return Json.write(n);
    }
  }

  /** The loop is running a call the model asked for. */
  record ToolCalled(Instant at, int step, String callId, String tool, String arguments)
      implements TranscriptEvent {
    public ToolCalled {
      arguments = Text.cut(arguments, PREVIEW_MAX);
    }

    @Override
    public String toJsonLine() {
      ObjectNode n = head("tool_call", at);
      n.put("step", step);
      n.put("callId", callId);
      n.put("tool", tool);
      n.put("arguments", arguments);
      return Json.write(n);
    }
  }

  /** How a tool call ended. */
  enum Outcome {
    /** It ran and its result went to the model. */
    OK,
    /** The model asked for a tool the agent does not have. */
    UNKNOWN_TOOL,
    /** The arguments were not valid; the model was told why. */
    INVALID_ARGUMENTS,
    /** The policy or the loop's fixed rules refused it ({@link ToolCallRefused}). */
    REFUSED,
    /** It ran, and its content was withheld because a pattern blocks. */
    WITHHELD,
    /** The implementation failed unexpectedly. */
    FAILED,
    /** Not run: the task stopped at a bound or the reply had too many calls. */
    SKIPPED
  }

  /**
   * A tool call's result, summarised.
   *
   * @param source the path (or {@code tool:<name>}) the result came from, or {@code null}
   * @param bytes UTF-8 bytes of content given to the model
   * @param detail the reason when not OK (refusal, argument error), otherwise a short summary
   */
  record ToolResult(
      Instant at,
      int step,
      String callId,
      String tool,
      Outcome outcome,
      String source,
      long bytes,
      String detail)
      implements TranscriptEvent {
    public ToolResult {
      Objects.requireNonNull(outcome, "outcome");
      detail = Text.cut(detail, PREVIEW_MAX);
    }

    @Override
    public String toJsonLine() {
      ObjectNode n = head("tool_result", at);
      n.put("step", step);
      n.put("callId", callId);
      n.put("tool", tool);
      n.put("outcome", outcome.name());
      n.put("source", source);
      n.put("bytes", bytes);
      n.put("detail", detail);
      return Json.write(n);
    }
  }

  /**
   * Content matched an injection pattern (the mount also sends these to the audit stream).
   *
   * @param source the path or {@code tool:<name>} the content came from, or for a write where it
   *     was going ({@code note:<name>}, {@code answer})
   * @param write true for a write the agent tried, false for content it read
   * @param blocked true when the content was withheld or the write refused
   */
  record Flagged(
      Instant at, int step, String source, boolean write, Finding finding, boolean blocked)
      implements TranscriptEvent {
    @Override
    public String toJsonLine() {
      ObjectNode n = head("flag", at);
      n.put("step", step);
      n.put("source", source);
      n.put("direction", write ? "write" : "read");
      n.put("pattern", finding.pattern());
      n.put("action", finding.action().name());
      n.put("excerpt", finding.excerpt());
      n.put("blocked", blocked);
      return Json.write(n);
    }
  }

  /** Something failed: the model call, a listener-visible internal error. */
  record Failure(Instant at, int step, String message) implements TranscriptEvent {
    @Override
    public String toJsonLine() {
      ObjectNode n = head("error", at);
      n.put("step", step);
      n.put("message", message);
      return Json.write(n);
    }
  }

  /** The task ended; the answer's text cut to {@value #TEXT_MAX} characters. */
  record Final(
      Instant at,
      int steps,
      int tokens,
      boolean generated,
      boolean complete,
      String stopReason,
      List<String> citedPaths,
      int flags,
      String text)
      implements TranscriptEvent {
    public Final {
      citedPaths = List.copyOf(citedPaths);
      text = Text.cut(text, TEXT_MAX);
    }

    @Override
    public String toJsonLine() {
      ObjectNode n = head("final", at);
      n.put("steps", steps);
      n.put("tokens", tokens);
      n.put("generated", generated);
      n.put("complete", complete);
      n.put("stopReason", stopReason);
      ArrayNode a = n.putArray("citedPaths");
      citedPaths.forEach(a::add);
      n.put("flags", flags);
      n.put("text", text);
      return Json.write(n);
    }
  }

  private static ObjectNode head(String kind, Instant at) {
    ObjectNode n = Json.object();
    n.put("event", kind);
    n.put("at", at.toString());
    return n;
  }
}
