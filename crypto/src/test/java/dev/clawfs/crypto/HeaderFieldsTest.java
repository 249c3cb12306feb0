package dev.clawfs.crypto;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.HexFormat;
import org.junit.jupiter.api.Test;

class HeaderFieldsTest {

  /**
   * Pins the canonical AAD encoding documented in docs/vault-format.md. Expected bytes built
   * independently in Python:
   * <pre>
   * lp=lambda b: len(b).to_bytes(4,"big")+b; u=lambda v: v.to_bytes(4,"big")
   * (lp(b"clawfs/v1/vault-header")+lp(b"clawfs-vault")+u(1)+lp(b"\x01"*16)+lp(b"argon2id")
   *  +u(8192)+u(1)+u(1)+lp(b"\x02"*16)+lp(b"aes-256-gcm")).hex()
   * </pre>
   */
  @Test
  void associatedDataVector() {
    byte[] aad = HeaderFields.associatedData(ChunkCipherTest.bytes(16, 1), new KdfParams(8192, 1, 1),
        ChunkCipherTest.bytes(16, 2));
    assertEquals("00000016636c617766732f76312f7661756c742d6865616465720000000c636c617766732d7661756c74"
        + "000000010000001001010101010101010101010101010101000000086172676f6e32696400002000000000010000"
        + "000100000010020202020202020202020202020202020000000b6165732d3235362d67636d",
        HexFormat.of().formatHex(aad));
  }

  @Test
  void jsonRoundTrip() {
    HeaderFields f = new HeaderFields(ChunkCipherTest.bytes(16, 1), new KdfParams(8192, 2, 1),
        ChunkCipherTest.bytes(16, 2), ChunkCipherTest.bytes(80, 3));
    HeaderFields back = HeaderFields.parse(f.toJson());
    assertArrayEquals(f.vaultId(), back.vaultId());
    assertEquals(f.kdf(), back.kdf());
    assertArrayEquals(f.salt(), back.salt());
    assertArrayEquals(f.sealedKeyset(), back.sealedKeyset());
  }
}
