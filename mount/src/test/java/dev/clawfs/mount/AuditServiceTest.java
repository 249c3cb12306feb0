package dev.clawfs.mount;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.clawfs.crypto.KdfParams;
import dev.clawfs.crypto.MasterKeys;
import dev.clawfs.crypto.VaultHeader;
import dev.clawfs.fuse.Caller;
import dev.clawfs.fuse.OpEvent;
import dev.clawfs.fuse.StreamSource;
import dev.clawfs.policy.PolicySet;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AuditServiceTest {
  @TempDir Path dir;

  private static OpEvent op(String op, String path, int errno, int uid, String deniedBy) {
    return new OpEvent(System.currentTimeMillis(), op, path, null, errno, uid, uid, 1, 0, 1000, deniedBy);
  }

  private static String readAll(StreamSource.Reader r, long[] offset) throws InterruptedException {
    StringBuilder b = new StringBuilder();
    byte[] buf = new byte[65536];
    int n;
    while ((n = r.read(offset[0], buf, buf.length, 300)) > 0) {
      b.append(new String(buf, 0, n, StandardCharsets.UTF_8));
      offset[0] += n;
    }
    return b.toString();
  }

  @Test
  void aFullQueueIsCountedNeverWaitedOnAndReportedInTheStream() throws Exception {
    MasterKeys keys = VaultHeader.create(dir, "pw".toCharArray(), new KdfParams(8192, 1, 1));
    AgentRegistry agents = AgentRegistry.load(new SealedFile(dir.resolve("admin/agents.sealed"), "agents", keys));
    agents.add(new AgentRegistry.Agent("zed", 4242, 4242));
    AuditService audit = new AuditService(null, agents, PolicySet.ofDefault(), 4);
    StreamSource.Reader r = audit.log().open(Caller.ROOT);
    long t0 = System.nanoTime();
    for (int i = 0; i < 10; i++) {
      audit.completed(op("getattr", "/workspaces/f" + i, 0, 0, null)); // the drain thread is not running yet
    }
    assertTrue(System.nanoTime() - t0 < 1_000_000_000L, "offering never waits");
    assertTrue(audit.status().contains("dropped queue full: 6\n"), audit.status());
    audit.startDraining();
    long[] offset = {0};
    String out = readAll(r, offset);
    assertEquals(4, out.lines().filter(l -> l.contains("\"op\":\"getattr\"")).count(), out);
    assertTrue(out.contains("\"op\":\"dropped\",\"count\":6,\"reason\":\"the audit queue was full\""), out);

    // denials carry the rule and the agent; a burst of them is an anomaly (default: 20 in 10 s)
    for (int i = 0; i < 20; i++) {
      audit.completed(op("open", "/vault/k", 13, 4242, "default deny"));
      Thread.sleep(25); // within the queue's 4 slots
    }
    out = readAll(r, offset);
    assertTrue(out.contains("\"result\":\"EACCES\""), out);
    assertTrue(out.contains("\"agent\":\"zed\"") && out.contains("\"rule\":\"default deny\""), out);
    assertTrue(out.contains("\"op\":\"anomaly\"") && out.contains("\"rule\":\"denial-burst\""), out);
    // the stream's own reads are not audited; a denial of it is
    audit.completed(op("open", AuditService.STREAM_PATH, 0, 0, null));
    audit.completed(op("open", AuditService.STREAM_PATH, 13, 4242, "not visible"));
    out = readAll(r, offset);
    assertEquals(1, out.lines().count(), out);
    audit.close();
    keys.destroy();
  }
}
