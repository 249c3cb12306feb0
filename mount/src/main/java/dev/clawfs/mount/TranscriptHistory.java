package dev.clawfs.mount;

import dev.clawfs.crypto.MasterKeys;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The agents' transcripts, kept across mounts: every transcript line of every agent, sealed in
 * {@code VAULT/transcripts/} in the audit history's segment format under its own AAD tag (so a
 * segment cannot be passed off as the audit's, or the reverse). A stored line is the agent's
 * name, a tab, then the JSON line. At mount each agent's {@code transcript.jsonl} is seeded with
 * its stored lines; the oldest segments are deleted to keep the whole within {@link #MAX_BYTES}.
 */
final class TranscriptHistory implements AutoCloseable {
  static final String DIR = "transcripts";
  static final String AAD_TAG = "clawfs/v1/transcript";
  static final long MAX_BYTES = 16L << 20;

  /** Written when an agent is removed: its earlier lines are not replayed to a new agent of that name. */
  private static final byte[] REMOVED = "{\"event\":\"agent-removed\"}\n".getBytes(StandardCharsets.UTF_8);

  private final AuditHistory history;

  private TranscriptHistory(AuditHistory history) {
    this.history = history;
  }

  static TranscriptHistory open(Path vault, MasterKeys keys) throws IOException {
    return new TranscriptHistory(AuditHistory.open(vault.resolve(DIR), keys, MAX_BYTES, AAD_TAG, "transcript"));
  }

  /** The stored lines (each ending in '\n'), oldest first, by agent name. */
  Map<String, List<byte[]>> load() throws IOException {
    Map<String, List<byte[]>> out = new HashMap<>();
    history.forEachLine(line -> {
      int tab = indexOf(line, (byte) '\t');
      if (tab <= 0) {
        return;
      }
      String agent = new String(line, 0, tab, StandardCharsets.UTF_8);
      byte[] json = new byte[line.length - tab];
      System.arraycopy(line, tab + 1, json, 0, line.length - tab - 1);
      json[json.length - 1] = '\n';
      if (java.util.Arrays.equals(json, REMOVED)) {
        out.remove(agent);
      } else {
        out.computeIfAbsent(agent, a -> new ArrayList<>()).add(json);
      }
    });
    return out;
  }

  /**
   * Keeps one line (ending in '\n') of {@code agent}'s transcript. {@code end}: the task ended,
   * so the lines are written out now; otherwise within a second, or at the next end.
   */
  void append(String agent, byte[] line, boolean end) {
    byte[] name = agent.getBytes(StandardCharsets.UTF_8);
    byte[] rec = new byte[name.length + 1 + line.length];
    System.arraycopy(name, 0, rec, 0, name.length);
    rec[name.length] = '\t';
    System.arraycopy(line, 0, rec, name.length + 1, line.length);
    history.append(rec);
    if (end) {
      history.flush();
    } else {
      history.flushIfDue(System.currentTimeMillis());
    }
  }

  /** The agent was removed: what it kept is not replayed to a later agent of the same name. */
  void removed(String agent) {
    append(agent, REMOVED, true);
  }

  /** The underlying segments, for key rotation. */
  AuditHistory segments() {
    return history;
  }

  String status() {
    return history.status();
  }

  private static int indexOf(byte[] b, byte x) {
    for (int i = 0; i < b.length; i++) {
      if (b[i] == x) {
        return i;
      }
    }
    return -1;
  }

  @Override
  public void close() {
    history.close();
  }
}
