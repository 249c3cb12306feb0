package dev.clawfs.index;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.function.Function;
import java.util.regex.Pattern;

/**
 * A keyword query in an FTS5-like syntax, parsed into a tree and rendered as an FTS5 MATCH
 * expression over blind (hashed) tokens.
 *
 * <p>Syntax, loosest binding first:
 *
 * <ul>
 *   <li>{@code a OR b}
 *   <li>{@code a AND b}, or just {@code a b} (implicit AND)
 *   <li>{@code a NOT b}: a without b. NOT is binary, as in FTS5: a query or group cannot start
 *       with it.
 *   <li>{@code ( ... )} groups; {@code "quoted phrase"}; {@code rot*} prefix (any indexed word
 *       starting with "rot"); {@code "key rot"*} a phrase whose last word is a prefix;
 *       {@code NEAR(a "b c", 5)} phrases within 5 terms of each other (default 10).
 * </ul>
 *
 * Operators are recognised in upper case only; "and", "or", "not" and "near" are words. Every word
 * goes through {@link Tokenizer}, so "rotated" searches the stem "rotat", and a word that splits
 * into several terms ("AES-256", "a/b") becomes a phrase. A word with no letters or digits (a lone
 * "-") is ignored. Commas outside NEAR separate words. Prefixes are matched against the index's
 * vocabulary of unstemmed words and expanded to at most {@value #PREFIX_CAP} tokens.
 *
 * <p>The rendered expression is valid FTS5 by construction: it is made only of operators,
 * parentheses, NEAR and double-quoted tokens that are checked to be lower-case base32, so no user
 * input reaches FTS5's own parser. Immutable.
 */
public final class KeywordQuery {
  /** Most tokens one prefix expands to; the rest are left out and reported. */
  public static final int PREFIX_CAP = 256;
  /** Longest query accepted, in chars; a search directory name is at most 255 bytes anyway. */
  public static final int MAX_LENGTH = 4096;
  /** Deepest nesting of parentheses (keeps parsing and FTS5's expression depth bounded). */
  public static final int MAX_DEPTH = 32;
  /** Largest NEAR distance accepted. */
  public static final int MAX_NEAR_DISTANCE = 100_000;
  /** Most distinct terms {@link #anyOf} keeps. */
  public static final int MAX_ANY_TERMS = 64;

  private static final int DEFAULT_NEAR = 10;
  private static final Pattern TOKEN = Pattern.compile("[a-z0-9]+");

  /**
   * A small English stopword list for {@link #anyOf}: function words that carry no topic, so an
   * OR over them would rank almost every passage.
   */
  static final Set<String> STOPWORDS = Set.of(
      "a", "about", "after", "all", "also", "am", "an", "and", "any", "are", "as", "at",
      "be", "been", "being", "but", "by", "can", "could", "did", "do", "does", "for", "from",
      "had", "has", "have", "he", "her", "here", "him", "his", "how", "i", "if", "in", "into",
      "is", "it", "its", "just", "me", "my", "no", "not", "of", "on", "or", "our", "she",
      "should", "so", "some", "such", "than", "that", "the", "their", "them", "then", "there",
      "these", "they", "this", "those", "to", "too", "us", "was", "we", "were", "what", "when",
      "where", "which", "while", "who", "whom", "why", "will", "with", "would", "you", "your");

  private final Node root; // null: a query that matches nothing (anyOf over a text of stopwords)

  private KeywordQuery(Node root) {
    this.root = root;
  }

  /**
   * Parses the query syntax described on this class.
   *
   * @throws SyntaxException for an empty query, an unterminated quote, unbalanced parentheses, an
   *     operator with nothing on one side, NOT at the start of a query or group, a malformed NEAR,
   *     a query with no letters or digits, or one longer than {@value #MAX_LENGTH} chars
   */
  public static KeywordQuery parse(String query) {
    Objects.requireNonNull(query, "query");
    if (query.length() > MAX_LENGTH) {
      throw new SyntaxException(MAX_LENGTH, "query longer than " + MAX_LENGTH + " characters");
    }
    return new KeywordQuery(new Parser(query, lex(query)).parseQuery());
  }

  /**
   * The OR of the terms of a natural-language text (the keyword side of a hybrid search): English
   * stopwords are dropped unless nothing else is left, duplicates are merged, and at most {@value
   * #MAX_ANY_TERMS} terms are kept. A text without letters or digits gives a query that matches
   * nothing. Never throws for any input.
   */
  public static KeywordQuery anyOf(String naturalText) {
    Set<String> kept = new LinkedHashSet<>();
    Set<String> stops = new LinkedHashSet<>();
    Tokenizer.words(naturalText, w -> (STOPWORDS.contains(w) ? stops : kept).add(Tokenizer.termOf(w)));
    Set<String> terms = kept.isEmpty() ? stops : kept;
    List<Node> ors = new ArrayList<>();
    for (String t : terms) {
      if (ors.size() == MAX_ANY_TERMS) {
        break;
      }
      ors.add(new Phrase(List.of(t), null));
    }
    return new KeywordQuery(ors.isEmpty() ? null : ors.size() == 1 ? ors.get(0) : new Or(ors));
  }

  /** The parsed tree; empty only for an {@link #anyOf} text without words. */
  public Optional<Node> root() {
    return Optional.ofNullable(root);
  }

  /** A readable canonical form of the tree (terms shown stemmed), e.g. {@code (rotat AND key*)}. */
  @Override
  public String toString() {
    return root == null ? "" : root.toString();
  }

  /**
   * Renders the query as an FTS5 MATCH expression.
   *
   * @param termToken the token of a (stemmed) term
   * @param prefixTokens the tokens of the indexed words that start with a prefix (an unstemmed,
   *     normalised word), best first; only the first {@value #PREFIX_CAP} distinct ones are used
   * @throws IllegalArgumentException if a function returns something other than a lower-case
   *     base32 token, which could otherwise change the meaning of the expression
   */
  public Rendered render(Function<String, String> termToken, Function<String, List<String>> prefixTokens) {
    Objects.requireNonNull(termToken, "termToken");
    Objects.requireNonNull(prefixTokens, "prefixTokens");
    if (root == null) {
      return new Rendered(Optional.empty(), List.of());
    }
    Renderer r = new Renderer(termToken, prefixTokens);
    String expr = r.render(root);
    return new Rendered(Optional.ofNullable(expr), List.copyOf(r.capped));
  }

  /**
   * An FTS5 MATCH expression, or none when the query can match nothing (a prefix that no indexed
   * word starts with, under an AND); and the prefixes that had more than {@value #PREFIX_CAP}
   * expansions, of which only the first were searched.
   */
  public record Rendered(Optional<String> expression, List<String> cappedPrefixes) {}

  /** A node of the query tree. */
  public sealed interface Node permits Phrase, And, Or, Not, Near {}

  /**
   * Consecutive terms (stems), optionally followed by a prefix that is matched against unstemmed
   * indexed words. A single word is a phrase of one term.
   */
  public record Phrase(List<String> terms, String prefix) implements Node {
    public Phrase {
      terms = List.copyOf(terms);
      if (terms.isEmpty() && prefix == null) {
        throw new IllegalArgumentException("a phrase needs a term or a prefix");
      }
    }

    @Override
    public String toString() {
      if (prefix == null) {
        return terms.size() == 1 ? terms.get(0) : '"' + String.join(" ", terms) + '"';
      }
      return terms.isEmpty() ? prefix + "*" : '"' + String.join(" ", terms) + " " + prefix + "\"*";
    }
  }

  /** All operands match. */
  public record And(List<Node> operands) implements Node {
    public And {
      operands = List.copyOf(operands);
    }

    @Override
    public String toString() {
      return join(operands, " AND ");
    }
  }

  /** At least one operand matches. */
  public record Or(List<Node> operands) implements Node {
    public Or {
      operands = List.copyOf(operands);
    }

    @Override
    public String toString() {
      return join(operands, " OR ");
    }
  }

  /** {@code kept} matches and {@code excluded} does not. */
  public record Not(Node kept, Node excluded) implements Node {
    public Not {
      Objects.requireNonNull(kept, "kept");
      Objects.requireNonNull(excluded, "excluded");
    }

    @Override
    public String toString() {
      return "(" + kept + " NOT " + excluded + ")";
    }
  }

  /** All phrases occur with at most {@code distance} terms between neighbours. */
  public record Near(List<Phrase> phrases, int distance) implements Node {
    public Near {
      phrases = List.copyOf(phrases);
      if (phrases.size() < 2) {
        throw new IllegalArgumentException("NEAR needs two phrases");
      }
      if (distance < 0 || distance > MAX_NEAR_DISTANCE) {
        throw new IllegalArgumentException("NEAR distance out of range: " + distance);
      }
      for (Phrase p : phrases) {
        if (p.prefix() != null) {
          throw new IllegalArgumentException("no prefix inside NEAR");
        }
      }
    }

    @Override
    public String toString() {
      StringBuilder sb = new StringBuilder("NEAR(");
      for (Phrase p : phrases) {
        sb.append(p).append(' ');
      }
      sb.setLength(sb.length() - 1);
      return sb.append(", ").append(distance).append(')').toString();
    }
  }

  private static String join(List<Node> nodes, String op) {
    StringBuilder sb = new StringBuilder("(");
    for (Node n : nodes) {
      if (sb.length() > 1) {
        sb.append(op);
      }
      sb.append(n);
    }
    return sb.append(')').toString();
  }

  /**
   * A malformed query: {@link #offset()} is the 0-based char index in the query where the problem
   * is, {@link #problem()} says what it is.
   */
  public static final class SyntaxException extends IllegalArgumentException {
    private final int offset;
    private final String problem;

    public SyntaxException(int offset, String problem) {
      super("query syntax error at character " + offset + ": " + problem);
      this.offset = offset;
      this.problem = problem;
    }

    public int offset() {
      return offset;
    }

    public String problem() {
      return problem;
    }
  }

  // ---- lexing ----

  private enum Kind { WORD, PHRASE, LPAREN, RPAREN, AND, OR, NOT, NEAR, COMMA }

  /** A lexical token: text is the word or phrase content, prefix a trailing '*'. */
  private record Lex(Kind kind, String text, boolean prefix, int offset) {
    String shown() {
      switch (kind) {
        case PHRASE:
          return "quoted phrase";
        case LPAREN:
          return "'('";
        case RPAREN:
          return "')'";
        case COMMA:
          return "','";
        default:
          return "'" + text + "'";
      }
    }
  }

  private static boolean isSpace(char c) {
    return Character.isWhitespace(c) || Character.isSpaceChar(c);
  }

  private static List<Lex> lex(String q) {
    List<Lex> out = new ArrayList<>();
    int n = q.length();
    boolean inNear = false; // commas are significant only inside NEAR( ... )
    int i = 0;
    while (i < n) {
      char c = q.charAt(i);
      if (isSpace(c)) {
        i++;
      } else if (c == '(') {
        out.add(new Lex(Kind.LPAREN, "(", false, i++));
      } else if (c == ')') {
        inNear = false;
        out.add(new Lex(Kind.RPAREN, ")", false, i++));
      } else if (c == ',') {
        if (inNear) {
          out.add(new Lex(Kind.COMMA, ",", false, i));
        }
        i++;
      } else if (c == '"') {
        int end = q.indexOf('"', i + 1);
        if (end < 0) {
          throw new SyntaxException(i, "unterminated quoted phrase: this '\"' is never closed");
        }
        int j = end + 1;
        while (j < n && q.charAt(j) == '*') {
          j++;
        }
        out.add(new Lex(Kind.PHRASE, q.substring(i + 1, end), j > end + 1, i));
        i = j;
      } else {
        int j = i;
        while (j < n) {
          char d = q.charAt(j);
          if (isSpace(d) || d == '(' || d == ')' || d == '"' || d == ',') {
            break;
          }
          j++;
        }
        String w = q.substring(i, j);
        switch (w) {
          case "AND":
            out.add(new Lex(Kind.AND, w, false, i));
            break;
          case "OR":
            out.add(new Lex(Kind.OR, w, false, i));
            break;
          case "NOT":
            out.add(new Lex(Kind.NOT, w, false, i));
            break;
          default:
            if (w.equals("NEAR") && j < n && q.charAt(j) == '(') {
              inNear = true;
              out.add(new Lex(Kind.NEAR, w, false, i));
            } else {
              int k = w.length();
              while (k > 0 && w.charAt(k - 1) == '*') {
                k--;
              }
              out.add(new Lex(Kind.WORD, w.substring(0, k), k < w.length(), i));
            }
        }
        i = j;
      }
    }
    return out;
  }

  // ---- parsing ----

  /**
   * Recursive descent over the lexical tokens. A sub-query whose words all tokenise to nothing
   * (only punctuation) comes back as null and is dropped from its AND / OR / NEAR.
   */
  private static final class Parser {
    private final String query;
    private final List<Lex> lex;
    private int pos;
    private int depth;

    Parser(String query, List<Lex> lex) {
      this.query = query;
      this.lex = lex;
    }

    Node parseQuery() {
      if (lex.isEmpty()) {
        throw new SyntaxException(0, "empty query");
      }
      Node root = parseOr();
      if (pos < lex.size()) {
        Lex t = lex.get(pos); // parseOr stops only at ')' here
        throw new SyntaxException(t.offset(), "unmatched ')': no '(' before it is open");
      }
      if (root == null) {
        throw new SyntaxException(0, "no searchable words: a query needs letters or digits");
      }
      return root;
    }

    private Lex peek() {
      return pos < lex.size() ? lex.get(pos) : null;
    }

    private boolean at(Kind kind) {
      Lex t = peek();
      return t != null && t.kind() == kind;
    }

    private Node parseOr() {
      List<Node> parts = new ArrayList<>();
      add(parts, parseAnd(), Or.class);
      while (at(Kind.OR)) {
        Lex op = lex.get(pos++);
        requireRightOperand(op);
        add(parts, parseAnd(), Or.class);
      }
      return parts.isEmpty() ? null : parts.size() == 1 ? parts.get(0) : new Or(parts);
    }

    private Node parseAnd() {
      List<Node> parts = new ArrayList<>();
      add(parts, parseNot(), And.class);
      while (true) {
        Lex t = peek();
        if (t == null) {
          break;
        }
        if (t.kind() == Kind.AND) {
          pos++;
          requireRightOperand(t);
        } else if (!startsOperand(t)) {
          break;
        }
        add(parts, parseNot(), And.class);
      }
      return parts.isEmpty() ? null : parts.size() == 1 ? parts.get(0) : new And(parts);
    }

    /** Adds a parsed operand, flattening a nested node of the same operator. */
    private static void add(List<Node> parts, Node n, Class<? extends Node> op) {
      if (n == null) {
        return;
      }
      if (op == And.class && n instanceof And) {
        parts.addAll(((And) n).operands());
      } else if (op == Or.class && n instanceof Or) {
        parts.addAll(((Or) n).operands());
      } else {
        parts.add(n);
      }
    }

    private Node parseNot() {
      Node left = parsePrimary();
      while (at(Kind.NOT)) {
        Lex op = lex.get(pos++);
        requireRightOperand(op);
        Node right = parsePrimary();
        if (left == null) {
          throw new SyntaxException(op.offset(),
              "NOT has no searchable word on its left (only punctuation there)");
        }
        if (right != null) {
          left = new Not(left, right);
        }
      }
      return left;
    }

    private static boolean startsOperand(Lex t) {
      return t.kind() == Kind.WORD || t.kind() == Kind.PHRASE
          || t.kind() == Kind.LPAREN || t.kind() == Kind.NEAR;
    }

    /** After a binary operator: the next token must start an operand. */
    private void requireRightOperand(Lex op) {
      Lex t = peek();
      if (t == null) {
        throw new SyntaxException(op.offset(), op.text() + " at the end of the query has nothing on its right");
      }
      if (t.kind() == Kind.NOT) {
        throw new SyntaxException(t.offset(),
            "NOT right after " + op.text() + ": NOT needs a term on its left (write 'a NOT b'; there is no unary NOT)");
      }
      if (!startsOperand(t)) {
        throw new SyntaxException(op.offset(), op.text() + " has nothing on its right (found " + t.shown() + ")");
      }
    }

    private Node parsePrimary() {
      Lex t = peek();
      if (t == null) {
        throw new SyntaxException(query.length(), "a term was expected at the end of the query");
      }
      switch (t.kind()) {
        case WORD:
        case PHRASE:
          pos++;
          return phrase(t.text(), t.prefix());
        case LPAREN:
          return parseGroup(t);
        case NEAR:
          return parseNear(t);
        case NOT:
          throw new SyntaxException(t.offset(),
              "NOT has nothing on its left: write 'a NOT b' (there is no unary NOT)");
        case AND:
        case OR:
          throw new SyntaxException(t.offset(), t.text() + " has nothing on its left");
        case RPAREN:
          throw new SyntaxException(t.offset(), depth == 0
              ? "unmatched ')': no '(' before it is open"
              : "')' where a term was expected");
        default:
          throw new SyntaxException(t.offset(), "unexpected " + t.shown());
      }
    }

    private Node parseGroup(Lex open) {
      if (depth == MAX_DEPTH) {
        throw new SyntaxException(open.offset(), "parentheses nested more than " + MAX_DEPTH + " deep");
      }
      pos++;
      if (at(Kind.RPAREN)) {
        throw new SyntaxException(open.offset(), "empty parentheses");
      }
      if (peek() == null) {
        throw new SyntaxException(open.offset(), "this '(' is never closed");
      }
      depth++;
      Node inner = parseOr();
      depth--;
      if (!at(Kind.RPAREN)) {
        throw new SyntaxException(open.offset(), "this '(' is never closed");
      }
      pos++;
      return inner;
    }

    private Node parseNear(Lex near) {
      pos++;
      Lex open = lex.get(pos++); // the lexer saw '(' right after NEAR
      List<Phrase> phrases = new ArrayList<>();
      int items = 0;
      int distance = DEFAULT_NEAR;
      while (true) {
        Lex t = peek();
        if (t == null) {
          throw new SyntaxException(open.offset(), "this NEAR( is never closed");
        }
        if (t.kind() == Kind.RPAREN) {
          pos++;
          break;
        }
        if (t.kind() == Kind.COMMA) {
          pos++;
          Lex d = peek();
          if (d == null || d.kind() != Kind.WORD || d.prefix() || !d.text().matches("[0-9]{1,9}")) {
            throw new SyntaxException(d == null ? query.length() : d.offset(),
                "NEAR distance must be a whole number after the comma");
          }
          distance = Integer.parseInt(d.text());
          if (distance > MAX_NEAR_DISTANCE) {
            throw new SyntaxException(d.offset(), "NEAR distance above " + MAX_NEAR_DISTANCE);
          }
          pos++;
          if (!at(Kind.RPAREN)) {
            throw new SyntaxException(peek() == null ? query.length() : peek().offset(),
                "')' expected after the NEAR distance");
          }
          pos++;
          break;
        }
        if (t.kind() != Kind.WORD && t.kind() != Kind.PHRASE) {
          throw new SyntaxException(t.offset(), "NEAR( ) takes only words and quoted phrases, not " + t.shown());
        }
        if (t.prefix()) {
          throw new SyntaxException(t.offset(), "prefix searches (*) are not supported inside NEAR");
        }
        pos++;
        items++;
        Phrase p = phrase(t.text(), false);
        if (p != null) {
          phrases.add(p);
        }
      }
      if (items < 2) {
        throw new SyntaxException(near.offset(), "NEAR needs at least two words or phrases");
      }
      if (phrases.isEmpty()) {
        return null;
      }
      return phrases.size() == 1 ? phrases.get(0) : new Near(phrases, distance);
    }

    /** The phrase of a word or quoted text, or null if it holds no letters or digits. */
    private static Phrase phrase(String text, boolean prefix) {
      List<String> words = new ArrayList<>();
      Tokenizer.words(text, words::add);
      if (words.isEmpty()) {
        return null;
      }
      String last = prefix ? words.remove(words.size() - 1) : null;
      List<String> terms = new ArrayList<>(words.size());
      for (String w : words) {
        terms.add(Tokenizer.termOf(w));
      }
      return new Phrase(terms, last);
    }
  }

  // ---- rendering ----

  private static final class Renderer {
    private final Function<String, String> termToken;
    private final Function<String, List<String>> prefixTokens;
    final List<String> capped = new ArrayList<>();

    Renderer(Function<String, String> termToken, Function<String, List<String>> prefixTokens) {
      this.termToken = termToken;
      this.prefixTokens = prefixTokens;
    }

    /** The expression of a node, or null if the node can match nothing. */
    String render(Node node) {
      if (node instanceof Phrase) {
        return phrase((Phrase) node);
      }
      if (node instanceof And) {
        List<String> parts = new ArrayList<>();
        for (Node n : ((And) node).operands()) {
          String s = render(n);
          if (s == null) {
            return null;
          }
          parts.add(s);
        }
        return group(parts, " AND ");
      }
      if (node instanceof Or) {
        List<String> parts = new ArrayList<>();
        for (Node n : ((Or) node).operands()) {
          String s = render(n);
          if (s != null) {
            parts.add(s);
          }
        }
        return group(parts, " OR ");
      }
      if (node instanceof Not) {
        Not not = (Not) node;
        String kept = render(not.kept());
        if (kept == null) {
          return null;
        }
        String excluded = render(not.excluded());
        return excluded == null ? kept : "(" + kept + " NOT " + excluded + ")";
      }
      Near near = (Near) node;
      StringBuilder sb = new StringBuilder("NEAR(");
      for (Phrase p : near.phrases()) {
        sb.append(phrase(p)).append(' ');
      }
      sb.setLength(sb.length() - 1);
      return sb.append(", ").append(near.distance()).append(')').toString();
    }

    private static String group(List<String> parts, String op) {
      if (parts.isEmpty()) {
        return null;
      }
      return parts.size() == 1 ? parts.get(0) : "(" + String.join(op, parts) + ")";
    }

    private String phrase(Phrase p) {
      StringBuilder head = new StringBuilder();
      for (String t : p.terms()) {
        head.append(checked(termToken.apply(t))).append(' ');
      }
      if (p.prefix() == null) {
        head.setLength(head.length() - 1);
        return "\"" + head + "\"";
      }
      Set<String> expansions = new LinkedHashSet<>();
      List<String> found = prefixTokens.apply(p.prefix());
      for (String e : found == null ? Collections.<String>emptyList() : found) {
        if (expansions.size() == PREFIX_CAP && !expansions.contains(e)) {
          capped.add(p.prefix());
          break;
        }
        expansions.add(checked(e));
      }
      List<String> alternatives = new ArrayList<>(expansions.size());
      for (String e : expansions) {
        alternatives.add("\"" + head + e + "\"");
      }
      return group(alternatives, " OR ");
    }

    private static String checked(String token) {
      if (token == null || !TOKEN.matcher(token).matches()) {
        // The value is not echoed: a faulty token function might have returned a plaintext term.
        throw new IllegalArgumentException("the token function returned a non-token (lower-case base32 expected)");
      }
      return token;
    }
  }
}
