package dev.clawfs.policy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Which agent may call which model endpoint, over policy files read from disk. */
class EndpointDecisionTest {

  @TempDir Path dir;

  private static final Subject BOB = Subject.agent(1001, 1001, "bob");
  private static final Subject ALICE = Subject.agent(1002, 1002, "alice");
  private static final Subject CODER = Subject.agent(1004, 1004, "coder");
  private static final Subject USER = Subject.user(1000, 100);
  private static final Subject ROOT = Subject.user(0, 0);

  private Policy write(String name, String text) throws Exception {
    Path file = dir.resolve(name);
    Files.writeString(file, text);
    return Policy.load(file);
  }

  private static void allowed(PolicySet set, Subject s, String url, String reason) {
    EndpointDecision d = set.decideEndpoint(s, url);
    assertTrue(d.allowed(), s + " " + url + ": " + d);
    assertEquals(reason, d.reason(), s + " " + url);
  }

  private static void denied(PolicySet set, Subject s, String url, String reason) {
    EndpointDecision d = set.decideEndpoint(s, url);
    assertFalse(d.allowed(), s + " " + url + ": " + d);
    assertEquals(reason, d.reason(), s + " " + url);
  }

  /** A set where {@code pattern} is the only pattern, allowed to any subject. */
  private PolicySet only(String pattern) throws Exception {
    return PolicySet.of(write("one.yaml", """
        version: 1
        endpoints:
          - subject: any
            allow: ["%s"]
        """.formatted(pattern)));
  }

  private static void matches(PolicySet set, String... urls) {
    for (String url : urls) {
      EndpointDecision d = set.decideEndpoint(BOB, url);
      assertTrue(d.allowed(), url + ": " + d);
    }
  }

  private static void doesNotMatch(PolicySet set, String... urls) {
    for (String url : urls) {
      EndpointDecision d = set.decideEndpoint(BOB, url);
      assertFalse(d.allowed(), url + ": " + d);
      assertTrue(d.reason().startsWith("denied by default deny: no endpoint rule allows"),
          url + ": " + d);
    }
  }

  private static void refused(PolicySet set, String url, String shown, String problem) {
    denied(set, BOB, url, "denied by invalid URL: \"" + shown + "\": " + problem);
  }

  private static final String SITE = """
      # site.yaml: line numbers below are asserted by the tests
      version: 1
      endpoints:
        - subject: agent:coder
          allow: ["https://openrouter.ai/api/v1", "http://127.0.0.1:*"]
        - subject: agents
          allow: ["https://*.example.com"]
        - subject: agent:bob
          deny: ["https://bad.example.com"]
      """;

  @Test
  void allowDenyAndDefaultDeny() throws Exception {
    PolicySet set = PolicySet.of(write("site.yaml", SITE));
    allowed(set, CODER, "https://openrouter.ai/api/v1/chat/completions",
        "allowed by site.yaml:4: endpoints[0] allows"
            + " \"https://openrouter.ai/api/v1/chat/completions\" to agent:coder");
    allowed(set, CODER, "http://127.0.0.1:11434/v1", "allowed by site.yaml:4: endpoints[0]"
        + " allows \"http://127.0.0.1:11434/v1\" to agent:coder");
    allowed(set, BOB, "https://api.example.com/v1", "allowed by site.yaml:6: endpoints[1] allows"
        + " \"https://api.example.com/v1\" to agents");
    denied(set, BOB, "https://bad.example.com/v1", "denied by site.yaml:8: endpoints[2] denies"
        + " \"https://bad.example.com/v1\" to agent:bob");
    allowed(set, ALICE, "https://bad.example.com/v1", "allowed by site.yaml:6: endpoints[1]"
        + " allows \"https://bad.example.com/v1\" to agents");
    denied(set, BOB, "https://openrouter.ai/api/v1", "denied by default deny: no endpoint rule"
        + " allows \"https://openrouter.ai/api/v1\" for agent bob (uid 1001 gid 1001)");
    denied(set, USER, "https://api.example.com/v1", "denied by default deny: no endpoint rule"
        + " allows \"https://api.example.com/v1\" for uid 1000 gid 100");
    assertEquals("denied by site.yaml:8: endpoints[2] denies \"https://bad.example.com/v1\" to"
        + " agent:bob", set.decideEndpoint(BOB, "https://bad.example.com/v1").toString());
    assertEquals(3, set.policies().get(0).endpointRuleCount());
  }

  @Test
  void denyWinsWhicheverFileAndOrder() throws Exception {
    Policy broad = write("broad.yaml", """
        version: 1
        endpoints:
          - subject: agents
            allow: ["https://*.example.com", "https://openrouter.ai"]
        """);
    Policy narrow = write("narrow.yaml", """
        version: 1
        endpoints:
          - subject: agent:bob
            allow: ["https://openrouter.ai/api/v1"]
          - subject: agent:bob
            deny: ["https://openrouter.ai/api"]
        """);
    for (PolicySet set : List.of(PolicySet.of(broad, narrow), PolicySet.of(narrow, broad))) {
      denied(set, BOB, "https://openrouter.ai/api/v1/chat/completions", "denied by"
          + " narrow.yaml:5: endpoints[1] denies \"https://openrouter.ai/api/v1/chat/completions\""
          + " to agent:bob");
      allowed(set, ALICE, "https://openrouter.ai/api/v1", "allowed by broad.yaml:3:"
          + " endpoints[0] allows \"https://openrouter.ai/api/v1\" to agents");
      assertTrue(set.decideEndpoint(BOB, "https://openrouter.ai/other").allowed(),
          "the deny covers /api only");
    }
    // with several allows, the first in file order is named, as for tools
    allowed(PolicySet.of(narrow, broad), BOB, "https://x.example.com",
        "allowed by broad.yaml:3: endpoints[0] allows \"https://x.example.com\" to agents");
  }

  @Test
  void noRuleMeansNoEndpointAndRootIsNotSpecial() throws Exception {
    PolicySet none = PolicySet.of(write("none.yaml", "version: 1\n"));
    for (Subject s : List.of(BOB, USER, ROOT)) {
      denied(none, s, "https://openrouter.ai/api/v1", "denied by default deny: no endpoint rule"
          + " allows \"https://openrouter.ai/api/v1\" for " + s);
    }
    denied(none, ROOT, "http://127.0.0.1:8080", "denied by default deny: no endpoint rule allows"
        + " \"http://127.0.0.1:8080\" for root");
    PolicySet set = PolicySet.of(write("root.yaml", """
        version: 1
        endpoints:
          - subject: root
            allow: ["http://127.0.0.1:*"]
          - subject: any
            deny: ["http://127.0.0.1:9999"]
        """));
    allowed(set, ROOT, "http://127.0.0.1:8080", "allowed by root.yaml:3: endpoints[0] allows"
        + " \"http://127.0.0.1:8080\" to root");
    denied(set, ROOT, "http://127.0.0.1:9999", "denied by root.yaml:5: endpoints[1] denies"
        + " \"http://127.0.0.1:9999\" to any");
    denied(set, BOB, "http://127.0.0.1:8080", "denied by default deny: no endpoint rule allows"
        + " \"http://127.0.0.1:8080\" for agent bob (uid 1001 gid 1001)");
  }

  @Test
  void subjectSelectors() throws Exception {
    PolicySet set = PolicySet.of(write("s.yaml", """
        version: 1
        endpoints:
          - subject: uid:1000
            allow: ["https://uid.test"]
          - subject: gid:100
            allow: ["https://gid.test"]
          - subject: users
            allow: ["https://users.test"]
          - subject: agent:alice
            allow: ["https://alice.test"]
        """));
    assertTrue(set.decideEndpoint(USER, "https://uid.test").allowed());
    assertFalse(set.decideEndpoint(BOB, "https://uid.test").allowed());
    assertTrue(set.decideEndpoint(Subject.agent(1005, 100, "g"), "https://gid.test").allowed());
    assertTrue(set.decideEndpoint(USER, "https://users.test").allowed());
    assertFalse(set.decideEndpoint(BOB, "https://users.test").allowed(), "agents are not users");
    assertTrue(set.decideEndpoint(ALICE, "https://alice.test").allowed());
    assertFalse(set.decideEndpoint(BOB, "https://alice.test").allowed());
  }

  @Test
  void schemesAndPorts() throws Exception {
    PolicySet router = only("https://openrouter.ai/api/v1");
    matches(router, "https://openrouter.ai/api/v1", "https://openrouter.ai:443/api/v1",
        "HTTPS://OpenRouter.AI/api/v1/chat/completions");
    doesNotMatch(router, "http://openrouter.ai/api/v1", "http://openrouter.ai:443/api/v1",
        "https://openrouter.ai:8443/api/v1", "https://openrouter.ai:80/api/v1");
    PolicySet local = only("http://127.0.0.1:*");
    matches(local, "http://127.0.0.1/v1", "http://127.0.0.1:8080/v1/chat/completions",
        "http://127.0.0.1:11434", "http://127.0.0.1:65535/");
    doesNotMatch(local, "https://127.0.0.1:8080/v1", "http://127.0.0.2:8080",
        "http://localhost:8080/v1");
    PolicySet named = only("http://localhost:8080");
    matches(named, "http://localhost:8080/v1", "http://LOCALHOST:8080", "http://localhost.:8080");
    doesNotMatch(named, "http://localhost/v1", "http://localhost:8081/v1",
        "http://127.0.0.1:8080/v1");
    matches(only("http://example.com:80"), "http://example.com/x");
    matches(only("https://example.com:443/"), "https://example.com/x");
    matches(only("https://Example.COM."), "https://example.com/x");
  }

  @Test
  void hostsMatchAsHostsNeverAsStringPrefixes() throws Exception {
    PolicySet set = only("https://api.example.com");
    matches(set, "https://api.example.com", "https://api.example.com/",
        "https://api.example.com/v1");
    doesNotMatch(set, "https://api.example.com.evil.net", "https://api.example.com.evil.net/v1",
        "https://api.example.community/v1", "https://evil-api.example.com/v1",
        "https://xapi.example.com", "https://example.com", "https://v2.api.example.com");
    refused(set, "https://api.example.com@evil.net/v1", "https://***@evil.net/v1",
        "a user name or password (\"user:password@\") is not allowed; send credentials in a"
            + " header");
    refused(set, "https://api.example.com\\@evil.net/", "https://***@evil.net/",
        "a backslash is not allowed");
    refused(set, "https://api.example.com\\.evil.net/", "https://api.example.com\\u005c.evil.net/",
        "a backslash is not allowed");
    refused(set, "https://api.example.com:443:80/", "https://api.example.com:443:80/",
        "an IPv6 address must be in brackets (\"http://[::1]:8080\")");
  }

  @Test
  void wildcardHostsMatchOneOrMoreLabels() throws Exception {
    PolicySet set = only("https://*.example.com");
    matches(set, "https://api.example.com/v1", "https://a.b.example.com", "https://A.Example.Com");
    doesNotMatch(set, "https://example.com", "https://aexample.com",
        "https://api.example.com.evil.net", "https://api.example.org", "http://api.example.com",
        "https://api.example.com:8443");
    matches(only("https://*.example.com:*"), "https://api.example.com:8443/v1");
    refused(set, "https://.example.com", "https://.example.com",
        "the host has an empty label (\"..\" or a leading \".\")");
  }

  @Test
  void pathPrefixesMatchWholeSegments() throws Exception {
    PolicySet set = only("https://h.test/api/v1");
    matches(set, "https://h.test/api/v1", "https://h.test/api/v1/", "https://h.test/api/v1/chat",
        "https://h.test/api/v1/chat/completions?x=1#y", "https://h.test/api/v1?api-version=2",
        "https://h.test/api/%761/chat");
    doesNotMatch(set, "https://h.test/api/v10", "https://h.test/api/v1x/chat", "https://h.test/api",
        "https://h.test/", "https://h.test", "https://h.test/API/v1", "https://h.test/x/api/v1");
    matches(only("https://h.test/api/v1/"), "https://h.test/api/v1", "https://h.test/api/v1/x");
    matches(only("https://h.test/"), "https://h.test", "https://h.test/anything/at/all");
    matches(only("https://h.test/caf%C3%A9"), "https://h.test/café/x", "https://h.test/caf%c3%a9");
    refused(set, "https://h.test/api/v1/../../admin", "https://h.test/api/v1/../../admin",
        "the path has a \"..\" segment");
    refused(set, "https://h.test/api/v1/%2e%2e/admin", "https://h.test/api/v1/%2e%2e/admin",
        "the path has a \"..\" segment");
    refused(set, "https://h.test/api/v1/./chat", "https://h.test/api/v1/./chat",
        "the path has a \".\" segment");
    refused(set, "https://h.test/api%2Fv1/chat", "https://h.test/api%2Fv1/chat",
        "an encoded '/' or '\\' (%2F, %5C) is not allowed in the path");
    refused(set, "https://h.test/api/v1%5c..", "https://h.test/api/v1%5c..",
        "an encoded '/' or '\\' (%2F, %5C) is not allowed in the path");
    refused(set, "https://h.test//api/v1", "https://h.test//api/v1",
        "the path has an empty segment (\"//\")");
    refused(set, "https://h.test/api/v1/%zz", "https://h.test/api/v1/%zz",
        "bad percent-escape in the path (\"%\" must be followed by two hex digits)");
    refused(set, "https://h.test/api/v1/%00", "https://h.test/api/v1/%00",
        "an encoded control character is not allowed in the path");
    refused(set, "https://h.test/api/v1/%ff", "https://h.test/api/v1/%ff",
        "the path is not UTF-8 once percent-decoded");
  }

  @Test
  void ipv6LiteralHosts() throws Exception {
    PolicySet set = only("http://[::1]:*");
    matches(set, "http://[::1]:8080", "http://[::1]:8080/v1/chat/completions", "http://[::1]",
        "http://[0:0:0:0:0:0:0:1]:11434", "http://[::0001]:1", "http://[0::1]/");
    doesNotMatch(set, "http://[::2]:8080", "https://[::1]:8080", "http://127.0.0.1:8080",
        "http://localhost:8080");
    PolicySet v4 = only("http://127.0.0.1:*");
    matches(v4, "http://[::ffff:127.0.0.1]:8080", "http://[::FFFF:7f00:1]:8080");
    matches(only("http://[2001:DB8::a:1]:8080"), "http://[2001:db8:0:0:0:0:a:1]:8080/v1");
    refused(set, "http://::1:8080", "http://::1:8080",
        "an IPv6 address must be in brackets (\"http://[::1]:8080\")");
    refused(set, "http://[::1:8080", "http://[::1:8080", "the IPv6 address has no closing ']'");
    refused(set, "http://[1::2::3]:80", "http://[1::2::3]:80",
        "\"[1::2::3]\" is not an IPv6 address");
    refused(set, "http://[1:2:3:4:5:6:7:8:9]", "http://[1:2:3:4:5:6:7:8:9]",
        "\"[1:2:3:4:5:6:7:8:9]\" is not an IPv6 address");
    refused(set, "http://[12345::1]", "http://[12345::1]", "\"[12345::1]\" is not an IPv6 address");
    refused(set, "http://[fe80::1%25eth0]:8080", "http://[fe80::1%25eth0]:8080",
        "an IPv6 zone index ('%') is not supported");
    refused(set, "http://[::1]8080", "http://[::1]8080",
        "unexpected \"8080\" after the IPv6 address; a port is written \"]:8080\"");
  }

  @Test
  void numericHostsOtherThanFourDecimalsAreRefused() throws Exception {
    PolicySet set = only("http://127.0.0.1:*");
    for (String host : List.of("127.1", "2130706433", "0x7f.0.0.1", "127.000.0.1", "010.0.0.1",
        "127.0.0.256", "1.2.3.4.5", "api.example.123")) {
      refused(set, "http://" + host + ":8080", "http://" + host + ":8080", "\"" + host
          + "\" is not an IPv4 address of four decimal numbers 0-255 without leading zeros (such"
          + " as 127.0.0.1)");
    }
    matches(set, "http://127.0.0.1:8080");
  }

  @Test
  void userInfoIsRefusedAndNeverQuoted() throws Exception {
    PolicySet set = only("https://openrouter.ai/api/v1");
    String problem = "a user name or password (\"user:password@\") is not allowed; send"
        + " credentials in a header";
    refused(set, "https://user:sk-secret@openrouter.ai/api/v1",
        "https://***@openrouter.ai/api/v1", problem);
    refused(set, "https://sk-secret@openrouter.ai/api/v1", "https://***@openrouter.ai/api/v1",
        problem);
    refused(set, "https://a@b@openrouter.ai", "https://***@openrouter.ai", problem);
    EndpointDecision withKey = set.decideEndpoint(BOB, "https://openrouter.ai/api/v1?key=sk-1#k=2");
    assertTrue(withKey.allowed());
    assertEquals("allowed by one.yaml:3: endpoints[0] allows \"https://openrouter.ai/api/v1\" to"
        + " any", withKey.reason(), "the query and fragment are not quoted");
  }

  @Test
  void otherUrlsThatAreRefused() throws Exception {
    PolicySet set = only("https://h.test");
    refused(set, "h.test/v1", "h.test/v1", "not an absolute URL (scheme://host[:port]/path)");
    refused(set, "", "", "not an absolute URL (scheme://host[:port]/path)");
    refused(set, "ftp://h.test/v1", "ftp://h.test/v1",
        "the scheme must be http or https (found \"ftp\")");
    refused(set, "https:///v1", "https:///v1", "the host is empty");
    refused(set, "https://:443/v1", "https://:443/v1", "the host is empty");
    refused(set, "https://h..test", "https://h..test",
        "the host has an empty label (\"..\" or a leading \".\")");
    refused(set, "https://h.test../", "https://h.test../",
        "the host has an empty label (\"..\" or a leading \".\")");
    refused(set, "https://h.test:0", "https://h.test:0",
        "bad port \"0\": a port is a number from 1 to 65535");
    refused(set, "https://h.test:65536", "https://h.test:65536",
        "bad port \"65536\": a port is a number from 1 to 65535");
    refused(set, "https://h.test:/v1", "https://h.test:/v1",
        "bad port \"\": a port is a number from 1 to 65535");
    refused(set, "https://h.test:*/v1", "https://h.test:*/v1",
        "bad port \"*\": a port is a number from 1 to 65535");
    refused(set, "https://*.h.test/v1", "https://*.h.test/v1",
        "the host may only contain letters, digits, '-', '_' and '.' (found '*')");
    refused(set, "https://h.tést/v1", "https://h.t\\u00e9st/v1",
        "the host must be ASCII; write an international name in its xn-- form");
    refused(set, "https://h.te\tst/v1", "https://h.te\\u0009st/v1",
        "spaces and control characters are not allowed (found U+0009)");
    refused(set, "https://h.test/v1\n\"x", "https://h.test/v1\\u000a\\u0022x",
        "spaces and control characters are not allowed (found U+000A)");
    refused(set, "https://h.test/a b", "https://h.test/a b",
        "spaces and control characters are not allowed (found ' ')");
    String longUrl = "https://h.test/" + "x".repeat(300);
    EndpointDecision d = set.decideEndpoint(BOB, longUrl);
    assertTrue(d.allowed());
    assertEquals("allowed by one.yaml:3: endpoints[0] allows \"" + longUrl.substring(0, 200)
        + "...\" to any", d.reason());
    matches(only("http://ollama_1:11434"), "http://OLLAMA_1:11434/v1");
  }

  @Test
  void jsonAndYamlEndpointRulesMeanTheSame() throws Exception {
    PolicySet yaml = PolicySet.of(write("site.yaml", SITE));
    PolicySet json = PolicySet.of(write("site.json", """
        {
          "version": 1,
          "endpoints": [
            {"subject": "agent:coder",
             "allow": ["https://openrouter.ai/api/v1", "http://127.0.0.1:*"]},
            {"subject": "agents", "allow": ["https://*.example.com"]},
            {"subject": "agent:bob", "deny": ["https://bad.example.com"]}
          ]
        }
        """));
    for (Subject s : List.of(BOB, ALICE, CODER, USER, ROOT)) {
      for (String url : List.of("https://openrouter.ai/api/v1/chat/completions",
          "http://127.0.0.1:8080", "https://bad.example.com/v1", "https://api.example.com")) {
        assertEquals(yaml.decideEndpoint(s, url).allowed(), json.decideEndpoint(s, url).allowed(),
            s + " " + url);
      }
    }
    denied(json, BOB, "https://bad.example.com", "denied by site.json:7: endpoints[2] denies"
        + " \"https://bad.example.com\" to agent:bob");
  }

  @Test
  void theDocsExampleDoesWhatTheDocsSay() throws Exception {
    String docs = Files.readString(Path.of("../docs/policies.md"));
    int section = docs.indexOf("## Model endpoints");
    int example = docs.indexOf("```yaml\n", docs.indexOf("### Example", section))
        + "```yaml\n".length();
    Policy admin = write("endpoints.yaml", docs.substring(example, docs.indexOf("```", example)));
    assertEquals(List.of(), admin.warnings());
    PolicySet set = PolicySet.of(Policy.loadDefault(), admin);
    Subject local = Subject.agent(1005, 1005, "local");
    List<EndpointDecision> quoted = List.of(
        set.decideEndpoint(CODER, "https://openrouter.ai/api/v1/chat/completions"),
        set.decideEndpoint(local, "http://127.0.0.1:11434/v1/chat/completions"),
        set.decideEndpoint(CODER, "https://openrouter.ai.evil.net/api/v1/chat/completions"),
        set.decideEndpoint(local, "https://openrouter.ai/api/v1/chat/completions"));
    assertTrue(quoted.get(0).allowed());
    assertTrue(quoted.get(1).allowed());
    assertFalse(quoted.get(2).allowed());
    assertFalse(quoted.get(3).allowed());
    assertTrue(set.decideEndpoint(local, "http://127.0.0.1:8080/v1/chat/completions").allowed());
    assertTrue(set.decideEndpoint(local, "http://[::1]:8080/v1").allowed());
    assertFalse(set.decideEndpoint(CODER, "http://127.0.0.1:8080/v1").allowed());
    assertFalse(set.decideEndpoint(BOB, "https://openrouter.ai/api/v1").allowed());
    assertFalse(set.decideEndpoint(Subject.agent(1003, 1003, "librarian"),
        "https://openrouter.ai/api/v1").allowed());
    for (EndpointDecision d : quoted) {
      assertTrue(docs.contains("\n" + d.reason() + "\n"), "the docs quote " + d.reason());
    }
  }
}
