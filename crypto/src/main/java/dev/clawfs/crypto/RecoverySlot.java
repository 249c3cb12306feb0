package dev.clawfs.crypto;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/**
 * The vault header's optional recovery slot ({@code "recovery"} in {@code clawfs.vault}): the
 * keyset sealed a second time, under a recovery KEK derived from the {@link RecoveryKey}'s
 * secret, plus that KEK sealed under a subkey of the keyset itself, so any later keyset write
 * (rotation, passphrase change) can re-seal the slot without knowing the recovery secret.
 *
 * <pre>
 * "recovery" : { "kdf" : "hkdf-sha256", "cipher" : "aes-256-gcm",
 *                "keyId" : u32 (the master key whose RECOVERY_SLOT subkey seals the KEK),
 *                "kek" : base64(nonce(12) || AES-256-GCM(subkey, recovery KEK, kekAad) || tag(16)),
 *                "sealed" : base64(nonce(12) || AES-256-GCM(recovery KEK, keyset, header AAD) || tag(16)) }
 * </pre>
 *
 * Every field but {@code sealed} is covered by the header's AAD (see {@link HeaderFields}), so
 * the passphrase seal authenticates the slot's parameters and sealed KEK, and removing or
 * altering the slot makes the header fail to unlock. Parsing checks form only.
 *
 * @param keyId Tink key id of the master key whose {@link KeyPurpose#RECOVERY_SLOT} subkey seals
 *     the KEK (the keyset's primary when the slot was last written)
 * @param sealedKek the recovery KEK, sealed: 12 + 32 + 16 bytes
 * @param sealedKeyset the serialised keyset sealed under the recovery KEK; null only while the
 *     header is being built (the AAD covers the other fields, so it is computed first)
 */
record RecoverySlot(int keyId, byte[] sealedKek, byte[] sealedKeyset) {
  static final String KDF = "hkdf-sha256";
  static final String CIPHER = "aes-256-gcm";
  static final int SEALED_KEK_SIZE = Gcm.OVERHEAD + Gcm.KEY_SIZE;
  private static final byte[] AAD_LABEL = "recovery".getBytes(StandardCharsets.US_ASCII);
  private static final byte[] KEK_LABEL = "clawfs/v1/recovery-kek".getBytes(StandardCharsets.US_ASCII);

  RecoverySlot withSealedKeyset(byte[] sealed) {
    return new RecoverySlot(keyId, sealedKek, sealed);
  }

  /**
   * This slot's part of the header AAD, appended after the fields every header has:
   * {@code lp("recovery") || lp("hkdf-sha256") || lp("aes-256-gcm") || u32(keyId) || lp(kek)}.
   */
  void appendAssociatedData(ByteArrayOutputStream out) {
    lengthPrefixed(out, AAD_LABEL);
    lengthPrefixed(out, KDF.getBytes(StandardCharsets.US_ASCII));
    lengthPrefixed(out, CIPHER.getBytes(StandardCharsets.US_ASCII));
    out.writeBytes(ByteBuffer.allocate(4).putInt(keyId).array());
    lengthPrefixed(out, sealedKek);
  }

  /**
   * AAD of the KEK seal: {@code lp("clawfs/v1/recovery-kek") || lp(vaultId) || u32(keyId)}, which
   * ties a sealed KEK to its vault and master key.
   */
  static byte[] kekAssociatedData(byte[] vaultId, int keyId) {
    ByteArrayOutputStream out = new ByteArrayOutputStream(64);
    lengthPrefixed(out, KEK_LABEL);
    lengthPrefixed(out, vaultId);
    out.writeBytes(ByteBuffer.allocate(4).putInt(keyId).array());
    return out.toByteArray();
  }

  private static void lengthPrefixed(ByteArrayOutputStream out, byte[] b) {
    out.writeBytes(ByteBuffer.allocate(4).putInt(b.length).array());
    out.writeBytes(b);
  }
}
