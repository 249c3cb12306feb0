package dev.clawfs.mount;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class HealthTest {
  @Test
  void okWithWarningsListsEveryCheck() {
    Health h = new Health(List.of(Health.Check.ok("disk", "12.0 GiB free"), Health.Check.warn("ebpf", "off: not root")));
    assertTrue(h.ok());
    assertEquals("ok\nebpf: WARN: off: not root\ndisk: ok: 12.0 GiB free\n", h.text(false));
  }

  @Test
  void failingChecksComeFirstAndErrorTextsOnlyForRoot() {
    Health h = new Health(List.of(Health.Check.ok("disk", "fine"),
        Health.Check.fail("search", "indexing is failing").withRootDetail("indexing a file: IOException: /a/secret\nname")));
    assertFalse(h.ok());
    String user = h.text(false);
    assertEquals("unhealthy: search\nsearch: FAIL: indexing is failing (details for root, and in the server log)\n"
        + "disk: ok: fine\n", user);
    assertFalse(user.contains("secret"));
    assertTrue(h.text(true).contains("(indexing a file: IOException: /a/secret name)"), h.text(true));
  }

  @Test
  void recentForgetsOldFailures() {
    MetricsService.Recent r = new MetricsService.Recent();
    r.observe(0, 1_000);
    assertEquals(-1, r.agoIfRecent(2_000));
    r.observe(3, 5_000);
    assertEquals(1_000, r.agoIfRecent(6_000));
    r.observe(3, 7_000);
    assertEquals(2_000, r.agoIfRecent(7_000));
    assertEquals(-1, r.agoIfRecent(5_000 + MetricsService.RECENT_MS + 1));
  }
}
