package dev.clawfs.mount;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Base64;
import java.util.List;

/**
 * Test helper for {@link ToolsIT}: the tool transactions of {@code /tools/NAME/} done the way
 * programs do them. The raw transaction ({@code run}) is done by a small Python program (a real
 * process, which can run as an agent) that reports the errno its read ends with; the JSON
 * transaction ({@code run.json}) is also done in-process through a {@link FileChannel}.
 */
final class ToolCalls {
  static final String PYTHON = "/usr/bin/python3";
  static final int EIO = 5;
  static final int ENOMEM = 12;
  static final int EACCES = 13;
  static final int EFBIG = 27;
  static final int ETIME = 62;

  private static final ObjectMapper JSON = new ObjectMapper();

  /**
   * {@code raw.py FILE [INPUT] [--signal]}: opens FILE O_RDWR, writes the bytes of INPUT (none
   * without it), reads until end of file or an error, and prints one JSON line: the errno of a
   * failed open, the bytes read (base64), the errno the reads ended with (0 at end of file) and
   * the milliseconds from the open. With --signal it prints STARTED as soon as the first bytes
   * came back (the tool is running and has written something).
   */
  private static final String RAW_PY = """
      import base64, json, os, sys, time
      signal = "--signal" in sys.argv[1:]
      args = [a for a in sys.argv[1:] if a != "--signal"]
      data = open(args[1], "rb").read() if len(args) > 1 else b""
      try:
          fd = os.open(args[0], os.O_RDWR)
      except OSError as e:
          print(json.dumps({"openErrno": e.errno, "out": "", "errno": 0, "ms": 0}), flush=True)
          sys.exit(0)
      t0 = time.monotonic()
      view = memoryview(data)
      while view:
          view = view[os.write(fd, view):]
      out = bytearray()
      err = 0
      try:
          while True:
              b = os.read(fd, 1 << 17)
              if not b:
                  break
              if signal and not out:
                  print("STARTED", flush=True)
              out += b
      except OSError as e:
          err = e.errno
      ms = int((time.monotonic() - t0) * 1000)
      os.close(fd)
      print(json.dumps({"openErrno": 0, "out": base64.b64encode(bytes(out)).decode(), "errno": err, "ms": ms}), flush=True)
      """;

  private ToolCalls() {}

  /** What one raw transaction gave: open errno (0: opened), the bytes read, the errno that ended the reads (0: EOF). */
  record Raw(int openErrno, byte[] out, int errno, long millis) {
    String text() {
      return new String(out, StandardCharsets.UTF_8);
    }

    @Override
    public String toString() {
      String t = text();
      return "openErrno=" + openErrno + " errno=" + errno + " ms=" + millis + " out(" + out.length + ")=["
          + (t.length() > 200 ? t.substring(0, 200) + "..." : t) + "]";
    }
  }

  /** Writes raw.py into {@code dir} (readable by everyone, for the agents) and returns its path. */
  static Path writeRawScript(Path dir) throws IOException {
    Path p = dir.resolve("raw.py");
    Files.writeString(p, RAW_PY);
    return p;
  }

  /** The command that does one raw transaction on {@code file} with the bytes of {@code input} (or none). */
  static List<String> rawCommand(Path script, Path file, Path input, boolean signal) {
    List<String> cmd = new java.util.ArrayList<>(List.of(PYTHON, script.toString(), file.toString()));
    if (input != null) {
      cmd.add(input.toString());
    }
    if (signal) {
      cmd.add("--signal");
    }
    return cmd;
  }

  /** The same as one shell command line (for TestAgents.as). */
  static String rawShell(Path script, Path file, Path input) {
    return String.join(" ", rawCommand(script, file, input, false).stream().map(ToolCalls::quote).toList());
  }

  static String quote(String s) {
    return "'" + s.replace("'", "'\\''") + "'";
  }

  /** Parses the JSON line raw.py ends with. */
  static Raw parseRaw(String line) {
    JsonNode n = json(line);
    return new Raw(n.get("openErrno").asInt(), Base64.getDecoder().decode(n.get("out").asText()),
        n.get("errno").asInt(), n.get("ms").asLong());
  }

  /** The result of a finished raw.py process. */
  static Raw parseRaw(MountedVault.Result r) {
    assertEquals(0, r.exitCode(), "raw.py failed: " + r);
    List<String> lines = r.stdout().lines().toList();
    assertFalse(lines.isEmpty(), "raw.py printed nothing: " + r);
    return parseRaw(lines.get(lines.size() - 1));
  }

  /** One transaction on a session file (run.json) through a FileChannel: the request written, the reply read to its end. */
  static byte[] transact(Path file, byte[] request) throws IOException {
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
      ByteBuffer out = ByteBuffer.wrap(request);
      while (out.hasRemaining()) {
        ch.write(out);
      }
      ByteArrayOutputStream reply = new ByteArrayOutputStream();
      ByteBuffer in = ByteBuffer.allocate(1 << 16);
      while (ch.read(in) >= 0) {
        reply.write(in.array(), 0, in.position());
        in.clear();
      }
      return reply.toByteArray();
    }
  }

  /** A run.json transaction: {@code request} (a Map or JsonNode) as JSON in, the JSON reply out. */
  static JsonNode runJson(Path runJson, Object request) throws IOException {
    return json(new String(transact(runJson, JSON.writeValueAsBytes(request)), StandardCharsets.UTF_8));
  }

  static String toJson(Object request) {
    try {
      return JSON.writeValueAsString(request);
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }

  static JsonNode json(String text) {
    try {
      JsonNode n = JSON.readTree(text);
      if (n == null || n.isMissingNode()) {
        throw new AssertionError("not JSON (empty): [" + text + "]");
      }
      return n;
    } catch (IOException e) {
      throw new AssertionError("not JSON: [" + text + "]", e);
    }
  }
}
