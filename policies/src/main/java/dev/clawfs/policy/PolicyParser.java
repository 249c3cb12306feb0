package dev.clawfs.policy;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.exc.StreamReadException;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.io.IOException;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;
import org.yaml.snakeyaml.error.MarkedYAMLException;

/**
 * Turns the text of a policy file into a {@link Policy}, stopping at the first problem with a
 * {@link PolicyException} that points at the offending key or value.
 */
final class PolicyParser {

  private static final JsonFactory JSON = new JsonFactory();
  private static final JsonFactory YAML = new YAMLFactory();

  private static final List<String> TOP_KEYS =
      List.of("version", "rules", "anomalies", "tools", "endpoints", "injection");
  private static final List<String> RULE_KEYS =
      List.of("subject", "allow", "deny", "paths", "secrets");
  private static final List<String> ANOMALY_KEYS =
      List.of("name", "subject", "kind", "count", "window", "programs");
  private static final List<String> COUNTING_KEYS =
      List.of("name", "subject", "kind", "count", "window");
  private static final List<String> EXEC_KEYS = List.of("name", "subject", "kind", "programs");
  private static final List<String> TOOL_KEYS = List.of("subject", "allow", "deny", "limits");
  private static final List<String> LIMIT_KEYS =
      List.of("memoryPages", "wallMs", "outputBytes", "concurrency");
  private static final List<String> ENDPOINT_KEYS = List.of("subject", "allow", "deny");
  private static final List<String> INJECTION_KEYS =
      List.of("name", "pattern", "action", "subject");
  private static final Pattern INJECTION_NAME = Pattern.compile("[a-z0-9][a-z0-9-]{0,39}");
  private static final String ACTIONS = "read, write, list, create, delete";
  private static final String KINDS = "denials, reads, exec";
  static final int MAX_COUNT = 10_000;
  static final long MAX_WINDOW_MILLIS = 24L * 3600 * 1000;
  /** The longest regular expression an injection pattern may have, in characters. */
  static final int MAX_REGEX = 500;

  private final String source;
  private final List<PolicyWarning> warnings = new ArrayList<>();

  private PolicyParser(String source) {
    this.source = source;
  }

  /** Parses {@code content}; a name ending in ".json" is read as JSON, anything else as YAML. */
  static Policy parse(String source, byte[] content) throws PolicyException {
    return new PolicyParser(source).parse(content);
  }

  private Policy parse(byte[] content) throws PolicyException {
    boolean json = source.toLowerCase(Locale.ROOT).endsWith(".json");
    Node root;
    try (JsonParser parser = (json ? JSON : YAML).createParser(content)) {
      root = TreeReader.read(parser, source);
    } catch (StreamReadException e) {
      if (e.getCause() instanceof MarkedYAMLException y && y.getProblemMark() != null) {
        // Jackson places YAML errors at the last good token; SnakeYAML knows the bad spot
        throw new PolicyException(source, y.getProblemMark().getLine() + 1,
            y.getProblemMark().getColumn() + 1, "syntax error: " + yamlReason(y));
      }
      JsonLocation at = e.getLocation();
      int line = at == null ? 1 : TreeReader.line(at);
      int column = at == null ? 1 : TreeReader.column(at);
      throw new PolicyException(source, line, column, "syntax error: " + syntaxReason(e));
    } catch (IOException e) {
      throw new PolicyException(source, 1, 1, "cannot read: " + e.getMessage());
    }
    if (root == null) {
      throw new PolicyException(source, 1, 1, "empty policy file; it needs at least 'version: 1'");
    }
    Node.Mapping top = mapping(root, "the policy file");
    checkKeys(top, TOP_KEYS, "at the top level");
    Node.Field version = top.fields().get("version");
    if (version == null) {
      throw error(top, "missing 'version: 1'");
    }
    if (!(version.value() instanceof Node.Scalar v && Long.valueOf(1).equals(v.value()))) {
      throw error(version.value(), "'version' must be 1, got " + version.value().describe());
    }
    List<Rule> rules = new ArrayList<>();
    Node.Field rulesField = top.fields().get("rules");
    if (rulesField != null) {
      for (Node item : sequence(rulesField, false).items()) {
        rules.add(rule(mapping(item, "a rule")));
      }
    }
    List<AnomalyRule> anomalies = new ArrayList<>();
    Node.Field anomaliesField = top.fields().get("anomalies");
    if (anomaliesField != null) {
      Map<String, Integer> names = new HashMap<>();
      for (Node item : sequence(anomaliesField, false).items()) {
        AnomalyRule a = anomaly(mapping(item, "an anomaly rule"));
        Integer earlier = names.putIfAbsent(a.name(), a.line());
        if (earlier != null) {
          throw error(((Node.Mapping) item).fields().get("name").value(),
              "duplicate anomaly name '" + a.name() + "' (first at line " + earlier + ")");
        }
        anomalies.add(a);
      }
    }
    List<ToolRule> tools = new ArrayList<>();
    Node.Field toolsField = top.fields().get("tools");
    if (toolsField != null) {
      for (Node item : sequence(toolsField, false).items()) {
        tools.add(tool(mapping(item, "a tool rule"), tools.size()));
      }
    }
    List<EndpointRule> endpoints = new ArrayList<>();
    Node.Field endpointsField = top.fields().get("endpoints");
    if (endpointsField != null) {
      for (Node item : sequence(endpointsField, false).items()) {
        endpoints.add(endpoint(mapping(item, "an endpoint rule"), endpoints.size()));
      }
    }
    List<InjectionEntry> injection = new ArrayList<>();
    Node.Field injectionField = top.fields().get("injection");
    if (injectionField != null) {
      Map<String, Integer> names = new HashMap<>();
      for (Node item : sequence(injectionField, false).items()) {
        InjectionEntry e = injection(mapping(item, "an injection pattern"));
        Integer earlier = names.putIfAbsent(e.name(), e.line());
        if (earlier != null) {
          throw error(((Node.Mapping) item).fields().get("name").value(),
              "duplicate injection pattern name '" + e.name() + "' (first at line " + earlier
                  + ")");
        }
        injection.add(e);
      }
    }
    return new Policy(source, rules, anomalies, tools, endpoints, injection, warnings);
  }

  private EndpointRule endpoint(Node.Mapping m, int index) throws PolicyException {
    checkKeys(m, ENDPOINT_KEYS, "in an endpoint rule");
    SubjectSelector subject = subject(m, "endpoint rule");
    Node.Field allow = m.fields().get("allow");
    Node.Field deny = m.fields().get("deny");
    if (allow == null && deny == null) {
      throw error(m, "an endpoint rule needs 'allow' or 'deny' (a list of URL patterns such as"
          + " \"https://openrouter.ai/api/v1\")");
    }
    if (allow != null && deny != null) {
      throw errorAtKey(deny,
          "an endpoint rule either allows or denies; put 'deny' in an endpoint rule of its own");
    }
    List<EndpointPattern> patterns = new ArrayList<>();
    for (Node item : sequence(allow != null ? allow : deny, true).items()) {
      String text = string(item, "an endpoint pattern");
      try {
        patterns.add(EndpointPattern.compile(text));
      } catch (IllegalArgumentException e) {
        throw error(item, e.getMessage());
      }
    }
    return new EndpointRule(source, m.line(), index, subject, allow == null, patterns);
  }

  private InjectionEntry injection(Node.Mapping m) throws PolicyException {
    checkKeys(m, INJECTION_KEYS, "in an injection pattern");
    Node.Field nameField = required(m, "name", "injection pattern");
    String name = string(nameField.value(), "a name");
    if (!INJECTION_NAME.matcher(name).matches()) {
      throw error(nameField.value(), "bad injection pattern name \"" + Names.printable(name, 60)
          + "\": a name is 1 to 40 characters a-z, 0-9 and '-', starting with a letter or digit");
    }
    String what = "injection pattern '" + name + "'";
    SubjectSelector subject = m.fields().containsKey("subject")
        ? subject(m, "injection pattern") : SubjectSelector.parse("any");
    Node.Field actionField = m.fields().get("action");
    if (actionField == null) {
      throw error(m, what + " is missing 'action' (flag, block or off)");
    }
    Node actionValue = actionField.value();
    // YAML 1.1 reads an unquoted off (and no, false) as the boolean false
    String actionText = actionValue instanceof Node.Scalar b && Boolean.FALSE.equals(b.value())
        ? "off" : string(actionValue, "an action (flag, block or off)");
    InjectionEntry.Mode mode = null;
    for (InjectionEntry.Mode candidate : InjectionEntry.Mode.values()) {
      if (candidate.name().toLowerCase(Locale.ROOT).equals(actionText)) {
        mode = candidate;
      }
    }
    if (mode == null) {
      throw error(actionField.value(), "unknown injection action '" + actionText
          + "'; valid actions: flag, block, off");
    }
    Node.Field patternField = m.fields().get("pattern");
    if (mode == InjectionEntry.Mode.OFF) {
      if (patternField != null) {
        throw errorAtKey(patternField, "'pattern' does not apply to action 'off': an off entry"
            + " only names the pattern it turns off");
      }
      return new InjectionEntry(name, source, m.line(), subject, mode, null);
    }
    if (patternField == null) {
      throw error(m, what + " is missing 'pattern' (a Java regular expression)");
    }
    Node value = patternField.value();
    String regex = string(value, "a regular expression");
    if (regex.length() > MAX_REGEX) {
      throw error(value, what + " is " + regex.length() + " characters long; at most "
          + MAX_REGEX);
    }
    Pattern compiled;
    try {
      compiled = Pattern.compile(regex, InjectionRule.FLAGS);
    } catch (PatternSyntaxException e) {
      throw error(value, "bad regex in " + what + ": " + e.getDescription()
          + (e.getIndex() >= 0 ? " near index " + e.getIndex() : ""));
    }
    if (compiled.matcher("").find()) {
      throw error(value, what + " matches the empty text, so it would match every file");
    }
    String problem;
    try {
      problem = RegexCheck.backtrackingProblem(regex);
    } catch (IllegalArgumentException e) {
      throw error(value, what + ": " + e.getMessage());
    }
    if (problem != null) {
      throw error(value, what + " may backtrack catastrophically: " + problem);
    }
    String leading = RegexCheck.leadingRepeat(regex);
    if (leading != null) {
      warnings.add(new PolicyWarning(source, value.line(), value.column(), what
          + " starts with the unbounded repeat \"" + leading + "\": a pattern is searched for"
          + " anywhere, so the repeat finds nothing more and makes a search take time quadratic"
          + " in the length of what it matches; drop it"));
    }
    return new InjectionEntry(name, source, m.line(), subject, mode, regex);
  }

  private Rule rule(Node.Mapping m) throws PolicyException {
    checkKeys(m, RULE_KEYS, "in a rule");
    SubjectSelector subject = subject(m, "rule");
    Map<String, Node.Field> f = m.fields();
    Node.Field allow = f.get("allow");
    Node.Field deny = f.get("deny");
    Node.Field paths = f.get("paths");
    Node.Field secrets = f.get("secrets");
    if (secrets != null) {
      Node.Field other = allow != null ? allow : deny != null ? deny : paths;
      if (other != null) {
        throw errorAtKey(other, "'secrets' is a rule of its own and cannot be combined with '"
            + other.key() + "'; write a separate rule");
      }
      List<Glob> globs = new ArrayList<>();
      for (Node item : sequence(secrets, true).items()) {
        String name = string(item, "a secret name");
        String problem = Names.problemInName(name);
        if (problem != null) {
          throw error(item, "bad secret name \"" + name + "\": a secret name " + problem);
        }
        globs.add(Glob.compile("/" + Names.VAULT + "/" + name));
      }
      return new Rule(source, m.line(), subject, false, EnumSet.of(Action.READ), globs);
    }
    if (allow == null && deny == null) {
      throw error(m, "a rule needs 'allow', 'deny' or 'secrets'");
    }
    if (allow != null && deny != null) {
      throw errorAtKey(deny, "a rule either allows or denies; put 'deny' in a rule of its own");
    }
    boolean isDeny = allow == null;
    Set<Action> actions = actions(isDeny ? deny : allow);
    if (paths == null) {
      throw error(m, "rule is missing 'paths' (a list of globs such as \"/workspaces/**\")");
    }
    List<Glob> globs = new ArrayList<>();
    for (Node item : sequence(paths, true).items()) {
      globs.add(glob(item, subject, isDeny));
    }
    return new Rule(source, m.line(), subject, isDeny, actions, globs);
  }

  private Glob glob(Node item, SubjectSelector subject, boolean isDeny) throws PolicyException {
    String text = string(item, "a glob");
    Glob glob;
    try {
      glob = Glob.compile(text);
    } catch (IllegalArgumentException e) {
      throw error(item, e.getMessage());
    }
    if (glob.usesAgent() && subject.neverAgent()) {
      throw error(item, "\"" + text + "\" uses " + Glob.AGENT_VARIABLE + " but subject '"
          + subject + "' is never an agent, so it would match nothing");
    }
    if (!isDeny && subject.kind() != SubjectSelector.Kind.ROOT) {
      String problem = glob.vaultProblem();
      if (problem != null) {
        throw error(item, "allow glob \"" + text + "\" could reach into /vault (" + problem
            + "): vault secrets are granted only by name, with /vault/<name> or 'secrets: [name]';"
            + " list the folders a broad rule means (\"/workspaces/**\", ...) instead");
      }
    }
    if (!glob.firstSegmentExists()) {
      warnings.add(new PolicyWarning(source, item.line(), item.column(),
          "\"" + text + "\" matches nothing: \"" + glob.firstSegment()
              + "\" is not a top-level folder (" + String.join(", ", Names.TOP_LEVEL) + ")"));
    }
    return glob;
  }

  private Set<Action> actions(Node.Field field) throws PolicyException {
    Set<Action> actions = EnumSet.noneOf(Action.class);
    for (Node item : sequence(field, true).items()) {
      String id = string(item, "an action");
      Action a = Action.byId(id);
      if (a == null) {
        throw error(item, "unknown action '" + id + "'; valid actions: " + ACTIONS);
      }
      actions.add(a);
    }
    return actions;
  }

  private ToolRule tool(Node.Mapping m, int index) throws PolicyException {
    checkKeys(m, TOOL_KEYS, "in a tool rule");
    SubjectSelector subject = subject(m, "tool rule");
    Map<String, Node.Field> f = m.fields();
    Node.Field allow = f.get("allow");
    Node.Field deny = f.get("deny");
    Node.Field limits = f.get("limits");
    if (allow == null && deny == null && limits == null) {
      throw error(m, "a tool rule needs 'allow', 'deny' or 'limits'");
    }
    if (allow != null && deny != null) {
      throw errorAtKey(deny,
          "a tool rule either allows or denies; put 'deny' in a tool rule of its own");
    }
    ToolRule.Effect effect = allow != null ? ToolRule.Effect.ALLOW
        : deny != null ? ToolRule.Effect.DENY : ToolRule.Effect.LIMITS_ONLY;
    List<ToolGlob> globs = new ArrayList<>();
    if (effect != ToolRule.Effect.LIMITS_ONLY) {
      for (Node item : sequence(allow != null ? allow : deny, true).items()) {
        String text = string(item, "a tool glob");
        try {
          globs.add(ToolGlob.compile(text));
        } catch (IllegalArgumentException e) {
          throw error(item, e.getMessage());
        }
      }
    }
    ToolLimitsSpec spec = limits == null ? ToolLimitsSpec.NONE : limits(limits);
    return new ToolRule(source, m.line(), index, subject, effect, globs, spec);
  }

  /** {@code {memoryPages: 256, wallMs: 10000, ...}}: at least one field, each in its range. */
  private ToolLimitsSpec limits(Node.Field field) throws PolicyException {
    Node.Mapping m = mapping(field.value(), "'limits'");
    checkKeys(m, LIMIT_KEYS, "in tool limits");
    if (m.fields().isEmpty()) {
      throw error(m, "'limits' must not be empty; set one or more of "
          + String.join(", ", LIMIT_KEYS));
    }
    Long memoryPages = limit(m, "memoryPages", ToolLimitsSpec.MAX_MEMORY_PAGES);
    Long wallMs = limit(m, "wallMs", ToolLimitsSpec.MAX_WALL_MS);
    Long outputBytes = limit(m, "outputBytes", ToolLimitsSpec.MAX_OUTPUT_BYTES);
    Long concurrency = limit(m, "concurrency", ToolLimitsSpec.MAX_CONCURRENCY);
    return new ToolLimitsSpec(memoryPages == null ? null : memoryPages.intValue(), wallMs,
        outputBytes, concurrency == null ? null : concurrency.intValue());
  }

  private Long limit(Node.Mapping m, String key, long max) throws PolicyException {
    Node.Field field = m.fields().get(key);
    if (field == null) {
      return null;
    }
    Node value = field.value();
    if (!(value instanceof Node.Scalar v && v.value() instanceof Long n) || n < 1 || n > max) {
      throw error(value, "'" + key + "' must be a whole number from 1 to " + max + ", got "
          + value.describe());
    }
    return n;
  }

  private AnomalyRule anomaly(Node.Mapping m) throws PolicyException {
    checkKeys(m, ANOMALY_KEYS, "in an anomaly rule");
    Map<String, Node.Field> f = m.fields();
    Node.Field nameField = required(m, "name", "anomaly rule");
    String name = string(nameField.value(), "a name");
    String problem = Names.problemInName(name);
    if (problem != null) {
      throw error(nameField.value(), "bad anomaly name \"" + name + "\": a name " + problem);
    }
    SubjectSelector subject = subject(m, "anomaly rule");
    Node.Field kindField = required(m, "kind", "anomaly rule");
    String kindText = string(kindField.value(), "an anomaly kind");
    AnomalyRule.Kind kind = null;
    for (AnomalyRule.Kind k : AnomalyRule.Kind.values()) {
      if (k.id().equals(kindText)) {
        kind = k;
      }
    }
    if (kind == null) {
      throw error(kindField.value(), "unknown anomaly kind '" + kindText + "'; valid kinds: "
          + KINDS);
    }
    List<String> valid = kind == AnomalyRule.Kind.EXEC ? EXEC_KEYS : COUNTING_KEYS;
    for (Node.Field field : f.values()) {
      if (!valid.contains(field.key())) {
        throw errorAtKey(field, "'" + field.key() + "' does not apply to kind '" + kindText
            + "' (keys for " + kindText + ": " + String.join(", ", valid) + ")");
      }
    }
    if (kind == AnomalyRule.Kind.EXEC) {
      Set<String> programs = new LinkedHashSet<>();
      for (Node item : sequence(required(m, "programs", "exec anomaly rule"), true).items()) {
        String program = string(item, "a program name");
        String bad = Names.problemInName(program);
        if (bad != null) {
          throw error(item, "bad program name \"" + program
              + "\": give the basename (\"bash\", not \"/bin/bash\"); a program name " + bad);
        }
        programs.add(program);
      }
      return new AnomalyRule(name, source, m.line(), subject, kind, 1, 0, programs);
    }
    Node count = required(m, "count", kindText + " anomaly rule").value();
    if (!(count instanceof Node.Scalar c && c.value() instanceof Long n)
        || n < 1 || n > MAX_COUNT) {
      throw error(count, "'count' must be a whole number from 1 to " + MAX_COUNT + ", got "
          + count.describe());
    }
    Node window = required(m, "window", kindText + " anomaly rule").value();
    long windowMillis = window(window);
    return new AnomalyRule(name, source, m.line(), subject, kind, n.intValue(), windowMillis,
        Set.of());
  }

  /** "500ms", "10s", "1m", "2h": a positive whole number and a unit, at most 24h. */
  private long window(Node node) throws PolicyException {
    String text = node instanceof Node.Scalar s && s.value() instanceof String t ? t : null;
    String hint = "; write a positive whole number and a unit: ms, s, m or h (\"500ms\", \"10s\","
        + " \"1m\")";
    if (text == null) {
      throw error(node, "'window' must be a duration such as \"10s\", got " + node.describe()
          + hint);
    }
    int digits = 0;
    while (digits < text.length() && text.charAt(digits) >= '0' && text.charAt(digits) <= '9') {
      digits++;
    }
    long unit;
    switch (text.substring(digits)) {
      case "ms" -> unit = 1;
      case "s" -> unit = 1000;
      case "m" -> unit = 60_000;
      case "h" -> unit = 3_600_000;
      default -> unit = 0;
    }
    if (digits == 0 || digits > 9 || unit == 0) {
      throw error(node, "bad window \"" + text + "\"" + hint);
    }
    long millis = Long.parseLong(text.substring(0, digits)) * unit;
    if (millis < 1 || millis > MAX_WINDOW_MILLIS) {
      throw error(node, "bad window \"" + text + "\": it must be more than 0 and at most 24h");
    }
    return millis;
  }

  private SubjectSelector subject(Node.Mapping m, String what) throws PolicyException {
    Node value = required(m, "subject", what).value();
    try {
      return SubjectSelector.parse(string(value, "a subject"));
    } catch (IllegalArgumentException e) {
      throw error(value, e.getMessage());
    }
  }

  private Node.Field required(Node.Mapping m, String key, String what) throws PolicyException {
    Node.Field field = m.fields().get(key);
    if (field == null) {
      String more = key.equals("subject") ? " (one of " + SubjectSelector.VALID + ")" : "";
      throw error(m, what + " is missing '" + key + "'" + more);
    }
    return field;
  }

  private void checkKeys(Node.Mapping m, List<String> valid, String where)
      throws PolicyException {
    for (Node.Field field : m.fields().values()) {
      if (!valid.contains(field.key())) {
        throw errorAtKey(field, "unknown key '" + field.key() + "' " + where + "; valid keys: "
            + String.join(", ", valid));
      }
    }
  }

  private Node.Mapping mapping(Node node, String what) throws PolicyException {
    if (node instanceof Node.Mapping m) {
      return m;
    }
    throw error(node, what + " must be a mapping (key: value lines), got " + node.describe());
  }

  private Node.Sequence sequence(Node.Field field, boolean nonEmpty) throws PolicyException {
    if (!(field.value() instanceof Node.Sequence s)) {
      throw error(field.value(), "'" + field.key() + "' must be a list ([a, b] or \"- a\" lines),"
          + " got " + field.value().describe());
    }
    if (nonEmpty && s.items().isEmpty()) {
      throw error(s, "'" + field.key() + "' must not be empty");
    }
    return s;
  }

  private String string(Node node, String what) throws PolicyException {
    if (node instanceof Node.Scalar s && s.value() instanceof String text) {
      return text;
    }
    throw error(node, "expected " + what + ", got " + node.describe());
  }

  private PolicyException error(Node node, String reason) {
    return new PolicyException(source, node.line(), node.column(), reason);
  }

  private PolicyException errorAtKey(Node.Field field, String reason) {
    return new PolicyException(source, field.line(), field.column(), reason);
  }

  /** SnakeYAML's problem and context, without its source excerpts. */
  private static String yamlReason(MarkedYAMLException e) {
    String problem = e.getProblem() == null ? "unreadable YAML" : e.getProblem().strip();
    if (problem.contains("<block end>") || problem.contains("mapping values are not allowed")) {
      problem += "; check the indentation";
    }
    if (e.getContext() != null && e.getContextMark() != null) {
      problem += " (" + e.getContext().strip() + " that starts at line "
          + (e.getContextMark().getLine() + 1) + ")";
    }
    return problem.replaceAll("\\s*\\n\\s*", " ");
  }

  /** Jackson's message without its trailing source excerpt and location. */
  private static String syntaxReason(StreamReadException e) {
    String message = e.getOriginalMessage();
    if (message == null) {
      return "unreadable";
    }
    message = message.strip();
    int at = message.indexOf("\n at [Source");
    if (at >= 0) {
      message = message.substring(0, at);
    }
    return message.replaceAll("\\s*\\n\\s*", "; ");
  }
}
