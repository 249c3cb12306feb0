package dev.clawfs.tools;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

class ToolManifestTest {

  private static final String FULL =
      """
      {
        "name": "wordcount",
        "description": "Counts lines, words and bytes.",
        "version": "1.0",
        "inputs": {"stdin": "text", "args": "[FILE]..."},
        "limits": {"memoryPages": 32, "wallMs": 1500, "outputBytes": 4096, "concurrency": 2},
        "paths": {"read": ["/workspaces", "/specs"], "write": ["/workspaces/out"]}
      }
      """;

  @Test
  void parsesEveryField() throws Exception {
    ToolManifest m = ToolManifest.parse(FULL);
    assertEquals("wordcount", m.name());
    assertEquals("Counts lines, words and bytes.", m.description());
    assertEquals("1.0", m.version());
    assertEquals(new ToolManifest.Inputs("text", "[FILE]..."), m.inputs());
    assertEquals(new ToolLimits(32, Duration.ofMillis(1500), 4096, 2), m.limits());
    assertEquals(List.of("/workspaces", "/specs"), m.readPaths());
    assertEquals(List.of("/workspaces/out"), m.writePaths());
  }

  @Test
  void omittedPartsTakeDefaults() throws Exception {
    ToolManifest m =
        ToolManifest.parse(
            "{\"name\": \"x\", \"description\": \"d\", \"limits\": {\"wallMs\": 50}}");
    assertEquals("", m.version());
    assertFalse(m.inputs().takesArgs());
    assertNull(m.inputs().stdin());
    assertEquals(new ToolLimits(256, Duration.ofMillis(50), 16 << 20, 4), m.limits());
    assertTrue(m.readPaths().isEmpty());
  }

  @Test
  void roundTripsThroughItsJson() throws Exception {
    ToolManifest m = ToolManifest.parse(FULL);
    assertEquals(m, ToolManifest.parse(m.toJson()));
    String json = new String(m.toJson(), java.nio.charset.StandardCharsets.UTF_8);
    assertTrue(json.contains("\"wallMs\" : 1500"), json);
  }

  private static void assertError(String json, String field, String reason) {
    ManifestException e = assertThrows(ManifestException.class, () -> ToolManifest.parse(json));
    assertEquals(field, e.field(), e::getMessage);
    assertEquals(reason, e.reason(), e::getMessage);
    assertEquals(
        "manifest.json: " + (field.isEmpty() ? "" : field + ": ") + reason, e.getMessage());
  }

  @Test
  void errorsNameTheField() {
    String base = "\"name\": \"t\", \"description\": \"d\"";
    assertError("{\"description\": \"d\"}", "name", "is required");
    assertError(
        "{\"name\": \"T!\", \"description\": \"d\"}",
        "name",
        "must be 1-64 of a-z, 0-9, '-' and '_', starting with a letter or digit");
    assertError("{\"name\": \"t\"}", "description", "is required");
    assertError("{\"name\": \"t\", \"description\": 7}", "description", "must be a string");
    assertError(
        "{\"name\": \"t\", \"description\": \"two\\nlines\"}",
        "description",
        "must be one line without control characters");
    assertError(
        "{" + base + ", \"colour\": 1}",
        "colour",
        "unknown field (allowed: description, inputs, limits, name, paths, version)");
    assertError(
        "{" + base + ", \"limits\": {\"wallMS\": 5}}",
        "limits.wallMS",
        "unknown field (allowed: concurrency, memoryPages, outputBytes, wallMs)");
    assertError(
        "{" + base + ", \"limits\": {\"wallMs\": 1.5}}",
        "limits.wallMs",
        "must be a whole number from 1 to 3600000");
    assertError(
        "{" + base + ", \"limits\": {\"wallMs\": \"10\"}}",
        "limits.wallMs",
        "must be a whole number from 1 to 3600000");
    assertError(
        "{" + base + ", \"limits\": {\"memoryPages\": 65537}}",
        "limits.memoryPages",
        "must be a whole number from 1 to 65536");
    assertError(
        "{" + base + ", \"limits\": {\"concurrency\": 0}}",
        "limits.concurrency",
        "must be a whole number from 1 to 256");
    assertError("{" + base + ", \"limits\": 5}", "limits", "must be an object");
    assertError("{" + base + ", \"inputs\": {\"args\": true}}", "inputs.args", "must be a string");
    assertError(
        "{" + base + ", \"paths\": {\"read\": \"/workspaces\"}}",
        "paths.read",
        "must be an array of mount paths");
    assertError(
        "{" + base + ", \"paths\": {\"read\": [\"/workspaces\", \"specs\"]}}",
        "paths.read[1]",
        "must be an absolute mount path such as /workspaces/notes: \"specs\"");
    assertError(
        "{" + base + ", \"paths\": {\"write\": [\"/workspaces/../vault\"]}}",
        "paths.write[0]",
        "must be normalised (no '//', '.' or '..'): \"/workspaces/../vault\"");
    assertError(
        "{" + base + ", \"paths\": {\"read\": [\"/\"]}}",
        "paths.read[0]",
        "must name a subtree, not the whole mount: \"/\"");
    assertError(
        "{" + base + ", \"paths\": {\"read\": [\"/specs/\"]}}",
        "paths.read[0]",
        "must not end with '/': \"/specs/\"");
  }

  @Test
  void documentErrorsSayWhere() {
    ManifestException e =
        assertThrows(
            ManifestException.class, () -> ToolManifest.parse("{\n  \"name\": \"t\",\n  oops\n}"));
    assertEquals("", e.field());
    assertTrue(e.reason().startsWith("line 3, column 3: not valid JSON: "), e.reason());
    e =
        assertThrows(
            ManifestException.class,
            () -> ToolManifest.parse("{\"name\": \"a\", \"name\": \"b\"}"));
    assertTrue(e.reason().contains("Duplicate field 'name'"), e.reason());
    assertEquals(
        "must be a JSON object",
        assertThrows(ManifestException.class, () -> ToolManifest.parse("[1]")).reason());
    assertEquals(
        "is empty", assertThrows(ManifestException.class, () -> ToolManifest.parse("")).reason());
  }

  @Test
  void shippedManifestsAreValid() throws Exception {
    Modules.requireBuiltins();
    for (String name : BuiltinTools.names()) {
      ToolManifest m = ToolManifest.parse(BuiltinTools.manifest(name));
      assertTrue(m.inputs().takesArgs(), name);
      assertEquals(List.of("/workspaces", "/specs"), m.readPaths(), name);
      assertTrue(m.writePaths().isEmpty(), name + " writes nothing");
    }
  }
}
