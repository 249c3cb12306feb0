package dev.clawfs.crypto;

import java.nio.charset.StandardCharsets;

/**
 * What a subkey is for. Each purpose has a fixed HKDF info string, so keys for different jobs are
 * independent even though they come from one master key. The strings are part of the vault
 * format: never change one, add a new purpose instead.
 */
public enum KeyPurpose {
  /** Wraps the random per-file content keys in file headers. */
  CONTENT_KEY_WRAP("clawfs/v1/content-key-wrap"),
  /** Seals metadata rows and file names. */
  METADATA("clawfs/v1/metadata"),
  /** Keyed hash of names for blind lookup. */
  NAME_HASH("clawfs/v1/name-hash"),
  /** Keyed hash of tokens for the blind full-text index. */
  INDEX_TOKENS("clawfs/v1/index-tokens"),
  /** Seals the persisted vector index. */
  VECTORS("clawfs/v1/vectors"),
  /** Seals audit history. */
  AUDIT("clawfs/v1/audit"),
  /**
   * Seals the recovery slot's key-encryption key in the vault header, so that any rewrite of the
   * keyset (rotation, passphrase change) can re-seal the slot without the recovery secret.
   */
  RECOVERY_SLOT("clawfs/v1/recovery-slot");

  private final String info;

  KeyPurpose(String info) {
    this.info = info;
  }

  /** The HKDF info prefix (the key id is appended when deriving). */
  public String info() {
    return info;
  }

  byte[] infoBytes() {
    return info.getBytes(StandardCharsets.US_ASCII);
  }
}
