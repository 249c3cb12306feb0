package dev.clawfs.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class AgentSettingsTest {

  private static final String FULL =
      """
      {
        "baseUrl": "https://openrouter.ai/api/v1/",
        "model": "qwen/qwen3-8b",
        "apiKeySecret": "openrouter-key",
        "maxSteps": 12,
        "maxTokens": 50000,
        "maxWallMs": 90000,
        "requestTimeoutMs": 20000,
        "temperature": 0.3
      }
      """;

  @Test
  void parsesEveryField() throws Exception {
    AgentSettings s = AgentSettings.parse(FULL);
    assertEquals("https://openrouter.ai/api/v1", s.baseUrl(), "the trailing '/' is dropped");
    assertEquals("qwen/qwen3-8b", s.model());
    assertEquals("openrouter-key", s.apiKeySecret());
    assertEquals(12, s.maxSteps());
    assertEquals(50000, s.maxTokens());
    assertEquals(90000L, s.maxWallMs());
    assertEquals(20000L, s.requestTimeoutMs());
    assertEquals(0.3, s.temperature());
    assertFalse(s.embedded());
    assertEquals(s, s.withDefaults());
  }

  @Test
  void limitsLeftOutTakeTheirDefaults() throws Exception {
    AgentSettings s =
        AgentSettings.parse(
            "{\"baseUrl\": \"http://127.0.0.1:11434/v1\", \"model\": \"llama3.2\"}");
    assertNull(s.maxSteps());
    assertNull(s.apiKeySecret());
    AgentSettings d = s.withDefaults();
    assertEquals(8, d.maxSteps());
    assertEquals(20000, d.maxTokens());
    assertEquals(60000L, d.maxWallMs());
    assertEquals(30000L, d.requestTimeoutMs());
    assertNull(d.temperature());
  }

  @Test
  void anEmptyObjectIsTheEmbeddedLibrarian() throws Exception {
    AgentSettings s = AgentSettings.parse("{}");
    assertTrue(s.embedded());
    assertEquals(AgentSettings.librarian(), s);
    assertTrue(AgentSettings.parse("{\"baseUrl\": null}").embedded());
  }

  @Test
  void roundTripsWritingOnlyWhatWasSet() throws Exception {
    AgentSettings s = AgentSettings.parse(FULL);
    assertEquals(s, AgentSettings.parse(s.toJson()));
    AgentSettings partial = AgentSettings.of("http://localhost:8080/v1", "m", null);
    String json = new String(partial.toJson(), StandardCharsets.UTF_8);
    assertFalse(json.contains("maxSteps"), json);
    assertEquals(partial, AgentSettings.parse(json));
  }

  private static void assertError(String json, String field, String reason) {
    AgentSettingsException e =
        assertThrows(AgentSettingsException.class, () -> AgentSettings.parse(json));
    assertEquals(field, e.field(), e.getMessage());
    assertTrue(e.reason().contains(reason), e.getMessage());
    assertTrue(e.getMessage().startsWith("agent settings: "), e.getMessage());
  }

  @Test
  void unknownFieldsAreNamed() {
    assertError(
        "{\"model\": \"m\", \"apiKey\": \"sk-123\"}",
        "apiKey",
        "unknown field (allowed: baseUrl, model");
    assertError("{\"tools\": []}", "tools", "unknown field");
  }

  @Test
  void typesAndRangesAreChecked() {
    assertError("{\"maxSteps\": 0}", "maxSteps", "from 1 to 100");
    assertError("{\"maxSteps\": 101}", "maxSteps", "from 1 to 100");
    assertError("{\"maxSteps\": 2.5}", "maxSteps", "whole number");
    assertError("{\"maxSteps\": \"8\"}", "maxSteps", "whole number");
    assertError("{\"maxTokens\": 99}", "maxTokens", "from 100 to 10000000");
    assertError("{\"maxWallMs\": 99999999999999999999}", "maxWallMs", "whole number");
    assertError("{\"requestTimeoutMs\": -1}", "requestTimeoutMs", "from 1 to 600000");
    assertError("{\"temperature\": 3}", "temperature", "from 0 to 2");
    assertError("{\"temperature\": \"hot\"}", "temperature", "from 0 to 2");
    assertError("{\"model\": 5}", "model", "must be a string");
  }

  @Test
  void theEndpointIsChecked() {
    assertError("{\"baseUrl\": \"http://h/v1\"}", "model", "required when baseUrl is set");
    assertError(
        "{\"baseUrl\": \"ftp://h/v1\", \"model\": \"m\"}", "baseUrl", "http:// or https://");
    assertError(
        "{\"baseUrl\": \"https://u:p@h/v1\", \"model\": \"m\"}",
        "baseUrl",
        "must not carry credentials");
    assertError("{\"baseUrl\": \"https://h/v1?key=x\", \"model\": \"m\"}", "baseUrl", "query");
    assertError(
        "{\"baseUrl\": \"https://h/v1/chat/completions\", \"model\": \"m\"}",
        "baseUrl",
        "stop before /chat/completions");
    assertError("{\"baseUrl\": \"not a url\", \"model\": \"m\"}", "baseUrl", "");
  }

  @Test
  void theSecretIsANameNeverAKey() throws Exception {
    assertError(
        "{\"apiKeySecret\": \"sk-or-v1-abcdef0123456789\"}",
        "apiKeySecret",
        "looks like an API key");
    assertError("{\"apiKeySecret\": \"../etc/passwd\"}", "apiKeySecret", "directly under vault/");
    assertError("{\"apiKeySecret\": \"providers/x\"}", "apiKeySecret", "directly under vault/");
    assertError("{\"apiKeySecret\": \"/vault/x\"}", "apiKeySecret", "without vault/");
    assertError("{\"apiKeySecret\": \"vault/x\"}", "apiKeySecret", "without vault/");
    assertEquals(
        "openrouter.key_2",
        AgentSettings.parse("{\"apiKeySecret\": \"openrouter.key_2\"}").apiKeySecret());
  }

  @Test
  void malformedDocumentsSayWhere() {
    assertError("{\"model\": \"a\", \"model\": \"b\"}", "", "Duplicate field 'model'");
    assertError("{\"model\": \"a\"} trailing", "", "not valid JSON");
    assertError("{\"model\": ", "", "line 1");
    assertError("[]", "", "must be a JSON object");
    assertError("", "", "is empty");
  }

  @Test
  void theConstructorChecksToo() {
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () -> AgentSettings.of("http://h/v1", "m", null).withLimits(0, null, null, null));
    assertEquals("agent settings: maxSteps: must be a whole number from 1 to 100", e.getMessage());
  }
}
