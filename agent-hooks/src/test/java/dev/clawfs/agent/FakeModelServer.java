package dev.clawfs.agent;

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
import java.util.Collections;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * A chat-completions server on loopback that replays scripted replies in order and records every
 * request it receives (body and Authorization header). When the script runs out it answers HTTP
 * 500, so a test that makes one call too many fails loudly.
 */
final class FakeModelServer implements AutoCloseable {

  static final ObjectMapper JSON = new ObjectMapper();

  /** A request as received. */
  record Received(String path, String authorization, String contentType, JsonNode body) {}

  /** One scripted reply. */
  @FunctionalInterface
  interface Responder {
    void respond(HttpExchange exchange, CountDownLatch closing)
        throws IOException, InterruptedException;
  }

  private final HttpServer server;
  private final ExecutorService pool;
  private final ConcurrentLinkedQueue<Responder> script = new ConcurrentLinkedQueue<>();
  private final List<Received> received = Collections.synchronizedList(new ArrayList<>());
  private final CountDownLatch closing = new CountDownLatch(1);
  private volatile Responder fallback = null;

  private FakeModelServer() throws IOException {
    server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    pool =
        Executors.newCachedThreadPool(
            r -> {
              Thread t = new Thread(r, "fake-model-server");
              t.setDaemon(true);
              return t;
            });
    server.setExecutor(pool);
    server.createContext("/", this::handle);
    server.start();
  }

  static FakeModelServer start() throws IOException {
    return new FakeModelServer();
  }

  /** The base URL to put in the settings ({@code .../v1}). */
  String baseUrl() {
    return "http://127.0.0.1:" + server.getAddress().getPort() + "/v1";
  }

  List<Received> received() {
    synchronized (received) {
      return List.copyOf(received);
    }
  }

  FakeModelServer then(Responder r) {
    script.add(r);
    return this;
  }

  /** Every request once the script is used up gets this reply. */
  FakeModelServer always(Responder r) {
    fallback = r;
    return this;
  }

  FakeModelServer thenJson(String body) {
    return then(json(200, body));
  }

  static Responder json(int status, String body) {
    return raw(status, "application/json", body);
  }

  static Responder raw(int status, String contentType, String body) {
    return (ex, closing) -> {
      byte[] b = body.getBytes(StandardCharsets.UTF_8);
      ex.getResponseHeaders().set("Content-Type", contentType);
      ex.sendResponseHeaders(status, b.length == 0 ? -1 : b.length);
      try (OutputStream out = ex.getResponseBody()) {
        out.write(b);
      }
    };
  }

  /** Waits {@code ms} (or until the server closes) before answering. */
  static Responder slow(long ms, Responder then) {
    return (ex, closing) -> {
      if (!closing.await(ms, TimeUnit.MILLISECONDS)) {
        then.respond(ex, closing);
      }
    };
  }

  /** Sends the headers and the start of a body, then nothing until the server closes. */
  static Responder stalledBody() {
    return (ex, closing) -> {
      ex.getResponseHeaders().set("Content-Type", "application/json");
      ex.sendResponseHeaders(200, 0);
      OutputStream out = ex.getResponseBody();
      out.write("{\"choices\": [".getBytes(StandardCharsets.UTF_8));
      out.flush();
      closing.await(60, TimeUnit.SECONDS);
      ex.close();
    };
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
      received.add(
          new Received(
              ex.getRequestURI().getPath(),
              ex.getRequestHeaders().getFirst("Authorization"),
              ex.getRequestHeaders().getFirst("Content-Type"),
              parsed));
      Responder r = script.poll();
      if (r == null) {
        r = fallback;
      }
      if (r == null) {
        r = json(500, "{\"error\": {\"message\": \"the test script has no more replies\"}}");
      }
      r.respond(ex, closing);
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

  // ---- building replies ----

  /** {@code {"id","type","function":{"name","arguments"}}} with arguments as a JSON string. */
  static ObjectNode call(String id, String name, String arguments) {
    ObjectNode c = JSON.createObjectNode();
    c.put("id", id);
    c.put("type", "function");
    c.putObject("function").put("name", name).put("arguments", arguments);
    return c;
  }

  /** A reply that calls tools, with the given total tokens in its usage. */
  static String toolCalls(int totalTokens, ObjectNode... calls) {
    ObjectNode root = JSON.createObjectNode();
    root.put("id", "chatcmpl-1");
    root.put("object", "chat.completion");
    ObjectNode choice = root.putArray("choices").addObject();
    choice.put("index", 0);
    ObjectNode msg = choice.putObject("message");
    msg.put("role", "assistant");
    msg.putNull("content");
    ArrayNode tc = msg.putArray("tool_calls");
    for (ObjectNode c : calls) {
      tc.add(c);
    }
    choice.put("finish_reason", "tool_calls");
    usage(root, totalTokens);
    return root.toString();
  }

  /** A final answer with the given total tokens in its usage. */
  static String answer(String content, int totalTokens) {
    ObjectNode root = JSON.createObjectNode();
    ObjectNode choice = root.putArray("choices").addObject();
    choice.put("index", 0);
    choice.putObject("message").put("role", "assistant").put("content", content);
    choice.put("finish_reason", "stop");
    usage(root, totalTokens);
    return root.toString();
  }

  private static void usage(ObjectNode root, int total) {
    if (total >= 0) {
      root.putObject("usage")
          .put("prompt_tokens", total - total / 4)
          .put("completion_tokens", total / 4)
          .put("total_tokens", total);
    }
  }

  static String args(Object... keyValues) {
    ObjectNode o = JSON.createObjectNode();
    for (int i = 0; i < keyValues.length; i += 2) {
      o.set((String) keyValues[i], JSON.valueToTree(keyValues[i + 1]));
    }
    return o.toString();
  }
}
