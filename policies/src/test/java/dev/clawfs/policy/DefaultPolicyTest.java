package dev.clawfs.policy;

import static dev.clawfs.policy.Action.CREATE;
import static dev.clawfs.policy.Action.DELETE;
import static dev.clawfs.policy.Action.LIST;
import static dev.clawfs.policy.Action.READ;
import static dev.clawfs.policy.Action.WRITE;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The shipped default policy: each of its rules, for two agents, a user and root. */
class DefaultPolicyTest {

  /** The source of the default policy, in the module folder (Surefire runs there). */
  private static final Path SOURCE = Path.of("default.yaml");

  private static final Subject BOB = Subject.agent(1001, 1001, "bob");
  private static final Subject ALICE = Subject.agent(1002, 1002, "alice");
  private static final Subject USER = Subject.user(1000, 1000);
  private static final Subject ROOT = Subject.user(0, 0);

  private static PolicySet policy;
  private static List<String> lines;

  @BeforeAll
  static void load() throws Exception {
    policy = PolicySet.ofDefault();
    lines = Files.readAllLines(SOURCE);
  }

  /** "default.yaml:N", N the line of the rule whose paths list contains {@code glob}. */
  private static String rule(String glob) {
    for (int i = 0; i < lines.size(); i++) {
      if (lines.get(i).contains("paths:") && lines.get(i).contains("\"" + glob + "\"")) {
        for (int j = i; j >= 0; j--) {
          if (lines.get(j).startsWith("  - subject:")) {
            return "default.yaml:" + (j + 1);
          }
        }
      }
    }
    throw new AssertionError("no rule for " + glob + " in " + SOURCE);
  }

  private static void allowed(Subject s, Action a, String path, String by) {
    Decision d = policy.decide(s, a, path);
    assertTrue(d.allowed(), s + " " + a + " " + path + ": " + d);
    assertEquals(by, d.by(), s + " " + a + " " + path);
  }

  private static void denied(Subject s, Action a, String path, String by) {
    Decision d = policy.decide(s, a, path);
    assertFalse(d.allowed(), s + " " + a + " " + path + ": " + d);
    assertEquals(by, d.by(), s + " " + a + " " + path);
  }

  @Test
  void theClasspathCopyIsTheModuleFile() throws Exception {
    try (InputStream in = Policy.class.getResourceAsStream(Policy.DEFAULT_RESOURCE)) {
      assertArrayEquals(Files.readAllBytes(SOURCE), in.readAllBytes());
    }
  }

  @Test
  void parsesWithoutWarningsAndHasTheDefaultAnomalyRules() {
    Policy p = Policy.loadDefault();
    assertEquals("default.yaml", p.source());
    assertEquals(List.of(), p.warnings());
    assertEquals(8, p.ruleCount());
    assertEquals(List.of("denial-burst", "read-flood", "no-shell"), p.anomalyNames());
    assertEquals(2, p.toolRuleCount());
  }

  /** "default.yaml:N: tools[i]", N the line of the i-th entry of the tools list. */
  private static String toolRule(int index) {
    int start = lines.indexOf("tools:");
    int seen = 0;
    for (int i = start + 1; i < lines.size(); i++) {
      if (lines.get(i).startsWith("  - subject:") && seen++ == index) {
        return "default.yaml:" + (i + 1) + ": tools[" + index + "]";
      }
    }
    throw new AssertionError("no tools[" + index + "] in " + SOURCE);
  }

  @Test
  void everyoneRunsEveryToolAndAgentsGetTighterLimits() {
    ToolLimitsSpec everyone = new ToolLimitsSpec(1024, 60_000L, 64L << 20, 4);
    ToolLimitsSpec agents = new ToolLimitsSpec(256, 10_000L, 16L << 20, 2);
    for (String tool : List.of("sha256", "wc", "x", "a.b_c-9")) {
      for (Subject s : List.of(BOB, ALICE)) {
        ToolDecision d = policy.decideTool(s, tool);
        assertTrue(d.allowed(), s + " " + tool + ": " + d);
        assertEquals("allowed by " + toolRule(0) + " allows \"" + tool + "\" to any", d.reason());
        assertEquals(agents, d.limits(), s + " " + tool);
      }
      ToolDecision user = policy.decideTool(USER, tool);
      assertTrue(user.allowed());
      assertEquals(everyone, user.limits(), tool);
      ToolDecision root = policy.decideTool(ROOT, tool);
      assertEquals("allowed by root: root may run any tool", root.reason());
      assertEquals(everyone, root.limits(), "subject any binds root too");
    }
    assertFalse(policy.decideTool(BOB, "../bin/sh").allowed());
  }

  @Test
  void agentsReadTheSharedTrees() {
    String shared = rule("/workspaces/**");
    allowed(BOB, READ, "/workspaces/proj/main.c", shared);
    allowed(BOB, LIST, "/workspaces", shared);
    allowed(BOB, LIST, "/workspaces/proj", shared);
    allowed(BOB, READ, "/specs/clawfs.md", shared);
    allowed(BOB, LIST, "/search/key rotation", shared);
    allowed(BOB, READ, "/search/key rotation/1-keys.md", shared);
    allowed(BOB, READ, "/tools/wc.wasm", shared);
    for (Action a : List.of(WRITE, CREATE, DELETE)) {
      denied(BOB, a, "/workspaces/proj/main.c", "default deny");
      denied(BOB, a, "/specs/clawfs.md", "default deny");
      denied(BOB, a, "/search/q/x", "default deny");
      denied(BOB, a, "/tools/wc.wasm", "default deny");
    }
  }

  @Test
  void anAgentOwnsItsHomeAndNoOtherOne() {
    String home = rule("/agents/${agent}/**");
    for (Action a : Action.values()) {
      allowed(BOB, a, "/agents/bob/notes/today.md", home);
      allowed(ALICE, a, "/agents/alice/notes/today.md", home);
      denied(ALICE, a, "/agents/bob/notes/today.md", "default deny");
      denied(BOB, a, "/agents/alice/x", "default deny");
    }
    allowed(BOB, LIST, "/agents/bob", home);
    denied(BOB, LIST, "/agents", "default deny");
    denied(BOB, CREATE, "/agents/bobby", "default deny");
  }

  @Test
  void agentsGetNoSecretByDefault() {
    denied(BOB, READ, "/vault/openrouter-key", "default deny");
    denied(BOB, LIST, "/vault", "default deny");
    denied(USER, READ, "/vault/openrouter-key", "default deny");
    denied(USER, LIST, "/vault", "default deny");
    assertFalse(policy.visible(BOB, "/vault"));
    assertFalse(policy.visible(USER, "/vault/openrouter-key"));
  }

  @Test
  void agentsReadStatusButNotAuditOrPoliciesAndNeverWriteSystem() {
    String status = rule("/system/index/**");
    allowed(BOB, LIST, "/system", status);
    allowed(BOB, READ, "/system/index/status", status);
    allowed(BOB, READ, "/system/health", status);
    allowed(BOB, READ, "/system/metrics/fuse", status);
    denied(BOB, READ, "/system/audit", "default deny");
    denied(BOB, READ, "/system/audit/2025-06-01.log", "default deny");
    denied(BOB, READ, "/system/policies/default.yaml", "default deny");
    String deny = denyRuleLine();
    denied(BOB, WRITE, "/system/index/status", deny);
    denied(BOB, CREATE, "/system/policies/mine.yaml", deny);
    denied(BOB, DELETE, "/system/health", deny);
  }

  @Test
  void usersKeepWhatUnixModesGiveThemOutsideVaultAndSystem() {
    String users = lineOfUsersRule();
    for (Action a : Action.values()) {
      for (String p : List.of("/workspaces/p/f", "/specs/s.md", "/agents/bob/notes",
          "/tools/t.wasm", "/search/q")) {
        allowed(USER, a, p, users);
      }
    }
    allowed(USER, LIST, "/agents", users);
  }

  @Test
  void usersReadAllOfSystemAndWriteNoneOfIt() {
    String readSystem = usersSystemRuleLine();
    allowed(USER, READ, "/system/audit/today.log", readSystem);
    allowed(USER, READ, "/system/policies/default.yaml", readSystem);
    allowed(USER, LIST, "/system", readSystem);
    String deny = denyRuleLine();
    denied(USER, WRITE, "/system/policies/default.yaml", deny);
    denied(USER, CREATE, "/system/policies/mine.yaml", deny);
    denied(USER, DELETE, "/system/audit/today.log", deny);
  }

  @Test
  void rootAdministersEverything() {
    for (Action a : Action.values()) {
      for (String p : List.of("/", "/vault/openrouter-key", "/system/policies/default.yaml",
          "/agents/bob/x", "/workspaces/p")) {
        allowed(ROOT, a, p, "root");
        assertEquals(Decision.Basis.ROOT, policy.decide(ROOT, a, p).basis());
      }
    }
  }

  @Test
  void everyoneMayLookAtTheRoot() {
    String top = rule("/");
    for (Subject s : List.of(BOB, USER)) {
      allowed(s, LIST, "/", top);
      allowed(s, READ, "/", top);
      denied(s, CREATE, "/", "default deny");
    }
  }

  @Test
  void agentsTraverseTowardsWhatTheyMayUse() {
    assertTrue(policy.visible(BOB, "/"));
    assertTrue(policy.visible(BOB, "/agents"), "on the way to /agents/bob");
    assertTrue(policy.visible(BOB, "/agents/bob"));
    assertTrue(policy.visible(BOB, "/agents/bob/deep/file"));
    assertFalse(policy.visible(BOB, "/agents/alice"));
    assertFalse(policy.visible(BOB, "/agents/alice/x"));
    assertTrue(policy.visible(BOB, "/system"));
    assertTrue(policy.visible(BOB, "/system/index/status"));
    assertFalse(policy.visible(BOB, "/system/audit"));
    assertFalse(policy.visible(BOB, "/vault"));
    assertTrue(policy.visible(USER, "/system/audit"));
    assertTrue(policy.visible(ROOT, "/vault/openrouter-key"));
  }

  private static String denyRuleLine() {
    return ruleWith("deny: [write, create, delete]");
  }

  private static String lineOfUsersRule() {
    return ruleWith("\"/agents/**\"");
  }

  private static String usersSystemRuleLine() {
    for (int i = 0; i < lines.size(); i++) {
      if (lines.get(i).equals("  - subject: users")
          && lines.get(i + 2).equals("    paths: [\"/system/**\"]")) {
        return "default.yaml:" + (i + 1);
      }
    }
    throw new AssertionError("no users rule for /system/**");
  }

  /** The rule that has a line containing {@code text}. */
  private static String ruleWith(String text) {
    for (int i = 0; i < lines.size(); i++) {
      if (lines.get(i).contains(text)) {
        for (int j = i; j >= 0; j--) {
          if (lines.get(j).startsWith("  - subject:")) {
            return "default.yaml:" + (j + 1);
          }
        }
      }
    }
    throw new AssertionError("no rule with " + text);
  }
}
