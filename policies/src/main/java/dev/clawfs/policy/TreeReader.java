package dev.clawfs.policy;

import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import java.io.IOException;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Reads one document from a streaming parser (JSON or YAML) into a located {@link Node} tree. */
final class TreeReader {

  private final JsonParser parser;
  private final String source;

  private TreeReader(JsonParser parser, String source) {
    this.parser = parser;
    this.source = source;
  }

  /**
   * Reads the only document of {@code parser}, or returns {@code null} when there is none (an
   * empty file, or one with only comments).
   */
  static Node read(JsonParser parser, String source) throws IOException, PolicyException {
    TreeReader reader = new TreeReader(parser, source);
    JsonToken first = parser.nextToken();
    if (first == null) {
      return null;
    }
    Node root = reader.value(first);
    if (parser.nextToken() != null) {
      JsonLocation at = parser.currentTokenLocation();
      throw new PolicyException(
          source, line(at), column(at), "a policy file holds one document; found a second one");
    }
    return root;
  }

  private Node value(JsonToken token) throws IOException, PolicyException {
    JsonLocation at = parser.currentTokenLocation();
    int line = line(at);
    int column = column(at);
    switch (token) {
      case START_OBJECT:
        Map<String, Node.Field> fields = new LinkedHashMap<>();
        for (JsonToken t = parser.nextToken(); t != JsonToken.END_OBJECT; t = parser.nextToken()) {
          JsonLocation keyAt = parser.currentTokenLocation();
          String key = parser.currentName();
          Node.Field earlier = fields.get(key);
          if (earlier != null) {
            throw new PolicyException(source, line(keyAt), column(keyAt),
                "duplicate key '" + key + "' (first at line " + earlier.line() + ")");
          }
          Node v = value(parser.nextToken());
          fields.put(key, new Node.Field(key, line(keyAt), column(keyAt), v));
        }
        return new Node.Mapping(Collections.unmodifiableMap(fields), line, column);
      case START_ARRAY:
        List<Node> items = new ArrayList<>();
        for (JsonToken t = parser.nextToken(); t != JsonToken.END_ARRAY; t = parser.nextToken()) {
          items.add(value(t));
        }
        return new Node.Sequence(List.copyOf(items), line, column);
      case VALUE_STRING:
        return new Node.Scalar(parser.getText(), line, column);
      case VALUE_NUMBER_INT:
        Number n = parser.getNumberValue();
        return new Node.Scalar(
            n instanceof BigInteger ? n : Long.valueOf(n.longValue()), line, column);
      case VALUE_NUMBER_FLOAT:
        return new Node.Scalar(parser.getDecimalValue(), line, column);
      case VALUE_TRUE:
      case VALUE_FALSE:
        return new Node.Scalar(token == JsonToken.VALUE_TRUE, line, column);
      case VALUE_NULL:
        return new Node.Scalar(null, line, column);
      default:
        throw new PolicyException(source, line, column, "unsupported value (" + token + ")");
    }
  }

  static int line(JsonLocation at) {
    return Math.max(1, at.getLineNr());
  }

  static int column(JsonLocation at) {
    return Math.max(1, at.getColumnNr());
  }
}
