package dev.clawfs.policy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every way a policy file can be wrong, read from a real file, with the exact message an admin
 * sees: file, line and column of the offending key or value, and the reason.
 */
class PolicyErrorsTest {

  @TempDir Path dir;

  private void assertError(String file, String text, String message) throws Exception {
    Path path = dir.resolve(file);
    Files.writeString(path, text);
    PolicyException e = assertThrows(PolicyException.class, () -> Policy.load(path));
    assertEquals(message, e.getMessage());
    assertEquals(file, e.source());
  }

  private static final String HEAD = "version: 1\nrules:\n";

  @Test
  void yamlSyntaxErrorPointsAtTheBadSpot() throws Exception {
    assertError("p.yaml", HEAD + """
          - subject: any
            allow: [read]
           paths: ["/specs/**"]
        """,
        "p.yaml:5:4: syntax error: expected <block end>, but found '<block mapping start>';"
            + " check the indentation (while parsing a block collection that starts at line 3)");
    assertError("p.yaml", HEAD + """
          - subject: any
            allow: [read
            paths: ["/specs/**"]
        """,
        "p.yaml:5:10: syntax error: expected ',' or ']', but got :"
            + " (while parsing a flow sequence that starts at line 4)");
    assertError("p.yaml", "version: 1\nrules:\n\t- subject: any\n",
        "p.yaml:3:1: syntax error: found character '\\t(TAB)' that cannot start any token."
            + " (Do not use \\t(TAB) for indentation)");
  }

  @Test
  void jsonSyntaxError() throws Exception {
    assertError("p.json", """
        {"version": 1,
         "rules": [
          {"subject": "any", "allow": ["read"] "paths": ["/specs/**"]}
         ]}
        """,
        "p.json:3:40: syntax error: Unexpected character ('\"' (code 34)):"
            + " was expecting comma to separate Object entries");
  }

  @Test
  void emptyFiles() throws Exception {
    assertError("p.yaml", "", "p.yaml:1:1: empty policy file; it needs at least 'version: 1'");
    assertError("p.yaml", "# nothing yet\n\n",
        "p.yaml:1:1: empty policy file; it needs at least 'version: 1'");
    assertError("p.json", "  ", "p.json:1:1: empty policy file; it needs at least 'version: 1'");
  }

  @Test
  void topLevel() throws Exception {
    assertError("p.yaml", "version: 2\n",
        "p.yaml:1:10: 'version' must be 1, got an integer (2)");
    assertError("p.yaml", "version: \"1\"\n",
        "p.yaml:1:10: 'version' must be 1, got a string (\"1\")");
    assertError("p.yaml", "rules: []\n", "p.yaml:1:1: missing 'version: 1'");
    assertError("p.yaml", "version: 1\nrule:\n  - subject: any\n",
        "p.yaml:2:1: unknown key 'rule' at the top level; valid keys: version, rules, anomalies,"
            + " tools, endpoints, injection");
    assertError("p.yaml", "version: 1\nversion: 1\n",
        "p.yaml:2:1: duplicate key 'version' (first at line 1)");
    assertError("p.yaml", "- version: 1\n",
        "p.yaml:1:1: the policy file must be a mapping (key: value lines), got a list");
    assertError("p.yaml", "version: 1\n---\nversion: 1\n",
        "p.yaml:3:1: a policy file holds one document; found a second one");
    assertError("p.yaml", "version: 1\nrules: /specs/**\n",
        "p.yaml:2:8: 'rules' must be a list ([a, b] or \"- a\" lines), got a string"
            + " (\"/specs/**\")");
    assertError("p.yaml", HEAD + "  - /specs/**\n",
        "p.yaml:3:5: a rule must be a mapping (key: value lines), got a string (\"/specs/**\")");
  }

  @Test
  void unknownKeyInARuleListsTheValidOnes() throws Exception {
    assertError("p.yaml", HEAD + """
          - subject: any
            allow: [read]
            path: ["/specs/**"]
        """,
        "p.yaml:5:5: unknown key 'path' in a rule; valid keys: subject, allow, deny, paths,"
            + " secrets");
  }

  @Test
  void unknownActionListsTheValidOnes() throws Exception {
    assertError("p.yaml", HEAD + """
          - subject: any
            allow:
              - read
              - exec
            paths: ["/tools/**"]
        """,
        "p.yaml:6:9: unknown action 'exec'; valid actions: read, write, list, create, delete");
  }

  @Test
  void subjects() throws Exception {
    assertError("p.yaml", HEAD + """
          - subject: admins
            allow: [read]
            paths: ["/specs/**"]
        """,
        "p.yaml:3:14: unknown subject \"admins\"; valid subjects: any, root, agents, agent:NAME,"
            + " users, uid:N, gid:N");
    assertError("p.yaml", HEAD + """
          - subject: agent:../bob
            allow: [read]
            paths: ["/specs/**"]
        """,
        "p.yaml:3:14: bad subject \"agent:../bob\": the agent name must be a single name"
            + " without \"/\"");
    assertError("p.yaml", HEAD + """
          - subject: uid:-1
            allow: [read]
            paths: ["/specs/**"]
        """,
        "p.yaml:3:14: bad subject \"uid:-1\": uid needs a number 0..4294967295");
    assertError("p.yaml", HEAD + """
          - allow: [read]
            paths: ["/specs/**"]
        """,
        "p.yaml:3:5: rule is missing 'subject' (one of any, root, agents, agent:NAME, users,"
            + " uid:N, gid:N)");
    assertError("p.yaml", HEAD + """
          - subject: [agents]
            allow: [read]
            paths: ["/specs/**"]
        """,
        "p.yaml:3:14: expected a subject, got a list");
  }

  @Test
  void badGlobs() throws Exception {
    assertError("p.yaml", HEAD + """
          - subject: any
            allow: [read]
            paths:
              - /specs/**
              - specs/drafts/**
        """,
        "p.yaml:7:9: bad glob \"specs/drafts/**\": must be absolute (start with \"/\")");
    assertError("p.yaml", HEAD + """
          - subject: any
            deny: [read]
            paths: ["/workspaces/p/../../vault/k"]
        """,
        "p.yaml:5:13: bad glob \"/workspaces/p/../../vault/k\": must not contain \"..\"");
    assertError("p.yaml", HEAD + """
          - subject: any
            allow: [read]
            paths: ["/specs/", "/tools/**"]
        """,
        "p.yaml:5:13: bad glob \"/specs/\": must not end with \"/\"");
    assertError("p.yaml", HEAD + """
          - subject: users
            allow: [read]
            paths: ["/agents/${agent}/**"]
        """,
        "p.yaml:5:13: \"/agents/${agent}/**\" uses ${agent} but subject 'users' is never an"
            + " agent, so it would match nothing");
    assertError("p.yaml", HEAD + """
          - subject: any
            allow: [read]
            paths: [42]
        """,
        "p.yaml:5:13: expected a glob, got an integer (42)");
  }

  @Test
  void wildcardIntoVaultInANonRootAllowIsRefused() throws Exception {
    String advice = ": vault secrets are granted only by name, with /vault/<name> or"
        + " 'secrets: [name]'; list the folders a broad rule means (\"/workspaces/**\", ...)"
        + " instead";
    assertError("p.yaml", HEAD + """
          - subject: agents
            allow: [read, list]
            paths: ["/**"]
        """,
        "p.yaml:5:13: allow glob \"/**\" could reach into /vault (its leading \"**\" reaches"
            + " into /vault)" + advice);
    assertError("p.yaml", HEAD + """
          - subject: agent:librarian
            allow: [read]
            paths:
              - /vault/openrouter-key
              - /vault/*
        """,
        "p.yaml:7:9: allow glob \"/vault/*\" could reach into /vault (names no single secret)"
            + advice);
    assertError("p.yaml", HEAD + """
          - subject: users
            allow: [read]
            paths: ["/*/api-key"]
        """,
        "p.yaml:5:13: allow glob \"/*/api-key\" could reach into /vault (its first segment \"*\""
            + " matches \"vault\")" + advice);
  }

  @Test
  void wildcardsIntoVaultAreFineForRootAndForDenies() throws Exception {
    Path path = dir.resolve("ok.yaml");
    Files.writeString(path, HEAD + """
          - subject: root
            allow: [read]
            paths: ["/**"]
          - subject: agents
            deny: [read]
            paths: ["/vault/**"]
        """);
    Policy.load(path);
  }

  @Test
  void secretNames() throws Exception {
    assertError("p.yaml", HEAD + """
          - subject: agent:librarian
            secrets: [openrouter-key, ../etc/shadow]
        """,
        "p.yaml:4:31: bad secret name \"../etc/shadow\": a secret name must be a single name"
            + " without \"/\"");
    assertError("p.yaml", HEAD + """
          - subject: agent:librarian
            secrets: [".."]
        """,
        "p.yaml:4:15: bad secret name \"..\": a secret name must not be \".\" or \"..\"");
    assertError("p.yaml", HEAD + """
          - subject: agent:librarian
            allow: [read]
            paths: ["/vault/../vault/x"]
        """,
        "p.yaml:5:13: bad glob \"/vault/../vault/x\": must not contain \"..\"");
    assertError("p.yaml", HEAD + """
          - subject: agent:librarian
            allow: [read]
            paths: ["/vault/my key"]
        """,
        "p.yaml:5:13: allow glob \"/vault/my key\" could reach into /vault (secret name"
            + " \"my key\" may only contain letters, digits, '.', '_' and '-' (found ' ')):"
            + " vault secrets are granted only by name, with /vault/<name> or 'secrets: [name]';"
            + " list the folders a broad rule means (\"/workspaces/**\", ...) instead");
    assertError("p.yaml", HEAD + """
          - subject: agent:librarian
            secrets: []
        """,
        "p.yaml:4:14: 'secrets' must not be empty");
  }

  @Test
  void ruleShape() throws Exception {
    assertError("p.yaml", HEAD + """
          - subject: agents
            allow: [read]
        """,
        "p.yaml:3:5: rule is missing 'paths' (a list of globs such as \"/workspaces/**\")");
    assertError("p.yaml", HEAD + """
          - subject: agents
            paths: ["/specs/**"]
        """,
        "p.yaml:3:5: a rule needs 'allow', 'deny' or 'secrets'");
    assertError("p.yaml", HEAD + """
          - subject: agents
            allow: [read]
            deny: [write]
            paths: ["/specs/**"]
        """,
        "p.yaml:5:5: a rule either allows or denies; put 'deny' in a rule of its own");
    assertError("p.yaml", HEAD + """
          - subject: agent:librarian
            secrets: [openrouter-key]
            paths: ["/specs/**"]
        """,
        "p.yaml:5:5: 'secrets' is a rule of its own and cannot be combined with 'paths'; write a"
            + " separate rule");
    assertError("p.yaml", HEAD + """
          - subject: agents
            allow: read
            paths: ["/specs/**"]
        """,
        "p.yaml:4:12: 'allow' must be a list ([a, b] or \"- a\" lines), got a string (\"read\")");
    assertError("p.yaml", HEAD + """
          - subject: agents
            allow: []
            paths: ["/specs/**"]
        """,
        "p.yaml:4:12: 'allow' must not be empty");
    assertError("p.yaml", HEAD + """
          - subject: agents
            allow: [read]
            paths:
        """,
        "p.yaml:5:11: 'paths' must be a list ([a, b] or \"- a\" lines), got nothing (null)");
  }

  private static final String ANOMALIES = "version: 1\nanomalies:\n";

  @Test
  void anomalyCounts() throws Exception {
    assertError("p.yaml", ANOMALIES + """
          - name: burst
            subject: agents
            kind: denials
            count: -5
            window: 10s
        """,
        "p.yaml:6:12: 'count' must be a whole number from 1 to 10000, got an integer (-5)");
    assertError("p.yaml", ANOMALIES + """
          - name: burst
            subject: agents
            kind: denials
            count: "20"
            window: 10s
        """,
        "p.yaml:6:12: 'count' must be a whole number from 1 to 10000, got a string (\"20\")");
    assertError("p.yaml", ANOMALIES + """
          - name: burst
            subject: agents
            kind: denials
            window: 10s
        """,
        "p.yaml:3:5: denials anomaly rule is missing 'count'");
  }

  @Test
  void anomalyWindows() throws Exception {
    String hint = "; write a positive whole number and a unit: ms, s, m or h (\"500ms\", \"10s\","
        + " \"1m\")";
    for (String bad : new String[] {"10 sec", "10", "s", "-1s", "1.5s"}) {
      assertError("p.yaml", ANOMALIES + """
            - name: burst
              subject: agents
              kind: reads
              count: 3
              window: "%s"
          """.formatted(bad),
          "p.yaml:7:13: bad window \"" + bad + "\"" + hint);
    }
    assertError("p.yaml", ANOMALIES + """
          - name: burst
            subject: agents
            kind: reads
            count: 3
            window: 0ms
        """,
        "p.yaml:7:13: bad window \"0ms\": it must be more than 0 and at most 24h");
    assertError("p.yaml", ANOMALIES + """
          - name: burst
            subject: agents
            kind: reads
            count: 3
            window: 25h
        """,
        "p.yaml:7:13: bad window \"25h\": it must be more than 0 and at most 24h");
    assertError("p.yaml", ANOMALIES + """
          - name: burst
            subject: agents
            kind: reads
            count: 3
            window: 10
        """,
        "p.yaml:7:13: 'window' must be a duration such as \"10s\", got an integer (10)" + hint);
  }

  @Test
  void anomalyKindsAndTheirKeys() throws Exception {
    assertError("p.yaml", ANOMALIES + """
          - name: w
            subject: agents
            kind: writes
            count: 3
            window: 1s
        """,
        "p.yaml:5:11: unknown anomaly kind 'writes'; valid kinds: denials, reads, exec");
    assertError("p.yaml", ANOMALIES + """
          - name: shell
            subject: agents
            kind: exec
            count: 1
            programs: [sh]
        """,
        "p.yaml:6:5: 'count' does not apply to kind 'exec' (keys for exec: name, subject, kind,"
            + " programs)");
    assertError("p.yaml", ANOMALIES + """
          - name: shell
            subject: agents
            kind: exec
            programs: [sh, /bin/bash]
        """,
        "p.yaml:6:20: bad program name \"/bin/bash\": give the basename (\"bash\", not"
            + " \"/bin/bash\"); a program name must be a single name without \"/\"");
    assertError("p.yaml", ANOMALIES + """
          - name: reads
            subject: agents
            kind: reads
            programs: [sh]
            count: 3
            window: 1s
        """,
        "p.yaml:6:5: 'programs' does not apply to kind 'reads' (keys for reads: name, subject,"
            + " kind, count, window)");
    assertError("p.yaml", ANOMALIES + """
          - name: a
            subject: agents
            kind: exec
            programs: [sh]
          - name: a
            subject: users
            kind: exec
            programs: [sh]
        """,
        "p.yaml:7:11: duplicate anomaly name 'a' (first at line 3)");
    assertError("p.yaml", ANOMALIES + """
          - subject: agents
            kind: exec
            programs: [sh]
        """,
        "p.yaml:3:5: anomaly rule is missing 'name'");
    assertError("p.yaml", ANOMALIES + """
          - name: a
            subjects: agents
            kind: exec
        """,
        "p.yaml:4:5: unknown key 'subjects' in an anomaly rule; valid keys: name, subject, kind,"
            + " count, window, programs");
  }

  private static final String TOOLS = "version: 1\ntools:\n";

  @Test
  void toolRuleShape() throws Exception {
    assertError("p.yaml", "version: 1\ntools: wc\n",
        "p.yaml:2:8: 'tools' must be a list ([a, b] or \"- a\" lines), got a string (\"wc\")");
    assertError("p.yaml", TOOLS + "  - wc\n",
        "p.yaml:3:5: a tool rule must be a mapping (key: value lines), got a string (\"wc\")");
    assertError("p.yaml", TOOLS + """
          - subject: agents
            tool: [wc]
        """,
        "p.yaml:4:5: unknown key 'tool' in a tool rule; valid keys: subject, allow, deny,"
            + " limits");
    assertError("p.yaml", TOOLS + """
          - allow: [wc]
        """,
        "p.yaml:3:5: tool rule is missing 'subject' (one of any, root, agents, agent:NAME,"
            + " users, uid:N, gid:N)");
    assertError("p.yaml", TOOLS + """
          - subject: admins
            allow: [wc]
        """,
        "p.yaml:3:14: unknown subject \"admins\"; valid subjects: any, root, agents,"
            + " agent:NAME, users, uid:N, gid:N");
    assertError("p.yaml", TOOLS + """
          - subject: agents
        """,
        "p.yaml:3:5: a tool rule needs 'allow', 'deny' or 'limits'");
    assertError("p.yaml", TOOLS + """
          - subject: agents
            allow: [wc]
            deny: [sha256]
        """,
        "p.yaml:5:5: a tool rule either allows or denies; put 'deny' in a tool rule of its own");
    assertError("p.yaml", TOOLS + """
          - subject: agents
            allow: wc
        """,
        "p.yaml:4:12: 'allow' must be a list ([a, b] or \"- a\" lines), got a string (\"wc\")");
    assertError("p.yaml", TOOLS + """
          - subject: agents
            deny: []
        """,
        "p.yaml:4:11: 'deny' must not be empty");
  }

  @Test
  void toolGlobs() throws Exception {
    String alphabet = "a tool glob may only contain a-z, 0-9, '.', '_', '-' and '*'";
    assertError("p.yaml", TOOLS + """
          - subject: agents
            allow: [wc, Sha256]
        """,
        "p.yaml:4:17: bad tool glob \"Sha256\": " + alphabet + " (found 'S')");
    assertError("p.yaml", TOOLS + """
          - subject: agents
            deny:
              - sha256
              - tools/sha256
        """,
        "p.yaml:6:9: bad tool glob \"tools/sha256\": " + alphabet + " (found '/')");
    assertError("p.yaml", TOOLS + """
          - subject: agents
            allow: ["sha?"]
        """,
        "p.yaml:4:13: bad tool glob \"sha?\": " + alphabet + " (found '?')");
    assertError("p.yaml", TOOLS + """
          - subject: agents
            allow: ["my tool"]
        """,
        "p.yaml:4:13: bad tool glob \"my tool\": " + alphabet + " (found ' ')");
    assertError("p.yaml", TOOLS + """
          - subject: agents
            allow: [""]
        """,
        "p.yaml:4:13: bad tool glob \"\": it is empty; \"*\" matches every tool");
    assertError("p.yaml", TOOLS + """
          - subject: agents
            allow: [".hidden*"]
        """,
        "p.yaml:4:13: bad tool glob \".hidden*\": a tool name starts with a letter or digit, so"
            + " it would match no tool");
    String long65 = "*" + "a".repeat(65);
    assertError("p.yaml", TOOLS + """
          - subject: agents
            allow: ["%s"]
        """.formatted(long65),
        "p.yaml:4:13: bad tool glob \"" + long65 + "\": it has more than 64 characters besides"
            + " '*', and a tool name has at most 64, so it would match no tool");
    assertError("p.yaml", TOOLS + """
          - subject: agents
            allow: [42]
        """,
        "p.yaml:4:13: expected a tool glob, got an integer (42)");
  }

  @Test
  void toolLimits() throws Exception {
    assertError("p.yaml", TOOLS + """
          - subject: agents
            limits: {memoryPages: 0}
        """,
        "p.yaml:4:27: 'memoryPages' must be a whole number from 1 to 65536, got an integer (0)");
    assertError("p.yaml", TOOLS + """
          - subject: agents
            limits: {memoryPages: 65537}
        """,
        "p.yaml:4:27: 'memoryPages' must be a whole number from 1 to 65536, got an integer"
            + " (65537)");
    assertError("p.yaml", TOOLS + """
          - subject: agents
            allow: ["*"]
            limits:
              memoryPages: 256
              wallMs: 3600001
        """,
        "p.yaml:7:15: 'wallMs' must be a whole number from 1 to 3600000, got an integer"
            + " (3600001)");
    assertError("p.yaml", TOOLS + """
          - subject: agents
            limits: {wallMs: 10s}
        """,
        "p.yaml:4:22: 'wallMs' must be a whole number from 1 to 3600000, got a string"
            + " (\"10s\")");
    assertError("p.yaml", TOOLS + """
          - subject: agents
            limits: {outputBytes: 4294967297}
        """,
        "p.yaml:4:27: 'outputBytes' must be a whole number from 1 to 4294967296, got an integer"
            + " (4294967297)");
    assertError("p.yaml", TOOLS + """
          - subject: agents
            limits: {outputBytes: 99999999999999999999}
        """,
        "p.yaml:4:27: 'outputBytes' must be a whole number from 1 to 4294967296, got an integer"
            + " (99999999999999999999)");
    assertError("p.yaml", TOOLS + """
          - subject: agents
            limits: {concurrency: 257}
        """,
        "p.yaml:4:27: 'concurrency' must be a whole number from 1 to 256, got an integer (257)");
    assertError("p.yaml", TOOLS + """
          - subject: agents
            limits: {concurrency: 1.5}
        """,
        "p.yaml:4:27: 'concurrency' must be a whole number from 1 to 256, got a number (1.5)");
    assertError("p.yaml", TOOLS + """
          - subject: agents
            limits:
              concurrency:
        """,
        "p.yaml:5:19: 'concurrency' must be a whole number from 1 to 256, got nothing (null)");
    assertError("p.yaml", TOOLS + """
          - subject: agents
            limits: {wallMs: 100, memory: 5}
        """,
        "p.yaml:4:27: unknown key 'memory' in tool limits; valid keys: memoryPages, wallMs,"
            + " outputBytes, concurrency");
    assertError("p.yaml", TOOLS + """
          - subject: agents
            limits: {}
        """,
        "p.yaml:4:13: 'limits' must not be empty; set one or more of memoryPages, wallMs,"
            + " outputBytes, concurrency");
    assertError("p.yaml", TOOLS + """
          - subject: agents
            limits: [256]
        """,
        "p.yaml:4:13: 'limits' must be a mapping (key: value lines), got a list");
    assertError("p.yaml", TOOLS + """
          - subject: agents
            limits:
        """,
        "p.yaml:4:12: 'limits' must be a mapping (key: value lines), got nothing (null)");
  }

  @Test
  void toolLimitsAtTheirBoundsAreValid() throws Exception {
    Path path = dir.resolve("ok.yaml");
    Files.writeString(path, TOOLS + """
          - subject: agents
            limits: {memoryPages: 65536, wallMs: 3600000, outputBytes: 4294967296, concurrency: 256}
          - subject: users
            limits: {memoryPages: 1, wallMs: 1, outputBytes: 1, concurrency: 1}
        """);
    assertEquals(2, Policy.load(path).toolRuleCount());
  }

  private static final String ENDPOINTS = "version: 1\nendpoints:\n";

  @Test
  void endpointRuleShape() throws Exception {
    assertError("p.yaml", "version: 1\nendpoints: https://openrouter.ai\n",
        "p.yaml:2:12: 'endpoints' must be a list ([a, b] or \"- a\" lines), got a string"
            + " (\"https://openrouter.ai\")");
    assertError("p.yaml", ENDPOINTS + "  - https://openrouter.ai\n",
        "p.yaml:3:5: an endpoint rule must be a mapping (key: value lines), got a string"
            + " (\"https://openrouter.ai\")");
    assertError("p.yaml", ENDPOINTS + """
          - subject: agents
            urls: ["https://openrouter.ai"]
        """,
        "p.yaml:4:5: unknown key 'urls' in an endpoint rule; valid keys: subject, allow, deny");
    assertError("p.yaml", ENDPOINTS + """
          - allow: ["https://openrouter.ai"]
        """,
        "p.yaml:3:5: endpoint rule is missing 'subject' (one of any, root, agents, agent:NAME,"
            + " users, uid:N, gid:N)");
    assertError("p.yaml", ENDPOINTS + """
          - subject: agent:../x
            allow: ["https://openrouter.ai"]
        """,
        "p.yaml:3:14: bad subject \"agent:../x\": the agent name must be a single name without"
            + " \"/\"");
    assertError("p.yaml", ENDPOINTS + """
          - subject: agents
        """,
        "p.yaml:3:5: an endpoint rule needs 'allow' or 'deny' (a list of URL patterns such as"
            + " \"https://openrouter.ai/api/v1\")");
    assertError("p.yaml", ENDPOINTS + """
          - subject: agents
            allow: ["https://openrouter.ai"]
            deny: ["https://openrouter.ai/api/v0"]
        """,
        "p.yaml:5:5: an endpoint rule either allows or denies; put 'deny' in an endpoint rule of"
            + " its own");
    assertError("p.yaml", ENDPOINTS + """
          - subject: agents
            allow: https://openrouter.ai
        """,
        "p.yaml:4:12: 'allow' must be a list ([a, b] or \"- a\" lines), got a string"
            + " (\"https://openrouter.ai\")");
    assertError("p.yaml", ENDPOINTS + """
          - subject: agents
            deny: []
        """,
        "p.yaml:4:11: 'deny' must not be empty");
    assertError("p.yaml", ENDPOINTS + """
          - subject: agents
            allow: [42]
        """,
        "p.yaml:4:13: expected an endpoint pattern, got an integer (42)");
  }

  @Test
  void endpointPatterns() throws Exception {
    String[][] cases = {
      {"openrouter.ai/api/v1", "write scheme://host[:port][/path], such as"
          + " \"https://openrouter.ai/api/v1\""},
      {"ftp://files.example.com", "the scheme must be http or https (found \"ftp\")"},
      {"https://user:pw@openrouter.ai", "a user name or password (\"user:password@\") is not"
          + " allowed; send credentials in a header"},
      {"https://*", "a wildcard host needs a domain after \"*.\" (\"*.example.com\"); no"
          + " pattern matches every host"},
      {"https://*:443", "a wildcard host needs a domain after \"*.\" (\"*.example.com\"); no"
          + " pattern matches every host"},
      {"https://*.", "a wildcard host needs a domain after \"*.\" (\"*.example.com\")"},
      {"https://api.*.com", "'*' may only be the whole first label of a host"
          + " (\"*.example.com\")"},
      {"https://*api.example.com", "'*' may only be the whole first label of a host"
          + " (\"*.example.com\")"},
      {"https://*.*.example.com", "'*' may only be the whole first label of a host"
          + " (\"*.example.com\")"},
      {"http://*.0.0.1", "a wildcard host needs a domain name after \"*.\", not an address"},
      {"http://[*]:80", "\"[*]\" is not an IPv6 address"},
      {"https://api.example.com:99999", "bad port \"99999\": a port is a number from 1 to 65535"
          + " or \"*\""},
      {"https://api.example.com:x", "bad port \"x\": a port is a number from 1 to 65535 or"
          + " \"*\""},
      {"https://openrouter.ai/api/v1?x=1", "a pattern has no query or fragment ('?' or '#')"},
      {"https://openrouter.ai/api#v1", "a pattern has no query or fragment ('?' or '#')"},
      {"https://openrouter.ai/api/*", "the path is a prefix and takes no '*': \"/api\" matches"
          + " /api and every path below it"},
      {"https://openrouter.ai/api/../v1", "the path has a \"..\" segment"},
      {"https://openrouter.ai//api", "the path has an empty segment (\"//\")"},
      {"http://[::1", "the IPv6 address has no closing ']'"},
      {"http://::1:8080", "an IPv6 address must be in brackets (\"http://[::1]:8080\")"},
      {"http://127.1:*", "\"127.1\" is not an IPv4 address of four decimal numbers 0-255"
          + " without leading zeros (such as 127.0.0.1)"},
      {"https://bad!host.com", "the host may only contain letters, digits, '-', '_' and '.'"
          + " (found '!')"},
      {"https://" + "a".repeat(64) + ".com", "a label of the host is longer than 63"
          + " characters"},
      {"https://open router.ai", "spaces and control characters are not allowed (found ' ')"},
    };
    for (String[] c : cases) {
      assertError("p.yaml", ENDPOINTS + """
            - subject: agents
              allow: ["https://openrouter.ai", "%s"]
          """.formatted(c[0]),
          "p.yaml:4:38: bad endpoint pattern \"" + c[0] + "\": " + c[1]);
    }
  }

  @Test
  void endpointPatternsThatAreValid() throws Exception {
    Path path = dir.resolve("ok.yaml");
    Files.writeString(path, ENDPOINTS + """
          - subject: agents
            allow:
              - https://openrouter.ai/api/v1
              - http://127.0.0.1:*
              - http://[::1]:*
              - http://localhost:11434/
              - https://*.example.com:8443/v1/
              - HTTPS://API.Example.COM
              - http://ollama_server:11434
              - https://h.test/caf%C3%A9
          - subject: agent:bob
            deny: ["https://*.example.com"]
        """);
    Policy p = Policy.load(path);
    assertEquals(2, p.endpointRuleCount());
    assertEquals(java.util.List.of(), p.warnings());
  }

  private static final String INJECTION = "version: 1\ninjection:\n";
  private static final String NAME_RULE =
      "a name is 1 to 40 characters a-z, 0-9 and '-', starting with a letter or digit";

  @Test
  void injectionEntryShape() throws Exception {
    assertError("p.yaml", "version: 1\ninjection: flag\n",
        "p.yaml:2:12: 'injection' must be a list ([a, b] or \"- a\" lines), got a string"
            + " (\"flag\")");
    assertError("p.yaml", INJECTION + "  - ignore\n",
        "p.yaml:3:5: an injection pattern must be a mapping (key: value lines), got a string"
            + " (\"ignore\")");
    assertError("p.yaml", INJECTION + """
          - name: x
            regex: 'x'
            action: flag
        """,
        "p.yaml:4:5: unknown key 'regex' in an injection pattern; valid keys: name, pattern,"
            + " action, subject");
    assertError("p.yaml", INJECTION + """
          - pattern: 'x'
            action: flag
        """,
        "p.yaml:3:5: injection pattern is missing 'name'");
    assertError("p.yaml", INJECTION + """
          - name: Ignore_All
            pattern: 'x'
            action: flag
        """,
        "p.yaml:3:11: bad injection pattern name \"Ignore_All\": " + NAME_RULE);
    assertError("p.yaml", INJECTION + """
          - name: "%s"
            pattern: 'x'
            action: flag
        """.formatted("x".repeat(41)),
        "p.yaml:3:11: bad injection pattern name \"" + "x".repeat(41) + "\": " + NAME_RULE);
    assertError("p.yaml", INJECTION + """
          - name: ""
            pattern: 'x'
            action: flag
        """,
        "p.yaml:3:11: bad injection pattern name \"\": " + NAME_RULE);
    assertError("p.yaml", INJECTION + """
          - name: -x
            pattern: 'x'
            action: flag
        """,
        "p.yaml:3:11: bad injection pattern name \"-x\": " + NAME_RULE);
    assertError("p.yaml", INJECTION + """
          - name: 42
            pattern: 'x'
            action: flag
        """,
        "p.yaml:3:11: expected a name, got an integer (42)");
    assertError("p.yaml", INJECTION + """
          - name: a
            pattern: 'x'
            action: flag
          - name: a
            pattern: 'y'
            action: block
        """,
        "p.yaml:6:11: duplicate injection pattern name 'a' (first at line 3)");
    assertError("p.yaml", INJECTION + """
          - name: a
            pattern: 'x'
        """,
        "p.yaml:3:5: injection pattern 'a' is missing 'action' (flag, block or off)");
    assertError("p.yaml", INJECTION + """
          - name: a
            pattern: 'x'
            action: warn
        """,
        "p.yaml:5:13: unknown injection action 'warn'; valid actions: flag, block, off");
    assertError("p.yaml", INJECTION + """
          - name: a
            pattern: 'x'
            action: BLOCK
        """,
        "p.yaml:5:13: unknown injection action 'BLOCK'; valid actions: flag, block, off");
    assertError("p.yaml", INJECTION + """
          - name: a
            pattern: 'x'
            action: on
        """,
        "p.yaml:5:13: expected an action (flag, block or off), got a boolean (true)");
    assertError("p.yaml", INJECTION + """
          - name: a
            action: flag
        """,
        "p.yaml:3:5: injection pattern 'a' is missing 'pattern' (a Java regular expression)");
    assertError("p.yaml", INJECTION + """
          - name: a
            action: off
            pattern: 'x'
        """,
        "p.yaml:5:5: 'pattern' does not apply to action 'off': an off entry only names the"
            + " pattern it turns off");
    assertError("p.yaml", INJECTION + """
          - name: a
            pattern: 42
            action: flag
        """,
        "p.yaml:4:14: expected a regular expression, got an integer (42)");
    assertError("p.yaml", INJECTION + """
          - name: a
            pattern: 'x'
            action: flag
            subject: admins
        """,
        "p.yaml:6:14: unknown subject \"admins\"; valid subjects: any, root, agents, agent:NAME,"
            + " users, uid:N, gid:N");
  }

  @Test
  void injectionRegexes() throws Exception {
    String entry = INJECTION + """
          - name: x
            action: flag
            pattern: '%s'
        """;
    assertError("p.yaml", entry.formatted("(ab|cd"),
        "p.yaml:5:14: bad regex in injection pattern 'x': Unclosed group near index 6");
    assertError("p.yaml", entry.formatted("[a-"),
        "p.yaml:5:14: bad regex in injection pattern 'x': Illegal character range near index 3");
    assertError("p.yaml", entry.formatted("*x"),
        "p.yaml:5:14: bad regex in injection pattern 'x': Dangling meta character '*' near"
            + " index 0");
    assertError("p.yaml", entry.formatted("a".repeat(501)),
        "p.yaml:5:14: injection pattern 'x' is 501 characters long; at most 500");
    assertError("p.yaml", entry.formatted(""),
        "p.yaml:5:14: injection pattern 'x' matches the empty text, so it would match every"
            + " file");
    assertError("p.yaml", entry.formatted("(secret)?"),
        "p.yaml:5:14: injection pattern 'x' matches the empty text, so it would match every"
            + " file");
    assertError("p.yaml", entry.formatted("(a+)+b"),
        "p.yaml:5:14: injection pattern 'x' may backtrack catastrophically: the repeat"
            + " \"(a+)+\" holds another repeat, \"a+\"; make the inner one possessive (\"a++\")"
            + " or atomic (\"(?>a+)\"), or drop a repeat");
    assertError("p.yaml", entry.formatted("x(.*)*y"),
        "p.yaml:5:14: injection pattern 'x' may backtrack catastrophically: the repeat"
            + " \"(.*)*\" repeats a part that can match the empty text");
    assertError("p.yaml", entry.formatted("(x|x)*y"),
        "p.yaml:5:14: injection pattern 'x' may backtrack catastrophically: the repeat"
            + " \"(x|x)*\" holds an alternation, \"x|x\", two of whose branches can start with"
            + " the same character; give each branch a different first character, or use a"
            + " character class ([ab]) for single characters");
    assertError("p.yaml", entry.formatted("(?x) a b"),
        "p.yaml:5:14: injection pattern 'x': the comments flag (?x) is not supported here");
    Path ok = dir.resolve("ok.yaml");
    Files.writeString(ok, entry.formatted("a".repeat(500)));
    assertEquals(java.util.List.of("x"), Policy.load(ok).injectionNames());
  }

  @Test
  void jsonErrorsHaveLinesToo() throws Exception {
    assertError("p.json", """
        {
          "version": 1,
          "rules": [
            {"subject": "agents",
             "allow": ["read", "list"],
             "paths": ["/workspaces/**", "/vault/*"]}
          ]
        }
        """,
        "p.json:6:34: allow glob \"/vault/*\" could reach into /vault (names no single secret):"
            + " vault secrets are granted only by name, with /vault/<name> or 'secrets: [name]';"
            + " list the folders a broad rule means (\"/workspaces/**\", ...) instead");
    assertError("p.json", """
        {"version": 1,
         "tools": [
          {"subject": "agents", "limits": {"wallMs": 0}}
         ]}
        """,
        "p.json:3:46: 'wallMs' must be a whole number from 1 to 3600000, got an integer (0)");
    assertError("p.json", """
        {"version": 1,
         "endpoints": [{"subject": "agents", "allow": ["https://user@openrouter.ai"]}],
         "injection": [{"name": "x", "pattern": "(a+)+", "action": "flag"}]
        }
        """,
        "p.json:2:48: bad endpoint pattern \"https://user@openrouter.ai\": a user name or"
            + " password (\"user:password@\") is not allowed; send credentials in a header");
    assertError("p.json", """
        {"version": 1,
         "injection": [{"name": "x", "pattern": "(a+", "action": "flag"}]
        }
        """,
        "p.json:2:41: bad regex in injection pattern 'x': Unclosed group near index 3");
  }
}
