package dev.clawfs.policy;

import java.util.Locale;
import java.util.Set;

/** One entry of a policy file's {@code anomalies} list. */
record AnomalyRule(
    String name,
    String source,
    int line,
    SubjectSelector subject,
    Kind kind,
    int count,
    long windowMillis,
    Set<String> programs) {

  /** What an anomaly rule counts. */
  enum Kind {
    DENIALS(Activity.DENIED),
    READS(Activity.READ),
    EXEC(Activity.EXEC);

    final Activity activity;

    Kind(Activity activity) {
      this.activity = activity;
    }

    String id() {
      return name().toLowerCase(Locale.ROOT);
    }
  }

  AnomalyRule {
    programs = Set.copyOf(programs);
  }

  /** {@code file:line}, for the anomaly report. */
  String where() {
    return source + ":" + line;
  }
}
