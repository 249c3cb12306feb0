package dev.clawfs.mount;

import java.util.ArrayList;
import java.util.List;

/**
 * The answer of {@code system/health}: one line per check, failing checks first. The first line
 * is {@code ok} when no check fails (warnings do not fail it), else {@code unhealthy: } and the
 * failing checks' names; then {@code NAME: ok|WARN|FAIL: what}. {@code clawfs status} exits 6
 * when the first line is not {@code ok}.
 *
 * <p>Everyone may read it (the default policy lets agents too, as they may read system/). A
 * check's own words are built from counts and fixed phrases; the error messages of subsystems
 * (which may name a file or a path) are added only for root, as {@link Check#rootDetail}.
 */
final class Health {
  enum Status {
    OK("ok"), WARN("WARN"), FAIL("FAIL");

    final String word;

    Status(String word) {
      this.word = word;
    }
  }

  /** One check: its name, verdict and what it found; {@code rootDetail} (or null) only root reads. */
  record Check(String name, Status status, String detail, String rootDetail) {
    static Check ok(String name, String detail) {
      return new Check(name, Status.OK, detail, null);
    }

    static Check warn(String name, String detail) {
      return new Check(name, Status.WARN, detail, null);
    }

    static Check fail(String name, String detail) {
      return new Check(name, Status.FAIL, detail, null);
    }

    Check withRootDetail(String d) {
      return new Check(name, status, detail, d);
    }
  }

  private final List<Check> checks;

  Health(List<Check> checks) {
    this.checks = List.copyOf(checks);
  }

  List<Check> checks() {
    return checks;
  }

  boolean ok() {
    return checks.stream().noneMatch(c -> c.status() == Status.FAIL);
  }

  List<String> failing() {
    return checks.stream().filter(c -> c.status() == Status.FAIL).map(Check::name).toList();
  }

  /** The text of system/health for a caller; root sees the subsystems' error messages too. */
  String text(boolean root) {
    StringBuilder b = new StringBuilder();
    b.append(ok() ? "ok" : "unhealthy: " + String.join(", ", failing())).append('\n');
    List<Check> ordered = new ArrayList<>(checks);
    ordered.sort(java.util.Comparator.comparingInt(c -> -c.status().ordinal()));
    for (Check c : ordered) {
      b.append(c.name()).append(": ").append(c.status().word).append(": ").append(oneLine(c.detail()));
      if (c.rootDetail() != null) {
        b.append(root ? " (" + oneLine(c.rootDetail()) + ")" : " (details for root, and in the server log)");
      }
      b.append('\n');
    }
    return b.toString();
  }

  private static String oneLine(String s) {
    return s.replace('\n', ' ').replace('\r', ' ');
  }
}
