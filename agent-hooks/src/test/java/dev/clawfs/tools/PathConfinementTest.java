package dev.clawfs.tools;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A module that tries to reach files it was not given (src/test/c/escape.c) against a tree with a
 * secret outside its grants, symlinks pointing out, and a writable and a read-only grant. Whatever
 * the path trick, it gets only what the manifest grants and the policy allows.
 */
class PathConfinementTest {

  private static final String SECRET = "TOP SECRET";

  private MemoryToolFiles files;
  private ToolRuntime rt;
  private Tool escape;

  @BeforeEach
  void setUp() throws Exception {
    files =
        new MemoryToolFiles()
            .file("/workspaces/x/notes.txt", "hello notes\n")
            .file("/workspaces/x/sub/deep.txt", "deep\n")
            .symlink("/workspaces/x/link-in", "notes.txt")
            .symlink("/workspaces/x/link-abs", "/specs/secret.txt")
            .symlink("/workspaces/x/link-rel", "../../specs/secret.txt")
            .symlink("/workspaces/x/link-host", "/etc/passwd")
            .symlink("/workspaces/x/dirlink", "/specs")
            .file("/workspaces/y/other.txt", "not granted\n")
            .dir("/workspaces/out")
            .file("/specs/secret.txt", SECRET + "\n");
    rt = ToolRuntime.builder().withFiles(files).build();
    escape =
        rt.install(
            Modules.manifest("escape", 64, 10_000, 1 << 20, "/workspaces/x", "/workspaces/out"),
            Modules.hostile("escape"));
  }

  private RunResult run(ToolPolicy policy, String... args) {
    RunResult r = rt.run(escape, ToolRequest.of(1000, new byte[0], args), policy);
    assertEquals(RunRecord.Outcome.EXITED, r.outcome(), r::toString);
    return r;
  }

  private RunResult run(String... args) {
    return run(ToolPolicy.UNRESTRICTED, args);
  }

  private void assertDenied(RunResult r, String path) {
    assertEquals(1, r.exitCode(), () -> "got through: " + r.stdoutText());
    assertTrue(r.stdoutText().startsWith("DENIED " + path + ": "), r.stdoutText());
    assertFalse(r.stdoutText().contains(SECRET));
    assertFalse(r.stdoutText().contains("root:"));
  }

  @Test
  void grantedFilesAreReadable() {
    assertEquals(
        "OPENED /workspaces/x/notes.txt: hello notes\n",
        run("open", "/workspaces/x/notes.txt").stdoutText());
    assertEquals(
        "OPENED /workspaces/x/sub/deep.txt: deep\n",
        run("open", "/workspaces/x/sub/deep.txt").stdoutText());
    assertEquals("OPENED sub/deep.txt: deep\n", run("raw", "sub/deep.txt").stdoutText());
  }

  @Test
  void theHostsFilesDoNotExistForTheTool() {
    assertDenied(run("open", "/etc/passwd"), "/etc/passwd");
    assertDenied(run("open", "/proc/self/environ"), "/proc/self/environ");
  }

  @Test
  void dotDotCannotLeaveAPreopen() {
    assertDenied(run("open", "/workspaces/x/../../etc/passwd"), "/workspaces/x/../../etc/passwd");
    assertDenied(run("open", "/workspaces/x/../y/other.txt"), "/workspaces/x/../y/other.txt");
    // straight to path_open on the preopen's descriptor, past libc's path handling
    assertDenied(run("raw", "../../etc/passwd"), "../../etc/passwd");
    assertDenied(run("raw", "../y/other.txt"), "../y/other.txt");
    assertDenied(run("raw", "sub/../../../specs/secret.txt"), "sub/../../../specs/secret.txt");
    assertDenied(run("raw", "/etc/passwd"), "/etc/passwd");
  }

  @Test
  void pathsOutsideTheGrantsAreNotThere() {
    assertDenied(run("open", "/specs/secret.txt"), "/specs/secret.txt");
    assertDenied(run("open", "/workspaces/y/other.txt"), "/workspaces/y/other.txt");
  }

  @Test
  void symlinksCannotLeadOut() {
    for (String link : List.of("link-abs", "link-rel", "link-host")) {
      RunResult r = run("open", "/workspaces/x/" + link);
      assertDenied(r, "/workspaces/x/" + link);
      assertTrue(
          r.record().denials().stream().anyMatch(d -> d.contains("outside the paths granted")),
          r.record()::toString);
    }
    assertDenied(
        run("open", "/workspaces/x/dirlink/secret.txt"), "/workspaces/x/dirlink/secret.txt");
    assertEquals(
        "OPENED /workspaces/x/link-in: hello notes\n",
        run("open", "/workspaces/x/link-in").stdoutText(),
        "a link that stays inside the grant works");
  }

  @Test
  void readOnlyGrantsCannotBeChanged() {
    RunResult r = run("write", "/workspaces/x/new.txt");
    assertDenied(r, "/workspaces/x/new.txt");
    assertEquals(
        List.of("denied write /workspaces/x/new.txt: granted read-only"), r.record().denials());
    assertNull(files.content("/workspaces/x/new.txt"));
    assertDenied(run("write", "/workspaces/x/notes.txt"), "/workspaces/x/notes.txt");
    assertEquals("hello notes\n", files.text("/workspaces/x/notes.txt"));
    assertDenied(run("mkdir", "/workspaces/x/d"), "/workspaces/x/d");
    assertDenied(run("rm", "/workspaces/x/notes.txt"), "/workspaces/x/notes.txt");
    assertEquals("hello notes\n", files.text("/workspaces/x/notes.txt"));
    assertDenied(run("write", "/specs/secret.txt"), "/specs/secret.txt");
    assertEquals(SECRET + "\n", files.text("/specs/secret.txt"));
  }

  @Test
  void writableGrantsReachTheCoreOnClose() {
    RunResult r = run("write", "/workspaces/out/result.txt");
    assertEquals("WROTE /workspaces/out/result.txt\n", r.stdoutText());
    assertEquals("pwned\n", files.text("/workspaces/out/result.txt"));
    assertEquals(6 + r.stdoutText().length(), r.record().bytesOut(), "file bytes count as output");
    assertEquals("WROTE /workspaces/out/d\n", run("mkdir", "/workspaces/out/d").stdoutText());
    assertEquals(
        "WROTE /workspaces/out/result.txt\n", run("rm", "/workspaces/out/result.txt").stdoutText());
    assertNull(files.content("/workspaces/out/result.txt"));
    assertDenied(
        run("write", "/workspaces/out/../x/sneaky.txt"), "/workspaces/out/../x/sneaky.txt");
  }

  @Test
  void theCallersPolicyNarrowsTheGrant() {
    ToolPolicy noNotes =
        ToolPolicy.UNRESTRICTED.withPaths(
            (path, write) -> !path.equals("/workspaces/x/notes.txt") && !write);
    RunResult r = run(noNotes, "open", "/workspaces/x/notes.txt");
    assertDenied(r, "/workspaces/x/notes.txt");
    assertEquals(
        List.of("denied read /workspaces/x/notes.txt: the caller may not (its policy or the Unix modes)"),
        r.record().denials());
    assertEquals(
        "OPENED /workspaces/x/sub/deep.txt: deep\n",
        run(noNotes, "open", "/workspaces/x/sub/deep.txt").stdoutText());
    assertDenied(run(noNotes, "write", "/workspaces/out/a.txt"), "/workspaces/out/a.txt");
    String listing = run(noNotes, "preopens").stdoutText();
    assertFalse(listing.contains("notes.txt"), listing);
  }

  @Test
  void theToolSeesExactlyItsGrantsAsPreopens() {
    // Chicory's readdir stats each entry following links: links that lead out of the grants, and
    // ".." of a granted root, resolve to nothing here and are left out of the listing
    assertEquals(
        "PREOPEN /workspaces/x: . link-in notes.txt sub\nPREOPEN /workspaces/out: .\n",
        run("preopens").stdoutText());
    ToolPolicy nothing = ToolPolicy.UNRESTRICTED.withPaths(PathGate.NONE);
    assertEquals("", run(nothing, "preopens").stdoutText(), "no readable grant, no preopen");
  }

  @Test
  void withoutToolFilesThereAreNoFilesAtAll() throws Exception {
    ToolRuntime bare = ToolRuntime.builder().build();
    Tool t = bare.install(escape.manifest(), escape.moduleBytes());
    RunResult r =
        bare.run(t, ToolRequest.of(1000, new byte[0], "preopens"), ToolPolicy.UNRESTRICTED);
    assertEquals("", r.stdoutText());
  }
}
