package dev.clawfs.mount;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.clawfs.mount.MountedVault.Result;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Search through the real mount with the real model: hits as links to the real files, the
 * keyword syntax and its errors, scopes, freshness after writes, renames, deletes and
 * truncation, vault/ never indexed, bad input, persistence across a remount, and reindex.
 */
class SearchIT {
  private static final ObjectMapper JSON = new ObjectMapper();

  @TempDir static Path base;
  private static MountedVault v;

  private static final String KEYS = """
      Master key rotation

      The vault keeps a keyset of master keys, each with a key id. Rotating adds a new master key
      and makes it primary: new data is sealed under it, while older data stays readable with the
      previous keys until it is re-encrypted in the background. Nonces are random and never reused.
      """;
  private static final String GARDEN = """
      Growing tomatoes on a balcony

      Tomatoes want six hours of sun, a deep pot and regular watering. Pinch the side shoots,
      feed them every two weeks once the first flowers open, and pick the fruit when it is red.
      """;
  private static final String TESTS = """
      Why the build is red

      Three unit tests fail on the CI machine because the clock is mocked incorrectly; the
      integration suite times out waiting for the database container to start.
      """;

  @BeforeAll
  static void mountAndWrite() throws Exception {
    v = MountedVault.create(base);
    Files.createDirectories(v.path("workspaces/project/notes"));
    Files.createDirectories(v.path("workspaces/other"));
    Files.writeString(v.path("specs/keys.md"), KEYS);
    Files.writeString(v.path("workspaces/other/garden.txt"), GARDEN);
    Files.writeString(v.path("workspaces/project/notes/ci.md"), TESTS);
    Files.writeString(v.path("workspaces/other/ci-copy.md"), TESTS);
    Files.writeString(v.path("vault/api-token.txt"), "secret token quokkasecretword for the rotation of keys\n");
    awaitIdle();
  }

  @AfterAll
  static void unmount() {
    if (v != null) {
      v.close();
    }
  }

  /** Waits until the index status says idle (the index works in the background). */
  static Map<String, String> awaitIdle() throws Exception {
    Path status = v.path("system/index/status");
    long end = System.currentTimeMillis() + 120_000;
    Map<String, String> st = Map.of();
    while (System.currentTimeMillis() < end) {
      st = ClawfsCli.Reindex.statusOf(status);
      if ("idle".equals(st.get("state"))) {
        return st;
      }
      Thread.sleep(100);
    }
    throw new AssertionError("the index did not become idle: " + st);
  }

  /** What ls shows: the names in order, without dot files. */
  private static List<String> ls(String query) throws IOException {
    try (Stream<Path> s = Files.list(v.path("search").resolve(query))) {
      return s.map(p -> p.getFileName().toString()).filter(n -> !n.startsWith(".")).sorted().toList();
    }
  }

  private static JsonNode results(String query) throws IOException {
    return JSON.readTree(Files.readAllBytes(v.path("search").resolve(query).resolve(".results.json")));
  }

  private static List<String> paths(String query) throws IOException {
    List<String> out = new ArrayList<>();
    for (JsonNode h : results(query).get("hits")) {
      out.add(h.get("path").asText());
    }
    return out;
  }

  @Test
  void hitsAreLinksToTheRealFilesBestFirst() throws Exception {
    String q = "how are master keys rotated";
    List<String> names = ls(q);
    assertEquals("1-keys.md", names.get(0), names.toString());
    Path first = v.path("search").resolve(q).resolve("1-keys.md");
    assertTrue(Files.isSymbolicLink(first));
    assertEquals(Path.of("../../specs/keys.md"), Files.readSymbolicLink(first));
    assertEquals(KEYS, Files.readString(first), "reading the hit reads the real file");
    JsonNode r = results(q);
    assertEquals("hybrid", r.get("mode").asText());
    JsonNode top = r.get("hits").get(0);
    assertEquals("/specs/keys.md", top.get("path").asText());
    assertTrue(top.get("passage").asText().contains("master key"), top.toString());
    assertTrue(top.get("score").asDouble() > 0);
    assertFalse(paths(q).contains("/vault/api-token.txt"), "vault/ is never indexed");
    // grep inside the hits, as a user would
    Result g = MountedVault.run(List.of("sh", "-c", "grep -l tomatoes \"" + v.path("search") + "/balcony vegetables/\"*"), null, 60);
    assertEquals(0, g.exitCode(), g.toString());
    assertTrue(g.stdout().contains("garden.txt"), g.toString());
  }

  @Test
  void semanticFindsMeaningWithoutSharedWords() throws Exception {
    List<String> hits = paths("semantic:growing vegetables outdoors in containers");
    assertEquals("/workspaces/other/garden.txt", hits.get(0), hits.toString());
  }

  @Test
  void keywordSyntaxAndItsErrors() throws Exception {
    assertEquals(List.of("/specs/keys.md"), paths("text:nonces AND keyset"));
    assertEquals(List.of("/specs/keys.md"), paths("text:\"master key\""));
    assertEquals(List.of("/specs/keys.md"), paths("text:rotat*"));
    assertEquals(List.of(), paths("text:tomatoes AND keyset"));
    assertTrue(paths("text:tomatoes OR keyset").containsAll(List.of("/specs/keys.md", "/workspaces/other/garden.txt")));
    assertEquals(List.of("/workspaces/other/garden.txt"), paths("text:tomatoes NOT keyset"));
    // a syntax error lists one entry that says what is wrong, and .results.json carries it
    String bad = "text:nonce AND";
    List<String> names = ls(bad);
    assertEquals(1, names.size(), names.toString());
    assertTrue(names.get(0).startsWith("ERROR "), names.toString());
    assertTrue(results(bad).get("error").asText().length() > 5);
    Result cli = MountedVault.clawfs("search", v.mountpoint().toString(), bad);
    assertEquals(2, cli.exitCode(), cli.toString());
    assertTrue(cli.stderr().contains("clawfs: "), cli.toString());
  }

  @Test
  void scopeRestrictsToASubtree() throws Exception {
    List<String> all = paths("failing unit tests");
    assertTrue(all.contains("/workspaces/project/notes/ci.md") && all.contains("/workspaces/other/ci-copy.md"), all.toString());
    String scoped = "in:workspaces/project failing unit tests";
    assertEquals(List.of("/workspaces/project/notes/ci.md"), paths(scoped));
    // the link climbs out of the query's two directory levels
    Path link = v.path("search").resolve(scoped).resolve("1-ci.md");
    assertEquals(Path.of("../../../workspaces/project/notes/ci.md"), Files.readSymbolicLink(link));
    assertEquals(TESTS, Files.readString(link));
  }

  @Test
  void renameDeleteAndTruncateShowAtOnce() throws Exception {
    Path f = v.path("workspaces/other/zebra.txt");
    Files.writeString(f, "The okapizebra grazes near the river at dawn.\n");
    // found by keyword soon after close (the bench measures how soon; here only that it happens)
    assertTrue(eventually(() -> paths("text:okapizebra").equals(List.of("/workspaces/other/zebra.txt"))));
    Files.move(f, v.path("workspaces/project/zebra2.txt"));
    assertEquals(List.of("/workspaces/project/zebra2.txt"), paths("text:okapizebra"), "a rename shows at once");
    Files.move(v.path("workspaces/project"), v.path("workspaces/project-renamed"));
    assertEquals(List.of("/workspaces/project-renamed/zebra2.txt"), paths("text:okapizebra"), "a directory rename too");
    Files.move(v.path("workspaces/project-renamed"), v.path("workspaces/project"));
    try (RandomAccessFile raf = new RandomAccessFile(v.path("workspaces/project/zebra2.txt").toFile(), "rw")) {
      raf.setLength(3);
    }
    assertEquals(List.of(), paths("text:okapizebra"), "no hit on content that is gone");
    Files.writeString(v.path("workspaces/project/zebra2.txt"), "okapizebra again\n");
    assertTrue(eventually(() -> paths("text:okapizebra").size() == 1));
    Files.move(v.path("workspaces/project/zebra2.txt"), v.path("vault/zebra2.txt"));
    assertEquals(List.of(), paths("text:okapizebra"), "moved into vault/: never a hit");
    Files.move(v.path("vault/zebra2.txt"), v.path("specs/zebra3.txt"));
    assertTrue(eventually(() -> paths("text:okapizebra").equals(List.of("/specs/zebra3.txt"))), "moved out: indexed again");
    Files.delete(v.path("specs/zebra3.txt"));
    assertEquals(List.of(), paths("text:okapizebra"), "a delete shows at once");
    assertEquals(List.of(), ls("text:okapizebra"));
  }

  @Test
  void badInputGetsAClearAnswerAndNeverTakesTheServerDown() throws Exception {
    String longQuery = "q".repeat(200) + " \"quoted' (paren * AND OR NOT";
    assertTrue(longQuery.getBytes(StandardCharsets.UTF_8).length <= 255);
    ls(longQuery);
    ls("text:" + "x".repeat(250));
    for (String q : List.of("text:\"unclosed", "text:(a OR", "text:NOT", "text:AND b", "text:*", "limit:0 x", "in:../etc x", "   ")) {
      try {
        List<String> names = ls(q);
        assertTrue(names.stream().anyMatch(n -> n.startsWith("ERROR ")), q + " -> " + names);
      } catch (java.nio.file.NoSuchFileException e) {
        assertTrue(q.isBlank(), q + ": " + e);
      }
    }
    // binary and huge files are skipped with a status entry; a file deleted while queued is forgotten
    byte[] bin = new byte[100_000];
    new java.util.Random(3).nextBytes(bin);
    Files.write(v.path("workspaces/other/blob.bin"), bin);
    try (RandomAccessFile raf = new RandomAccessFile(v.path("workspaces/other/huge.log").toFile(), "rw")) {
      raf.setLength(1L << 30); // 1 GiB, sparse
    }
    Path brief = v.path("workspaces/other/brief.txt");
    Files.writeString(brief, "ephemeralwombat\n");
    Files.delete(brief);
    Map<String, String> st = awaitIdle();
    String status = Files.readString(v.path("system/index/status"));
    assertTrue(status.contains("/workspaces/other/blob.bin\tbinary"), status);
    assertTrue(status.contains("/workspaces/other/huge.log\ttoo large"), status);
    assertEquals(List.of(), ls("text:ephemeralwombat"));
    assertEquals("0", st.get("failures"), status);
    assertEquals("1-keys.md", ls("how are master keys rotated").get(0), "still serving");
    Files.delete(v.path("workspaces/other/huge.log"));
  }

  @Test
  void theIndexPersistsAcrossARemountAndRebuildsOnRequest() throws Exception {
    v.unmount();
    v.mount();
    Map<String, String> st = awaitIdle();
    assertTrue(st.get("embedded this mount").startsWith("0 passages"), "nothing embedded again after a remount: " + st);
    assertEquals("1-keys.md", ls("how are master keys rotated").get(0));
    Result r = MountedVault.clawfs("reindex", v.mountpoint().toString());
    assertEquals(0, r.exitCode(), r.toString());
    assertTrue(r.stdout().contains("done"), r.toString());
    st = awaitIdle();
    assertFalse(st.get("embedded this mount").startsWith("0 passages"), st.toString());
    Result s = MountedVault.clawfs("search", v.mountpoint().toString(), "how are master keys rotated");
    assertEquals(0, s.exitCode(), s.toString());
    assertTrue(s.stdout().startsWith(" 1. " + v.mountpoint() + "/specs/keys.md"), s.stdout());
  }

  interface Check {
    boolean ok() throws Exception;
  }

  /** Polls a condition for up to 30 s (the index works in the background); a bound, not a timing claim. */
  static boolean eventually(Check c) throws Exception {
    long end = System.currentTimeMillis() + 30_000;
    while (System.currentTimeMillis() < end) {
      if (c.ok()) {
        return true;
      }
      Thread.sleep(50);
    }
    return c.ok();
  }
}
