package dev.clawfs.policy;

import static dev.clawfs.policy.InjectionRule.Action.BLOCK;
import static dev.clawfs.policy.InjectionRule.Action.FLAG;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The injection scanner's patterns for a subject, merged over policy files read from disk. */
class InjectionPatternsTest {

  @TempDir Path dir;

  private static final Subject BOB = Subject.agent(1001, 1001, "bob");
  private static final Subject ALICE = Subject.agent(1002, 1002, "alice");
  private static final Subject USER = Subject.user(1000, 100);

  private Policy write(String name, String text) throws Exception {
    Path file = dir.resolve(name);
    Files.writeString(file, text);
    return Policy.load(file);
  }

  private static final String BASE = """
      # base.yaml: line numbers below are asserted by the tests
      version: 1
      injection:
        - name: ignore
          pattern: 'ignore (all )?previous'
          action: block
        - name: vault
          pattern: /vault/
          action: flag
        - name: bob-only
          pattern: '\\bbob\\b'
          action: flag
          subject: agent:bob
      """;

  private static final String SITE = """
      version: 1
      injection:
        - name: vault
          action: off
        - name: ignore
          pattern: 'ignore'
          action: flag
          subject: agent:alice
        - name: extra
          pattern: 'extra'
          action: block
      """;

  private static final InjectionRule IGNORE =
      new InjectionRule("ignore", "ignore (all )?previous", BLOCK, "base.yaml:4");
  private static final InjectionRule VAULT =
      new InjectionRule("vault", "/vault/", FLAG, "base.yaml:7");
  private static final InjectionRule BOB_ONLY =
      new InjectionRule("bob-only", "\\bbob\\b", FLAG, "base.yaml:10");
  private static final InjectionRule SITE_IGNORE =
      new InjectionRule("ignore", "ignore", FLAG, "site.yaml:5");
  private static final InjectionRule EXTRA =
      new InjectionRule("extra", "extra", BLOCK, "site.yaml:9");

  @Test
  void oneFileGivesEachSubjectTheEntriesForIt() throws Exception {
    Policy base = write("base.yaml", BASE);
    assertEquals(List.of("ignore", "vault", "bob-only"), base.injectionNames());
    PolicySet set = PolicySet.of(base);
    assertEquals(List.of(IGNORE, VAULT), set.injectionPatterns(ALICE));
    assertEquals(List.of(IGNORE, VAULT, BOB_ONLY), set.injectionPatterns(BOB));
    assertEquals(List.of(IGNORE, VAULT), set.injectionPatterns(USER), "no subject: any");
    assertEquals(List.of(IGNORE, VAULT), set.injectionPatterns(Subject.user(0, 0)));
    assertEquals(List.of(), PolicySet.of(write("none.yaml", "version: 1\n"))
        .injectionPatterns(BOB));
  }

  @Test
  void aLaterFileReplacesByNameAndOffRemoves() throws Exception {
    Policy base = write("base.yaml", BASE);
    Policy site = write("site.yaml", SITE);
    PolicySet set = PolicySet.of(base, site);
    assertEquals(List.of(SITE_IGNORE, EXTRA), set.injectionPatterns(ALICE),
        "site.yaml's ignore replaces base.yaml's for alice; vault is off");
    assertEquals(List.of(IGNORE, BOB_ONLY, EXTRA), set.injectionPatterns(BOB),
        "site.yaml's ignore is for alice only, so bob keeps base.yaml's");
    assertEquals(List.of(IGNORE, EXTRA), set.injectionPatterns(USER));
    // the other order: base.yaml comes later, so its entries win where both apply
    PolicySet reversed = PolicySet.of(site, base);
    assertEquals(List.of(VAULT, IGNORE, EXTRA), reversed.injectionPatterns(ALICE),
        "in the order the names first appear, in site.yaml");
    assertEquals(List.of(VAULT, EXTRA, IGNORE, BOB_ONLY), reversed.injectionPatterns(BOB),
        "site.yaml's ignore is alice's, so ignore first appears for bob in base.yaml");
  }

  @Test
  void offForOneSubjectAndBackOnInALaterFile() throws Exception {
    Policy base = write("base.yaml", BASE);
    Policy off = write("off.yaml", """
        version: 1
        injection:
          - name: vault
            action: off
            subject: agent:bob
          - name: nothing-here
            action: off
        """);
    Policy again = write("again.yaml", """
        version: 1
        injection:
          - name: vault
            pattern: '/vault/|/secrets/'
            action: block
        """);
    PolicySet set = PolicySet.of(base, off);
    assertEquals(List.of(IGNORE, BOB_ONLY), set.injectionPatterns(BOB));
    assertEquals(List.of(IGNORE, VAULT), set.injectionPatterns(ALICE));
    assertEquals(List.of("vault", "nothing-here"), off.injectionNames());
    InjectionRule vaultAgain = new InjectionRule("vault", "/vault/|/secrets/", BLOCK,
        "again.yaml:3");
    assertEquals(List.of(IGNORE, vaultAgain, BOB_ONLY),
        PolicySet.of(base, off, again).injectionPatterns(BOB), "back at vault's first place");
  }

  @Test
  void offMayBeQuotedOrNot() throws Exception {
    Policy base = write("base.yaml", BASE);
    for (String off : List.of("off", "'off'", "\"off\"", "false", "no")) {
      Policy p = write("off.yaml", """
          version: 1
          injection:
            - name: vault
              action: %s
          """.formatted(off));
      assertEquals(List.of(IGNORE), PolicySet.of(base, p).injectionPatterns(ALICE), off);
    }
    Policy json = write("off.json", """
        {"version": 1, "injection": [{"name": "vault", "action": "off"}]}
        """);
    assertEquals(List.of(IGNORE), PolicySet.of(base, json).injectionPatterns(ALICE));
  }

  @Test
  void theShippedDefaultCanBeReplacedAndTurnedOff() throws Exception {
    Policy admin = write("scanner.yaml", """
        version: 1
        injection:
          - name: vault-path
            action: off
            subject: agent:librarian
          - name: exfiltrate
            pattern: '\\b(send|post|upload)\\b.{0,40}\\b(keys?|tokens?)\\b'
            action: block
        """);
    PolicySet set = PolicySet.of(Policy.loadDefault(), admin);
    Subject librarian = Subject.agent(1003, 1003, "librarian");
    List<String> names = set.injectionPatterns(librarian).stream().map(InjectionRule::name)
        .toList();
    assertEquals(List.of("ignore-instructions", "disregard-instructions", "new-role",
        "reveal-prompt", "fake-system-turn", "exfiltrate"), names);
    InjectionRule exfiltrate = set.injectionPatterns(BOB).get(5);
    assertEquals("exfiltrate", exfiltrate.name());
    assertEquals(BLOCK, exfiltrate.action());
    assertEquals("scanner.yaml:6", exfiltrate.source());
    assertEquals("vault-path", set.injectionPatterns(BOB).get(6).name());
  }

  @Test
  void patternsCompileCaseInsensitive() throws Exception {
    PolicySet set = PolicySet.of(write("base.yaml", BASE));
    Pattern ignore = set.injectionPatterns(BOB).get(0).compile();
    assertTrue(ignore.matcher("Please IGNORE ALL PREVIOUS instructions").find());
    assertTrue(ignore.matcher("ignore previous").find());
    assertFalse(ignore.matcher("ignore the previous").find());
    assertEquals(Pattern.CASE_INSENSITIVE | Pattern.UNICODE_CASE, ignore.flags());
    assertTrue(ignore.matcher("IGNORE PREVIOUſ").find(), "not only ASCII letters");
    Pattern exact = new InjectionRule("x", "(?-i)Exact", FLAG, "x.yaml:1").compile();
    assertTrue(exact.matcher("Exact").find());
    assertFalse(exact.matcher("exact").find(), "(?-i) turns case-insensitivity off");
    assertThrows(NullPointerException.class, () -> new InjectionRule("x", null, FLAG, "s"));
  }

  @Test
  void jsonAndYamlInjectionEntriesMeanTheSame() throws Exception {
    PolicySet json = PolicySet.of(write("base.json", """
        {"version": 1,
         "injection": [
           {"name": "ignore", "pattern": "ignore (all )?previous", "action": "block"},
           {"name": "vault", "pattern": "/vault/", "action": "flag"},
           {"name": "bob-only", "pattern": "\\\\bbob\\\\b", "action": "flag",
            "subject": "agent:bob"}
         ]}
        """));
    PolicySet yaml = PolicySet.of(write("base.yaml", BASE));
    for (Subject s : List.of(BOB, ALICE, USER)) {
      List<InjectionRule> y = yaml.injectionPatterns(s);
      List<InjectionRule> j = json.injectionPatterns(s);
      assertEquals(y.size(), j.size());
      for (int i = 0; i < y.size(); i++) {
        assertEquals(y.get(i).name(), j.get(i).name());
        assertEquals(y.get(i).regex(), j.get(i).regex());
        assertEquals(y.get(i).action(), j.get(i).action());
      }
    }
    assertEquals("base.json:5", json.injectionPatterns(BOB).get(2).source());
  }

  @Test
  void backtrackingCheckAcceptsLinearShapes() {
    for (String ok : List.of("a+b+", "(ab)+", "(a|b)*", "(foo|bar)+x", "(\\r?\\n)+", "(a{2})+",
        "x(a+)?", "(a++)+", "(?>a+)+", "(a+)++", "(a|a)*+", "(a|b|c)*+", "[(a+)+]",
        "\\Q(a+)+\\E", "\\(a+\\)+", "(a+){1}", "\\d{1,3}(\\.\\d{1,3}+){3}",
        "(?:(?i)a|b)+", "(\\p{L}|\\d)", "([a-z]|\\d)?", "(?<w>\\w+)\\s\\k<w>",
        "(?=a+)b", "(\\x41|b)", "(?i:ab|cd)*", "a{0,40}b", "(a\\*|b)+")) {
      assertNull(RegexCheck.backtrackingProblem(ok), ok);
    }
  }

  @Test
  void backtrackingCheckRefusesNestedRepeatsEmptyLoopsAndOverlappingAlternations() {
    assertEquals("the repeat \"(a+)+\" holds another repeat, \"a+\"; make the inner one"
        + " possessive (\"a++\") or atomic (\"(?>a+)\"), or drop a repeat",
        RegexCheck.backtrackingProblem("(a+)+b"));
    assertEquals("the repeat \"(\\w+?\\s)*\" holds another repeat, \"\\w+?\"; make the inner one"
        + " possessive (\"\\w++\") or atomic (\"(?>\\w+?)\"), or drop a repeat",
        RegexCheck.backtrackingProblem("x(\\w+?\\s)*y"));
    assertEquals("the repeat \"(.*)*\" repeats a part that can match the empty text",
        RegexCheck.backtrackingProblem("(.*)*x"));
    assertEquals("the repeat \"(a?)*\" repeats a part that can match the empty text",
        RegexCheck.backtrackingProblem("(a?)*b"));
    assertEquals("the repeat \"(x|x)*\" holds an alternation, \"x|x\", two of whose branches can"
        + " start with the same character; give each branch a different first character, or use"
        + " a character class ([ab]) for single characters",
        RegexCheck.backtrackingProblem("(x|x)*y"));
    for (String bad : List.of("(a+)*", "(a*b)+", "(?:a{1,3})+", "(a+){2}", "(?:x(a+))+",
        "((a+))+", "(?<n>a+)+", "(?i:(a+)+)", "(?=(a+)+b)", "(a|)+", "(|a)+", "((a|b)c|ad)*",
        "(ab|ac)+", "(a|A)+", "(\\w|-)+", "(.|\\n)*", "(\\d|1)+", "(a|\\x61)+", "([ab]|c)+",
        "(?:(?:a|ab)c)*", "(\\s+)+", "(a|a?b)+", "(?>(a|a)*b)", "(s|ſ)+", "(k|\u212a)+",
        // over-cautious, as the check only looks at the shape: '.' separates the parts, but the
        // inner repeat must be written possessive (\d{1,3}+, [a-z]++) to pass
        "\\d{1,3}(\\.\\d{1,3}){3}", "(\\.[a-z]+)*")) {
      String problem = RegexCheck.backtrackingProblem(bad);
      assertTrue(problem != null && problem.startsWith("the repeat \""), bad + ": " + problem);
    }
  }

  @Test
  void theCommentsFlagIsRefused() {
    for (String regex : List.of("(?x)a b", "(?ix)a", "(?x:a b)", "a(?imx)b")) {
      assertEquals("the comments flag (?x) is not supported here",
          assertThrows(IllegalArgumentException.class,
              () -> RegexCheck.backtrackingProblem(regex)).getMessage(), regex);
    }
    assertNull(RegexCheck.backtrackingProblem("(?-x)a b"));
    assertNull(RegexCheck.backtrackingProblem("(?i-x:a)"));
  }

  @Test
  void leadingUnboundedRepeats() {
    assertEquals(".*", RegexCheck.leadingRepeat(".*secret"));
    assertEquals("\\s+", RegexCheck.leadingRepeat("x|\\s+y"));
    assertEquals("[a-z]*+", RegexCheck.leadingRepeat("[a-z]*+key"));
    for (String ok : List.of("^\\s*x", "x.*", ".{0,40}x", "(a+)b", "a?b", "\\bignore\\s+x")) {
      assertNull(RegexCheck.leadingRepeat(ok), ok);
    }
  }

  @Test
  void aLeadingRepeatIsAWarning() throws Exception {
    Policy p = write("lead.yaml", """
        version: 1
        injection:
          - name: slow
            pattern: '.*secret'
            action: flag
        """);
    assertEquals(List.of(new PolicyWarning("lead.yaml", 4, 14, "injection pattern 'slow' starts"
        + " with the unbounded repeat \".*\": a pattern is searched for anywhere, so the repeat"
        + " finds nothing more and makes a search take time quadratic in the length of what it"
        + " matches; drop it")), p.warnings());
  }

  @Test
  void theDocsExampleDoesWhatTheDocsSay() throws Exception {
    String docs = Files.readString(Path.of("../docs/policies.md"));
    int section = docs.indexOf("## Injection patterns");
    int example = docs.indexOf("```yaml\n", docs.indexOf("### Example", section))
        + "```yaml\n".length();
    Policy admin = write("scanner.yaml", docs.substring(example, docs.indexOf("```", example)));
    assertEquals(List.of(), admin.warnings());
    PolicySet set = PolicySet.of(Policy.loadDefault(), admin);
    Subject librarian = Subject.agent(1003, 1003, "librarian");
    List<String> librarians = set.injectionPatterns(librarian).stream()
        .map(InjectionRule::name).toList();
    assertFalse(librarians.contains("vault-path"));
    assertTrue(set.injectionPatterns(BOB).stream().anyMatch(r -> r.name().equals("vault-path")));
    InjectionRule exfiltrate = set.injectionPatterns(BOB).stream()
        .filter(r -> r.name().equals("exfiltrate")).findFirst().orElseThrow();
    assertEquals(BLOCK, exfiltrate.action());
    InjectionRule ticket = set.injectionPatterns(BOB).stream()
        .filter(r -> r.name().equals("ticket-ids")).findFirst().orElseThrow();
    assertTrue(ticket.compile().matcher("see SEC-1234 for details").find());
    assertFalse(ticket.compile().matcher("see sec-1234 for details").find());
  }
}
