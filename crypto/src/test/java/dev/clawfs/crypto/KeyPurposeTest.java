package dev.clawfs.crypto;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

class KeyPurposeTest {

  /** The info strings are part of the vault format: changing one loses data. */
  @Test
  void infoStringsAreFixed() {
    Map<KeyPurpose, String> expected = new LinkedHashMap<>();
    expected.put(KeyPurpose.CONTENT_KEY_WRAP, "clawfs/v1/content-key-wrap");
    expected.put(KeyPurpose.METADATA, "clawfs/v1/metadata");
    expected.put(KeyPurpose.NAME_HASH, "clawfs/v1/name-hash");
    expected.put(KeyPurpose.INDEX_TOKENS, "clawfs/v1/index-tokens");
    expected.put(KeyPurpose.VECTORS, "clawfs/v1/vectors");
    expected.put(KeyPurpose.AUDIT, "clawfs/v1/audit");
    expected.put(KeyPurpose.RECOVERY_SLOT, "clawfs/v1/recovery-slot");
    assertEquals(expected.size(), KeyPurpose.values().length);
    expected.forEach((p, info) -> assertEquals(info, p.info()));
  }
}
