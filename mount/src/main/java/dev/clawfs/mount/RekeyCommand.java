package dev.clawfs.mount;

import dev.clawfs.crypto.MasterKeys;
import dev.clawfs.crypto.VaultHeader;
import dev.clawfs.crypto.WrongPassphraseException;
import dev.clawfs.fuse.ClawFileSystem;
import dev.clawfs.fuse.FsException;
import dev.clawfs.mount.ClawfsCli.CliException;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code clawfs rekey VAULT}: a new master key becomes primary, everything is re-encrypted under
 * it, and the old key is retired. Mounted, the server does it in the background (this command
 * hands it the passphrase through {@code system/keys/control} and follows the progress);
 * unmounted, this command does it all itself. See {@link KeyService}.
 */
@Command(name = "rekey", description = "Add a new master key, make it primary, re-encrypt everything under it"
    + " (in the background when mounted) and retire the old key.")
final class RekeyCommand implements Callable<Integer> {
  @Parameters(index = "0", paramLabel = "VAULT")
  Path vault;

  @CommandLine.Mixin
  ClawfsCli.PassphraseOptions pass;

  @Option(names = "--status", description = "Show the progress of the rekey of the mounted vault and return.")
  boolean status;

  @Option(names = "--no-wait", description = "Mounted: start the rekey and return at once.")
  boolean noWait;

  @Override
  public Integer call() throws Exception {
    return run(vault, pass, null, status, noWait);
  }

  /** Shared with {@code clawfs passwd}: {@code newPassphrase} non-null changes the passphrase too. */
  static int run(Path vault, ClawfsCli.PassphraseOptions pass, char[] newPassphrase, boolean status, boolean noWait)
      throws Exception {
    Path v = vault.toAbsolutePath().normalize();
    Mounts.checkVault(v);
    Path m = Mounts.mountOf(v);
    if (m != null) {
      return online(m, pass, newPassphrase, status, noWait);
    }
    if (status) {
      System.out.println("state: not mounted (an unmounted vault is rekeyed by clawfs rekey itself, in the foreground)");
      return ClawfsCli.OK;
    }
    try (VaultLock lock = VaultLock.tryAcquire(v)) {
      if (lock == null) {
        throw new CliException(ClawfsCli.BAD_MOUNTPOINT, "the vault " + v + " is in use by another clawfs process"
            + " (mounted, or being checked); nothing was changed");
      }
      return offline(v, pass, newPassphrase);
    }
  }

  private static int offline(Path v, ClawfsCli.PassphraseOptions pass, char[] newPassphrase) throws Exception {
    char[] p = pass.read(false);
    MasterKeys keys;
    try {
      keys = VaultHeader.unlock(v, p);
    } catch (RuntimeException e) {
      Arrays.fill(p, '\0');
      throw e;
    }
    ClawFileSystem fs;
    AuditHistory history;
    TranscriptHistory transcripts;
    try {
      fs = ClawFileSystem.open(v, keys, 1000);
      ClawFileSystem.warmUpCryptoInBackground(); // cold, the JDK seals at a fraction of its speed
      history = AuditHistory.open(v.resolve("audit"), keys, Long.MAX_VALUE / 4);
      transcripts = TranscriptHistory.open(v, keys);
    } catch (IOException | FsException e) {
      Arrays.fill(p, '\0');
      keys.destroy();
      throw new CliException(ClawfsCli.BAD_VAULT, "cannot open the vault: " + ClawfsCli.messageOf(e));
    }
    boolean ok;
    String status;
    KeyService ks = new KeyService(v, fs, keys, history, null);
    ks.addHistory(transcripts.segments());
    try {
      char[] keep;
      try {
        keep = ks.rotate(p, newPassphrase);
      } finally {
        Arrays.fill(p, '\0');
      }
      if (newPassphrase != null) {
        System.out.println("passphrase changed; a new master key is primary: re-encrypting under it");
      }
      ok = ks.run(keep, System.out::println);
      status = ks.status();
    } finally {
      transcripts.close();
      history.close();
      fs.close();
      keys.destroy();
    }
    System.out.print(status);
    if (ok) {
      System.out.println("rekey done: everything is under the new key and the old key is gone from the keyset;"
          + " the search index is rebuilt at the next mount");
    }
    return ok ? ClawfsCli.OK : ClawfsCli.PROBLEMS;
  }

  private static int online(Path m, ClawfsCli.PassphraseOptions pass, char[] newPassphrase, boolean status,
      boolean noWait) throws Exception {
    Path dir = m.resolve("system").resolve("keys");
    if (status) {
      System.out.print(Files.readString(dir.resolve("status"), StandardCharsets.UTF_8));
      return ClawfsCli.OK;
    }
    char[] p = pass.read(false);
    CharBuffer cmd = CharBuffer.allocate(p.length + (newPassphrase == null ? 0 : newPassphrase.length) + 16);
    cmd.put(newPassphrase == null ? "rekey\n" : "passwd\n").put(p).put('\n');
    if (newPassphrase != null) {
      cmd.put(newPassphrase).put('\n');
    }
    Arrays.fill(p, '\0');
    cmd.flip();
    ByteBuffer bytes = StandardCharsets.UTF_8.encode(cmd);
    Arrays.fill(cmd.array(), '\0');
    byte[] out = new byte[bytes.remaining()];
    bytes.get(out);
    Arrays.fill(bytes.array(), (byte) 0);
    try (OutputStream o = new FileOutputStream(dir.resolve("control").toFile())) {
      o.write(out); // the server checks the passphrase and rewrites the header when this closes
    } catch (IOException e) {
      String msg = String.valueOf(e.getMessage());
      if (msg.contains("Permission denied")) {
        throw new CliException(ClawfsCli.WRONG_PASSPHRASE, "refused: wrong passphrase, or not root");
      }
      if (msg.contains("busy")) {
        throw new CliException(ClawfsCli.ERROR, "a rekey is already running: clawfs rekey --status " + m);
      }
      throw new CliException(ClawfsCli.ERROR, "the server refused the command: " + msg);
    } finally {
      Arrays.fill(out, (byte) 0);
    }
    if (newPassphrase != null) {
      System.out.println("passphrase changed; a new master key is primary: re-encrypting under it in the background");
    }
    if (noWait) {
      System.out.println("rekey started; progress: clawfs rekey --status " + m);
      return ClawfsCli.OK;
    }
    String last = "";
    while (true) {
      Map<String, String> st = new java.util.HashMap<>();
      for (String l : Files.readAllLines(dir.resolve("status"), StandardCharsets.UTF_8)) {
        int c = l.indexOf(": ");
        if (c > 0 && !l.startsWith(" ")) {
          st.put(l.substring(0, c), l.substring(c + 2));
        }
      }
      String state = st.getOrDefault("state", "?");
      String line = state + ": " + st.getOrDefault("files", "?") + " files, " + st.getOrDefault("rate", "?");
      if (!line.equals(last)) {
        System.out.println(line);
        last = line;
      }
      if (state.startsWith("done") || state.startsWith("incomplete") || state.startsWith("failed")) {
        System.out.print(Files.readString(dir.resolve("status"), StandardCharsets.UTF_8));
        return state.startsWith("done") ? ClawfsCli.OK : ClawfsCli.PROBLEMS;
      }
      Thread.sleep(200);
    }
  }
}
