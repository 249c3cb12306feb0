package dev.clawfs.index;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * An OpenAI-compatible embeddings endpoint: {@code POST {baseUrl}/embeddings} with {@code {"model":
 * ..., "input": [...]}}, at most {@value #MAX_BATCH} inputs per request, the vectors taken from
 * {@code data[].embedding} in {@code index} order and L2-normalised.
 *
 * <p>Error messages name the endpoint, the HTTP status and the server's own message; never the API
 * key, nor the text being embedded (both are cut out of the server's message should it quote them).
 * No request is retried. Queries are sent as they are, after the optional {@link
 * Builder#withQueryPrefix query prefix}, for models that want an instruction.
 */
public final class HttpEmbedder implements Embedder {

  /** Inputs per request: OpenAI accepts more, but smaller servers are stricter. */
  public static final int MAX_BATCH = 64;

  static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(5);
  static final Duration REQUEST_TIMEOUT = Duration.ofSeconds(60);
  private static final int MAX_SERVER_MESSAGE = 300;
  private static final ObjectMapper JSON = new ObjectMapper();

  private final URI endpoint;
  private final String shownEndpoint;
  private final String model;
  private final String apiKey;
  private final String queryPrefix;
  private final Duration requestTimeout;
  private final HttpClient client;
  private volatile int dimension;

  private HttpEmbedder(Builder b) {
    this.endpoint = b.endpoint;
    this.shownEndpoint = withoutUserInfo(b.endpoint);
    this.model = b.model;
    this.apiKey = b.apiKey;
    this.queryPrefix = b.queryPrefix;
    this.requestTimeout = b.requestTimeout;
    this.dimension = b.dimension;
    this.client =
        HttpClient.newBuilder()
            .connectTimeout(b.connectTimeout)
            // HTTP/1.1 everywhere: Java's h2c upgrade on plain http confuses some local servers.
            .version(HttpClient.Version.HTTP_1_1)
            .followRedirects(HttpClient.Redirect.NEVER)
            .build();
  }

  /**
   * Starts building an embedder for {@code model} at {@code baseUrl}, the part before {@code
   * /embeddings}, e.g. {@code https://api.openai.com/v1} or {@code http://127.0.0.1:11434/v1}.
   */
  public static Builder builder(String baseUrl, String model) {
    return new Builder(baseUrl, model);
  }

  /** The model name sent to the server. */
  @Override
  public String name() {
    return model;
  }

  /**
   * The vector length, as given to the builder or else learnt from the first response.
   *
   * @throws IllegalStateException if neither has happened yet
   */
  @Override
  public int dimension() {
    int d = dimension;
    if (d == 0) {
      throw new IllegalStateException(
          "dimension of " + model + " is unknown until its first response; give it to the builder");
    }
    return d;
  }

  /**
   * @throws IllegalArgumentException if a passage is null or blank
   */
  @Override
  public List<float[]> embedPassages(List<String> passages) throws IOException {
    for (int i = 0; i < passages.size(); i++) {
      requireText(passages.get(i), "passage " + i);
    }
    List<float[]> out = new ArrayList<>(passages.size());
    for (int from = 0; from < passages.size(); from += MAX_BATCH) {
      out.addAll(request(passages.subList(from, Math.min(passages.size(), from + MAX_BATCH))));
    }
    return out;
  }

  /**
   * @throws IllegalArgumentException if the query is null or blank
   */
  @Override
  public float[] embedQuery(String query) throws IOException {
    return request(List.of(queryPrefix + requireText(query, "query"))).get(0);
  }

  private static String requireText(String text, String what) {
    if (text == null || text.isBlank()) {
      throw new IllegalArgumentException(what + " is blank");
    }
    return text;
  }

  @Override
  public String toString() {
    return "HttpEmbedder[" + model + " at " + shownEndpoint + "]";
  }

  private List<float[]> request(List<String> inputs) throws IOException {
    ObjectNode body = JSON.createObjectNode();
    body.put("model", model);
    ArrayNode input = body.putArray("input");
    inputs.forEach(input::add);
    HttpRequest.Builder req =
        HttpRequest.newBuilder(endpoint)
            .timeout(requestTimeout)
            .header("Content-Type", "application/json")
            .header("Accept", "application/json")
            .POST(HttpRequest.BodyPublishers.ofByteArray(JSON.writeValueAsBytes(body)));
    if (apiKey != null) {
      req.header("Authorization", "Bearer " + apiKey);
    }
    HttpResponse<byte[]> resp;
    try {
      resp = client.send(req.build(), HttpResponse.BodyHandlers.ofByteArray());
    } catch (HttpTimeoutException e) {
      throw new IOException(what() + " timed out after " + requestTimeout.toMillis() + " ms", e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      InterruptedIOException ie = new InterruptedIOException(what() + " was interrupted");
      ie.initCause(e);
      throw ie;
    } catch (IOException e) {
      throw new IOException(what() + " failed: " + e, e);
    }
    if (resp.statusCode() / 100 != 2) {
      throw new IOException(
          what() + " failed: HTTP " + resp.statusCode() + serverMessage(resp.body(), inputs));
    }
    return parse(resp.body(), inputs.size());
  }

  private List<float[]> parse(byte[] body, int expected) throws IOException {
    JsonNode root;
    try {
      root = JSON.readTree(body);
    } catch (JsonProcessingException e) {
      throw new IOException(what() + ": response is not JSON (" + e.getOriginalMessage() + ")");
    }
    JsonNode data = root == null ? null : root.get("data");
    if (data == null || !data.isArray()) {
      throw new IOException(what() + ": response has no data array");
    }
    if (data.size() != expected) {
      throw new IOException(
          what() + ": sent " + expected + " inputs, got " + data.size() + " embeddings");
    }
    float[][] vectors = new float[expected][];
    for (int i = 0; i < data.size(); i++) {
      JsonNode item = data.get(i);
      JsonNode index = item.get("index");
      // A server that omits index returns the data in input order.
      int at = index == null ? i : index.asInt(-1);
      if (at < 0 || at >= expected || (index != null && !index.canConvertToInt())) {
        throw new IOException(
            what() + ": embedding index " + index + " out of range 0.." + (expected - 1));
      }
      if (vectors[at] != null) {
        throw new IOException(what() + ": embedding index " + at + " appears twice");
      }
      vectors[at] = vector(item.get("embedding"), at);
    }
    return checkedAndNormalised(vectors);
  }

  private float[] vector(JsonNode embedding, int index) throws IOException {
    if (embedding == null || !embedding.isArray() || embedding.isEmpty()) {
      throw new IOException(
          what()
              + ": embedding "
              + index
              + " is not an array of numbers"
              + (embedding != null && embedding.isTextual()
                  ? " (base64 encoding is not supported)"
                  : ""));
    }
    float[] v = new float[embedding.size()];
    for (int j = 0; j < v.length; j++) {
      JsonNode x = embedding.get(j);
      if (!x.isNumber()) {
        throw new IOException(what() + ": embedding " + index + " holds a non-number");
      }
      v[j] = x.floatValue();
    }
    return v;
  }

  /** Learns the dimension from the first valid response, then holds every vector to it. */
  private List<float[]> checkedAndNormalised(float[][] vectors) throws IOException {
    int known = dimension;
    int d = known == 0 ? vectors[0].length : known;
    for (int i = 0; i < vectors.length; i++) {
      if (vectors[i].length != d) {
        throw new IOException(
            what()
                + ": embedding "
                + i
                + " has "
                + vectors[i].length
                + " dimensions, expected "
                + d);
      }
      try {
        Vectors.normalize(vectors[i]);
      } catch (IllegalArgumentException e) {
        throw new IOException(
            what() + ": embedding " + i + " cannot be normalised: " + e.getMessage());
      }
    }
    if (known == 0) {
      synchronized (this) {
        if (dimension == 0) {
          dimension = d;
        }
      }
    }
    return List.of(vectors);
  }

  /** ": " and the server's error message, with the key and the inputs cut out; or "". */
  private String serverMessage(byte[] body, List<String> inputs) {
    String message = errorText(body);
    if (message == null || message.isBlank()) {
      return "";
    }
    if (apiKey != null) {
      message = message.replace(apiKey, "[api key]");
    }
    for (String in : inputs) {
      message = message.replace(in, "[input]");
    }
    message = message.replaceAll("\\s+", " ").strip();
    if (message.length() > MAX_SERVER_MESSAGE) {
      message = message.substring(0, MAX_SERVER_MESSAGE) + "...";
    }
    return ": " + message;
  }

  /**
   * The message of an error body: OpenAI's {@code {"error": {"message": ...}}}, a bare {@code
   * "error"}, {@code "message"} or {@code "detail"} (FastAPI) field, else the body as text.
   */
  private static String errorText(byte[] body) {
    JsonNode root;
    try {
      root = JSON.readTree(body);
    } catch (IOException e) {
      return new String(body, StandardCharsets.UTF_8);
    }
    if (root == null) {
      return null;
    }
    JsonNode m = root.path("error").path("message");
    for (String field : List.of("error", "message", "detail")) {
      if (m.isMissingNode() || m.isNull()) {
        m = root.path(field);
      }
    }
    if (m.isMissingNode() || m.isNull()) {
      return root.toString();
    }
    return m.isTextual() ? m.asText() : m.toString();
  }

  private String what() {
    return "embeddings request to " + shownEndpoint + " (model " + model + ")";
  }

  private static String withoutUserInfo(URI uri) {
    try {
      return new URI(uri.getScheme(), null, uri.getHost(), uri.getPort(), uri.getPath(), null, null)
          .toString();
    } catch (URISyntaxException e) {
      return uri.getScheme() + "://" + uri.getHost();
    }
  }

  /** Settings of an {@link HttpEmbedder}; only the base URL and the model are required. */
  public static final class Builder {
    private final URI endpoint;
    private final String model;
    private String apiKey;
    private int dimension;
    private String queryPrefix = "";
    private Duration connectTimeout = CONNECT_TIMEOUT;
    private Duration requestTimeout = REQUEST_TIMEOUT;

    private Builder(String baseUrl, String model) {
      Objects.requireNonNull(baseUrl, "baseUrl");
      URI base = URI.create(baseUrl.endsWith("/") ? baseUrl : baseUrl + "/");
      if (!"http".equals(base.getScheme()) && !"https".equals(base.getScheme())) {
        throw new IllegalArgumentException(
            "base URL must be http or https: " + withoutUserInfo(base));
      }
      if (model == null || model.isBlank()) {
        throw new IllegalArgumentException("model is blank");
      }
      this.endpoint = base.resolve("embeddings");
      this.model = model;
    }

    /** Sent as {@code Authorization: Bearer KEY}; null or blank sends no such header. */
    public Builder withApiKey(String key) {
      this.apiKey = key == null || key.isBlank() ? null : key.strip();
      return this;
    }

    /** The expected vector length; responses of another length are errors. */
    public Builder withDimension(int dimension) {
      if (dimension < 1) {
        throw new IllegalArgumentException("dimension must be >= 1, got " + dimension);
      }
      this.dimension = dimension;
      return this;
    }

    /** Put before each query, e.g. an instruction that the model was trained with. */
    public Builder withQueryPrefix(String prefix) {
      this.queryPrefix = Objects.requireNonNull(prefix, "prefix");
      return this;
    }

    /** How long a connection may take to open (default 5 s). */
    public Builder withConnectTimeout(Duration timeout) {
      this.connectTimeout = positive(timeout);
      return this;
    }

    /** How long one request may take, from sending to the whole response (default 60 s). */
    public Builder withRequestTimeout(Duration timeout) {
      this.requestTimeout = positive(timeout);
      return this;
    }

    public HttpEmbedder build() {
      return new HttpEmbedder(this);
    }

    private static Duration positive(Duration d) {
      if (d.isNegative() || d.isZero()) {
        throw new IllegalArgumentException("timeout must be positive: " + d);
      }
      return d;
    }
  }
}
