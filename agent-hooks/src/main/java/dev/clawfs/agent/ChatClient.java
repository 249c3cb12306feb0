package dev.clawfs.agent;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.ConnectException;
import java.net.URI;
import java.net.UnknownHostException;
import java.net.http.HttpClient;
import java.net.http.HttpConnectTimeoutException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.ByteBuffer;
import java.nio.channels.UnresolvedAddressException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Flow;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Supplier;
import javax.net.ssl.SSLException;

/**
 * A client of the OpenAI-compatible chat-completions API (OpenRouter, OpenAI, Ollama, llama.cpp
 * server, vLLM): one {@code POST {baseUrl}/chat/completions} per call, with tool calling.
 *
 * <p>Why it is written this way:
 *
 * <ul>
 *   <li>The API key is asked for at call time through a supplier and is held only in local
 *       variables of {@link #complete}. The array stays the supplier's: it is read, never kept or
 *       changed, so a caller may hand out one array for a whole task and wipe it afterwards. No
 *       field, {@code toString} or exception message holds the key, and any provider text that
 *       echoes it is redacted.
 *   <li>Nothing hangs: the whole exchange, body included, must finish within the call's timeout
 *       (the JDK's own request timeout stops at the headers), and a reply larger than 8 MiB is cut
 *       off as an error.
 *   <li>Redirects are not followed, so the key never goes to a host the settings did not name. HTTP
 *       1.1 is used because local servers do not all handle the h2c upgrade.
 *   <li>No retries: the agent loop's step and time bounds decide what a task may spend.
 * </ul>
 *
 * <p>Thread-safe; one client (and its connection pool) is meant to serve every agent of a mount.
 */
public final class ChatClient {

  static final int DEFAULT_MAX_REPLY_BYTES = 8 << 20;
  private static final int PROVIDER_TEXT_MAX = 300;

  private final HttpClient http;
  private final int maxReplyBytes;

  ChatClient(HttpClient http, int maxReplyBytes) {
    this.http = http;
    this.maxReplyBytes = maxReplyBytes;
  }

  /** A client with its own connection pool, a 10 s connect timeout and no redirects. */
  public static ChatClient create() {
    return create(
        HttpClient.newBuilder()
            .version(HttpClient.Version.HTTP_1_1)
            .followRedirects(HttpClient.Redirect.NEVER)
            .connectTimeout(Duration.ofSeconds(10))
            .build());
  }

  /** A client over the given {@link HttpClient} (a proxy, a TLS configuration). */
  public static ChatClient create(HttpClient http) {
    return new ChatClient(http, DEFAULT_MAX_REPLY_BYTES);
  }

  /**
   * Sends one request and reads {@code choices[0]}.
   *
   * @param baseUrl the endpoint without {@code /chat/completions}, as in {@link AgentSettings}
   * @param request the body
   * @param timeout for the whole exchange; the call returns or throws within it
   * @param apiKey gives the key at call time (sent as {@code Authorization: Bearer}); {@code null},
   *     or a supplier returning {@code null}, sends no key. Surrounding whitespace (the newline at
   *     the end of a secret file) is dropped. The array is only read.
   * @throws ChatException with a message that names the endpoint and says what to check
   */
  public ChatReply complete(
      String baseUrl, ChatRequest request, Duration timeout, Supplier<char[]> apiKey)
      throws ChatException {
    String where = baseUrl + "/chat/completions";
    URI uri;
    try {
      uri = URI.create(where);
    } catch (IllegalArgumentException e) {
      throw new ChatException(
          ChatException.Kind.CONFIGURATION, 0, "model server URL " + where + " is not valid");
    }
    String key = key(apiKey);
    long timeoutMs = Math.max(1, timeout.toMillis());
    HttpResponse<byte[]> response;
    CompletableFuture<HttpResponse<byte[]>> pending;
    try {
      HttpRequest.Builder b =
          HttpRequest.newBuilder(uri)
              .timeout(Duration.ofMillis(timeoutMs))
              .header("Content-Type", "application/json")
              .header("Accept", "application/json")
              .POST(HttpRequest.BodyPublishers.ofString(request.toJson(), StandardCharsets.UTF_8));
      if (key != null) {
        b.header("Authorization", "Bearer " + key);
      }
      pending = http.sendAsync(b.build(), info -> new CappedBody(maxReplyBytes));
    } catch (IllegalArgumentException e) {
      // an unsupported scheme or host; the key was checked to be header-safe before
      throw new ChatException(
          ChatException.Kind.CONFIGURATION,
          0,
          Text.redact(
              "model server URL "
                  + where
                  + " cannot be used: "
                  + Text.oneLine(String.valueOf(e.getMessage())),
              key));
    }
    try {
      response = pending.get(timeoutMs, TimeUnit.MILLISECONDS);
    } catch (TimeoutException e) {
      pending.cancel(true);
      throw timedOut(where, timeoutMs);
    } catch (InterruptedException e) {
      pending.cancel(true);
      Thread.currentThread().interrupt();
      throw new ChatException(
          ChatException.Kind.INTERRUPTED,
          0,
          "the call to model server " + where + " was interrupted");
    } catch (ExecutionException e) {
      throw failure(e.getCause(), where, timeoutMs, key);
    }
    return read(response, where, key);
  }

  private ChatReply read(HttpResponse<byte[]> response, String where, String key)
      throws ChatException {
    int status = response.statusCode();
    byte[] body = response.body();
    JsonNode root = parseOrNull(body);
    if (status < 200 || status > 299) {
      String detail = root != null ? providerMessage(root) : preview(body);
      throw new ChatException(
          ChatException.Kind.HTTP_STATUS,
          status,
          Text.redact(
              "model server "
                  + where
                  + " answered HTTP "
                  + status
                  + hint(status)
                  + (detail == null || detail.isEmpty() ? "" : ": " + detail),
              key));
    }
    if (root == null) {
      String type = response.headers().firstValue("content-type").orElse("no content type");
      String p = preview(body);
      throw new ChatException(
          ChatException.Kind.BAD_RESPONSE,
          status,
          Text.redact(
              "model server "
                  + where
                  + " sent a reply that is not JSON (HTTP "
                  + status
                  + ", "
                  + type
                  + ")"
                  + (p.isEmpty() ? ": the body is empty" : ": " + p),
              key));
    }
    try {
      return ChatReply.parse(root, where);
    } catch (ChatException e) {
      if (key == null) {
        throw e;
      }
      throw new ChatException(e.kind(), e.httpStatus(), Text.redact(e.getMessage(), key));
    }
  }

  /** The key without surrounding whitespace, or {@code null}; the supplied array is only read. */
  private static String key(Supplier<char[]> apiKey) throws ChatException {
    if (apiKey == null) {
      return null;
    }
    char[] k = apiKey.get();
    if (k == null) {
      return null;
    }
    int from = 0;
    int to = k.length;
    while (from < to && k[from] <= ' ') {
      from++;
    }
    while (to > from && k[to - 1] <= ' ') {
      to--;
    }
    if (from == to) {
      return null;
    }
    for (int i = from; i < to; i++) {
      if (k[i] < 0x21 || k[i] > 0x7e) {
        throw new ChatException(
            ChatException.Kind.CONFIGURATION,
            0,
            "the API key contains a character that cannot be sent in an HTTP header (a space,"
                + " a line break or a non-ASCII letter): check the secret named by apiKeySecret");
      }
    }
    return new String(k, from, to - from);
  }

  private static ChatException failure(Throwable cause, String where, long timeoutMs, String key) {
    for (Throwable t = cause; t != null; t = t.getCause()) {
      if (t instanceof HttpConnectTimeoutException) {
        return new ChatException(
            ChatException.Kind.TIMEOUT,
            0,
            "could not connect to model server "
                + where
                + " within "
                + timeoutMs
                + " ms: is the host reachable?");
      }
      if (t instanceof HttpTimeoutException) {
        return timedOut(where, timeoutMs);
      }
      if (t instanceof ConnectException) {
        return new ChatException(
            ChatException.Kind.CONNECT,
            0,
            "cannot connect to model server "
                + where
                + ": connection refused (is the server"
                + " running, and is baseUrl right?)");
      }
      if (t instanceof UnknownHostException || t instanceof UnresolvedAddressException) {
        return new ChatException(
            ChatException.Kind.CONNECT,
            0,
            "cannot connect to model server " + where + ": unknown host (check baseUrl)");
      }
      if (t instanceof SSLException) {
        return new ChatException(
            ChatException.Kind.CONNECT,
            0,
            Text.redact(
                "cannot connect to model server "
                    + where
                    + ": TLS failed: "
                    + Text.oneLine(String.valueOf(t.getMessage())),
                key));
      }
      if (t instanceof ReplyTooLarge) {
        return new ChatException(
            ChatException.Kind.BAD_RESPONSE,
            0,
            "model server "
                + where
                + " sent a reply larger than "
                + t.getMessage()
                + " bytes; it was cut off");
      }
    }
    String what =
        cause == null
            ? "unknown error"
            : cause.getClass().getSimpleName()
                + (cause.getMessage() == null ? "" : ": " + Text.oneLine(cause.getMessage()));
    ChatException.Kind kind =
        cause instanceof IOException ? ChatException.Kind.CONNECT : ChatException.Kind.BAD_RESPONSE;
    return new ChatException(
        kind,
        0,
        Text.redact(
            "the call to model server " + where + " failed: " + Text.cut(what, PROVIDER_TEXT_MAX),
            key));
  }

  private static ChatException timedOut(String where, long timeoutMs) {
    return new ChatException(
        ChatException.Kind.TIMEOUT,
        0,
        "model server "
            + where
            + " did not answer within "
            + timeoutMs
            + " ms (requestTimeoutMs, or what was left of maxWallMs)");
  }

  private static String hint(int status) {
    if (status == 401 || status == 403) {
      return " (check the API key in the secret named by apiKeySecret)";
    }
    if (status >= 300 && status < 400) {
      return " (redirects are not followed, so the key goes to no other host: put the final URL"
          + " in baseUrl)";
    }
    if (status == 404) {
      return " (check baseUrl and model)";
    }
    if (status == 429) {
      return " (rate limited: try again later)";
    }
    if (status >= 500) {
      return " (the provider failed: try again later)";
    }
    return "";
  }

  /**
   * The provider's error text: {@code error.message}, a string {@code error}, {@code message} or
   * {@code detail} (FastAPI servers such as vLLM), on one line and cut to 300 characters.
   */
  static String providerMessage(JsonNode root) {
    if (!root.isObject()) {
      return null;
    }
    JsonNode msg = null;
    JsonNode error = root.get("error");
    if (error != null && error.isObject()) {
      msg = error.get("message");
    } else if (error != null && error.isTextual()) {
      msg = error;
    }
    if (msg == null) {
      msg = root.get("message");
    }
    if (msg == null) {
      msg = root.get("detail");
    }
    if (msg == null || msg.isNull()) {
      return null;
    }
    String text = msg.isTextual() ? msg.textValue() : Json.write(msg);
    return Text.cut(Text.oneLine(text), PROVIDER_TEXT_MAX);
  }

  private static JsonNode parseOrNull(byte[] body) {
    if (body == null || body.length == 0) {
      return null;
    }
    try {
      JsonNode n = Json.read(body);
      return n == null || n.isMissingNode() ? null : n;
    } catch (IOException e) {
      return null;
    }
  }

  private static String preview(byte[] body) {
    if (body == null || body.length == 0) {
      return "";
    }
    int n = Math.min(body.length, 2 * PROVIDER_TEXT_MAX);
    String s = new String(body, 0, n, StandardCharsets.UTF_8);
    return Text.cut(Text.oneLine(s), PROVIDER_TEXT_MAX);
  }

  /** The reply is over the cap; its message is the cap. */
  private static final class ReplyTooLarge extends IOException {
    ReplyTooLarge(int max) {
      super(Integer.toString(max));
    }
  }

  /** Collects a body up to a cap, then cancels the exchange. */
  private static final class CappedBody implements HttpResponse.BodySubscriber<byte[]> {
    private final CompletableFuture<byte[]> result = new CompletableFuture<>();
    private final ByteArrayOutputStream buffer = new ByteArrayOutputStream();
    private final int max;
    private Flow.Subscription subscription;

    CappedBody(int max) {
      this.max = max;
    }

    @Override
    public CompletionStage<byte[]> getBody() {
      return result;
    }

    @Override
    public void onSubscribe(Flow.Subscription s) {
      subscription = s;
      s.request(Long.MAX_VALUE);
    }

    @Override
    public void onNext(List<ByteBuffer> items) {
      if (result.isDone()) {
        return;
      }
      for (ByteBuffer b : items) {
        if ((long) buffer.size() + b.remaining() > max) {
          subscription.cancel();
          result.completeExceptionally(new ReplyTooLarge(max));
          return;
        }
        byte[] chunk = new byte[b.remaining()];
        b.get(chunk);
        buffer.write(chunk, 0, chunk.length);
      }
    }

    @Override
    public void onError(Throwable t) {
      result.completeExceptionally(t);
    }

    @Override
    public void onComplete() {
      result.complete(buffer.toByteArray());
    }
  }
}
