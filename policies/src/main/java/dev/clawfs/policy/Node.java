package dev.clawfs.policy;

import java.util.List;
import java.util.Map;

/**
 * A policy file read into a tree that, unlike Jackson's {@code JsonNode}, remembers where each
 * key and value is, so that semantic errors can name a line and column.
 */
sealed interface Node permits Node.Mapping, Node.Sequence, Node.Scalar {

  int line();

  int column();

  /** "a mapping", "a list", "a string", ... for error messages. */
  String describe();

  /** A key of a mapping, where the key itself is written. */
  record Field(String key, int line, int column, Node value) {}

  record Mapping(Map<String, Field> fields, int line, int column) implements Node {
    @Override
    public String describe() {
      return "a mapping";
    }
  }

  record Sequence(List<Node> items, int line, int column) implements Node {
    @Override
    public String describe() {
      return "a list";
    }
  }

  /**
   * A scalar: {@code value} is a String, Long, BigInteger, Double, BigDecimal, Boolean or null.
   */
  record Scalar(Object value, int line, int column) implements Node {
    @Override
    public String describe() {
      if (value == null) {
        return "nothing (null)";
      }
      if (value instanceof String s) {
        return "a string (\"" + s + "\")";
      }
      if (value instanceof Boolean b) {
        return "a boolean (" + b + ")";
      }
      if (value instanceof Long || value instanceof java.math.BigInteger) {
        return "an integer (" + value + ")";
      }
      return "a number (" + value + ")";
    }
  }
}
