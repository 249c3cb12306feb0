package dev.clawfs.mount;

import dev.clawfs.crypto.KdfParams;
import dev.clawfs.crypto.MasterKeys;
import dev.clawfs.crypto.VaultHeader;
import dev.clawfs.crypto.WrongPassphraseException;
import dev.clawfs.fuse.Caller;
import dev.clawfs.fuse.ClawFileSystem;
import dev.clawfs.fuse.Errno;
import dev.clawfs.fuse.FsException;
import dev.clawfs.fuse.VirtualDir;
import java.io.IOException;
import java.lang.System.Logger.Level;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;
import java.util.stream.Stream;

/**
 * Master key rotation ({@code clawfs rekey}) and passphrase change with rotation ({@code clawfs
 * passwd}), on a mounted vault (the server runs it in the background, reached through
 * {@code system/keys/control}, progress in {@code system/keys/status}) or an unmounted one (the
 * command runs it in the foreground over a {@link ClawFileSystem} without FUSE).
 *
 * <p>Steps: (1) a new master key becomes primary in the header (with passwd, in the same header
 * write as the new passphrase), and every holder of the keys follows at once ({@link
 * MasterKeys#install}), so everything sealed from then on uses it; (2) the store-wide stores move
 * to it: metadata.db re-sealed in one transaction, the audit segments and admin/tools files
 * re-sealed, the search index dropped and rebuilt; (3) every content file still under an old key
 * is re-encrypted into a new content file; (4) a scan of what is on disk (content file headers,
 * the metadata key id row, segment and admin file headers, the index's key id) must find no old
 * key, then (5) the old key is removed from the keyset in the header. A rekey cut short (crash,
 * kill, unmount) leaves two keys in the keyset; it resumes at the next mount or {@code clawfs
 * rekey}, since every store names the key it is under.
 *
 * <p>The passphrase is needed for the last header write; it is held (a char array) only while a
 * rekey runs and zeroed when it ends. It is never logged.
 */
final class KeyService {
  private static final System.Logger LOG = System.getLogger("clawfs.keys");

  private final Path vault;
  private final ClawFileSystem fs;
  private final MasterKeys keys;
  /** The sealed line histories: the audit's, and the agents' transcripts once they are open. */
  private final List<AuditHistory> histories = new java.util.concurrent.CopyOnWriteArrayList<>();
  private final SearchService search;

  // progress, read by status(); written by the job
  private volatile String state = "idle";
  private volatile long filesDone;
  private volatile long filesTotal;
  private volatile long bytesDone;
  private volatile long bytesTotal;
  private volatile long startedNs;
  private volatile long endedNs;
  private volatile long contentNs;
  private final List<String> errors = new ArrayList<>();
  private Thread job;
  private volatile boolean stopping;

  KeyService(Path vault, ClawFileSystem fs, MasterKeys keys, AuditHistory history, SearchService search) {
    this.vault = vault;
    this.fs = fs;
    this.keys = keys;
    if (history != null) {
      histories.add(history);
    }
    this.search = search;
  }

  /** Another sealed history to re-seal (the agents' transcripts, opened after this service). */
  void addHistory(AuditHistory h) {
    histories.add(h);
  }

  /** Serves system/keys/status (progress) and system/keys/control (root writes a command). */
  void register(VirtualDir system) {
    system.dir("keys")
        .file("status", () -> status().getBytes(StandardCharsets.UTF_8))
        .file("control", () -> "commands: rekey, passwd (see clawfs rekey --help)\n".getBytes(StandardCharsets.UTF_8),
            this::command, 0200);
  }

  // ================================================================== commands

  /**
   * A command written to system/keys/control: {@code rekey\nPASSPHRASE\n} or {@code
   * passwd\nOLD\nNEW\n}. The header is rewritten before close(2) returns (so a wrong passphrase
   * is close's EACCES); the rest runs in the background.
   */
  private void command(byte[] data, Caller caller) {
    if (caller.uid() != 0) {
      Arrays.fill(data, (byte) 0);
      throw new FsException(Errno.EACCES, "only root may change the vault's keys");
    }
    char[] text;
    try {
      text = decode(data);
    } finally {
      Arrays.fill(data, (byte) 0);
    }
    try {
      List<char[]> lines = lines(text);
      try {
        if (lines.size() == 2 && Arrays.equals(lines.get(0), "rekey".toCharArray())) {
          start(lines.get(1), null);
        } else if (lines.size() == 3 && Arrays.equals(lines.get(0), "passwd".toCharArray())) {
          start(lines.get(1), lines.get(2));
        } else {
          throw new FsException(Errno.EINVAL, "write 'rekey\\nPASSPHRASE\\n' or 'passwd\\nOLD\\nNEW\\n'");
        }
      } finally {
        for (char[] l : lines) {
          Arrays.fill(l, '\0');
        }
      }
    } finally {
      Arrays.fill(text, '\0');
    }
  }

  /**
   * Rotates now (a rekey already under way is resumed instead of adding a third key) and
   * re-encrypts in the background. {@code newPassphrase} non-null: passwd.
   */
  synchronized void start(char[] passphrase, char[] newPassphrase) {
    if (job != null && job.isAlive()) {
      throw new FsException(Errno.EBUSY, "a rekey is already running (see system/keys/status)");
    }
    char[] keep;
    try {
      keep = rotate(passphrase, newPassphrase);
    } catch (WrongPassphraseException e) {
      throw new FsException(Errno.EACCES, "wrong passphrase");
    }
    job = new Thread(() -> run(keep), "clawfs-rekey");
    job.setDaemon(true);
    job.start();
  }

  /** At mount: a keyset with several keys means a rekey was cut short; it goes on in the background. */
  synchronized void resumeIfNeeded(char[] passphrase) {
    if (keys.keyIds().size() < 2) {
      Arrays.fill(passphrase, '\0');
      return;
    }
    LOG.log(Level.INFO, "the keyset holds {0} keys: resuming the rekey that was cut short", keys.keyIds().size());
    job = new Thread(() -> run(passphrase), "clawfs-rekey");
    job.setDaemon(true);
    job.start();
  }

  /**
   * The header step: a new primary key (and, for passwd, the new passphrase) in one atomic header
   * write, installed in the running key hierarchy. With a rekey already under way (several keys)
   * and no new passphrase, nothing is added: the rekey resumes. Returns the passphrase the header
   * is sealed under now (a copy the job owns).
   */
  char[] rotate(char[] passphrase, char[] newPassphrase) {
    resetProgress();
    if (newPassphrase != null) {
      state = "rotating";
      keys.install(VaultHeader.rotate(vault, passphrase, newPassphrase, (KdfParams) null));
      LOG.log(Level.INFO, "passphrase changed; new primary key {0}", Integer.toUnsignedString(keys.primaryKeyId()));
      return newPassphrase.clone();
    }
    if (keys.keyIds().size() > 1) {
      VaultHeader.unlock(vault, passphrase).destroy(); // checks the passphrase before the job needs it
      LOG.log(Level.INFO, "a rekey is under way ({0} keys): resuming it", keys.keyIds().size());
      return passphrase.clone();
    }
    state = "rotating";
    keys.install(VaultHeader.rotate(vault, passphrase));
    LOG.log(Level.INFO, "new primary key {0}", Integer.toUnsignedString(keys.primaryKeyId()));
    return passphrase.clone();
  }

  private void resetProgress() {
    startedNs = System.nanoTime();
    endedNs = 0;
    contentNs = 0;
    filesDone = filesTotal = bytesDone = bytesTotal = 0;
    synchronized (errors) {
      errors.clear();
    }
  }

  // ================================================================== the job

  /** Steps 2 to 5; {@code passphrase} is zeroed at the end. Returns whether the old keys were retired. */
  boolean run(char[] passphrase) {
    return run(passphrase, line -> { });
  }

  boolean run(char[] passphrase, Consumer<String> progress) {
    if (startedNs == 0) {
      resetProgress();
    }
    try {
      state = "metadata";
      progress.accept("re-sealing the metadata");
      fs.resealMetadata();
      state = "audit history";
      for (AuditHistory h : histories) {
        h.rekey();
      }
      state = "admin files";
      for (SealedFile f : sealedFiles()) {
        try {
          f.resealUnderPrimary();
        } catch (IOException | RuntimeException e) {
          error(f.path().getFileName() + ": " + e.getMessage());
        }
      }
      state = "search index";
      if (search != null) {
        search.rekey();
      } else if (!Integer.valueOf(keys.primaryKeyId()).equals(SearchService.indexKeyId(vault.resolve("index")))) {
        SearchService.dropIndex(vault.resolve("index")); // rebuilt from the files at the next mount
      }
      state = "content";
      long t0 = System.nanoTime();
      for (int pass = 0; pass < 2; pass++) {
        Map<Long, Long> todo = fs.filesNotUnderPrimary();
        if (todo.isEmpty()) {
          break;
        }
        if (pass == 0) {
          filesTotal = filesDone + todo.size();
          bytesTotal = bytesDone + todo.values().stream().mapToLong(Long::longValue).sum();
        }
        long lastReport = System.nanoTime();
        for (Map.Entry<Long, Long> e : todo.entrySet()) {
          if (stopping) {
            throw new IOException("stopped by the unmount; the rekey resumes at the next mount");
          }
          try {
            fs.reencrypt(e.getKey());
          } catch (IOException | RuntimeException ex) {
            if (pass == 1) {
              error("inode " + e.getKey() + ": " + ex.getMessage());
            }
          }
          if (pass == 0) {
            filesDone++;
            bytesDone += e.getValue();
          }
          if (System.nanoTime() - lastReport > 1_000_000_000L) {
            lastReport = System.nanoTime();
            progress.accept(progressLine());
          }
        }
      }
      contentNs = System.nanoTime() - t0;
      fs.sync();
      state = "verifying";
      List<String> left = stillUnderOldKeys();
      if (!left.isEmpty()) {
        for (String l : left) {
          error(l);
        }
        state = "incomplete: the old key stays (" + left.size() + " problems, listed below); run clawfs rekey again";
        LOG.log(Level.WARNING, "rekey incomplete: {0} stores still need an old key", left.size());
        return false;
      }
      for (int old : Set.copyOf(keys.keyIds())) {
        if (old != keys.primaryKeyId()) {
          keys.install(VaultHeader.retire(vault, passphrase, old));
          LOG.log(Level.INFO, "old key {0} retired", Integer.toUnsignedString(old));
        }
      }
      state = "done: the old key is retired";
      return true;
    } catch (IOException | RuntimeException e) {
      error(e.getMessage());
      state = "failed: " + e.getMessage() + " (the old key stays; run clawfs rekey again)";
      LOG.log(Level.ERROR, "rekey failed: {0}", e.getMessage());
      return false;
    } finally {
      Arrays.fill(passphrase, '\0');
      endedNs = System.nanoTime();
      progress.accept(progressLine());
    }
  }

  /**
   * What still names a key other than the primary, found by reading what is on disk: the content
   * file headers, the metadata key id, the audit segments' and admin files' headers, the index's
   * key id. Empty when the old keys can go.
   */
  List<String> stillUnderOldKeys() throws IOException {
    int primary = keys.primaryKeyId();
    List<String> left = new ArrayList<>();
    if (fs.metadataKeyId() != primary) {
      left.add("metadata.db is still under an old key");
    }
    ClawFileSystem.KeyUse use = fs.contentKeyUse();
    for (Map.Entry<Integer, Integer> e : use.files().entrySet()) {
      if (e.getKey() != primary) {
        left.add(e.getValue() + " content files are still under key " + Integer.toUnsignedString(e.getKey()));
      }
    }
    for (long ino : use.unreadable()) {
      left.add("inode " + ino + ": its content file header cannot be read");
    }
    for (AuditHistory h : histories) {
      for (Map.Entry<Integer, Integer> e : h.keyUse().entrySet()) {
        if (e.getKey() != primary) {
          left.add(e.getValue() + " " + h.what() + " segments are still under an old key");
        }
      }
    }
    for (SealedFile f : sealedFiles()) {
      Integer k = f.keyId();
      if (k != null && k != primary) {
        left.add(f.path().getFileName() + " is still under an old key");
      }
    }
    Integer ix = SearchService.indexKeyId(vault.resolve("index"));
    if (Files.exists(vault.resolve("index").resolve("index.db")) && (ix == null || ix != primary)) {
      left.add("the search index is still under an old key");
    }
    return left;
  }

  /** The admin files and installed tools ({@code admin/*.sealed}, {@code tools/*.sealed}). */
  private List<SealedFile> sealedFiles() throws IOException {
    List<SealedFile> out = new ArrayList<>();
    for (String d : List.of("admin", "tools")) {
      Path dir = vault.resolve(d);
      if (!Files.isDirectory(dir)) {
        continue;
      }
      try (Stream<Path> s = Files.list(dir)) {
        for (Path p : s.sorted().toList()) {
          String n = p.getFileName().toString();
          if (n.endsWith(".sealed") && Files.isRegularFile(p)) {
            out.add(new SealedFile(p, d.equals("tools") ? "tool" : n.substring(0, n.length() - ".sealed".length()), keys));
          }
        }
      }
    }
    return out;
  }

  private void error(String e) {
    synchronized (errors) {
      if (errors.size() < 100) {
        errors.add(e);
      }
    }
  }

  // ================================================================== status

  /** One line of progress: "content: 12/40 files, 3.0/10.0 MiB, 120.5 MiB/s". */
  String progressLine() {
    return state + ": " + filesDone + "/" + filesTotal + " files, "
        + String.format("%.1f/%.1f MiB", bytesDone / 1048576.0, bytesTotal / 1048576.0)
        + (rate() > 0 ? String.format(", %.1f MiB/s", rate()) : "");
  }

  private double rate() {
    long ns = contentNs > 0 ? contentNs : startedNs == 0 ? 0 : System.nanoTime() - startedNs;
    return ns <= 0 || bytesDone == 0 ? 0 : bytesDone / 1048576.0 / (ns / 1e9);
  }

  /** The status file: key: value lines, then the errors. */
  String status() {
    StringBuilder b = new StringBuilder();
    b.append("state: ").append(state).append('\n');
    b.append("keys: ").append(keys.keyIds().size()).append('\n');
    b.append("primary key: ").append(Integer.toUnsignedString(keys.primaryKeyId())).append('\n');
    b.append("metadata key: ").append(Integer.toUnsignedString(fs.metadataKeyId())).append('\n');
    b.append("files: ").append(filesDone).append('/').append(filesTotal).append('\n');
    b.append("bytes: ").append(bytesDone).append('/').append(bytesTotal).append('\n');
    b.append(String.format("rate: %.1f MiB/s%n", rate()));
    if (startedNs != 0) {
      long end = endedNs != 0 ? endedNs : System.nanoTime();
      b.append("seconds: ").append(String.format("%.1f", (end - startedNs) / 1e9)).append('\n');
    }
    synchronized (errors) {
      b.append("errors: ").append(errors.size()).append('\n');
      for (String e : errors) {
        b.append("  ").append(e).append('\n');
      }
    }
    return b.toString();
  }

  /** Unmount: the job stops after the file it is on (the next mount resumes it) and is waited for. */
  void close() {
    stopping = true;
    Thread t;
    synchronized (this) {
      t = job;
    }
    if (t != null) {
      try {
        t.join(60_000);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }

  /** Whether a job is running. */
  synchronized boolean running() {
    return job != null && job.isAlive();
  }

  // ================================================================== parsing

  private static char[] decode(byte[] data) {
    try {
      CharBuffer cb = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(data));
      char[] out = new char[cb.remaining()];
      cb.get(out);
      Arrays.fill(cb.array(), '\0');
      return out;
    } catch (CharacterCodingException e) {
      throw new FsException(Errno.EINVAL, "the command is not UTF-8");
    }
  }

  /** Lines without their '\n' (a last line without one counts; a trailing empty line does not). */
  private static List<char[]> lines(char[] text) {
    List<char[]> out = new ArrayList<>();
    int start = 0;
    for (int i = 0; i <= text.length; i++) {
      if (i == text.length || text[i] == '\n') {
        if (i > start || i < text.length) {
          int end = i > start && text[i - 1] == '\r' ? i - 1 : i;
          out.add(Arrays.copyOfRange(text, start, end));
        }
        start = i + 1;
      }
    }
    return out;
  }
}
