package dev.clawfs.mount;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

/**
 * Test fixture: a chat-completions server on 127.0.0.1 (an ephemeral port) that replays scripted
 * replies in order and records every request it receives (path, Authorization header, raw body).
 * A step may look at the request it answers (to read a file the search found, say). When the
 * script is used up it answers HTTP 500, so an agent that makes one call too many fails loudly.
 */
final class ChatScriptServer implements AutoCloseable {
  static final ObjectMapper JSON = new ObjectMapper();

  /** A request as received. */
  record Received(String path, String authorization, String rawBody, JsonNode body) {
    /** The request's messages. */
    JsonNode messages() {
      return body == null ? JSON.createArrayNode() : body.path("messages");
    }

    /** The contents of the {@code tool} messages after the last assistant message. */
    List<String> lastToolResults() {
      List<String> out = new ArrayList<>();
      JsonNode m = messages();
      for (int i = m.size() - 1; i >= 0 && "tool".equals(m.get(i).path("role").asText()); i--) {
        out.add(0, m.get(i).path("content").asText());
      }
      return out;
    }
  }

  /** One scripted reply. */
  @FunctionalInterface
  interface Step {
    void respond(HttpExchange exchange, JsonNode request, CountDownLatch closing)
        throws IOException, InterruptedException;
  }

  /** One tool call of a scripted reply. */
  record Call(String name, String arguments) {}

  private final HttpServer server;
  private final ExecutorService pool;
  private final ConcurrentLinkedQueue<Step> script = new ConcurrentLinkedQueue<>();
  private final List<Received> received = new ArrayList<>();
  private final CountDownLatch closing = new CountDownLatch(1);

  private ChatScriptServer() throws IOException {
    server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    pool = Executors.newCachedThreadPool(r -> {
      Thread t = new Thread(r, "chat-script-server");
      t.setDaemon(true);
      return t;
    });
    server.setExecutor(pool);
    server.createContext("/", this::handle);
    server.start();
  }

  static ChatScriptServer start() throws IOException {
    return new ChatScriptServer();
  }

  /** The base URL for an agent's settings ({@code http://127.0.0.1:PORT/v1}). */
  String baseUrl() {
    return "http://127.0.0.1:" + server.getAddress().getPort() + "/v1";
  }

  /** Forgets the script and the requests received so far (between tests). */
  void reset() {
    script.clear();
    synchronized (received) {
      received.clear();
    }
  }

  ChatScriptServer then(Step s) {
    script.add(s);
    return this;
  }

  List<Received> received() {
    synchronized (received) {
      return List.copyOf(received);
    }
  }

  private void handle(HttpExchange ex) throws IOException {
    try {
      byte[] body = ex.getRequestBody().readAllBytes();
      JsonNode parsed;
      try {
        parsed = JSON.readTree(body);
      } catch (IOException e) {
        parsed = null;
      }
      synchronized (received) {
        received.add(new Received(ex.getRequestURI().getPath(), ex.getRequestHeaders().getFirst("Authorization"),
            new String(body, StandardCharsets.UTF_8), parsed));
        received.notifyAll();
      }
      Step s = script.poll();
      if (s == null) {
        s = status(500, "application/json", "{\"error\": {\"message\": \"the test script has no more replies\"}}");
      }
      s.respond(ex, parsed, closing);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } finally {
      ex.close();
    }
  }

  @Override
  public void close() {
    closing.countDown();
    server.stop(0);
    pool.shutdownNow();
  }

  // ------------------------------------------------------------------ replies

  /** A reply with this status, content type and body. */
  static Step status(int status, String contentType, String body) {
    return (ex, req, closing) -> {
      byte[] b = body.getBytes(StandardCharsets.UTF_8);
      ex.getResponseHeaders().set("Content-Type", contentType);
      ex.sendResponseHeaders(status, b.length == 0 ? -1 : b.length);
      try (OutputStream out = ex.getResponseBody()) {
        out.write(b);
      }
    };
  }

  /** A reply computed from the request it answers. */
  static Step computed(Function<JsonNode, String> reply) {
    return (ex, req, closing) -> status(200, "application/json", reply.apply(req)).respond(ex, req, closing);
  }

  /** A reply that calls these tools. */
  static Step toolCalls(Call... calls) {
    String body = toolCallsJson(List.of(calls));
    return status(200, "application/json", body);
  }

  /** A final answer. */
  static Step answer(String content) {
    return status(200, "application/json", answerJson(content));
  }

  /** No reply at all: holds the request until the server closes (at most a minute). */
  static Step silent() {
    return (ex, req, closing) -> closing.await(60, TimeUnit.SECONDS);
  }

  static String toolCallsJson(List<Call> calls) {
    ObjectNode root = JSON.createObjectNode();
    root.put("id", "chatcmpl-script");
    root.put("object", "chat.completion");
    ObjectNode choice = root.putArray("choices").addObject();
    choice.put("index", 0);
    ObjectNode msg = choice.putObject("message");
    msg.put("role", "assistant");
    msg.putNull("content");
    ArrayNode tc = msg.putArray("tool_calls");
    int n = 0;
    for (Call c : calls) {
      ObjectNode call = tc.addObject();
      call.put("id", "call_" + (++n));
      call.put("type", "function");
      call.putObject("function").put("name", c.name()).put("arguments", c.arguments());
    }
    choice.put("finish_reason", "tool_calls");
    root.putObject("usage").put("prompt_tokens", 90).put("completion_tokens", 10).put("total_tokens", 100);
    return root.toString();
  }

  static String answerJson(String content) {
    ObjectNode root = JSON.createObjectNode();
    root.put("id", "chatcmpl-script");
    root.put("object", "chat.completion");
    ObjectNode choice = root.putArray("choices").addObject();
    choice.put("index", 0);
    choice.putObject("message").put("role", "assistant").put("content", content);
    choice.put("finish_reason", "stop");
    root.putObject("usage").put("prompt_tokens", 90).put("completion_tokens", 10).put("total_tokens", 100);
    return root.toString();
  }

  /** Arguments as a JSON object string, from alternating names and values. */
  static String args(Object... kv) {
    ObjectNode o = JSON.createObjectNode();
    for (int i = 0; i < kv.length; i += 2) {
      o.set((String) kv[i], JSON.valueToTree(kv[i + 1]));
    }
    return o.toString();
  }
}
