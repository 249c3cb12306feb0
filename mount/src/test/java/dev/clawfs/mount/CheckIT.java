package dev.clawfs.mount;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code clawfs check} on a vault made through a real mount: clean while mounted and unmounted,
 * a flipped bit found with its path and chunk and a damaged search index row found (exit 6; the
 * mount itself refuses such an index), {@code --repair} refused while mounted, then run
 * unmounted: the next mount has the healthy files as they were, the damaged one in
 * /workspaces/lost+found with its note and a salvaged copy, and a rebuilt index.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class CheckIT {
  private static final int CHUNK = 65536;
  private static final int SLOT = CHUNK + 28;
  private static final int HEADER = 128;
  private static final ObjectMapper JSON = new ObjectMapper();

  @TempDir Path base;

  private MountedVault.Result check(MountedVault v, String... more) {
    List<String> args = new java.util.ArrayList<>(List.of("check", v.vault().toString(), "--passphrase-file",
        v.passphraseFile().toString()));
    args.addAll(List.of(more));
    return MountedVault.clawfs(args.toArray(String[]::new));
  }

  private static JsonNode json(MountedVault.Result r) throws IOException {
    return JSON.readTree(r.stdout());
  }

  @Test
  void findsAFlippedBitAndRepairKeepsEverythingElse() throws Exception {
    byte[] big = new byte[3 * CHUNK];
    new Random(42).nextBytes(big);
    byte[] text = "the healthy file\n".getBytes(StandardCharsets.UTF_8);
    try (MountedVault v = MountedVault.create(base)) {
      Files.createDirectories(v.path("workspaces/proj"));
      Files.write(v.path("workspaces/proj/a.txt"), text);
      Files.write(v.path("workspaces/proj/big.bin"), big);
      Files.write(v.path("specs/s.md"), "# spec\n".getBytes(StandardCharsets.UTF_8));
      awaitIndexIdle(v);

      // mounted: a read-only check of the committed state; --repair refused
      MountedVault.Result live = check(v, "--json");
      assertEquals(0, live.exitCode(), live.toString());
      JsonNode lj = json(live);
      assertTrue(lj.get("mounted").asBoolean());
      assertTrue(lj.get("clean").asBoolean());
      MountedVault.Result refused = check(v, "--repair");
      assertEquals(5, refused.exitCode(), refused.toString());
      assertTrue(refused.stderr().contains("unmount it first"), refused.toString());
      v.unmount();

      MountedVault.Result clean = check(v, "--json");
      assertEquals(0, clean.exitCode(), clean.toString());
      JsonNode cj = json(clean);
      assertFalse(cj.get("mounted").asBoolean());
      assertEquals(0, cj.get("problems").size());
      assertEquals(3, cj.get("counts").get("files").asInt());
      assertEquals(cj.get("counts").get("chunks").asInt(), cj.get("counts").get("chunksOk").asInt());
      assertTrue(cj.get("started").asText().endsWith("Z") && cj.get("finished").asText().endsWith("Z"));
      MountedVault.Result human = check(v);
      assertEquals(0, human.exitCode(), human.toString());
      assertTrue(human.stdout().contains("result: clean"), human.toString());

      // a wrong passphrase is exit 3, as everywhere
      Path wrong = base.resolve("wrong");
      Files.writeString(wrong, "not it\n");
      assertEquals(3, MountedVault.clawfs("check", v.vault().toString(), "--passphrase-file", wrong.toString())
          .exitCode());

      // flip a bit in chunk 1 of big.bin (the largest content file), in both slots
      Path content = largestContentFile(v.vault());
      try (RandomAccessFile raf = new RandomAccessFile(content.toFile(), "rw")) {
        for (int slot = 0; slot < 2; slot++) {
          long pos = HEADER + (2L + slot) * SLOT + 1000;
          if (pos < raf.length()) {
            raf.seek(pos);
            int b = raf.read();
            raf.seek(pos);
            raf.write(b ^ 0x04);
          }
        }
      }
      // and alter one file record of the search index: the mount would refuse to open the index
      try (java.sql.Connection c = java.sql.DriverManager.getConnection("jdbc:sqlite:" + v.vault().resolve("index/index.db"));
          java.sql.Statement st = c.createStatement()) {
        assertEquals(1, flipInRow(c, "doc", "state", "ino = (SELECT min(ino) FROM doc)", 30));
      }
      MountedVault.Result found = check(v, "--json");
      assertEquals(6, found.exitCode(), found.toString());
      JsonNode fj = json(found);
      assertEquals(2, fj.get("problems").size(), fj.toString());
      JsonNode index = fj.get("problems").get(1);
      assertEquals("index", index.get("kind").asText());
      assertTrue(index.get("detail").asText().contains("1 file records fail authentication"), index.toString());
      JsonNode p = fj.get("problems").get(0);
      assertEquals("chunk-auth", p.get("kind").asText());
      assertEquals("/workspaces/proj/big.bin", p.get("path").asText());
      assertEquals(1, p.get("chunk").asInt());
      assertTrue(p.get("ino").isNumber());
      assertTrue(p.get("detail").asText().contains("failed authentication"), p.toString());
      MountedVault.Result words = check(v);
      assertEquals(6, words.exitCode());
      assertTrue(words.stdout().contains("/workspaces/proj/big.bin (inode " + p.get("ino").asLong() + ") chunk 1:"
          + " chunk-auth"), words.stdout());

      MountedVault.Result repaired = check(v, "--repair", "--json");
      assertEquals(0, repaired.exitCode(), repaired.toString());
      JsonNode rj = json(repaired);
      String moved = rj.get("repair").get("moved").get(p.get("ino").asText()).asText();
      assertEquals("/workspaces/lost+found/" + p.get("ino").asLong() + "-big.bin", moved);
      assertTrue(rj.get("repair").get("after").get("clean").asBoolean(), rj.toString());
      assertTrue(rj.get("repair").get("actions").toString().contains("dropped the search index"), rj.toString());

      v.mount();
      assertArrayEquals(text, Files.readAllBytes(v.path("workspaces/proj/a.txt")));
      assertEquals("# spec\n", Files.readString(v.path("specs/s.md")));
      assertFalse(Files.exists(v.path("workspaces/proj/big.bin")));
      Path lost = v.path(moved.substring(1));
      assertTrue(Files.exists(lost));
      String note = Files.readString(Path.of(lost + ".note.txt"));
      assertTrue(note.contains("File: /workspaces/proj/big.bin"), note);
      assertTrue(note.contains("chunk 1 (bytes 65536..131071): chunk-auth"), note);
      byte[] expected = big.clone();
      Arrays.fill(expected, CHUNK, 2 * CHUNK, (byte) 0);
      assertArrayEquals(expected, Files.readAllBytes(Path.of(lost + ".salvaged")));
      assertEquals("rwx------", java.nio.file.attribute.PosixFilePermissions.toString(
          Files.getPosixFilePermissions(v.path("workspaces/lost+found"))));
      awaitIndexIdle(v);
      String status = Files.readString(v.path("system/index/status"));
      assertTrue(status.contains("indexed files: ") && !status.contains("indexed files: 0\n"), status);
      v.unmount();

      MountedVault.Result after = check(v, "--json");
      assertEquals(0, after.exitCode(), after.toString());
      JsonNode aj = json(after);
      assertEquals(1, aj.get("notes").size(), "the moved file is still damaged, and known: " + aj);
      assertTrue(aj.get("notes").get(0).get("quarantined").asBoolean());
    }
  }

  private static void awaitIndexIdle(MountedVault v) throws Exception {
    String st = "";
    for (int i = 0; i < 600; i++) {
      st = Files.readString(v.path("system/index/status"));
      if (st.contains("state: idle") && st.contains("queued files: 0")) {
        return;
      }
      Thread.sleep(100);
    }
    throw new AssertionError("the index did not become idle: " + st);
  }

  private static Path largestContentFile(Path vault) throws IOException {
    try (Stream<Path> s = Files.walk(vault.resolve("content"))) {
      List<Path> files = s.filter(Files::isRegularFile).collect(Collectors.toList());
      return files.stream().max(Comparator.comparingLong(f -> f.toFile().length())).orElseThrow();
    }
  }

  /** Flips one bit of byte {@code offset} of a blob column in the rows {@code where} selects. */
  static int flipInRow(java.sql.Connection c, String table, String column, String where, int offset)
      throws java.sql.SQLException {
    java.util.List<Object[]> rows = new java.util.ArrayList<>();
    try (java.sql.Statement s = c.createStatement();
        java.sql.ResultSet rs = s.executeQuery("SELECT rowid, " + column + " FROM " + table + " WHERE " + where)) {
      while (rs.next()) {
        rows.add(new Object[] {rs.getLong(1), rs.getBytes(2)});
      }
    } catch (java.sql.SQLException e) {
      // WITHOUT ROWID tables: flip by the where clause itself
      rows.clear();
      try (java.sql.Statement s = c.createStatement();
          java.sql.ResultSet rs = s.executeQuery("SELECT " + column + " FROM " + table + " WHERE " + where)) {
        while (rs.next()) {
          rows.add(new Object[] {null, rs.getBytes(1)});
        }
      }
    }
    int n = 0;
    for (Object[] r : rows) {
      byte[] b = (byte[]) r[1];
      b[offset] ^= 0x10;
      String sql = "UPDATE " + table + " SET " + column + " = ? WHERE " + (r[0] == null ? where : "rowid = " + r[0]);
      try (java.sql.PreparedStatement ps = c.prepareStatement(sql)) {
        ps.setBytes(1, b);
        n += ps.executeUpdate();
      }
    }
    return n;
  }
}
