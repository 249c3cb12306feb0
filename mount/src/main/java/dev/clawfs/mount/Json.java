package dev.clawfs.mount;

import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;

/** Builds one JSON object per audit line, by hand: the drain loop formats thousands a second. */
final class Json {
  private static final DateTimeFormatter ISO =
      DateTimeFormatter.ofPattern("uuuu-MM-dd'T'HH:mm:ss.SSSX").withZone(ZoneOffset.UTC);

  private final StringBuilder b = new StringBuilder(256);
  private boolean first = true;

  /** The formatted second last asked for, so most calls only append the milliseconds. */
  private record Second(long second, String prefix) {}

  private static volatile Second last = new Second(Long.MIN_VALUE, "");

  /** ISO-8601 in UTC with milliseconds: {@code 2025-03-01T12:00:00.123Z}. */
  static String isoTime(long millis) {
    long sec = Math.floorDiv(millis, 1000);
    Second s = last;
    if (s.second() != sec) {
      String full = ISO.format(java.time.Instant.ofEpochMilli(sec * 1000));
      s = new Second(sec, full.substring(0, full.length() - 4)); // without "000Z"
      last = s;
    }
    int ms = (int) Math.floorMod(millis, 1000);
    return s.prefix() + (char) ('0' + ms / 100) + (char) ('0' + ms / 10 % 10) + (char) ('0' + ms % 10) + 'Z';
  }

  Json start() {
    b.setLength(0);
    b.append('{');
    first = true;
    return this;
  }

  private void key(String k) {
    if (!first) {
      b.append(',');
    }
    first = false;
    b.append('"').append(k).append("\":");
  }

  Json str(String k, String v) {
    key(k);
    if (v == null) {
      b.append("null");
    } else {
      quote(b, v);
    }
    return this;
  }

  /** Only when {@code v} is not null. */
  Json optStr(String k, String v) {
    return v == null ? this : str(k, v);
  }

  Json num(String k, long v) {
    key(k);
    b.append(v);
    return this;
  }

  /** The object as one line, ending in '\n'. */
  String line() {
    return b.append("}\n").toString();
  }

  static void quote(StringBuilder b, String s) {
    b.append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"' -> b.append("\\\"");
        case '\\' -> b.append("\\\\");
        case '\n' -> b.append("\\n");
        case '\r' -> b.append("\\r");
        case '\t' -> b.append("\\t");
        default -> {
          if (c < 0x20 || c == 0x7f || Character.isSurrogate(c) && !validSurrogate(s, i)) {
            b.append(String.format("\\u%04x", (int) c));
          } else {
            b.append(c);
          }
        }
      }
    }
    b.append('"');
  }

  private static boolean validSurrogate(String s, int i) {
    char c = s.charAt(i);
    if (Character.isHighSurrogate(c)) {
      return i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1));
    }
    return i > 0 && Character.isHighSurrogate(s.charAt(i - 1));
  }
}
