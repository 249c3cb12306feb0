package dev.clawfs.policy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class GlobTest {

  private static boolean m(String glob, String path) {
    return Glob.compile(glob).matches(path, "bob");
  }

  @Test
  void literalSegmentsMatchExactly() {
    assertTrue(m("/specs/a.md", "/specs/a.md"));
    assertFalse(m("/specs/a.md", "/specs/a.mdx"));
    assertFalse(m("/specs/a.md", "/specs/a.md/x"));
    assertFalse(m("/specs/a.md", "/specs"));
    assertTrue(m("/", "/"));
    assertFalse(m("/", "/specs"));
  }

  @Test
  void starStaysInsideOneSegment() {
    assertTrue(m("/specs/*.md", "/specs/a.md"));
    assertTrue(m("/specs/*.md", "/specs/.md"));
    assertFalse(m("/specs/*.md", "/specs/d/a.md"));
    assertTrue(m("/specs/*", "/specs/d"));
    assertFalse(m("/specs/*", "/specs"));
    assertTrue(m("/specs/a*b*c", "/specs/aXbYbc"));
    assertFalse(m("/specs/a*b*c", "/specs/aXbYbcd"));
  }

  @Test
  void questionMarkIsOneCharacter() {
    assertTrue(m("/specs/v?.md", "/specs/v1.md"));
    assertFalse(m("/specs/v?.md", "/specs/v10.md"));
    assertFalse(m("/specs/v?.md", "/specs/v.md"));
  }

  @Test
  void doubleStarIsAnyNumberOfSegmentsIncludingNone() {
    assertTrue(m("/workspaces/**", "/workspaces"));
    assertTrue(m("/workspaces/**", "/workspaces/p"));
    assertTrue(m("/workspaces/**", "/workspaces/p/q/r.txt"));
    assertFalse(m("/workspaces/**", "/workspacesX/p"));
    assertTrue(m("/workspaces/**/*.md", "/workspaces/a.md"));
    assertTrue(m("/workspaces/**/*.md", "/workspaces/p/q/a.md"));
    assertFalse(m("/workspaces/**/*.md", "/workspaces/p/q/a.txt"));
    assertTrue(m("/**/.git/**", "/workspaces/p/.git/config"));
    assertTrue(m("/workspaces/**/**/x", "/workspaces/x"));
  }

  @Test
  void agentVariableIsTheCallersName() {
    Glob g = Glob.compile("/agents/${agent}/**");
    assertTrue(g.matches("/agents/bob/notes", "bob"));
    assertTrue(g.matches("/agents/bob", "bob"));
    assertFalse(g.matches("/agents/bob/notes", "alice"));
    assertFalse(g.matches("/agents/bobby/notes", "bob"));
    assertFalse(g.matches("/agents/bob/notes", null), "a caller that is no agent has no home");
  }

  @Test
  void belowMeansSomeDescendantCouldMatch() {
    Glob home = Glob.compile("/agents/${agent}/**");
    assertTrue(home.matchesBelow("/", "bob"));
    assertTrue(home.matchesBelow("/agents", "bob"));
    assertTrue(home.matchesBelow("/agents/bob", "bob"));
    assertTrue(home.matchesBelow("/agents/bob/deep/er", "bob"));
    assertFalse(home.matchesBelow("/agents/alice", "bob"));
    assertFalse(home.matchesBelow("/workspaces", "bob"));
    Glob secret = Glob.compile("/vault/key");
    assertTrue(secret.matchesBelow("/vault", null));
    assertFalse(secret.matchesBelow("/vault/key", null), "a file has nothing below it");
    assertTrue(Glob.compile("/**/x.md").matchesBelow("/specs/a/b", null));
    assertFalse(Glob.compile("/").matchesBelow("/", null));
  }

  @Test
  void malformedGlobsAreRejectedWithTheReason() {
    assertEquals("bad glob \"specs/**\": must be absolute (start with \"/\")",
        reject("specs/**"));
    assertEquals("bad glob \"/specs//a\": must not contain \"//\"", reject("/specs//a"));
    assertEquals("bad glob \"/specs/\": must not end with \"/\"", reject("/specs/"));
    assertEquals("bad glob \"/specs/../vault/k\": must not contain \"..\"",
        reject("/specs/../vault/k"));
    assertEquals("bad glob \"/specs/./a\": must not contain a \".\" segment", reject("/specs/./a"));
    assertTrue(reject("/specs/a**").contains("\"**\" must be a whole segment"));
    assertTrue(reject("/agents/${user}").contains("the only variable is ${agent}"));
    assertTrue(reject("/agents/x${agent}").contains("must be a whole segment"));
    assertTrue(reject("/${agent}/x").contains("cannot be the first segment"));
    assertTrue(reject("/**/a/**/b/**/c/**/d/**").contains("at most 4"));
  }

  @Test
  void vaultReachIsFoundStructurally() {
    assertNull(Glob.compile("/vault/key").vaultProblem());
    assertNull(Glob.compile("/vault").vaultProblem());
    assertNull(Glob.compile("/workspaces/**").vaultProblem());
    assertNull(Glob.compile("/*").vaultProblem(), "the folders themselves, nothing inside");
    assertNull(Glob.compile("/w*/**").vaultProblem());
    assertEquals("names no single secret", Glob.compile("/vault/*").vaultProblem());
    assertEquals("names no single secret", Glob.compile("/vault/key/**").vaultProblem());
    assertEquals("names no single secret", Glob.compile("/vault/${agent}").vaultProblem());
    assertEquals("its leading \"**\" reaches into /vault", Glob.compile("/**").vaultProblem());
    assertEquals("its first segment \"*\" matches \"vault\"",
        Glob.compile("/*/key").vaultProblem());
    assertEquals("its first segment \"v?ult\" matches \"vault\"",
        Glob.compile("/v?ult/**").vaultProblem());
  }

  private static String reject(String glob) {
    return assertThrows(IllegalArgumentException.class, () -> Glob.compile(glob)).getMessage();
  }
}
