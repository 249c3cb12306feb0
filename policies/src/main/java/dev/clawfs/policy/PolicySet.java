package dev.clawfs.policy;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The policies in force, deciding over the rules of all of them together: for a subject, an
 * action and a path, a matching deny rule of any file wins, else a matching allow rule of any
 * file allows, else the answer is the default deny. Root is always allowed. Which tools a subject
 * may run ({@link #decideTool}) is decided the same way over the {@code tools} entries, and which
 * model endpoints an agent may call ({@link #decideEndpoint}) over the {@code endpoints} entries.
 * {@link #injectionPatterns} gives the patterns the injection scanner uses for a subject.
 *
 * <p>Immutable and thread-safe; globs are compiled when the files are parsed, and {@link #decide}
 * allocates nothing. To change the policies in force, build a new set and swap the reference.
 */
public final class PolicySet {

  /** A rule's glob, with what the rule decides when it matches. */
  private record Entry(SubjectSelector subject, Glob glob, Decision decision) {}

  private static final Action[] ACTIONS = Action.values();

  private final List<Policy> policies;
  /** Per action ordinal, the deny (then allow) entries that cover it, in file order. */
  private final Entry[][] denies;
  private final Entry[][] allows;
  /** Every allow entry once, for the ancestors of what is allowed. */
  private final Entry[] anyAllow;
  /** The tool rules of all files, in file order, so a decision names the first that applies. */
  private final ToolRule[] toolRules;
  /** The endpoint rules of all files, in file order. */
  private final EndpointRule[] endpointRules;
  /** The injection entries of all files, in file order (later files override earlier ones). */
  private final List<InjectionEntry> injectionEntries;

  private PolicySet(List<Policy> policies) {
    this.policies = List.copyOf(policies);
    denies = new Entry[ACTIONS.length][];
    allows = new Entry[ACTIONS.length][];
    List<Entry> every = new ArrayList<>();
    for (Action a : ACTIONS) {
      List<Entry> deny = new ArrayList<>();
      List<Entry> allow = new ArrayList<>();
      for (Policy p : this.policies) {
        for (Rule r : p.rules()) {
          if (r.covers(a)) {
            for (Glob g : r.globs()) {
              (r.deny() ? deny : allow).add(new Entry(r.subject(), g, r.decision()));
            }
          }
        }
      }
      denies[a.ordinal()] = deny.toArray(new Entry[0]);
      allows[a.ordinal()] = allow.toArray(new Entry[0]);
    }
    for (Policy p : this.policies) {
      for (Rule r : p.rules()) {
        if (!r.deny()) {
          for (Glob g : r.globs()) {
            every.add(new Entry(r.subject(), g, r.decision()));
          }
        }
      }
    }
    anyAllow = every.toArray(new Entry[0]);
    List<ToolRule> tools = new ArrayList<>();
    for (Policy p : this.policies) {
      tools.addAll(p.toolRules());
    }
    toolRules = tools.toArray(new ToolRule[0]);
    List<EndpointRule> endpoints = new ArrayList<>();
    List<InjectionEntry> injection = new ArrayList<>();
    for (Policy p : this.policies) {
      endpoints.addAll(p.endpointRules());
      injection.addAll(p.injectionEntries());
    }
    endpointRules = endpoints.toArray(new EndpointRule[0]);
    injectionEntries = List.copyOf(injection);
  }

  /** The policies {@code policies} in force together. */
  public static PolicySet of(List<Policy> policies) {
    return new PolicySet(policies);
  }

  public static PolicySet of(Policy... policies) {
    return new PolicySet(List.of(policies));
  }

  /** The shipped default policy alone. */
  public static PolicySet ofDefault() {
    return of(Policy.loadDefault());
  }

  public List<Policy> policies() {
    return policies;
  }

  /** The warnings of all policies, file by file. */
  public List<PolicyWarning> warnings() {
    List<PolicyWarning> all = new ArrayList<>();
    for (Policy p : policies) {
      all.addAll(p.warnings());
    }
    return List.copyOf(all);
  }

  /**
   * May {@code subject} do {@code action} on {@code path}?
   *
   * @param path an absolute, normalised path inside the mount ("/" is the mount's root); any
   *     other path is denied ({@link Decision.Basis#INVALID_PATH}), even to root
   */
  public Decision decide(Subject subject, Action action, String path) {
    Objects.requireNonNull(subject, "subject");
    Objects.requireNonNull(action, "action");
    if (!Names.isNormalized(path)) {
      return Decision.INVALID_PATH;
    }
    if (subject.uid() == 0) {
      return Decision.ROOT;
    }
    Decision d = first(denies[action.ordinal()], subject, path);
    if (d == null) {
      d = first(allows[action.ordinal()], subject, path);
    }
    return d == null ? Decision.DEFAULT_DENY : d;
  }

  /**
   * May {@code subject} look up and stat {@code path} at all? True when some action on the path
   * itself is allowed, or when some allow rule for the subject could match a path below it (the
   * directories on the way to what is allowed; deny rules do not hide those). Listing a directory
   * stays a {@link Action#LIST} decision.
   */
  public boolean visible(Subject subject, String path) {
    Objects.requireNonNull(subject, "subject");
    if (!Names.isNormalized(path)) {
      return false;
    }
    if (subject.uid() == 0) {
      return true;
    }
    for (Action a : ACTIONS) {
      if (decide(subject, a, path).allowed()) {
        return true;
      }
    }
    for (Entry e : anyAllow) {
      if (e.subject().matches(subject) && e.glob().matchesBelow(path, subject.agent())) {
        return true;
      }
    }
    return false;
  }

  /**
   * May {@code subject} run the WebAssembly tool {@code tool}, and with which limits? Over the
   * tool rules of all files together: a rule whose subject matches and one of whose globs
   * matches the tool denies or allows it; a deny wins, and without an allow the tool is denied.
   * Root may run any tool. The limits of an allowed run are, field by field, the smallest that
   * any rule sets whose subject matches and that names the tool or names no tool (a limits-only
   * rule); they bind root too.
   *
   * @param tool the tool's name, the folder under /clawfs/tools/ it lives in; a string that is
   *     not a tool name (1 to 64 characters a-z, 0-9, '.', '_', '-', starting with a letter or
   *     digit) is denied, even to root, so that callers never build a path from it
   */
  public ToolDecision decideTool(Subject subject, String tool) {
    Objects.requireNonNull(subject, "subject");
    Objects.requireNonNull(tool, "tool");
    String problem = Names.problemInToolName(tool);
    if (problem != null) {
      return new ToolDecision(false, "denied by invalid tool name: \"" + Names.printable(tool, 80)
          + "\": the tool name " + problem, ToolLimitsSpec.NONE);
    }
    ToolLimitsSpec limits = ToolLimitsSpec.NONE;
    ToolRule allow = null;
    ToolRule deny = null;
    for (ToolRule r : toolRules) {
      if (!r.subject().matches(subject)) {
        continue;
      }
      if (r.limitsApplyTo(tool)) {
        limits = limits.stricter(r.limits());
      }
      if (r.effect() == ToolRule.Effect.DENY && deny == null && r.names(tool)) {
        deny = r;
      } else if (r.effect() == ToolRule.Effect.ALLOW && allow == null && r.names(tool)) {
        allow = r;
      }
    }
    String quoted = "\"" + tool + "\"";
    if (subject.isRoot()) {
      return new ToolDecision(true, "allowed by root: root may run any tool", limits);
    }
    if (deny != null) {
      return new ToolDecision(false, "denied by " + deny.where() + " denies " + quoted + " to "
          + deny.subject(), ToolLimitsSpec.NONE);
    }
    if (allow != null) {
      return new ToolDecision(true, "allowed by " + allow.where() + " allows " + quoted + " to "
          + allow.subject(), limits);
    }
    return new ToolDecision(false, "denied by default deny: no tool rule allows " + quoted
        + " for " + subject, ToolLimitsSpec.NONE);
  }

  /**
   * May {@code subject}, an agent, send requests to the model endpoint {@code url}? Over the
   * endpoint rules of all files together: a rule whose subject matches and one of whose patterns
   * matches the URL denies or allows it; a deny wins, and a URL no rule allows is denied. Root is
   * not special here: it runs no agent, so it is decided by the rules like anyone else.
   *
   * @param url the URL the request goes to, such as {@code
   *     https://openrouter.ai/api/v1/chat/completions} (a base URL gives the same answer when the
   *     pattern is a prefix of it); matched on its parsed scheme, host, port and path, the query
   *     and fragment ignored. A URL that cannot be read unambiguously (no http or https scheme,
   *     user info, a backslash or space, an encoded "/", a "." or ".." segment, a host such as
   *     "127.1") is denied
   */
  public EndpointDecision decideEndpoint(Subject subject, String url) {
    Objects.requireNonNull(subject, "subject");
    Objects.requireNonNull(url, "url");
    String quoted = "\"" + EndpointUrl.display(url) + "\"";
    EndpointUrl parsed;
    try {
      parsed = EndpointUrl.parseUrl(url);
    } catch (IllegalArgumentException e) {
      return new EndpointDecision(false, "denied by invalid URL: " + quoted + ": "
          + e.getMessage());
    }
    EndpointRule allow = null;
    for (EndpointRule r : endpointRules) {
      if (!r.subject().matches(subject) || !r.names(parsed)) {
        continue;
      }
      if (r.deny()) {
        return new EndpointDecision(false, "denied by " + r.where() + " denies " + quoted
            + " to " + r.subject());
      }
      if (allow == null) {
        allow = r;
      }
    }
    if (allow != null) {
      return new EndpointDecision(true, "allowed by " + allow.where() + " allows " + quoted
          + " to " + allow.subject());
    }
    return new EndpointDecision(false, "denied by default deny: no endpoint rule allows "
        + quoted + " for " + subject);
  }

  /**
   * The patterns the injection scanner uses for {@code subject}: the {@code injection} entries of
   * all files whose subject matches, by name. Where several files give the subject a pattern of
   * the same name, the entry of the later file (in the order of this set) replaces the earlier
   * one, and an entry with action {@code off} removes it. The list is in the order the names
   * first appear.
   */
  public List<InjectionRule> injectionPatterns(Subject subject) {
    Objects.requireNonNull(subject, "subject");
    Map<String, InjectionEntry> byName = new LinkedHashMap<>();
    for (InjectionEntry e : injectionEntries) {
      if (e.subject().matches(subject)) {
        byName.put(e.name(), e);
      }
    }
    List<InjectionRule> rules = new ArrayList<>();
    for (InjectionEntry e : byName.values()) {
      if (e.mode() != InjectionEntry.Mode.OFF) {
        rules.add(e.rule());
      }
    }
    return List.copyOf(rules);
  }

  private static Decision first(Entry[] entries, Subject subject, String path) {
    String agent = subject.agent();
    for (Entry e : entries) {
      if (e.subject().matches(subject) && e.glob().matches(path, agent)) {
        return e.decision();
      }
    }
    return null;
  }

  /** The anomaly rules of all policies, file by file. */
  List<AnomalyRule> anomalyRules() {
    List<AnomalyRule> all = new ArrayList<>();
    for (Policy p : policies) {
      all.addAll(p.anomalyRules());
    }
    return all;
  }
}
