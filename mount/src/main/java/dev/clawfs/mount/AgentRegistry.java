package dev.clawfs.mount;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.clawfs.fuse.Errno;
import dev.clawfs.fuse.FsException;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;
import java.util.regex.Pattern;

/**
 * Which Unix uid is which agent, kept sealed in the vault ({@code admin/agents.sealed}). Lookups
 * by uid happen on every file operation and allocate nothing; changes (rare) replace an immutable
 * snapshot and are persisted before they take effect.
 */
final class AgentRegistry {
  /** An agent: its name, and the Unix user and primary group it runs as. */
  record Agent(String name, int uid, int gid) {}

  private static final Pattern NAME = Pattern.compile("[a-z][a-z0-9-]{0,31}");
  private static final ObjectMapper JSON = new ObjectMapper();

  /** Agents sorted by uid, for binary search; replaced whole on every change. */
  private record Snapshot(int[] uids, Agent[] byUid, int version) {
    static final Snapshot EMPTY = new Snapshot(new int[0], new Agent[0], 0);

    static Snapshot of(List<Agent> agents, int version) {
      Agent[] a = agents.toArray(new Agent[0]);
      Arrays.sort(a, Comparator.comparingInt(Agent::uid));
      int[] u = new int[a.length];
      for (int i = 0; i < a.length; i++) {
        u[i] = a[i].uid();
      }
      return new Snapshot(u, a, version);
    }
  }

  private final SealedFile store;
  private volatile Snapshot snapshot = Snapshot.EMPTY;
  private final List<Consumer<List<Agent>>> listeners = new CopyOnWriteArrayList<>();

  private AgentRegistry(SealedFile store) {
    this.store = store;
  }

  /** Loads the registry from its sealed file (none yet: no agents). */
  static AgentRegistry load(SealedFile store) throws IOException {
    AgentRegistry r = new AgentRegistry(store);
    byte[] plain = store.read();
    if (plain != null) {
      List<Agent> agents = new ArrayList<>();
      JsonNode root = JSON.readTree(plain);
      for (JsonNode a : root.path("agents")) {
        agents.add(new Agent(a.get("name").asText(), a.get("uid").asInt(), a.get("gid").asInt()));
      }
      r.snapshot = Snapshot.of(agents, 1);
    }
    return r;
  }

  /** Why {@code name} cannot be an agent's name, or null when it can. */
  static String problemInName(String name) {
    if (name == null || !NAME.matcher(name).matches()) {
      return "bad agent name \"" + name + "\": use 1 to 32 characters a-z, 0-9 and '-', starting with a letter";
    }
    return null;
  }

  /** The agent running as {@code uid}, or null. Allocation-free. */
  String agentOf(int uid) {
    Snapshot s = snapshot;
    int i = Arrays.binarySearch(s.uids(), uid);
    return i < 0 ? null : s.byUid()[i].name();
  }

  /** Changes with every add or remove, so callers can cache what they derive from it. */
  int version() {
    return snapshot.version();
  }

  /** The agents, sorted by name. */
  List<Agent> list() {
    List<Agent> out = new ArrayList<>(Arrays.asList(snapshot.byUid()));
    out.sort(Comparator.comparing(Agent::name));
    return out;
  }

  Agent byName(String name) {
    for (Agent a : snapshot.byUid()) {
      if (a.name().equals(name)) {
        return a;
      }
    }
    return null;
  }

  /** Told the new list after every change. */
  void onChange(Consumer<List<Agent>> listener) {
    listeners.add(listener);
  }

  /**
   * Adds an agent (persisted before it takes effect). Adding an agent that exists with the same
   * ids does nothing.
   *
   * @return false when it existed already
   */
  synchronized boolean add(Agent agent) {
    String p = problemInName(agent.name());
    if (p != null) {
      throw new FsException(Errno.EINVAL, p);
    }
    if (agent.uid() <= 0 || agent.gid() < 0) {
      throw new FsException(Errno.EINVAL, "an agent needs a uid other than root's");
    }
    Agent same = byName(agent.name());
    if (same != null) {
      if (same.equals(agent)) {
        return false;
      }
      throw new FsException(Errno.EEXIST, "agent " + agent.name() + " exists with uid " + same.uid());
    }
    String other = agentOf(agent.uid());
    if (other != null) {
      throw new FsException(Errno.EEXIST, "uid " + agent.uid() + " is agent " + other + " already");
    }
    List<Agent> next = new ArrayList<>(list());
    next.add(agent);
    commit(next);
    return true;
  }

  /** Removes an agent (its files stay); null when there was none of that name. */
  synchronized Agent remove(String name) {
    Agent a = byName(name);
    if (a == null) {
      return null;
    }
    List<Agent> next = new ArrayList<>(list());
    next.remove(a);
    commit(next);
    return a;
  }

  private void commit(List<Agent> agents) {
    ObjectNode root = JSON.createObjectNode().put("version", 1);
    ArrayNode arr = root.putArray("agents");
    for (Agent a : agents) {
      arr.addObject().put("name", a.name()).put("uid", a.uid()).put("gid", a.gid());
    }
    try {
      store.write(JSON.writeValueAsBytes(root));
    } catch (IOException e) {
      throw new FsException(Errno.EIO, "cannot save the agent registry: " + e.getMessage(), e);
    }
    snapshot = Snapshot.of(agents, snapshot.version() + 1);
    List<Agent> now = list();
    for (Consumer<List<Agent>> l : listeners) {
      l.accept(now);
    }
  }
}
