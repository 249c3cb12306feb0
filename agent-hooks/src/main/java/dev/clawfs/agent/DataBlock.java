package dev.clawfs.agent;

import java.util.regex.Pattern;

/**
 * How untrusted content is handed to the model: wrapped as {@code <data source="..." id="N">...
 * </data>}, with anything inside that could close the block or open another one neutralised, so
 * content cannot step outside its delimiters. The system prompt tells the model what the blocks
 * mean.
 */
final class DataBlock {

  private static final Pattern TAG = Pattern.compile("<(\\s*/?\\s*data)", Pattern.CASE_INSENSITIVE);

  private DataBlock() {}

  static String wrap(String source, int id, String extraAttributes, String content) {
    return "<data source=\""
        + attribute(source)
        + "\" id=\""
        + id
        + "\""
        + extraAttributes
        + ">\n"
        + neutralise(content)
        + "\n</data>";
  }

  /** The empty block put where withheld content would have been. */
  static String withheld(String source, int id, String extraAttributes) {
    return "<data source=\""
        + attribute(source)
        + "\" id=\""
        + id
        + "\""
        + extraAttributes
        + " withheld=\"true\"></data>";
  }

  /** {@code <data} and {@code </data} (any case, any spacing) lose their {@code <}. */
  static String neutralise(String content) {
    return TAG.matcher(content).replaceAll("&lt;$1");
  }

  static String attribute(String value) {
    StringBuilder b = new StringBuilder(value.length());
    for (int i = 0; i < value.length(); i++) {
      char c = value.charAt(i);
      switch (c) {
        case '"' -> b.append("&quot;");
        case '<' -> b.append("&lt;");
        case '>' -> b.append("&gt;");
        case '&' -> b.append("&amp;");
        default -> b.append(Character.isISOControl(c) ? ' ' : c);
      }
    }
    return b.toString();
  }
}
