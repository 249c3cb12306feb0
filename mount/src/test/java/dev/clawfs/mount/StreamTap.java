package dev.clawfs.mount;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

/**
 * Test fixture: a real reader of the audit stream ({@code cat} or {@code tail -f} as a separate
 * process), whose lines are collected as they arrive with their arrival time. Closing it kills
 * the reader, which the server sees as an interrupted read.
 */
final class StreamTap implements AutoCloseable {
  /** One line and when the tap got it (System.currentTimeMillis). */
  record Line(String text, long arrivedMillis) {}

  private final Process process;
  private final List<Line> lines = new ArrayList<>();
  private final StringBuilder err = new StringBuilder();
  private final Thread reader;

  private StreamTap(List<String> cmd) throws IOException {
    ProcessBuilder pb = new ProcessBuilder(DevNull.wrap(cmd));
    pb.redirectInput(DevNull.input());
    process = pb.start();
    reader = new Thread(() -> {
      try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
        String l;
        while ((l = r.readLine()) != null) {
          synchronized (lines) {
            lines.add(new Line(l, System.currentTimeMillis()));
            lines.notifyAll();
          }
        }
      } catch (IOException e) {
        // the process was killed
      }
    }, "stream-tap");
    reader.setDaemon(true);
    reader.start();
    Thread errs = new Thread(() -> {
      try {
        String e = new String(process.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        synchronized (err) {
          err.append(e);
        }
      } catch (IOException e) {
        // gone
      }
    }, "stream-tap-err");
    errs.setDaemon(true);
    errs.start();
  }

  /** {@code cat STREAM}: live events from now on. Waits until the open has happened. */
  static StreamTap cat(MountedVault v) throws Exception {
    StreamTap t = new StreamTap(List.of("cat", v.path("system/audit/stream").toString()));
    Thread.sleep(300);
    return t;
  }

  /** Any command reading the stream. */
  static StreamTap of(List<String> cmd) throws Exception {
    StreamTap t = new StreamTap(cmd);
    Thread.sleep(300);
    return t;
  }

  /** The first line (from the start) matching, waiting up to {@code millis}; null if none came. */
  Line await(Predicate<String> match, long millis) throws InterruptedException {
    long deadline = System.currentTimeMillis() + millis;
    synchronized (lines) {
      int seen = 0;
      while (true) {
        for (; seen < lines.size(); seen++) {
          if (match.test(lines.get(seen).text())) {
            return lines.get(seen);
          }
        }
        long left = deadline - System.currentTimeMillis();
        if (left <= 0) {
          return null;
        }
        lines.wait(left);
      }
    }
  }

  List<String> lines() {
    synchronized (lines) {
      return lines.stream().map(Line::text).toList();
    }
  }

  String stderr() {
    synchronized (err) {
      return err.toString();
    }
  }

  boolean alive() {
    return process.isAlive();
  }

  @Override
  public void close() {
    process.destroy();
    try {
      if (!process.waitFor(10, TimeUnit.SECONDS)) {
        process.destroyForcibly();
        process.waitFor(10, TimeUnit.SECONDS);
      }
      reader.join(5000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
