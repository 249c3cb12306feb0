package dev.clawfs.mount;

import dev.clawfs.fuse.ChangeListener;
import dev.clawfs.fuse.ClawFileSystem;
import java.lang.System.Logger.Level;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The change hooks' source: file changes the core reports, turned into JSON lines in the
 * {@code events} stream of every agent that may read the file (policy and Unix modes, checked
 * for the agent when the event is delivered). The core's listener only queues the inode; paths
 * are looked up on this class's thread, so a rename in between is never missed. A full queue
 * drops events and says so in each agent's stream.
 */
final class AgentEvents implements ChangeListener, AutoCloseable {
  private static final System.Logger LOG = System.getLogger("clawfs.agents");
  private static final int QUEUE = 16384;

  /** {@code removedPath} is set for a removal (the name is gone, so it cannot be looked up later). */
  private record Change(long ino, boolean content, long timeMillis, byte[] removedPath, boolean dir) {}

  private final ClawFileSystem fs;
  private final PolicyGate gate;
  private final Map<String, AgentRunner> runners;
  private final ArrayBlockingQueue<Change> queue = new ArrayBlockingQueue<>(QUEUE);
  private final AtomicLong dropped = new AtomicLong();
  private final Thread thread;
  private volatile boolean running = true;
  private final Json json = new Json();

  AgentEvents(ClawFileSystem fs, PolicyGate gate, Map<String, AgentRunner> runners) {
    this.fs = fs;
    this.gate = gate;
    this.runners = runners;
    this.thread = new Thread(this::deliver, "clawfs-agent-events");
    this.thread.setDaemon(true);
    this.thread.start();
  }

  @Override
  public void contentChanged(long ino) {
    offer(new Change(ino, true, System.currentTimeMillis(), null, false));
  }

  @Override
  public void namesChanged(long ino) {
    offer(new Change(ino, false, System.currentTimeMillis(), null, false));
  }

  @Override
  public void removed(long ino, byte[] path, boolean dir) {
    offer(new Change(ino, false, System.currentTimeMillis(), path, dir));
  }

  private void offer(Change c) {
    if (runners.isEmpty()) {
      return;
    }
    if (!queue.offer(c)) {
      dropped.incrementAndGet();
    }
  }

  private void deliver() {
    List<Change> batch = new ArrayList<>();
    long reported = 0;
    while (running) {
      try {
        Change first = queue.poll(200, java.util.concurrent.TimeUnit.MILLISECONDS);
        if (first == null) {
          continue;
        }
        batch.add(first);
        queue.drainTo(batch, 1023);
        long d = dropped.get();
        for (Change c : batch) {
          if (c.removedPath() != null) {
            deliverRemoval(c);
            continue;
          }
          ClawFileSystem.FileInfo f = fs.fileInfo(c.ino());
          String path = f == null ? null : new String(f.path(), StandardCharsets.UTF_8);
          for (AgentRunner r : runners.values()) {
            if (path != null && !path.startsWith("/agents/" + r.name() + "/") && mayRead(r, path)) {
              String op = c.content() ? "changed" : "moved";
              r.eventLog().append(json.start().str("time", Json.isoTime(c.timeMillis()))
                  .str("op", op).str("path", path)
                  .num("size", f.size()).line().getBytes(StandardCharsets.UTF_8));
              r.onChange(path, op);
            }
          }
        }
        if (d != reported) {
          for (AgentRunner r : runners.values()) {
            r.eventLog().append(json.start().str("time", Json.isoTime(System.currentTimeMillis()))
                .str("op", "dropped").num("count", d - reported).line().getBytes(StandardCharsets.UTF_8));
          }
          reported = d;
        }
        for (AgentRunner r : runners.values()) {
          r.eventLog().publish();
        }
        batch.clear();
      } catch (InterruptedException e) {
        return;
      } catch (RuntimeException e) {
        LOG.log(Level.WARNING, "agent events: {0}", e.toString());
        batch.clear();
      }
    }
  }

  /**
   * A removed name goes to the agents that could see it: the policy lets them read the path and
   * the Unix modes let them list the directory it was in (the file itself is gone, and with it
   * its modes; knowing a name was in a directory is what listing it gives).
   */
  private void deliverRemoval(Change c) {
    String path = new String(c.removedPath(), StandardCharsets.UTF_8);
    int slash = path.lastIndexOf('/');
    String parent = slash <= 0 ? "/" : path.substring(0, slash);
    for (AgentRunner r : runners.values()) {
      if (path.startsWith("/agents/" + r.name() + "/")) {
        continue;
      }
      dev.clawfs.fuse.Caller caller = r.caller();
      if (gate.denial(caller, dev.clawfs.fuse.Access.READ, path) == null && SearchService.unixMayRead(fs, caller, parent)) {
        r.eventLog().append(json.start().str("time", Json.isoTime(c.timeMillis())).str("op", "removed")
            .str("path", path).str("type", c.dir() ? "directory" : "file").line().getBytes(StandardCharsets.UTF_8));
        r.onChange(path, "removed");
      }
    }
  }

  private boolean mayRead(AgentRunner r, String path) {
    dev.clawfs.fuse.Caller c = r.caller();
    return gate.denial(c, dev.clawfs.fuse.Access.READ, path) == null && SearchService.unixMayRead(fs, c, path);
  }

  @Override
  public void close() {
    running = false;
    thread.interrupt();
  }
}
