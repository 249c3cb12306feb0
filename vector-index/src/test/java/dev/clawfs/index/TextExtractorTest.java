package dev.clawfs.index;

import static java.nio.charset.StandardCharsets.UTF_16BE;
import static java.nio.charset.StandardCharsets.UTF_16LE;
import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.clawfs.index.TextExtractor.Result;
import dev.clawfs.index.TextExtractor.Skipped;
import dev.clawfs.index.TextExtractor.Text;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.Random;
import org.apache.pdfbox.pdmodel.PDDocument;
import org.apache.pdfbox.pdmodel.PDPage;
import org.apache.pdfbox.pdmodel.PDPageContentStream;
import org.apache.pdfbox.pdmodel.encryption.AccessPermission;
import org.apache.pdfbox.pdmodel.encryption.StandardProtectionPolicy;
import org.apache.pdfbox.pdmodel.font.PDType1Font;
import org.apache.pdfbox.pdmodel.font.Standard14Fonts;
import org.junit.jupiter.api.Test;

class TextExtractorTest {

  private static Text text(String name, byte[] content) {
    Result result = TextExtractor.extract(name, content);
    return assertInstanceOf(Text.class, result, name + " gave " + result);
  }

  private static Skipped skipped(String name, byte[] content) {
    Result result = TextExtractor.extract(name, content);
    return assertInstanceOf(Skipped.class, result, name + " gave " + result);
  }

  @Test
  void plainTextAndSourceAreDecodedAsIs() {
    String body = "Grüße, 世界 😀\n\n  indented\tline\r\n";
    assertEquals(new Text(body, "text"), TextExtractor.extract("notes.txt", body.getBytes(UTF_8)));
    assertEquals(
        new Text(body, "text"), TextExtractor.extract("docs/README", body.getBytes(UTF_8)));
    assertEquals(new Text(body, "text"), TextExtractor.extract("guide.RST", body.getBytes(UTF_8)));
    String java = "class A {\n  int x = 1; // ok\n}\n";
    assertEquals(new Text(java, "code"), TextExtractor.extract("src/A.java", java.getBytes(UTF_8)));
    assertEquals("code", text("build.py", java.getBytes(UTF_8)).format());
    assertEquals("text", text("Makefile", "all:\n\tcc -o a a.c\n".getBytes(UTF_8)).format());
    assertEquals("text", text(".bashrc", "alias ll='ls -l'\n".getBytes(UTF_8)).format());
    assertEquals("text", text("server.log", "12:00 started\n".getBytes(UTF_8)).format());
  }

  @Test
  void markdownKeepsItsMarkup() {
    String md = "# Title\n\nSome *emphasis* and a [link](https://example.org).\n\n- item\n";
    assertEquals(new Text(md, "markdown"), TextExtractor.extract("README.md", md.getBytes(UTF_8)));
  }

  @Test
  void yamlIsPlainText() {
    String yaml = "name: clawfs\nfeatures:\n  - search\n";
    assertEquals(new Text(yaml, "yaml"), TextExtractor.extract("config.yml", yaml.getBytes(UTF_8)));
  }

  @Test
  void emptyFileIsEmptyText() {
    assertEquals(new Text("", "text"), TextExtractor.extract("empty.txt", new byte[0]));
    assertEquals(new Text("", "text"), TextExtractor.extract("blob.bin", new byte[0]));
  }

  @Test
  void invalidUtf8IsReplacedNotThrown() {
    byte[] bytes = {'c', 'a', 'f', (byte) 0xe9, ' ', 'o', 'k', (byte) 0xc3, ' ', (byte) 0x80, '!'};
    assertEquals("caf\uFFFD ok\uFFFD \uFFFD!", text("latin1.txt", bytes).text());
  }

  @Test
  void utf8BomIsDropped() {
    byte[] bytes =
        concat(new byte[] {(byte) 0xef, (byte) 0xbb, (byte) 0xbf}, "hello".getBytes(UTF_8));
    assertEquals("hello", text("bom.txt", bytes).text());
  }

  /** Decision: UTF-16 is decoded only with a BOM; without one it is binary (NUL bytes). */
  @Test
  void utf16DecodesWithBomAndIsBinaryWithout() {
    String body = "Windows notes: café\r\n";
    byte[] le = concat(new byte[] {(byte) 0xff, (byte) 0xfe}, body.getBytes(UTF_16LE));
    byte[] be = concat(new byte[] {(byte) 0xfe, (byte) 0xff}, body.getBytes(UTF_16BE));
    assertEquals(new Text(body, "text"), TextExtractor.extract("notes.txt", le));
    assertEquals(new Text(body, "text"), TextExtractor.extract("notes.txt", be));
    assertEquals("binary file", skipped("notes.txt", body.getBytes(UTF_16LE)).reason());
  }

  @Test
  void binaryContentIsSkippedWhateverItsName() {
    byte[] random = new byte[64 * 1024];
    new Random(42).nextBytes(random);
    assertEquals(new Skipped("binary file"), TextExtractor.extract("data.bin", random));
    assertEquals(new Skipped("binary file"), TextExtractor.extract("looks.txt", random));

    byte[] elf = new byte[4096];
    byte[] header = {0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0x3e, 0};
    System.arraycopy(header, 0, elf, 0, header.length);
    assertEquals(new Skipped("binary file"), TextExtractor.extract("a.out", elf));

    // No NUL at all, but every byte an invalid UTF-8 sequence or a control character.
    byte[] noNul = new byte[8192];
    for (int i = 0; i < noNul.length; i++) {
      noNul[i] = (byte) (i % 2 == 0 ? 0x80 + (i % 64) : 1 + (i % 8));
    }
    assertEquals(new Skipped("binary file"), TextExtractor.extract("x", noNul));
  }

  @Test
  void aFewControlCharactersDoNotMakeABinary() {
    String log = "\u001b[32mOK\u001b[0m step one\n\u0007bell\fpage\n".repeat(20);
    assertEquals(log, text("build.log", log.getBytes(UTF_8)).text());
  }

  @Test
  void htmlKeepsVisibleTextWithBlocksOnTheirOwnLines() {
    String html =
        "<!doctype html><html><head><title>Vault notes</title>"
            + "<style>body { color: red }</style><script>var secret = 'not text';</script></head>"
            + "<body><h1>Heading</h1><p>First <b>bold</b> paragraph &amp; more.</p>"
            + "<div>Block one</div><div>Block two<br>after break</div>"
            + "<ul><li>alpha</li><li>beta</li></ul>"
            + "<pre>line 1\nline 2</pre><p hidden>hidden text</p>"
            + "<noscript>enable js</noscript><template><p>tpl</p></template></body></html>";
    Text text = text("page.html", html.getBytes(UTF_8));
    assertEquals("html", text.format());
    assertEquals(
        "Vault notes\n\n"
            + "Heading\n\n"
            + "First bold paragraph & more.\n\n"
            + "Block one\n"
            + "Block two\n"
            + "after break\n\n"
            + "alpha\n"
            + "beta\n\n"
            + "line 1\n"
            + "line 2",
        text.text());
  }

  @Test
  void svgGivesOnlyItsWordsAndIsSkippedWithoutAny() {
    String svg = "<?xml version=\"1.0\"?><svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 10 10\">"
        + "<title>Key rotation</title><desc>How the keyset changes</desc>"
        + "<path d=\"M 0 0 L 10 10 C 1 2 3 4\" style=\"stroke:#ff0000;fill:none\"/>"
        + "<text x=\"1\" y=\"2\">new <tspan>primary</tspan> key</text></svg>";
    Text text = text("diagram.svg", svg.getBytes(UTF_8));
    assertEquals("svg", text.format());
    assertEquals("Key rotation\nHow the keyset changes\nnew primary key", text.text());
    String shapes = "<svg xmlns=\"http://www.w3.org/2000/svg\"><path d=\"M 0 0 L 10 10\"/></svg>";
    assertEquals("SVG image without text", skipped("icon.svg", shapes.getBytes(UTF_8)).reason());
  }

  @Test
  void htmlHonoursItsDeclaredCharset() {
    byte[] latin1 =
        "<html><head><meta charset=\"iso-8859-1\"></head><body><p>caf\u00e9</p></body></html>"
            .getBytes(java.nio.charset.StandardCharsets.ISO_8859_1);
    assertEquals("café", text("old.htm", latin1).text());
  }

  @Test
  void jsonBecomesKeyValueLines() {
    String json =
        "{\"name\": \"Ada\", \"age\": 36, \"tags\": [\"math\", \"engines\"], \"spouse\": null,"
            + " \"address\": {\"city\": \"London\", \"lines\": [{\"street\": \"St James's"
            + " Square\"}]}, \"active\": true}";
    Text text = text("person.json", json.getBytes(UTF_8));
    assertEquals("json", text.format());
    assertEquals(
        "name: Ada\nage: 36\ntags: math\ntags: engines\ncity: London\nstreet: St James's Square\n"
            + "active: true\n",
        text.text());
  }

  @Test
  void jsonLinesAndTopLevelScalarsWork() {
    assertEquals(
        "a: 1\na: 2\n", text("log.jsonl", "{\"a\":1}\n{\"a\":2}\n".getBytes(UTF_8)).text());
    assertEquals("plain\n", text("s.json", "\"plain\"".getBytes(UTF_8)).text());
  }

  @Test
  void invalidJsonFallsBackToPlainText() {
    String broken = "{\"name\": \"Ada\", oops";
    assertEquals(
        new Text(broken, "text"), TextExtractor.extract("broken.json", broken.getBytes(UTF_8)));
  }

  @Test
  void jsonOutputCannotBlowUp() {
    // A long key over a huge array would repeat the key per element; the budget falls back.
    String key = "k".repeat(10_000);
    String json = "{\"" + key + "\": [" + "1,".repeat(100_000) + "1]}";
    Text text = text("big.json", json.getBytes(UTF_8));
    assertEquals(new Text(json, "text"), text);
  }

  @Test
  void pdfTextIsExtractedByExtensionOrMagic() throws IOException {
    byte[] pdf = pdf("Hello from a PDF", null);
    Text text = text("report.pdf", pdf);
    assertEquals("pdf", text.format());
    assertEquals("Hello from a PDF", text.text().strip());
    assertEquals("Hello from a PDF", text("no-extension", pdf).text().strip());
  }

  @Test
  void passwordProtectedPdfIsSkipped() throws IOException {
    byte[] pdf =
        pdf(
            "Confidential salary table",
            new StandardProtectionPolicy("owner", "user", new AccessPermission()));
    Skipped skipped = skipped("salaries.pdf", pdf);
    assertTrue(skipped.reason().startsWith("encrypted PDF"), skipped.reason());
    assertFalse(skipped.reason().contains("salary"));
  }

  /** Decision: an owner-password-only PDF opens without a password in any viewer, so it is read. */
  @Test
  void ownerPasswordOnlyPdfIsRead() throws IOException {
    byte[] pdf =
        pdf(
            "Readable but restricted",
            new StandardProtectionPolicy("owner", "", new AccessPermission()));
    assertEquals("Readable but restricted", text("restricted.pdf", pdf).text().strip());
  }

  @Test
  void brokenPdfIsSkippedWithoutQuotingIt() {
    byte[] broken = "%PDF-1.7\n1 0 obj << /Type /SECRETMARKER >> garbage".getBytes(UTF_8);
    Skipped skipped = skipped("broken.pdf", broken);
    assertTrue(skipped.reason().startsWith("unreadable PDF"), skipped.reason());
    assertFalse(skipped.reason().contains("SECRETMARKER"), skipped.reason());
    assertTrue(
        skipped("notes.pdf", "just text".getBytes(UTF_8)).reason().startsWith("unreadable PDF"));
  }

  @Test
  void tooLargeIsReadable() {
    assertEquals(
        new Skipped("too large to index: 1.0 GiB > 16.0 MiB"), TextExtractor.tooLarge(1L << 30));
    assertEquals(
        "too large to index: 16.5 MiB > 16.0 MiB",
        TextExtractor.tooLarge(16L * 1024 * 1024 + 512 * 1024).reason());
    assertEquals("512 B", TextExtractor.humanSize(512));
    assertEquals(
        TextExtractor.tooLarge(TextExtractor.MAX_INDEXED_BYTES + 1),
        TextExtractor.extract("huge.txt", new byte[(int) TextExtractor.MAX_INDEXED_BYTES + 1]));
  }

  private static byte[] pdf(String line, StandardProtectionPolicy protection) throws IOException {
    try (PDDocument doc = new PDDocument()) {
      PDPage page = new PDPage();
      doc.addPage(page);
      try (PDPageContentStream content = new PDPageContentStream(doc, page)) {
        content.beginText();
        content.setFont(new PDType1Font(Standard14Fonts.FontName.HELVETICA), 12);
        content.newLineAtOffset(72, 700);
        content.showText(line);
        content.endText();
      }
      if (protection != null) {
        protection.setEncryptionKeyLength(256);
        doc.protect(protection);
      }
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      doc.save(out);
      return out.toByteArray();
    }
  }

  private static byte[] concat(byte[] a, byte[] b) {
    byte[] out = new byte[a.length + b.length];
    System.arraycopy(a, 0, out, 0, a.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }
}
