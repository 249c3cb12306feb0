package dev.clawfs.policy;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * A model endpoint's URL, or an endpoint pattern, taken apart for matching: scheme, host, port
 * and path. Matching is on these parts, never on the text, so {@code
 * https://api.example.com.evil.net} is not {@code https://api.example.com}.
 *
 * <p>Parts are canonical: the scheme is {@code http} or {@code https}; a host name is lower-case
 * without a trailing dot; an IPv4 host is four decimal numbers; an IPv6 host is its eight groups
 * in brackets ({@code [0:0:0:0:0:0:0:1]}), and an IPv4-mapped IPv6 address is its IPv4 address;
 * the port is a number, defaulted from the scheme (80, 443); the path is percent-decoded, has no
 * empty, "." or ".." segment and no trailing "/", and is "" for the root. What a parser elsewhere
 * could read differently (a backslash, spaces, an encoded "/", "127.1" for 127.0.0.1, user info)
 * is refused rather than guessed at.
 */
final class EndpointUrl {

  /** {@link #port} of a pattern written with port "*". */
  static final int ANY_PORT = -1;

  /** Whether the host is a name, an IPv4 address or an IPv6 address. */
  enum HostKind {
    NAME,
    IPV4,
    IPV6
  }

  final String scheme;
  /** The canonical host; for a wildcard pattern, the domain after "*.". */
  final String host;
  final HostKind hostKind;
  /** A pattern whose host is "*.domain": matches names with one or more labels before domain. */
  final boolean wildcardHost;
  final int port;
  final String path;

  private EndpointUrl(String scheme, String host, HostKind hostKind, boolean wildcardHost,
      int port, String path) {
    this.scheme = scheme;
    this.host = host;
    this.hostKind = hostKind;
    this.wildcardHost = wildcardHost;
    this.port = port;
    this.path = path;
  }

  /**
   * Parses the URL a caller is about to use. The query and fragment are ignored: they do not
   * change where the request goes.
   *
   * @throws IllegalArgumentException with the reason it is refused
   */
  static EndpointUrl parseUrl(String text) {
    return parse(text, false);
  }

  /**
   * Parses an endpoint pattern {@code scheme://host[:port][/path-prefix]}: the host may be
   * {@code *.domain} and the port {@code *}; there is no query or fragment.
   *
   * @throws IllegalArgumentException with the reason it is not a pattern
   */
  static EndpointUrl parsePattern(String text) {
    return parse(text, true);
  }

  /** Whether {@code url}, a parsed URL, matches this pattern. */
  boolean matches(EndpointUrl url) {
    if (!scheme.equals(url.scheme) || port != ANY_PORT && port != url.port) {
      return false;
    }
    if (wildcardHost) {
      if (url.hostKind != HostKind.NAME || url.host.length() <= host.length() + 1
          || !url.host.endsWith(host)
          || url.host.charAt(url.host.length() - host.length() - 1) != '.') {
        return false;
      }
    } else if (!host.equals(url.host)) {
      return false;
    }
    return path.isEmpty() || url.path.equals(path)
        || url.path.startsWith(path) && url.path.charAt(path.length()) == '/';
  }

  @Override
  public String toString() {
    return scheme + "://" + (wildcardHost ? "*." : "") + host + ":"
        + (port == ANY_PORT ? "*" : String.valueOf(port)) + path;
  }

  /**
   * {@code url} as it may be quoted in a decision or the audit: without its user info (replaced
   * by "***"), query and fragment, which can carry keys, and with characters that could break a
   * line or a quote escaped.
   */
  static String display(String url) {
    int cut = url.length();
    for (int i = 0; i < url.length(); i++) {
      if (url.charAt(i) == '?' || url.charAt(i) == '#') {
        cut = i;
        break;
      }
    }
    String s = url.substring(0, cut);
    int authority = s.indexOf("://");
    authority = authority < 0 ? 0 : authority + 3;
    int slash = s.indexOf('/', authority);
    int end = slash < 0 ? s.length() : slash;
    int at = s.lastIndexOf('@', end - 1);
    if (at >= authority) {
      s = s.substring(0, authority) + "***" + s.substring(at);
    }
    return Names.printable(s, 200);
  }

  private static EndpointUrl parse(String text, boolean pattern) {
    for (int i = 0; i < text.length(); i++) {
      char c = text.charAt(i);
      if (c <= 0x20 || c == 0x7f) {
        throw new IllegalArgumentException("spaces and control characters are not allowed"
            + " (found " + Names.describeChar(c) + ")");
      }
      if (c == '\\') {
        throw new IllegalArgumentException("a backslash is not allowed");
      }
    }
    int sep = text.indexOf("://");
    if (sep <= 0) {
      throw new IllegalArgumentException(pattern
          ? "write scheme://host[:port][/path], such as \"https://openrouter.ai/api/v1\""
          : "not an absolute URL (scheme://host[:port]/path)");
    }
    String scheme = text.substring(0, sep).toLowerCase(Locale.ROOT);
    if (!scheme.equals("http") && !scheme.equals("https")) {
      throw new IllegalArgumentException("the scheme must be http or https (found \""
          + Names.printable(text.substring(0, sep), 20) + "\")");
    }
    int start = sep + 3;
    int end = start;
    while (end < text.length() && "/?#".indexOf(text.charAt(end)) < 0) {
      end++;
    }
    String authority = text.substring(start, end);
    if (authority.indexOf('@') >= 0) {
      throw new IllegalArgumentException("a user name or password (\"user:password@\") is not"
          + " allowed; send credentials in a header");
    }
    String hostText;
    String portText = null;
    if (authority.startsWith("[")) {
      int close = authority.indexOf(']');
      if (close < 0) {
        throw new IllegalArgumentException("the IPv6 address has no closing ']'");
      }
      hostText = authority.substring(0, close + 1);
      String after = authority.substring(close + 1);
      if (after.startsWith(":")) {
        portText = after.substring(1);
      } else if (!after.isEmpty()) {
        throw new IllegalArgumentException("unexpected \"" + Names.printable(after, 40)
            + "\" after the IPv6 address; a port is written \"]:8080\"");
      }
    } else {
      int colon = authority.indexOf(':');
      if (colon >= 0 && authority.indexOf(':', colon + 1) >= 0) {
        throw new IllegalArgumentException("an IPv6 address must be in brackets"
            + " (\"http://[::1]:8080\")");
      }
      hostText = colon < 0 ? authority : authority.substring(0, colon);
      portText = colon < 0 ? null : authority.substring(colon + 1);
    }
    boolean wildcard = false;
    String host;
    HostKind kind;
    if (hostText.startsWith("[")) {
      host = ipv6(hostText.substring(1, hostText.length() - 1));
      kind = host.startsWith("[") ? HostKind.IPV6 : HostKind.IPV4;
    } else {
      if (pattern && hostText.equals("*")) {
        throw new IllegalArgumentException("a wildcard host needs a domain after \"*.\""
            + " (\"*.example.com\"); no pattern matches every host");
      }
      if (pattern && hostText.startsWith("*.")) {
        wildcard = true;
        hostText = hostText.substring(2);
        if (hostText.isEmpty() || hostText.equals(".")) {
          throw new IllegalArgumentException("a wildcard host needs a domain after \"*.\""
              + " (\"*.example.com\")");
        }
      }
      if (hostText.indexOf('*') >= 0) {
        throw new IllegalArgumentException(pattern
            ? "'*' may only be the whole first label of a host (\"*.example.com\")"
            : "the host may only contain letters, digits, '-', '_' and '.' (found '*')");
      }
      host = name(hostText);
      kind = looksNumeric(host) ? HostKind.IPV4 : HostKind.NAME;
      if (kind == HostKind.IPV4) {
        if (wildcard) {
          throw new IllegalArgumentException("a wildcard host needs a domain name after \"*.\","
              + " not an address");
        }
        host = ipv4(host);
      }
    }
    int port;
    if (portText == null) {
      port = scheme.equals("https") ? 443 : 80;
    } else if (pattern && portText.equals("*")) {
      port = ANY_PORT;
    } else {
      port = port(portText, pattern);
    }
    String rest = text.substring(end);
    int query = rest.length();
    for (int i = 0; i < rest.length(); i++) {
      if (rest.charAt(i) == '?' || rest.charAt(i) == '#') {
        query = i;
        break;
      }
    }
    if (pattern && query < rest.length()) {
      throw new IllegalArgumentException("a pattern has no query or fragment ('?' or '#')");
    }
    String rawPath = rest.substring(0, query);
    if (pattern && rawPath.indexOf('*') >= 0) {
      throw new IllegalArgumentException("the path is a prefix and takes no '*': \"/api\" matches"
          + " /api and every path below it");
    }
    return new EndpointUrl(scheme, host, kind, wildcard, port, path(rawPath));
  }

  /** A host name, lower-cased, without a trailing dot; labels of a-z, 0-9, '-' and '_'. */
  private static String name(String text) {
    String s = text.endsWith(".") ? text.substring(0, text.length() - 1) : text;
    if (s.isEmpty()) {
      throw new IllegalArgumentException("the host is empty");
    }
    if (s.length() > 253) {
      throw new IllegalArgumentException("the host is longer than 253 characters");
    }
    StringBuilder out = new StringBuilder(s.length());
    int label = 0;
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c >= 'A' && c <= 'Z') {
        c = (char) (c + ('a' - 'A'));
      }
      if (c == '.') {
        if (label == 0) {
          throw new IllegalArgumentException("the host has an empty label (\"..\" or a leading"
              + " \".\")");
        }
        label = 0;
      } else if (c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
        if (++label > 63) {
          throw new IllegalArgumentException("a label of the host is longer than 63 characters");
        }
      } else if (c > 0x7f) {
        throw new IllegalArgumentException("the host must be ASCII; write an international name"
            + " in its xn-- form");
      } else {
        throw new IllegalArgumentException("the host may only contain letters, digits, '-', '_'"
            + " and '.' (found " + Names.describeChar(c) + ")");
      }
      out.append(c);
    }
    if (label == 0) {
      throw new IllegalArgumentException("the host has an empty label (\"..\" or a leading"
          + " \".\")");
    }
    return out.toString();
  }

  /** Whether the last label is a number (or "0x..."): then the host must be an IPv4 address. */
  private static boolean looksNumeric(String host) {
    String last = host.substring(host.lastIndexOf('.') + 1);
    return last.startsWith("0x") || last.chars().allMatch(c -> c >= '0' && c <= '9');
  }

  /** Four decimal numbers 0-255 without leading zeros; "127.1" or "0x7f.0.0.1" are refused. */
  private static String ipv4(String text) {
    int[] parts = ipv4Parts(text);
    if (parts == null) {
      throw new IllegalArgumentException("\"" + Names.printable(text, 60) + "\" is not an IPv4"
          + " address of four decimal numbers 0-255 without leading zeros (such as 127.0.0.1)");
    }
    return parts[0] + "." + parts[1] + "." + parts[2] + "." + parts[3];
  }

  private static int[] ipv4Parts(String text) {
    String[] parts = text.split("\\.", -1);
    if (parts.length != 4) {
      return null;
    }
    int[] out = new int[4];
    for (int i = 0; i < 4; i++) {
      String p = parts[i];
      if (p.isEmpty() || p.length() > 3 || p.length() > 1 && p.charAt(0) == '0'
          || !p.chars().allMatch(c -> c >= '0' && c <= '9')) {
        return null;
      }
      out[i] = Integer.parseInt(p);
      if (out[i] > 255) {
        return null;
      }
    }
    return out;
  }

  /** An IPv6 address in canonical form, or its IPv4 address when it is IPv4-mapped. */
  private static String ipv6(String text) {
    if (text.indexOf('%') >= 0) {
      throw new IllegalArgumentException("an IPv6 zone index ('%') is not supported");
    }
    int[] groups = ipv6Groups(text);
    if (groups == null) {
      throw new IllegalArgumentException("\"[" + Names.printable(text, 60) + "]\" is not an IPv6"
          + " address");
    }
    boolean mapped = groups[5] == 0xffff;
    for (int i = 0; i < 5; i++) {
      mapped &= groups[i] == 0;
    }
    if (mapped) {
      return (groups[6] >> 8) + "." + (groups[6] & 0xff) + "." + (groups[7] >> 8) + "."
          + (groups[7] & 0xff);
    }
    StringBuilder s = new StringBuilder("[");
    for (int i = 0; i < 8; i++) {
      s.append(i == 0 ? "" : ":").append(Integer.toHexString(groups[i]));
    }
    return s.append(']').toString();
  }

  private static int[] ipv6Groups(String text) {
    int gap = text.indexOf("::");
    if (gap >= 0 && text.indexOf("::", gap + 1) >= 0) {
      return null;
    }
    List<Integer> head = ipv6Part(gap < 0 ? text : text.substring(0, gap), gap < 0);
    List<Integer> tail = gap < 0 ? List.of() : ipv6Part(text.substring(gap + 2), true);
    if (head == null || tail == null) {
      return null;
    }
    int n = head.size() + tail.size();
    if (gap < 0 ? n != 8 : n > 7) {
      return null;
    }
    int[] groups = new int[8];
    for (int i = 0; i < head.size(); i++) {
      groups[i] = head.get(i);
    }
    for (int i = 0; i < tail.size(); i++) {
      groups[8 - tail.size() + i] = tail.get(i);
    }
    return groups;
  }

  /** Colon-separated groups of 1 to 4 hex digits; the last may be a dotted IPv4 address. */
  private static List<Integer> ipv6Part(String text, boolean ipv4Last) {
    List<Integer> out = new ArrayList<>();
    if (text.isEmpty()) {
      return out;
    }
    String[] parts = text.split(":", -1);
    for (int i = 0; i < parts.length; i++) {
      String p = parts[i];
      if (i == parts.length - 1 && ipv4Last && p.indexOf('.') >= 0) {
        int[] v4 = ipv4Parts(p);
        if (v4 == null) {
          return null;
        }
        out.add(v4[0] << 8 | v4[1]);
        out.add(v4[2] << 8 | v4[3]);
        continue;
      }
      if (p.isEmpty() || p.length() > 4) {
        return null;
      }
      for (int j = 0; j < p.length(); j++) {
        if (Character.digit(p.charAt(j), 16) < 0) {
          return null;
        }
      }
      out.add(Integer.parseInt(p, 16));
    }
    return out;
  }

  private static int port(String text, boolean pattern) {
    int value = -1;
    if (!text.isEmpty() && text.length() <= 5 && text.chars().allMatch(c -> c >= '0' && c <= '9')) {
      value = Integer.parseInt(text);
    }
    if (value < 1 || value > 65535) {
      throw new IllegalArgumentException("bad port \"" + Names.printable(text, 20) + "\": a port is"
          + " a number from 1 to 65535" + (pattern ? " or \"*\"" : ""));
    }
    return value;
  }

  /**
   * The path, percent-decoded, checked and without a trailing "/" ("" for the root). An encoded
   * "/" or "\" and "." or ".." segments are refused: a server may read them as another path.
   */
  private static String path(String raw) {
    if (raw.isEmpty() || raw.equals("/")) {
      return "";
    }
    String decoded = decode(raw);
    String p = decoded.endsWith("/") ? decoded.substring(0, decoded.length() - 1) : decoded;
    int start = 1;
    for (int i = 1; i <= p.length(); i++) {
      if (i == p.length() || p.charAt(i) == '/') {
        String segment = p.substring(start, i);
        if (segment.isEmpty()) {
          throw new IllegalArgumentException("the path has an empty segment (\"//\")");
        }
        if (segment.equals(".") || segment.equals("..")) {
          throw new IllegalArgumentException("the path has a \"" + segment + "\" segment");
        }
        start = i + 1;
      }
    }
    return p;
  }

  private static String decode(String raw) {
    if (raw.indexOf('%') < 0) {
      return raw;
    }
    StringBuilder out = new StringBuilder(raw.length());
    int i = 0;
    while (i < raw.length()) {
      if (raw.charAt(i) != '%') {
        out.append(raw.charAt(i++));
        continue;
      }
      ByteArrayOutputStream run = new ByteArrayOutputStream();
      while (i < raw.length() && raw.charAt(i) == '%') {
        int hi = i + 2 < raw.length() ? Character.digit(raw.charAt(i + 1), 16) : -1;
        int lo = hi < 0 ? -1 : Character.digit(raw.charAt(i + 2), 16);
        if (lo < 0) {
          throw new IllegalArgumentException("bad percent-escape in the path (\"%\" must be"
              + " followed by two hex digits)");
        }
        int b = hi << 4 | lo;
        if (b == '/' || b == '\\') {
          throw new IllegalArgumentException("an encoded '/' or '\\' (%2F, %5C) is not allowed in"
              + " the path");
        }
        if (b < 0x20 || b == 0x7f) {
          throw new IllegalArgumentException("an encoded control character is not allowed in the"
              + " path");
        }
        run.write(b);
        i += 3;
      }
      try {
        out.append(StandardCharsets.UTF_8.newDecoder()
            .onMalformedInput(CodingErrorAction.REPORT)
            .onUnmappableCharacter(CodingErrorAction.REPORT)
            .decode(ByteBuffer.wrap(run.toByteArray())));
      } catch (CharacterCodingException e) {
        throw new IllegalArgumentException("the path is not UTF-8 once percent-decoded");
      }
    }
    return out.toString();
  }
}
