package dev.clawfs.mount;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.LocalDateTime;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.util.Locale;
import java.util.Map;
import java.util.logging.Formatter;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.logging.StreamHandler;

/**
 * Where ClawFS logs go, and how much of it: one handler on java.util.logging's root (which also
 * serves every {@link System.Logger}), writing to stderr. A spawned server's stderr is its log
 * file in /run/clawfs; a server in a systemd unit writes to the journal through stderr, and when
 * {@code $JOURNAL_STREAM} names that very stream each line starts with the {@code <N>} syslog
 * priority that journald reads (sd-daemon(3)), without a time stamp of its own (the journal has
 * it). Levels: error, warn, info (default), debug, trace. debug and trace apply to ClawFS's own
 * loggers ({@code clawfs.*}); libraries stay at info. Messages never hold file names, content
 * or secrets (the code that logs sees to that; this only formats).
 */
final class Logs {
  /** The level names --log-level and log_level= take. */
  static final Map<String, Level> LEVELS = Map.of(
      "error", Level.SEVERE, "warn", Level.WARNING, "info", Level.INFO, "debug", Level.FINE, "trace", Level.FINEST);

  private static final Logger ROOT = Logger.getLogger("");
  /** Held strongly: java.util.logging keeps loggers weakly, and a collected one forgets its level. */
  private static final Logger CLAWFS = Logger.getLogger("clawfs");
  private static Handler handler;
  private static final java.util.concurrent.atomic.LongAdder[] COUNTS = {
      new java.util.concurrent.atomic.LongAdder(), new java.util.concurrent.atomic.LongAdder(),
      new java.util.concurrent.atomic.LongAdder(), new java.util.concurrent.atomic.LongAdder(),
      new java.util.concurrent.atomic.LongAdder()};
  private static final String[] COUNT_NAMES = {"error", "warn", "info", "debug", "trace"};

  private Logs() {}

  /** The level a name stands for, or a usage error listing the names. */
  static Level parse(String name) {
    Level l = name == null ? null : LEVELS.get(name.strip().toLowerCase(Locale.ROOT));
    if (l == null) {
      throw new ClawfsCli.CliException(ClawfsCli.USAGE, "unknown log level '" + name + "'; use error, warn, info, debug or trace");
    }
    return l;
  }

  /** Sends every log record at {@code level} or above to stderr, for the journal when stderr is it. */
  static synchronized void configure(Level level) {
    boolean journal = stderrIsJournal(System.getenv("JOURNAL_STREAM"));
    if (handler != null) {
      ROOT.removeHandler(handler);
    }
    for (Handler h : ROOT.getHandlers()) {
      ROOT.removeHandler(h); // the JDK's default ConsoleHandler (info, its own format)
    }
    // not a ConsoleHandler: that one binds System.err when made, and the server swaps System.out
    handler = new StreamHandler(System.err, new LineFormatter(journal)) {
      @Override
      public synchronized void publish(LogRecord r) {
        if (!isLoggable(r)) {
          return;
        }
        COUNTS[countIndex(r.getLevel())].increment();
        super.publish(r);
        flush();
      }
    };
    handler.setLevel(Level.ALL);
    ROOT.addHandler(handler);
    ROOT.setLevel(level.intValue() < Level.INFO.intValue() ? Level.INFO : level);
    CLAWFS.setLevel(level);
  }

  /** Records written so far by level name (error, warn, info, debug, trace). */
  static Map<String, Long> counts() {
    Map<String, Long> out = new java.util.LinkedHashMap<>();
    for (int i = 0; i < COUNTS.length; i++) {
      out.put(COUNT_NAMES[i], COUNTS[i].sum());
    }
    return out;
  }

  private static int countIndex(Level l) {
    return switch (levelName(l)) {
      case "ERROR" -> 0;
      case "WARN" -> 1;
      case "INFO" -> 2;
      case "DEBUG" -> 3;
      default -> 4;
    };
  }

  /** The level ClawFS's own loggers log at now. */
  static Level level() {
    Level l = CLAWFS.getLevel();
    return l == null ? Level.INFO : l;
  }

  /** The name of a level as --log-level takes it. */
  static String name(Level level) {
    for (Map.Entry<String, Level> e : LEVELS.entrySet()) {
      if (e.getValue().equals(level)) {
        return e.getKey();
      }
    }
    return level.getName().toLowerCase(Locale.ROOT);
  }

  /**
   * Whether stderr is the journal stream systemd set up: {@code $JOURNAL_STREAM} is
   * "DEVICE:INODE" of that stream, and stderr may have been redirected since (a spawned server's
   * goes to its log file), so the device and inode of fd 2 must match.
   */
  static boolean stderrIsJournal(String journalStream) {
    if (journalStream == null || !journalStream.matches("[0-9]+:[0-9]+")) {
      return false;
    }
    try {
      Map<String, Object> a = Files.readAttributes(Path.of("/proc/self/fd/2"), "unix:dev,ino");
      String mine = Long.toUnsignedString(((Number) a.get("dev")).longValue()) + ":"
          + Long.toUnsignedString(((Number) a.get("ino")).longValue());
      return mine.equals(journalStream);
    } catch (Exception e) {
      return false;
    }
  }

  /** The syslog priority journald reads from a "<N>" prefix: err, warning, info, debug. */
  static int syslogPriority(Level l) {
    int v = l.intValue();
    if (v >= Level.SEVERE.intValue()) {
      return 3;
    } else if (v >= Level.WARNING.intValue()) {
      return 4;
    } else if (v >= Level.INFO.intValue()) {
      return 6;
    }
    return 7;
  }

  /** ERROR, WARN, INFO, DEBUG, TRACE, as --log-level names them. */
  static String levelName(Level l) {
    int v = l.intValue();
    if (v >= Level.SEVERE.intValue()) {
      return "ERROR";
    } else if (v >= Level.WARNING.intValue()) {
      return "WARN";
    } else if (v >= Level.INFO.intValue()) {
      return "INFO";
    } else if (v >= Level.FINE.intValue()) {
      return "DEBUG";
    }
    return "TRACE";
  }

  /**
   * One line per record: "2026-11-25T15:31:12.743 INFO clawfs.server: message", or for the
   * journal "<6>clawfs.server: message". A stack trace follows on lines of its own, each with the
   * same prefix in the journal so that it keeps the record's priority.
   */
  static final class LineFormatter extends Formatter {
    private static final DateTimeFormatter TIME = DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSS");
    private final boolean journal;

    LineFormatter(boolean journal) {
      this.journal = journal;
    }

    @Override
    public String format(LogRecord r) {
      String prefix = journal ? "<" + syslogPriority(r.getLevel()) + ">"
          : TIME.format(LocalDateTime.ofInstant(Instant.ofEpochMilli(r.getMillis()), ZoneId.systemDefault())) + " "
              + levelName(r.getLevel()) + " ";
      StringBuilder b = new StringBuilder();
      String text = formatMessage(r);
      if (r.getThrown() != null) {
        StringWriter w = new StringWriter();
        r.getThrown().printStackTrace(new PrintWriter(w));
        text = text + "\n" + w.toString().stripTrailing();
      }
      String logger = r.getLoggerName() == null ? "" : r.getLoggerName();
      boolean firstLine = true;
      for (String line : text.split("\n", -1)) {
        b.append(prefix);
        if (firstLine) {
          b.append(logger).append(": ");
          firstLine = false;
        } else if (!journal) {
          b.setLength(b.length() - prefix.length()); // a trace in a file reads as it always did
        }
        b.append(line.replace("\r", "")).append('\n');
      }
      return b.toString();
    }
  }
}
