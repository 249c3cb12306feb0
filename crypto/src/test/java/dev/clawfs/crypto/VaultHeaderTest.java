package dev.clawfs.crypto;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Base64;
import java.util.Set;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class VaultHeaderTest {
  /** Small parameters keep the suite fast; the defaults are exercised by nothing slower than this. */
  private static final KdfParams FAST = new KdfParams(8192, 1, 1);
  private static final ObjectMapper JSON = new ObjectMapper();

  @TempDir Path dir;

  private static char[] pass() {
    return "correct horse battery staple".toCharArray();
  }

  @Test
  void createThenUnlockGivesTheSameKeys() throws IOException {
    assertFalse(VaultHeader.exists(dir));
    MasterKeys created = VaultHeader.create(dir, pass(), FAST);
    assertTrue(VaultHeader.exists(dir));
    MasterKeys unlocked = VaultHeader.unlock(dir, pass());
    assertEquals(1, created.keyIds().size());
    assertEquals(created.keyIds(), unlocked.keyIds());
    assertEquals(created.primaryKeyId(), unlocked.primaryKeyId());
    assertArrayEquals(created.vaultId(), unlocked.vaultId());
    for (KeyPurpose p : KeyPurpose.values()) {
      assertArrayEquals(created.subkey(p).getEncoded(), unlocked.subkey(p).getEncoded(), p.name());
    }
    // Data sealed before the lock opens after the unlock.
    FileHeader fh = FileHeader.create(created);
    assertArrayEquals(fh.fileId(), FileHeader.decode(fh.encode(created), unlocked).fileId());
    // No temp files left behind.
    try (Stream<Path> files = Files.list(dir)) {
      assertEquals(Set.of(VaultHeader.FILE_NAME), files.map(f -> f.getFileName().toString()).collect(java.util.stream.Collectors.toSet()));
    }
  }

  @Test
  void headerHasTheDocumentedFields() throws IOException {
    MasterKeys keys = VaultHeader.create(dir, pass(), FAST);
    JsonNode root = JSON.readTree(header().toFile());
    assertEquals("clawfs-vault", root.get("format").asText());
    assertEquals(1, root.get("version").asInt());
    assertArrayEquals(keys.vaultId(), Base64.getDecoder().decode(root.get("vaultId").asText()));
    JsonNode kdf = root.get("kdf");
    assertEquals("argon2id", kdf.get("algorithm").asText());
    assertEquals(8192, kdf.get("memoryKiB").asInt());
    assertEquals(1, kdf.get("iterations").asInt());
    assertEquals(1, kdf.get("parallelism").asInt());
    assertEquals(16, Base64.getDecoder().decode(kdf.get("salt").asText()).length);
    assertEquals("aes-256-gcm", root.get("keyset").get("cipher").asText());
    assertTrue(Base64.getDecoder().decode(root.get("keyset").get("sealed").asText()).length > 60);
    if (dir.getFileSystem().supportedFileAttributeViews().contains("posix")) {
      assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(header())));
    }
  }

  @Test
  void wrongPassphraseIsRefusedAndNothingIsWritten() throws IOException {
    VaultHeader.create(dir, pass(), FAST);
    byte[] before = Files.readAllBytes(header());
    FileTime mtime = Files.getLastModifiedTime(header());
    WrongPassphraseException e = assertThrows(WrongPassphraseException.class,
        () -> VaultHeader.unlock(dir, "Correct horse battery staple".toCharArray()));
    assertEquals("wrong passphrase (or the header was altered)", e.getMessage());
    assertArrayEquals(before, Files.readAllBytes(header()));
    assertEquals(mtime, Files.getLastModifiedTime(header()));
  }

  @Test
  void alteredKdfParamsAreDetected() throws IOException {
    VaultHeader.create(dir, pass(), FAST);
    assertTamperDetected(root -> ((ObjectNode) root.get("kdf")).put("memoryKiB", 8200));
    assertTamperDetected(root -> ((ObjectNode) root.get("kdf")).put("iterations", 2));
    assertTamperDetected(root -> ((ObjectNode) root.get("kdf")).put("parallelism", 2));
    assertTamperDetected(root -> ((ObjectNode) root.get("kdf")).put("salt",
        Base64.getEncoder().encodeToString(new byte[16])));
  }

  @Test
  void alteredVaultIdOrKeysetIsDetected() throws IOException {
    VaultHeader.create(dir, pass(), FAST);
    assertTamperDetected(root -> ((ObjectNode) root).put("vaultId",
        Base64.getEncoder().encodeToString(new byte[16])));
    assertTamperDetected(root -> {
      byte[] sealed = Base64.getDecoder().decode(root.get("keyset").get("sealed").asText());
      sealed[sealed.length / 2] ^= 1;
      ((ObjectNode) root.get("keyset")).put("sealed", Base64.getEncoder().encodeToString(sealed));
    });
  }

  /** The tampered header must not unlock; the original must still unlock afterwards. */
  private void assertTamperDetected(Consumer<JsonNode> tamper) throws IOException {
    byte[] original = Files.readAllBytes(header());
    JsonNode root = JSON.readTree(original);
    tamper.accept(root);
    Files.write(header(), JSON.writeValueAsBytes(root));
    // Still well-formed, so it must be the tag that catches it.
    assertThrows(WrongPassphraseException.class, () -> VaultHeader.unlock(dir, pass()));
    Files.write(header(), original);
    VaultHeader.unlock(dir, pass());
  }

  @Test
  void missingHeader() {
    VaultFormatException e = assertThrows(VaultFormatException.class, () -> VaultHeader.unlock(dir, pass()));
    assertTrue(e.getMessage().contains("no vault header"), e.getMessage());
    assertTrue(e.getMessage().contains(VaultHeader.FILE_NAME), e.getMessage());
  }

  @Test
  void garbageJson() throws IOException {
    Files.writeString(header(), "{ this is not json");
    VaultFormatException e = assertThrows(VaultFormatException.class, () -> VaultHeader.unlock(dir, pass()));
    assertTrue(e.getMessage().contains("not valid JSON"), e.getMessage());
    Files.writeString(header(), "[1, 2]");
    assertTrue(assertThrows(VaultFormatException.class, () -> VaultHeader.unlock(dir, pass()))
        .getMessage().contains("not a JSON object"));
    Files.writeString(header(), "{\"format\":\"something-else\",\"version\":1}");
    assertTrue(assertThrows(VaultFormatException.class, () -> VaultHeader.unlock(dir, pass()))
        .getMessage().contains("not a ClawFS vault header"));
  }

  @Test
  void unsupportedVersion() throws IOException {
    VaultHeader.create(dir, pass(), FAST);
    rewrite(root -> ((ObjectNode) root).put("version", 2));
    VaultFormatException e = assertThrows(VaultFormatException.class, () -> VaultHeader.unlock(dir, pass()));
    assertTrue(e.getMessage().contains("unsupported vault format version 2"), e.getMessage());
  }

  @Test
  void badFieldsAreFormatErrors() throws IOException {
    VaultHeader.create(dir, pass(), FAST);
    byte[] original = Files.readAllBytes(header());
    assertFormatError(original, root -> ((ObjectNode) root.get("kdf")).put("memoryKiB", 4), "bad kdf parameters");
    assertFormatError(original, root -> ((ObjectNode) root.get("kdf")).put("algorithm", "scrypt"), "kdf algorithm");
    assertFormatError(original, root -> ((ObjectNode) root).remove("keyset"), "lacks field \"keyset\"");
    assertFormatError(original, root -> ((ObjectNode) root).put("vaultId", "!!!"), "base64");
    assertFormatError(original, root -> ((ObjectNode) root).put("extra", 1), "unknown field \"extra\"");
    assertFormatError(original, root -> ((ObjectNode) root.get("kdf")).put("iterations", "3"), "integer");
    assertFormatError(original, root -> ((ObjectNode) root.get("keyset")).put("cipher", "aes-128-gcm"), "keyset cipher");
  }

  @Test
  void duplicateFieldsAreRefused() throws IOException {
    VaultHeader.create(dir, pass(), FAST);
    String json = Files.readString(header());
    Files.writeString(header(), json.replaceFirst("\\{", "{ \"version\" : 1,"));
    VaultFormatException e = assertThrows(VaultFormatException.class, () -> VaultHeader.unlock(dir, pass()));
    assertTrue(e.getMessage().contains("not valid JSON"), e.getMessage());
  }

  private void assertFormatError(byte[] original, Consumer<JsonNode> change, String messagePart) throws IOException {
    Files.write(header(), original);
    rewrite(change);
    VaultFormatException e = assertThrows(VaultFormatException.class, () -> VaultHeader.unlock(dir, pass()));
    assertTrue(e.getMessage().contains(messagePart), e.getMessage());
    Files.write(header(), original);
  }

  @Test
  void createRefusesToOverwrite() throws IOException {
    VaultHeader.create(dir, pass(), FAST);
    byte[] before = Files.readAllBytes(header());
    VaultFormatException e = assertThrows(VaultFormatException.class, () -> VaultHeader.create(dir, pass(), FAST));
    assertTrue(e.getMessage().contains("already exists"), e.getMessage());
    assertArrayEquals(before, Files.readAllBytes(header()));
  }

  @Test
  void createMakesTheDirectory() {
    Path nested = dir.resolve("a/b");
    VaultHeader.create(nested, pass(), FAST);
    assertTrue(VaultHeader.exists(nested));
  }

  @Test
  void rotateAddsANewPrimaryAndKeepsOldKeys() {
    MasterKeys v1 = VaultHeader.create(dir, pass(), FAST);
    FileHeader old = FileHeader.create(v1);
    byte[] oldEncoded = old.encode(v1);

    MasterKeys v2 = VaultHeader.rotate(dir, pass());
    assertEquals(2, v2.keyIds().size());
    assertTrue(v2.keyIds().contains(v1.primaryKeyId()));
    assertNotEquals(v1.primaryKeyId(), v2.primaryKeyId());
    assertArrayEquals(v1.vaultId(), v2.vaultId());
    assertArrayEquals(v1.subkey(KeyPurpose.METADATA).getEncoded(),
        v2.subkey(v1.primaryKeyId(), KeyPurpose.METADATA).getEncoded());

    MasterKeys reopened = VaultHeader.unlock(dir, pass());
    assertEquals(v2.keyIds(), reopened.keyIds());
    assertEquals(v2.primaryKeyId(), reopened.primaryKeyId());
    assertEquals(v1.primaryKeyId(), FileHeader.decode(oldEncoded, reopened).keyId());
    assertEquals(v2.primaryKeyId(), FileHeader.create(reopened).keyId());
  }

  @Test
  void changePassphraseKeepsKeys() {
    MasterKeys before = VaultHeader.create(dir, pass(), FAST);
    char[] next = "new passphrase".toCharArray();
    assertThrows(WrongPassphraseException.class,
        () -> VaultHeader.changePassphrase(dir, "nope".toCharArray(), next, FAST));
    VaultHeader.changePassphrase(dir, pass(), next, new KdfParams(8192, 2, 1));
    assertThrows(WrongPassphraseException.class, () -> VaultHeader.unlock(dir, pass()));
    MasterKeys after = VaultHeader.unlock(dir, next);
    assertEquals(before.primaryKeyId(), after.primaryKeyId());
    assertArrayEquals(before.subkey(KeyPurpose.AUDIT).getEncoded(), after.subkey(KeyPurpose.AUDIT).getEncoded());
  }

  @Test
  void headerHoldsNoKeyBytesInTheClear() throws IOException {
    MasterKeys keys = VaultHeader.create(dir, pass(), FAST);
    String json = Files.readString(header(), StandardCharsets.UTF_8);
    assertFalse(json.contains(Base64.getEncoder().encodeToString(keys.subkey(KeyPurpose.METADATA).getEncoded())));
    assertFalse(json.contains("correct horse"));
  }

  private void rewrite(Consumer<JsonNode> change) throws IOException {
    JsonNode root = JSON.readTree(header().toFile());
    change.accept(root);
    Files.write(header(), JSON.writeValueAsBytes(root));
  }

  private Path header() {
    return dir.resolve(VaultHeader.FILE_NAME);
  }
}
