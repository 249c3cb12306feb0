package dev.clawfs.index;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import org.apache.pdfbox.Loader;
import org.apache.pdfbox.io.IOUtils;
import org.apache.pdfbox.pdmodel.PDDocument;
import org.apache.pdfbox.pdmodel.encryption.InvalidPasswordException;
import org.apache.pdfbox.text.PDFTextStripper;
import org.jsoup.Jsoup;
import org.jsoup.nodes.Document;
import org.jsoup.nodes.Element;
import org.jsoup.nodes.Node;
import org.jsoup.nodes.TextNode;
import org.jsoup.parser.Parser;
import org.jsoup.select.NodeVisitor;

/**
 * Turns a file's plaintext bytes into the text that the search index chunks and embeds, or says why
 * the file is not indexed.
 *
 * <p>The kind of file is chosen by the name's extension, except that content starting with {@code
 * %PDF-} is always read as a PDF. HTML keeps only visible text with block elements on their own
 * lines; JSON becomes {@code key: value} lines (invalid JSON falls back to plain text); PDF text
 * comes from PDFBox, in memory only, so no decrypted content reaches a scratch file. Everything
 * else is decoded as UTF-8 with malformed input replaced by U+FFFD, after a binary check on the
 * first 8 KiB: a NUL, or more than 30% control characters and undecodable bytes, skips the file.
 *
 * <p>A byte-order mark selects the decoding: UTF-8, UTF-16LE and UTF-16BE files with a BOM are
 * decoded as such. UTF-16 without a BOM is not guessed; its NUL bytes make it binary.
 *
 * <p>Reasons and exceptions never quote file content, since that content is the secret the file
 * system protects. Stateless and thread-safe.
 */
public final class TextExtractor {
  /** Files larger than this are not read at all; the caller skips them with {@link #tooLarge}. */
  public static final long MAX_INDEXED_BYTES = 16L << 20;

  /** PDF pages beyond this are not extracted (bounds time on enormous documents). */
  static final int MAX_PDF_PAGES = 2_000;

  static final int SNIFF_BYTES = 8 << 10;

  /** What extraction produced. */
  public sealed interface Result permits Text, Skipped {}

  /**
   * Extracted text. {@code format} is one of {@code text}, {@code markdown}, {@code code}, {@code
   * html}, {@code json}, {@code yaml}, {@code pdf} or {@code svg}; invalid JSON reports {@code text}.
   */
  public record Text(String text, String format) implements Result {}

  /** The file is not indexed; {@code reason} is for people and never quotes the content. */
  public record Skipped(String reason) implements Result {}

  private static final Map<String, String> FORMAT_BY_EXTENSION = formats();

  /** Block elements that read as paragraphs, so the chunker may end a passage after them. */
  private static final Set<String> PARAGRAPH_TAGS =
      Set.of(
          ("p h1 h2 h3 h4 h5 h6 pre blockquote table ul ol dl section article header footer figure"
                  + " hr title")
              .split(" "));

  private static final byte[] PDF_MAGIC = "%PDF-".getBytes(StandardCharsets.US_ASCII);

  private static final JsonFactory JSON = JsonFactory.builder().build();

  private TextExtractor() {}

  /** Extracts {@code content}; {@code fileName} (a name or path) only selects the format. */
  public static Result extract(String fileName, byte[] content) {
    if (content.length > MAX_INDEXED_BYTES) {
      return tooLarge(content.length);
    }
    String format = formatOf(fileName);
    if (content.length == 0) {
      return new Text("", format);
    }
    if ("pdf".equals(format) || startsWith(content, PDF_MAGIC)) {
      return pdf(content);
    }
    int bomLength = bomLength(content);
    Charset charset = bomCharset(content);
    if (looksBinary(content, bomLength, charset)) {
      return new Skipped("binary file");
    }
    if ("html".equals(format)) {
      return html(content);
    }
    if ("svg".equals(format)) {
      return svg(content);
    }
    String text = decode(content, bomLength, charset);
    if ("json".equals(format)) {
      String json = json(text);
      return json != null ? new Text(json, "json") : new Text(text, "text");
    }
    return new Text(text, format);
  }

  /** The reason given for a file over {@link #MAX_INDEXED_BYTES}, with both sizes readable. */
  public static Skipped tooLarge(long size) {
    return new Skipped(
        "too large to index: " + humanSize(size) + " > " + humanSize(MAX_INDEXED_BYTES));
  }

  static String humanSize(long bytes) {
    if (bytes < 1024) {
      return bytes + " B";
    }
    String[] units = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    double value = bytes;
    int unit = -1;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit++;
    }
    return String.format(Locale.ROOT, "%.1f %s", value, units[unit]);
  }

  static String formatOf(String fileName) {
    String name = fileName.substring(fileName.lastIndexOf('/') + 1);
    int dot = name.lastIndexOf('.');
    if (dot <= 0) { // no extension, or a dotfile such as .bashrc
      return "text";
    }
    return FORMAT_BY_EXTENSION.getOrDefault(
        name.substring(dot + 1).toLowerCase(Locale.ROOT), "text");
  }

  private static Map<String, String> formats() {
    var map = new HashMap<String, String>();
    for (String ext : "md markdown".split(" ")) {
      map.put(ext, "markdown");
    }
    for (String ext : "html htm xhtml".split(" ")) {
      map.put(ext, "html");
    }
    for (String ext : "json jsonl ndjson".split(" ")) {
      map.put(ext, "json");
    }
    for (String ext : "yaml yml".split(" ")) {
      map.put(ext, "yaml");
    }
    map.put("pdf", "pdf");
    map.put("svg", "svg");
    String code =
        "c h cc cpp cxx hpp hh cs java kt kts scala groovy gradle py pyi go rs js mjs cjs jsx ts"
            + " tsx rb php pl pm lua r swift m mm sh bash zsh fish ps1 bat sql css scss less xml"
            + " xsd xsl toml ini cfg conf properties cmake mk make dockerfile proto el clj hs"
            + " ml ex exs erl dart zig nim vue";
    for (String ext : code.split(" ")) {
      map.put(ext, "code");
    }
    return Map.copyOf(map); // txt, rst, adoc, csv, tex, log and unknown extensions are "text"
  }

  private static boolean startsWith(byte[] content, byte[] prefix) {
    if (content.length < prefix.length) {
      return false;
    }
    for (int i = 0; i < prefix.length; i++) {
      if (content[i] != prefix[i]) {
        return false;
      }
    }
    return true;
  }

  private static int bomLength(byte[] c) {
    if (c.length >= 3 && (c[0] & 0xff) == 0xef && (c[1] & 0xff) == 0xbb && (c[2] & 0xff) == 0xbf) {
      return 3;
    }
    return bomCharset(c) == StandardCharsets.UTF_8 ? 0 : 2;
  }

  private static Charset bomCharset(byte[] c) {
    if (c.length >= 2 && (c[0] & 0xff) == 0xff && (c[1] & 0xff) == 0xfe) {
      return StandardCharsets.UTF_16LE;
    }
    if (c.length >= 2 && (c[0] & 0xff) == 0xfe && (c[1] & 0xff) == 0xff) {
      return StandardCharsets.UTF_16BE;
    }
    return StandardCharsets.UTF_8;
  }

  /** Never throws: malformed input becomes U+FFFD. */
  private static String decode(byte[] content, int offset, Charset charset) {
    return new String(content, offset, content.length - offset, charset);
  }

  /**
   * Sniffs the first {@link #SNIFF_BYTES} after the BOM: binary if it decodes to a NUL, or if more
   * than 30% of its characters are control characters (other than tab, newlines, form feed and ESC,
   * which appears in coloured logs) or replacement characters for undecodable bytes.
   */
  static boolean looksBinary(byte[] content, int offset, Charset charset) {
    int length = Math.min(SNIFF_BYTES, content.length - offset);
    if (charset != StandardCharsets.UTF_8) {
      length &= ~1;
    }
    String sample = new String(content, offset, length, charset);
    int suspicious = 0;
    for (int i = 0; i < sample.length(); i++) {
      char c = sample.charAt(i);
      if (c == 0) {
        return true;
      }
      boolean allowedControl = c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == 0x1b;
      if ((c < 0x20 && !allowedControl) || c == 0x7f || c == '\uFFFD') {
        suspicious++;
      }
    }
    return suspicious * 10L > sample.length() * 3L;
  }

  private static Result pdf(byte[] content) {
    // The memory-only cache keeps PDFBox from spilling decoded streams into temp files.
    try (PDDocument doc =
        Loader.loadPDF(content, "", null, null, IOUtils.createMemoryOnlyStreamCache())) {
      // A PDF that opens with the empty user password (owner-password "protection" only) is
      // readable by any viewer, so it is indexed like any other.
      PDFTextStripper stripper = new PDFTextStripper();
      stripper.setEndPage(MAX_PDF_PAGES);
      return new Text(stripper.getText(doc), "pdf");
    } catch (InvalidPasswordException e) {
      return new Skipped("encrypted PDF (needs a password)");
    } catch (IOException | RuntimeException e) {
      // PDFBox messages can quote tokens from the file, so only the exception type is kept.
      return new Skipped("unreadable PDF (" + e.getClass().getSimpleName() + ")");
    }
  }

  /**
   * An SVG image: only the words a reader sees or a screen reader speaks (title, desc, text).
   * Its path data and styles are markup, not text, and indexed as such they match every query
   * about drawings, coordinates or colours.
   */
  private static Result svg(byte[] content) {
    Document doc;
    try {
      doc = Jsoup.parse(new ByteArrayInputStream(content), null, "", Parser.xmlParser());
    } catch (IOException e) {
      return new Skipped("unreadable SVG (" + e.getClass().getSimpleName() + ")");
    }
    StringBuilder out = new StringBuilder();
    for (Element e : doc.select("title, desc, text")) {
      String t = e.text().strip();
      if (!t.isEmpty()) {
        out.append(t).append('\n');
      }
    }
    return out.isEmpty() ? new Skipped("SVG image without text") : new Text(tidy(out), "svg");
  }

  private static Result html(byte[] content) {
    Document doc;
    try {
      // A null charset lets jsoup honour a BOM or <meta charset>, defaulting to UTF-8.
      doc = Jsoup.parse(new ByteArrayInputStream(content), null, "");
    } catch (IOException e) {
      return new Skipped("unreadable HTML (" + e.getClass().getSimpleName() + ")");
    }
    doc.select("script, style, noscript, template, svg, [hidden]").remove();
    StringBuilder out = new StringBuilder();
    new HtmlText(out).traverse(doc);
    return new Text(tidy(out), "html");
  }

  /**
   * Appends visible text, one newline around block elements and a blank line around paragraphs.
   * Breaks between adjacent blocks merge rather than add up, so nested divs give one newline.
   */
  private static final class HtmlText implements NodeVisitor {
    private final StringBuilder out;
    private int preDepth;
    private int pendingNewlines;

    HtmlText(StringBuilder out) {
      this.out = out;
    }

    @Override
    public void head(Node node, int depth) {
      if (node instanceof TextNode text) {
        String s = preDepth > 0 ? text.getWholeText() : text.text();
        if (!s.isBlank()) {
          out.append("\n".repeat(pendingNewlines));
          pendingNewlines = 0;
        }
        out.append(s);
      } else if (node instanceof Element element) {
        if (element.normalName().equals("pre") || element.normalName().equals("textarea")) {
          preDepth++;
        }
        if (element.normalName().equals("br")) {
          out.append('\n'); // consecutive <br>s do add up, as they do on screen
        }
        blockBreak(element);
      }
    }

    @Override
    public void tail(Node node, int depth) {
      if (node instanceof Element element) {
        if (element.normalName().equals("pre") || element.normalName().equals("textarea")) {
          preDepth--;
        }
        blockBreak(element);
      }
    }

    private void blockBreak(Element element) {
      if (PARAGRAPH_TAGS.contains(element.normalName())) {
        pendingNewlines = 2;
      } else if (element.isBlock()) {
        pendingNewlines = Math.max(pendingNewlines, 1);
      }
    }
  }

  /**
   * Collapses runs of horizontal whitespace to one space, trims every line, keeps at most one blank
   * line between paragraphs, and trims the whole. One linear pass.
   */
  static String tidy(CharSequence s) {
    StringBuilder out = new StringBuilder(s.length());
    int newlines = 0;
    boolean space = false;
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c == '\n') {
        newlines++;
        space = false;
      } else if (Character.isWhitespace(c) || c == '\u00a0') {
        space = newlines == 0;
      } else {
        if (out.length() > 0) {
          if (newlines > 0) {
            out.append(newlines > 1 ? "\n\n" : "\n");
          } else if (space) {
            out.append(' ');
          }
        }
        newlines = 0;
        space = false;
        out.append(c);
      }
    }
    return out.toString();
  }

  /**
   * One {@code key: value} line per scalar (array elements take their array's key; null is
   * dropped), or null if the input is not JSON. Several top-level values (JSON Lines) are accepted.
   * Output is bounded to a few times the input, so a long key over a huge array cannot blow up.
   */
  static String json(String raw) {
    long budget = 4L * raw.length() + 4096;
    StringBuilder out = new StringBuilder(raw.length());
    Deque<String> keys = new ArrayDeque<>();
    String key = null;
    try (JsonParser parser = JSON.createParser(raw)) {
      JsonToken token;
      while ((token = parser.nextToken()) != null) {
        switch (token) {
          case START_OBJECT, START_ARRAY -> keys.push(key == null ? "" : key);
          case END_OBJECT, END_ARRAY -> {
            String outer = keys.pop();
            key = outer.isEmpty() ? null : outer;
          }
          case FIELD_NAME -> key = parser.currentName();
          case VALUE_NULL -> {}
          default -> {
            if (key != null) {
              out.append(key).append(": ");
            }
            out.append(parser.getText()).append('\n');
            if (out.length() > budget) {
              return null;
            }
          }
        }
      }
    } catch (IOException e) {
      return null;
    }
    return out.toString();
  }
}
