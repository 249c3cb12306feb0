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
    ObjectNode root = JSON.createObjectNode();
    try {
      for (Map.Entry<String, AgentSettings> e : next.entrySet()) {
        root.set(e.getKey(), JSON.readTree(e.getValue().toJson()));
      }
      file.write(JSON.writeValueAsBytes(root));
    } catch (IOException e) {
      throw new FsException(Errno.EIO, "cannot keep the settings in the vault: " + e.getMessage(), e);
    }
    byAgent.put(agent, settings);
  }
}
