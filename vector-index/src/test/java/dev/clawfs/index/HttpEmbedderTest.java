package dev.clawfs.index;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Against a local server on 127.0.0.1 that speaks OpenAI's embeddings protocol. */
class HttpEmbedderTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String KEY = "sk-test-0123456789abcdef";

  private record Request(
      String method, String path, String auth, String contentType, JsonNode body) {}

  /** What the fake server answers: a status and a body, from the parsed request. */
  private interface Answer {
    Reply answer(JsonNode request) throws Exception;
  }

  private record Reply(int status, String body) {}

  private HttpServer server;
  private final List<Request> requests = new CopyOnWriteArrayList<>();
  private volatile Answer answer = HttpEmbedderTest::openAi;
  private final CountDownLatch release = new CountDownLatch(1);

  @BeforeEach
  void start() throws IOException {
    server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    server.createContext("/", this::handle);
    server.setExecutor(java.util.concurrent.Executors.newCachedThreadPool());
    server.start();
  }

  @AfterEach
  void stop() {
    release.countDown();
    server.stop(0);
  }

  private void handle(HttpExchange ex) throws IOException {
    try (ex) {
      byte[] in = ex.getRequestBody().readAllBytes();
      JsonNode body = in.length == 0 ? null : JSON.readTree(in);
      requests.add(
          new Request(
              ex.getRequestMethod(),
              ex.getRequestURI().getPath(),
              ex.getRequestHeaders().getFirst("Authorization"),
              ex.getRequestHeaders().getFirst("Content-Type"),
              body));
      Reply r;
      try {
        r = answer.answer(body);
      } catch (Exception e) {
        r = new Reply(500, "test server failed: " + e);
      }
      byte[] out = r.body().getBytes(StandardCharsets.UTF_8);
      ex.getResponseHeaders().set("Content-Type", "application/json");
      ex.sendResponseHeaders(r.status(), out.length);
      ex.getResponseBody().write(out);
    }
  }

  /**
   * OpenAI's answer, with the data listed in reverse index order (the protocol orders by index, not
   * by position) and vectors {@code [len(input), index + 1, 2, 0]}, which are not unit length.
   */
  private static Reply openAi(JsonNode request) {
    ObjectNode resp = JSON.createObjectNode();
    resp.put("object", "list");
    ArrayNode data = resp.putArray("data");
    JsonNode input = request.get("input");
    for (int i = input.size() - 1; i >= 0; i--) {
      ObjectNode item = data.addObject();
      item.put("object", "embedding");
      item.put("index", i);
      item.putArray("embedding").add(input.get(i).asText().length()).add(i + 1).add(2.0).add(0);
    }
    resp.put("model", request.get("model").asText());
    resp.putObject("usage").put("prompt_tokens", 1).put("total_tokens", 1);
    return new Reply(200, resp.toString());
  }

  private String baseUrl() {
    return "http://127.0.0.1:" + server.getAddress().getPort() + "/v1";
  }

  private static float[] expected(String input, int index) {
    return Vectors.normalize(new float[] {input.length(), index + 1, 2, 0});
  }

  @Test
  void postsTheOpenAiRequestAndOrdersTheVectorsByIndex() throws IOException {
    HttpEmbedder e =
        HttpEmbedder.builder(baseUrl(), "text-embedding-3-small").withApiKey(KEY).build();
    List<String> inputs = List.of("alpha", "beta gamma", "delta");
    List<float[]> vectors = e.embedPassages(inputs);

    assertEquals(1, requests.size());
    Request r = requests.get(0);
    assertEquals("POST", r.method());
    assertEquals("/v1/embeddings", r.path());
    assertEquals("Bearer " + KEY, r.auth());
    assertEquals("application/json", r.contentType());
    assertEquals(
        JSON.readTree(
            "{\"model\":\"text-embedding-3-small\",\"input\":[\"alpha\",\"beta"
                + " gamma\",\"delta\"]}"),
        r.body());

    assertEquals(3, vectors.size());
    for (int i = 0; i < 3; i++) {
      assertArrayEquals(expected(inputs.get(i), i), vectors.get(i), 1e-6f);
      assertEquals(1.0, Vectors.norm(vectors.get(i)), 1e-6);
    }
    assertEquals(4, e.dimension());
    assertEquals("text-embedding-3-small", e.name());
  }

  @Test
  void sendsNoAuthorizationWithoutAKey() throws IOException {
    HttpEmbedder e = HttpEmbedder.builder(baseUrl() + "/", "local").withApiKey(" ").build();
    e.embedQuery("hello");
    assertNull(requests.get(0).auth());
    assertEquals("/v1/embeddings", requests.get(0).path());
  }

  @Test
  void sendsAtMost64InputsPerRequest() throws IOException {
    HttpEmbedder e = HttpEmbedder.builder(baseUrl(), "m").build();
    List<String> inputs = new ArrayList<>();
    for (int i = 0; i < 130; i++) {
      inputs.add("passage " + "x".repeat(i));
    }
    List<float[]> vectors = e.embedPassages(inputs);
    assertEquals(
        List.of(64, 64, 2), requests.stream().map(r -> r.body().get("input").size()).toList());
    assertEquals(130, vectors.size());
    for (int i = 0; i < 130; i++) {
      // The server numbers each request's inputs from 0.
      assertArrayEquals(expected(inputs.get(i), i % 64), vectors.get(i), 1e-6f, "input " + i);
    }
    assertEquals(List.of(), e.embedPassages(List.of()));
    assertEquals(3, requests.size(), "no request for no passages");
  }

  @Test
  void putsTheQueryPrefixBeforeQueriesOnly() throws IOException {
    HttpEmbedder e = HttpEmbedder.builder(baseUrl(), "m").withQueryPrefix("search_query: ").build();
    e.embedQuery("where");
    e.embedPassages(List.of("there"));
    assertEquals("search_query: where", requests.get(0).body().get("input").get(0).asText());
    assertEquals("there", requests.get(1).body().get("input").get(0).asText());
  }

  @Test
  void errorStatusGivesStatusAndServerMessageButNeitherKeyNorInput() {
    // OpenAI quotes (part of) a wrong key; some servers quote the input.
    answer =
        req ->
            new Reply(
                401,
                "{\"error\":{\"message\":\"Incorrect API key provided: "
                    + KEY
                    + " for input "
                    + req.get("input").get(0).asText()
                    + "\",\"type\":\"invalid_request_error\",\"code\":\"invalid_api_key\"}}");
    HttpEmbedder e = HttpEmbedder.builder(baseUrl(), "m").withApiKey(KEY).build();
    IOException ex =
        assertThrows(IOException.class, () -> e.embedPassages(List.of("my secret diary entry")));
    String m = ex.getMessage();
    assertTrue(m.contains("HTTP 401"), m);
    assertTrue(m.contains("Incorrect API key provided"), m);
    assertTrue(m.contains("/v1/embeddings"), m);
    assertFalse(m.contains(KEY), m);
    assertFalse(m.contains("secret diary"), m);
    assertFalse(e.toString().contains(KEY));
  }

  @Test
  void errorBodiesOfOtherShapesAreReported() {
    HttpEmbedder e = HttpEmbedder.builder(baseUrl(), "m").withApiKey(KEY).build();
    answer = req -> new Reply(503, "<html><body>Service   Unavailable</body></html>");
    IOException html = assertThrows(IOException.class, () -> e.embedQuery("q"));
    assertTrue(
        html.getMessage().contains("HTTP 503: <html><body>Service Unavailable"), html.getMessage());

    answer = req -> new Reply(400, "{\"detail\":\"input too long\"}");
    IOException fastApi = assertThrows(IOException.class, () -> e.embedQuery("q"));
    assertTrue(fastApi.getMessage().endsWith("HTTP 400: input too long"), fastApi.getMessage());

    answer = req -> new Reply(500, "{\"error\":\"model not loaded\"}");
    IOException bare = assertThrows(IOException.class, () -> e.embedQuery("q"));
    assertTrue(bare.getMessage().endsWith("HTTP 500: model not loaded"), bare.getMessage());
  }

  @Test
  void malformedResponsesAreIoErrors() {
    HttpEmbedder e = HttpEmbedder.builder(baseUrl(), "m").build();
    answer = req -> new Reply(200, "not json");
    assertTrue(
        assertThrows(IOException.class, () -> e.embedQuery("q")).getMessage().contains("not JSON"));

    answer = req -> new Reply(200, "{\"data\":[]}");
    assertTrue(
        assertThrows(IOException.class, () -> e.embedPassages(List.of("a", "b")))
            .getMessage()
            .contains("sent 2 inputs, got 0 embeddings"));

    answer =
        req ->
            new Reply(
                200,
                "{\"data\":[{\"index\":0,\"embedding\":[1,0]},{\"index\":0,\"embedding\":[0,1]}]}");
    assertTrue(
        assertThrows(IOException.class, () -> e.embedPassages(List.of("a", "b")))
            .getMessage()
            .contains("index 0 appears twice"));

    answer = req -> new Reply(200, "{\"data\":[{\"index\":0,\"embedding\":\"AAAA\"}]}");
    assertTrue(
        assertThrows(IOException.class, () -> e.embedQuery("q")).getMessage().contains("base64"));

    answer = req -> new Reply(200, "{\"data\":[{\"index\":0,\"embedding\":[0,0,0]}]}");
    assertTrue(
        assertThrows(IOException.class, () -> e.embedQuery("q"))
            .getMessage()
            .contains("normalised"));

    answer =
        req ->
            new Reply(
                200,
                "{\"data\":[{\"index\":0,\"embedding\":[1,2]},{\"index\":1,\"embedding\":[1]}]}");
    assertTrue(
        assertThrows(IOException.class, () -> e.embedPassages(List.of("a", "b")))
            .getMessage()
            .contains("embedding 1 has 1 dimensions, expected 2"));

    answer = req -> new Reply(200, "{\"data\":[{\"index\":5,\"embedding\":[1,2]}]}");
    assertTrue(
        assertThrows(IOException.class, () -> e.embedQuery("q")).getMessage().contains("index 5"));
    // None of these responses was valid, so none set the dimension.
    assertThrows(IllegalStateException.class, e::dimension);
  }

  @Test
  void dimensionIsLearntOrGivenAndEnforced() throws IOException {
    HttpEmbedder learn = HttpEmbedder.builder(baseUrl(), "m").build();
    assertThrows(IllegalStateException.class, learn::dimension);
    learn.embedQuery("q");
    assertEquals(4, learn.dimension());

    HttpEmbedder given = HttpEmbedder.builder(baseUrl(), "m").withDimension(1536).build();
    assertEquals(1536, given.dimension());
    IOException ex = assertThrows(IOException.class, () -> given.embedQuery("q"));
    assertTrue(ex.getMessage().contains("has 4 dimensions, expected 1536"), ex.getMessage());
  }

  @Test
  void aSlowServerTimesOut() {
    answer =
        req -> {
          release.await(10, TimeUnit.SECONDS);
          return openAi(req);
        };
    HttpEmbedder e =
        HttpEmbedder.builder(baseUrl(), "m").withRequestTimeout(Duration.ofMillis(300)).build();
    long t0 = System.nanoTime();
    IOException ex = assertThrows(IOException.class, () -> e.embedQuery("q"));
    assertTrue(ex.getMessage().contains("timed out"), ex.getMessage());
    assertTrue(System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(5));
  }

  @Test
  void aClosedPortIsAnIoErrorNamingTheEndpoint() throws IOException {
    int port;
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      port = s.getLocalPort();
    }
    HttpEmbedder e = HttpEmbedder.builder("http://127.0.0.1:" + port + "/v1", "m").build();
    IOException ex = assertThrows(IOException.class, () -> e.embedQuery("q"));
    assertTrue(ex.getMessage().contains("127.0.0.1:" + port + "/v1/embeddings"), ex.getMessage());
  }

  @Test
  void rejectsBadSettingsAndBlankInput() {
    assertThrows(IllegalArgumentException.class, () -> HttpEmbedder.builder("ftp://x/v1", "m"));
    assertThrows(IllegalArgumentException.class, () -> HttpEmbedder.builder(baseUrl(), " "));
    HttpEmbedder e = HttpEmbedder.builder(baseUrl(), "m").build();
    assertThrows(IllegalArgumentException.class, () -> e.embedPassages(List.of("a", "")));
    assertThrows(IllegalArgumentException.class, () -> e.embedQuery(" "));
    assertEquals(Collections.emptyList(), requests);
  }

  @Test
  void userInfoInTheBaseUrlIsNotShown() {
    HttpEmbedder e =
        HttpEmbedder.builder("http://user:hunter2@127.0.0.1:" + server.getAddress().getPort(), "m")
            .build();
    assertFalse(e.toString().contains("hunter2"), e.toString());
  }
}
