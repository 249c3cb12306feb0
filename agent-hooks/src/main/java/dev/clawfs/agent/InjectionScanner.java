package dev.clawfs.agent;

import dev.clawfs.agent.InjectionPattern.Action;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Scans text for prompt injection with a compiled set of {@link InjectionPattern}s. The agent loop
 * scans every piece of file content before the model sees it and every write the agent makes.
 *
 * <p>A scanner cannot prove text harmless; it catches the common, cheap attacks and makes them
 * visible. The real defences are elsewhere: content reaches the model only as delimited data, the
 * tool set, settings and policy are fixed in code and configuration, and every call is decided by
 * the policy with the agent's identity.
 *
 * <p>Before matching, the text is normalised (NFKC, so full-width and compatibility letters become
 * plain ones, and invisible format characters such as zero-width spaces removed), so that {@code
 * ig\u200Bnore previous instructions} is still found. Each pattern reports at most its first match,
 * so a hostile file cannot flood the transcript. Immutable and thread-safe.
 */
public final class InjectionScanner {

  private static final int EXCERPT_MAX = 80;

  private final List<InjectionPattern> patterns;
  private final List<Pattern> compiled;

  private InjectionScanner(List<InjectionPattern> patterns) {
    this.patterns = List.copyOf(patterns);
    List<Pattern> c = new ArrayList<>(patterns.size());
    for (InjectionPattern p : this.patterns) {
      c.add(Pattern.compile(p.regex(), Pattern.CASE_INSENSITIVE | Pattern.UNICODE_CASE));
    }
    this.compiled = List.copyOf(c);
  }

  /** A scanner of the given patterns (the policy's set). */
  public static InjectionScanner of(List<InjectionPattern> patterns) {
    return new InjectionScanner(patterns);
  }

  /** A scanner of {@link #defaultPatterns()}. */
  public static InjectionScanner defaults() {
    return new InjectionScanner(defaultPatterns());
  }

  /** A scanner that finds nothing (tests, or a policy that turns scanning off). */
  public static InjectionScanner none() {
    return new InjectionScanner(List.of());
  }

  /**
   * The shipped set. All of them only flag, except {@code chat-template-token}, which blocks:
   * tokens such as {@code <|im_start|>} are read by some servers as real control tokens, so
   * delimiting the content would not contain them. Flagging rather than blocking the rest keeps
   * documents that merely discuss these attacks (this project's own docs) readable.
   */
  public static List<InjectionPattern> defaultPatterns() {
    return List.of(
        new InjectionPattern(
            "ignore-instructions",
            "\\b(?:ignore|disregard|forget|override|bypass|skip)\\s+(?:all\\s+)?"
                + "(?:the\\s+|your\\s+|any\\s+|these\\s+|those\\s+|of\\s+the\\s+)?"
                + "(?:previous|prior|above|earlier|preceding|former|system|original|existing)\\s+"
                + "(?:instructions?|prompts?|rules|directions|directives|guidelines|messages?"
                + "|context|commands?)",
            Action.FLAG),
        new InjectionPattern(
            "you-are-now",
            "\\byou\\s+are\\s+now\\s+(?:an?|the|my|in|no\\s+longer|free|unrestricted|jailbroken"
                + "|dan|developer\\s+mode)\\b",
            Action.FLAG),
        new InjectionPattern(
            "new-instructions",
            "\\b(?:new|updated|revised|real|actual|secret|hidden|additional)\\s+(?:system\\s+)?"
                + "instructions?\\s{0,4}:",
            Action.FLAG),
        new InjectionPattern(
            "system-prompt-leak",
            "\\b(?:reveal|print|show|repeat|output|display|leak|dump|disclose|recite)\\s+"
                + "(?:me\\s+)?(?:your|the)\\s+(?:full\\s+|entire\\s+|original\\s+|hidden\\s+"
                + "|initial\\s+)?(?:system\\s+prompt|system\\s+message|developer\\s+message"
                + "|initial\\s+instructions|hidden\\s+instructions|instructions\\s+above"
                + "|prompt\\b)",
            Action.FLAG),
        new InjectionPattern(
            "role-spoofing",
            "#{2,4}\\s{0,4}(?:system|developer|assistant)\\s{0,4}:"
                + "|\\[(?:system|developer)(?:\\s(?:message|prompt|note))?\\]"
                + "|<\\s{0,4}/?\\s{0,4}(?:system|developer)(?:[_-](?:prompt|message))?\\s{0,4}>"
                + "|\\b(?:system|developer)\\s+(?:message|override)\\s{0,4}:"
                + "|<<\\s{0,4}/?\\s{0,4}sys\\s{0,4}>>|\\[/?inst\\]",
            Action.FLAG),
        new InjectionPattern(
            "chat-template-token",
            "<\\|\\s{0,4}(?:im_start|im_end|im_sep|endoftext|eot_id|eom_id|start_header_id"
                + "|end_header_id|begin_of_text|system|user|assistant|end)\\s{0,4}\\|>",
            Action.BLOCK),
        new InjectionPattern(
            "secret-exfiltration",
            "\\b(?:send|post|upload|exfiltrate|leak|e-?mail|forward|reveal|disclose|paste"
                + "|transmit|share|print|output|include)\\b[^\\n.]{0,60}?\\b(?:api[\\s_-]?keys?"
                + "|secret\\s+keys?|secrets\\b|access\\s+tokens?|auth(?:entication)?\\s+tokens?"
                + "|bearer\\s+tokens?|session\\s+tokens?|passwords?|passphrases?|credentials"
                + "|private\\s+keys?)",
            Action.FLAG),
        new InjectionPattern(
            "vault-access",
            "\\b(?:read|cat|open|get|fetch|load|print|show|list|ls|copy|send|dump)\\b[^\\n]{0,40}?"
                + "(?:/clawfs)?/vault/",
            Action.FLAG),
        new InjectionPattern(
            "tool-instruction",
            "\\b(?:call|run|use|invoke|execute)\\s+(?:the\\s+|a\\s+|this\\s+)?(?:[\\w-]{1,40}\\s+)?"
                + "(?:tool|function)\\b[^\\n]{0,120}?/vault/"
                + "|\\b(?:call|run|invoke|execute|use)\\s+(?:the\\s+)?"
                + "(?:search|read_file|list_dir|write_note|run_tool)\\s+(?:tool|function)\\b",
            Action.FLAG),
        new InjectionPattern(
            "hide-from-user",
            "\\b(?:do\\s+not|don'?t|never)\\s+(?:tell|inform|alert|notify"
                + "|mention\\s+(?:this\\s+)?to|reveal\\s+(?:this\\s+)?to)"
                + "\\s+(?:the\\s+)?(?:user|human|operator)\\b",
            Action.FLAG),
        new InjectionPattern(
            "opaque-blob", "(?<![A-Za-z0-9+/=_-])[A-Za-z0-9+/_-]{200,}={0,2}", Action.FLAG));
  }

  public List<InjectionPattern> patterns() {
    return patterns;
  }

  /** The first match of each pattern that matches, in the order of the patterns. */
  public List<Finding> scan(String text) {
    if (text == null || text.isEmpty() || patterns.isEmpty()) {
      return List.of();
    }
    String t = normalise(text);
    List<Finding> out = new ArrayList<>();
    for (int i = 0; i < compiled.size(); i++) {
      Matcher m = compiled.get(i).matcher(t);
      if (m.find()) {
        InjectionPattern p = patterns.get(i);
        out.add(new Finding(p.name(), p.action(), Text.cut(m.group(), EXCERPT_MAX)));
      }
    }
    return List.copyOf(out);
  }

  /** True when any finding blocks. */
  public static boolean blocks(List<Finding> findings) {
    return findings.stream().anyMatch(Finding::blocks);
  }

  private static String normalise(String text) {
    String n = Normalizer.normalize(text, Normalizer.Form.NFKC);
    StringBuilder b = null;
    for (int i = 0; i < n.length(); i++) {
      char c = n.charAt(i);
      if (Character.getType(c) == Character.FORMAT) {
        if (b == null) {
          b = new StringBuilder(n.length());
          b.append(n, 0, i);
        }
      } else if (b != null) {
        b.append(c);
      }
    }
    return b == null ? n : b.toString();
  }
}
