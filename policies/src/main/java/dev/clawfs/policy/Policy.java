package dev.clawfs.policy;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * One parsed, valid policy file. Immutable. Put one or more in force with {@link PolicySet#of}.
 * The file format is described in the module's README.
 */
public final class Policy {

  /** The classpath resource of the shipped default policy. */
  public static final String DEFAULT_RESOURCE = "/dev/clawfs/policy/default.yaml";
  /** The name the shipped default policy is known by in decisions and messages. */
  public static final String DEFAULT_NAME = "default.yaml";

  private final String source;
  private final List<Rule> rules;
  private final List<AnomalyRule> anomalyRules;
  private final List<ToolRule> toolRules;
  private final List<EndpointRule> endpointRules;
  private final List<InjectionEntry> injectionEntries;
  private final List<PolicyWarning> warnings;

  Policy(String source, List<Rule> rules, List<AnomalyRule> anomalyRules,
      List<ToolRule> toolRules, List<EndpointRule> endpointRules,
      List<InjectionEntry> injectionEntries, List<PolicyWarning> warnings) {
    this.source = source;
    this.rules = List.copyOf(rules);
    this.anomalyRules = List.copyOf(anomalyRules);
    this.toolRules = List.copyOf(toolRules);
    this.endpointRules = List.copyOf(endpointRules);
    this.injectionEntries = List.copyOf(injectionEntries);
    this.warnings = List.copyOf(warnings);
  }

  /**
   * Reads the policy file {@code file}: JSON when its name ends in ".json", YAML otherwise. It is
   * known by its file name (without folders) in decisions and error messages.
   *
   * @throws IOException when the file cannot be read
   * @throws PolicyException when it is not a valid policy
   */
  public static Policy load(Path file) throws IOException, PolicyException {
    Path name = file.getFileName();
    return parse(name == null ? file.toString() : name.toString(), Files.readAllBytes(file));
  }

  /**
   * Parses a policy from {@code content} (UTF-8 or another Unicode encoding Jackson detects).
   *
   * @param source the name used in messages; ending in ".json" selects JSON, anything else YAML
   * @throws PolicyException when it is not a valid policy
   */
  public static Policy parse(String source, byte[] content) throws PolicyException {
    return PolicyParser.parse(source, content);
  }

  /** Parses a policy from {@code text}; see {@link #parse(String, byte[])}. */
  public static Policy parse(String source, String text) throws PolicyException {
    return parse(source, text.getBytes(StandardCharsets.UTF_8));
  }

  /** The shipped default policy ({@code policies/default.yaml} in the source tree). */
  public static Policy loadDefault() {
    try (InputStream in = Policy.class.getResourceAsStream(DEFAULT_RESOURCE)) {
      if (in == null) {
        throw new IllegalStateException(DEFAULT_RESOURCE + " is missing from the classpath");
      }
      return parse(DEFAULT_NAME, in.readAllBytes());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (PolicyException e) {
      throw new IllegalStateException("the shipped default policy is invalid: " + e.getMessage(),
          e);
    }
  }

  /** The name this policy was read under: the file name. */
  public String source() {
    return source;
  }

  /** Likely mistakes found in a valid file, in file order. */
  public List<PolicyWarning> warnings() {
    return warnings;
  }

  /** How many access rules the file has. */
  public int ruleCount() {
    return rules.size();
  }

  /** How many entries the file's {@code tools} list has. */
  public int toolRuleCount() {
    return toolRules.size();
  }

  /** How many entries the file's {@code endpoints} list has. */
  public int endpointRuleCount() {
    return endpointRules.size();
  }

  /** The names of the file's {@code injection} entries (off entries too), in file order. */
  public List<String> injectionNames() {
    return injectionEntries.stream().map(InjectionEntry::name).toList();
  }

  /** The names of the file's anomaly rules, in file order. */
  public List<String> anomalyNames() {
    return anomalyRules.stream().map(AnomalyRule::name).toList();
  }

  List<Rule> rules() {
    return rules;
  }

  List<AnomalyRule> anomalyRules() {
    return anomalyRules;
  }

  List<ToolRule> toolRules() {
    return toolRules;
  }

  List<EndpointRule> endpointRules() {
    return endpointRules;
  }

  List<InjectionEntry> injectionEntries() {
    return injectionEntries;
  }

  @Override
  public String toString() {
    return "Policy[" + source + ", " + rules.size() + " rules, " + anomalyRules.size()
        + " anomaly rules, " + toolRules.size() + " tool rules, " + endpointRules.size()
        + " endpoint rules, " + injectionEntries.size() + " injection patterns]";
  }
}
