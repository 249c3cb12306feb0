package dev.clawfs.bpf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class AuditObjectTest {
  @Test
  void missingObjectReportsTheBuildsReason() {
    BpfException e = assertThrows(BpfException.class, () -> AuditObject.bytes("no-such.bpf.o", "fixture.unavailable"));
    assertEquals(BpfException.Reason.NOT_BUILT, e.reason());
    assertEquals("eBPF object not built: clang not found (test fixture)", e.getMessage());
    assertEquals("ebpf: off: eBPF object not built: clang not found (test fixture)", e.statusLine());
  }

  @Test
  void missingObjectWithoutReasonSaysSo() {
    BpfException e = assertThrows(BpfException.class, () -> AuditObject.bytes("no-such.bpf.o", "no-such.unavailable"));
    assertTrue(e.getMessage().startsWith("eBPF object not built: the jar has no "), e.getMessage());
  }

  @Test
  void probeAlwaysGivesAReason() {
    Availability a = BpfAudit.probe();
    System.out.println("BpfAudit.probe(): " + a.statusLine());
    assertTrue(a.available() ? a.failure() == null : !a.reason().isBlank());
  }
}
