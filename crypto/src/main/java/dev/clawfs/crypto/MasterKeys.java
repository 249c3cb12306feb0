package dev.clawfs.crypto;

import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import javax.crypto.SecretKey;
import javax.security.auth.Destroyable;

/**
 * The unlocked key hierarchy: the 256-bit master keys of the vault's Tink keyset, by Tink key id,
 * and the per-purpose subkeys derived from them with HKDF-SHA256.
 *
 * <p>Several master keys exist after a rotation: new data uses the primary, old data names the
 * key id it was sealed under. Subkeys are
 * {@code HKDF-SHA256(ikm = master key, salt = vaultId, info = purpose.info() || keyId (u32 BE))},
 * 32 bytes, usable as an "AES" key and as an HmacSHA256 key. They are cached, so repeated calls
 * are cheap and return the same instance.
 *
 * <p>{@link #destroy()} zeroes the master keys and every cached subkey; afterwards every method
 * throws {@link IllegalStateException}. Copies that JCA made inside initialised Cipher or Mac
 * objects are beyond our reach; drop those objects too.
 */
public final class MasterKeys implements Destroyable {
  private volatile int primaryKeyId;
  private volatile Map<Integer, byte[]> masterKeys;
  private final byte[] vaultId;
  private final Map<Long, SubKey> subkeys = new ConcurrentHashMap<>();
  private volatile boolean destroyed;

  /** Takes ownership of the key arrays (they are wiped on destroy). */
  MasterKeys(int primaryKeyId, Map<Integer, byte[]> masterKeys, byte[] vaultId) {
    if (!masterKeys.containsKey(primaryKeyId)) {
      throw new IllegalArgumentException("primary key id " + primaryKeyId + " is not in the keyset");
    }
    for (byte[] k : masterKeys.values()) {
      if (k.length != Gcm.KEY_SIZE) {
        throw new IllegalArgumentException("master keys must be 32 bytes");
      }
    }
    this.primaryKeyId = primaryKeyId;
    this.masterKeys = Collections.unmodifiableMap(new LinkedHashMap<>(masterKeys));
    this.vaultId = vaultId.clone();
  }

  /** Key id of the key that new data is sealed under. */
  public int primaryKeyId() {
    checkLive();
    return primaryKeyId;
  }

  /** Ids of all usable master keys (the primary among them). */
  public Set<Integer> keyIds() {
    checkLive();
    return masterKeys.keySet();
  }

  /** The vault's 16-byte random id (a copy). */
  public byte[] vaultId() {
    checkLive();
    return vaultId.clone();
  }

  /**
   * The subkey for a purpose under a given master key.
   *
   * @throws IllegalArgumentException if there is no master key with that id
   * @throws IllegalStateException once destroyed
   */
  public SecretKey subkey(int keyId, KeyPurpose purpose) {
    checkLive();
    long cacheKey = ((long) keyId << 8) | purpose.ordinal();
    SubKey k = subkeys.get(cacheKey);
    if (k == null) {
      // Derivation reads the master key, so it must not race with destroy() wiping it.
      synchronized (this) {
        checkLive();
        k = subkeys.computeIfAbsent(cacheKey, unused -> derive(keyId, purpose));
      }
    }
    checkLive();
    return k;
  }

  /** The subkey for a purpose under the primary master key. */
  public SecretKey subkey(KeyPurpose purpose) {
    return subkey(primaryKeyId(), purpose);
  }

  private SubKey derive(int keyId, KeyPurpose purpose) {
    byte[] master = masterKeys.get(keyId);
    if (master == null) {
      throw new IllegalArgumentException("no master key with id " + Integer.toUnsignedString(keyId)
          + " in this vault's keyset");
    }
    byte[] prefix = purpose.infoBytes();
    byte[] info = ByteBuffer.allocate(prefix.length + 4).put(prefix).putInt(keyId).array();
    return new SubKey(Hkdf.derive(master, vaultId, info, Gcm.KEY_SIZE));
  }

  /**
   * Takes over the keyset of {@code next} (the header was rewritten by a rotation or a
   * retirement): from now on the primary is next's, and keys not in next are gone: their bytes
   * and every subkey derived from them are wiped. Everyone holding this object (the file system,
   * the audit history, the admin files) follows at once. {@code next} is destroyed.
   *
   * @throws IllegalArgumentException if next belongs to another vault
   */
  public synchronized void install(MasterKeys next) {
    checkLive();
    if (!java.util.Arrays.equals(vaultId, next.vaultId)) {
      throw new IllegalArgumentException("the keys belong to another vault");
    }
    Map<Integer, byte[]> merged = new LinkedHashMap<>();
    for (Map.Entry<Integer, byte[]> e : next.masterKeys.entrySet()) {
      byte[] mine = masterKeys.get(e.getKey());
      merged.put(e.getKey(), mine != null ? mine : e.getValue().clone());
    }
    Map<Integer, byte[]> before = masterKeys;
    masterKeys = Collections.unmodifiableMap(merged);
    primaryKeyId = next.primaryKeyId;
    for (Map.Entry<Integer, byte[]> e : before.entrySet()) {
      if (!merged.containsKey(e.getKey())) {
        Arrays.fill(e.getValue(), (byte) 0);
        subkeys.entrySet().removeIf(s -> {
          if ((int) (s.getKey() >> 8) == e.getKey()) {
            s.getValue().wipe();
            return true;
          }
          return false;
        });
      }
    }
    next.destroy();
  }

  /** Zeroes the master keys and all cached subkeys; idempotent. */
  @Override
  public synchronized void destroy() {
    destroyed = true;
    for (byte[] k : masterKeys.values()) {
      Arrays.fill(k, (byte) 0);
    }
    for (SubKey k : subkeys.values()) {
      k.wipe();
    }
    subkeys.clear();
  }

  @Override
  public boolean isDestroyed() {
    return destroyed;
  }

  private void checkLive() {
    if (destroyed) {
      throw new IllegalStateException("master keys destroyed (the vault was locked)");
    }
  }

  @Override
  public String toString() {
    return destroyed ? "MasterKeys[destroyed]"
        : "MasterKeys[primary=" + Integer.toUnsignedString(primaryKeyId) + ", keys=" + masterKeys.size() + "]";
  }
}
