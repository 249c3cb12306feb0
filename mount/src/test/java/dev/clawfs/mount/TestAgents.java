package dev.clawfs.mount;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.sun.security.auth.module.UnixSystem;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Assumptions;

/**
 * Test fixture: agents of a mount as real Unix users, made with {@code clawfs agent add} (which
 * runs useradd), and commands run as them with setpriv. {@link #close()} removes the users.
 */
final class TestAgents implements AutoCloseable {
  /** An agent of the mount: its name and ids. */
  record Agent(String name, int uid, int gid) {
    String user() {
      return "clawfs-" + name;
    }
  }

  private final MountedVault vault;
  private final List<Agent> added = new ArrayList<>();

  TestAgents(MountedVault vault) {
    this.vault = vault;
  }

  /** Skips (visibly) unless the test runs as root with useradd and setpriv at hand. */
  static void assumeRootWithUserTools() {
    Assumptions.assumeTrue(new UnixSystem().getUid() == 0,
        "SKIPPED: needs root (creates Unix users for the agents and mounts with allow_other)");
    for (String tool : List.of("/usr/sbin/useradd", "/usr/sbin/userdel", "/usr/bin/setpriv")) {
      Assumptions.assumeTrue(Files.isExecutable(Path.of(tool)), "SKIPPED: " + tool + " is missing");
    }
  }

  /** {@code clawfs agent add NAME MOUNTPOINT}, then the ids from the passwd entry it made. */
  Agent add(String name) {
    // a user left behind by an aborted run is taken over (agent add reuses clawfs-NAME)
    MountedVault.Result r = MountedVault.clawfs("agent", "add", name, vault.mountpoint().toString());
    assertEquals(0, r.exitCode(), "clawfs agent add " + name + ": " + r);
    MountedVault.Result id = MountedVault.run(List.of("getent", "passwd", "clawfs-" + name), null, 30);
    String[] f = id.stdout().strip().split(":");
    Agent a = new Agent(name, Integer.parseInt(f[2]), Integer.parseInt(f[3]));
    added.add(a);
    return a;
  }

  /**
   * Runs {@code script} with sh as the agent (its uid and gid, no other groups). {@code $M} in the
   * script is the mount point.
   */
  MountedVault.Result as(Agent a, String script) {
    return MountedVault.run(List.of("setpriv", "--reuid=" + a.uid(), "--regid=" + a.gid(), "--clear-groups", "--",
        "sh", "-c", script), null, 60, java.util.Map.of("M", vault.mountpoint().toString()), null);
  }

  @Override
  public void close() {
    for (Agent a : added) {
      MountedVault.run(List.of("userdel", a.user()), null, 60);
    }
    added.clear();
  }
}
