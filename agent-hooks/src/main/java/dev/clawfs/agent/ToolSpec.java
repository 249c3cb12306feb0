package dev.clawfs.agent;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.util.Objects;

/**
 * A function offered to the model: its name, what it does and its parameters as a JSON schema. The
 * schema is kept as text so that the record stays immutable; it is checked to be a JSON object when
 * the spec is made.
 */
public record ToolSpec(String name, String description, String parametersSchema) {

  public ToolSpec {
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(description, "description");
    try {
      JsonNode n = Json.read(parametersSchema);
      if (n == null || !n.isObject()) {
        throw new IllegalArgumentException(name + ": parameters must be a JSON schema object");
      }
    } catch (IOException e) {
      throw new IllegalArgumentException(name + ": parameters are not JSON: " + e.getMessage());
    }
  }

  ObjectNode toJson() {
    ObjectNode t = Json.object();
    t.put("type", "function");
    ObjectNode f = t.putObject("function");
    f.put("name", name);
    f.put("description", description);
    try {
      f.set("parameters", Json.read(parametersSchema));
    } catch (IOException e) {
      throw new IllegalStateException(e); // checked in the constructor
    }
    return t;
  }
}
