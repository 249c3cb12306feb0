package dev.clawfs.mount;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Search respects the policies and Unix modes: a caller sees only the hits it could open itself,
 * so another agent's home, root-only files and their passages never show in its search/.
 */
@Timeout(value = 6, unit = TimeUnit.MINUTES, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class PolicySearchIT {
  @TempDir static Path base;
  static MountedVault vault;
  static TestAgents agents;
  static TestAgents.Agent alice;
  static TestAgents.Agent bob;

  @BeforeAll
  static void mountWithSearchAndTwoAgents() throws Exception {
    TestAgents.assumeRootWithUserTools();
    Files.setPosixFilePermissions(base, PosixFilePermissions.fromString("rwxr-xr-x"));
    vault = MountedVault.create(base);
    agents = new TestAgents(vault);
    alice = agents.add("ps-alice");
    bob = agents.add("ps-bob");
    Files.createDirectories(vault.path("workspaces/shared"));
    Files.writeString(vault.path("workspaces/shared/zebra-shared.md"), "quokka zebra shared notes\n");
    Path rootOnly = vault.path("workspaces/shared/zebra-rootonly.md");
    Files.writeString(rootOnly, "quokka zebra rootonly notes\n");
    Files.setPosixFilePermissions(rootOnly, PosixFilePermissions.fromString("rw-------"));
    MountedVault.Result r = agents.as(bob, "echo 'quokka zebra private notes' > $M/agents/ps-bob/memory/zebra-private.md");
    assertEquals(0, r.exitCode(), r.toString());
    awaitIdle();
  }

  @AfterAll
  static void cleanUp() {
    if (vault != null) {
      vault.close();
    }
    if (agents != null) {
      agents.close();
    }
  }

  static void awaitIdle() throws Exception {
    long end = System.currentTimeMillis() + 120_000;
    Map<String, String> st = Map.of();
    while (System.currentTimeMillis() < end) {
      st = ClawfsCli.Reindex.statusOf(vault.path("system/index/status"));
      if ("idle".equals(st.get("state")) && "3".equals(st.get("indexed files"))) {
        return;
      }
      Thread.sleep(100);
    }
    throw new AssertionError("the index did not take the three files in: " + st);
  }

  private static String ls(TestAgents.Agent a) {
    MountedVault.Result r = a == null
        ? MountedVault.run(List.of("ls", vault.path("search/text:quokka").toString()), null, 60)
        : agents.as(a, "ls \"$M/search/text:quokka\"");
    assertEquals(0, r.exitCode(), r.toString());
    return r.stdout();
  }

  @Test
  void eachCallerSeesOnlyTheHitsItCouldOpen() throws IOException {
    assertEquals(List.of("zebra-private.md", "zebra-rootonly.md", "zebra-shared.md"), files(ls(null)), "root sees every hit");
    assertEquals("1-zebra-shared.md\n", ls(alice), "alice: not bob's home, not the root-only file");
    assertEquals(List.of("zebra-private.md", "zebra-shared.md"), files(ls(bob)), "bob: his own home and the shared file");

    MountedVault.Result json = agents.as(alice, "cat \"$M/search/text:quokka/.results.json\"");
    assertEquals(0, json.exitCode(), json.toString());
    assertTrue(json.stdout().contains("zebra-shared.md"), json.stdout());
    assertFalse(json.stdout().contains("private") || json.stdout().contains("rootonly"),
        "no path or passage of a file alice may not read: " + json.stdout());

    // the hit is a link alice can follow, resolved in her own result list
    MountedVault.Result cat = agents.as(alice, "cat \"$M/search/text:quokka/1-zebra-shared.md\"");
    assertEquals("quokka zebra shared notes\n", cat.stdout(), cat.toString());

    // a live grant changes what search shows at once
    Path grant = vault.path("system/policies/peek.yaml");
    Files.writeString(grant, "version: 1\nrules:\n  - subject: agent:ps-alice\n    allow: [read]\n"
        + "    paths: [\"/agents/ps-bob/**\"]\n");
    try {
      // the policy now allows it, but bob's home is 0700: Unix modes still keep alice out
      assertEquals("1-zebra-shared.md\n", ls(alice));
    } finally {
      Files.delete(grant);
    }
  }

  /** The hits' file names without their ranks, sorted; the ranks must be 1..n. */
  private static List<String> files(String ls) {
    List<String> names = ls.lines().toList();
    for (int i = 0; i < names.size(); i++) {
      assertTrue(names.get(i).startsWith((i + 1) + "-"), "ranks 1.." + names.size() + ": " + names);
    }
    return names.stream().map(n -> n.substring(n.indexOf('-') + 1)).sorted().toList();
  }
}
