package dev.clawfs.policy;

import static dev.clawfs.policy.Activity.DENIED;
import static dev.clawfs.policy.Activity.EXEC;
import static dev.clawfs.policy.Activity.READ;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Anomaly windows with explicit times, against the default rules and a small file. */
class AnomalyDetectorTest {

  @TempDir Path dir;

  private static final Subject BOB = Subject.agent(1001, 1001, "bob");
  private static final Subject ALICE = Subject.agent(1002, 1002, "alice");
  private static final Subject USER = Subject.user(1000, 1000);

  private final AnomalyDetector defaults = AnomalyDetector.create(PolicySet.ofDefault());

  /** The line of the default policy's anomaly rule {@code name}. */
  private static int lineOf(String name) throws Exception {
    List<String> lines = Files.readAllLines(Path.of("default.yaml"));
    return lines.indexOf("  - name: " + name) + 1;
  }

  /** Feeds {@code n} events, {@code step} ms apart from {@code start}; returns what fired. */
  private static List<Anomaly> feed(AnomalyDetector d, Subject s, Activity a, int n, long start,
      long step) {
    List<Anomaly> fired = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      fired.addAll(d.observe(start + i * step, s, a, "/vault/k" + i));
    }
    return fired;
  }

  @Test
  void denialBurstFiresOnTheTwentiethDenialWithinTenSeconds() throws Exception {
    assertEquals(List.of(), feed(defaults, BOB, DENIED, 19, 1_000, 526)); // 1000 .. 10468
    List<Anomaly> fired = defaults.observe(10_999, BOB, DENIED, "/vault/openrouter-key");
    // 20 denials from t=1000 to t=10999: 9999 ms apart, inside the 10 s window
    assertEquals(List.of(new Anomaly("denial-burst", "default.yaml:" + lineOf("denial-burst"), BOB, 20, 10_000, 10_999,
        "/vault/openrouter-key")), fired);
  }

  @Test
  void eventsExactlyOneWindowApartAreNotInTheSameWindow() {
    assertEquals(List.of(), feed(defaults, BOB, DENIED, 19, 0, 1)); // t = 0 .. 18
    assertEquals(List.of(), defaults.observe(10_000, BOB, DENIED, "/x"),
        "t = 0 .. 18 and 10000: the 20 span 10000 ms, not less than the window");
    assertEquals(1, defaults.observe(10_000, BOB, DENIED, "/x").size(),
        "t = 1 .. 18, 10000, 10000: the last 20 span 9999 ms");
  }

  @Test
  void firesOncePerCrossingThenNeedsCountNewEvents() {
    // a steady flood of one denial per 10 ms: 100 denials span 990 ms
    List<Anomaly> fired = feed(defaults, BOB, DENIED, 100, 0, 10);
    assertEquals(5, fired.size(), "on the 20th, 40th, 60th, 80th and 100th");
    assertEquals(List.of(190L, 390L, 590L, 790L, 990L),
        fired.stream().map(Anomaly::timeMillis).toList());
  }

  @Test
  void slowDenialsNeverFire() {
    // one denial every 600 ms: any 20 of them span 11.4 s
    assertEquals(List.of(), feed(defaults, BOB, DENIED, 200, 0, 600));
  }

  @Test
  void subjectsAreCountedApart() {
    assertEquals(List.of(), feed(defaults, BOB, DENIED, 10, 0, 1));
    assertEquals(List.of(), feed(defaults, ALICE, DENIED, 10, 0, 1));
    assertEquals(List.of(), feed(defaults, BOB, DENIED, 9, 10, 1));
    assertEquals(1, feed(defaults, BOB, DENIED, 1, 20, 1).size());
  }

  @Test
  void rulesApplyOnlyToTheirSubjects() {
    assertEquals(List.of(), feed(defaults, USER, DENIED, 1000, 0, 1), "the rule is for agents");
    assertEquals(List.of(), feed(defaults, USER, READ, 1000, 0, 1));
    assertEquals(List.of(), defaults.observe(0, USER, EXEC, "/bin/bash"));
  }

  @Test
  void readFlood() {
    assertEquals(List.of(), feed(defaults, BOB, READ, 299, 0, 3)); // 0 .. 894 ms
    List<Anomaly> fired = defaults.observe(999, BOB, READ, "/workspaces/p/f");
    assertEquals(1, fired.size());
    Anomaly a = fired.get(0);
    assertEquals("read-flood", a.rule());
    assertEquals(300, a.count());
    assertEquals(1000, a.windowMillis());
    assertEquals(BOB, a.subject());
    assertEquals("/workspaces/p/f", a.detail());
    assertEquals(List.of(), defaults.observe(999, BOB, DENIED, "/x"), "reads are not denials");
  }

  @Test
  void execOfAShellFiresEveryTime() {
    for (String shell : List.of("/bin/sh", "/usr/bin/bash", "dash", "/usr/local/bin/fish")) {
      List<Anomaly> fired = defaults.observe(5, BOB, EXEC, shell);
      assertEquals(1, fired.size(), shell);
      assertEquals("no-shell", fired.get(0).rule());
      assertEquals(shell, fired.get(0).detail());
      assertEquals(1, fired.get(0).count());
      assertEquals(0, fired.get(0).windowMillis());
    }
    assertEquals(1, defaults.observe(6, BOB, EXEC, "/bin/sh").size(), "again");
    for (String other : List.of("/usr/bin/python3", "/bin/bash.real", "/opt/sh/tool", "")) {
      assertEquals(List.of(), defaults.observe(7, BOB, EXEC, other), other);
    }
  }

  @Test
  void trackedSubjectsAreBoundedOldestForgottenFirst() throws Exception {
    Path file = dir.resolve("a.yaml");
    Files.writeString(file, """
        version: 1
        anomalies:
          - name: three
            subject: any
            kind: denials
            count: 3
            window: 1m
        """);
    AnomalyDetector d = AnomalyDetector.create(PolicySet.of(Policy.load(file)), 2);
    Subject carol = Subject.agent(1004, 1004, "carol");
    feed(d, BOB, DENIED, 2, 0, 1);
    feed(d, ALICE, DENIED, 1, 10, 1);
    feed(d, carol, DENIED, 1, 20, 1); // a third subject: bob, seen least recently, is dropped
    assertEquals(1, feed(d, ALICE, DENIED, 2, 30, 1).size(), "alice was kept: 3 denials");
    assertEquals(List.of(), feed(d, BOB, DENIED, 2, 40, 1), "bob starts again from none");
    List<Anomaly> fired = d.observe(42, BOB, DENIED, "/z");
    assertEquals(1, fired.size());
    assertEquals("a.yaml:3", fired.get(0).source());
  }

  @Test
  void rulesOfAllPoliciesWatchTogether() throws Exception {
    Path file = dir.resolve("extra.yaml");
    Files.writeString(file, """
        version: 1
        anomalies:
          - name: python
            subject: agent:bob
            kind: exec
            programs: [python3, bash]
        """);
    AnomalyDetector d =
        AnomalyDetector.create(PolicySet.of(Policy.loadDefault(), Policy.load(file)));
    List<String> rules = d.observe(0, BOB, EXEC, "/bin/bash").stream().map(Anomaly::rule).toList();
    assertEquals(List.of("no-shell", "python"), rules);
    assertEquals(List.of("python"),
        d.observe(0, BOB, EXEC, "/usr/bin/python3").stream().map(Anomaly::rule).toList());
    assertEquals(List.of(), d.observe(0, ALICE, EXEC, "/usr/bin/python3"));
  }

  @Test
  void concurrentObserversLoseNoEvent() throws Exception {
    // 4 threads x 1000 denials by one subject at one instant: every 20th fires, whoever feeds it
    int threads = 4;
    ExecutorService pool = Executors.newFixedThreadPool(threads);
    try {
      List<Future<Integer>> results = new ArrayList<>();
      for (int t = 0; t < threads; t++) {
        results.add(pool.submit(() -> feed(defaults, BOB, DENIED, 1000, 0, 0).size()));
      }
      int fired = 0;
      for (Future<Integer> f : results) {
        fired += f.get(30, TimeUnit.SECONDS);
      }
      assertEquals(threads * 1000 / 20, fired);
    } finally {
      pool.shutdownNow();
      assertTrue(pool.awaitTermination(10, TimeUnit.SECONDS));
    }
  }
}
