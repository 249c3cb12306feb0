package dev.clawfs.policy;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * A structural check of a Java regular expression for shapes that make a backtracking engine
 * take exponential (or high polynomial) time on text that almost matches. It looks at the
 * pattern's syntax tree only and errs on the side of refusing:
 *
 * <ul>
 *   <li>a repeat that can run more than once ({@code *}, {@code +}, {@code {n,}}, {@code {n,m}}
 *       with m &ge; 2) holding a part that can match the empty text ({@code (a?)*},
 *       {@code (a|)+});
 *   <li>such a repeat holding another repeat of variable count that can run more than once
 *       ({@code (a+)+}, {@code (.*)*}, {@code (\w+\s)*}, {@code (a{1,3})+});
 *   <li>such a repeat holding an alternation two of whose branches can start with the same
 *       character ({@code (x|x)*}, {@code (ab|ac)+}; a branch starting with a class, {@code .},
 *       a group that can be empty or anything but a literal counts as starting with any
 *       character).
 * </ul>
 *
 * Possessive repeats ({@code a++}, {@code .*+}) and atomic groups ({@code (?>...)}) are never
 * backtracked into, so what they hold is not looked at, and a possessive outer repeat is fine.
 * Literal characters are compared ignoring case, as injection patterns are compiled. The
 * pattern must already compile; the comments flag ({@code (?x)}) is refused, since the check does
 * not read comments.
 */
final class RegexCheck {

  private RegexCheck() {}

  /** A part of the syntax tree; {@code start} and {@code end} index the pattern text. */
  private sealed interface Term permits Atom, Group, Repeat {
    int start();

    int end();
  }

  /**
   * A character, class, escape or anchor.
   *
   * @param first the lower-cased literal character, or -1 for "any character"
   * @param zeroWidth an anchor or boundary ({@code ^}, {@code \b}): matches no character
   * @param nullable whether it can match the empty text (anchors, back references)
   */
  private record Atom(int start, int end, int first, boolean zeroWidth, boolean nullable)
      implements Term {}

  /** A group; {@code atomic} for {@code (?>...)}, {@code look} for lookahead and lookbehind. */
  private record Group(int start, int end, Alternation body, boolean atomic, boolean look)
      implements Term {}

  /** {@code term} repeated {@code min} to {@code max} times ({@code max} -1: unbounded). */
  private record Repeat(int start, int end, Term term, int min, int max, boolean lazy,
      boolean possessive) implements Term {

    /** Can run more than once: the shapes that can backtrack badly. */
    boolean repeats() {
      return max < 0 || max >= 2;
    }

    boolean variable() {
      return max < 0 || max > min;
    }
  }

  /** Branches separated by '|'; a single branch is a plain sequence. */
  private record Alternation(int start, int end, List<List<Term>> branches) {}

  /**
   * Why {@code regex} may backtrack catastrophically, in words for an error message that quotes
   * the offending parts, or {@code null} when it has none of the shapes above.
   *
   * @throws IllegalArgumentException when it uses the comments flag
   */
  static String backtrackingProblem(String regex) {
    Alternation tree = new Parser(regex).parse();
    return new Checker(regex).alternation(tree);
  }

  /**
   * The text of an unbounded repeat the pattern starts with ({@code .*} in {@code .*secret}), or
   * {@code null}. A pattern is searched for at every position, so a leading repeat adds nothing
   * to what it finds and makes a search take time quadratic in the length of a run it matches.
   */
  static String leadingRepeat(String regex) {
    Alternation tree = new Parser(regex).parse();
    for (List<Term> branch : tree.branches()) {
      if (!branch.isEmpty() && branch.get(0) instanceof Repeat r && r.max() < 0) {
        return regex.substring(r.start(), r.end());
      }
    }
    return null;
  }

  private static final class Checker {
    private final String regex;

    Checker(String regex) {
      this.regex = regex;
    }

    String alternation(Alternation a) {
      for (List<Term> branch : a.branches()) {
        for (Term t : branch) {
          String problem = term(t);
          if (problem != null) {
            return problem;
          }
        }
      }
      return null;
    }

    String term(Term t) {
      if (t instanceof Group g) {
        return alternation(g.body());
      }
      if (t instanceof Repeat r) {
        if (r.repeats() && !r.possessive()) {
          String outer = "the repeat \"" + text(r) + "\"";
          if (nullable(r.term())) {
            return outer + " repeats a part that can match the empty text";
          }
          Repeat inner = innerRepeat(r.term());
          if (inner != null) {
            String innerText = text(inner);
            String possessive = (inner.lazy()
                ? innerText.substring(0, innerText.length() - 1) : innerText) + "+";
            return outer + " holds another repeat, \"" + innerText + "\"; make the inner one"
                + " possessive (\"" + possessive + "\") or atomic (\"(?>" + innerText
                + ")\"), or drop a repeat";
          }
          Alternation overlap = overlappingAlternation(r.term());
          if (overlap != null) {
            return outer + " holds an alternation, \"" + regex.substring(overlap.start(),
                overlap.end()) + "\", two of whose branches can start with the same character;"
                + " give each branch a different first character, or use a character class"
                + " ([ab]) for single characters";
          }
        }
        return term(r.term());
      }
      return null;
    }

    String text(Term t) {
      return regex.substring(t.start(), t.end());
    }
  }

  /** A variable repeat that can run more than once inside {@code t}, outside atomic parts. */
  private static Repeat innerRepeat(Term t) {
    if (t instanceof Repeat r) {
      if (r.possessive()) {
        return null;
      }
      if (r.repeats() && r.variable()) {
        return r;
      }
      return innerRepeat(r.term());
    }
    if (t instanceof Group g && !g.atomic()) {
      for (List<Term> branch : g.body().branches()) {
        for (Term x : branch) {
          Repeat found = innerRepeat(x);
          if (found != null) {
            return found;
          }
        }
      }
    }
    return null;
  }

  /** An alternation in {@code t}, outside atomic parts, two of whose branches start alike. */
  private static Alternation overlappingAlternation(Term t) {
    if (t instanceof Repeat r) {
      return r.possessive() ? null : overlappingAlternation(r.term());
    }
    if (t instanceof Group g && !g.atomic()) {
      List<List<Term>> branches = g.body().branches();
      if (branches.size() > 1) {
        List<Set<Integer>> firsts = new ArrayList<>();
        for (List<Term> branch : branches) {
          Set<Integer> f = first(branch);
          for (Set<Integer> other : firsts) {
            if (f == null || other == null || intersects(f, other)) {
              return g.body();
            }
          }
          firsts.add(f);
        }
      }
      for (List<Term> branch : branches) {
        for (Term x : branch) {
          Alternation found = overlappingAlternation(x);
          if (found != null) {
            return found;
          }
        }
      }
    }
    return null;
  }

  private static boolean intersects(Set<Integer> a, Set<Integer> b) {
    for (Integer c : a) {
      if (b.contains(c)) {
        return true;
      }
    }
    return false;
  }

  /** The characters a sequence can start with, or {@code null} for "any" (or empty). */
  private static Set<Integer> first(List<Term> seq) {
    Set<Integer> all = new HashSet<>();
    for (Term t : seq) {
      Set<Integer> f = first(t);
      if (f == null) {
        return null;
      }
      all.addAll(f);
      if (!nullable(t)) {
        return all;
      }
    }
    return null;
  }

  private static Set<Integer> first(Term t) {
    if (t instanceof Atom a) {
      return a.zeroWidth() ? Set.of() : a.first() < 0 ? null : Set.of(a.first());
    }
    if (t instanceof Group g) {
      if (g.look()) {
        return Set.of();
      }
      Set<Integer> all = new HashSet<>();
      for (List<Term> branch : g.body().branches()) {
        Set<Integer> f = first(branch);
        if (f == null) {
          return null;
        }
        all.addAll(f);
      }
      return all;
    }
    Repeat r = (Repeat) t;
    return r.max() == 0 ? Set.of() : first(r.term());
  }

  private static boolean nullable(Term t) {
    if (t instanceof Atom a) {
      return a.nullable();
    }
    if (t instanceof Group g) {
      if (g.look()) {
        return true;
      }
      for (List<Term> branch : g.body().branches()) {
        if (branch.stream().allMatch(RegexCheck::nullable)) {
          return true;
        }
      }
      return false;
    }
    Repeat r = (Repeat) t;
    return r.min() == 0 || nullable(r.term());
  }

  /** A recursive-descent reader of Java regex syntax, for a pattern that compiles. */
  private static final class Parser {
    private static final int ANY = -1;
    private final String s;
    private int i;

    Parser(String s) {
      this.s = s;
    }

    Alternation parse() {
      return alternation(); // the pattern compiles, so no unbalanced ')' stops this early
    }

    private Alternation alternation() {
      int start = i;
      List<List<Term>> branches = new ArrayList<>();
      branches.add(sequence());
      while (i < s.length() && s.charAt(i) == '|') {
        i++;
        branches.add(sequence());
      }
      return new Alternation(start, i, branches);
    }

    private List<Term> sequence() {
      List<Term> terms = new ArrayList<>();
      while (i < s.length() && s.charAt(i) != '|' && s.charAt(i) != ')') {
        if (s.startsWith("\\Q", i)) {
          int end = s.indexOf("\\E", i + 2);
          int stop = end < 0 ? s.length() : end;
          for (int k = i + 2; k < stop; k++) {
            terms.add(literal(k, k + 1, s.charAt(k)));
          }
          i = end < 0 ? s.length() : end + 2;
          continue;
        }
        Term t = atom();
        if (t == null) {
          continue;
        }
        terms.add(quantified(t));
      }
      return terms;
    }

    /** {@code t} with the quantifiers that follow it, if any. */
    private Term quantified(Term t) {
      while (i < s.length()) {
        char c = s.charAt(i);
        int min;
        int max;
        if (c == '*' || c == '+' || c == '?') {
          min = c == '+' ? 1 : 0;
          max = c == '?' ? 1 : -1;
          i++;
        } else if (c == '{') {
          int close = s.indexOf('}', i);
          String body = s.substring(i + 1, close);
          int comma = body.indexOf(',');
          min = Integer.parseInt((comma < 0 ? body : body.substring(0, comma)).strip());
          max = comma < 0 ? min : body.substring(comma + 1).isBlank() ? -1
              : Integer.parseInt(body.substring(comma + 1).strip());
          i = close + 1;
        } else {
          return t;
        }
        boolean lazy = false;
        boolean possessive = false;
        if (i < s.length() && s.charAt(i) == '?') {
          lazy = true;
          i++;
        } else if (i < s.length() && s.charAt(i) == '+') {
          possessive = true;
          i++;
        }
        t = new Repeat(t.start(), i, t, min, max, lazy, possessive);
      }
      return t;
    }

    /** One atom or group, or {@code null} for an inline flag group such as {@code (?i)}. */
    private Term atom() {
      int start = i;
      char c = s.charAt(i);
      switch (c) {
        case '(':
          return group();
        case '[':
          skipClass();
          return new Atom(start, i, ANY, false, false);
        case '\\':
          return escape();
        case '.':
          i++;
          return new Atom(start, i, ANY, false, false);
        case '^':
        case '$':
          i++;
          return new Atom(start, i, ANY, true, true);
        default:
          i += Character.charCount(s.codePointAt(i));
          return literal(start, i, s.codePointAt(start));
      }
    }

    /** A literal character, folded as case-insensitive matching compares it. */
    private static Atom literal(int start, int end, int c) {
      return new Atom(start, end, Character.toLowerCase(Character.toUpperCase(c)), false, false);
    }

    private Term group() {
      int start = i;
      i++;
      boolean atomic = false;
      boolean look = false;
      if (i < s.length() && s.charAt(i) == '?') {
        i++;
        char k = s.charAt(i);
        if (k == ':') {
          i++;
        } else if (k == '=' || k == '!') {
          look = true;
          i++;
        } else if (k == '>') {
          atomic = true;
          i++;
        } else if (k == '<' && (s.charAt(i + 1) == '=' || s.charAt(i + 1) == '!')) {
          look = true;
          i += 2;
        } else if (k == '<') {
          i = s.indexOf('>', i) + 1;
        } else {
          // inline flags: (?i) or (?i-s:...)
          int end = i;
          while (end < s.length() && s.charAt(end) != ')' && s.charAt(end) != ':') {
            end++;
          }
          String flags = s.substring(i, end);
          int minus = flags.indexOf('-');
          if ((minus < 0 ? flags : flags.substring(0, minus)).indexOf('x') >= 0) {
            throw new IllegalArgumentException("the comments flag (?x) is not supported here");
          }
          i = end + 1;
          if (s.charAt(end) == ')') {
            return null;
          }
        }
      }
      Alternation body = alternation();
      i++; // ')'
      return new Group(start, i, body, atomic, look);
    }

    /** Skips a character class, which may nest ({@code [a-z&&[^q]]}). */
    private void skipClass() {
      int depth = 0;
      do {
        char c = s.charAt(i);
        if (c == '\\') {
          if (s.startsWith("\\Q", i)) {
            int end = s.indexOf("\\E", i + 2);
            i = end < 0 ? s.length() : end + 2;
            continue;
          }
          i += 2;
          continue;
        }
        if (c == '[') {
          depth++;
          i++;
          if (i < s.length() && s.charAt(i) == '^') {
            i++;
          }
          if (i < s.length() && s.charAt(i) == ']') {
            i++; // a ']' first in a class is literal
          }
          continue;
        }
        if (c == ']') {
          depth--;
        }
        i++;
      } while (depth > 0 && i < s.length());
    }

    private Term escape() {
      int start = i;
      i++;
      char c = s.charAt(i++);
      switch (c) {
        case 'b':
        case 'B':
        case 'A':
        case 'z':
        case 'Z':
        case 'G':
          if (c == 'b' && i < s.length() && s.charAt(i) == '{') {
            i = s.indexOf('}', i) + 1; // \b{g}
          }
          return new Atom(start, i, ANY, true, true);
        case 'p':
        case 'P':
        case 'x':
        case 'N':
          if (i < s.length() && s.charAt(i) == '{') {
            i = s.indexOf('}', i) + 1;
          } else {
            i += c == 'x' ? 2 : c == 'N' ? 0 : 1;
          }
          return new Atom(start, i, ANY, false, false);
        case 'u':
          i += 4;
          return new Atom(start, i, ANY, false, false);
        case '0':
          for (int n = 0; n < 3 && i < s.length() && s.charAt(i) >= '0' && s.charAt(i) <= '7';
              n++) {
            i++;
          }
          return new Atom(start, i, ANY, false, false);
        case 'c':
          i++;
          return new Atom(start, i, ANY, false, false);
        case 'k':
          i = s.indexOf('>', i) + 1;
          return new Atom(start, i, ANY, false, true);
        case 't':
          return literal(start, i, '\t');
        case 'n':
          return literal(start, i, '\n');
        case 'r':
          return literal(start, i, '\r');
        case 'f':
          return literal(start, i, '\f');
        case 'a':
          return literal(start, i, 7);
        case 'e':
          return literal(start, i, 27);
        default:
          if (c >= '1' && c <= '9') {
            while (i < s.length() && Character.isDigit(s.charAt(i))) {
              i++;
            }
            return new Atom(start, i, ANY, false, true); // a back reference
          }
          if (Character.isLetter(c)) {
            return new Atom(start, i, ANY, false, false); // \d \s \w \R \X \h \v ...
          }
          return literal(start, i, c); // an escaped metacharacter: \. \( \|
      }
    }
  }
}
