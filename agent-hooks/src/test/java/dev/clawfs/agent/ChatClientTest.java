package dev.clawfs.agent;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.ServerSocket;
import java.net.http.HttpClient;
import java.time.Duration;
import java.util.List;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class ChatClientTest {

  private static final String KEY = "sk-or-v1-0123456789abcdef-TESTKEY";
  private static final Duration SECOND = Duration.ofSeconds(5);

  private FakeModelServer server;
  private final ChatClient client = ChatClient.create();

  @BeforeEach
  void start() throws Exception {
    server = FakeModelServer.start();
  }

  @AfterEach
  void stop() {
    server.close();
  }

  private static ChatRequest request() {
    return new ChatRequest(
        "test-model",
        List.of(ChatMessage.system("sys"), ChatMessage.user("hello")),
        AgentLoop.toolSpecs(),
        512,
        0.2);
  }

  private static Supplier<char[]> key() {
    return () -> KEY.toCharArray();
  }

  private ChatException fails(Duration timeout) {
    return assertTimeoutPreemptively(
        Duration.ofSeconds(10),
        () ->
            assertThrows(
                ChatException.class,
                () -> client.complete(server.baseUrl(), request(), timeout, key())));
  }

  @Test
  void sendsAChatCompletionsRequestWithToolsAndTheKeyAsBearer() throws Exception {
    server.thenJson(FakeModelServer.answer("hi", 12));
    ChatReply r = client.complete(server.baseUrl(), request(), SECOND, key());
    assertEquals("hi", r.content());
    assertEquals("stop", r.finishReason());
    assertEquals(12, r.usage().totalTokens());

    FakeModelServer.Received got = server.received().get(0);
    assertEquals("/v1/chat/completions", got.path());
    assertEquals("Bearer " + KEY, got.authorization());
    assertTrue(got.contentType().startsWith("application/json"));
    JsonNode b = got.body();
    assertEquals("test-model", b.get("model").asText());
    assertEquals("auto", b.get("tool_choice").asText());
    assertEquals(512, b.get("max_tokens").asInt());
    assertEquals(0.2, b.get("temperature").asDouble());
    assertEquals("system", b.get("messages").get(0).get("role").asText());
    assertEquals("hello", b.get("messages").get(1).get("content").asText());
    JsonNode tool = b.get("tools").get(0);
    assertEquals("function", tool.get("type").asText());
    assertEquals("search", tool.get("function").get("name").asText());
    assertEquals("object", tool.get("function").get("parameters").get("type").asText());
  }

  @Test
  void sendsNoAuthorizationWithoutAKeyAndDropsTheNewlineOfASecretFile() throws Exception {
    server.thenJson(FakeModelServer.answer("a", 1)).thenJson(FakeModelServer.answer("b", 1));
    client.complete(server.baseUrl(), request(), SECOND, null);
    client.complete(server.baseUrl(), request(), SECOND, () -> (KEY + "\n").toCharArray());
    assertNull(server.received().get(0).authorization());
    assertEquals("Bearer " + KEY, server.received().get(1).authorization());
  }

  @Test
  void readsTheKeyArrayWithoutChangingItSoOneArrayServesAWholeTask() throws Exception {
    server.thenJson(FakeModelServer.answer("a", 1)).thenJson(FakeModelServer.answer("b", 1));
    char[] given = KEY.toCharArray();
    client.complete(server.baseUrl(), request(), SECOND, () -> given);
    client.complete(server.baseUrl(), request(), SECOND, () -> given);
    assertArrayEquals(KEY.toCharArray(), given);
    assertEquals("Bearer " + KEY, server.received().get(1).authorization());
  }

  @Test
  void omitsToolsAndOptionalFieldsWhenNotGiven() throws Exception {
    server.thenJson(FakeModelServer.answer("a", 1));
    client.complete(
        server.baseUrl(),
        new ChatRequest("m", List.of(ChatMessage.user("q")), List.of(), null, null),
        SECOND,
        null);
    JsonNode b = server.received().get(0).body();
    assertFalse(b.has("tools"));
    assertFalse(b.has("tool_choice"));
    assertFalse(b.has("max_tokens"));
    assertFalse(b.has("temperature"));
  }

  @Test
  void parsesToolCallsWhateverShapeTheServerUses() throws Exception {
    // arguments as a string, as an object (Ollama), and a call without an id (llama.cpp)
    String body =
        """
        {"choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
           "role": "assistant", "content": [{"type": "text", "text": "let me look"}],
           "tool_calls": [
             {"id": "c1", "type": "function",
              "function": {"name": "search", "arguments": "{\\"query\\": \\"x\\"}"}},
             {"id": "c2", "type": "function",
              "function": {"name": "read_file", "arguments": {"path": "/a"}}},
             {"type": "function", "function": {"name": "list_dir"}}]}}],
         "usage": {"prompt_tokens": 30, "completion_tokens": 10}}
        """;
    server.thenJson(body);
    ChatReply r = client.complete(server.baseUrl(), request(), SECOND, null);
    assertEquals("let me look", r.content());
    assertEquals(
        List.of(
            new ToolCall("c1", "search", "{\"query\": \"x\"}"),
            new ToolCall("c2", "read_file", "{\"path\":\"/a\"}"),
            new ToolCall("call_2", "list_dir", "{}")),
        r.toolCalls());
    assertEquals(new ChatReply.Usage(30, 10, 40), r.usage());
  }

  @Test
  void http500WithAnErrorObjectSaysStatusAndTheProvidersMessage() {
    server.then(
        FakeModelServer.json(
            500, "{\"error\": {\"message\": \"upstream model crashed\", \"code\": 500}}"));
    ChatException e = fails(SECOND);
    assertEquals(ChatException.Kind.HTTP_STATUS, e.kind());
    assertEquals(500, e.httpStatus());
    assertTrue(e.getMessage().contains("answered HTTP 500"), e.getMessage());
    assertTrue(e.getMessage().contains(": upstream model crashed"), e.getMessage());
    assertTrue(e.getMessage().contains(server.baseUrl() + "/chat/completions"), e.getMessage());
  }

  @Test
  void theProvidersMessageIsCutTo300Characters() {
    server.then(
        FakeModelServer.json(400, "{\"error\": {\"message\": \"" + "x".repeat(5000) + "\"}}"));
    ChatException e = fails(SECOND);
    String detail = e.getMessage().substring(e.getMessage().indexOf(": ") + 2);
    assertTrue(detail.length() <= 300, detail.length() + "");
    assertTrue(detail.endsWith("..."));
  }

  @Test
  void anUnauthorizedReplyPointsAtTheSecretAndNeverEchoesTheKey() {
    server.then(
        FakeModelServer.json(401, "{\"error\": {\"message\": \"Invalid API key: " + KEY + "\"}}"));
    ChatException e = fails(SECOND);
    assertEquals(401, e.httpStatus());
    assertTrue(e.getMessage().contains("apiKeySecret"), e.getMessage());
    assertTrue(e.getMessage().contains("Invalid API key: [redacted]"), e.getMessage());
    assertFalse(e.getMessage().contains(KEY));
  }

  @Test
  void anHtmlErrorPageIsQuotedBriefly() {
    server.then(FakeModelServer.raw(502, "text/html", "<html><body>Bad gateway</body></html>"));
    ChatException e = fails(SECOND);
    assertEquals(ChatException.Kind.HTTP_STATUS, e.kind());
    assertTrue(e.getMessage().contains("HTTP 502"), e.getMessage());
    assertTrue(e.getMessage().contains("Bad gateway"), e.getMessage());
  }

  @Test
  void aRedirectIsNotFollowedSoTheKeyGoesNowhereElse() {
    server.then(
        (ex, closing) -> {
          ex.getResponseHeaders().set("Location", "http://elsewhere.example/v1/chat/completions");
          ex.sendResponseHeaders(307, -1);
        });
    ChatException e = fails(SECOND);
    assertEquals(307, e.httpStatus());
    assertTrue(e.getMessage().contains("redirects are not followed"), e.getMessage());
    assertEquals(1, server.received().size());
  }

  @Test
  void aGarbageBodyIsABadResponse() {
    server.then(FakeModelServer.raw(200, "text/plain", "\u0000\u0001garbage{{{"));
    ChatException e = fails(SECOND);
    assertEquals(ChatException.Kind.BAD_RESPONSE, e.kind());
    assertTrue(e.getMessage().contains("not JSON"), e.getMessage());
    assertTrue(e.getMessage().contains("text/plain"), e.getMessage());
  }

  @Test
  void anEmptyBodyIsABadResponse() {
    server.then(FakeModelServer.raw(200, "application/json", ""));
    ChatException e = fails(SECOND);
    assertEquals(ChatException.Kind.BAD_RESPONSE, e.kind());
    assertTrue(e.getMessage().contains("empty"), e.getMessage());
  }

  @Test
  void jsonWithoutChoicesIsABadResponse() {
    server.thenJson("{\"id\": \"x\", \"choices\": []}");
    ChatException e = fails(SECOND);
    assertEquals(ChatException.Kind.BAD_RESPONSE, e.kind());
    assertTrue(e.getMessage().contains("no choices"), e.getMessage());
  }

  @Test
  void aToolCallWithoutAFunctionNameIsABadResponse() {
    server.thenJson(
        "{\"choices\": [{\"message\": {\"role\": \"assistant\", \"tool_calls\": [{\"id\": \"a\","
            + " \"function\": {\"arguments\": \"{}\"}}]}}]}");
    ChatException e = fails(SECOND);
    assertEquals(ChatException.Kind.BAD_RESPONSE, e.kind());
    assertTrue(e.getMessage().contains("tool_calls[0] without a function name"), e.getMessage());
  }

  @Test
  void anErrorObjectInA200ReplyIsAProviderError() {
    // OpenRouter reports some upstream failures this way
    server.thenJson("{\"error\": {\"message\": \"No endpoints found for model\", \"code\": 404}}");
    ChatException e = fails(SECOND);
    assertEquals(ChatException.Kind.PROVIDER_ERROR, e.kind());
    assertTrue(e.getMessage().contains("No endpoints found for model"), e.getMessage());
  }

  @Test
  void aServerThatNeverAnswersTimesOut() {
    server.then(FakeModelServer.slow(60_000, FakeModelServer.json(200, "{}")));
    ChatException e = fails(Duration.ofMillis(300)); // the server sleeps 60 s: returning at all is the point
    assertEquals(ChatException.Kind.TIMEOUT, e.kind());
    assertTrue(e.getMessage().contains("did not answer within 300 ms"), e.getMessage());
  }

  @Test
  void aBodyThatStallsAfterTheHeadersTimesOutToo() {
    server.then(FakeModelServer.stalledBody());
    ChatException e = fails(Duration.ofMillis(300));
    assertEquals(ChatException.Kind.TIMEOUT, e.kind());
  }

  @Test
  void aRefusedConnectionSaysSo() throws Exception {
    int port;
    try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      port = s.getLocalPort();
    }
    ChatException e =
        assertTimeoutPreemptively(
            Duration.ofSeconds(10),
            () ->
                assertThrows(
                    ChatException.class,
                    () ->
                        client.complete(
                            "http://127.0.0.1:" + port + "/v1", request(), SECOND, key())));
    assertEquals(ChatException.Kind.CONNECT, e.kind());
    assertTrue(e.getMessage().contains("connection refused"), e.getMessage());
    assertTrue(e.getMessage().contains("127.0.0.1:" + port), e.getMessage());
  }

  @Test
  void aReplyOverTheCapIsCutOff() {
    ChatClient small = new ChatClient(HttpClient.newHttpClient(), 1024);
    server.thenJson("{\"choices\": [], \"pad\": \"" + "x".repeat(100_000) + "\"}");
    ChatException e =
        assertThrows(
            ChatException.class, () -> small.complete(server.baseUrl(), request(), SECOND, null));
    assertEquals(ChatException.Kind.BAD_RESPONSE, e.kind());
    assertTrue(e.getMessage().contains("larger than 1024 bytes"), e.getMessage());
  }

  @Test
  void aKeyThatCannotGoInAHeaderIsRefusedWithoutShowingIt() {
    ChatException e =
        assertThrows(
            ChatException.class,
            () ->
                client.complete(
                    server.baseUrl(), request(), SECOND, () -> "sk-abc\ndef".toCharArray()));
    assertEquals(ChatException.Kind.CONFIGURATION, e.kind());
    assertFalse(e.getMessage().contains("sk-abc"));
    assertTrue(server.received().isEmpty());
  }
}
