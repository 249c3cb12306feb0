package dev.clawfs.crypto;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

class FileHeaderTest {
  private final MasterKeys keys = MasterKeysTest.fixed(ChunkCipherTest.bytes(32, 3), 0x0badcafe);

  @Test
  void encodeDecodeRoundTrip() {
    FileHeader h = FileHeader.create(keys);
    byte[] enc = h.encode(keys);
    assertEquals(FileHeader.SIZE, enc.length);
    assertArrayEquals("CLFS".getBytes(StandardCharsets.US_ASCII), Arrays.copyOf(enc, 4));
    assertArrayEquals(new byte[FileHeader.SIZE - 86], Arrays.copyOfRange(enc, 86, FileHeader.SIZE));
    FileHeader d = FileHeader.decode(enc, keys);
    assertArrayEquals(h.fileId(), d.fileId());
    assertEquals(0x0badcafe, d.keyId());
    assertEquals(keys.primaryKeyId(), h.keyId());

    // The decoded content key is the original one: chunks sealed by one open with the other.
    byte[] plain = "hello chunk".getBytes(StandardCharsets.UTF_8);
    byte[] sealed = new byte[plain.length + ChunkCipher.OVERHEAD];
    h.chunkCipher().seal(0, 1, plain, 0, plain.length, sealed, 0);
    byte[] back = new byte[plain.length];
    d.chunkCipher().open(0, 1, sealed, 0, sealed.length, back, 0);
    assertArrayEquals(plain, back);
  }

  @Test
  void newFilesGetFreshIdsAndKeys() {
    FileHeader a = FileHeader.create(keys);
    FileHeader b = FileHeader.create(keys);
    assertFalse(Arrays.equals(a.fileId(), b.fileId()));
    byte[] sealed = new byte[1 + ChunkCipher.OVERHEAD];
    a.chunkCipher().seal(0, 0, new byte[1], 0, 1, sealed, 0);
    assertThrows(AuthenticationFailedException.class,
        () -> b.chunkCipher().open(0, 0, sealed, 0, sealed.length, new byte[1], 0));
  }

  @Test
  void everyFlippedByteFails() {
    byte[] enc = FileHeader.create(keys).encode(keys);
    for (int i = 0; i < FileHeader.SIZE; i++) {
      byte[] bad = enc.clone();
      bad[i] ^= 0x04;
      try {
        FileHeader.decode(bad, keys);
        fail("flipped byte " + i + " was accepted");
      } catch (AuthenticationFailedException | VaultFormatException expected) {
        // magic, version, key id and padding are format errors; the rest fails the tag
      }
    }
  }

  @Test
  void flippedFileIdOrWrappedKeyIsAnAuthenticationFailureNamingTheFile() {
    FileHeader h = FileHeader.create(keys);
    byte[] enc = h.encode(keys);
    byte[] bad = enc.clone();
    bad[50] ^= 1;
    AuthenticationFailedException e = assertThrows(AuthenticationFailedException.class, () -> FileHeader.decode(bad, keys));
    assertTrue(e.getMessage().contains(java.util.HexFormat.of().formatHex(h.fileId())), e.getMessage());
    byte[] bad2 = enc.clone();
    bad2[12] ^= 1;
    assertThrows(AuthenticationFailedException.class, () -> FileHeader.decode(bad2, keys));
  }

  @Test
  void formatErrors() {
    byte[] enc = FileHeader.create(keys).encode(keys);
    assertThrows(VaultFormatException.class, () -> FileHeader.decode(Arrays.copyOf(enc, 127), keys));
    assertThrows(VaultFormatException.class, () -> FileHeader.decode(new byte[FileHeader.SIZE], keys));
    byte[] v2 = enc.clone();
    v2[5] = 2;
    VaultFormatException e = assertThrows(VaultFormatException.class, () -> FileHeader.decode(v2, keys));
    assertTrue(e.getMessage().contains("version 2"), e.getMessage());
  }

  @Test
  void unknownKeyIdIsAFormatError() {
    MasterKeys other = MasterKeysTest.fixed(ChunkCipherTest.bytes(32, 3), 0x0badcaff);
    byte[] enc = FileHeader.create(keys).encode(keys);
    VaultFormatException e = assertThrows(VaultFormatException.class, () -> FileHeader.decode(enc, other));
    assertTrue(e.getMessage().contains("key id"), e.getMessage());
  }

  @Test
  void sameKeyIdButAnotherVaultFailsAuthentication() {
    MasterKeys other = MasterKeysTest.fixed(ChunkCipherTest.bytes(32, 4), 0x0badcafe);
    byte[] enc = FileHeader.create(keys).encode(keys);
    assertThrows(AuthenticationFailedException.class, () -> FileHeader.decode(enc, other));
  }

  @Test
  void reEncodingUsesAFreshNonce() {
    FileHeader h = FileHeader.create(keys);
    byte[] a = h.encode(keys);
    byte[] b = h.encode(keys);
    assertNotEquals(java.util.HexFormat.of().formatHex(a), java.util.HexFormat.of().formatHex(b));
    assertArrayEquals(FileHeader.decode(a, keys).fileId(), FileHeader.decode(b, keys).fileId());
  }
}
