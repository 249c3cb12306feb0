package dev.clawfs.mount;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.clawfs.fuse.Errno;
import dev.clawfs.fuse.FsException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Change hooks: the rules root writes to /agents/NAME/watch.json. */
class WatchRuleTest {
  private static List<WatchRule> parse(String json) {
    return WatchRule.parse(json.getBytes(StandardCharsets.UTF_8));
  }

  @Test
  void globsMatchLikeThePolicyGlobsAndTheOpsFilter() {
    List<WatchRule> rules = parse("""
        [{"paths": ["/specs/**", "/workspaces/*/README.md"], "task": "Summarise {path} into memory/"},
         {"paths": ["/workspaces/inbox/*"], "task": "File {path}", "on": ["moved", "changed"]}]""");
    WatchRule specs = rules.get(0);
    assertTrue(specs.matches("/specs/a/b.md", "changed"));
    assertTrue(specs.matches("/workspaces/p/README.md", "changed"));
    assertFalse(specs.matches("/workspaces/p/q/README.md", "changed"), "* stops at /");
    assertFalse(specs.matches("/specs/a.md", "moved"), "changed only, by default");
    assertTrue(rules.get(1).matches("/workspaces/inbox/x", "moved"));
    assertEquals("Summarise \"/specs/a \\\"b\\\".md\" into memory/", specs.taskFor("/specs/a \"b\".md"),
        "the path is quoted into the task");
  }

  @Test
  void badRulesAreRefusedWithTheReasonAndTheyRoundTrip() {
    for (String[] c : new String[][] {
        {"{}", "a JSON array of rules"},
        {"[{\"paths\": [\"specs/**\"], \"task\": \"t\"}]", "not an absolute mount path glob"},
        {"[{\"paths\": [\"/specs/../vault/**\"], \"task\": \"t\"}]", "not an absolute mount path glob"},
        {"[{\"paths\": [\"/specs/**\"], \"task\": \"\"}]", "task:"},
        {"[{\"paths\": [\"/specs/**\"], \"task\": \"t\", \"on\": [\"deleted\"]}]", "on:"},
        {"[{\"paths\": [\"/specs/**\"], \"task\": \"t\", \"then\": 1}]", "unknown field then"},
        {"[{", "not JSON"}}) {
      FsException e = assertThrows(FsException.class, () -> parse(c[0]), c[0]);
      assertEquals(Errno.EINVAL, e.errno());
      assertTrue(e.getMessage().startsWith("watch.json: ") && e.getMessage().contains(c[1]), e.getMessage());
    }
    assertEquals(List.of(), parse("[]"));
    List<WatchRule> rules = parse("[{\"paths\": [\"/specs/**\"], \"task\": \"t {path}\", \"on\": [\"moved\"]}]");
    List<WatchRule> again = WatchRule.parse(WatchRule.toJson(rules));
    assertEquals(rules.get(0).paths(), again.get(0).paths());
    assertEquals(rules.get(0).task(), again.get(0).task());
    assertEquals(rules.get(0).on(), again.get(0).on());
  }
}
