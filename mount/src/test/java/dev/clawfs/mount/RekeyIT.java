package dev.clawfs.mount;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.clawfs.crypto.FileHeader;
import dev.clawfs.crypto.MasterKeys;
import dev.clawfs.crypto.VaultFormatException;
import dev.clawfs.crypto.VaultHeader;
import dev.clawfs.crypto.WrongPassphraseException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code clawfs rekey} and {@code clawfs passwd} end to end: a rekey of a mounted vault while real
 * processes read and write through the mount (nothing lost, no wrong byte), after which the old
 * key is gone from the keyset and a scan of every store in the vault directory finds nothing under
 * it; a passwd after which a restored copy of the old header, with the old passphrase, opens
 * nothing the vault holds; an unmounted rekey; {@code clawfs check} clean after each.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class RekeyIT {
  private static final int CHUNK = 65536;

  @TempDir Path base;

  private static MountedVault.Result check(MountedVault v, Path passphraseFile) {
    return MountedVault.clawfs("check", v.vault().toString(), "--passphrase-file", passphraseFile.toString());
  }

  @Test
  void rekeyWhileProgramsReadAndWriteThroughTheMount() throws Exception {
    try (MountedVault v = MountedVault.create(base)) {
      Path data = v.path("workspaces/data");
      Files.createDirectories(data);
      Random rnd = new Random(7);
      List<byte[]> golden = new ArrayList<>();
      for (int i = 0; i < 24; i++) {
        byte[] b = new byte[3 * CHUNK + rnd.nextInt(CHUNK)];
        rnd.nextBytes(b);
        golden.add(b);
        Files.write(data.resolve("f" + i + ".bin"), b);
        Files.write(base.resolve("golden" + i), b);
      }
      for (int i = 0; i < 3; i++) {
        Files.writeString(v.path("specs/note" + i + ".md"), "# Note " + i + "\nrotation of keys, passage " + i + "\n");
      }
      MasterKeys before = VaultHeader.unlock(v.vault(), MountedVault.PASSPHRASE.toCharArray());
      int oldKey = before.primaryKeyId();
      before.destroy();

      // real processes: one appends numbered lines, two read files and compare them with their
      // golden copies, one rewrites a file in place with cp, all until STOP appears
      Path stop = base.resolve("STOP");
      Path log = data.resolve("log.txt");
      List<Process> procs = new ArrayList<>();
      procs.add(sh("i=0; while [ ! -e " + stop + " ]; do i=$((i+1)); echo \"line $i\" >> " + log + " || exit 3; done; echo $i"));
      for (int r = 0; r < 2; r++) {
        StringBuilder loop = new StringBuilder("n=0; while [ ! -e " + stop + " ]; do for i in $(seq " + r + " 2 23); do ");
        loop.append("cmp -s ").append(data).append("/f$i.bin ").append(base).append("/golden$i || { echo BAD f$i; exit 4; }; ");
        loop.append("n=$((n+1)); done; done; echo $n");
        procs.add(sh(loop.toString()));
      }
      procs.add(sh("n=0; while [ ! -e " + stop + " ]; do cp " + base + "/golden5 " + data + "/copy.bin || exit 5;"
          + " cmp -s " + data + "/copy.bin " + base + "/golden5 || { echo BAD copy; exit 6; }; n=$((n+1)); done; echo $n"));
      Thread.sleep(300); // let every loop get going before the rotation

      MountedVault.Result rekey = MountedVault.clawfs("rekey", v.vault().toString(), "--passphrase-file",
          v.passphraseFile().toString());
      // a little more traffic after the old key is gone
      Thread.sleep(300);
      Files.writeString(stop, "");
      for (Process p : procs) {
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "a reader or writer did not stop");
      }
      assertEquals(0, rekey.exitCode(), rekey.toString());
      assertTrue(rekey.stdout().contains("state: done"), rekey.toString());
      for (Process p : procs) {
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        assertEquals(0, p.exitValue(), "process failed: " + out + " " + err);
        assertTrue(Long.parseLong(out) > 0, "each process did some work: " + out);
      }
      // every appended line is there, in order: no write was lost to a re-encryption
      List<String> lines = Files.readAllLines(log);
      for (int i = 0; i < lines.size(); i++) {
        assertEquals("line " + (i + 1), lines.get(i));
      }
      for (int i = 0; i < golden.size(); i++) {
        assertArrayEquals(golden.get(i), Files.readAllBytes(data.resolve("f" + i + ".bin")));
      }
      String status = Files.readString(v.path("system/keys/status"));
      assertTrue(status.contains("keys: 1\n"), status);
      MountedVault.Result status2 = MountedVault.clawfs("rekey", v.vault().toString(), "--status");
      assertTrue(status2.stdout().contains("state: done"), status2.toString());
      awaitIndexed(v, "rotation");

      MountedVault.Result live = check(v, v.passphraseFile());
      assertEquals(0, live.exitCode(), live.toString());
      v.unmount();
      MountedVault.Result off = check(v, v.passphraseFile());
      assertEquals(0, off.exitCode(), off.toString());

      MasterKeys after = VaultHeader.unlock(v.vault(), MountedVault.PASSPHRASE.toCharArray());
      assertEquals(1, after.keyIds().size());
      assertNotEquals(oldKey, after.primaryKeyId());
      assertNothingUnder(v.vault(), oldKey, after.primaryKeyId());
      after.destroy();
    }
  }

  @Test
  void aRekeyKilledHalfWayThroughTheContentResumesAtTheNextMount() throws Exception {
    try (MountedVault v = MountedVault.create(base, "--no-search")) {
      Path data = v.path("workspaces/big");
      Files.createDirectories(data);
      Random rnd = new Random(3);
      List<byte[]> golden = new ArrayList<>();
      for (int i = 0; i < 64; i++) { // 128 MiB: a second or more of re-encryption, to be killed in
        byte[] b = new byte[(2 << 20) - rnd.nextInt(CHUNK)];
        rnd.nextBytes(b);
        golden.add(b);
        Files.write(data.resolve("b" + i), b);
      }
      MasterKeys before = VaultHeader.unlock(v.vault(), MountedVault.PASSPHRASE.toCharArray());
      int oldKey = before.primaryKeyId();
      before.destroy();

      long server = v.serverPid(); // known before: the kill must come within milliseconds
      MountedVault.Result start = MountedVault.clawfs("rekey", v.vault().toString(), "--passphrase-file",
          v.passphraseFile().toString(), "--no-wait");
      assertEquals(0, start.exitCode(), start.toString());
      Path st = v.path("system/keys/status");
      String s = "";
      long deadline = System.currentTimeMillis() + 60_000;
      while (System.currentTimeMillis() < deadline) {
        s = Files.readString(st);
        long done = filesDone(s);
        if (s.startsWith("state: content") && done > 0 && done <= 48) { // 16 files (~32 MiB) still to go
          break;
        }
        assertFalse(s.startsWith("state: done"), "the rekey ended before it could be killed: " + s);
        Thread.sleep(5);
      }
      assertTrue(s.startsWith("state: content") && filesDone(s) <= 48, "the content pass was not caught under way: " + s);
      v.kill9(server);

      // cut short: two keys in the header, content files under both
      MasterKeys mid = VaultHeader.unlock(v.vault(), MountedVault.PASSPHRASE.toCharArray());
      assertEquals(2, mid.keyIds().size());
      int newKey = mid.primaryKeyId();
      mid.destroy();
      Set<Integer> ids = new java.util.HashSet<>();
      for (Path f : contentFiles(v.vault())) {
        byte[] h = Arrays16.head(f, 10);
        if (h.length == 10) { // the content file being written at the kill may be shorter: a leftover the mount sweeps
          ids.add(ByteBuffer.wrap(h).getInt(6));
        }
      }
      assertTrue(ids.contains(oldKey) && ids.contains(newKey), "killed half-way: content under both keys " + ids);

      v.mount(); // with the passphrase: the rekey resumes by itself
      deadline = System.currentTimeMillis() + 120_000;
      while (System.currentTimeMillis() < deadline && !(s = Files.readString(st)).startsWith("state: done")) {
        assertFalse(s.startsWith("state: failed") || s.startsWith("state: incomplete"), s);
        Thread.sleep(50);
      }
      assertTrue(s.startsWith("state: done"), "the resumed rekey: " + s);
      for (int i = 0; i < golden.size(); i++) {
        assertArrayEquals(golden.get(i), Files.readAllBytes(data.resolve("b" + i)), "b" + i);
      }
      v.unmount();
      MountedVault.Result clean = check(v, v.passphraseFile());
      assertEquals(0, clean.exitCode(), clean.toString());
      MasterKeys after = VaultHeader.unlock(v.vault(), MountedVault.PASSPHRASE.toCharArray());
      assertEquals(Set.of(newKey), after.keyIds());
      assertNothingUnder(v.vault(), oldKey, newKey);
      after.destroy();
    }
  }

  private static long filesDone(String status) {
    for (String l : status.split("\n")) {
      if (l.startsWith("files: ")) {
        return Long.parseLong(l.substring(7, l.indexOf('/')));
      }
    }
    return -1;
  }

  @Test
  void passwdLeavesAnOldHeaderCopyWithNothingToOpen() throws Exception {
    Path newPass = base.resolve("new-passphrase");
    Files.writeString(newPass, "a much better passphrase\n");
    try (MountedVault v = MountedVault.create(base, "--no-search")) {
      byte[] before = new byte[2 * CHUNK + 5];
      new Random(1).nextBytes(before);
      Files.write(v.path("workspaces/before.bin"), before);
      Path oldHeader = base.resolve("old-header");
      Files.copy(v.vault().resolve(VaultHeader.FILE_NAME), oldHeader);

      MountedVault.Result passwd = MountedVault.clawfs("passwd", v.vault().toString(), "--passphrase-file",
          v.passphraseFile().toString(), "--new-passphrase-file", newPass.toString());
      assertEquals(0, passwd.exitCode(), passwd.toString());
      assertTrue(passwd.stdout().contains("passphrase changed"), passwd.toString());
      byte[] after = "written after the passphrase change\n".getBytes(StandardCharsets.UTF_8);
      Files.write(v.path("workspaces/after.txt"), after);
      // the old passphrase no longer opens the header
      MountedVault.Result wrong = MountedVault.clawfs("rekey", v.vault().toString(), "--passphrase-file",
          v.passphraseFile().toString(), "--no-wait");
      assertEquals(3, wrong.exitCode(), wrong.toString());
      v.unmount();

      // an attacker restores the old header and uses the old passphrase
      Path header = v.vault().resolve(VaultHeader.FILE_NAME);
      Path newHeader = base.resolve("new-header");
      Files.copy(header, newHeader);
      Files.copy(oldHeader, header, StandardCopyOption.REPLACE_EXISTING);
      MasterKeys old = VaultHeader.unlock(v.vault(), MountedVault.PASSPHRASE.toCharArray());
      assertEquals(1, old.keyIds().size());
      List<Path> content = contentFiles(v.vault());
      assertEquals(2, content.size());
      for (Path f : content) {
        byte[] h = Arrays16.head(f, FileHeader.SIZE);
        assertThrows(VaultFormatException.class, () -> FileHeader.decode(h, old), f.toString());
      }
      old.destroy();
      MountedVault.Result mountOld = MountedVault.clawfs("mount", v.vault().toString(), v.mountpoint().toString(),
          "--passphrase-file", v.passphraseFile().toString(), "--no-search");
      assertEquals(4, mountOld.exitCode(), mountOld.toString());
      assertTrue(mountOld.stderr().contains("not in this vault's keyset"), mountOld.toString());

      // the real header back: the new passphrase opens everything; an unmounted rekey, then check
      Files.copy(newHeader, header, StandardCopyOption.REPLACE_EXISTING);
      assertThrows(WrongPassphraseException.class, () -> VaultHeader.unlock(v.vault(), MountedVault.PASSPHRASE.toCharArray()));
      MountedVault.Result offline = MountedVault.clawfs("rekey", v.vault().toString(), "--passphrase-file", newPass.toString());
      assertEquals(0, offline.exitCode(), offline.toString());
      assertTrue(offline.stdout().contains("state: done"), offline.toString());
      MountedVault.Result clean = check(v, newPass);
      assertEquals(0, clean.exitCode(), clean.toString());
      MasterKeys now = VaultHeader.unlock(v.vault(), "a much better passphrase".toCharArray());
      assertEquals(1, now.keyIds().size());
      int primary = now.primaryKeyId();
      now.destroy();
      for (Path f : contentFiles(v.vault())) {
        assertEquals(primary, ByteBuffer.wrap(Arrays16.head(f, 10)).getInt(6));
      }
      Files.writeString(v.passphraseFile(), "a much better passphrase\n");
      v.mount();
      assertArrayEquals(before, Files.readAllBytes(v.path("workspaces/before.bin")));
      assertArrayEquals(after, Files.readAllBytes(v.path("workspaces/after.txt")));
    }
  }

  /** Nothing in the vault directory names {@code oldKey}: content headers, metadata, index, audit, admin files. */
  private static void assertNothingUnder(Path vault, int oldKey, int primary) throws Exception {
    for (Path f : contentFiles(vault)) {
      assertEquals(primary, ByteBuffer.wrap(Arrays16.head(f, 10)).getInt(6), f.toString());
    }
    try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + vault.resolve("metadata.db"));
        ResultSet rs = c.createStatement().executeQuery("SELECT v FROM meta WHERE k = 'keyid'")) {
      assertTrue(rs.next());
      assertEquals(primary, ByteBuffer.wrap(rs.getBytes(1)).getInt());
    }
    if (Files.exists(vault.resolve("index/index.db"))) {
      try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + vault.resolve("index/index.db"));
          ResultSet rs = c.createStatement().executeQuery("SELECT v FROM setting WHERE k = 'keyid'")) {
        assertTrue(rs.next());
        assertEquals(Integer.toUnsignedString(primary), rs.getString(1));
      }
    }
    int segments = 0;
    for (Path f : list(vault.resolve("audit"), ".seg")) {
      assertEquals(primary, ByteBuffer.wrap(Arrays16.head(f, 12)).getInt(8), f.toString());
      segments++;
    }
    assertTrue(segments > 0, "the audit history was written and re-sealed");
    for (String d : List.of("admin", "tools")) {
      for (Path f : list(vault.resolve(d), ".sealed")) {
        assertEquals(primary, ByteBuffer.wrap(Arrays16.head(f, 12)).getInt(8), f.toString());
      }
    }
    assertTrue(Set.of(primary).size() == 1 && oldKey != primary);
  }

  private static List<Path> list(Path dir, String suffix) throws IOException {
    if (!Files.isDirectory(dir)) {
      return List.of();
    }
    try (Stream<Path> s = Files.list(dir)) {
      return s.filter(p -> p.getFileName().toString().endsWith(suffix)).toList();
    }
  }

  private static List<Path> contentFiles(Path vault) throws IOException {
    try (Stream<Path> s = Files.walk(vault.resolve("content"))) {
      return s.filter(Files::isRegularFile).toList();
    }
  }

  private static Process sh(String script) throws IOException {
    return new ProcessBuilder("bash", "-c", script).start();
  }

  /** The rebuilt index finds a word of the text files again (the index was rebuilt under the new key). */
  private static void awaitIndexed(MountedVault v, String word) throws Exception {
    String st = "";
    for (int i = 0; i < 600; i++) {
      st = Files.readString(v.path("system/index/status"));
      if (st.contains("state: idle") && st.contains("queued files: 0")) {
        try (Stream<Path> hits = Files.list(v.path("search/" + word + " keys"))) {
          if (hits.anyMatch(p -> p.getFileName().toString().contains("note"))) {
            return;
          }
        }
      }
      Thread.sleep(100);
    }
    throw new AssertionError("the rebuilt index did not find the notes: " + st);
  }

  /** Reading the first bytes of a file. */
  private static final class Arrays16 {
    static byte[] head(Path f, int n) throws IOException {
      try (InputStream in = Files.newInputStream(f)) {
        return in.readNBytes(n);
      }
    }
  }
}
