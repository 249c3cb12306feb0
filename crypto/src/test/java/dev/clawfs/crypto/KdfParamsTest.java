package dev.clawfs.crypto;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

class KdfParamsTest {

  @Test
  void defaults() {
    assertEquals(new KdfParams(65536, 3, 1), KdfParams.defaults());
  }

  @Test
  void validation() {
    assertDoesNotThrow(() -> new KdfParams(8, 1, 1));
    assertDoesNotThrow(() -> new KdfParams(128, 1, 16));
    assertDoesNotThrow(() -> new KdfParams(4 * 1024 * 1024, 1, 1));
    assertThrows(IllegalArgumentException.class, () -> new KdfParams(7, 1, 1));
    assertThrows(IllegalArgumentException.class, () -> new KdfParams(127, 1, 16));
    assertThrows(IllegalArgumentException.class, () -> new KdfParams(4 * 1024 * 1024 + 1, 1, 1));
    assertThrows(IllegalArgumentException.class, () -> new KdfParams(65536, 0, 1));
    assertThrows(IllegalArgumentException.class, () -> new KdfParams(65536, 1, 0));
    assertThrows(IllegalArgumentException.class, () -> new KdfParams(65536, 1, 17));
    assertThrows(IllegalArgumentException.class, () -> new KdfParams(-1, 1, 1));
  }
}
