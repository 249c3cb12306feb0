package dev.clawfs.mount;

import dev.clawfs.fuse.Caller;
import dev.clawfs.fuse.ClawFileSystem;
import dev.clawfs.fuse.Errno;
import dev.clawfs.fuse.FsException;
import java.lang.System.Logger.Level;
import java.nio.charset.StandardCharsets;

/**
 * {@code /system/agents}: lists the agents ({@code NAME UID GID} per line) and takes root's
 * commands, one per line: {@code add NAME UID GID} records the agent and makes its home
 * {@code /agents/NAME/} (mode 0711, owned by the agent) with {@code memory/} (0700) inside; {@code
 * remove NAME} forgets the agent and keeps its files. {@code clawfs agent} writes these.
 */
final class AgentService {
  private static final System.Logger LOG = System.getLogger("clawfs.agents");

  private final ClawFileSystem fs;
  private final AgentRegistry registry;

  AgentService(ClawFileSystem fs, AgentRegistry registry) {
    this.fs = fs;
    this.registry = registry;
  }

  byte[] listing() {
    StringBuilder b = new StringBuilder();
    for (AgentRegistry.Agent a : registry.list()) {
      b.append(a.name()).append(' ').append(Integer.toUnsignedString(a.uid())).append(' ')
          .append(Integer.toUnsignedString(a.gid())).append('\n');
    }
    return b.toString().getBytes(StandardCharsets.UTF_8);
  }

  /** What root wrote to {@code /system/agents}; a bad command fails close(2) and applies nothing after it. */
  void command(byte[] data, Caller caller) {
    if (caller.uid() != 0) {
      throw new FsException(Errno.EACCES, "only root manages agents");
    }
    for (String line : new String(data, StandardCharsets.UTF_8).split("\n")) {
      String[] w = line.strip().split("\\s+");
      if (w.length == 1 && w[0].isEmpty()) {
        continue;
      }
      if (w[0].equals("add") && w.length == 4) {
        AgentRegistry.Agent a = new AgentRegistry.Agent(w[1], parseId(w[2]), parseId(w[3]));
        boolean added = registry.add(a);
        makeHome(a);
        LOG.log(Level.INFO, "agent {0} {1} (uid {2})", a.name(), added ? "added" : "present already", a.uid());
      } else if (w[0].equals("remove") && w.length == 2) {
        if (registry.remove(w[1]) == null) {
          throw new FsException(Errno.ENOENT, "no agent " + w[1]);
        }
        LOG.log(Level.INFO, "agent {0} removed; its files stay", w[1]);
      } else {
        throw new FsException(Errno.EINVAL, "commands: add NAME UID GID, remove NAME");
      }
    }
  }

  private static int parseId(String s) {
    try {
      long v = Long.parseLong(s);
      if (v < 0 || v > 0xFFFF_FFFEL) {
        throw new NumberFormatException();
      }
      return (int) v;
    } catch (NumberFormatException e) {
      throw new FsException(Errno.EINVAL, "bad uid or gid: " + s);
    }
  }

  /**
   * /agents/NAME (0711: others pass through it to ask/, inbox/ and outbox/, but cannot list it)
   * and /agents/NAME/memory (0700), owned by the agent; existing ones are given to it.
   */
  private void makeHome(AgentRegistry.Agent a) {
    Caller owner = new Caller(a.uid(), a.gid(), 0);
    String home = "/agents/" + a.name();
    for (String p : new String[] {home, home + "/memory"}) {
      byte[] path = p.getBytes(StandardCharsets.UTF_8);
      int mode = p.equals(home) ? 0711 : 0700;
      try {
        fs.mkdir(path, mode, owner);
      } catch (FsException e) {
        if (e.errno() != Errno.EEXIST) {
          throw e;
        }
        fs.chown(path, Integer.toUnsignedLong(a.uid()), Integer.toUnsignedLong(a.gid()));
        if (p.equals(home) && (fs.getattr(path).mode() & 0777) == 0700) {
          fs.chmod(path, 0711); // a home made before agents answered questions
        }
      }
    }
  }
}
