package dev.clawfs.crypto;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import javax.security.auth.Destroyable;

/**
 * A vault's keyset as unlocked, in a form that can be kept outside the process (the kernel
 * keyring) and used later without the passphrase: the serialised Tink keyset, the vault id, and
 * a SHA-256 digest of the header file it was unlocked from. {@link VaultHeader#unlock(java.nio.file.Path,
 * UnlockedKeyset)} refuses it once the header has been rewritten (a passphrase change, a rotation
 * or a new recovery key may have changed the keyset), so a kept keyset never silently lacks a
 * newer master key.
 *
 * <p>Payload: {@code "CLFSKK01" (8 ASCII bytes) || vaultId (16) || headerDigest (32) || keyset}.
 * It holds every master key in the clear: whoever reads it can open the vault. {@link #destroy()}
 * wipes this object's copy.
 */
public final class UnlockedKeyset implements Destroyable {
  private static final byte[] MAGIC = "CLFSKK01".getBytes(StandardCharsets.US_ASCII);
  static final int DIGEST_SIZE = 32;
  private static final int FIXED = MAGIC.length + VaultHeader.VAULT_ID_SIZE + DIGEST_SIZE;

  private final byte[] payload;
  private volatile boolean destroyed;

  private UnlockedKeyset(byte[] payload) {
    this.payload = payload;
  }

  /** Copies the keyset bytes into a new payload (the caller wipes its own). */
  static UnlockedKeyset of(byte[] vaultId, byte[] headerDigest, byte[] keyset) {
    byte[] p = ByteBuffer.allocate(FIXED + keyset.length).put(MAGIC).put(vaultId).put(headerDigest).put(keyset).array();
    return new UnlockedKeyset(p);
  }

  /**
   * Reads a payload made by {@link #payload()}, copying it.
   *
   * @throws StaleKeysetException if it is not one (wrong length or marker)
   */
  public static UnlockedKeyset fromPayload(byte[] payload) {
    if (payload.length <= FIXED || !Arrays.equals(payload, 0, MAGIC.length, MAGIC, 0, MAGIC.length)) {
      throw new StaleKeysetException("the kept keyset is not in this build's format");
    }
    return new UnlockedKeyset(payload.clone());
  }

  /** The bytes to keep (a copy; the caller wipes it after use). Secret. */
  public byte[] payload() {
    checkLive();
    return payload.clone();
  }

  /** The vault id it belongs to (not secret). */
  public byte[] vaultId() {
    checkLive();
    return Arrays.copyOfRange(payload, MAGIC.length, MAGIC.length + VaultHeader.VAULT_ID_SIZE);
  }

  byte[] headerDigest() {
    checkLive();
    return Arrays.copyOfRange(payload, MAGIC.length + VaultHeader.VAULT_ID_SIZE, FIXED);
  }

  /** The serialised keyset (a copy, wiped by the caller). */
  byte[] keyset() {
    checkLive();
    return Arrays.copyOfRange(payload, FIXED, payload.length);
  }

  @Override
  public void destroy() {
    destroyed = true;
    Arrays.fill(payload, (byte) 0);
  }

  @Override
  public boolean isDestroyed() {
    return destroyed;
  }

  private void checkLive() {
    if (destroyed) {
      throw new IllegalStateException("unlocked keyset destroyed");
    }
  }

  @Override
  public String toString() {
    return destroyed ? "UnlockedKeyset[destroyed]" : "UnlockedKeyset[" + payload.length + " bytes]";
  }
}
