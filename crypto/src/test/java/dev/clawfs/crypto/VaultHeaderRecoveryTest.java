package dev.clawfs.crypto;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.HexFormat;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The header's recovery slot, and keysets kept outside the vault ({@link UnlockedKeyset}). */
class VaultHeaderRecoveryTest {
  private static final KdfParams FAST = new KdfParams(8192, 1, 1);
  private static final ObjectMapper JSON = new ObjectMapper();

  @TempDir Path dir;

  private static char[] pass() {
    return "correct horse battery staple".toCharArray();
  }

  private Path header() {
    return dir.resolve(VaultHeader.FILE_NAME);
  }

  @Test
  void exportThenRecoverSetsANewPassphraseAndKeepsTheKeys() throws IOException {
    MasterKeys created = VaultHeader.create(dir, pass(), FAST);
    assertFalse(VaultHeader.hasRecoveryKey(dir));
    RecoveryKey key = VaultHeader.exportRecoveryKey(dir, pass());
    assertTrue(VaultHeader.hasRecoveryKey(dir));
    String words = key.printable();
    // the passphrase still works after the export
    assertEquals(created.primaryKeyId(), VaultHeader.unlock(dir, pass()).primaryKeyId());

    char[] fresh = "a brand new passphrase".toCharArray();
    VaultHeader.recover(dir, RecoveryKey.parse(words), fresh);
    assertThrows(WrongPassphraseException.class, () -> VaultHeader.unlock(dir, pass()));
    MasterKeys after = VaultHeader.unlock(dir, fresh);
    assertEquals(created.keyIds(), after.keyIds());
    for (KeyPurpose p : KeyPurpose.values()) {
      assertArrayEquals(created.subkey(p).getEncoded(), after.subkey(p).getEncoded(), p.name());
    }
    // the recovery key stays valid after a recovery
    VaultHeader.recover(dir, RecoveryKey.parse(words), pass());
    assertEquals(created.primaryKeyId(), VaultHeader.unlock(dir, pass()).primaryKeyId());
  }

  @Test
  void aWrongRecoveryKeyChangesNothing() throws IOException {
    VaultHeader.create(dir, pass(), FAST);
    WrongRecoveryKeyException none = assertThrows(WrongRecoveryKeyException.class,
        () -> VaultHeader.recover(dir, RecoveryKey.generate(), "x".toCharArray()));
    assertTrue(none.getMessage().contains("no recovery key"), none.getMessage());
    VaultHeader.exportRecoveryKey(dir, pass());
    byte[] before = Files.readAllBytes(header());
    WrongRecoveryKeyException e = assertThrows(WrongRecoveryKeyException.class,
        () -> VaultHeader.recover(dir, RecoveryKey.generate(), "x".toCharArray()));
    assertTrue(e.getMessage().contains("does not open the vault"), e.getMessage());
    assertArrayEquals(before, Files.readAllBytes(header()));
    assertThrows(WrongPassphraseException.class, () -> VaultHeader.exportRecoveryKey(dir, "nope".toCharArray()));
    assertArrayEquals(before, Files.readAllBytes(header()));
  }

  @Test
  void exportingAgainRetiresTheOldKey() {
    VaultHeader.create(dir, pass(), FAST);
    String first = VaultHeader.exportRecoveryKey(dir, pass()).printable();
    String second = VaultHeader.exportRecoveryKey(dir, pass()).printable();
    assertThrows(WrongRecoveryKeyException.class,
        () -> VaultHeader.recover(dir, RecoveryKey.parse(first), "x".toCharArray()));
    VaultHeader.recover(dir, RecoveryKey.parse(second), "y".toCharArray());
    VaultHeader.unlock(dir, "y".toCharArray());
  }

  /** Rotation and passphrase changes re-seal the slot, so the recovery key opens the new keyset. */
  @Test
  void keysetRewritesKeepTheSlotCurrent() {
    VaultHeader.create(dir, pass(), FAST);
    String words = VaultHeader.exportRecoveryKey(dir, pass()).printable();
    MasterKeys rotated = VaultHeader.rotate(dir, pass());
    MasterKeys rotatedTwice = VaultHeader.rotate(dir, pass());
    char[] other = "other".toCharArray();
    VaultHeader.changePassphrase(dir, pass(), other, FAST);
    assertTrue(VaultHeader.hasRecoveryKey(dir));
    VaultHeader.recover(dir, RecoveryKey.parse(words), pass());
    MasterKeys recovered = VaultHeader.unlock(dir, pass());
    assertEquals(3, recovered.keyIds().size());
    assertEquals(rotatedTwice.keyIds(), recovered.keyIds());
    assertEquals(rotatedTwice.primaryKeyId(), recovered.primaryKeyId());
    assertTrue(recovered.keyIds().contains(rotated.primaryKeyId()));
    assertArrayEquals(rotatedTwice.subkey(KeyPurpose.CONTENT_KEY_WRAP).getEncoded(),
        recovered.subkey(KeyPurpose.CONTENT_KEY_WRAP).getEncoded());
  }

  @Test
  void slotHasTheDocumentedFields() throws IOException {
    MasterKeys keys = VaultHeader.create(dir, pass(), FAST);
    RecoveryKey key = VaultHeader.exportRecoveryKey(dir, pass());
    JsonNode slot = JSON.readTree(header().toFile()).get("recovery");
    assertNotNull(slot);
    assertEquals("hkdf-sha256", slot.get("kdf").asText());
    assertEquals("aes-256-gcm", slot.get("cipher").asText());
    assertEquals(Integer.toUnsignedLong(keys.primaryKeyId()), slot.get("keyId").asLong());
    assertEquals(60, Base64.getDecoder().decode(slot.get("kek").asText()).length);
    assertTrue(Base64.getDecoder().decode(slot.get("sealed").asText()).length > 60);
    String json = Files.readString(header(), StandardCharsets.UTF_8);
    for (String w : key.words()) {
      assertFalse(json.contains("\"" + w + "\""));
    }
    assertFalse(json.contains(Base64.getEncoder().encodeToString(key.kek(keys.vaultId()))));
  }

  @Test
  void headerWithSlotRoundTrips() {
    RecoverySlot slot = new RecoverySlot(0xfedcba98, ChunkCipherTest.bytes(60, 3), ChunkCipherTest.bytes(90, 4));
    HeaderFields f = new HeaderFields(ChunkCipherTest.bytes(16, 1), new KdfParams(8192, 2, 1),
        ChunkCipherTest.bytes(16, 2), ChunkCipherTest.bytes(80, 5), slot);
    HeaderFields back = HeaderFields.parse(f.toJson());
    assertEquals(0xfedcba98, back.recovery().keyId());
    assertArrayEquals(slot.sealedKek(), back.recovery().sealedKek());
    assertArrayEquals(slot.sealedKeyset(), back.recovery().sealedKeyset());
    assertArrayEquals(f.associatedData(), back.associatedData());
    assertNull(HeaderFields.parse(new HeaderFields(f.vaultId(), f.kdf(), f.salt(), f.sealedKeyset()).toJson()).recovery());
  }

  /**
   * The slot's part of the AAD, pinned. Built independently in Python:
   * <pre>
   * lp=lambda b: len(b).to_bytes(4,"big")+b; u=lambda v: v.to_bytes(4,"big")
   * (lp(b"recovery")+lp(b"hkdf-sha256")+lp(b"aes-256-gcm")+u(0xfedcba98)+lp(b"\x03"*60)).hex()
   * (lp(b"clawfs/v1/recovery-kek")+lp(b"\x01"*16)+u(0xfedcba98)).hex()
   * </pre>
   */
  @Test
  void associatedDataVectors() {
    byte[] vaultId = ChunkCipherTest.bytes(16, 1);
    KdfParams kdf = new KdfParams(8192, 1, 1);
    byte[] salt = ChunkCipherTest.bytes(16, 2);
    byte[] base = HeaderFields.associatedData(vaultId, kdf, salt);
    RecoverySlot slot = new RecoverySlot(0xfedcba98, ChunkCipherTest.bytes(60, 3), null);
    byte[] withSlot = HeaderFields.associatedData(vaultId, kdf, salt, slot);
    assertEquals(HexFormat.of().formatHex(base) + "000000087265636f766572790000000b686b64662d7368613235360000000b"
        + "6165732d3235362d67636dfedcba980000003c" + "03".repeat(60), HexFormat.of().formatHex(withSlot));
    assertEquals("00000016636c617766732f76312f7265636f766572792d6b656b0000001001010101010101010101010101010101"
        + "fedcba98", HexFormat.of().formatHex(RecoverySlot.kekAssociatedData(vaultId, 0xfedcba98)));
  }

  /** Every slot field but the recovery-sealed keyset is under the passphrase seal's tag. */
  @Test
  void aadCoversTheSlot() throws IOException {
    VaultHeader.create(dir, pass(), FAST);
    String words = VaultHeader.exportRecoveryKey(dir, pass()).printable();
    assertPassphraseRefused(root -> ((ObjectNode) root).remove("recovery"));
    assertPassphraseRefused(root -> slot(root).put("keyId", slot(root).get("keyId").asLong() ^ 1));
    assertPassphraseRefused(root -> slot(root).put("kek", flipped(slot(root).get("kek").asText())));
    // the keyset sealed under the recovery KEK is its own tag's business
    byte[] original = Files.readAllBytes(header());
    edit(root -> slot(root).put("sealed", flipped(slot(root).get("sealed").asText())));
    VaultHeader.unlock(dir, pass());
    assertThrows(WrongRecoveryKeyException.class,
        () -> VaultHeader.recover(dir, RecoveryKey.parse(words), "x".toCharArray()));
    Files.write(header(), original);
    // and the recovery seal covers the rest of the header: an altered salt fails it too
    edit(root -> ((ObjectNode) root.get("kdf")).put("salt", Base64.getEncoder().encodeToString(new byte[16])));
    assertThrows(WrongRecoveryKeyException.class,
        () -> VaultHeader.recover(dir, RecoveryKey.parse(words), "x".toCharArray()));
    Files.write(header(), original);
    VaultHeader.recover(dir, RecoveryKey.parse(words), "x".toCharArray());
  }

  @Test
  void badSlotFieldsAreFormatErrors() throws IOException {
    VaultHeader.create(dir, pass(), FAST);
    VaultHeader.exportRecoveryKey(dir, pass());
    byte[] original = Files.readAllBytes(header());
    assertFormatError(original, root -> slot(root).put("extra", 1), "unknown field \"recovery.extra\"");
    assertFormatError(original, root -> slot(root).put("kdf", "argon2id"), "recovery.kdf");
    assertFormatError(original, root -> slot(root).put("cipher", "aes-128-gcm"), "recovery.cipher");
    assertFormatError(original, root -> slot(root).put("keyId", -1), "recovery.keyId");
    assertFormatError(original, root -> slot(root).put("keyId", 1L << 32), "recovery.keyId");
    assertFormatError(original, root -> slot(root).remove("kek"), "lacks field \"recovery.kek\"");
    assertFormatError(original, root -> slot(root).put("kek", "AAAA"), "recovery.kek must be 60 bytes");
    assertFormatError(original, root -> ((ObjectNode) root).put("recovery", "yes"), "must be an object");
  }

  @Test
  void aKeptKeysetOpensTheVaultUntilTheHeaderChanges() {
    VaultHeader.create(dir, pass(), FAST);
    MasterKeys byPassphrase = VaultHeader.unlock(dir, pass());
    UnlockedKeyset kept = VaultHeader.unlockKeepable(dir, pass());
    UnlockedKeyset copy = UnlockedKeyset.fromPayload(kept.payload());
    MasterKeys fromKept = VaultHeader.unlock(dir, copy);
    assertEquals(byPassphrase.keyIds(), fromKept.keyIds());
    assertArrayEquals(byPassphrase.subkey(KeyPurpose.METADATA).getEncoded(), fromKept.subkey(KeyPurpose.METADATA).getEncoded());
    assertArrayEquals(byPassphrase.vaultId(), kept.vaultId());

    VaultHeader.changePassphrase(dir, pass(), pass(), FAST);
    StaleKeysetException e = assertThrows(StaleKeysetException.class, () -> VaultHeader.unlock(dir, kept));
    assertTrue(e.getMessage().contains("rewritten"), e.getMessage());

    Path other = dir.resolve("other");
    VaultHeader.create(other, pass(), FAST);
    assertTrue(assertThrows(StaleKeysetException.class, () -> VaultHeader.unlock(other, kept)).getMessage()
        .contains("another vault"));
    assertThrows(StaleKeysetException.class, () -> UnlockedKeyset.fromPayload(new byte[100]));
    kept.destroy();
    assertThrows(IllegalStateException.class, kept::payload);
  }

  private void assertPassphraseRefused(Consumer<JsonNode> change) throws IOException {
    byte[] original = Files.readAllBytes(header());
    edit(change);
    assertThrows(WrongPassphraseException.class, () -> VaultHeader.unlock(dir, pass()));
    Files.write(header(), original);
    VaultHeader.unlock(dir, pass());
  }

  private void assertFormatError(byte[] original, Consumer<JsonNode> change, String messagePart) throws IOException {
    Files.write(header(), original);
    edit(change);
    VaultFormatException e = assertThrows(VaultFormatException.class, () -> VaultHeader.unlock(dir, pass()));
    assertTrue(e.getMessage().contains(messagePart), e.getMessage());
    Files.write(header(), original);
  }

  private void edit(Consumer<JsonNode> change) throws IOException {
    JsonNode root = JSON.readTree(header().toFile());
    change.accept(root);
    Files.write(header(), JSON.writeValueAsBytes(root));
  }

  private static ObjectNode slot(JsonNode root) {
    return (ObjectNode) root.get("recovery");
  }

  private static String flipped(String b64) {
    byte[] b = Base64.getDecoder().decode(b64);
    b[b.length / 2] ^= 1;
    return Base64.getEncoder().encodeToString(b);
  }
}
