package dev.clawfs.agent;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.regex.Pattern;

/**
 * One agent's settings: which model it talks to and how much one task may cost. They live in the
 * agent's home as JSON and are read by the server only, never from anything the model reads, so no
 * file content can change them.
 *
 * <pre>{@code
 * {
 *   "baseUrl": "https://openrouter.ai/api/v1",   null or absent: the embedded librarian
 *   "model": "qwen/qwen3-8b",                    required with baseUrl
 *   "apiKeySecret": "openrouter-key",            a file directly under vault/, never the key
 *   "maxSteps": 8, "maxTokens": 20000,           per task: model calls, tokens (from usage)
 *   "maxWallMs": 60000, "requestTimeoutMs": 30000,
 *   "temperature": 0.2                           absent: the provider's default
 * }
 * }</pre>
 *
 * <p>A limit left out is {@code null} here and takes its default in {@link #withDefaults()}; {@link
 * #toJson()} writes only what was set, so a settings file keeps following the defaults.
 *
 * @param baseUrl the OpenAI-compatible endpoint without {@code /chat/completions} (http or https,
 *     no user info, query or fragment), or {@code null} for the retrieval-only {@link Librarian}
 * @param model the provider's model name, or {@code null} when {@code baseUrl} is {@code null}
 * @param apiKeySecret the name of the file directly under {@code vault/} that holds the API key, or
 *     {@code null} when the endpoint needs none (a local Ollama, llama.cpp or vLLM)
 * @param maxSteps model calls per task, 1 to 100 (default 8)
 * @param maxTokens tokens per task as the provider counts them, 100 to 10,000,000 (default 20000)
 * @param maxWallMs wall time per task in ms, 1 to 3,600,000 (default 60000)
 * @param requestTimeoutMs time for one model call in ms, 1 to 600,000 (default 30000)
 * @param temperature 0 to 2, or {@code null} for the provider's default
 */
public record AgentSettings(
    String baseUrl,
    String model,
    String apiKeySecret,
    Integer maxSteps,
    Integer maxTokens,
    Long maxWallMs,
    Long requestTimeoutMs,
    Double temperature) {

  public static final int DEFAULT_MAX_STEPS = 8;
  public static final int DEFAULT_MAX_TOKENS = 20_000;
  public static final long DEFAULT_MAX_WALL_MS = 60_000;
  public static final long DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

  private static final List<String> FIELDS =
      List.of(
          "baseUrl",
          "model",
          "apiKeySecret",
          "maxSteps",
          "maxTokens",
          "maxWallMs",
          "requestTimeoutMs",
          "temperature");
  private static final Pattern SECRET_NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,127}");
  private static final Pattern LOOKS_LIKE_A_KEY =
      Pattern.compile("(?:sk-|sk_|Bearer\\s|gsk_|xai-|hf_)[^\\s]{8,}", Pattern.CASE_INSENSITIVE);

  /** Checks every field; throws {@link IllegalArgumentException} with the settings message. */
  public AgentSettings {
    try {
      baseUrl = check(baseUrl, model, apiKeySecret);
      range("maxSteps", maxSteps, 1, 100);
      range("maxTokens", maxTokens, 100, 10_000_000);
      range("maxWallMs", maxWallMs, 1, 3_600_000);
      range("requestTimeoutMs", requestTimeoutMs, 1, 600_000);
      if (temperature != null && (temperature.isNaN() || temperature < 0 || temperature > 2)) {
        throw new AgentSettingsException("temperature", "must be a number from 0 to 2");
      }
    } catch (AgentSettingsException e) {
      throw new IllegalArgumentException(e.getMessage(), e);
    }
  }

  /** The embedded, retrieval-only librarian with the default limits: no model, no network. */
  public static AgentSettings librarian() {
    return new AgentSettings(null, null, null, null, null, null, null, null);
  }

  /** A model endpoint with the default limits; {@code apiKeySecret} may be {@code null}. */
  public static AgentSettings of(String baseUrl, String model, String apiKeySecret) {
    return new AgentSettings(baseUrl, model, apiKeySecret, null, null, null, null, null);
  }

  /** True when no model is configured and the embedded librarian answers. */
  public boolean embedded() {
    return baseUrl == null;
  }

  /** A copy with every limit that is not set given its default. */
  public AgentSettings withDefaults() {
    return new AgentSettings(
        baseUrl,
        model,
        apiKeySecret,
        maxSteps != null ? maxSteps : DEFAULT_MAX_STEPS,
        maxTokens != null ? maxTokens : DEFAULT_MAX_TOKENS,
        maxWallMs != null ? maxWallMs : DEFAULT_MAX_WALL_MS,
        requestTimeoutMs != null ? requestTimeoutMs : DEFAULT_REQUEST_TIMEOUT_MS,
        temperature);
  }

  public AgentSettings withLimits(
      Integer maxSteps, Integer maxTokens, Long maxWallMs, Long requestTimeoutMs) {
    return new AgentSettings(
        baseUrl,
        model,
        apiKeySecret,
        maxSteps,
        maxTokens,
        maxWallMs,
        requestTimeoutMs,
        temperature);
  }

  public AgentSettings withTemperature(Double temperature) {
    return new AgentSettings(
        baseUrl,
        model,
        apiKeySecret,
        maxSteps,
        maxTokens,
        maxWallMs,
        requestTimeoutMs,
        temperature);
  }

  /**
   * Parses settings strictly: unknown fields, duplicate fields, wrong types and values out of range
   * are errors that name the field.
   */
  public static AgentSettings parse(byte[] json) throws AgentSettingsException {
    JsonNode root;
    try {
      root = Json.read(json);
    } catch (JsonProcessingException e) {
      var at = e.getLocation();
      String where =
          at == null ? "" : "line " + at.getLineNr() + ", column " + at.getColumnNr() + ": ";
      throw new AgentSettingsException("", where + "not valid JSON: " + e.getOriginalMessage());
    } catch (IOException e) {
      throw new AgentSettingsException("", "cannot be read: " + e.getMessage());
    }
    if (root == null || root.isMissingNode()) {
      throw new AgentSettingsException("", "is empty");
    }
    if (!root.isObject()) {
      throw new AgentSettingsException("", "must be a JSON object");
    }
    for (Iterator<String> it = root.fieldNames(); it.hasNext(); ) {
      String field = it.next();
      if (!FIELDS.contains(field)) {
        throw new AgentSettingsException(
            field, "unknown field (allowed: " + String.join(", ", FIELDS) + ")");
      }
    }
    String baseUrl = text(root, "baseUrl");
    String model = text(root, "model");
    String apiKeySecret = text(root, "apiKeySecret");
    Long maxSteps = whole(root, "maxSteps");
    Long maxTokens = whole(root, "maxTokens");
    Long maxWallMs = whole(root, "maxWallMs");
    Long requestTimeoutMs = whole(root, "requestTimeoutMs");
    Double temperature = null;
    JsonNode t = root.get("temperature");
    if (t != null && !t.isNull()) {
      if (!t.isNumber()) {
        throw new AgentSettingsException("temperature", "must be a number from 0 to 2");
      }
      temperature = t.doubleValue();
    }
    // ranges are checked here too, so that the checked exception (not the constructor's) is thrown
    baseUrl = check(baseUrl, model, apiKeySecret);
    range("maxSteps", maxSteps, 1, 100);
    range("maxTokens", maxTokens, 100, 10_000_000);
    range("maxWallMs", maxWallMs, 1, 3_600_000);
    range("requestTimeoutMs", requestTimeoutMs, 1, 600_000);
    try {
      return new AgentSettings(
          baseUrl,
          model,
          apiKeySecret,
          maxSteps == null ? null : maxSteps.intValue(),
          maxTokens == null ? null : maxTokens.intValue(),
          maxWallMs,
          requestTimeoutMs,
          temperature);
    } catch (IllegalArgumentException e) {
      if (e.getCause() instanceof AgentSettingsException s) {
        throw s;
      }
      throw e;
    }
  }

  /** Parses {@code json} as UTF-8 text. */
  public static AgentSettings parse(String json) throws AgentSettingsException {
    return parse(json.getBytes(StandardCharsets.UTF_8));
  }

  /** The settings as JSON, only the fields that are set, one per line. */
  public byte[] toJson() {
    ObjectNode root = Json.object();
    if (baseUrl != null) {
      root.put("baseUrl", baseUrl);
    }
    if (model != null) {
      root.put("model", model);
    }
    if (apiKeySecret != null) {
      root.put("apiKeySecret", apiKeySecret);
    }
    if (maxSteps != null) {
      root.put("maxSteps", maxSteps);
    }
    if (maxTokens != null) {
      root.put("maxTokens", maxTokens);
    }
    if (maxWallMs != null) {
      root.put("maxWallMs", maxWallMs);
    }
    if (requestTimeoutMs != null) {
      root.put("requestTimeoutMs", requestTimeoutMs);
    }
    if (temperature != null) {
      root.put("temperature", temperature);
    }
    try {
      return (Json.MAPPER.writerWithDefaultPrettyPrinter().writeValueAsString(root) + "\n")
          .getBytes(StandardCharsets.UTF_8);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Validates the endpoint fields together; returns baseUrl without a trailing '/'. */
  private static String check(String baseUrl, String model, String apiKeySecret)
      throws AgentSettingsException {
    if (baseUrl != null) {
      baseUrl = endpoint(baseUrl);
      if (model == null || model.isBlank()) {
        throw new AgentSettingsException("model", "is required when baseUrl is set");
      }
    }
    if (model != null) {
      if (model.isBlank() || model.length() > 200 || model.chars().anyMatch(c -> c < 0x20)) {
        throw new AgentSettingsException("model", "must be 1-200 characters on one line");
      }
    }
    if (apiKeySecret != null) {
      if (LOOKS_LIKE_A_KEY.matcher(apiKeySecret).lookingAt()) {
        throw new AgentSettingsException(
            "apiKeySecret",
            "looks like an API key itself: store the key as a file under vault/ and give that"
                + " file's name here");
      }
      if (apiKeySecret.startsWith("vault/") || apiKeySecret.startsWith("/")) {
        throw new AgentSettingsException(
            "apiKeySecret", "must be the secret's name alone, without vault/ (openrouter-key)");
      }
      if (!SECRET_NAME.matcher(apiKeySecret).matches()) {
        throw new AgentSettingsException(
            "apiKeySecret",
            "must be the name of a file directly under vault/: 1-128 of letters, digits, '.',"
                + " '_', '-', starting with a letter or digit");
      }
    }
    return baseUrl;
  }

  private static String endpoint(String baseUrl) throws AgentSettingsException {
    URI uri;
    try {
      uri = new URI(baseUrl.strip());
    } catch (URISyntaxException e) {
      throw new AgentSettingsException("baseUrl", "is not a URL: " + e.getReason());
    }
    String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
    if (!scheme.equals("http") && !scheme.equals("https")) {
      throw new AgentSettingsException(
          "baseUrl", "must be an http:// or https:// URL such as http://127.0.0.1:11434/v1");
    }
    if (uri.getHost() == null) {
      throw new AgentSettingsException("baseUrl", "must name a host");
    }
    if (uri.getRawUserInfo() != null) {
      throw new AgentSettingsException(
          "baseUrl", "must not carry credentials: name the key's secret in apiKeySecret");
    }
    if (uri.getRawQuery() != null || uri.getRawFragment() != null) {
      throw new AgentSettingsException("baseUrl", "must not have a query or a fragment");
    }
    String s = uri.toString();
    if (s.endsWith("/chat/completions")) {
      throw new AgentSettingsException(
          "baseUrl", "must stop before /chat/completions (for example https://host/v1)");
    }
    while (s.endsWith("/")) {
      s = s.substring(0, s.length() - 1);
    }
    return s;
  }

  private static String text(JsonNode root, String field) throws AgentSettingsException {
    JsonNode v = root.get(field);
    if (v == null || v.isNull()) {
      return null;
    }
    if (!v.isTextual()) {
      throw new AgentSettingsException(field, "must be a string");
    }
    return v.textValue();
  }

  private static Long whole(JsonNode root, String field) throws AgentSettingsException {
    JsonNode v = root.get(field);
    if (v == null || v.isNull()) {
      return null;
    }
    if (!v.isIntegralNumber() || !v.canConvertToLong()) {
      throw new AgentSettingsException(field, "must be a whole number");
    }
    return v.longValue();
  }

  private static void range(String field, Number value, long min, long max)
      throws AgentSettingsException {
    if (value != null && (value.longValue() < min || value.longValue() > max)) {
      throw new AgentSettingsException(field, "must be a whole number from " + min + " to " + max);
    }
  }
}
