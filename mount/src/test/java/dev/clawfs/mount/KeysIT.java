package dev.clawfs.mount;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.clawfs.crypto.VaultHeader;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Key management end to end, through the real launcher, real mounts and the real kernel keyring:
 * a recovery key exported, the passphrase forgotten, the vault recovered with the words and
 * mounted with the new passphrase; and the unlocked key kept in the keyring across a killed
 * server, dropped by {@code clawfs lock}, refused when stale, and gone when its timeout passes.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class KeysIT {
  @TempDir Path base;

  private static MountedVault.Result clawfs(String... args) {
    return MountedVault.clawfs(args);
  }

  private static MountedVault.Result clawfsWithStdin(byte[] stdin, String... args) {
    List<String> cmd = new ArrayList<>();
    cmd.add(MountedVault.launcher().toString());
    cmd.addAll(List.of(args));
    return MountedVault.run(cmd, null, 120, Map.of(), stdin);
  }

  /** Writes a file through the mount and fsyncs it, so a SIGKILL cannot lose it. */
  private static void writeSynced(Path file, String text) throws IOException {
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
        StandardOpenOption.TRUNCATE_EXISTING)) {
      ch.write(ByteBuffer.wrap(text.getBytes(StandardCharsets.UTF_8)));
      ch.force(true);
    }
  }

  @Test
  void recoveryKeyOpensTheVaultWhenThePassphraseIsLost() throws Exception {
    String vaultPath;
    Path mnt;
    Path header;
    List<String> words = new ArrayList<>();
    try (MountedVault v = MountedVault.create(base, "--no-search")) {
      vaultPath = v.vault().toString();
      mnt = v.mountpoint();
      header = v.vault().resolve(VaultHeader.FILE_NAME);
      Files.createDirectories(v.path("workspaces/notes"));
      Files.writeString(v.path("workspaces/notes/plan.txt"), "the plan, in full\n");
      Files.write(v.path("specs/blob.bin"), new byte[200_000]);
      v.unmount();

      MountedVault.Result export = clawfs("export-recovery-key", vaultPath, "--passphrase-file", v.passphraseFile().toString());
      assertEquals(0, export.exitCode(), export.toString());
      String[] lines = export.stdout().split("\n");
      assertEquals(11, lines.length, export.stdout());
      for (int i = 0; i < lines.length; i++) {
        assertTrue(lines[i].matches(String.format("%2d:( [a-z]{4,6} *){3}", i + 1)), lines[i]);
        words.addAll(Arrays.asList(lines[i].substring(3).trim().split("\\s+")));
      }
      assertEquals(33, words.size());
      assertTrue(export.stderr().contains("Write it down"), export.stderr());
      assertFalse(export.stderr().contains(String.join(" ", words.subList(0, 3))), "the words go to stdout only");
      assertFalse(Files.readString(header).contains(words.get(0) + " " + words.get(1)));
    }

    // the passphrase is forgotten. A mistyped word (another valid word) is refused before any
    // cryptography, with exit 3, and changes nothing (unknown words: RecoveryKeyTest)
    byte[] before = Files.readAllBytes(header);
    Path newPass = base.resolve("new-passphrase");
    Files.writeString(newPass, "a new passphrase, written down this time\n");
    String key = String.join(" ", words);
    List<String> typo = new ArrayList<>(List.of(key.split(" ")));
    typo.set(9, typo.get(9).equals("acorn") ? "actor" : "acorn");
    MountedVault.Result mistyped = clawfsWithStdin(String.join(" ", typo).getBytes(StandardCharsets.US_ASCII),
        "recover", vaultPath, "--passphrase-file", newPass.toString());
    assertEquals(3, mistyped.exitCode(), mistyped.toString());
    assertTrue(mistyped.stderr().contains("checksum") && mistyped.stderr().contains("nothing was changed"),
        mistyped.stderr());
    assertArrayEquals(before, Files.readAllBytes(header));

    // the real words, as a person might type them: upper case, odd spacing, line numbers kept
    Path keyFile = base.resolve("typed-key.txt");
    StringBuilder typed = new StringBuilder();
    String[] w = key.split(" ");
    for (int i = 0; i < w.length; i++) {
      typed.append(i % 3 == 0 ? "\n" + (i / 3 + 1) + ":\t" : "   ").append(i % 2 == 0 ? w[i].toUpperCase(Locale.ROOT) : w[i]);
    }
    Files.writeString(keyFile, typed + "\n");
    MountedVault.Result recovered = clawfs("recover", vaultPath, "--recovery-key-file", keyFile.toString(),
        "--passphrase-file", newPass.toString());
    assertEquals(0, recovered.exitCode(), recovered.toString());
    assertTrue(recovered.stdout().contains("opens with the new passphrase"), recovered.toString());

    // the old passphrase no longer mounts; the new one does, and every file is intact
    MountedVault.Result old = clawfs("mount", vaultPath, mnt.toString(), "--no-search", "--passphrase-file",
        base.resolve("passphrase").toString());
    assertEquals(3, old.exitCode(), old.toString());
    MountedVault.Result mounted = clawfs("mount", vaultPath, mnt.toString(), "--no-search", "--passphrase-file",
        newPass.toString());
    assertEquals(0, mounted.exitCode(), mounted.toString());
    try {
      assertEquals("the plan, in full\n", Files.readString(mnt.resolve("workspaces/notes/plan.txt")));
      assertArrayEquals(new byte[200_000], Files.readAllBytes(mnt.resolve("specs/blob.bin")));
    } finally {
      assertEquals(0, clawfs("umount", mnt.toString()).exitCode());
    }

    // exporting again retires the first key
    MountedVault.Result again = clawfs("export-recovery-key", vaultPath, "--passphrase-file", newPass.toString());
    assertEquals(0, again.exitCode(), again.toString());
    assertTrue(again.stderr().contains("replaces the earlier recovery key"), again.stderr());
    MountedVault.Result retired = clawfs("recover", vaultPath, "--recovery-key-file", keyFile.toString(),
        "--passphrase-file", newPass.toString());
    assertEquals(3, retired.exitCode(), retired.toString());
    assertTrue(retired.stderr().contains("older one replaced by a later export"), retired.stderr());
  }

  @Test
  void keyringKeepsTheKeyUntilLockOrTimeout() throws Exception {
    String why = Keyring.unavailableReason();
    Assumptions.assumeTrue(why == null, "SKIPPED: the kernel keyring cannot be used here: " + why);
    try (MountedVault v = MountedVault.create(base, "--no-search", "--keyring-timeout", "120")) {
      byte[] vaultId = VaultHeader.vaultId(v.vault());
      String vault = v.vault().toString();
      String mnt = v.mountpoint().toString();
      try {
        int serial = Keyring.find(vaultId);
        assertNotEquals(0, serial, "clawfs mount --keyring-timeout kept no key");
        String proc = procKeysLine(serial);
        // type user, clawfs:<hex id>, possessor all + user view/read/search, nothing for group and others
        assertTrue(proc.contains(" 3f0b0000 ") && proc.contains(" user ") && proc.contains(Keyring.description(vaultId)), proc);
        writeSynced(v.path("workspaces/kept.txt"), "survives a kill -9\n");

        // kill -9 the server; the stale mount stays for `clawfs mount` to clean up
        long pid = Mounts.serverPid(v.mountpoint());
        assertTrue(pid > 0, "no server pid for " + mnt);
        MountedVault.run(List.of("kill", "-9", Long.toString(pid)), null, 30);
        for (int i = 0; i < 400 && Files.exists(Path.of("/proc/" + pid)); i++) {
          Thread.sleep(25);
        }
        MountedVault.Result remount = clawfs("mount", vault, mnt, "--no-search");
        assertEquals(0, remount.exitCode(), remount.toString());
        assertTrue(remount.stderr().contains("stale mount"), remount.stderr());
        assertTrue(remount.stderr().contains("unlocking with the key kept in the kernel keyring"), remount.stderr());
        assertEquals("survives a kill -9\n", Files.readString(v.path("workspaces/kept.txt")));

        // clawfs lock (by mount point) drops it; the mount stays; the next mount needs the passphrase
        MountedVault.Result lock = clawfs("lock", mnt);
        assertEquals(0, lock.exitCode(), lock.toString());
        assertTrue(lock.stdout().contains("dropped the key kept in the kernel keyring"), lock.stdout());
        assertEquals(0, Keyring.find(vaultId));
        assertEquals("survives a kill -9\n", Files.readString(v.path("workspaces/kept.txt")));
        assertEquals(0, clawfs("umount", mnt).exitCode());
        MountedVault.Result needs = clawfs("mount", vault, mnt, "--no-search");
        assertEquals(2, needs.exitCode(), needs.toString());
        assertTrue(needs.stderr().contains("no passphrase"), needs.stderr());

        // a wrong entry (another vault's keyset) is dropped and the passphrase asked for as usual;
        // this mount keeps the key for 3 s, and the kernel drops it by itself (polled, no timing asserted)
        byte[] junk = new byte[200];
        System.arraycopy("CLFSKK01".getBytes(StandardCharsets.US_ASCII), 0, junk, 0, 8);
        Keyring.keep(vaultId, junk, 60);
        MountedVault.Result stale = clawfs("mount", vault, mnt, "--no-search", "-o", "keyring_timeout=3",
            "--passphrase-file", v.passphraseFile().toString());
        assertEquals(0, stale.exitCode(), stale.toString());
        assertTrue(stale.stderr().contains("does not fit the vault") && stale.stderr().contains("dropped the key")
            && stale.stderr().contains("asking for the passphrase"), stale.stderr());
        assertTrue(stale.stderr().contains("kept the vault key in the kernel keyring for 3 s"), stale.stderr());
        assertNotEquals(0, Keyring.find(vaultId));
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (Keyring.find(vaultId) != 0) {
          assertTrue(System.nanoTime() < deadline, "the key outlived its timeout by a minute");
          Thread.sleep(200);
        }
        v.unmount();
        MountedVault.Result expired = clawfs("mount", vault, mnt, "--no-search");
        assertEquals(2, expired.exitCode(), expired.toString());
      } finally {
        Keyring.drop(vaultId);
      }
    }
  }

  private static String procKeysLine(int serial) throws IOException {
    String hex = String.format("%08x", serial);
    for (String line : Files.readAllLines(Path.of("/proc/keys"), StandardCharsets.US_ASCII)) {
      if (line.startsWith(hex + " ")) {
        return line;
      }
    }
    throw new AssertionError("key " + hex + " is not in /proc/keys");
  }
}
