package dev.clawfs.mount;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Identity and policy through the real mount: two agents as two real Unix users, made with
 * {@code clawfs agent add}, do what the shipped default policy allows and nothing else; root-only
 * files stay so; live policy edits under {@code system/policies/} take effect for the next
 * operation, and invalid ones are refused with the file, line, column and reason.
 */
@Timeout(value = 6, unit = TimeUnit.MINUTES, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class PolicyIT {
  private static final String DENIED = "Permission denied";

  @TempDir static Path base;
  static MountedVault vault;
  static TestAgents agents;
  static TestAgents.Agent alice;
  static TestAgents.Agent bob;

  @BeforeAll
  static void mountWithTwoAgents() throws IOException {
    TestAgents.assumeRootWithUserTools();
    // the agents must reach the mount point (JUnit makes temporary directories 0700)
    Files.setPosixFilePermissions(base, java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
    vault = MountedVault.create(base, "--no-search");
    agents = new TestAgents(vault);
    alice = agents.add("pol-alice");
    bob = agents.add("pol-bob");
    Files.createDirectories(vault.path("workspaces/proj"));
    Files.writeString(vault.path("workspaces/proj/plan.md"), "the plan\n");
    Files.writeString(vault.path("specs/spec.md"), "the spec\n");
    // writable by everyone as far as Unix modes go: the policy alone keeps agents from writing it
    Path open = vault.path("workspaces/proj/open.txt");
    Files.writeString(open, "open\n");
    Files.setPosixFilePermissions(open, java.nio.file.attribute.PosixFilePermissions.fromString("rw-rw-rw-"));
    Path rootOnly = vault.path("workspaces/proj/root-only.txt");
    Files.writeString(rootOnly, "root's\n");
    Files.setPosixFilePermissions(rootOnly, java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"));
    // the secrets folder is traversable and its secrets readable by Unix modes: the policy alone decides
    Files.setPosixFilePermissions(vault.path("vault"), java.nio.file.attribute.PosixFilePermissions.fromString("rwx--x--x"));
    Files.writeString(vault.path("vault/api-key"), "sk-test-123\n");
    Files.setPosixFilePermissions(vault.path("vault/api-key"), java.nio.file.attribute.PosixFilePermissions.fromString("rw-r--r--"));
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

  private static void allowed(TestAgents.Agent a, String script, String expectOut) {
    MountedVault.Result r = agents.as(a, script);
    assertEquals(0, r.exitCode(), a.name() + " should be allowed: " + script + " -> " + r);
    if (expectOut != null) {
      assertEquals(expectOut, r.stdout(), script);
    }
  }

  private static void denied(TestAgents.Agent a, String script) {
    MountedVault.Result r = agents.as(a, script);
    assertNotEquals(0, r.exitCode(), a.name() + " should be denied: " + script + " -> " + r);
    assertTrue(r.stderr().contains(DENIED), a.name() + ": " + script + " must fail with EACCES: " + r);
  }

  @Test
  void agentsAreRegisteredWithHomesOwnedByThem() throws IOException {
    MountedVault.Result list = MountedVault.clawfs("agent", "list", vault.mountpoint().toString());
    assertEquals(0, list.exitCode(), list.toString());
    assertTrue(list.stdout().contains("pol-alice") && list.stdout().contains("pol-bob"), list.stdout());
    for (TestAgents.Agent a : List.of(alice, bob)) {
      Path home = vault.path("agents/" + a.name());
      assertEquals(a.uid(), Files.getAttribute(home, "unix:uid"));
      assertEquals(0711, (int) Files.getAttribute(home, "unix:mode") & 07777, "others pass through to ask/ only");
      assertTrue(Files.isDirectory(home.resolve("memory")), "memory/ in the home");
      assertEquals(0700, (int) Files.getAttribute(home.resolve("memory"), "unix:mode") & 07777);
      assertEquals(a.uid(), Files.getAttribute(home.resolve("memory"), "unix:uid"));
    }
    // an agent that exists already: a clear message, exit 0; a bad name: exit 2
    MountedVault.Result again = MountedVault.clawfs("agent", "add", "pol-alice", vault.mountpoint().toString());
    assertEquals(0, again.exitCode(), again.toString());
    assertTrue(again.stdout().contains("exists already"), again.toString());
    for (String bad : List.of("Alice", "1abc", "a_b", "a".repeat(33), "../x", "")) {
      MountedVault.Result r = MountedVault.clawfs("agent", "add", bad, vault.mountpoint().toString());
      assertEquals(2, r.exitCode(), "bad name " + bad + ": " + r);
      assertTrue(r.stderr().startsWith("clawfs: bad agent name"), r.toString());
    }
    MountedVault.Result notMounted = MountedVault.clawfs("agent", "add", "pol-x", base.toString());
    assertEquals(5, notMounted.exitCode(), notMounted.toString());
  }

  @Test
  void eachAgentReadsTheSharedTreesAndWritesOnlyItsOwnHome() {
    for (TestAgents.Agent a : List.of(alice, bob)) {
      TestAgents.Agent other = a == alice ? bob : alice;
      allowed(a, "cat $M/workspaces/proj/plan.md", "the plan\n");
      allowed(a, "cat $M/specs/spec.md", "the spec\n");
      allowed(a, "ls $M/workspaces/proj", "open.txt\nplan.md\nroot-only.txt\n");
      allowed(a, "echo mine > $M/agents/" + a.name() + "/memory/note.md && cat $M/agents/" + a.name()
          + "/memory/note.md && mkdir $M/agents/" + a.name() + "/d && mv $M/agents/" + a.name() + "/memory/note.md $M/agents/"
          + a.name() + "/d/ && rm -r $M/agents/" + a.name() + "/d", "mine\n");
      denied(a, "echo x > $M/agents/" + other.name() + "/x");
      denied(a, "ls $M/agents/" + other.name());
      denied(a, "cat $M/agents/" + other.name() + "/memory");
      denied(a, "ls $M/agents"); // may pass through, may not list: agents do not learn each other's names
      denied(a, "echo x > $M/workspaces/proj/new.md");
      denied(a, "echo x >> $M/workspaces/proj/plan.md");
      denied(a, "echo x >> $M/workspaces/proj/open.txt"); // Unix modes allow it, the policy does not
      denied(a, "rm $M/specs/spec.md");
      denied(a, "mkdir $M/specs/d");
      denied(a, "touch $M/workspaces/proj/plan.md");
      // no rename out of the shared tree into the home, and no hard link that would make it writable
      denied(a, "mv $M/workspaces/proj/plan.md $M/agents/" + a.name() + "/p.md");
      denied(a, "ln $M/workspaces/proj/open.txt $M/agents/" + a.name() + "/p.md");
    }
  }

  @Test
  void theVaultIsClosedUnlessGrantedAndRootOnlyFilesStaySo() {
    for (TestAgents.Agent a : List.of(alice, bob)) {
      denied(a, "cat $M/vault/api-key");
      denied(a, "ls $M/vault");
      denied(a, "cat $M/workspaces/proj/root-only.txt"); // the policy allows it, Unix modes do not
    }
  }

  @Test
  void agentsCannotWriteSystemNorReadTheAudit() {
    denied(alice, "echo 'add x 5000 5000' > $M/system/agents");
    denied(alice, "printf 'version: 1\\n' > $M/system/policies/mine.yaml");
    denied(alice, "rm $M/system/policies/default.yaml");
    denied(alice, "cat $M/system/audit/status");
    denied(alice, "cat $M/system/policies/default.yaml");
    allowed(alice, "ls $M/system > /dev/null", null);
    allowed(alice, "cat $M/workspaces/proj/plan.md > /dev/null", null);
  }

  @Test
  void aLivePolicyEditTakesEffectForTheNextOperation() throws Exception {
    Path grant = vault.path("system/policies/grant-alice.yaml");
    try {
      denied(alice, "cat $M/vault/api-key");
      Files.writeString(grant, "version: 1\nrules:\n  - subject: agent:pol-alice\n    secrets: [api-key]\n");
      allowed(alice, "cat $M/vault/api-key", "sk-test-123\n");
      denied(bob, "cat $M/vault/api-key"); // granted by name to alice only
      denied(alice, "ls $M/vault"); // a grant is the secret, not the folder
      assertTrue(Files.readString(vault.path("system/policies/grant-alice.yaml")).contains("secrets: [api-key]"));
      assertTrue(listing("system/policies").contains("grant-alice.yaml"));

      // an invalid edit: close fails with EINVAL, the reason is in errors, the grant stays in force
      IOException e = assertThrows(IOException.class, () -> Files.writeString(grant,
          "version: 1\nrules:\n  - subject: agent:pol-alice\n    secrets: [../etc/shadow]\n"));
      assertTrue(String.valueOf(e.getMessage()).contains("Invalid argument"), e.toString());
      String errors = Files.readString(vault.path("system/policies/errors"));
      assertTrue(errors.contains("grant-alice.yaml:4:15: bad secret name \"../etc/shadow\""), errors);
      allowed(alice, "cat $M/vault/api-key", "sk-test-123\n");
      assertTrue(Files.readString(grant).contains("secrets: [api-key]"), "the stored file is the last valid one");

      // the same refusal as a shell user sees it
      Path bad = base.resolve("bad.yaml");
      Files.writeString(bad, "version: 1\nrules:\n  - subject: agent:pol-alice\n    allow: [read]\n    path: [\"/specs/**\"]\n");
      MountedVault.Result cp = MountedVault.run(List.of("cp", bad.toString(), grant.toString()), null, 30);
      assertNotEquals(0, cp.exitCode(), cp.toString());
      assertTrue(cp.stderr().contains("Invalid argument"), cp.toString());
      assertTrue(Files.readString(vault.path("system/policies/errors")).contains(
          "grant-alice.yaml:5:5: unknown key 'path' in a rule"), Files.readString(vault.path("system/policies/errors")));

      // revoke: removing the file takes its rules out of force at once
      Files.delete(grant);
      denied(alice, "cat $M/vault/api-key");
      assertTrue(!listing("system/policies").contains("grant-alice.yaml"));
    } finally {
      Files.deleteIfExists(grant);
    }
  }

  @Test
  void aPolicyIsKeptSealedAcrossRemounts() throws Exception {
    Path grant = vault.path("system/policies/grant-bob.json");
    Files.writeString(grant, "{\"version\": 1, \"rules\": [{\"subject\": \"agent:pol-bob\", \"secrets\": [\"api-key\"]}]}");
    try {
      allowed(bob, "cat $M/vault/api-key", "sk-test-123\n");
      vault.unmount();
      assertTrue(Files.exists(vault.vault().resolve("admin/policies.sealed")));
      for (Path p : List.of(vault.vault().resolve("admin/policies.sealed"), vault.vault().resolve("admin/agents.sealed"))) {
        String raw = new String(Files.readAllBytes(p), StandardCharsets.ISO_8859_1);
        assertTrue(!raw.contains("pol-bob") && !raw.contains("api-key") && !raw.contains("version"),
            p + " must hold no plaintext");
      }
      vault.mount();
      allowed(bob, "cat $M/vault/api-key", "sk-test-123\n");
      denied(alice, "cat $M/vault/api-key");
      MountedVault.Result list = MountedVault.clawfs("agent", "list", vault.mountpoint().toString());
      assertTrue(list.stdout().contains("pol-alice") && list.stdout().contains("pol-bob"), "agents survive a remount");
    } finally {
      Files.deleteIfExists(grant);
    }
    denied(bob, "cat $M/vault/api-key");
  }

  @Test
  void badPolicyInputIsRefusedWithTheReason() throws Exception {
    Path p = vault.path("system/policies/site.yaml");
    // malformed YAML
    assertThrows(IOException.class, () -> Files.writeString(p, "version: 1\nrules:\n  - subject: any\n   allow: [read]\n"));
    assertTrue(errors().contains("site.yaml:4:4: syntax error"), errors());
    // a secret name with '..'
    assertThrows(IOException.class, () -> Files.writeString(p,
        "version: 1\nrules:\n  - subject: agents\n    secrets: [\"..\"]\n"));
    assertTrue(errors().contains("site.yaml:4:15: bad secret name"), errors());
    // a glob reaching into the vault
    assertThrows(IOException.class, () -> Files.writeString(p,
        "version: 1\nrules:\n  - subject: agents\n    allow: [read]\n    paths: [\"/**\"]\n"));
    assertTrue(errors().contains("could reach into /vault"), errors());
    // a glob that matches nothing: accepted, with a warning
    Files.writeString(p, "version: 1\nrules:\n  - subject: agents\n    allow: [read]\n    paths: [\"/workspace/**\"]\n");
    try {
      assertTrue(errors().contains("site.yaml:5:13: warning: \"/workspace/**\" matches nothing"), errors());
      // a name that is not a policy file, and the files that cannot be changed
      assertThrows(IOException.class, () -> Files.writeString(vault.path("system/policies/notes.txt"), "x"));
      assertTrue(errors().contains("notes.txt: not a policy file name"), errors());
      Path refused = vault.path("system/policies/refused.yaml");
      assertThrows(IOException.class, () -> Files.writeString(refused, "rules: []\n"));
      Thread.sleep(2500);
      assertTrue(!listing("system/policies").contains("refused.yaml"), "a refused new file goes away");
      assertThrows(IOException.class, () -> Files.writeString(vault.path("system/policies/default.yaml"), "version: 1\n"));
      assertThrows(IOException.class, () -> Files.delete(vault.path("system/policies/default.yaml")));
      // the default policy still holds after all of it
      denied(alice, "cat $M/vault/api-key");
      allowed(alice, "cat $M/specs/spec.md", "the spec\n");
    } finally {
      Files.deleteIfExists(p);
    }
    assertTrue(!errors().contains("warning: \"/workspace/**\""), "its warning leaves with the file");
  }

  private static String errors() throws IOException {
    return Files.readString(vault.path("system/policies/errors"));
  }

  private static String listing(String dir) throws IOException {
    try (var s = Files.list(vault.path(dir))) {
      return String.join(" ", s.map(x -> x.getFileName().toString()).toList());
    }
  }
}
