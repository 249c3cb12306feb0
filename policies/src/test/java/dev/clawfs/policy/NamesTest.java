package dev.clawfs.policy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class NamesTest {

  @Test
  void normalisedPaths() {
    assertTrue(Names.isNormalized("/"));
    assertTrue(Names.isNormalized("/workspaces/p/.hidden/a..b"));
    assertFalse(Names.isNormalized(""));
    assertFalse(Names.isNormalized("workspaces"));
    assertFalse(Names.isNormalized("/workspaces/"));
    assertFalse(Names.isNormalized("//workspaces"));
    assertFalse(Names.isNormalized("/workspaces/../vault/k"));
    assertFalse(Names.isNormalized("/workspaces/.."));
    assertFalse(Names.isNormalized("/./workspaces"));
    assertFalse(Names.isNormalized("/a\0b"));
    assertFalse(Names.isNormalized(null));
  }

  @Test
  void secretNames() {
    assertNull(Names.problemInName("openrouter-key"));
    assertNull(Names.problemInName("A.b_c-9"));
    assertNull(Names.problemInName("x".repeat(255)));
    assertEquals("is longer than 255 bytes", Names.problemInName("x".repeat(256)));
    assertEquals("must not be \".\" or \"..\"", Names.problemInName(".."));
    assertEquals("must not be \".\" or \"..\"", Names.problemInName("."));
    assertEquals("must be a single name without \"/\"", Names.problemInName("../x"));
    assertEquals("is empty", Names.problemInName(""));
    assertEquals("may only contain letters, digits, '.', '_' and '-' (found ' ')",
        Names.problemInName("my key"));
  }

  @Test
  void toolNames() {
    assertNull(Names.problemInToolName("sha256"));
    assertNull(Names.problemInToolName("9.a_b-c"));
    assertNull(Names.problemInToolName("x".repeat(64)));
    assertEquals("is longer than 64 characters", Names.problemInToolName("x".repeat(65)));
    assertEquals("is empty", Names.problemInToolName(""));
    assertEquals("must start with a letter or digit", Names.problemInToolName("."));
    assertEquals("must start with a letter or digit", Names.problemInToolName(".."));
    assertEquals("must start with a letter or digit", Names.problemInToolName("_x"));
    assertEquals("may only contain a-z, 0-9, '.', '_' and '-' (found 'W')",
        Names.problemInToolName("Wc"));
    assertEquals("may only contain a-z, 0-9, '.', '_' and '-' (found '/')",
        Names.problemInToolName("../x"));
    assertEquals("may only contain a-z, 0-9, '.', '_' and '-' (found U+0000)",
        Names.problemInToolName("a\0"));
    assertEquals("may only contain a-z, 0-9, '.', '_' and '-' (found U+00E9)",
        Names.problemInToolName("caf\u00e9"));
  }
}
