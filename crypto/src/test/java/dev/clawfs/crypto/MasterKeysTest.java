package dev.clawfs.crypto;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import javax.crypto.Mac;
import javax.crypto.SecretKey;
import org.junit.jupiter.api.Test;

class MasterKeysTest {
  private static final HexFormat HEX = HexFormat.of();

  static MasterKeys fixed(byte[] master, int keyId) {
    Map<Integer, byte[]> keys = new LinkedHashMap<>();
    keys.put(keyId, master);
    return new MasterKeys(keyId, keys, HEX.parseHex("404142434445464748494a4b4c4d4e4f"));
  }

  /**
   * Subkey definition vector: master 00..1f, vaultId 40..4f, key id 0x01020304, METADATA.
   * Produced with Python cryptography 48:
   * {@code HKDF(hashes.SHA256(), 32, bytes(range(0x40,0x50)),
   * b"clawfs/v1/metadata" + bytes([1,2,3,4])).derive(bytes(range(32))).hex()}
   */
  @Test
  void subkeyVector() {
    byte[] master = HEX.parseHex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
    MasterKeys keys = fixed(master, 0x01020304);
    SecretKey k = keys.subkey(KeyPurpose.METADATA);
    assertEquals("8fba46672e079310e7019c90eb6a0fda34337a88d24186d8bc7141453f53e610", HEX.formatHex(k.getEncoded()));
    assertEquals("AES", k.getAlgorithm());
    assertEquals("RAW", k.getFormat());
  }

  @Test
  void subkeysAreCachedDistinctPerPurposeAndUsableForHmac() throws Exception {
    MasterKeys keys = fixed(ChunkCipherTest.bytes(32, 1), 7);
    assertSame(keys.subkey(KeyPurpose.AUDIT), keys.subkey(7, KeyPurpose.AUDIT));
    Set<String> seen = new HashSet<>();
    for (KeyPurpose p : KeyPurpose.values()) {
      assertTrue(seen.add(HEX.formatHex(keys.subkey(p).getEncoded())), "distinct subkey for " + p);
    }
    Mac mac = Mac.getInstance("HmacSHA256");
    mac.init(keys.subkey(KeyPurpose.NAME_HASH));
    assertEquals(32, mac.doFinal(new byte[1]).length);
  }

  @Test
  void keyIdIsPartOfTheDerivation() {
    byte[] master = ChunkCipherTest.bytes(32, 1);
    assertNotEquals(HEX.formatHex(fixed(master.clone(), 1).subkey(KeyPurpose.METADATA).getEncoded()),
        HEX.formatHex(fixed(master.clone(), 2).subkey(KeyPurpose.METADATA).getEncoded()));
  }

  @Test
  void unknownKeyIdIsRefused() {
    MasterKeys keys = fixed(ChunkCipherTest.bytes(32, 1), 7);
    assertThrows(IllegalArgumentException.class, () -> keys.subkey(8, KeyPurpose.METADATA));
  }

  @Test
  void vaultIdIsACopy() {
    MasterKeys keys = fixed(ChunkCipherTest.bytes(32, 1), 7);
    byte[] id = keys.vaultId();
    id[0] = 0;
    assertEquals(0x40, keys.vaultId()[0]);
  }

  @Test
  void destroyZeroesAndRefusesFurtherUse() {
    byte[] master = ChunkCipherTest.bytes(32, 1);
    MasterKeys keys = fixed(master, 7);
    SecretKey sub = keys.subkey(KeyPurpose.METADATA);
    Sealer sealer = Sealer.of(sub);
    KeyedHash hash = KeyedHash.of(keys.subkey(KeyPurpose.NAME_HASH));
    assertFalse(keys.isDestroyed());
    keys.destroy();
    assertTrue(keys.isDestroyed());
    assertArrayEquals(new byte[32], master, "master key bytes zeroed");
    assertTrue(sub.isDestroyed());
    assertThrows(IllegalStateException.class, sub::getEncoded);
    assertThrows(IllegalStateException.class, () -> keys.subkey(KeyPurpose.METADATA));
    assertThrows(IllegalStateException.class, () -> keys.subkey(7, KeyPurpose.AUDIT));
    assertThrows(IllegalStateException.class, keys::primaryKeyId);
    assertThrows(IllegalStateException.class, keys::keyIds);
    assertThrows(IllegalStateException.class, keys::vaultId);
    assertThrows(IllegalStateException.class, () -> sealer.seal(new byte[1], null));
    assertThrows(IllegalStateException.class, () -> hash.hash16(new byte[1]));
    assertThrows(IllegalStateException.class, () -> FileHeader.create(keys));
    keys.destroy(); // idempotent
  }

  @Test
  void callersCannotDestroyASharedSubkey() {
    MasterKeys keys = fixed(ChunkCipherTest.bytes(32, 1), 7);
    SecretKey sub = keys.subkey(KeyPurpose.METADATA);
    assertThrows(javax.security.auth.DestroyFailedException.class, sub::destroy);
    assertFalse(Arrays.equals(new byte[32], keys.subkey(KeyPurpose.METADATA).getEncoded()));
  }

  @Test
  void toStringHoldsNoKeyMaterial() {
    MasterKeys keys = fixed(ChunkCipherTest.bytes(32, 0x41), 7);
    assertFalse(keys.toString().contains("4141"));
    assertFalse(keys.subkey(KeyPurpose.METADATA).toString().matches(".*[0-9a-f]{16}.*"));
  }
}
