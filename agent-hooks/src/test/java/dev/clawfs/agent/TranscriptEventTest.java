package dev.clawfs.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.clawfs.agent.InjectionPattern.Action;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;

class TranscriptEventTest {

  private static final Instant AT = Instant.parse("2025-01-02T03:04:05Z");

  private static JsonNode line(TranscriptEvent e) throws Exception {
    String l = e.toJsonLine();
    assertFalse(l.contains("\n"), l);
    return FakeModelServer.JSON.readTree(l);
  }

  @Test
  void everyEventIsOneLineOfJsonNamingItsKind() throws Exception {
    List<TranscriptEvent> all =
        List.of(
            new TranscriptEvent.Task(AT, "a\nmultiline task", "qwen"),
            new TranscriptEvent.ModelRequest(AT, 1, 3, 5),
            new TranscriptEvent.ModelReply(
                AT,
                1,
                "x".repeat(2000),
                List.of(new TranscriptEvent.CallPreview("search", "{\"query\":\"q\"}")),
                "tool_calls",
                42),
            new TranscriptEvent.ToolCalled(AT, 1, "c1", "search", "{}"),
            new TranscriptEvent.ToolResult(
                AT, 1, "c1", "search", TranscriptEvent.Outcome.REFUSED, "/a", 0, "policy"),
            new TranscriptEvent.Flagged(
                AT, 1, "/a", false, new Finding("p", Action.FLAG, "ex"), false),
            new TranscriptEvent.Failure(AT, 2, "HTTP 500"),
            new TranscriptEvent.Final(
                AT, 2, 100, true, true, "answered", List.of("/a"), 1, "text"));
    List<String> kinds =
        List.of(
            "task",
            "model_request",
            "model_reply",
            "tool_call",
            "tool_result",
            "flag",
            "error",
            "final");
    for (int i = 0; i < all.size(); i++) {
      JsonNode n = line(all.get(i));
      assertEquals(kinds.get(i), n.get("event").asText());
      assertEquals("2025-01-02T03:04:05Z", n.get("at").asText());
    }
    JsonNode reply = line(all.get(2));
    assertEquals(500, reply.get("content").asText().length(), "previews are cut to 500 characters");
    assertEquals("search", reply.get("calls").get(0).get("name").asText());
    JsonNode flag = line(all.get(5));
    assertEquals("read", flag.get("direction").asText());
    assertEquals("FLAG", flag.get("action").asText());
    JsonNode result = line(all.get(4));
    assertEquals("REFUSED", result.get("outcome").asText());
    assertTrue(line(all.get(0)).get("task").asText().contains("\n"));
  }
}
