package dev.clawfs.crypto;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Base64;
import java.util.Iterator;
import java.util.Set;

/**
 * The fields of the vault header and their two encodings: the JSON file (Jackson, strict) and
 * the canonical associated data that the keyset seals authenticate. Parsing checks form only;
 * authenticity comes from the GCM tag in {@link VaultHeader}.
 *
 * @param recovery the optional recovery slot, null when the vault has none (every vault made
 *     before recovery keys existed, and every vault until a recovery key is exported)
 */
record HeaderFields(byte[] vaultId, KdfParams kdf, byte[] salt, byte[] sealedKeyset, RecoverySlot recovery) {
  static final String FORMAT = "clawfs-vault";
  static final int VERSION = 1;
  static final String KDF_ALGORITHM = "argon2id";
  static final String KEYSET_CIPHER = "aes-256-gcm";
  private static final byte[] AAD_LABEL = "clawfs/v1/vault-header".getBytes(StandardCharsets.US_ASCII);
  private static final Set<String> TOP_FIELDS = Set.of("format", "version", "vaultId", "kdf", "keyset", "recovery");
  private static final Set<String> KDF_FIELDS =
      Set.of("algorithm", "memoryKiB", "iterations", "parallelism", "salt");
  private static final Set<String> KEYSET_FIELDS = Set.of("cipher", "sealed");
  private static final Set<String> RECOVERY_FIELDS = Set.of("kdf", "cipher", "keyId", "kek", "sealed");

  private static final JsonMapper JSON = JsonMapper.builder()
      .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
      .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
      .enable(SerializationFeature.INDENT_OUTPUT)
      .build();

  /** A header without a recovery slot. */
  HeaderFields(byte[] vaultId, KdfParams kdf, byte[] salt, byte[] sealedKeyset) {
    this(vaultId, kdf, salt, sealedKeyset, null);
  }

  /**
   * The AAD of the keyset seals (under the passphrase's KEK and, when there is a recovery slot,
   * under the recovery KEK): every header field except the two sealed keysets, each
   * length-prefixed (u32 BE) or as a u32 BE integer, in a fixed order after a label:
   * label, format, version, vaultId, kdf.algorithm, memoryKiB, iterations, parallelism, salt,
   * keyset.cipher, then the recovery slot's fields when it has one
   * ({@link RecoverySlot#appendAssociatedData}). Without a slot the encoding is exactly that of
   * vaults made before recovery slots existed.
   */
  byte[] associatedData() {
    return associatedData(vaultId, kdf, salt, recovery);
  }

  static byte[] associatedData(byte[] vaultId, KdfParams kdf, byte[] salt) {
    return associatedData(vaultId, kdf, salt, null);
  }

  static byte[] associatedData(byte[] vaultId, KdfParams kdf, byte[] salt, RecoverySlot recovery) {
    ByteArrayOutputStream out = new ByteArrayOutputStream(128);
    lengthPrefixed(out, AAD_LABEL);
    lengthPrefixed(out, FORMAT.getBytes(StandardCharsets.US_ASCII));
    u32(out, VERSION);
    lengthPrefixed(out, vaultId);
    lengthPrefixed(out, KDF_ALGORITHM.getBytes(StandardCharsets.US_ASCII));
    u32(out, kdf.memoryKiB());
    u32(out, kdf.iterations());
    u32(out, kdf.parallelism());
    lengthPrefixed(out, salt);
    lengthPrefixed(out, KEYSET_CIPHER.getBytes(StandardCharsets.US_ASCII));
    if (recovery != null) {
      recovery.appendAssociatedData(out);
    }
    return out.toByteArray();
  }

  private static void lengthPrefixed(ByteArrayOutputStream out, byte[] b) {
    u32(out, b.length);
    out.writeBytes(b);
  }

  private static void u32(ByteArrayOutputStream out, int v) {
    out.writeBytes(ByteBuffer.allocate(4).putInt(v).array());
  }

  /** The header file's bytes: indented JSON in a fixed field order, then a newline. */
  byte[] toJson() {
    Base64.Encoder b64 = Base64.getEncoder();
    ObjectNode root = JSON.createObjectNode();
    root.put("format", FORMAT);
    root.put("version", VERSION);
    root.put("vaultId", b64.encodeToString(vaultId));
    ObjectNode kdfNode = root.putObject("kdf");
    kdfNode.put("algorithm", KDF_ALGORITHM);
    kdfNode.put("memoryKiB", kdf.memoryKiB());
    kdfNode.put("iterations", kdf.iterations());
    kdfNode.put("parallelism", kdf.parallelism());
    kdfNode.put("salt", b64.encodeToString(salt));
    ObjectNode keyset = root.putObject("keyset");
    keyset.put("cipher", KEYSET_CIPHER);
    keyset.put("sealed", b64.encodeToString(sealedKeyset));
    if (recovery != null) {
      ObjectNode slot = root.putObject("recovery");
      slot.put("kdf", RecoverySlot.KDF);
      slot.put("cipher", RecoverySlot.CIPHER);
      slot.put("keyId", Integer.toUnsignedLong(recovery.keyId()));
      slot.put("kek", b64.encodeToString(recovery.sealedKek()));
      slot.put("sealed", b64.encodeToString(recovery.sealedKeyset()));
    }
    try {
      byte[] json = JSON.writeValueAsBytes(root);
      byte[] withNewline = Arrays.copyOf(json, json.length + 1);
      withNewline[json.length] = '\n';
      return withNewline;
    } catch (JacksonException e) {
      throw new CryptoException("could not encode the vault header", e);
    }
  }

  /** Parses and validates the header fields; authenticity is checked later by the GCM tag. */
  static HeaderFields parse(byte[] json) {
    JsonNode root;
    try {
      root = JSON.readTree(json);
    } catch (JacksonException e) {
      throw new VaultFormatException("vault header is not valid JSON: " + e.getOriginalMessage(), e);
    } catch (IOException e) {
      throw new VaultFormatException("vault header is not valid JSON", e);
    }
    if (root == null || !root.isObject()) {
      throw new VaultFormatException("vault header is not a JSON object");
    }
    String format = text(root, "format", "");
    if (!FORMAT.equals(format)) {
      throw new VaultFormatException("not a ClawFS vault header (format is \"" + format + "\", expected \""
          + FORMAT + "\")");
    }
    int version = integer(root, "version", "");
    if (version != VERSION) {
      throw new VaultFormatException("unsupported vault format version " + version
          + " (this build reads version " + VERSION + ")");
    }
    onlyFields(root, TOP_FIELDS, "");
    byte[] vaultId = base64(root, "vaultId", "");
    if (vaultId.length != VaultHeader.VAULT_ID_SIZE) {
      throw new VaultFormatException("vaultId must be " + VaultHeader.VAULT_ID_SIZE + " bytes, got " + vaultId.length);
    }

    JsonNode kdf = object(root, "kdf");
    onlyFields(kdf, KDF_FIELDS, "kdf.");
    String algorithm = text(kdf, "algorithm", "kdf.");
    if (!KDF_ALGORITHM.equals(algorithm)) {
      throw new VaultFormatException("unsupported kdf algorithm \"" + algorithm + "\" (expected \""
          + KDF_ALGORITHM + "\")");
    }
    KdfParams params;
    try {
      params = new KdfParams(integer(kdf, "memoryKiB", "kdf."), integer(kdf, "iterations", "kdf."),
          integer(kdf, "parallelism", "kdf."));
    } catch (IllegalArgumentException e) {
      throw new VaultFormatException("bad kdf parameters: " + e.getMessage(), e);
    }
    byte[] salt = base64(kdf, "salt", "kdf.");
    if (salt.length < 16 || salt.length > 64) {
      throw new VaultFormatException("kdf.salt must be 16..64 bytes, got " + salt.length);
    }

    JsonNode keyset = object(root, "keyset");
    onlyFields(keyset, KEYSET_FIELDS, "keyset.");
    String cipher = text(keyset, "cipher", "keyset.");
    if (!KEYSET_CIPHER.equals(cipher)) {
      throw new VaultFormatException("unsupported keyset cipher \"" + cipher + "\" (expected \""
          + KEYSET_CIPHER + "\")");
    }
    byte[] sealed = base64(keyset, "sealed", "keyset.");
    if (sealed.length <= Gcm.OVERHEAD) {
      throw new VaultFormatException("keyset.sealed is too short (" + sealed.length + " bytes)");
    }
    return new HeaderFields(vaultId, params, salt, sealed, parseRecovery(root));
  }

  /** The optional recovery slot: absent is null; present, every field is required and checked. */
  private static RecoverySlot parseRecovery(JsonNode root) {
    JsonNode slot = root.get("recovery");
    if (slot == null) {
      return null;
    }
    if (!slot.isObject()) {
      throw new VaultFormatException("vault header field \"recovery\" must be an object");
    }
    onlyFields(slot, RECOVERY_FIELDS, "recovery.");
    String kdf = text(slot, "kdf", "recovery.");
    if (!RecoverySlot.KDF.equals(kdf)) {
      throw new VaultFormatException("unsupported recovery.kdf \"" + kdf + "\" (expected \"" + RecoverySlot.KDF + "\")");
    }
    String cipher = text(slot, "cipher", "recovery.");
    if (!RecoverySlot.CIPHER.equals(cipher)) {
      throw new VaultFormatException("unsupported recovery.cipher \"" + cipher + "\" (expected \""
          + RecoverySlot.CIPHER + "\")");
    }
    JsonNode keyId = require(slot, "keyId", "recovery.");
    if (!keyId.canConvertToLong() || !keyId.isIntegralNumber() || keyId.longValue() < 0
        || keyId.longValue() > 0xffffffffL) {
      throw new VaultFormatException("vault header field \"recovery.keyId\" must be a key id (0 to 4294967295)");
    }
    byte[] kek = base64(slot, "kek", "recovery.");
    if (kek.length != RecoverySlot.SEALED_KEK_SIZE) {
      throw new VaultFormatException("recovery.kek must be " + RecoverySlot.SEALED_KEK_SIZE + " bytes, got " + kek.length);
    }
    byte[] sealed = base64(slot, "sealed", "recovery.");
    if (sealed.length <= Gcm.OVERHEAD) {
      throw new VaultFormatException("recovery.sealed is too short (" + sealed.length + " bytes)");
    }
    return new RecoverySlot((int) keyId.longValue(), kek, sealed);
  }

  private static void onlyFields(JsonNode node, Set<String> allowed, String prefix) {
    for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
      String name = it.next();
      if (!allowed.contains(name)) {
        throw new VaultFormatException("unknown field \"" + prefix + name + "\" in vault header");
      }
    }
  }

  private static JsonNode require(JsonNode node, String name, String prefix) {
    JsonNode v = node.get(name);
    if (v == null || v.isNull()) {
      throw new VaultFormatException("vault header lacks field \"" + prefix + name + "\"");
    }
    return v;
  }

  private static JsonNode object(JsonNode node, String name) {
    JsonNode v = require(node, name, "");
    if (!v.isObject()) {
      throw new VaultFormatException("vault header field \"" + name + "\" must be an object");
    }
    return v;
  }

  private static String text(JsonNode node, String name, String prefix) {
    JsonNode v = require(node, name, prefix);
    if (!v.isTextual()) {
      throw new VaultFormatException("vault header field \"" + prefix + name + "\" must be a string");
    }
    return v.textValue();
  }

  private static int integer(JsonNode node, String name, String prefix) {
    JsonNode v = require(node, name, prefix);
    if (!v.isInt()) {
      throw new VaultFormatException("vault header field \"" + prefix + name + "\" must be a 32-bit integer");
    }
    return v.intValue();
  }

  private static byte[] base64(JsonNode node, String name, String prefix) {
    try {
      return Base64.getDecoder().decode(text(node, name, prefix));
    } catch (IllegalArgumentException e) {
      throw new VaultFormatException("vault header field \"" + prefix + name + "\" is not valid base64", e);
    }
  }
}
