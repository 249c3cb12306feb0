package dev.clawfs.mount;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Bad input at the command line and at the mount: each gives the documented exit code and a
 * one-line {@code clawfs: ...} message, and leaves the vault byte-identical and usable.
 */
@Timeout(value = 4, unit = TimeUnit.MINUTES, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class BadInputIT {
  private static final String HEADER = "clawfs.vault";

  @TempDir Path base;
  private final List<MountedVault> opened = new ArrayList<>();

  @AfterEach
  void unmountAll() {
    for (MountedVault v : opened) {
      v.close();
    }
  }

  @Test
  void wrongPassphraseExits3AndChangesNothing() throws IOException {
    MountedVault v = unmountedVaultWithAFile();
    Path wrong = base.resolve("wrong-passphrase");
    Files.writeString(wrong, "not the passphrase\n");
    SortedMap<String, String> before = hashTree(v.vault());

    MountedVault.Result r = MountedVault.clawfs("mount", v.vault().toString(),
        v.mountpoint().toString(), "--passphrase-file", wrong.toString());
    assertEquals(3, r.exitCode(), "mount with a wrong passphrase file: " + r);
    assertClearMessage(r, "passphrase");

    MountedVault.Result env = MountedVault.run(
        List.of(MountedVault.launcher().toString(), "mount", v.vault().toString(),
            v.mountpoint().toString()),
        null, 300, Map.of("CLAWFS_PASSPHRASE", "also wrong"), null);
    assertEquals(3, env.exitCode(), "mount with a wrong CLAWFS_PASSPHRASE: " + env);
    assertClearMessage(env, "passphrase");

    assertFalse(isMounted(v.mountpoint()), "nothing may be mounted after a wrong passphrase");
    assertEquals(before, hashTree(v.vault()), "vault files after wrong passphrases");
    assertMountsAndReadsBack(v);
  }

  @Test
  void missingMountpointExits5() throws IOException {
    MountedVault v = unmountedVaultWithAFile();
    SortedMap<String, String> before = hashTree(v.vault());
    Path missing = base.resolve("no-such-dir");
    MountedVault.Result r = MountedVault.clawfs("mount", v.vault().toString(), missing.toString(),
        "--passphrase-file", v.passphraseFile().toString());
    assertEquals(5, r.exitCode(), "mount on a missing mountpoint: " + r);
    assertClearMessage(r, null);
    assertFalse(Files.exists(missing), "mount must not create the mountpoint");

    Path file = base.resolve("a-file");
    Files.writeString(file, "x");
    MountedVault.Result f = MountedVault.clawfs("mount", v.vault().toString(), file.toString(),
        "--passphrase-file", v.passphraseFile().toString());
    assertEquals(5, f.exitCode(), "mount on a regular file: " + f);
    assertClearMessage(f, null);
    assertEquals(before, hashTree(v.vault()));
    assertMountsAndReadsBack(v);
  }

  @Test
  void mountingTwiceExits5AndTheFirstMountKeepsWorking() throws IOException {
    MountedVault v = track(MountedVault.create(base));
    Files.writeString(v.path("workspaces/first.txt"), "first mount");
    long pid = v.serverPid();

    MountedVault.Result r = MountedVault.clawfs("mount", v.vault().toString(),
        v.mountpoint().toString(), "--passphrase-file", v.passphraseFile().toString());
    assertEquals(5, r.exitCode(), "second mount on a busy mountpoint: " + r);
    assertClearMessage(r, null);

    assertEquals(1, mountCount(v.mountpoint()), "exactly one mount at the mountpoint");
    assertEquals(pid, v.serverPid(), "the first server still serves the mount");
    assertEquals("first mount", Files.readString(v.path("workspaces/first.txt")));
    Files.writeString(v.path("workspaces/second.txt"), "still writable");
    assertEquals("still writable", Files.readString(v.path("workspaces/second.txt")));
    v.unmount();
    assertFalse(isMounted(v.mountpoint()));
    v.mount();
    assertEquals("first mount", Files.readString(v.path("workspaces/first.txt")));
    assertEquals("still writable", Files.readString(v.path("workspaces/second.txt")));
  }

  @Test
  void missingVaultExits4() throws IOException {
    MountedVault.assumeMountable();
    Path mnt = Files.createDirectories(base.resolve("mnt"));
    Path pass = base.resolve("pass");
    Files.writeString(pass, MountedVault.PASSPHRASE + "\n");

    MountedVault.Result r = MountedVault.clawfs("mount", base.resolve("no-vault").toString(),
        mnt.toString(), "--passphrase-file", pass.toString());
    assertEquals(4, r.exitCode(), "mount of a missing vault directory: " + r);
    assertClearMessage(r, null);
    assertFalse(Files.exists(base.resolve("no-vault")), "mount must not create a vault");

    Path empty = Files.createDirectories(base.resolve("empty"));
    MountedVault.Result e = MountedVault.clawfs("mount", empty.toString(), mnt.toString(),
        "--passphrase-file", pass.toString());
    assertEquals(4, e.exitCode(), "mount of an empty directory (no header): " + e);
    assertClearMessage(e, null);
    try (Stream<Path> s = Files.list(empty)) {
      assertEquals(0, s.count(), "mount must not write into a directory that is not a vault");
    }
    assertFalse(isMounted(mnt));
  }

  @Test
  void garbageHeaderExits4AndChangesNothing() throws IOException {
    MountedVault v = unmountedVaultWithAFile();
    Path header = v.vault().resolve(HEADER);
    byte[] good = Files.readAllBytes(header);
    byte[] garbage = new byte[good.length];
    new Random(4).nextBytes(garbage);
    Files.write(header, garbage);
    assertCorruptHeaderRefused(v, "random bytes");
    Files.write(header, new byte[0]);
    assertCorruptHeaderRefused(v, "an empty header");
    Files.write(header, good);
    assertMountsAndReadsBack(v);
  }

  @Test
  void truncatedHeaderJsonExits4AndChangesNothing() throws IOException {
    MountedVault v = unmountedVaultWithAFile();
    Path header = v.vault().resolve(HEADER);
    byte[] good = Files.readAllBytes(header);
    Files.write(header, Arrays.copyOf(good, good.length / 2));
    assertCorruptHeaderRefused(v, "half of the header JSON");
    Files.writeString(header, "{}");
    assertCorruptHeaderRefused(v, "an empty JSON object");
    Files.write(header, good);
    assertMountsAndReadsBack(v);
  }

  @Test
  void headerWithAFlippedByteIsRefused() throws IOException {
    MountedVault v = unmountedVaultWithAFile();
    Path header = v.vault().resolve(HEADER);
    byte[] good = Files.readAllBytes(header);
    String json = new String(good, StandardCharsets.UTF_8);
    // Change one character inside the longest base64/hex value: still valid JSON, wrong data.
    Matcher m = Pattern.compile("\"([A-Za-z0-9+/=_-]{24,})\"")
        .matcher(json);
    String longest = null;
    int at = -1;
    while (m.find()) {
      if (longest == null || m.group(1).length() > longest.length()) {
        longest = m.group(1);
        at = m.start(1);
      }
    }
    assertTrue(longest != null, "the header holds no long encoded value to tamper with: " + json);
    int i = at + longest.length() / 2;
    char c = json.charAt(i);
    String tampered = json.substring(0, i) + (c == 'A' ? 'B' : 'A') + json.substring(i + 1);
    Files.writeString(header, tampered);
    SortedMap<String, String> before = hashTree(v.vault());
    MountedVault.Result r = MountedVault.clawfs("mount", v.vault().toString(),
        v.mountpoint().toString(), "--passphrase-file", v.passphraseFile().toString());
    assertTrue(r.exitCode() == 3 || r.exitCode() == 4,
        "a tampered header must be refused as corrupt (4) or as failing authentication (3): " + r);
    assertClearMessage(r, null);
    assertFalse(isMounted(v.mountpoint()));
    assertEquals(before, hashTree(v.vault()));
    Files.write(header, good);
    assertMountsAndReadsBack(v);
  }

  @Test
  void initOverAnExistingVaultIsRefused() throws IOException {
    MountedVault v = unmountedVaultWithAFile();
    SortedMap<String, String> before = hashTree(v.vault());
    Path other = base.resolve("other-passphrase");
    Files.writeString(other, "a different passphrase\n");
    for (Path pass : List.of(v.passphraseFile(), other)) {
      List<String> args = new ArrayList<>(List.of("init", v.vault().toString(),
          "--passphrase-file", pass.toString()));
      args.addAll(List.of(MountedVault.TEST_KDF));
      MountedVault.Result r = MountedVault.clawfs(args.toArray(String[]::new));
      assertNotEquals(0, r.exitCode(), "init over an existing vault must fail: " + r);
      assertClearMessage(r, null);
      assertEquals(before, hashTree(v.vault()), "vault files after a refused init");
    }
    assertMountsAndReadsBack(v);
  }

  @Test
  void nameOf256BytesGivesEnametoolongAndTheVaultStaysHealthy() throws IOException {
    MountedVault v = track(MountedVault.create(base));
    Path dir = Files.createDirectories(v.path("workspaces/names"));
    Path ok = dir.resolve("n".repeat(255));
    Files.writeString(ok, "255 is fine");
    Path tooLong = dir.resolve("n".repeat(256));
    for (ThrowingOp op : List.<ThrowingOp>of(
        () -> Files.writeString(tooLong, "x"),
        () -> Files.createDirectory(tooLong),
        () -> Files.createSymbolicLink(tooLong, Path.of("t")),
        () -> Files.createLink(tooLong, ok),
        () -> Files.move(ok, tooLong, StandardCopyOption.ATOMIC_MOVE))) {
      FileSystemException e = assertThrows(FileSystemException.class, op::run);
      assertEquals("File name too long", e.getReason(), "errno for a 256-byte name: " + e);
    }
    try (Stream<Path> s = Files.list(dir)) {
      assertEquals(List.of(ok), s.toList(), "only the 255-byte name exists");
    }
    v.unmount();
    v.mount();
    assertEquals("255 is fine", Files.readString(ok));
    Files.writeString(dir.resolve("after"), "works after remount");
    assertEquals("works after remount", Files.readString(dir.resolve("after")));
  }

  @Test
  void usageErrorsExit2() {
    MountedVault.assumeMountable();
    MountedVault.Result none = MountedVault.clawfs("mount");
    assertEquals(2, none.exitCode(), "mount without arguments: " + none);
    assertFalse(none.stderr().isBlank(), "a usage error says what is wrong: " + none);
    MountedVault.Result unknown = MountedVault.clawfs("no-such-command");
    assertEquals(2, unknown.exitCode(), "unknown command: " + unknown);
    MountedVault.Result option = MountedVault.clawfs("init", base.resolve("v").toString(),
        "--no-such-option");
    assertEquals(2, option.exitCode(), "unknown option: " + option);
    assertFalse(Files.exists(base.resolve("v").resolve(HEADER)), "no vault after a usage error");
  }

  // ---------------------------------------------------------------- helpers

  @FunctionalInterface
  private interface ThrowingOp {
    void run() throws IOException;
  }

  private MountedVault track(MountedVault v) {
    opened.add(v);
    return v;
  }

  /** A vault that was mounted, given one file, and unmounted again. */
  private MountedVault unmountedVaultWithAFile() throws IOException {
    MountedVault v = track(MountedVault.create(base));
    Files.writeString(v.path("workspaces/kept.txt"), "kept across bad input");
    v.unmount();
    assertFalse(isMounted(v.mountpoint()));
    return v;
  }

  private static void assertMountsAndReadsBack(MountedVault v) throws IOException {
    v.mount();
    assertEquals("kept across bad input", Files.readString(v.path("workspaces/kept.txt")),
        "the vault still mounts with the right passphrase and holds its file");
  }

  private void assertCorruptHeaderRefused(MountedVault v, String what) throws IOException {
    SortedMap<String, String> before = hashTree(v.vault());
    MountedVault.Result r = MountedVault.clawfs("mount", v.vault().toString(),
        v.mountpoint().toString(), "--passphrase-file", v.passphraseFile().toString());
    assertEquals(4, r.exitCode(), "mount with " + what + " as the header: " + r);
    assertClearMessage(r, null);
    assertFalse(isMounted(v.mountpoint()), "nothing mounted with " + what);
    assertEquals(before, hashTree(v.vault()), "vault files after refusing " + what);
  }

  /** One line starting "clawfs: " (mentioning the keyword, if given) and no stack trace. */
  private static void assertClearMessage(MountedVault.Result r, String keyword) {
    String err = r.stderr();
    assertAll(
        () -> assertTrue(err.lines().anyMatch(l -> l.startsWith("clawfs: ")),
            "stderr has a 'clawfs: ' message: " + r),
        () -> assertFalse(err.contains("\tat ") || err.contains("Exception in thread"),
            "no stack trace on stderr: " + r),
        () -> assertTrue(keyword == null || err.toLowerCase().contains(keyword),
            "the message mentions '" + keyword + "': " + r));
  }

  /** Relative path -> type, size and SHA-256 of every entry in the vault directory. */
  static SortedMap<String, String> hashTree(Path root) throws IOException {
    SortedMap<String, String> m = new TreeMap<>();
    try (Stream<Path> s = Files.walk(root)) {
      for (Path p : s.toList()) {
        String key = root.relativize(p).toString();
        if (Files.isSymbolicLink(p)) {
          m.put(key, "symlink " + Files.readSymbolicLink(p));
        } else if (Files.isDirectory(p)) {
          m.put(key, "dir");
        } else {
          byte[] b = Files.readAllBytes(p);
          m.put(key, "file " + b.length + " " + PosixSemanticsIT.sha256(b));
        }
      }
    }
    return m;
  }

  static boolean isMounted(Path mountpoint) throws IOException {
    return mountCount(mountpoint) > 0;
  }

  /** Mounts at this path, from /proc/self/mountinfo (field 5, octal escapes undone). */
  static int mountCount(Path mountpoint) throws IOException {
    String want = mountpoint.toAbsolutePath().normalize().toString();
    int n = 0;
    for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
      String[] f = line.split(" ");
      if (f.length > 4 && unescape(f[4]).equals(want)) {
        n++;
      }
    }
    return n;
  }

  private static String unescape(String s) {
    StringBuilder b = new StringBuilder();
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c == '\\' && i + 3 < s.length()) {
        b.append((char) Integer.parseInt(s.substring(i + 1, i + 4), 8));
        i += 3;
      } else {
        b.append(c);
      }
    }
    return b.toString();
  }
}
