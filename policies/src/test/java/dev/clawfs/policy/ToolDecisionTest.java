package dev.clawfs.policy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Which subject may run which tool, and with which limits, over policy files read from disk. */
class ToolDecisionTest {

  @TempDir Path dir;

  private static final Subject BOB = Subject.agent(1001, 1001, "bob");
  private static final Subject ALICE = Subject.agent(1002, 1002, "alice");
  private static final Subject USER = Subject.user(1000, 100);
  private static final Subject ROOT = Subject.user(0, 0);

  private Policy write(String name, String text) throws Exception {
    Path file = dir.resolve(name);
    Files.writeString(file, text);
    return Policy.load(file);
  }

  private static void allowed(PolicySet set, Subject s, String tool, String reason) {
    ToolDecision d = set.decideTool(s, tool);
    assertTrue(d.allowed(), s + " " + tool + ": " + d);
    assertEquals(reason, d.reason(), s + " " + tool);
  }

  private static void denied(PolicySet set, Subject s, String tool, String reason) {
    ToolDecision d = set.decideTool(s, tool);
    assertFalse(d.allowed(), s + " " + tool + ": " + d);
    assertEquals(reason, d.reason(), s + " " + tool);
    assertSame(ToolLimitsSpec.NONE, d.limits(), "a denial carries no limits");
  }

  private static ToolLimitsSpec limits(PolicySet set, Subject s, String tool) {
    ToolDecision d = set.decideTool(s, tool);
    assertTrue(d.allowed(), s + " " + tool + ": " + d);
    return d.limits();
  }

  private static final String SITE = """
      # site.yaml: line numbers below are asserted by the tests
      version: 1
      tools:
        - subject: agents
          allow: ["sha*", wc]
        - subject: agent:bob
          deny: [sha256]
        - subject: users
          allow: ["*"]
      """;

  @Test
  void allowDenyAndDefaultDeny() throws Exception {
    PolicySet set = PolicySet.of(write("site.yaml", SITE));
    allowed(set, ALICE, "sha256", "allowed by site.yaml:4: tools[0] allows \"sha256\" to agents");
    allowed(set, BOB, "sha512", "allowed by site.yaml:4: tools[0] allows \"sha512\" to agents");
    allowed(set, BOB, "wc", "allowed by site.yaml:4: tools[0] allows \"wc\" to agents");
    denied(set, BOB, "sha256", "denied by site.yaml:6: tools[1] denies \"sha256\" to agent:bob");
    denied(set, BOB, "wc2", "denied by default deny: no tool rule allows \"wc2\" for agent bob"
        + " (uid 1001 gid 1001)");
    denied(set, ALICE, "grep", "denied by default deny: no tool rule allows \"grep\" for agent"
        + " alice (uid 1002 gid 1002)");
    allowed(set, USER, "grep", "allowed by site.yaml:8: tools[2] allows \"grep\" to users");
    assertEquals("denied by site.yaml:6: tools[1] denies \"sha256\" to agent:bob",
        set.decideTool(BOB, "sha256").toString());
    assertEquals("allowed by site.yaml:8: tools[2] allows \"grep\" to users (limits: none)",
        set.decideTool(USER, "grep").toString());
  }

  @Test
  void denyWinsWhicheverFileAndOrder() throws Exception {
    Policy broad = write("broad.yaml", """
        version: 1
        tools:
          - subject: any
            allow: ["*"]
        """);
    Policy narrow = write("narrow.yaml", """
        version: 1
        tools:
          - subject: agent:bob
            allow: [sha256]
          - subject: agent:bob
            deny: ["sha*"]
        """);
    for (PolicySet set : List.of(PolicySet.of(broad, narrow), PolicySet.of(narrow, broad))) {
      denied(set, BOB, "sha256", "denied by narrow.yaml:5: tools[1] denies \"sha256\" to"
          + " agent:bob");
      allowed(set, ALICE, "sha256", "allowed by broad.yaml:3: tools[0] allows \"sha256\" to any");
    }
    // with several allows, the first in file order is named, as for path rules
    allowed(PolicySet.of(narrow, broad), BOB, "wc",
        "allowed by broad.yaml:3: tools[0] allows \"wc\" to any");
    Policy onlyAllow = write("only.yaml", """
        version: 1
        tools:
          - subject: agent:bob
            allow: [sha256]
        """);
    allowed(PolicySet.of(onlyAllow, broad), BOB, "sha256",
        "allowed by only.yaml:3: tools[0] allows \"sha256\" to agent:bob");
    allowed(PolicySet.of(broad, onlyAllow), BOB, "sha256",
        "allowed by broad.yaml:3: tools[0] allows \"sha256\" to any");
  }

  @Test
  void rootRunsAnyToolAndNoRuleMeansNoTool() throws Exception {
    PolicySet none = PolicySet.of(write("none.yaml", "version: 1\n"));
    allowed(none, ROOT, "sha256", "allowed by root: root may run any tool");
    assertSame(ToolLimitsSpec.NONE, none.decideTool(ROOT, "sha256").limits());
    denied(none, USER, "sha256",
        "denied by default deny: no tool rule allows \"sha256\" for uid 1000 gid 100");
    denied(none, BOB, "sha256", "denied by default deny: no tool rule allows \"sha256\" for"
        + " agent bob (uid 1001 gid 1001)");
    PolicySet denyAll = PolicySet.of(write("deny.yaml", """
        version: 1
        tools:
          - subject: any
            deny: ["*"]
        """));
    allowed(denyAll, ROOT, "sha256", "allowed by root: root may run any tool");
    denied(denyAll, USER, "sha256", "denied by deny.yaml:3: tools[0] denies \"sha256\" to any");
  }

  @Test
  void subjectSelectors() throws Exception {
    PolicySet set = PolicySet.of(write("s.yaml", """
        version: 1
        tools:
          - subject: uid:1000
            allow: [by-uid]
          - subject: gid:100
            allow: [by-gid]
          - subject: users
            allow: [by-users]
          - subject: agent:alice
            allow: [by-alice]
          - subject: root
            deny: ["*"]
        """));
    assertTrue(set.decideTool(USER, "by-uid").allowed());
    assertFalse(set.decideTool(BOB, "by-uid").allowed());
    assertTrue(set.decideTool(USER, "by-gid").allowed());
    assertTrue(set.decideTool(Subject.agent(1005, 100, "g"), "by-gid").allowed());
    assertTrue(set.decideTool(USER, "by-users").allowed());
    assertFalse(set.decideTool(BOB, "by-users").allowed(), "agents are not users");
    assertTrue(set.decideTool(ALICE, "by-alice").allowed());
    assertFalse(set.decideTool(BOB, "by-alice").allowed());
    assertTrue(set.decideTool(ROOT, "by-uid").allowed(), "a deny cannot lock out root");
  }

  @Test
  void globsMatchWholeNamesWithStarAsAnyRun() {
    ToolGlob all = ToolGlob.compile("*");
    for (String name : List.of("a", "sha256", "x.y_z-1", "a".repeat(64))) {
      assertTrue(all.matches(name), name);
    }
    ToolGlob sha = ToolGlob.compile("sha*");
    assertTrue(sha.matches("sha"));
    assertTrue(sha.matches("sha256"));
    assertFalse(sha.matches("xsha256"));
    assertFalse(sha.matches("sh"));
    ToolGlob sum = ToolGlob.compile("*sum");
    assertTrue(sum.matches("md5sum"));
    assertTrue(sum.matches("sum"));
    assertFalse(sum.matches("sums"));
    ToolGlob middle = ToolGlob.compile("a*b*c");
    assertTrue(middle.matches("abc"));
    assertTrue(middle.matches("aXbYbc"));
    assertFalse(middle.matches("aXbYbcd"));
    ToolGlob literal = ToolGlob.compile("wc");
    assertTrue(literal.matches("wc"));
    assertFalse(literal.matches("wc2"));
    assertFalse(literal.matches("w"));
    ToolGlob dot = ToolGlob.compile("a.b");
    assertTrue(dot.matches("a.b"));
    assertFalse(dot.matches("axb"), "'.' is literal");
    assertTrue(ToolGlob.compile("**").matches("x"), "** is * twice");
    assertTrue(ToolGlob.compile("*" + "a".repeat(64) + "*").matches("a".repeat(64)));
  }

  @Test
  void limitsAreTheStricterOfTwoFiles() throws Exception {
    Policy base = write("base.yaml", """
        version: 1
        tools:
          - subject: any
            allow: ["*"]
            limits: {memoryPages: 1024, wallMs: 60000}
        """);
    Policy site = write("site.yaml", """
        version: 1
        tools:
          - subject: agents
            allow: [sha256]
            limits:
              memoryPages: 2048
              wallMs: 5000
              outputBytes: 1000
        """);
    for (PolicySet set : List.of(PolicySet.of(base, site), PolicySet.of(site, base))) {
      assertEquals(new ToolLimitsSpec(1024, 5000L, 1000L, null), limits(set, BOB, "sha256"));
      assertEquals(new ToolLimitsSpec(1024, 60000L, null, null), limits(set, BOB, "wc"),
          "site.yaml's limits are for sha256 only");
      assertEquals(new ToolLimitsSpec(1024, 60000L, null, null), limits(set, USER, "sha256"),
          "site.yaml's limits are for agents only");
    }
    assertEquals("allowed by base.yaml:3: tools[0] allows \"sha256\" to any (limits:"
        + " memoryPages=1024, wallMs=5000, outputBytes=1000)",
        PolicySet.of(base, site).decideTool(BOB, "sha256").toString());
  }

  @Test
  void limitsOnlyEntriesApplyToEveryToolAndAllowNothing() throws Exception {
    Policy capOnly = write("cap.yaml", """
        version: 1
        tools:
          - subject: agent:bob
            limits: {concurrency: 1, memoryPages: 16}
        """);
    PolicySet alone = PolicySet.of(capOnly);
    denied(alone, BOB, "wc", "denied by default deny: no tool rule allows \"wc\" for agent bob"
        + " (uid 1001 gid 1001)");
    Policy open = write("open.yaml", """
        version: 1
        tools:
          - subject: any
            allow: ["*"]
          - subject: agent:alice
            deny: [wc]
        """);
    PolicySet set = PolicySet.of(open, capOnly);
    ToolLimitsSpec bob = new ToolLimitsSpec(16, null, null, 1);
    for (String tool : List.of("wc", "sha256", "z")) {
      assertEquals(bob, limits(set, BOB, tool), tool);
    }
    assertSame(ToolLimitsSpec.NONE, limits(set, ALICE, "sha256"), "bob's cap only");
    denied(set, ALICE, "wc", "denied by open.yaml:5: tools[1] denies \"wc\" to agent:alice");
  }

  @Test
  void limitsBindRootWhenAnEntryMatchesRoot() throws Exception {
    PolicySet set = PolicySet.of(write("root.yaml", """
        version: 1
        tools:
          - subject: any
            limits: {wallMs: 1000}
          - subject: users
            limits: {wallMs: 10}
          - subject: any
            deny: [slow]
            limits: {outputBytes: 5}
        """));
    ToolDecision root = set.decideTool(ROOT, "slow");
    assertTrue(root.allowed());
    assertEquals("allowed by root: root may run any tool", root.reason());
    assertEquals(new ToolLimitsSpec(null, 1000L, 5L, null), root.limits(),
        "any and the deny entry match root; users does not");
    assertEquals(new ToolLimitsSpec(null, 1000L, null, null), limits(set, ROOT, "fast"));
  }

  @Test
  void namesThatAreNotToolNamesAreDeniedEvenToRoot() throws Exception {
    PolicySet set = PolicySet.of(write("all.yaml", """
        version: 1
        tools:
          - subject: any
            allow: ["*"]
        """));
    for (Subject s : List.of(ROOT, BOB)) {
      denied(set, s, "Sha256", "denied by invalid tool name: \"Sha256\": the tool name may only"
          + " contain a-z, 0-9, '.', '_' and '-' (found 'S')");
      denied(set, s, "../etc", "denied by invalid tool name: \"../etc\": the tool name may only"
          + " contain a-z, 0-9, '.', '_' and '-' (found '/')");
      denied(set, s, "", "denied by invalid tool name: \"\": the tool name is empty");
      denied(set, s, ".hidden",
          "denied by invalid tool name: \".hidden\": the tool name must start with a letter or"
              + " digit");
      denied(set, s, "-rf",
          "denied by invalid tool name: \"-rf\": the tool name must start with a letter or digit");
      denied(set, s, "x".repeat(65), "denied by invalid tool name: \"" + "x".repeat(65)
          + "\": the tool name is longer than 64 characters");
      denied(set, s, "a\nb\"", "denied by invalid tool name: \"a\\u000ab\\u0022\": the tool name"
          + " may only contain a-z, 0-9, '.', '_' and '-' (found U+000A)");
      denied(set, s, "y".repeat(100), "denied by invalid tool name: \"" + "y".repeat(80)
          + "...\": the tool name is longer than 64 characters");
    }
    allowed(set, BOB, "x".repeat(64), "allowed by all.yaml:3: tools[0] allows \"" + "x".repeat(64)
        + "\" to any");
    allowed(set, BOB, "9.a_b-c", "allowed by all.yaml:3: tools[0] allows \"9.a_b-c\" to any");
  }

  @Test
  void jsonAndYamlToolRulesMeanTheSame() throws Exception {
    PolicySet yaml = PolicySet.of(write("site.yaml", SITE));
    PolicySet json = PolicySet.of(write("site.json", """
        {
          "version": 1,
          "tools": [
            {"subject": "agents", "allow": ["sha*", "wc"]},
            {"subject": "agent:bob", "deny": ["sha256"],
             "limits": {"memoryPages": 8, "concurrency": 1}},
            {"subject": "users", "allow": ["*"]}
          ]
        }
        """));
    for (Subject s : List.of(BOB, ALICE, USER, ROOT)) {
      for (String tool : List.of("sha256", "sha1", "wc", "grep")) {
        assertEquals(yaml.decideTool(s, tool).allowed(), json.decideTool(s, tool).allowed(),
            s + " " + tool);
      }
    }
    denied(json, BOB, "sha256", "denied by site.json:5: tools[1] denies \"sha256\" to agent:bob");
    assertEquals(0, json.policies().get(0).ruleCount());
    assertEquals(3, json.policies().get(0).toolRuleCount());
  }

  @Test
  void theDocsExampleDoesWhatTheDocsSay() throws Exception {
    String docs = Files.readString(Path.of("../docs/policies.md"));
    int example = docs.indexOf("```yaml\n", docs.indexOf("### Example")) + "```yaml\n".length();
    Policy admin = write("tools.yaml", docs.substring(example, docs.indexOf("```", example)));
    PolicySet set = PolicySet.of(Policy.loadDefault(), admin);
    ToolLimitsSpec agents = new ToolLimitsSpec(256, 10_000L, 16L << 20, 2);
    Subject librarian = Subject.agent(1003, 1003, "librarian");
    denied(set, BOB, "fetch", "denied by tools.yaml:4: tools[0] denies \"fetch\" to agent:bob");
    assertEquals(agents, limits(set, BOB, "sha256"));
    assertEquals(new ToolLimitsSpec(128, 10_000L, 16L << 20, 2), limits(set, librarian, "fetch"));
    assertEquals(agents, limits(set, ALICE, "fetch"));
    ToolDecision sha = set.decideTool(ALICE, "sha256");
    for (ToolDecision d : List.of(sha, set.decideTool(BOB, "fetch"),
        set.decideTool(ROOT, "fetch"))) {
      assertTrue(docs.contains("\n" + d.reason() + "\n"), "the docs quote " + d.reason());
    }
  }

  @Test
  void limitsSpecRangesAndTheStricterOfTwo() {
    ToolLimitsSpec a = new ToolLimitsSpec(100, 50L, null, 4);
    ToolLimitsSpec b = new ToolLimitsSpec(200, 10L, 7L, null);
    assertEquals(new ToolLimitsSpec(100, 10L, 7L, 4), a.stricter(b));
    assertEquals(a.stricter(b), b.stricter(a));
    assertSame(a, a.stricter(ToolLimitsSpec.NONE));
    assertSame(b, ToolLimitsSpec.NONE.stricter(b));
    assertTrue(ToolLimitsSpec.NONE.isNone());
    assertFalse(a.isNone());
    assertNull(b.concurrency());
    assertEquals("memoryPages=100, wallMs=50, concurrency=4", a.toString());
    assertEquals("none", ToolLimitsSpec.NONE.toString());
    new ToolLimitsSpec(65_536, 3_600_000L, 4_294_967_296L, 256);
    new ToolLimitsSpec(1, 1L, 1L, 1);
    assertEquals("memoryPages must be from 1 to 65536, got 65537",
        assertThrows(IllegalArgumentException.class,
            () -> new ToolLimitsSpec(65_537, null, null, null)).getMessage());
    assertThrows(IllegalArgumentException.class, () -> new ToolLimitsSpec(null, 0L, null, null));
    assertThrows(IllegalArgumentException.class,
        () -> new ToolLimitsSpec(null, null, 4_294_967_297L, null));
    assertThrows(IllegalArgumentException.class, () -> new ToolLimitsSpec(null, null, null, 257));
    assertThrows(IllegalArgumentException.class,
        () -> new ToolDecision(false, "denied", new ToolLimitsSpec(1, null, null, null)));
  }
}
