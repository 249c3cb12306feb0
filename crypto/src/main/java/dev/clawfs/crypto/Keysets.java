package dev.clawfs.crypto;

import com.google.crypto.tink.InsecureSecretKeyAccess;
import com.google.crypto.tink.Key;
import com.google.crypto.tink.KeyStatus;
import com.google.crypto.tink.KeysetHandle;
import com.google.crypto.tink.TinkProtoKeysetFormat;
import com.google.crypto.tink.aead.AeadConfig;
import com.google.crypto.tink.aead.AesGcmKey;
import com.google.crypto.tink.aead.PredefinedAeadParameters;
import java.security.GeneralSecurityException;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Tink keysets of master keys: generation, rotation, (de)serialisation, and the extraction of raw
 * key bytes. Tink gives us key ids, a primary and a tested key format; we use the raw key bytes
 * only as HKDF input, never Tink's own AEAD.
 *
 * <p>Every read of secret key material from Tink is in this class, marked {@code SECRET READ}.
 */
final class Keysets {
  static {
    try {
      // Registers the AES-GCM key type with Tink's key creation and proto serialisation registries.
      AeadConfig.register();
    } catch (GeneralSecurityException e) {
      throw new ExceptionInInitializerError(e);
    }
  }

  private Keysets() {}

  /** A new keyset with one primary AES-256-GCM key and a random key id. */
  static KeysetHandle generate() {
    try {
      return KeysetHandle.generateNew(PredefinedAeadParameters.AES256_GCM);
    } catch (GeneralSecurityException e) {
      throw new CryptoException("Tink could not generate a keyset", e);
    }
  }

  /** The keyset plus one new AES-256-GCM key, which becomes primary; old keys stay enabled. */
  static KeysetHandle withNewPrimary(KeysetHandle handle) {
    try {
      return KeysetHandle.newBuilder(handle)
          .addEntry(KeysetHandle.generateEntryFromParameters(PredefinedAeadParameters.AES256_GCM)
              .withRandomId()
              .makePrimary())
          .build();
    } catch (GeneralSecurityException e) {
      throw new CryptoException("Tink could not add a key to the keyset", e);
    }
  }

  /**
   * The keyset without the key {@code keyId}, which must not be the primary (rekey retires the
   * old key once nothing in the vault needs it).
   */
  static KeysetHandle without(KeysetHandle handle, int keyId) {
    try {
      if (handle.getPrimary().getId() == keyId) {
        throw new IllegalArgumentException("key id " + Integer.toUnsignedString(keyId) + " is the primary key");
      }
      KeysetHandle.Builder b = KeysetHandle.newBuilder(handle);
      for (int i = 0; i < b.size(); i++) {
        if (handle.getAt(i).getId() == keyId) { // the builder keeps the handle's order
          b.deleteAt(i);
          return b.build();
        }
      }
      throw new IllegalArgumentException("no key with id " + Integer.toUnsignedString(keyId) + " in the keyset");
    } catch (GeneralSecurityException e) {
      throw new CryptoException("Tink could not remove a key from the keyset", e);
    }
  }

  /** Serialised keyset including secret key bytes: the caller seals it and then wipes it. */
  static byte[] serialize(KeysetHandle handle) {
    try {
      // SECRET READ: the whole keyset, to be sealed under the KEK straight away.
      return TinkProtoKeysetFormat.serializeKeyset(handle, InsecureSecretKeyAccess.get());
    } catch (GeneralSecurityException e) {
      throw new CryptoException("Tink could not serialise the keyset", e);
    }
  }

  /** Parses a keyset that has just been authenticated by the header's GCM tag. */
  static KeysetHandle parse(byte[] serialized) {
    try {
      return TinkProtoKeysetFormat.parseKeyset(serialized, InsecureSecretKeyAccess.get());
    } catch (GeneralSecurityException e) {
      throw new VaultFormatException("the vault header's keyset is not a valid Tink keyset", e);
    }
  }

  /**
   * Raw 32-byte master keys of the enabled keys, by key id. Disabled keys (a future rotation step)
   * are left out, so data sealed under them is refused with "unknown key id".
   */
  static MasterKeys toMasterKeys(KeysetHandle handle, byte[] vaultId) {
    Map<Integer, byte[]> keys = new LinkedHashMap<>();
    try {
      for (int i = 0; i < handle.size(); i++) {
        KeysetHandle.Entry entry = handle.getAt(i);
        if (!entry.getStatus().equals(KeyStatus.ENABLED)) {
          continue;
        }
        Key key = entry.getKey();
        if (!(key instanceof AesGcmKey) || ((AesGcmKey) key).getParameters().getKeySizeBytes() != Gcm.KEY_SIZE) {
          throw new VaultFormatException("the vault keyset holds a key that is not AES-256-GCM (key id "
              + Integer.toUnsignedString(entry.getId()) + ")");
        }
        // SECRET READ: the raw master key, owned (and wiped on destroy) by MasterKeys.
        keys.put(entry.getId(), ((AesGcmKey) key).getKeyBytes().toByteArray(InsecureSecretKeyAccess.get()));
      }
      int primary = handle.getPrimary().getId();
      if (!keys.containsKey(primary)) {
        throw new VaultFormatException("the vault keyset's primary key is not enabled");
      }
      return new MasterKeys(primary, keys, vaultId);
    } catch (RuntimeException e) {
      for (byte[] k : keys.values()) {
        Arrays.fill(k, (byte) 0);
      }
      throw e;
    }
  }
}
