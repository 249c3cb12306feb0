package dev.clawfs.mount;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.logging.Level;
import java.util.logging.LogRecord;
import org.junit.jupiter.api.Test;

class LogsTest {
  private static LogRecord record(Level l, String msg, Object... params) {
    LogRecord r = new LogRecord(l, msg);
    r.setLoggerName("clawfs.fs");
    r.setParameters(params);
    r.setMillis(0);
    return r;
  }

  @Test
  void journalLinesCarryTheSyslogPriorityOnEveryLine() {
    Logs.LineFormatter f = new Logs.LineFormatter(true);
    assertEquals("<3>clawfs.fs: commit failed: ENOSPC\n", f.format(record(Level.SEVERE, "commit failed: {0}", "ENOSPC")));
    assertEquals("<4>clawfs.fs: w\n", f.format(record(Level.WARNING, "w")));
    assertEquals("<6>clawfs.fs: i\n", f.format(record(Level.INFO, "i")));
    assertEquals("<7>clawfs.fs: d\n", f.format(record(Level.FINE, "d")));
    assertEquals("<7>clawfs.fs: t\n", f.format(record(Level.FINEST, "t")));
    LogRecord r = record(Level.SEVERE, "failed");
    r.setThrown(new IllegalStateException("boom"));
    String[] lines = f.format(r).split("\n");
    assertTrue(lines.length > 2);
    for (String line : lines) {
      assertTrue(line.startsWith("<3>"), line); // a trace stays at the record's priority
    }
  }

  @Test
  void fileLinesHaveTimeLevelAndLogger() {
    String s = new Logs.LineFormatter(false).format(record(Level.WARNING, "indexing paused"));
    assertTrue(s.matches("\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3} WARN clawfs\\.fs: indexing paused\n"), s);
    assertTrue(new Logs.LineFormatter(false).format(record(Level.FINE, "x")).contains(" DEBUG clawfs.fs: x"));
  }

  @Test
  void levelsByName() {
    assertEquals(Level.FINE, Logs.parse("debug"));
    assertEquals(Level.WARNING, Logs.parse(" WARN "));
    assertThrows(ClawfsCli.CliException.class, () -> Logs.parse("loud"));
    assertEquals("trace", Logs.name(Level.FINEST));
  }

  @Test
  void journalStreamMustBeThisStderr() {
    assertFalse(Logs.stderrIsJournal(null));
    assertFalse(Logs.stderrIsJournal("garbage"));
    assertFalse(Logs.stderrIsJournal("1:1")); // some other stream: stderr was redirected since
  }

  @Test
  void mountOptionTakesTheLevel() {
    assertEquals("debug", MountOptions.parse("log_level=debug").logLevel());
    assertThrows(ClawfsCli.CliException.class, () -> MountOptions.parse("log_level=loud"));
  }
}
