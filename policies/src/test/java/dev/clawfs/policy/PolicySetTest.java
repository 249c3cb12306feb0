package dev.clawfs.policy;

import static dev.clawfs.policy.Action.CREATE;
import static dev.clawfs.policy.Action.DELETE;
import static dev.clawfs.policy.Action.LIST;
import static dev.clawfs.policy.Action.READ;
import static dev.clawfs.policy.Action.WRITE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Deciding over one or several policy files read from disk. */
class PolicySetTest {

  @TempDir Path dir;

  private static final Subject BOB = Subject.agent(1001, 1001, "bob");
  private static final Subject LIBRARIAN = Subject.agent(1003, 1003, "librarian");
  private static final Subject USER = Subject.user(1000, 100);
  private static final Action[] ACTIONS = Action.values();

  private Policy write(String name, String text) throws Exception {
    Path file = dir.resolve(name);
    Files.writeString(file, text);
    return Policy.load(file);
  }

  private static final String ADMIN = """
      # admin.yaml: line numbers below are asserted by the tests
      version: 1
      rules:
        - subject: agent:librarian
          secrets: [openrouter-key]
        - subject: agents
          allow: [write, create]
          paths: ["/workspaces/shared/**"]
        - subject: agent:bob
          deny: [read, list]
          paths: ["/specs/private/**", "/workspaces/shared/secret.txt"]
        - subject: agents
          allow: [write]
          paths: ["/system/index/**"]
      """;

  @Test
  void combiningTwoFilesDecidesOverAllRules() throws Exception {
    PolicySet set = PolicySet.of(List.of(Policy.loadDefault(), write("admin.yaml", ADMIN)));

    Decision secret = set.decide(LIBRARIAN, READ, "/vault/openrouter-key");
    assertTrue(secret.allowed());
    assertEquals("admin.yaml", secret.source());
    assertEquals(4, secret.line());
    assertEquals("allowed by admin.yaml:4", secret.toString());
    assertFalse(set.decide(LIBRARIAN, WRITE, "/vault/openrouter-key").allowed(), "read only");
    assertFalse(set.decide(LIBRARIAN, READ, "/vault/other-key").allowed());
    assertFalse(set.decide(BOB, READ, "/vault/openrouter-key").allowed());

    assertEquals("admin.yaml:6", set.decide(BOB, CREATE, "/workspaces/shared/new.md").by());
    Decision read = set.decide(BOB, READ, "/workspaces/shared/new.md");
    assertTrue(read.allowed());
    assertEquals("default.yaml", read.source());
    assertFalse(set.decide(BOB, DELETE, "/workspaces/shared/new.md").allowed());
  }

  @Test
  void denyBeatsAllowWhicheverFileAndOrder() throws Exception {
    PolicySet set = PolicySet.of(Policy.loadDefault(), write("admin.yaml", ADMIN));
    // default.yaml allows agents to read /specs/**; admin.yaml's deny for bob wins
    Decision d = set.decide(BOB, READ, "/specs/private/plan.md");
    assertFalse(d.allowed());
    assertEquals("denied by admin.yaml:9", d.toString());
    assertEquals("admin.yaml:9", set.decide(BOB, READ, "/workspaces/shared/secret.txt").by());
    assertTrue(set.decide(LIBRARIAN, READ, "/specs/private/plan.md").allowed(), "only bob");
    // admin.yaml allows agents to write the index status; default.yaml's deny wins
    Decision system = set.decide(BOB, WRITE, "/system/index/status");
    assertFalse(system.allowed());
    assertEquals("default.yaml", system.source());
    // the order of the files does not matter
    PolicySet reversed = PolicySet.of(write("admin.yaml", ADMIN), Policy.loadDefault());
    assertEquals(d, reversed.decide(BOB, READ, "/specs/private/plan.md"));
    assertEquals(system, reversed.decide(BOB, WRITE, "/system/index/status"));
  }

  @Test
  void aGrantedSecretMakesTheVaultTraversable() throws Exception {
    PolicySet set = PolicySet.of(Policy.loadDefault(), write("admin.yaml", ADMIN));
    assertTrue(set.visible(LIBRARIAN, "/vault"));
    assertTrue(set.visible(LIBRARIAN, "/vault/openrouter-key"));
    assertFalse(set.visible(LIBRARIAN, "/vault/other-key"));
    assertFalse(set.decide(LIBRARIAN, LIST, "/vault").allowed(), "traversing is not listing");
    assertFalse(set.visible(BOB, "/vault"));
  }

  @Test
  void denialsDoNotHideTheWayToWhatIsAllowed() throws Exception {
    PolicySet set = PolicySet.of(write("p.yaml", """
        version: 1
        rules:
          - subject: agents
            deny: [read, list]
            paths: ["/workspaces/**"]
          - subject: agents
            allow: [read]
            paths: ["/workspaces/p/README.md"]
        """));
    assertFalse(set.decide(BOB, READ, "/workspaces/p/README.md").allowed(), "deny wins");
    assertTrue(set.visible(BOB, "/workspaces"), "but the path to it can be walked");
    assertTrue(set.visible(BOB, "/workspaces/p"));
    assertFalse(set.visible(BOB, "/workspaces/q"));
    assertFalse(set.visible(BOB, "/workspaces/p/README.md"), "nothing allowed on the file");
  }

  @Test
  void jsonAndYamlFilesMeanTheSame() throws Exception {
    PolicySet yaml = PolicySet.of(write("admin.yaml", ADMIN));
    PolicySet json = PolicySet.of(write("admin.json", """
        {
          "version": 1,
          "rules": [
            {"subject": "agent:librarian", "secrets": ["openrouter-key"]},
            {"subject": "agents", "allow": ["write", "create"],
             "paths": ["/workspaces/shared/**"]},
            {"subject": "agent:bob", "deny": ["read", "list"],
             "paths": ["/specs/private/**", "/workspaces/shared/secret.txt"]},
            {"subject": "agents", "allow": ["write"], "paths": ["/system/index/**"]}
          ]
        }
        """));
    for (Subject s : List.of(BOB, LIBRARIAN, USER)) {
      for (Action a : Action.values()) {
        for (String p : List.of("/vault/openrouter-key", "/workspaces/shared/x",
            "/specs/private/y", "/system/index/status", "/workspaces/shared/secret.txt")) {
          assertEquals(yaml.decide(s, a, p).allowed(), json.decide(s, a, p).allowed(),
              s + " " + a + " " + p);
        }
      }
    }
    assertEquals("admin.json:4", json.decide(LIBRARIAN, READ, "/vault/openrouter-key").by());
  }

  @Test
  void theReadmeExampleIsAValidPolicy() throws Exception {
    String readme = Files.readString(Path.of("README.md"));
    int start = readme.indexOf("```yaml\n") + "```yaml\n".length();
    Policy example = write("example.yaml", readme.substring(start, readme.indexOf("```", start)));
    assertEquals(List.of(), example.warnings());
    assertEquals(List.of("denial-burst", "read-flood", "no-shell"), example.anomalyNames());
    PolicySet set = PolicySet.of(example);
    assertTrue(set.decide(LIBRARIAN, READ, "/vault/openrouter-key").allowed());
    assertTrue(set.decide(USER, LIST, "/specs").allowed());
    assertTrue(set.decide(BOB, DELETE, "/agents/bob/tmp").allowed());
    assertFalse(set.decide(BOB, WRITE, "/system/index/x").allowed());
    assertEquals(3, example.toolRuleCount());
    assertTrue(set.decideTool(BOB, "sha256").allowed());
    assertFalse(set.decideTool(BOB, "fetch").allowed());
    assertTrue(set.decideTool(LIBRARIAN, "fetch").allowed());
    assertEquals(new ToolLimitsSpec(1024, 60_000L, 67_108_864L, 4),
        set.decideTool(USER, "fetch").limits());
    assertEquals(new ToolLimitsSpec(64, 60_000L, 67_108_864L, 4),
        set.decideTool(Subject.agent(1009, 1009, "indexer"), "sha256").limits());
    assertEquals(2, example.endpointRuleCount());
    Subject coder = Subject.agent(1004, 1004, "coder");
    assertTrue(set.decideEndpoint(coder, "https://openrouter.ai/api/v1/chat/completions")
        .allowed());
    assertTrue(set.decideEndpoint(coder, "http://127.0.0.1:8080/v1/chat/completions").allowed());
    assertFalse(set.decideEndpoint(coder, "https://api.example.com/v1").allowed());
    assertFalse(set.decideEndpoint(BOB, "https://openrouter.ai/api/v1").allowed());
    assertEquals(List.of("ticket-ids", "vault-path"), example.injectionNames());
    assertEquals(List.of(new InjectionRule("ticket-ids", "\\b(SEC|OPS)-\\d+\\b",
        InjectionRule.Action.FLAG, "example.yaml:43")), set.injectionPatterns(BOB));
    assertEquals(List.of(new InjectionRule("ticket-ids", "\\b(SEC|OPS)-\\d+\\b",
        InjectionRule.Action.FLAG, "example.yaml:43")), set.injectionPatterns(LIBRARIAN));
    assertEquals(List.of("ignore-instructions", "disregard-instructions", "new-role",
        "reveal-prompt", "fake-system-turn", "exfiltrate", "ticket-ids"),
        PolicySet.of(Policy.loadDefault(), example).injectionPatterns(LIBRARIAN).stream()
            .map(InjectionRule::name).toList(), "vault-path is off for the librarian");
  }

  @Test
  void subjectSelectors() throws Exception {
    PolicySet set = PolicySet.of(write("p.yaml", """
        version: 1
        rules:
          - subject: uid:1000
            allow: [read]
            paths: ["/specs/uid/**"]
          - subject: gid:100
            allow: [read]
            paths: ["/specs/gid/**"]
          - subject: users
            allow: [read]
            paths: ["/specs/users/**"]
          - subject: root
            deny: [read]
            paths: ["/specs/**"]
          - subject: any
            allow: [read]
            paths: ["/specs/any/**"]
        """));
    assertTrue(set.decide(USER, READ, "/specs/uid/a").allowed());
    assertFalse(set.decide(BOB, READ, "/specs/uid/a").allowed());
    assertTrue(set.decide(USER, READ, "/specs/gid/a").allowed());
    assertTrue(set.decide(Subject.agent(1005, 100, "g"), READ, "/specs/gid/a").allowed());
    assertTrue(set.decide(USER, READ, "/specs/users/a").allowed());
    assertFalse(set.decide(BOB, READ, "/specs/users/a").allowed(), "agents are not users");
    assertTrue(set.decide(BOB, READ, "/specs/any/a").allowed());
    Decision root = set.decide(Subject.user(0, 0), READ, "/specs/any/a");
    assertTrue(root.allowed(), "a deny cannot lock out root");
    assertEquals(Decision.Basis.ROOT, root.basis());
  }

  @Test
  void pathsThatAreNotNormalisedAreDenied() {
    PolicySet set = PolicySet.ofDefault();
    for (String p : new String[] {"/workspaces/../vault/k", "/workspaces/", "workspaces/p",
        "//workspaces", "/workspaces/./p", ""}) {
      Decision d = set.decide(BOB, READ, p);
      assertFalse(d.allowed(), p);
      assertEquals(Decision.Basis.INVALID_PATH, d.basis(), p);
      assertFalse(set.visible(BOB, p), p);
    }
    assertEquals(Decision.Basis.INVALID_PATH,
        set.decide(Subject.user(0, 0), READ, "/vault/../etc").basis());
  }

  @Test
  void warningsForFirstSegmentsThatMatchNothing() throws Exception {
    Policy p = write("typo.yaml", """
        version: 1
        rules:
          - subject: agents
            deny: [write]
            paths:
              - /workspace/**
              - /specs/**
              - /s*/x
              - /x?/y
              - /**/notes
        """);
    assertEquals(List.of(
        new PolicyWarning("typo.yaml", 6, 9, "\"/workspace/**\" matches nothing: \"workspace\""
            + " is not a top-level folder (workspaces, specs, vault, agents, tools, search,"
            + " system)"),
        new PolicyWarning("typo.yaml", 9, 9, "\"/x?/y\" matches nothing: \"x?\" is not a"
            + " top-level folder (workspaces, specs, vault, agents, tools, search, system)")),
        p.warnings());
    assertEquals("typo.yaml:6:9: warning: \"/workspace/**\" matches nothing: \"workspace\" is not"
        + " a top-level folder (workspaces, specs, vault, agents, tools, search, system)",
        p.warnings().get(0).toString());
    assertEquals(p.warnings(), PolicySet.of(Policy.loadDefault(), p).warnings());
  }

  @Test
  void decidingAllocatesNothing() throws Exception {
    // Globs are compiled when the file is parsed and decisions are made once per rule, so a
    // decision walks arrays and the path string only. Measured, not timed.
    assumeTrue(ManagementFactory.getThreadMXBean() instanceof com.sun.management.ThreadMXBean,
        "this JVM does not count allocated bytes per thread");
    com.sun.management.ThreadMXBean mx =
        (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
    assumeTrue(mx.isThreadAllocatedMemorySupported() && mx.isThreadAllocatedMemoryEnabled(),
        "allocation counting is off in this JVM");
    PolicySet set = PolicySet.of(Policy.loadDefault(), write("admin.yaml", ADMIN));
    String[] paths = {"/workspaces/shared/a/b/c.md", "/agents/bob/x", "/agents/alice/x",
        "/vault/openrouter-key", "/specs/private/p", "/system/index/status", "/"};
    int allowed = 0;
    for (int i = 0; i < 20_000; i++) {
      allowed += decideAll(set, paths);
    }
    long before = mx.getCurrentThreadAllocatedBytes();
    for (int i = 0; i < 20_000; i++) {
      allowed += decideAll(set, paths);
    }
    long allocated = mx.getCurrentThreadAllocatedBytes() - before;
    assertTrue(allowed > 0);
    // 700,000 decisions and 280,000 visibility checks; a few hundred bytes is the probe's noise
    assertTrue(allocated < 4096, allocated + " bytes allocated by a million decisions");
  }

  private static int decideAll(PolicySet set, String[] paths) {
    int n = 0;
    for (String p : paths) {
      for (Action a : ACTIONS) {
        if (set.decide(BOB, a, p).allowed()) {
          n++;
        }
      }
      if (set.visible(LIBRARIAN, p)) {
        n++;
      }
      if (set.visible(BOB, p)) {
        n++;
      }
    }
    return n;
  }
}
