package dev.clawfs.crypto;

import java.util.Arrays;
import javax.crypto.SecretKey;

/**
 * A 32-byte derived key that its owner ({@link MasterKeys}) can wipe. Algorithm "AES", which
 * SunJCE also accepts for HmacSHA256. Callers cannot destroy it themselves (the inherited
 * {@code destroy()} refuses) because one cached instance is shared by all callers.
 */
final class SubKey implements SecretKey {
  private static final long serialVersionUID = 1L;

  private final byte[] bytes;
  private volatile boolean wiped;

  SubKey(byte[] bytes) {
    this.bytes = bytes;
  }

  @Override
  public String getAlgorithm() {
    return "AES";
  }

  @Override
  public String getFormat() {
    return "RAW";
  }

  @Override
  public byte[] getEncoded() {
    if (wiped) {
      throw new IllegalStateException("key destroyed (the vault was locked)");
    }
    return bytes.clone();
  }

  @Override
  public boolean isDestroyed() {
    return wiped;
  }

  void wipe() {
    wiped = true;
    Arrays.fill(bytes, (byte) 0);
  }

  /** Key bytes never go into a serialised stream. */
  private void writeObject(java.io.ObjectOutputStream out) throws java.io.IOException {
    throw new java.io.NotSerializableException("SubKey");
  }

  @Override
  public String toString() {
    return "SubKey[AES-256" + (wiped ? ", destroyed" : "") + "]";
  }
}
