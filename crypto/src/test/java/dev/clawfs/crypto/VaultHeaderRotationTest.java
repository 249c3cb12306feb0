package dev.clawfs.crypto;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** passwd and rekey at the header level: rotate with a new passphrase, retire, install. */
class VaultHeaderRotationTest {
  private static final KdfParams FAST = new KdfParams(8192, 1, 1);

  @TempDir Path dir;

  @Test
  void passwdAddsAPrimaryAnOldHeaderCopyDoesNotHave() throws Exception {
    MasterKeys created = VaultHeader.create(dir, "old pass".toCharArray(), FAST);
    int oldKey = created.primaryKeyId();
    Path copy = dir.resolveSibling(dir.getFileName() + ".old-header");
    Files.copy(dir.resolve(VaultHeader.FILE_NAME), copy);

    MasterKeys rotated = VaultHeader.rotate(dir, "old pass".toCharArray(), "new pass".toCharArray(), FAST);
    assertNotEquals(oldKey, rotated.primaryKeyId());
    assertEquals(Set.of(oldKey, rotated.primaryKeyId()), rotated.keyIds());
    assertThrows(WrongPassphraseException.class, () -> VaultHeader.unlock(dir, "old pass".toCharArray()));
    assertEquals(rotated.keyIds(), VaultHeader.unlock(dir, "new pass".toCharArray()).keyIds());

    // data sealed under the new primary: the old header copy (old passphrase) cannot open it
    FileHeader fresh = FileHeader.create(rotated);
    byte[] encoded = fresh.encode(rotated);
    Files.copy(copy, dir.resolve(VaultHeader.FILE_NAME), StandardCopyOption.REPLACE_EXISTING);
    MasterKeys fromOldCopy = VaultHeader.unlock(dir, "old pass".toCharArray());
    assertEquals(Set.of(oldKey), fromOldCopy.keyIds());
    assertThrows(VaultFormatException.class, () -> FileHeader.decode(encoded, fromOldCopy));
  }

  @Test
  void passwdWithAWrongPassphraseWritesNothing() throws Exception {
    VaultHeader.create(dir, "old pass".toCharArray(), FAST);
    byte[] before = Files.readAllBytes(dir.resolve(VaultHeader.FILE_NAME));
    assertThrows(WrongPassphraseException.class,
        () -> VaultHeader.rotate(dir, "wrong".toCharArray(), "new pass".toCharArray(), FAST));
    assertArrayEquals(before, Files.readAllBytes(dir.resolve(VaultHeader.FILE_NAME)));
  }

  @Test
  void retireRemovesAnOldKeyButNeverThePrimary() {
    MasterKeys keys = VaultHeader.create(dir, "p".toCharArray(), FAST);
    int oldKey = keys.primaryKeyId();
    MasterKeys rotated = VaultHeader.rotate(dir, "p".toCharArray());
    int newKey = rotated.primaryKeyId();
    assertThrows(IllegalArgumentException.class, () -> VaultHeader.retire(dir, "p".toCharArray(), newKey));
    assertThrows(IllegalArgumentException.class, () -> VaultHeader.retire(dir, "p".toCharArray(), newKey + 1));
    MasterKeys retired = VaultHeader.retire(dir, "p".toCharArray(), oldKey);
    assertEquals(Set.of(newKey), retired.keyIds());
    assertEquals(Set.of(newKey), VaultHeader.unlock(dir, "p".toCharArray()).keyIds());
    // the subkeys of the key that stays are unchanged
    assertArrayEquals(rotated.subkey(newKey, KeyPurpose.METADATA).getEncoded(),
        retired.subkey(newKey, KeyPurpose.METADATA).getEncoded());
  }

  @Test
  void installFollowsRotationAndWipesRetiredKeys() {
    MasterKeys live = VaultHeader.create(dir, "p".toCharArray(), FAST);
    int oldKey = live.primaryKeyId();
    javax.crypto.SecretKey oldMeta = live.subkey(oldKey, KeyPurpose.METADATA);
    byte[] oldMetaBytes = oldMeta.getEncoded();

    MasterKeys rotated = VaultHeader.rotate(dir, "p".toCharArray());
    int newKey = rotated.primaryKeyId();
    live.install(rotated);
    assertTrue(rotated.isDestroyed());
    assertEquals(newKey, live.primaryKeyId());
    assertEquals(Set.of(oldKey, newKey), live.keyIds());
    assertArrayEquals(oldMetaBytes, live.subkey(oldKey, KeyPurpose.METADATA).getEncoded(), "old key still usable");

    live.install(VaultHeader.retire(dir, "p".toCharArray(), oldKey));
    assertEquals(Set.of(newKey), live.keyIds());
    assertThrows(IllegalArgumentException.class, () -> live.subkey(oldKey, KeyPurpose.METADATA));
    assertTrue(((javax.security.auth.Destroyable) oldMeta).isDestroyed(), "the retired key's cached subkey was wiped");

    MasterKeys other = VaultHeader.create(dir.resolve("other"), "p".toCharArray(), FAST);
    assertThrows(IllegalArgumentException.class, () -> live.install(other));
  }
}
