package dev.clawfs.policy;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Watches what subjects do and reports when an anomaly rule of the policies fires.
 *
 * <p>Counting rules ({@code denials}, {@code reads}) fire when a subject's {@code count}-th event
 * falls within {@code window} of the first of them: with times in milliseconds, when the last
 * {@code count} events of that subject satisfy {@code newest - oldest < window}. Firing then
 * forgets that subject's events for the rule, so the next report needs {@code count} new events:
 * a flood is reported once per {@code count} events, not on every event after the threshold.
 * Exec rules fire on every exec of a listed program (matched by the basename of its path).
 *
 * <p>Memory is bounded: each counting rule tracks at most {@code maxSubjects} subjects, dropping
 * the one whose last event is oldest, and at most {@code count} times per subject. Thread-safe;
 * callers should pass times that do not go backwards (an earlier time counts as within the
 * window).
 */
public final class AnomalyDetector {

  /** Subjects tracked per counting rule when not told otherwise. */
  public static final int DEFAULT_MAX_SUBJECTS = 1024;

  private final Tracker[][] byActivity = new Tracker[Activity.values().length][];

  private AnomalyDetector(List<AnomalyRule> rules, int maxSubjects) {
    for (Activity activity : Activity.values()) {
      List<Tracker> trackers = new ArrayList<>();
      for (AnomalyRule r : rules) {
        if (r.kind().activity == activity) {
          trackers.add(new Tracker(r, maxSubjects));
        }
      }
      byActivity[activity.ordinal()] = trackers.toArray(new Tracker[0]);
    }
  }

  /** A detector for the anomaly rules of {@code policies}. */
  public static AnomalyDetector create(PolicySet policies) {
    return create(policies, DEFAULT_MAX_SUBJECTS);
  }

  /** A detector tracking at most {@code maxSubjects} subjects per counting rule. */
  public static AnomalyDetector create(PolicySet policies, int maxSubjects) {
    if (maxSubjects < 1) {
      throw new IllegalArgumentException("maxSubjects must be at least 1");
    }
    return new AnomalyDetector(policies.anomalyRules(), maxSubjects);
  }

  /**
   * Records one event and returns the anomalies it makes fire, usually none.
   *
   * @param timeMillis when it happened (any clock, as long as it is the same for all events)
   * @param detail the path, or for {@link Activity#EXEC} the program's path
   */
  public List<Anomaly> observe(long timeMillis, Subject subject, Activity activity,
      String detail) {
    Objects.requireNonNull(subject, "subject");
    List<Anomaly> fired = null;
    for (Tracker t : byActivity[activity.ordinal()]) {
      if (!t.rule.subject().matches(subject)) {
        continue;
      }
      Anomaly a = t.record(timeMillis, subject, detail);
      if (a != null) {
        if (fired == null) {
          fired = new ArrayList<>(2);
        }
        fired.add(a);
      }
    }
    return fired == null ? List.of() : List.copyOf(fired);
  }

  private static String basename(String program) {
    if (program == null) {
      return "";
    }
    int slash = program.lastIndexOf('/');
    return slash < 0 ? program : program.substring(slash + 1);
  }

  /** One rule's state: a window of recent event times per subject, least recently seen first. */
  private static final class Tracker {
    final AnomalyRule rule;
    private final Map<Subject, Window> windows;

    Tracker(AnomalyRule rule, int maxSubjects) {
      this.rule = rule;
      this.windows =
          new LinkedHashMap<>(16, 0.75f, true) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<Subject, Window> eldest) {
              return size() > maxSubjects;
            }
          };
    }

    Anomaly record(long time, Subject subject, String detail) {
      if (rule.kind() == AnomalyRule.Kind.EXEC) {
        return rule.programs().contains(basename(detail)) ? anomaly(subject, time, detail) : null;
      }
      synchronized (this) {
        Window w = windows.computeIfAbsent(subject, s -> new Window(rule.count()));
        if (!w.add(time, rule.windowMillis())) {
          return null;
        }
      }
      return anomaly(subject, time, detail);
    }

    private Anomaly anomaly(Subject subject, long time, String detail) {
      return new Anomaly(rule.name(), rule.where(), subject, rule.count(), rule.windowMillis(),
          time, detail);
    }
  }

  /** The last {@code count} event times of one subject, in a ring that grows as needed. */
  private static final class Window {
    private final int count;
    private long[] times;
    private int head;
    private int size;

    Window(int count) {
      this.count = count;
      this.times = new long[Math.min(count, 16)];
    }

    /** Adds an event; true (and forgets all) when the last {@code count} fit in the window. */
    boolean add(long time, long windowMillis) {
      if (size == times.length && size < count) {
        long[] bigger = new long[Math.min(count, times.length * 2)];
        for (int i = 0; i < size; i++) {
          bigger[i] = times[(head + i) % times.length];
        }
        times = bigger;
        head = 0;
      }
      if (size < times.length) {
        times[(head + size) % times.length] = time;
        size++;
      } else {
        times[head] = time;
        head = (head + 1) % times.length;
      }
      if (size == count && time - times[head] < windowMillis) {
        size = 0;
        head = 0;
        return true;
      }
      return false;
    }
  }
}
