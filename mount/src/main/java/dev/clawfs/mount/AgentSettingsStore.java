package dev.clawfs.mount;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.clawfs.agent.AgentSettings;
import dev.clawfs.agent.AgentSettingsException;
import dev.clawfs.fuse.Errno;
import dev.clawfs.fuse.FsException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The agents' settings (provider URL, model, the name of the key's secret, bounds), kept sealed
 * in {@code VAULT/admin/agent-settings.sealed}. An agent without settings is the embedded
 * librarian. Settings hold no secret: the key stays in /vault and is read per task.
 */
final class AgentSettingsStore {
  private static final ObjectMapper JSON = new ObjectMapper();

  private final SealedFile file;
  private final Map<String, AgentSettings> byAgent = new TreeMap<>();
  /** Change hooks by agent; kept under {@link #WATCH}, a key no agent name can be. */
  private final Map<String, List<WatchRule>> watches = new TreeMap<>();
  private static final String WATCH = "#watch";

  private AgentSettingsStore(SealedFile file) {
    this.file = file;
  }

  static AgentSettingsStore load(SealedFile file) throws IOException {
    AgentSettingsStore s = new AgentSettingsStore(file);
    byte[] plain = file.read();
    if (plain != null) {
      JsonNode root = JSON.readTree(plain);
      for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
        Map.Entry<String, JsonNode> e = it.next();
        if (e.getKey().equals(WATCH)) {
          for (Iterator<Map.Entry<String, JsonNode>> w = e.getValue().fields(); w.hasNext(); ) {
            Map.Entry<String, JsonNode> kv = w.next();
            try {
              s.watches.put(kv.getKey(), WatchRule.parse(kv.getValue().toString().getBytes(StandardCharsets.UTF_8)));
            } catch (FsException ex) {
              throw new IOException("change hooks of agent " + kv.getKey() + ": " + ex.getMessage(), ex);
            }
          }
          continue;
        }
        try {
          s.byAgent.put(e.getKey(), AgentSettings.parse(e.getValue().toString().getBytes(StandardCharsets.UTF_8)));
        } catch (AgentSettingsException ex) {
          throw new IOException("settings of agent " + e.getKey() + ": " + ex.getMessage(), ex);
        }
      }
    }
    return s;
  }

  synchronized AgentSettings get(String agent) {
    return byAgent.getOrDefault(agent, AgentSettings.librarian());
  }

  synchronized void put(String agent, AgentSettings settings) {
    Map<String, AgentSettings> next = new TreeMap<>(byAgent);
    next.put(agent, settings);
    write(next, watches);
    byAgent.put(agent, settings);
  }

  synchronized List<WatchRule> watch(String agent) {
    return watches.getOrDefault(agent, List.of());
  }

  synchronized void putWatch(String agent, List<WatchRule> rules) {
    Map<String, List<WatchRule>> next = new TreeMap<>(watches);
    next.put(agent, rules);
    write(byAgent, next);
    watches.put(agent, rules);
  }

  private void write(Map<String, AgentSettings> settings, Map<String, List<WatchRule>> hooks) {
    ObjectNode root = JSON.createObjectNode();
    try {
      for (Map.Entry<String, AgentSettings> e : settings.entrySet()) {
        root.set(e.getKey(), JSON.readTree(e.getValue().toJson()));
      }
      ObjectNode w = root.putObject(WATCH);
      for (Map.Entry<String, List<WatchRule>> e : hooks.entrySet()) {
        w.set(e.getKey(), JSON.readTree(WatchRule.toJson(e.getValue())));
      }
      file.write(JSON.writeValueAsBytes(root));
    } catch (IOException e) {
      throw new FsException(Errno.EIO, "cannot keep the settings in the vault: " + e.getMessage(), e);
    }
  }
}
