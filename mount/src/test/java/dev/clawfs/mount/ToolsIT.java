package dev.clawfs.mount;

import static dev.clawfs.mount.ToolCalls.EACCES;
import static dev.clawfs.mount.ToolCalls.EFBIG;
import static dev.clawfs.mount.ToolCalls.EIO;
import static dev.clawfs.mount.ToolCalls.ENOMEM;
import static dev.clawfs.mount.ToolCalls.ETIME;
import static dev.clawfs.mount.ToolCalls.json;
import static dev.clawfs.mount.ToolCalls.parseRaw;
import static dev.clawfs.mount.ToolCalls.rawCommand;
import static dev.clawfs.mount.ToolCalls.rawShell;
import static dev.clawfs.mount.ToolCalls.runJson;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.security.auth.module.UnixSystem;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The WASM tools through the real mount ({@code MOUNT/tools/NAME/}): the four shipped tools give
 * what the native command (or an independent computation) gives through each way in (the raw
 * {@code run} file as a shell user drives it, {@code run.json}, {@code clawfs tool run}, the
 * inbox/outbox drop box); exit codes and limits come back as the protocol says (EIO, ETIME,
 * ENOMEM, EFBIG; EXITED/LIMIT; 124/125/126); hostile modules installed with
 * {@code clawfs tool add} are stopped or refused while the mount keeps serving; the policy's
 * {@code tools:} section and the caller's own rights decide, per agent (two real Unix users);
 * runs appear in the audit stream and in each tool's log; installed modules are kept sealed in
 * the vault across remounts.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class ToolsIT {
  private static final ObjectMapper JSON = new ObjectMapper();
  /** Wall time of the hostile infinite loop: long enough to do other work while it spins. */
  private static final int LOOP_MS = 2500;
  private static final String DIR = "/workspaces/tools-it";
  private static final String SECRET = "TOP-SECRET-tools-it-7f3a";

  private static final String NOTES = "# Notes\n\nhello  world\tand tabs\n   leading spaces\n"
      + "caf\u00e9 na\u00efve \u00fcber \u00e9t\u00e9\n\nlast line, no newline";
  private static final String DOC =
      "{\"name\":\"clawfs\",\"tags\":[\"fuse\",\"wasm\"],\"nested\":{\"k\":[1,{\"deep\":true}]},\"quoted key\":\"v\"}\n";
  private static final String MD = "# Release notes\n\nSome **bold** and *italic* text with a"
      + " [link](https://example.com/x).\n\n- first item\n- second item\n\n> quoted line\n";
  /** MD as md2text's header comment says it comes out (checked by hand). */
  private static final String MD_TEXT = "Release notes\n\nSome bold and italic text with a link"
      + " (https://example.com/x).\n\n- first item\n- second item\n\n  quoted line\n";
  private static final byte[] DATA = new byte[200_000];

  @TempDir static Path base;
  static MountedVault vault;
  static String m;
  /** Host folder with the inputs (readable by the agents) and raw.py. */
  static Path in;
  static Path raw;
  static TestAgents agents;
  static TestAgents.Agent alice;
  static TestAgents.Agent bob;

  @BeforeAll
  static void mountWithInputs() throws Exception {
    // the agents must reach the mount point and the inputs (JUnit makes temporary directories 0700)
    Files.setPosixFilePermissions(base, PosixFilePermissions.fromString("rwxr-xr-x"));
    vault = MountedVault.create(base, "--no-search");
    m = vault.mountpoint().toString();
    String status = Files.readString(vault.path("system/tools/status"));
    assertTrue(status.contains("shipped: jsonq md2text sha256 wordcount\n"),
        "the shipped tools must be built into the jar (agent-hooks needs clang, lld, wasi-libc;"
            + " ./test.sh installs them): " + status);
    // the packaged jar must run tools compiled (a wrong ASM on the classpath silently fell back
    // to the interpreter, ~40x slower, and a 100 MiB SHA-256 hit the time limit)
    assertTrue(status.contains("engines: jsonq=compiler md2text=compiler sha256=compiler wordcount=compiler\n"),
        "every shipped tool runs compiled: " + status);
    new Random(42).nextBytes(DATA);
    in = Files.createDirectories(base.resolve("in"));
    Files.writeString(in.resolve("notes.md"), NOTES);
    Files.write(in.resolve("data.bin"), DATA);
    Files.writeString(in.resolve("doc.json"), DOC);
    Files.writeString(in.resolve("rn.md"), MD);
    raw = ToolCalls.writeRawScript(in);
    Files.createDirectories(vault.path(DIR.substring(1)));
    for (String f : List.of("notes.md", "data.bin", "doc.json", "rn.md")) {
      Files.copy(in.resolve(f), vault.path(DIR.substring(1) + "/" + f));
    }
    if (rootWithUserTools()) {
      agents = new TestAgents(vault);
      alice = agents.add("tl-alice");
      bob = agents.add("tl-bob");
    }
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

  // ================================================================== the shipped tools, every way in

  @Test
  void wordcountCountsLikeWcThroughEveryWayIn() throws Exception {
    String expected = wcOfStdin(in.resolve("notes.md"));
    assertTrue(expected.matches(" +\\d+ +\\d+ +\\d+\n"), "wc's own output: " + expected);

    // the raw transaction, as a shell user does it
    MountedVault.Result sh = shellRaw("wordcount", "notes.md");
    assertEquals(0, sh.exitCode(), sh.toString());
    assertEquals(expected, sh.stdout(), "exec 3<> run; cat notes.md >&3; cat <&3");

    assertExited0(runJson(tool("wordcount", "run.json"), Map.of("args", List.of(), "stdin", NOTES)), expected);

    MountedVault.Result cli = cli(utf8(NOTES), "wordcount");
    assertEquals(0, cli.exitCode(), cli.toString());
    assertEquals(expected, cli.stdout(), "clawfs tool run");

    // the drop box, with options and files of the mount (read by the tool through the core)
    JsonNode job = dropBox("wordcount", "count-1",
        Map.of("args", List.of("-l", "-w", DIR + "/notes.md", DIR + "/doc.json")));
    assertExited0(job, wcOfFiles("-l", "-w", DIR + "/notes.md", DIR + "/doc.json"));
  }

  @Test
  void sha256HashesLikeSha256sumThroughEveryWayIn() throws Exception {
    String hex = sha256(DATA);
    MountedVault.Result native_ = MountedVault.run(List.of("sha256sum", "data.bin"), in, 30);
    assertEquals(hex + "  data.bin\n", native_.stdout(), "sha256sum and MessageDigest agree");
    String line = hex + "  -\n";

    MountedVault.Result sh = shellRaw("sha256", "data.bin");
    assertEquals(0, sh.exitCode(), sh.toString());
    assertEquals(line, sh.stdout(), "200 KB of binary stdin through the raw run");

    assertExited0(runJson(tool("sha256", "run.json"),
        Map.of("args", List.of(), "stdinBase64", Base64.getEncoder().encodeToString(DATA))), line);

    MountedVault.Result cli = cli(DATA, "sha256");
    assertEquals(0, cli.exitCode(), cli.toString());
    assertEquals(line, cli.stdout());
    // --stdin-path: a file of the mount, named by its host path, read with the caller's rights
    MountedVault.Result byPath = cliWith(List.of("--stdin-path", m + DIR + "/data.bin"), "sha256");
    assertEquals(0, byPath.exitCode(), byPath.toString());
    assertEquals(line, byPath.stdout());

    JsonNode job = dropBox("sha256", "hash-1", Map.of("args", List.of(DIR + "/data.bin", DIR + "/notes.md")));
    String expected = hex + "  " + DIR + "/data.bin\n" + sha256(utf8(NOTES)) + "  " + DIR + "/notes.md\n";
    assertExited0(job, expected);
    MountedVault.Result sum = MountedVault.run(List.of("sha256sum", m + DIR + "/data.bin", m + DIR + "/notes.md"), null, 30);
    assertEquals(expected, sum.stdout().replace(m, ""), "sha256sum of the same files through the mount");
  }

  @Test
  void jsonqSelectsWhatTheFilterSaysThroughEveryWayIn() throws Exception {
    JsonNode doc = JSON.readTree(DOC);
    // (the raw run gives a tool no arguments, so jsonq has no FILTER there: see the exit code test)
    JsonNode reply = runJson(tool("jsonq", "run.json"), Map.of("args", List.of(".nested"), "stdin", DOC));
    String pretty = "{\n  \"k\": [\n    1,\n    {\n      \"deep\": true\n    }\n  ]\n}\n";
    assertExited0(reply, pretty);
    assertEquals(doc.get("nested"), JSON.readTree(reply.get("stdout").asText()), "the value selected");

    MountedVault.Result index = cli(utf8(DOC), "jsonq", ".tags[1]");
    assertEquals(0, index.exitCode(), index.toString());
    assertEquals("\"wasm\"\n", index.stdout());
    MountedVault.Result quoted = cli(utf8(DOC), "jsonq", ".[\"quoted key\"]");
    assertEquals("\"v\"\n", quoted.stdout(), quoted.toString());
    MountedVault.Result missing = cli(utf8(DOC), "jsonq", ".missing");
    assertEquals("null\n", missing.stdout(), "a missing key is null, as in jq: " + missing);
    // what follows the tool's name is the tool's, options too
    MountedVault.Result rawString = cli(utf8(DOC), "jsonq", "-r", ".name");
    assertEquals(0, rawString.exitCode(), rawString.toString());
    assertEquals("clawfs\n", rawString.stdout());

    JsonNode job = dropBox("jsonq", "query-1", Map.of("args", List.of("-c", ".nested.k", DIR + "/doc.json")));
    assertExited0(job, "[1,{\"deep\":true}]\n");
    assertEquals(doc.at("/nested/k"), JSON.readTree(job.get("stdout").asText()));
  }

  @Test
  void md2textGivesThePlainTextThroughEveryWayIn() throws Exception {
    MountedVault.Result sh = shellRaw("md2text", "rn.md");
    assertEquals(0, sh.exitCode(), sh.toString());
    assertEquals(MD_TEXT, sh.stdout());

    assertExited0(runJson(tool("md2text", "run.json"), Map.of("stdin", MD)), MD_TEXT);

    MountedVault.Result cli = cli(utf8(MD), "md2text");
    assertEquals(0, cli.exitCode(), cli.toString());
    assertEquals(MD_TEXT, cli.stdout());

    assertExited0(dropBox("md2text", "text-1", Map.of("args", List.of(DIR + "/rn.md"))), MD_TEXT);
  }

  // ================================================================== exit codes

  @Test
  void aToolThatExitsNonZeroIsReportedWithItsExitCode() throws Exception {
    String bad = "{\"a\": tru";
    JsonNode reply = runJson(tool("jsonq", "run.json"), Map.of("args", List.of(".a"), "stdin", bad));
    assertEquals("EXITED", reply.get("outcome").asText(), reply.toString());
    assertEquals(2, reply.get("exit").asInt(), reply.toString());
    assertEquals("", reply.get("stdout").asText());
    assertTrue(reply.get("stderr").asText().startsWith("jsonq: invalid JSON at line 1"), reply.toString());

    MountedVault.Result cli = cli(utf8(bad), "jsonq", ".a");
    assertEquals(2, cli.exitCode(), "clawfs tool run exits with the tool's code: " + cli);
    assertTrue(cli.stderr().contains("jsonq: invalid JSON at line 1"), "the tool's stderr is passed through: " + cli);
    MountedVault.Result step = cli(utf8(DOC), "jsonq", ".name.x");
    assertEquals(5, step.exitCode(), "a filter step that does not apply (as jq): " + step);
    assertTrue(step.stderr().contains("cannot index string"), step.toString());

    // an unknown option
    JsonNode z = runJson(tool("wordcount", "run.json"), Map.of("args", List.of("-z"), "stdin", "x"));
    assertEquals("EXITED", z.get("outcome").asText(), z.toString());
    assertEquals(2, z.get("exit").asInt(), z.toString());
    assertTrue(z.get("stderr").asText().contains("invalid option -- 'z'"), z.toString());
    MountedVault.Result zCli = cliWith(List.of("--no-stdin"), "wordcount", "-z");
    assertEquals(2, zCli.exitCode(), zCli.toString());
    assertTrue(zCli.stderr().contains("wordcount: invalid option -- 'z'"), zCli.toString());

    // the raw run passes no arguments: jsonq without a FILTER exits 2 (usage), and the read ends with EIO
    ToolCalls.Raw r = parseRaw(MountedVault.run(rawCommand(raw, tool("jsonq", "run"), null, false),
        null, 60));
    assertEquals(0, r.openErrno(), r.toString());
    assertEquals(EIO, r.errno(), "a run that exits non-zero reads as EIO after its stdout: " + r);
    assertEquals("", r.text(), r.toString());
    MountedVault.Result sh = shellRaw("jsonq", "doc.json");
    assertNotEquals(0, sh.exitCode(), sh.toString());
    assertTrue(sh.stderr().contains("Input/output error"), "what a shell user sees: " + sh);

    List<JsonNode> log = logOf(vault.path("tools/jsonq/log"));
    assertTrue(log.stream().anyMatch(l -> l.path("outcome").asText().equals("EXITED") && l.path("exit").asInt() == 5),
        "the log has the exit code: " + log);
  }

  // ================================================================== hostile modules

  @Test
  void anInfiniteLoopIsStoppedAtItsWallTimeWhileTheMountKeepsServing() throws Exception {
    assumeRoot();
    install("spin", "loop", hostileManifest("spin", 16, LOOP_MS, 4096, null));
    Process p = null;
    try {
      Path log = vault.path("tools/spin/log");
      assertEquals("", Files.readString(log), "no run yet");
      ProcessBuilder pb = new ProcessBuilder(DevNull.wrap(rawCommand(raw, tool("spin", "run"), null, true)));
      pb.redirectInput(DevNull.input());
      pb.redirectError(base.resolve("spin.err").toFile());
      p = pb.start();
      BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
      assertEquals("STARTED", out.readLine(), "the loop wrote its first line and spins; stderr: "
          + Files.readString(base.resolve("spin.err")));

      // while it spins, other processes read a file of the mount and run a tool
      MountedVault.Result cat = MountedVault.run(List.of("cat", m + DIR + "/notes.md"), null, 30);
      assertEquals(0, cat.exitCode(), cat.toString());
      assertArrayEquals(utf8(NOTES), cat.stdout().getBytes(StandardCharsets.ISO_8859_1), "the file read meanwhile");
      MountedVault.Result wc = shellRaw("wordcount", "notes.md");
      assertEquals(0, wc.exitCode(), wc.toString());
      assertEquals(wcOfStdin(in.resolve("notes.md")), wc.stdout());
      assertTrue(p.isAlive(), "the loop's reader must still be waiting, or the check above proves nothing");
      assertEquals("", Files.readString(log), "the loop's run is not over: it is not in its log yet");

      ToolCalls.Raw r = parseRaw(out.readLine());
      assertTrue(p.waitFor(30, TimeUnit.SECONDS));
      assertEquals(ETIME, r.errno(), "the raw read of a run stopped at its wall time: " + r);
      assertEquals("loop: spin\n", r.text(), "what it wrote before is delivered first");
      assertTrue(r.millis() >= LOOP_MS - 100, "ran until its wall time: " + r);
      List<JsonNode> lines = awaitLog(vault.path("tools/spin/log"), 1);
      assertEquals("LIMIT", lines.get(0).get("outcome").asText(), lines.toString());
      assertEquals("TIME", lines.get(0).get("limit").asText(), lines.toString());

      JsonNode reply = runJson(tool("spin", "run.json"), Map.of("args", List.of("spin")));
      assertEquals("LIMIT", reply.get("outcome").asText(), reply.toString());
      assertEquals("TIME", reply.get("limit").asText(), reply.toString());
      assertTrue(reply.get("exit").isNull(), reply.toString());
      assertEquals("time limit: stopped after " + LOOP_MS + " ms", reply.get("message").asText());
      assertEquals("loop: spin\n", reply.get("stdout").asText());
      long ms = reply.get("durationMs").asLong();
      assertTrue(ms >= LOOP_MS, "durationMs " + ms); // ran its whole allowance; stopped, as outcome and message say

      MountedVault.Result cli = cliWith(List.of("--no-stdin"), "spin", "spin");
      assertEquals(124, cli.exitCode(), "clawfs tool run: 124 for the time limit, like timeout(1): " + cli);
      assertEquals("loop: spin\n", cli.stdout());
      assertTrue(cli.stderr().contains("time limit: stopped after " + LOOP_MS + " ms"), cli.toString());
    } finally {
      if (p != null && p.isAlive()) {
        p.destroyForcibly();
      }
      remove("spin");
    }
  }

  @Test
  void aMemoryBombIsStoppedAtItsMemoryLimit() throws Exception {
    assumeRoot();
    install("bomb", "membomb", hostileManifest("bomb", 64, 20_000, 4096, null));
    try {
      for (String mode : List.of("malloc", "grow")) {
        JsonNode reply = runJson(tool("bomb", "run.json"), Map.of("args", List.of(mode)));
        assertEquals("LIMIT", reply.get("outcome").asText(), mode + ": " + reply);
        assertEquals("MEMORY", reply.get("limit").asText(), mode + ": " + reply);
        assertTrue(reply.get("message").asText().startsWith("memory limit: the module asked to grow its memory to "),
            reply.toString());
        assertTrue(reply.get("message").asText().contains("the limit is 64 (4 MiB)"), reply.toString());
        assertEquals("", reply.get("stdout").asText(), "stopped at the refused grow: " + reply);
      }
      ToolCalls.Raw r = parseRaw(MountedVault.run(rawCommand(raw, tool("bomb", "run"), null, false), null, 60));
      assertEquals(ENOMEM, r.errno(), "the raw read of a run stopped at its memory limit: " + r);
      MountedVault.Result cli = cliWith(List.of("--no-stdin"), "bomb", "malloc");
      assertEquals(125, cli.exitCode(), cli.toString());
      assertTrue(cli.stderr().contains("memory limit"), cli.toString());
      assertEquals(4, awaitLog(vault.path("tools/bomb/log"), 4).stream()
          .filter(l -> l.path("limit").asText().equals("MEMORY")).count());
    } finally {
      remove("bomb");
    }
  }

  @Test
  void gigabytesOfOutputAreCutAtTheOutputLimit() throws Exception {
    assumeRoot();
    int limit = 1 << 20;
    install("flood", "flood", hostileManifest("flood", 16, 20_000, limit, null));
    try {
      JsonNode reply = runJson(tool("flood", "run.json"), Map.of("args", List.of("stdout")));
      assertEquals("LIMIT", reply.get("outcome").asText(), brief(reply));
      assertEquals("OUTPUT", reply.get("limit").asText());
      assertEquals("output limit: the tool wrote more than " + limit
          + " bytes (stdout, stderr and files together); stopped while writing stdout", reply.get("message").asText());
      assertEquals("y".repeat(limit), reply.get("stdout").asText(), "exactly what fitted is delivered");
      assertEquals(limit, reply.get("bytesOut").asLong());

      ToolCalls.Raw r = parseRaw(MountedVault.run(rawCommand(raw, tool("flood", "run"), null, false), null, 60));
      assertEquals(EFBIG, r.errno(), "the raw read ends with EFBIG after the output that fitted: " + r);
      assertEquals(limit, r.out().length, r.toString());
      assertTrue(allY(r.out()), "only the tool's bytes");

      MountedVault.Result cli = cliWith(List.of("--no-stdin"), "flood", "stdout");
      assertEquals(125, cli.exitCode(), "exit " + cli.exitCode() + " stderr " + cli.stderr());
      assertEquals(limit, cli.stdout().length(), "clawfs tool run passes the cut output through");
      assertTrue(cli.stderr().contains("output limit"), cli.stderr());
    } finally {
      remove("flood");
    }
  }

  @Test
  void aToolFindsNothingOutsideItsGrants() throws Exception {
    assumeRoot();
    String pub = DIR + "/pub";
    Files.createDirectories(vault.path(pub.substring(1)));
    Files.writeString(vault.path(pub.substring(1) + "/ok.txt"), "public words\n");
    Files.writeString(vault.path(DIR.substring(1) + "/secret.txt"), SECRET + "\n");
    Files.writeString(vault.path("specs/tools-it-secret.md"), SECRET + "\n");
    install("escape", "escape", hostileManifest("escape", 64, 10_000, 1 << 20, pub));
    try {
      assertExited0(runJson(tool("escape", "run.json"), Map.of("args", List.of("open", pub + "/ok.txt"))),
          "OPENED " + pub + "/ok.txt: public words\n");
      List<List<String>> attempts = List.of(
          List.of("open", "/etc/passwd"),
          List.of("open", "/proc/self/environ"),
          List.of("open", pub + "/../secret.txt"),
          List.of("raw", "../secret.txt"),
          List.of("raw", "../../../../../etc/passwd"),
          List.of("open", DIR + "/secret.txt"),
          List.of("open", "/specs/tools-it-secret.md"));
      for (List<String> args : attempts) {
        JsonNode reply = runJson(tool("escape", "run.json"), Map.of("args", args));
        assertEquals("EXITED", reply.get("outcome").asText(), args + ": " + reply);
        assertEquals(1, reply.get("exit").asInt(), args + " got through: " + reply);
        assertTrue(reply.get("stdout").asText().startsWith("DENIED " + args.get(1) + ": "), args + ": " + reply);
        assertNoLeak(reply, args.toString());
      }
      // a write is refused, and the reply says so
      JsonNode write = runJson(tool("escape", "run.json"), Map.of("args", List.of("write", pub + "/pwned")));
      assertEquals(1, write.get("exit").asInt(), write.toString());
      assertTrue(write.path("denials").toString().contains("denied write " + pub + "/pwned"), write.toString());
      assertFalse(Files.exists(vault.path(pub.substring(1) + "/pwned")), "nothing written");
      // its whole world is the one granted folder
      JsonNode pre = runJson(tool("escape", "run.json"), Map.of("args", List.of("preopens")));
      assertEquals("PREOPEN " + pub + ": . ok.txt\n", pre.get("stdout").asText(), pre.toString());
      // the raw run: a tool's stdout comes first, then the error (exit 1: EIO)
      ToolCalls.Raw r = parseRaw(MountedVault.run(rawCommand(raw, tool("escape", "run"), null, false), null, 60));
      assertEquals("DENIED -: usage: escape MODE [PATH]\n", r.text(), r.toString());
      assertEquals(EIO, r.errno(), r.toString());
    } finally {
      remove("escape");
      Files.deleteIfExists(vault.path("specs/tools-it-secret.md"));
      Files.deleteIfExists(vault.path(DIR.substring(1) + "/secret.txt"));
      Files.deleteIfExists(vault.path(pub.substring(1) + "/ok.txt"));
      Files.deleteIfExists(vault.path(pub.substring(1)));
    }
  }

  @Test
  void malformedModulesAndUnknownImportsAreRefusedAtInstall() throws Exception {
    assumeRoot();
    Path truncated = base.resolve("truncated.wasm");
    Files.write(truncated, Arrays.copyOf(Files.readAllBytes(hostile("loop")), 200));
    Path script = base.resolve("script.wasm");
    Files.writeString(script, "#!/bin/sh\ncat /etc/passwd\n");
    Set<String> kept = keptFiles();
    String toolsBefore = listing("tools");
    Object[][] cases = {
      {"broken", truncated, "module refused: malformed WebAssembly: "},
      {"shellscript", script, "module refused: not a WebAssembly module (no \\0asm header)"},
      {"importer", hostile("importer"), "module refused: imports the host function env.clawfs_secret, which ClawFS"
          + " does not offer"},
      {"netter", hostile("network"), "module refused: imports wasi_snapshot_preview1.sock_accept; tools get no network"},
    };
    for (Object[] c : cases) {
      String name = (String) c[0];
      Path mf = base.resolve(name + ".json");
      Files.writeString(mf, hostileManifest(name, 16, 1000, 4096, null));
      MountedVault.Result r = MountedVault.clawfs("tool", "add", m, name, c[1].toString(), "--manifest", mf.toString());
      assertEquals(1, r.exitCode(), name + " must be refused: " + r);
      assertTrue(r.stderr().contains("module.wasm refused: " + c[2]), name + ": the reason: " + r);
      assertFalse(Files.exists(vault.path("tools/" + name)), name + " is not installed");
      assertTrue(Files.readString(vault.path("system/tools/errors")).contains(name + ": " + c[2]),
          "system/tools/errors names " + name);
    }
    assertEquals(toolsBefore, listing("tools"), "nothing installed");
    assertEquals(kept, keptFiles(), "nothing kept in the vault");
    MountedVault.Result list = MountedVault.clawfs("tool", "list", m);
    assertEquals(0, list.exitCode(), list.toString());
    for (Object[] c : cases) {
      assertFalse(list.stdout().contains((String) c[0]), list.stdout());
    }
  }

  // ================================================================== policy, caller's rights, audit

  @Test
  void aPolicyDenyingAToolToOneAgentIsEaccesForThatAgentOnly() throws Exception {
    TestAgents.assumeRootWithUserTools();
    Path policy = vault.path("system/policies/tools-it.yaml");
    Path hello = in.resolve("hello.txt");
    Files.writeString(hello, "hello\n");
    String line = sha256(utf8("hello\n")) + "  -\n";
    try (StreamTap tap = StreamTap.cat(vault)) {
      Files.writeString(policy, "version: 1\ntools:\n  - subject: agent:tl-bob\n    deny: [sha256]\n");
      assertFalse(Files.readString(vault.path("system/policies/errors")).contains("tools-it.yaml"),
          Files.readString(vault.path("system/policies/errors")));

      for (String f : List.of("run", "run.json")) {
        ToolCalls.Raw r = parseRaw(agents.as(bob, rawShell(raw, tool("sha256", f), hello)));
        assertEquals(EACCES, r.openErrno(), "bob opening sha256/" + f + ": " + r);
      }
      MountedVault.Result shell = agents.as(bob, "exec 3<> \"$M/tools/sha256/run\"; echo hello >&3; cat <&3");
      assertTrue(shell.stderr().contains("Permission denied"), shell.toString());
      MountedVault.Result job = agents.as(bob, "echo '{}' > \"$M/tools/sha256/inbox/b1\"");
      assertTrue(job.stderr().contains("Permission denied"), "no drop box either: " + job);
      MountedVault.Result cli = agents.as(bob, "echo hello | " + clawfsShell() + " tool run \"$M\" sha256");
      assertEquals(126, cli.exitCode(), "refused: " + cli);
      assertEquals("", cli.stdout());
      assertTrue(cli.stderr().contains("sha256: the policy does not let you run it"), cli.toString());
      // bob keeps the other tools
      MountedVault.Result wc = agents.as(bob, "echo hello | " + clawfsShell() + " tool run \"$M\" wordcount");
      assertEquals(0, wc.exitCode(), wc.toString());
      assertEquals("      1       1       6\n", wc.stdout());
      // and alice keeps sha256, every way in
      assertEquals(line, parseRaw(agents.as(alice, rawShell(raw, tool("sha256", "run"), hello))).text());
      MountedVault.Result aliceCli = agents.as(alice, "echo hello | " + clawfsShell() + " tool run \"$M\" sha256");
      assertEquals(0, aliceCli.exitCode(), aliceCli.toString());
      assertEquals(line, aliceCli.stdout());

      JsonNode denied = await(tap, l -> isFuse(l, "open", "/tools/sha256/run") && l.contains("\"agent\":\"tl-bob\""),
          "bob's refused open of sha256/run");
      assertEquals("EACCES", denied.get("result").asText(), denied.toString());
      JsonNode ran = await(tap, l -> isToolRun(l, "sha256", "tl-alice"), "alice's run of sha256");
      assertEquals("ok", ran.get("result").asText(), ran.toString());
    } finally {
      Files.deleteIfExists(policy);
    }
    // the file gone, bob may run sha256 again
    MountedVault.Result again = agents.as(bob, "echo hello | " + clawfsShell() + " tool run \"$M\" sha256");
    assertEquals(0, again.exitCode(), again.toString());
    assertEquals(line, again.stdout());
  }

  @Test
  void aToolReadsOnlyWhatItsCallerMayRead() throws Exception {
    TestAgents.assumeRootWithUserTools();
    String aliceFile = "/agents/tl-alice/secret.txt";
    String rootOnly = DIR + "/private/root-only.txt";
    String notForBob = DIR + "/private/not-for-bob.txt";
    Path policy = vault.path("system/policies/tools-it-paths.yaml");
    MountedVault.Result w = agents.as(alice, "echo " + SECRET + " alice words > \"$M" + aliceFile + "\"");
    assertEquals(0, w.exitCode(), w.toString());
    Files.createDirectories(vault.path(DIR.substring(1) + "/private"));
    Files.writeString(vault.path(rootOnly.substring(1)), SECRET + " root words\n");
    Files.setPosixFilePermissions(vault.path(rootOnly.substring(1)), PosixFilePermissions.fromString("rw-------"));
    Files.writeString(vault.path(notForBob.substring(1)), SECRET + " words bob may not read\n");
    Files.writeString(vault.path("vault/api-key"), SECRET + "\n");
    try {
      Files.writeString(policy, "version: 1\nrules:\n  - subject: agent:tl-bob\n    deny: [read]\n"
          + "    paths: [\"" + notForBob + "\"]\n");
      String wc = clawfsShell() + " tool run --no-stdin \"$M\" wordcount ";
      String wcStdinPath = clawfsShell() + " tool run --stdin-path ";
      // files named as arguments: the tool is refused them (Unix modes, the policy) or finds nothing (outside its grants)
      for (String f : List.of(rootOnly, notForBob, aliceFile)) {
        MountedVault.Result r = agents.as(bob, wc + f);
        assertEquals(1, r.exitCode(), "bob counting " + f + ": " + r);
        assertEquals("", r.stdout(), "nothing from " + f + ": " + r);
        assertTrue(r.stderr().startsWith("wordcount: " + f + ": "), r.toString());
        assertFalse(r.stderr().contains(SECRET), r.toString());
      }
      Path request = in.resolve("bob-request.json");
      Files.writeString(request, ToolCalls.toJson(Map.of("args", List.of(notForBob))));
      JsonNode reply = json(parseRaw(agents.as(bob, rawShell(raw, tool("wordcount", "run.json"), request))).text());
      assertEquals(1, reply.get("exit").asInt(), reply.toString());
      assertEquals("", reply.get("stdout").asText(), reply.toString());
      assertEquals("denied read " + notForBob + ": the caller may not (its policy or the Unix modes)",
          reply.path("denials").path(0).asText(), "the reply says what was refused: " + reply);
      // as stdin (read with the caller's rights before the run): refused
      for (String f : List.of(aliceFile, "/vault/api-key", rootOnly)) {
        MountedVault.Result r = agents.as(bob, wcStdinPath + f + " \"$M\" wordcount");
        assertEquals(126, r.exitCode(), "bob giving " + f + " as stdin: " + r);
        assertEquals("", r.stdout(), r.toString());
        assertTrue(r.stderr().contains("stdinPath: " + f + ": you may not read it"), r.toString());
      }
      // the same calls by those who may read the files work
      MountedVault.Result own = agents.as(alice, wcStdinPath + aliceFile + " \"$M\" wordcount");
      assertEquals(0, own.exitCode(), own.toString());
      assertEquals(String.format("%7d %7d %7d\n", 1, 3, SECRET.length() + " alice words\n".length()), own.stdout(),
          "alice counts her own file");
      MountedVault.Result allowed = agents.as(alice, wc + "-w " + notForBob);
      assertEquals(0, allowed.exitCode(), "the policy denies bob only: " + allowed);
      assertEquals("6 " + notForBob + "\n", allowed.stdout());
      MountedVault.Result root = cliWith(List.of("--no-stdin"), "wordcount", "-w", rootOnly);
      assertEquals("3 " + rootOnly + "\n", root.stdout(), root.toString());
    } finally {
      Files.deleteIfExists(policy);
      Files.deleteIfExists(vault.path("vault/api-key"));
      Files.deleteIfExists(vault.path(rootOnly.substring(1)));
      Files.deleteIfExists(vault.path(notForBob.substring(1)));
      Files.deleteIfExists(vault.path(DIR.substring(1) + "/private"));
      agents.as(alice, "rm -f \"$M" + aliceFile + "\"");
    }
  }

  @Test
  void agentRunsAreAuditedAndLoggedPerCaller() throws Exception {
    TestAgents.assumeRootWithUserTools();
    String expected = wcOfStdin(in.resolve("notes.md"));
    try (StreamTap tap = StreamTap.cat(vault)) {
      MountedVault.Result a = agents.as(alice, clawfsShell() + " tool run \"$M\" wordcount < " + in.resolve("notes.md"));
      assertEquals(0, a.exitCode(), a.toString());
      assertEquals(expected, a.stdout());
      MountedVault.Result b = agents.as(bob, "cd " + in + " && exec 3<> \"$M/tools/wordcount/run\"; cat notes.md >&3; cat <&3");
      assertEquals(0, b.exitCode(), b.toString());
      assertEquals(expected, b.stdout());
      for (TestAgents.Agent agent : List.of(alice, bob)) {
        JsonNode e = await(tap, l -> isToolRun(l, "wordcount", agent.name()), agent.name() + "'s run of wordcount");
        assertEquals("ok", e.get("result").asText(), e.toString());
        assertEquals(0, e.get("exit").asInt(), e.toString());
        assertEquals(agent.uid(), e.get("uid").asInt(), e.toString());
        assertEquals(utf8(NOTES).length, e.get("bytes_in").asInt(), e.toString());
        assertEquals(expected.length(), e.get("bytes_out").asInt(), e.toString());
        assertTrue(e.get("module_sha256").asText().matches("[0-9a-f]{64}"), e.toString());
      }
    }
    // each agent's log holds its own runs only; root's holds everyone's
    Set<Integer> rootSees = new TreeSet<>();
    for (JsonNode l : logOf(vault.path("tools/wordcount/log"))) {
      rootSees.add(l.get("uid").asInt());
    }
    assertTrue(rootSees.containsAll(List.of(alice.uid(), bob.uid())), "root's log: " + rootSees);
    for (TestAgents.Agent agent : List.of(alice, bob)) {
      MountedVault.Result log = agents.as(agent, "cat \"$M/tools/wordcount/log\"");
      assertEquals(0, log.exitCode(), log.toString());
      List<JsonNode> lines = log.stdout().lines().map(ToolCalls::json).toList();
      assertFalse(lines.isEmpty(), agent.name() + " sees its runs");
      for (JsonNode l : lines) {
        assertEquals(agent.uid(), l.get("uid").asInt(), agent.name() + " sees only its own runs: " + l);
        assertEquals(agent.name(), l.get("agent").asText(), l.toString());
      }
    }
    // drop box jobs are per caller: bob neither lists nor reads alice's job
    String outbox = "\"$M/tools/wordcount/outbox/mine\"";
    MountedVault.Result job = agents.as(alice, "echo '{\"args\":[\"-w\"],\"stdin\":\"one two three\"}'"
        + " > \"$M/tools/wordcount/inbox/mine\" && cat " + outbox);
    try {
      assertEquals(0, job.exitCode(), job.toString());
      assertEquals("3\n", json(job.stdout()).path("stdout").asText(), job.toString());
      MountedVault.Result peek = agents.as(bob, "ls \"$M/tools/wordcount/outbox\"; cat " + outbox);
      assertFalse(peek.stdout().contains("mine"), "bob's outbox: " + peek);
      assertTrue(peek.stderr().contains("No such file"), peek.toString());
    } finally {
      // bob's failed lookup of outbox/mine stays in the kernel's dentry cache (negative_timeout=1) for
      // every caller, hiding alice's job from alice for up to a second (see the report): retry until gone
      long deadline = System.currentTimeMillis() + 5000;
      while (agents.as(alice, "rm " + outbox).exitCode() != 0 && System.currentTimeMillis() < deadline) {
        Thread.sleep(200);
      }
    }
    assertFalse(agents.as(alice, "ls \"$M/tools/wordcount/outbox\"").stdout().contains("mine"), "alice's job removed");
  }

  // ================================================================== install, persist, remove

  @Test
  void anInstalledToolIsKeptSealedAcrossRemountsUntilRemoved() throws Exception {
    assumeRoot();
    String name = "tally-xq7";
    String description = "Counts words for ToolsIT, kept sealed in the vault";
    Path wordcount = base.resolve("wordcount-copy.wasm");
    Files.copy(vault.path("tools/wordcount/module.wasm"), wordcount);
    assertArrayEquals(Files.readAllBytes(shipped("wordcount")), Files.readAllBytes(wordcount),
        "module.wasm serves the shipped module");
    Path sha = base.resolve("sha256-copy.wasm");
    Files.copy(vault.path("tools/sha256/module.wasm"), sha);
    Path mf = base.resolve(name + ".json");
    Files.writeString(mf, "{\"name\":\"" + name + "\",\"description\":\"" + description + "\","
        + "\"inputs\":{\"stdin\":\"text\",\"args\":\"[-l] [-w] [-c] [FILE]...\"},"
        + "\"limits\":{\"memoryPages\":32,\"wallMs\":20000,\"outputBytes\":65536},\"paths\":{\"read\":[\"/workspaces\"]}}");
    Set<String> keptBefore = keptFiles();
    String wc = wcOfStdin(in.resolve("notes.md"));
    String abc = sha256(utf8("abc")) + "  -\n";
    boolean mounted = true;
    try {
      MountedVault.Result add = MountedVault.clawfs("tool", "add", m, name, wordcount.toString(), "--manifest", mf.toString());
      assertEquals(0, add.exitCode(), add.toString());
      assertEquals("installed " + name + " (" + Files.size(wordcount) + " bytes)\n", add.stdout());
      MountedVault.Result replace = MountedVault.clawfs("tool", "add", m, "md2text", sha.toString());
      assertEquals(0, replace.exitCode(), replace.toString());
      assertTrue(replace.stdout().startsWith("replaced md2text"), replace.toString());
      assertEquals(abc, cli(utf8("abc"), "md2text").stdout(), "md2text now runs the sha256 module");
      assertEquals(wc, cli(utf8(NOTES), name).stdout());
      Set<String> kept = keptFiles();
      assertEquals(keptBefore.size() + 2, kept.size(), "one kept file per installed module: " + kept);

      vault.unmount();
      mounted = false;
      try (Stream<Path> s = Files.list(vault.vault().resolve("tools"))) {
        for (Path p : s.toList()) {
          assertTrue(p.getFileName().toString().matches("[0-9a-f]{32}\\.sealed"), "a random name: " + p);
        }
      }
      assertEquals(kept, keptFiles());
      byte[] moduleSlice = Arrays.copyOfRange(Files.readAllBytes(wordcount), 1000, 1064);
      String slice = new String(moduleSlice, StandardCharsets.ISO_8859_1);
      try (Stream<Path> files = Files.walk(vault.vault())) {
        for (Path p : files.filter(Files::isRegularFile).toList()) {
          String bytes = new String(Files.readAllBytes(p), StandardCharsets.ISO_8859_1);
          assertFalse(bytes.contains(name), p + " holds the tool's name in the clear");
          assertFalse(bytes.contains(description), p + " holds the manifest in the clear");
          assertFalse(bytes.contains(slice), p + " holds the module in the clear");
        }
      }
      vault.mount();
      mounted = true;
      assertTrue(listing("tools").contains(name), listing("tools"));
      JsonNode manifest = JSON.readTree(Files.readString(vault.path("tools/" + name + "/manifest.json")));
      assertEquals(name, manifest.get("name").asText());
      assertEquals(description, manifest.get("description").asText());
      assertArrayEquals(Files.readAllBytes(wordcount), Files.readAllBytes(vault.path("tools/" + name + "/module.wasm")));
      assertEquals(wc, cli(utf8(NOTES), name).stdout(), "the kept tool runs after the remount");
      assertEquals(abc, cli(utf8("abc"), "md2text").stdout(), "the replacement is kept too");

      MountedVault.Result rmdir = MountedVault.run(List.of("rmdir", m + "/tools/" + name), null, 30);
      assertEquals(0, rmdir.exitCode(), rmdir.toString());
      assertFalse(listing("tools").contains(name));
      MountedVault.Result back = MountedVault.clawfs("tool", "remove", m, "md2text");
      assertEquals(0, back.exitCode(), back.toString());
      assertEquals(MD_TEXT, cli(utf8(MD), "md2text").stdout(), "removing the replacement brings the shipped md2text back");
      assertEquals(keptBefore, keptFiles(), "their kept files are gone");

      vault.unmount();
      mounted = false;
      vault.mount();
      mounted = true;
      assertFalse(listing("tools").contains(name), "still gone after a remount");
      assertFalse(Files.exists(vault.path("tools/" + name)));
      assertEquals(MD_TEXT, cli(utf8(MD), "md2text").stdout());
      assertArrayEquals(Files.readAllBytes(shipped("md2text")), Files.readAllBytes(vault.path("tools/md2text/module.wasm")));
    } finally {
      if (!mounted) {
        vault.mount();
      }
      if (Files.exists(vault.path("tools/" + name))) {
        MountedVault.clawfs("tool", "remove", m, name);
      }
      if (!Arrays.equals(Files.readAllBytes(shipped("md2text")), Files.readAllBytes(vault.path("tools/md2text/module.wasm")))) {
        MountedVault.clawfs("tool", "remove", m, "md2text");
      }
    }
  }

  @Test
  void aShippedToolCanBeReplacedButNotRemoved() throws Exception {
    assumeRoot();
    String wcDir = m + "/tools/wordcount";
    MountedVault.Result rmdir = MountedVault.run(List.of("rmdir", wcDir), null, 30);
    assertNotEquals(0, rmdir.exitCode(), rmdir.toString());
    assertTrue(rmdir.stderr().contains("Operation not permitted"), "EPERM: " + rmdir);
    MountedVault.Result remove = MountedVault.clawfs("tool", "remove", m, "sha256");
    assertEquals(1, remove.exitCode(), remove.toString());
    assertTrue(remove.stderr().contains("shipped tools can be replaced, not removed"), remove.toString());
    assertTrue(listing("tools").contains("sha256") && listing("tools").contains("wordcount"), listing("tools"));

    // replaced the way a user would: cp over module.wasm
    Path sha = base.resolve("replacement.wasm");
    Files.copy(vault.path("tools/sha256/module.wasm"), sha, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    try {
      MountedVault.Result cp = MountedVault.run(List.of("cp", sha.toString(), wcDir + "/module.wasm"), null, 30);
      assertEquals(0, cp.exitCode(), cp.toString());
      assertEquals(sha256(utf8("abc")) + "  -\n", cli(utf8("abc"), "wordcount").stdout(), "wordcount now runs sha256");
      assertEquals("wordcount", JSON.readTree(Files.readString(vault.path("tools/wordcount/manifest.json")))
          .get("name").asText(), "the manifest stays");
      String status = Files.readString(vault.path("system/tools/status"));
      assertTrue(status.lines().anyMatch(l -> l.startsWith("installed by root: ")
          && List.of(l.substring(19).split(" ")).contains("wordcount")), "status: " + status);
      MountedVault.Result drop = MountedVault.run(List.of("rmdir", wcDir), null, 30);
      assertEquals(0, drop.exitCode(), "removing the replacement: " + drop);
      assertEquals(wcOfStdin(in.resolve("notes.md")), cli(utf8(NOTES), "wordcount").stdout(), "the shipped one is back");
      assertArrayEquals(Files.readAllBytes(shipped("wordcount")), Files.readAllBytes(vault.path("tools/wordcount/module.wasm")));
      MountedVault.Result again = MountedVault.run(List.of("rmdir", wcDir), null, 30);
      assertTrue(again.stderr().contains("Operation not permitted"), "the shipped one is not removed: " + again);
    } finally {
      if (!Arrays.equals(Files.readAllBytes(shipped("wordcount")), Files.readAllBytes(vault.path("tools/wordcount/module.wasm")))) {
        MountedVault.run(List.of("rmdir", wcDir), null, 30);
      }
    }
  }

  // ================================================================== helpers

  private static boolean rootWithUserTools() {
    return new UnixSystem().getUid() == 0
        && Stream.of("/usr/sbin/useradd", "/usr/sbin/userdel", "/usr/bin/setpriv").allMatch(t -> Files.isExecutable(Path.of(t)));
  }

  private static void assumeRoot() {
    Assumptions.assumeTrue(new UnixSystem().getUid() == 0, "SKIPPED: only root installs tools (clawfs tool add)");
  }

  private static Path tool(String name, String file) {
    return vault.path("tools/" + name + "/" + file);
  }

  private static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  private static String sha256(byte[] b) throws Exception {
    return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b));
  }

  private static boolean allY(byte[] b) {
    for (byte x : b) {
      if (x != 'y') {
        return false;
      }
    }
    return true;
  }

  /** The repository root (Failsafe names test-data in it). */
  private static Path repo() {
    String td = System.getProperty("clawfs.testdata");
    return td != null ? Path.of(td).toAbsolutePath().getParent() : Path.of("..").toAbsolutePath().normalize();
  }

  /** A hostile module from agent-hooks/src/test/c, which the agent-hooks build compiles into its test classes. */
  private static Path hostile(String name) throws IOException {
    Path dir = repo().resolve("agent-hooks/target/test-classes/dev/clawfs/tools/hostile");
    Path p = dir.resolve(name + ".wasm");
    if (!Files.isRegularFile(p)) {
      Path why = dir.resolve("unavailable");
      throw new AssertionError("hostile module " + p + " not built (mvn install -pl agent-hooks builds it): "
          + (Files.exists(why) ? Files.readString(why) : "no such file"));
    }
    return p;
  }

  /** A shipped module as the agent-hooks build made it. */
  private static Path shipped(String name) {
    Path p = repo().resolve("agent-hooks/target/classes/dev/clawfs/tools/builtin/" + name + ".wasm");
    assertTrue(Files.isRegularFile(p), p + " not built");
    return p;
  }

  private static String hostileManifest(String name, int pages, long wallMs, long outputBytes, String read) {
    return "{\"name\":\"" + name + "\",\"description\":\"ToolsIT hostile module\","
        + "\"inputs\":{\"stdin\":\"anything\",\"args\":\"MODE [PATH]\"},"
        + "\"limits\":{\"memoryPages\":" + pages + ",\"wallMs\":" + wallMs + ",\"outputBytes\":" + outputBytes
        + ",\"concurrency\":2},\"paths\":{\"read\":[" + (read == null ? "" : "\"" + read + "\"") + "]}}";
  }

  /** {@code clawfs tool add MOUNT NAME MODULE --manifest F} with a hostile module. */
  private static void install(String name, String module, String manifest) throws IOException {
    Path mf = base.resolve(name + ".json");
    Files.writeString(mf, manifest);
    MountedVault.Result r = MountedVault.clawfs("tool", "add", m, name, hostile(module).toString(), "--manifest", mf.toString());
    assertEquals(0, r.exitCode(), "clawfs tool add " + name + ": " + r);
    assertEquals("installed " + name + " (" + Files.size(hostile(module)) + " bytes)\n", r.stdout());
  }

  private static void remove(String name) {
    MountedVault.Result r = MountedVault.clawfs("tool", "remove", m, name);
    assertEquals(0, r.exitCode(), "clawfs tool remove " + name + ": " + r);
    assertFalse(Files.exists(vault.path("tools/" + name)), name + " removed");
  }

  /** The kept (sealed) module files in VAULT/tools/. */
  private static Set<String> keptFiles() throws IOException {
    Path dir = vault.vault().resolve("tools");
    if (!Files.isDirectory(dir)) {
      return Set.of();
    }
    try (Stream<Path> s = Files.list(dir)) {
      return new TreeSet<>(s.map(p -> p.getFileName().toString()).toList());
    }
  }

  private static String listing(String dir) throws IOException {
    try (Stream<Path> s = Files.list(vault.path(dir))) {
      return String.join(" ", s.map(x -> x.getFileName().toString()).sorted().toList());
    }
  }

  /** The CLI for the agents: the launcher's jar, linked or copied where they can reach it. */
  private static Path agentCli;

  /**
   * The CLI as a command line the agents can run: the checkout (and so the launcher and its jar)
   * may sit under a directory they cannot enter (a clone in a 0700 mktemp folder), so the jar is
   * linked (or copied) into this test's folder, which they can.
   */
  private static String clawfsShell() {
    if (agentCli == null) {
      try {
        Path dir = Files.createDirectories(base.resolve("cli"));
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
        Path launcher = MountedVault.launcher();
        String j = System.getenv("CLAWFS_JAR");
        Path jar = j != null ? Path.of(j) : launcher.getParent().resolve("mount/target/clawfs.jar");
        Path copy = dir.resolve("clawfs.jar");
        try {
          Files.createLink(copy, jar);
        } catch (IOException | UnsupportedOperationException e) {
          Files.copy(jar, copy);
        }
        Files.setPosixFilePermissions(copy, PosixFilePermissions.fromString("rw-r--r--"));
        Path script = dir.resolve("clawfs");
        // what the launcher does, with this JVM (under /usr/lib/jvm, which everyone may run)
        String java = ProcessHandle.current().info().command().orElse("java");
        Files.writeString(script, "#!/bin/sh\nexec " + ToolCalls.quote(java)
            + " -Dfile.encoding=ISO-8859-1 -Dsun.jnu.encoding=ISO-8859-1 -Xss1m -jar "
            + ToolCalls.quote(copy.toString()) + " \"$@\"\n");
        Files.setPosixFilePermissions(script, PosixFilePermissions.fromString("rwxr-xr-x"));
        agentCli = script;
      } catch (IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
    }
    return ToolCalls.quote(agentCli.toString());
  }

  /** {@code clawfs tool run MOUNT TOOL ARGS...} with these bytes as stdin (null: an empty stdin). */
  private static MountedVault.Result cli(byte[] stdin, String tool, String... args) {
    List<String> cmd = new ArrayList<>(List.of(MountedVault.launcher().toString(), "tool", "run", m, tool));
    cmd.addAll(List.of(args));
    return MountedVault.run(cmd, null, 120, Map.of(), stdin);
  }

  /** {@code clawfs tool run OPTIONS MOUNT TOOL ARGS...} (its own options come before the mount point). */
  private static MountedVault.Result cliWith(List<String> options, String tool, String... args) {
    List<String> cmd = new ArrayList<>(List.of(MountedVault.launcher().toString(), "tool", "run"));
    cmd.addAll(options);
    cmd.add(m);
    cmd.add(tool);
    cmd.addAll(List.of(args));
    return MountedVault.run(cmd, null, 120, Map.of(), null);
  }

  /** The raw transaction exactly as a shell user does it, from the inputs folder. */
  private static MountedVault.Result shellRaw(String tool, String input) {
    return MountedVault.run(List.of("sh", "-c", "exec 3<> \"$M/tools/" + tool + "/run\"; cat " + input + " >&3; cat <&3"),
        in, 60, Map.of("M", m), null);
  }

  /** The drop box as a shell user does it: the request written to inbox/JOB, the reply read from outbox/JOB, then removed. */
  private static JsonNode dropBox(String tool, String job, Object request) throws IOException {
    String inbox = m + "/tools/" + tool + "/inbox/" + job;
    String outbox = m + "/tools/" + tool + "/outbox/" + job;
    MountedVault.Result w = MountedVault.run(List.of("sh", "-c", "cat > \"$1\"", "sh", inbox), null, 60, Map.of(),
        utf8(ToolCalls.toJson(request)));
    assertEquals(0, w.exitCode(), "writing " + inbox + ": " + w);
    MountedVault.Result r = MountedVault.run(List.of("cat", outbox), null, 60);
    assertEquals(0, r.exitCode(), "reading " + outbox + ": " + r);
    JsonNode reply = json(new String(r.stdout().getBytes(StandardCharsets.ISO_8859_1), StandardCharsets.UTF_8));
    MountedVault.Result rm = MountedVault.run(List.of("rm", outbox), null, 30);
    assertEquals(0, rm.exitCode(), "rm " + outbox + ": " + rm);
    assertFalse((" " + listing("tools/" + tool + "/outbox") + " ").contains(" " + job + " "), "the reply is forgotten");
    return reply;
  }

  private static void assertExited0(JsonNode reply, String stdout) {
    assertEquals("EXITED", reply.get("outcome").asText(), reply.toString());
    assertEquals(0, reply.get("exit").asInt(), reply.toString());
    assertEquals(stdout, reply.get("stdout").asText(), reply.toString());
    assertEquals("", reply.get("stderr").asText(), reply.toString());
    assertTrue(reply.path("denials").isMissingNode(), reply.toString());
  }

  private static String brief(JsonNode reply) {
    String s = reply.toString();
    return s.length() > 400 ? s.substring(0, 400) + "..." : s;
  }

  private static void assertNoLeak(JsonNode reply, String what) {
    String all = reply.path("stdout").asText() + reply.path("stderr").asText();
    assertFalse(all.contains("root:"), what + ": the host's /etc/passwd leaked: " + reply);
    assertFalse(all.contains(SECRET), what + ": a file outside the grant leaked: " + reply);
    assertFalse(all.contains("PATH="), what + ": the server's environment leaked: " + reply);
  }

  /** What {@code LC_ALL=C wc} prints for this file as its stdin (a pipe, as the tool's stdin is). */
  private static String wcOfStdin(Path file) {
    MountedVault.Result r = MountedVault.run(List.of("sh", "-c", "cat \"$1\" | LC_ALL=C wc", "sh", file.toString()),
        null, 30);
    assertEquals(0, r.exitCode(), r.toString());
    return r.stdout();
  }

  /** What {@code LC_ALL=C wc OPTIONS FILES} prints for files of the mount, with their mount paths. */
  private static String wcOfFiles(String... optionsAndMountPaths) {
    List<String> cmd = new ArrayList<>(List.of("env", "LC_ALL=C", "wc"));
    for (String a : optionsAndMountPaths) {
      cmd.add(a.startsWith("/") ? m + a : a);
    }
    MountedVault.Result r = MountedVault.run(cmd, null, 30);
    assertEquals(0, r.exitCode(), r.toString());
    return r.stdout().replace(m, "");
  }

  /** The JSON lines of a tool's log. */
  private static List<JsonNode> logOf(Path log) throws IOException {
    return Files.readAllLines(log).stream().filter(l -> !l.isBlank()).map(ToolCalls::json).toList();
  }

  /** The log once it has at least {@code n} lines (a run is logged as it ends). */
  private static List<JsonNode> awaitLog(Path log, int n) throws Exception {
    long deadline = System.currentTimeMillis() + 5000;
    List<JsonNode> lines = logOf(log);
    while (lines.size() < n && System.currentTimeMillis() < deadline) {
      Thread.sleep(50);
      lines = logOf(log);
    }
    assertEquals(n, lines.size(), "lines of " + log + ": " + lines);
    return lines;
  }

  private static boolean isFuse(String line, String op, String path) {
    JsonNode e = json(line);
    return "fuse".equals(e.path("source").asText()) && op.equals(e.path("op").asText())
        && path.equals(e.path("path").asText());
  }

  private static boolean isToolRun(String line, String tool, String agent) {
    JsonNode e = json(line);
    return "tool".equals(e.path("source").asText()) && "run".equals(e.path("op").asText())
        && ("/tools/" + tool).equals(e.path("path").asText()) && agent.equals(e.path("agent").asText());
  }

  private static JsonNode await(StreamTap tap, Predicate<String> match, String what) throws InterruptedException {
    StreamTap.Line l = tap.await(match, 5000);
    List<String> lines = tap.lines();
    assertNotNull(l, what + " did not appear in the audit stream; the last lines:\n"
        + String.join("\n", lines.subList(Math.max(0, lines.size() - 20), lines.size())));
    return json(l.text());
  }
}
