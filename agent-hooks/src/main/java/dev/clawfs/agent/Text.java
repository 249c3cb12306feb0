package dev.clawfs.agent;

/** Small text helpers shared by the loop, the transcript and the client. */
final class Text {

  private Text() {}

  /** {@code s} cut to at most {@code max} characters, marked with "..." when cut. */
  static String cut(String s, int max) {
    if (s == null) {
      return null;
    }
    if (s.length() <= max) {
      return s;
    }
    int end = max - 3;
    // never split a surrogate pair
    if (end > 0 && Character.isHighSurrogate(s.charAt(end - 1))) {
      end--;
    }
    return s.substring(0, Math.max(end, 0)) + "...";
  }

  /** {@code s} on one line: control characters become spaces (for error messages). */
  static String oneLine(String s) {
    StringBuilder b = new StringBuilder(s.length());
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      b.append(Character.isISOControl(c) ? ' ' : c);
    }
    return b.toString().strip();
  }

  /** Every occurrence of {@code secret} in {@code s} replaced, so no message can carry it. */
  static String redact(String s, String secret) {
    if (s == null || secret == null || secret.isEmpty()) {
      return s;
    }
    return s.replace(secret, "[redacted]");
  }
}
