package dev.clawfs.tools;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import org.junit.jupiter.api.Test;

class ToolLimiterTest {

  @Test
  void capsPerToolAndPerCaller() {
    ToolLimiter l = new ToolLimiter();
    ToolLimiter.Permit a = l.tryAcquire("wc", 2, 1, 5);
    ToolLimiter.Permit b = l.tryAcquire("wc", 2, 2, 5);
    assertTrue(a.granted() && b.granted());
    ToolLimiter.Permit c = l.tryAcquire("wc", 2, 3, 5);
    assertFalse(c.granted());
    assertEquals("concurrency limit: wc already has 2 runs going (limit 2)", c.refusal());
    c.close(); // closing a refusal gives nothing back
    assertEquals(2, l.running("wc"));

    ToolLimiter.Permit d = l.tryAcquire("sha", 4, 1, 2);
    assertTrue(d.granted());
    ToolLimiter.Permit e = l.tryAcquire("jq", 4, 1, 2);
    assertEquals("concurrency limit: uid 1 already has 2 tool runs going (limit 2)", e.refusal());
    assertEquals(0, l.running("jq"), "a refusal takes no slot");

    a.close();
    a.close(); // once only
    assertEquals(1, l.running("wc"));
    assertEquals(1, l.runningFor(1));
    assertTrue(l.tryAcquire("jq", 4, 1, 2).granted());
  }

  @Test
  void limitsTakeTheStricterOfEach() {
    ToolLimits manifest = new ToolLimits(64, Duration.ofSeconds(10), 1000, 4);
    ToolLimits policy = new ToolLimits(128, Duration.ofSeconds(2), 5000, 1);
    assertEquals(new ToolLimits(64, Duration.ofSeconds(2), 1000, 1), manifest.stricter(policy));
    assertEquals(manifest, manifest.stricter(ToolLimits.UNLIMITED));
  }
}
