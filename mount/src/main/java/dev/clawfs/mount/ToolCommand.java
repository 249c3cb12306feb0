package dev.clawfs.mount;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.clawfs.mount.ClawfsCli.CliException;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code clawfs tool add|list|remove|run}: the WASM tools of a mount, through the files under
 * {@code MOUNTPOINT/tools/} (docs/tools.md). Nothing here talks to the server another way.
 */
@Command(name = "tool", description = "Install, list, remove and run the WASM tools of a mount.",
    subcommands = {ToolCommand.Add.class, ToolCommand.ListTools.class, ToolCommand.Remove.class, ToolCommand.Run.class})
final class ToolCommand implements Callable<Integer> {
  /** Exit code of `tool run` when the run hit its time limit (as timeout(1)). */
  static final int TIMED_OUT = 124;
  /** Exit code of `tool run` when the run hit another limit, trapped or was stopped. */
  static final int STOPPED = 125;
  /** Exit code of `tool run` when the run was refused (policy, bad arguments, no such tool). */
  static final int REFUSED = 126;

  private static final ObjectMapper JSON = new ObjectMapper();

  @Override
  public Integer call() {
    CommandLine.usage(this, System.err);
    return ClawfsCli.USAGE;
  }

  static Path toolDir(Path mount, String name) {
    String p = ToolService.nameProblem(name);
    if (p != null) {
      throw new CliException(ClawfsCli.USAGE, p);
    }
    return mount.resolve("tools").resolve(name);
  }

  /** The newest line of system/tools/errors that names this tool, for a refused install. */
  static String lastError(Path mount, String name) {
    try {
      List<String> lines = Files.readAllLines(mount.resolve("system").resolve("tools").resolve("errors"));
      for (int i = lines.size() - 1; i >= 0; i--) {
        int sp = lines.get(i).indexOf(' ');
        String rest = sp < 0 ? lines.get(i) : lines.get(i).substring(sp + 1);
        if (rest.startsWith(name + ": ")) {
          return rest.substring(name.length() + 2);
        }
      }
    } catch (IOException e) {
      // fall through: no reason to give
    }
    return "see " + mount.resolve("system/tools/errors");
  }

  @Command(name = "add", description = "Install (or replace) tool NAME from a WebAssembly WASI module, with an"
      + " optional manifest.json; the same as mkdir MOUNTPOINT/tools/NAME and copying the files in.")
  static final class Add implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "MOUNTPOINT")
    Path mountpoint;

    @Parameters(index = "1", paramLabel = "NAME", description = "1 to 64 of a-z, 0-9, _ and -.")
    String name;

    @Parameters(index = "2", paramLabel = "MODULE", description = "The .wasm file.")
    Path module;

    @Option(names = "--manifest", paramLabel = "FILE", description = "manifest.json: description, inputs, limits, paths.")
    Path manifest;

    @Override
    public Integer call() throws Exception {
      Path m = ClawfsCli.requireMount(mountpoint);
      Path dir = toolDir(m, name);
      byte[] wasm = read(module);
      byte[] man = manifest == null ? null : read(manifest);
      if (Identity.uid() != 0) {
        throw new CliException(ClawfsCli.ERROR, "only root installs tools");
      }
      boolean existed = Files.isDirectory(dir);
      if (!existed) {
        try {
          Files.createDirectory(dir);
        } catch (FileAlreadyExistsException e) {
          existed = true;
        } catch (IOException e) {
          throw new CliException(ClawfsCli.ERROR, "cannot make " + dir + ": " + e.getMessage());
        }
      }
      try {
        if (man != null) {
          put(m, dir.resolve("manifest.json"), man);
        }
        put(m, dir.resolve("module.wasm"), wasm);
      } catch (CliException e) {
        if (!existed) {
          try {
            Files.deleteIfExists(dir);
          } catch (IOException ignored) {
            // the folder without a module is visible to root only and goes at the next mount
          }
        }
        throw e;
      }
      System.out.println((existed ? "replaced " : "installed ") + name + " (" + wasm.length + " bytes)");
      return ClawfsCli.OK;
    }

    private void put(Path m, Path file, byte[] data) {
      try {
        Files.write(file, data);
      } catch (IOException e) {
        throw new CliException(ClawfsCli.ERROR, file.getFileName() + " refused: " + lastError(m, name));
      }
    }

    private static byte[] read(Path p) {
      try {
        return Files.readAllBytes(p);
      } catch (IOException e) {
        throw new CliException(ClawfsCli.USAGE, "cannot read " + p + ": " + e.getMessage());
      }
    }
  }

  @Command(name = "list", description = "The tools of the mount, with their descriptions.")
  static final class ListTools implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "MOUNTPOINT")
    Path mountpoint;

    @Override
    public Integer call() throws Exception {
      Path m = ClawfsCli.requireMount(mountpoint);
      List<String> names = new ArrayList<>();
      try (var s = Files.list(m.resolve("tools"))) {
        s.forEach(p -> names.add(p.getFileName().toString()));
      }
      names.sort(null);
      for (String n : names) {
        String description = "(no module yet)";
        try {
          JsonNode j = JSON.readTree(Files.readAllBytes(m.resolve("tools").resolve(n).resolve("manifest.json")));
          if (j != null && j.hasNonNull("description")) {
            description = j.get("description").asText();
          }
        } catch (IOException e) {
          // a folder without a manifest yet
        }
        System.out.printf("%-16s %s%n", n, description);
      }
      return ClawfsCli.OK;
    }
  }

  @Command(name = "remove", description = "Remove tool NAME (a shipped tool can only be replaced; removing the"
      + " replacement brings the shipped one back).")
  static final class Remove implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "MOUNTPOINT")
    Path mountpoint;

    @Parameters(index = "1", paramLabel = "NAME")
    String name;

    @Override
    public Integer call() throws Exception {
      Path m = ClawfsCli.requireMount(mountpoint);
      Path dir = toolDir(m, name);
      try {
        Files.delete(dir);
      } catch (NoSuchFileException e) {
        throw new CliException(ClawfsCli.ERROR, "no tool " + name);
      } catch (AccessDeniedException e) {
        throw new CliException(ClawfsCli.ERROR, "only root removes tools");
      } catch (IOException e) {
        throw new CliException(ClawfsCli.ERROR, "cannot remove " + name + ": " + e.getMessage()
            + " (shipped tools can be replaced, not removed)");
      }
      System.out.println("removed " + name);
      return ClawfsCli.OK;
    }
  }

  @Command(name = "run", description = "Run tool NAME with ARGS: stdin in, stdout out, stderr to stderr, and its"
      + " exit code as this command's (124: time limit; 125: another limit or a trap; 126: refused).")
  static final class Run implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "MOUNTPOINT")
    Path mountpoint;

    @Parameters(index = "1", paramLabel = "NAME")
    String name;

    @Parameters(index = "2..*", paramLabel = "ARGS", description = "Arguments for the tool.")
    List<String> args = new ArrayList<>();

    @Option(names = "--stdin-path", paramLabel = "PATH", description = "Give the tool this file of the mount"
        + " (read with your rights) as stdin instead of this command's stdin.")
    String stdinPath;

    @Option(names = "--no-stdin", description = "Give the tool an empty stdin.")
    boolean noStdin;

    @Override
    public Integer call() throws Exception {
      Path m = ClawfsCli.requireMount(mountpoint);
      Path run = toolDir(m, name).resolve("run.json");
      ObjectNode q = JSON.createObjectNode();
      var a = q.putArray("args");
      args.forEach(a::add);
      if (stdinPath != null) {
        Path p = Path.of(stdinPath).toAbsolutePath().normalize();
        if (p.startsWith(m)) {
          p = Path.of("/").resolve(m.relativize(p));
        }
        q.put("stdinPath", p.toString());
      } else if (!noStdin) {
        q.put("stdinBase64", Base64.getEncoder().encodeToString(System.in.readAllBytes()));
      }
      byte[] replyBytes;
      try (FileChannel ch = FileChannel.open(run, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
        ByteBuffer out = ByteBuffer.wrap(JSON.writeValueAsBytes(q));
        while (out.hasRemaining()) {
          ch.write(out);
        }
        ByteArrayOutputStream reply = new ByteArrayOutputStream();
        ByteBuffer in = ByteBuffer.allocate(1 << 16);
        while (ch.read(in) > 0) {
          reply.write(in.array(), 0, in.position());
          in.clear();
        }
        replyBytes = reply.toByteArray();
      } catch (NoSuchFileException e) {
        throw new CliException(REFUSED, "no tool " + name);
      } catch (AccessDeniedException e) {
        throw new CliException(REFUSED, name + ": the policy does not let you run it");
      }
      JsonNode r = JSON.readTree(replyBytes);
      write(System.out, r, "stdout");
      write(System.err, r, "stderr");
      System.out.flush();
      String outcome = r.path("outcome").asText();
      if (outcome.equals("EXITED")) {
        return r.path("exit").asInt();
      }
      System.err.println("clawfs: " + name + ": " + r.path("message").asText());
      if (outcome.equals("REFUSED")) {
        return REFUSED;
      }
      return outcome.equals("LIMIT") && r.path("limit").asText().equals("TIME") ? TIMED_OUT : STOPPED;
    }

    private static void write(PrintStream to, JsonNode r, String field) throws IOException {
      if (r.hasNonNull(field)) {
        to.write(r.get(field).asText().getBytes(StandardCharsets.UTF_8));
      } else if (r.hasNonNull(field + "Base64")) {
        to.write(Base64.getDecoder().decode(r.get(field + "Base64").asText()));
      }
    }
  }
}
