package dev.clawfs.index;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import java.util.function.Function;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class KeywordQueryTest {
  /** Readable fake tokens for the ASCII test words: "t" + the term. */
  private static final Function<String, String> TERM = t -> "t" + t;

  private static final Function<String, List<String>> NO_PREFIX = p -> List.of();

  private static String parsed(String q) {
    return KeywordQuery.parse(q).toString();
  }

  private static String rendered(String q, Function<String, List<String>> prefixes) {
    return KeywordQuery.parse(q).render(TERM, prefixes).expression().orElse("<nothing>");
  }

  @Test
  void parsesTermsThroughTheTokenizer() {
    assertEquals("(rotat AND key)", parsed("rotated keys"));
    assertEquals("(rotat AND key)", parsed("rotated AND keys"));
    assertEquals("\"key rotat\"", parsed("\"Key Rotation\""));
    assertEquals("\"ae 256\"", parsed("AES-256"));
    assertEquals("\"etc passwd\"", parsed("/etc/passwd"));
    assertEquals("(alpha AND beta)", parsed("alpha - beta")); // a lone '-' has no term: ignored
    assertEquals("(alpha AND beta)", parsed("alpha,beta"));
    // lower-case operators are plain words
    assertEquals("(cat AND and AND dog AND or AND not AND near)", parsed("cats and dogs or not near"));
  }

  @Test
  void precedenceIsNotThenAndThenOr() {
    assertEquals("(alpha OR (beta AND gamma))", parsed("alpha OR beta gamma"));
    assertEquals("((alpha AND beta) OR gamma)", parsed("alpha beta OR gamma"));
    assertEquals("((alpha NOT beta) AND gamma)", parsed("alpha NOT beta gamma"));
    assertEquals("(alpha AND (beta NOT gamma))", parsed("alpha beta NOT gamma"));
    assertEquals("((alpha NOT beta) NOT gamma)", parsed("alpha NOT beta NOT gamma"));
    assertEquals("((alpha OR beta) AND gamma)", parsed("(alpha OR beta) gamma"));
    // groups of the same operator are flattened, single-element groups dissolved
    assertEquals("(alpha AND beta AND gamma)", parsed("((alpha beta) ((gamma)))"));
    assertEquals("(alpha OR beta OR gamma)", parsed("alpha OR (beta OR gamma)"));
  }

  @Test
  void prefixesAndNear() {
    assertEquals("rot*", parsed("rot*"));
    assertEquals("rot*", parsed("ROT**"));
    assertEquals("\"key rot\"*", parsed("\"key rot\"*"));
    assertEquals("\"ae 2\"*", parsed("aes-2*"));
    assertEquals("alpha", parsed("alpha *")); // a lone star has no term
    assertEquals("NEAR(alpha \"beta gamma\", 5)", parsed("NEAR(alpha \"beta gamma\", 5)"));
    assertEquals("NEAR(alpha beta, 10)", parsed("NEAR(alpha beta)"));
    assertEquals("NEAR(alpha beta, 0)", parsed("NEAR(alpha beta,0)"));
    assertEquals("(near AND alpha)", parsed("NEAR (alpha)")); // NEAR only right before '('
  }

  @Test
  void rendersQuotedTokensWithFullParentheses() {
    assertEquals("(\"trotat\" OR \"tkey\")", rendered("rotated OR keys", NO_PREFIX));
    assertEquals("(\"tkey trotat\" NOT \"told\")", rendered("\"key rotation\" NOT old", NO_PREFIX));
    assertEquals("((\"talpha\" OR \"tbeta\") AND \"tgamma\")", rendered("(alpha OR beta) gamma", NO_PREFIX));
    assertEquals("NEAR(\"talpha\" \"tbeta tgamma\", 3)", rendered("NEAR(alpha \"beta gamma\", 3)", NO_PREFIX));
  }

  @Test
  void prefixExpandsToAnOrGroup() {
    Function<String, List<String>> vocab = p -> p.equals("rot") ? List.of("e1", "e2", "e1") : List.of();
    assertEquals("(\"e1\" OR \"e2\")", rendered("rot*", vocab));
    assertEquals("(\"tkey e1\" OR \"tkey e2\")", rendered("\"key rot\"*", vocab));
    assertEquals("(\"talpha\" AND (\"e1\" OR \"e2\"))", rendered("alpha rot*", vocab));
    // a prefix that matches no word: nothing under AND, dropped under OR and NOT
    assertEquals("<nothing>", rendered("alpha zzz*", vocab));
    assertEquals("\"talpha\"", rendered("alpha OR zzz*", vocab));
    assertEquals("\"talpha\"", rendered("alpha NOT zzz*", vocab));
    assertEquals("<nothing>", rendered("zzz* NOT alpha", vocab));
  }

  @Test
  void prefixExpansionIsCappedAndReported() {
    List<String> many = new ArrayList<>();
    for (int i = 0; i < 300; i++) {
      many.add("w" + i);
    }
    KeywordQuery.Rendered r = KeywordQuery.parse("alpha OR w*").render(TERM, p -> many);
    assertEquals(List.of("w"), r.cappedPrefixes());
    String expr = r.expression().orElseThrow();
    assertEquals(KeywordQuery.PREFIX_CAP + 1, expr.split(" OR ").length);
    assertTrue(expr.contains("\"w255\"") && !expr.contains("\"w256\""));
    KeywordQuery.Rendered exact = KeywordQuery.parse("w*").render(TERM, p -> many.subList(0, 256));
    assertEquals(List.of(), exact.cappedPrefixes());
  }

  @Test
  void refusesTokenFunctionsThatReturnNonTokens() {
    KeywordQuery q = KeywordQuery.parse("alpha rot*");
    assertThrows(IllegalArgumentException.class, () -> q.render(t -> "a\" OR \"b", NO_PREFIX));
    assertThrows(IllegalArgumentException.class, () -> q.render(t -> "", NO_PREFIX));
    assertThrows(IllegalArgumentException.class, () -> q.render(TERM, p -> List.of("A")));
  }

  @ParameterizedTest(name = "[{index}] {0}")
  @CsvSource(delimiter = '|', quoteCharacter = '`', value = {
      "``                         | 0  | empty query",
      "`   `                      | 0  | empty query",
      "alpha \"beta               | 6  | unterminated quoted phrase",
      "\"                         | 0  | unterminated quoted phrase",
      "(alpha                     | 0  | never closed",
      "alpha (beta (gamma)        | 6  | never closed",
      "(                          | 0  | never closed",
      "alpha)                     | 5  | unmatched ')'",
      ")                          | 0  | unmatched ')'",
      "()                         | 0  | empty parentheses",
      "alpha ()                   | 6  | empty parentheses",
      "alpha AND                  | 6  | nothing on its right",
      "alpha OR                   | 6  | nothing on its right",
      "alpha NOT                  | 6  | nothing on its right",
      "(alpha OR) beta            | 7  | nothing on its right",
      "alpha AND OR beta          | 6  | nothing on its right",
      "OR alpha                   | 0  | nothing on its left",
      "AND alpha                  | 0  | nothing on its left",
      "NOT alpha                  | 0  | NOT has nothing on its left",
      "alpha (NOT beta)           | 7  | NOT has nothing on its left",
      "alpha OR NOT beta          | 9  | NOT needs a term on its left",
      "alpha AND NOT beta         | 10 | NOT needs a term on its left",
      "!!! NOT alpha              | 4  | no searchable word on its left",
      "!!! ... ---                | 0  | no searchable words",
      "NEAR(alpha)                | 0  | at least two",
      "NEAR(alpha beta            | 4  | never closed",
      "NEAR(alpha beta, x)        | 17 | whole number",
      "NEAR(alpha beta, 5 gamma)  | 19 | ')' expected",
      "NEAR(alpha (beta))         | 11 | only words and quoted phrases",
      "NEAR(alpha OR beta)        | 11 | only words and quoted phrases",
      "NEAR(alp* beta)            | 5  | not supported inside NEAR",
      "NEAR(alpha beta, 100001)   | 17 | NEAR distance above",
  })
  void syntaxErrorsSayWhereAndWhat(String query, int offset, String problem) {
    KeywordQuery.SyntaxException e =
        assertThrows(KeywordQuery.SyntaxException.class, () -> KeywordQuery.parse(query));
    assertEquals(offset, e.offset(), e.getMessage());
    assertTrue(e.problem().contains(problem), e.getMessage());
    assertTrue(e.getMessage().contains("at character " + offset), e.getMessage());
  }

  @Test
  void nestingAndLengthAreBounded() {
    String deep = "(".repeat(33) + "alpha" + ")".repeat(33);
    KeywordQuery.SyntaxException e =
        assertThrows(KeywordQuery.SyntaxException.class, () -> KeywordQuery.parse(deep));
    assertEquals(32, e.offset());
    assertEquals("alpha", parsed("(".repeat(32) + "alpha" + ")".repeat(32)));
    String huge = "a ".repeat(KeywordQuery.MAX_LENGTH / 2) + "b";
    assertEquals(KeywordQuery.MAX_LENGTH,
        assertThrows(KeywordQuery.SyntaxException.class, () -> KeywordQuery.parse(huge)).offset());
    // no stack overflow from a long flat query within the limit
    assertTrue(parsed("alpha ".repeat(600) + "NOT beta OR gamma").startsWith("("));
  }

  @Test
  void anyOfDropsStopwordsAndDuplicates() {
    assertEquals("(key OR rotat)", KeywordQuery.anyOf("How are the keys rotated? Which key?").toString());
    assertEquals("rotat", KeywordQuery.anyOf("rotation").toString());
    // only stopwords: they are kept rather than searching for nothing
    assertEquals("(the OR who)", KeywordQuery.anyOf("The Who").toString());
    KeywordQuery none = KeywordQuery.anyOf("?! -- ...");
    assertEquals(Optional.empty(), none.root());
    assertEquals(Optional.empty(), none.render(TERM, NO_PREFIX).expression());
    StringBuilder many = new StringBuilder();
    for (int i = 0; i < 100; i++) {
      many.append("w").append(i).append(' ');
    }
    KeywordQuery.Or or = (KeywordQuery.Or) KeywordQuery.anyOf(many.toString()).root().orElseThrow();
    assertEquals(KeywordQuery.MAX_ANY_TERMS, or.operands().size());
  }

  // ---- hostile input against a real FTS5 table ----

  private static final String[] PIECES = {
      "\"", "\"", "'", "/", "\\", "*", "*", "(", ")", "(", ")", ",", " ", " ", " ", "AND", "OR",
      "NOT", "NEAR(", "NEAR", ":", "^", "+", "-", "{", "}", ";", "--", "%", "_", "\0", "\n", "\t",
      "é", "東京", "🔑", "\u202e", "\ufeff", "\ud800", "\udc00", "0", "42", "key", "rot", "rota*",
      "alpha", "a", "x*", "NULL", "SELECT", "body:", "rowid", "\"\"", "''", "%s", "${x}", "ǅ",
      "İ", "ß", "ﬁ", "\u0301", "Ⅻ", "½", "NEAR(a b, 2)", "\"k e y\"*", "..", "/etc/passwd"};

  /** A prefix function in the shape of BlindIndex's: tokens of words starting with the prefix. */
  private static List<String> fakeVocabulary(String prefix) {
    List<String> out = new ArrayList<>();
    for (String w : new String[] {"key", "keys", "rotation", "rotated", "alpha", "x", "xylophone", "東"}) {
      if (w.startsWith(prefix)) {
        out.add(hexToken(w));
      }
    }
    return out;
  }

  /** A token of the right alphabet that does not need a key: SHA-256 in hex, 16 digits. */
  private static String hexToken(String term) {
    try {
      byte[] h = MessageDigest.getInstance("SHA-256").digest(term.getBytes(StandardCharsets.UTF_8));
      return HexFormat.of().formatHex(h, 0, 8);
    } catch (java.security.NoSuchAlgorithmException e) {
      throw new AssertionError(e);
    }
  }

  private static String randomQuery(Random r) {
    StringBuilder sb = new StringBuilder();
    while (true) {
      String piece = PIECES[r.nextInt(PIECES.length)];
      if ((sb + piece).getBytes(StandardCharsets.UTF_8).length > 255) {
        return sb.toString();
      }
      sb.append(piece);
      if (r.nextInt(40) == 0) {
        return sb.toString(); // some short ones too
      }
    }
  }

  @Test
  void hostileQueriesNeverReachFts5AsInvalidSyntax(@TempDir Path dir) throws SQLException {
    try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + dir.resolve("q.db"))) {
      try (Statement st = c.createStatement()) {
        st.execute("CREATE VIRTUAL TABLE fts USING fts5(body, tokenize='ascii', detail=full,"
            + " content='', contentless_delete=1)");
      }
      try (PreparedStatement ins = c.prepareStatement("INSERT INTO fts(rowid, body) VALUES (?, ?)")) {
        String[] docs = {"key rotat alpha", "x 東 京 key", "rotat key 42 a"};
        for (int i = 0; i < docs.length; i++) {
          StringBuilder body = new StringBuilder();
          for (String t : docs[i].split(" ")) {
            body.append(hexToken(t)).append(' ');
          }
          ins.setLong(1, i + 1);
          ins.setString(2, body.toString().trim());
          ins.executeUpdate();
        }
      }
      List<String> queries = new ArrayList<>(List.of(
          "\"", "\"\"", "\"*\"", "*", "**", "/", "\\", "'", "'; DROP TABLE fts; --", "NEAR(",
          "NEAR()", "NEAR(\"\" \"\")", "a NEAR b", "^alpha", "body:alpha", "-alpha", "alpha + beta",
          "{body}: alpha", "alpha\0beta", "\"alpha\" \"beta\"*", "(((alpha)))", "alpha OR", "x*",
          "\"x\"*", "NEAR(key \"!!\", 1)", "NEAR(!! ??)", "\"!!!\"* OR alpha", "\ud800", "🔑*",
          "東京*", "ＡＮＤ", "alpha ＯＲ beta", "a".repeat(255), "\"".repeat(255), "(".repeat(255),
          ")".repeat(255), "*".repeat(255), "/".repeat(255), "x* ".repeat(85)));
      Random r = new Random(20240611);
      for (int i = 0; i < 4000; i++) {
        queries.add(randomQuery(r));
      }
      int ran = 0;
      int refused = 0;
      try (PreparedStatement q = c.prepareStatement("SELECT rowid FROM fts WHERE fts MATCH ?")) {
        for (String query : queries) {
          assertTrue(query.getBytes(StandardCharsets.UTF_8).length <= 255, escape(query));
          KeywordQuery parsed;
          try {
            parsed = KeywordQuery.parse(query);
          } catch (KeywordQuery.SyntaxException e) {
            assertTrue(e.offset() >= 0 && e.offset() <= query.length(), e.getMessage());
            refused++;
            continue;
          }
          Optional<String> expr =
              parsed.render(KeywordQueryTest::hexToken, KeywordQueryTest::fakeVocabulary).expression();
          if (expr.isEmpty()) {
            continue;
          }
          assertTrue(expr.get().matches("[a-f0-9\" ()ANDORTNE,]+"), expr.get());
          q.setString(1, expr.get());
          try (ResultSet rs = q.executeQuery()) {
            while (rs.next()) {
              rs.getLong(1);
            }
          } catch (SQLException e) {
            fail("FTS5 refused the rendering of " + escape(query) + ": " + expr.get(), e);
          }
          ran++;
        }
      }
      // Both paths must have been exercised for the test to mean something.
      assertTrue(ran > 500, "queries run: " + ran);
      assertTrue(refused > 500, "queries refused: " + refused);
    }
  }

  @Test
  void anyOfNeverThrowsAndRendersValidFts5(@TempDir Path dir) throws SQLException {
    try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + dir.resolve("a.db"));
        Statement st = c.createStatement()) {
      st.execute("CREATE VIRTUAL TABLE fts USING fts5(body, tokenize='ascii', detail=full)");
      Random r = new Random(7);
      try (PreparedStatement q = c.prepareStatement("SELECT rowid FROM fts WHERE fts MATCH ?")) {
        for (int i = 0; i < 500; i++) {
          String text = randomQuery(r);
          Optional<String> expr = KeywordQuery.anyOf(text).render(KeywordQueryTest::hexToken, p -> List.of())
              .expression();
          assertEquals(Tokenizer.terms(text).isEmpty(), expr.isEmpty(), escape(text));
          if (expr.isPresent()) {
            q.setString(1, expr.get());
            q.executeQuery().close();
          }
        }
      }
    }
  }

  @Test
  void parsedQueriesAreImmutable() {
    KeywordQuery.And and = (KeywordQuery.And) KeywordQuery.parse("alpha beta").root().orElseThrow();
    assertThrows(UnsupportedOperationException.class, () -> and.operands().clear());
    assertFalse(and.operands().isEmpty());
  }

  private static String escape(String s) {
    StringBuilder sb = new StringBuilder("\"");
    for (char c : s.toCharArray()) {
      sb.append(c < 0x20 || c > 0x7e ? String.format("\\u%04x", (int) c) : String.valueOf(c));
    }
    return sb.append('"').toString();
  }
}
