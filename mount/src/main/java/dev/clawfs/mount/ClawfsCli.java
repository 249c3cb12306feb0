package dev.clawfs.mount;

import dev.clawfs.crypto.CryptoException;
import dev.clawfs.crypto.KdfParams;
import dev.clawfs.crypto.MasterKeys;
import dev.clawfs.crypto.VaultFormatException;
import dev.clawfs.crypto.VaultHeader;
import dev.clawfs.crypto.WrongPassphraseException;
import dev.clawfs.fuse.ClawFileSystem;
import java.io.BufferedReader;
import java.io.Console;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** The {@code clawfs} command line. Exit codes are documented in the README. */
@Command(
    name = "clawfs",
    mixinStandardHelpOptions = true,
    version = "clawfs " + ClawfsCli.VERSION,
    description = "Encrypted, searchable, agent-ready file system.",
    subcommands = {
      ClawfsCli.Init.class,
      ClawfsCli.Mount.class,
      ClawfsCli.Umount.class,
      StatusCommand.class,
      ClawfsCli.Search.class,
      ClawfsCli.Reindex.class,
      CheckCommand.class,
      RekeyCommand.class,
      PasswdCommand.class,
      RecoveryCommand.Export.class,
      RecoveryCommand.Recover.class,
      KeyringCommand.class,
      AgentCommand.class,
      AuditCommand.class,
      ToolCommand.class,
      Server.class,
      MountHelper.class,
      MountHelper.Umount.class
    })
public final class ClawfsCli implements Callable<Integer> {
  static final String VERSION = "0.1.0";
  public static final int OK = 0;
  public static final int ERROR = 1;
  public static final int USAGE = 2;
  public static final int WRONG_PASSPHRASE = 3;
  public static final int BAD_VAULT = 4;
  public static final int BAD_MOUNTPOINT = 5;
  /** {@code clawfs check} found problems (or some remain after --repair). */
  public static final int PROBLEMS = 6;

  public static void main(String[] args) {
    LogOptions.configureFromEnvironment();
    CommandLine cl = new CommandLine(new ClawfsCli());
    // fuse3's mount.fuse runs `clawfs SOURCE TARGET -o OPTIONS` for `mount -t fuse.clawfs` when
    // /sbin/mount.fuse.clawfs is missing, and for `mount -t fuse clawfs#SOURCE TARGET`
    if (args.length >= 2 && args[0].startsWith("/")) {
      String[] helper = new String[args.length + 1];
      helper[0] = "mount-helper";
      System.arraycopy(args, 0, helper, 1, args.length);
      args = helper;
    }
    // `clawfs tool run MNT wordcount -l`: what follows the tool's name is the tool's, options too
    cl.getSubcommands().get("tool").getSubcommands().get("run").setStopAtPositional(true);
    cl.setExitCodeExceptionMapper(ClawfsCli::exitCodeOf);
    cl.setExecutionExceptionHandler((ex, cmd, parsed) -> {
      cmd.getErr().println("clawfs: " + messageOf(ex));
      return exitCodeOf(ex);
    });
    System.exit(cl.execute(args));
  }

  static int exitCodeOf(Throwable e) {
    if (e instanceof CliException c) {
      return c.code;
    } else if (e instanceof WrongPassphraseException) {
      return WRONG_PASSPHRASE;
    } else if (e instanceof VaultFormatException) {
      return BAD_VAULT;
    } else if (e instanceof CommandLine.ParameterException) {
      return USAGE;
    }
    return ERROR;
  }

  static String messageOf(Throwable e) {
    if (e instanceof WrongPassphraseException) {
      return "wrong passphrase (or the vault header was altered); nothing was changed";
    }
    String m = e.getMessage();
    return m == null ? e.getClass().getSimpleName() : m;
  }

  @Override
  public Integer call() {
    CommandLine.usage(this, System.err);
    return USAGE;
  }

  /** An error with a chosen exit code and a message for the user. */
  static final class CliException extends RuntimeException {
    final int code;

    CliException(int code, String message) {
      super(message);
      this.code = code;
    }
  }

  /** How the search index embeds text; passed from mount to the server it starts. */
  static final class SearchOptions {
    @Option(names = "--embedding-model", paramLabel = "NAME",
        description = "In-process embedding model: all-minilm-l6-v2, all-minilm-l6-v2-q, bge-small-en-v1.5, bge-small-en-v1.5-q"
            + " (default: $CLAWFS_EMBEDDING_MODEL or the built-in default); with --embeddings-url, the endpoint's model name.")
    String model;

    @Option(names = "--embeddings-url", paramLabel = "URL",
        description = "Use an OpenAI-compatible embeddings endpoint (e.g. http://127.0.0.1:8080/v1) instead of the in-process model.")
    String url;

    @Option(names = "--embeddings-key-file", paramLabel = "FILE", description = "File holding the endpoint's API key.")
    Path keyFile;

    @Option(names = "--no-search", description = "Serve without the search index (no search/, nothing indexed).")
    boolean disabled;

    List<String> asArguments() {
      List<String> out = new ArrayList<>();
      if (model != null) {
        out.addAll(List.of("--embedding-model", model));
      }
      if (url != null) {
        out.addAll(List.of("--embeddings-url", url));
      }
      if (keyFile != null) {
        out.addAll(List.of("--embeddings-key-file", keyFile.toAbsolutePath().toString()));
      }
      if (disabled) {
        out.add("--no-search");
      }
      return out;
    }
  }

  /** How much the server logs: --log-level, else log_level= in -o, else $CLAWFS_LOG_LEVEL, else info. */
  static final class LogOptions {
    @Option(names = "--log-level", paramLabel = "LEVEL",
        description = "error, warn, info (default), debug or trace (also log_level= in -o, or $CLAWFS_LOG_LEVEL).")
    String level;

    static void configureFromEnvironment() {
      java.util.logging.Level l = java.util.logging.Level.INFO;
      String env = System.getenv("CLAWFS_LOG_LEVEL");
      if (env != null && !env.isBlank()) {
        try {
          l = Logs.parse(env);
        } catch (CliException e) {
          System.err.println("clawfs: " + e.getMessage() + " (in CLAWFS_LOG_LEVEL); logging at info");
        }
      }
      Logs.configure(l);
    }

    void apply() {
      if (level != null) {
        Logs.configure(Logs.parse(level));
      }
    }

    List<String> asArguments() {
      return level == null ? List.of() : List.of("--log-level", level);
    }
  }

  /** How much audit history the server keeps; passed from mount to the server it starts. */
  static final class AuditOptions {
    @Option(names = "--audit-history-mib", paramLabel = "MIB",
        description = "Audit history kept sealed in the vault, in MiB (default ${DEFAULT-VALUE}; 0 keeps none).")
    long historyMiB = 64;

    List<String> asArguments() {
      return List.of("--audit-history-mib", Long.toString(historyMiB));
    }
  }

  /** Where the passphrase comes from: a file, CLAWFS_PASSPHRASE, stdin (server) or the terminal. */
  static final class PassphraseOptions {
    @Option(names = "--passphrase-file", paramLabel = "FILE", description = "Read the passphrase from the first line of FILE.")
    Path file;

    @Option(names = "--passphrase-stdin", hidden = true)
    boolean stdin;

    char[] read(boolean twice) throws IOException {
      if (file != null) {
        if (!Files.isReadable(file)) {
          throw new CliException(ERROR, "cannot read passphrase file " + file);
        }
        String s = Files.readString(file, StandardCharsets.UTF_8);
        int nl = s.indexOf('\n');
        return checked((nl >= 0 ? s.substring(0, nl) : s).replace("\r", "").toCharArray());
      }
      if (stdin) {
        BufferedReader r = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line = r.readLine();
        return checked(line == null ? new char[0] : line.toCharArray());
      }
      String env = System.getenv("CLAWFS_PASSPHRASE");
      if (env != null) {
        return checked(env.toCharArray());
      }
      Console c = System.console();
      if (c == null) {
        throw new CliException(USAGE, "no passphrase: use --passphrase-file, CLAWFS_PASSPHRASE or a terminal");
      }
      char[] p = c.readPassword("Passphrase: ");
      if (p == null) {
        throw new CliException(USAGE, "no passphrase given");
      }
      if (twice) {
        char[] again = c.readPassword("Passphrase (again): ");
        if (again == null || !Arrays.equals(p, again)) {
          throw new CliException(USAGE, "the passphrases differ");
        }
        Arrays.fill(again, '\0');
      }
      return checked(p);
    }

    private static char[] checked(char[] p) {
      if (p.length == 0) {
        throw new CliException(USAGE, "the passphrase is empty");
      }
      return p;
    }
  }

  @Command(name = "init", description = "Create a new encrypted vault in VAULT (an empty or missing directory).")
  static final class Init implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "VAULT")
    Path vault;

    @CommandLine.Mixin
    PassphraseOptions pass;

    @Option(names = "--kdf-memory-kib", paramLabel = "KIB", description = "Argon2id memory (default ${DEFAULT-VALUE}).")
    int memoryKiB = KdfParams.defaults().memoryKiB();

    @Option(names = "--kdf-iterations", paramLabel = "N", description = "Argon2id passes (default ${DEFAULT-VALUE}).")
    int iterations = KdfParams.defaults().iterations();

    @Override
    public Integer call() throws IOException {
      Path v = vault.toAbsolutePath().normalize();
      if (VaultHeader.exists(v)) {
        throw new CliException(ERROR, "a vault already exists at " + v + "; refusing to overwrite it");
      }
      if (Files.exists(v)) {
        if (!Files.isDirectory(v)) {
          throw new CliException(ERROR, v + " is not a directory");
        }
        try (var s = Files.list(v)) {
          if (s.findAny().isPresent()) {
            throw new CliException(ERROR, v + " is not empty; a vault needs a directory of its own");
          }
        }
      }
      Files.createDirectories(v);
      // only the owner may list the vault (names are sealed, but sizes and counts are not)
      Files.setPosixFilePermissions(v, java.nio.file.attribute.PosixFilePermissions.fromString("rwx------"));
      char[] p = pass.read(true);
      KdfParams params;
      try {
        params = new KdfParams(memoryKiB, iterations, KdfParams.defaults().parallelism());
      } catch (IllegalArgumentException e) {
        throw new CliException(USAGE, "bad KDF parameters: " + e.getMessage());
      }
      MasterKeys keys = VaultHeader.create(v, p, params);
      Arrays.fill(p, '\0');
      try {
        ClawFileSystem.initialize(v, keys, Identity.uid(), Identity.gid());
      } finally {
        keys.destroy();
      }
      System.out.println("created vault " + v);
      return OK;
    }
  }

  @Command(name = "mount", description = "Unlock VAULT and mount it at MOUNTPOINT; returns once the mount is ready.")
  static final class Mount implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "VAULT")
    Path vault;

    @Parameters(index = "1", paramLabel = "MOUNTPOINT")
    Path mountpoint;

    @CommandLine.Mixin
    PassphraseOptions pass = new PassphraseOptions();

    @Option(names = "--foreground", description = "Stay attached: serve in this process until unmounted.")
    boolean foreground;

    @CommandLine.Mixin
    SearchOptions search = new SearchOptions();

    @CommandLine.Mixin
    AuditOptions audit = new AuditOptions();

    @CommandLine.Mixin
    LogOptions logs = new LogOptions();

    @Option(names = {"-o", "--options"}, paramLabel = "OPTS",
        description = "Mount options, comma separated, as in fstab: passphrase_file=F, ro, allow_other, uid=N, gid=N, noatime,"
            + " max_readahead=N, ... (see the README).")
    String options;

    @Option(names = "--commit-interval-ms", paramLabel = "MS", description = "Longest time metadata waits in memory before it is committed (default ${DEFAULT-VALUE}).")
    long commitIntervalMs = 1000;

    @Option(names = "--keyring-timeout", paramLabel = "SECONDS",
        description = "Keep the unlocked vault key in the kernel keyring for SECONDS, so a remount (after a crash) needs no"
            + " passphrase until then; `clawfs lock VAULT` drops it (default: not kept).")
    Long keyringTimeout;

    /** Set by the mount(8) helper: -s ignores unknown options, -f checks everything but mounts nothing. */
    boolean sloppy;
    boolean fake;

    @Override
    public Integer call() throws Exception {
      Path v = vault.toAbsolutePath().normalize();
      Path m = mountpoint.toAbsolutePath().normalize();
      MountOptions opts = MountOptions.parse(options, sloppy);
      opts.warnings().forEach(w -> System.err.println("clawfs: " + w));
      opts.applyTo(pass, search, audit);
      if (logs.level == null) {
        logs.level = opts.logLevel();
      }
      logs.apply();
      long commitMs = opts.commitIntervalMs(commitIntervalMs);
      long keep = opts.keyringTimeout(keyringTimeout == null ? 0 : keyringTimeout);
      if (keep < 0 || keep > Unlock.MAX_TIMEOUT) {
        throw new CliException(USAGE, "--keyring-timeout wants seconds from 0 to " + Unlock.MAX_TIMEOUT);
      }
      Mounts.checkVault(v);
      if (fake) {
        Mounts.checkMountpoint(m);
        if (pass.file != null && !Files.isReadable(pass.file)) {
          throw new CliException(ERROR, "cannot read passphrase file " + pass.file);
        }
        System.err.println("clawfs: would mount " + v + " at " + m + " (fake: nothing mounted)");
        return OK;
      }
      Mounts.prepareMountpoint(m);
      Mounts.forgetUmountHelper(m);
      Mounts.checkVaultNotMounted(v);
      boolean fromKeyring = Unlock.kept(v, note -> System.err.println("clawfs: " + note + "; asking for the passphrase"));
      char[] p = null;
      if (fromKeyring) {
        System.err.println("clawfs: unlocking with the key kept in the kernel keyring (no passphrase needed; `clawfs lock "
            + v + "` drops it)");
      } else {
        p = pass.read(false);
      }
      List<String> serverArgs = new ArrayList<>();
      if (keep > 0) {
        serverArgs.addAll(List.of("--keyring-timeout", Long.toString(keep)));
      }
      serverArgs.addAll(List.of("--commit-interval-ms", Long.toString(commitMs)));
      if (opts.fuseOptions() != null) {
        serverArgs.addAll(List.of("-o", opts.fuseOptions()));
      }
      if (opts.noAtime()) {
        serverArgs.add("--no-atime");
      }
      serverArgs.addAll(search.asArguments());
      serverArgs.addAll(audit.asArguments());
      serverArgs.addAll(logs.asArguments());
      if (foreground) {
        try {
          return Server.serve(v, m, p == null ? Unlock.keyring(keep) : Unlock.passphrase(p, keep), opts.fuseOptions(),
              commitMs, opts.noAtime(), search, audit, null);
        } catch (Unlock.Stale e) {
          System.err.println("clawfs: " + e.getMessage() + "; asking for the passphrase");
          return Server.serve(v, m, Unlock.passphrase(pass.read(false), keep), opts.fuseOptions(), commitMs, opts.noAtime(),
              search, audit, null);
        }
      }
      return spawn(v, m, p, serverArgs);
    }

    /** Starts the server; {@code p} null: it unlocks with the key kept in the kernel keyring. */
    private int spawn(Path v, Path m, char[] p, List<String> serverArgs) throws Exception {
      Path log = Mounts.logFile(m);
      List<String> cmd = new ArrayList<>();
      cmd.add("setsid");
      cmd.add(ProcessHandle.current().info().command().orElse("java"));
      cmd.add("-Dfile.encoding=" + System.getProperty("file.encoding"));
      cmd.add("-Dsun.jnu.encoding=" + System.getProperty("sun.jnu.encoding"));
      // give memory back when idle: G1 otherwise keeps the heap it grew to during a burst of
      // metadata work (seen: 4.5 GB resident after extracting a kernel tree)
      cmd.addAll(SERVER_JVM_OPTIONS);
      String extra = System.getenv("CLAWFS_SERVER_JAVA_OPTS");
      if (extra != null && !extra.isBlank()) {
        cmd.addAll(Arrays.asList(extra.trim().split("\\s+")));
      }
      cmd.add("-cp");
      cmd.add(Path.of(ClawfsCli.class.getProtectionDomain().getCodeSource().getLocation().toURI()).toString());
      cmd.add(ClawfsCli.class.getName());
      cmd.add("serve");
      cmd.add(v.toString());
      cmd.add(m.toString());
      cmd.add(p == null ? "--from-keyring" : "--passphrase-stdin");
      cmd.addAll(serverArgs);
      ProcessBuilder pb = new ProcessBuilder(cmd);
      // a systemd unit's notification socket is for its main process, never for a server it forks
      pb.environment().remove("NOTIFY_SOCKET");
      pb.redirectError(ProcessBuilder.Redirect.appendTo(log.toFile()));
      Process proc = pb.start();
      try (OutputStream os = proc.getOutputStream()) {
        if (p != null) { // null: the server reads the key kept in the kernel keyring itself
          byte[] bytes = StandardCharsets.UTF_8.encode(java.nio.CharBuffer.wrap(p)).array();
          int len = 0;
          while (len < bytes.length && bytes[len] != 0) {
            len++;
          }
          os.write(bytes, 0, len);
          os.write('\n');
          Arrays.fill(bytes, (byte) 0);
        }
      } finally {
        if (p != null) {
          Arrays.fill(p, '\0');
        }
      }
      BufferedReader r = new BufferedReader(new InputStreamReader(proc.getInputStream(), StandardCharsets.UTF_8));
      String line = r.readLine();
      // the JVM itself may print to stdout first (for example a flight recorder banner)
      while (line != null && !line.startsWith("READY") && !line.startsWith("ERROR ") && !line.startsWith("STALE ")) {
        if (line.startsWith("NOTE ")) {
          System.err.println("clawfs: " + line.substring(5));
        }
        line = r.readLine();
      }
      if (line != null && line.startsWith("STALE ")) {
        proc.waitFor(10, TimeUnit.SECONDS);
        System.err.println("clawfs: " + line.substring(6) + "; asking for the passphrase");
        return spawn(v, m, pass.read(false), serverArgs);
      }
      if (line != null && line.startsWith("READY")) {
        System.out.println("mounted " + v + " at " + m + " (server pid " + proc.pid() + ", log " + log + ")");
        return OK;
      }
      if (line != null && line.startsWith("ERROR ")) {
        String[] parts = line.split(" ", 3);
        proc.waitFor(10, TimeUnit.SECONDS);
        throw new CliException(Integer.parseInt(parts[1]), parts.length > 2 ? parts[2] : "mount failed");
      }
      proc.waitFor(10, TimeUnit.SECONDS);
      throw new CliException(ERROR, "the server exited before the mount was ready; see " + log);
    }
  }

  /** JVM settings for a server: give memory back when idle (the systemd unit sets the same). */
  static final List<String> SERVER_JVM_OPTIONS = List.of("-XX:+UseG1GC", "-XX:G1PeriodicGCInterval=10000",
      "-XX:MinHeapFreeRatio=5", "-XX:MaxHeapFreeRatio=20", "-XX:MaxGCPauseMillis=50");

  @Command(name = "umount", aliases = "unmount", description = "Flush everything, unmount MOUNTPOINT and end its server.")
  static final class Umount implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "MOUNTPOINT")
    Path mountpoint;

    @Override
    public Integer call() throws Exception {
      Path m = mountpoint.toAbsolutePath().normalize();
      Mounts.unmount(m);
      System.out.println("unmounted " + m);
      return OK;
    }
  }

  static Path requireMount(Path mountpoint) throws IOException {
    Path m = mountpoint.toAbsolutePath().normalize();
    if (!Mounts.isClawfsMount(m)) {
      throw new CliException(BAD_MOUNTPOINT, m + " is not a ClawFS mount");
    }
    return m;
  }

  @Command(name = "search", description = "Search a mount: the same as listing /clawfs/search/QUERY/, with scores and passages.")
  static final class Search implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "MOUNTPOINT")
    Path mountpoint;

    @Parameters(index = "1..*", arity = "1..*", paramLabel = "QUERY", description = "The query (the words may be separate arguments).")
    List<String> words;

    @Option(names = "--json", description = "Print the raw .results.json.")
    boolean json;

    @Override
    public Integer call() throws Exception {
      Path m = requireMount(mountpoint);
      String query = String.join(" ", words).strip();
      // a slash separates directories: inside in:SCOPE it is the scope's own; elsewhere a space does the same job
      String scope = "";
      if (query.regionMatches(true, 0, "in:", 0, 3)) {
        int sp = query.indexOf(' ');
        scope = sp < 0 ? query : query.substring(0, sp + 1);
        query = sp < 0 ? "" : query.substring(sp + 1);
      }
      String dir = scope + query.replace('/', ' ');
      if (dir.isBlank()) {
        throw new CliException(USAGE, "empty query");
      }
      byte[] raw;
      try {
        raw = Files.readAllBytes(m.resolve("search").resolve(dir).resolve(SearchService.RESULTS));
      } catch (java.nio.file.FileSystemException e) {
        throw new CliException(ERROR, "search failed: " + (e.getReason() == null ? e.getMessage() : e.getReason()));
      }
      if (json) {
        System.out.write(raw);
        System.out.flush();
      }
      var root = new com.fasterxml.jackson.databind.ObjectMapper().readTree(raw);
      if (root.has("error")) {
        System.err.println("clawfs: " + root.get("error").asText());
        return USAGE;
      }
      if (json) {
        return OK;
      }
      var hits = root.get("hits");
      if (hits.isEmpty()) {
        System.out.println("no hits");
        return OK;
      }
      for (var h : hits) {
        String passage = h.get("passage").asText().replaceAll("\\s+", " ").strip();
        if (passage.length() > 160) {
          passage = passage.substring(0, 157) + "...";
        }
        StringBuilder how = new StringBuilder();
        if (h.has("keyword_rank")) {
          how.append("keyword #").append(h.get("keyword_rank").asInt());
        }
        if (h.has("semantic_rank")) {
          how.append(how.length() > 0 ? ", " : "").append("semantic #").append(h.get("semantic_rank").asInt());
        }
        System.out.printf("%2d. %s  (score %.4f; %s)%n    %s%n", h.get("rank").asInt(), m + h.get("path").asText(),
            h.get("score").asDouble(), how, passage);
      }
      return OK;
    }
  }

  @Command(name = "reindex", description = "Rebuild the search index of a mount (root only), showing progress until done.")
  static final class Reindex implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "MOUNTPOINT")
    Path mountpoint;

    @Option(names = "--no-wait", description = "Start the rebuild and return at once.")
    boolean noWait;

    @Override
    public Integer call() throws Exception {
      Path m = requireMount(mountpoint);
      Path index = m.resolve("system").resolve("index");
      try {
        Files.writeString(index.resolve("control"), "reindex\n", StandardCharsets.UTF_8);
      } catch (java.nio.file.AccessDeniedException e) {
        throw new CliException(ERROR, "only root can rebuild the index");
      }
      if (noWait) {
        System.out.println("reindex started; progress in " + index.resolve("status"));
        return OK;
      }
      boolean tty = System.console() != null;
      String last = "";
      while (true) {
        Map<String, String> st = statusOf(index.resolve("status"));
        long total = parseLong(st.getOrDefault("reindex", "0 of 0 files").replaceAll(".* of (\\d+).*", "$1"));
        long done = parseLong(st.getOrDefault("reindex", "0").replaceAll("^(\\d+).*", "$1"));
        long waiting = parseLong(st.getOrDefault("files waiting for embeddings", "0"));
        boolean idle = "idle".equals(st.get("state"));
        int width = 30;
        int filled = total == 0 ? width : (int) Math.min(width, done * width / total);
        String line = String.format("[%s%s] %d/%d files indexed, %d waiting for embeddings, %s vectors",
            "#".repeat(filled), ".".repeat(width - filled), Math.min(done, total), total, waiting, st.getOrDefault("vectors", "?"));
        if (tty) {
          System.out.print("\r" + line);
        } else if (!line.equals(last)) {
          System.out.println(line);
        }
        last = line;
        if (idle) {
          break;
        }
        Thread.sleep(500);
      }
      System.out.println(tty ? "\ndone" : "done");
      return OK;
    }

    private static long parseLong(String s) {
      try {
        return Long.parseLong(s.trim());
      } catch (NumberFormatException e) {
        return 0;
      }
    }

    static Map<String, String> statusOf(Path status) throws IOException {
      Map<String, String> out = new java.util.HashMap<>();
      for (String line : Files.readAllLines(status, StandardCharsets.UTF_8)) {
        int c = line.indexOf(": ");
        if (c > 0 && !line.startsWith(" ")) {
          out.put(line.substring(0, c), line.substring(c + 2));
        }
      }
      return out;
    }
  }
}
