package dev.clawfs.mount;

import dev.clawfs.crypto.RecoveryKey;
import dev.clawfs.crypto.VaultHeader;
import dev.clawfs.crypto.WrongRecoveryKeyException;
import dev.clawfs.mount.ClawfsCli.CliException;
import java.io.Console;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code clawfs export-recovery-key VAULT} prints a new recovery key (words) and
 * {@code clawfs recover VAULT} opens the vault with it and sets a new passphrase. The words go to
 * stdout once, on purpose, and nowhere else: never to a log, never into an error message.
 */
final class RecoveryCommand {
  private RecoveryCommand() {}

  @Command(name = "export-recovery-key",
      description = "Print a new recovery key for VAULT (" + RecoveryKey.WORDS + " words, on stdout) that opens it with"
          + " `clawfs recover` if the passphrase is lost; it replaces any earlier recovery key.")
  static final class Export implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "VAULT")
    Path vault;

    @CommandLine.Mixin
    ClawfsCli.PassphraseOptions pass = new ClawfsCli.PassphraseOptions();

    @Override
    public Integer call() throws IOException {
      Path v = vault.toAbsolutePath().normalize();
      Mounts.checkVault(v);
      boolean had = VaultHeader.hasRecoveryKey(v);
      char[] p = pass.read(false);
      RecoveryKey key;
      try {
        key = VaultHeader.exportRecoveryKey(v, p);
      } finally {
        Arrays.fill(p, '\0');
      }
      try {
        byte[] id = VaultHeader.vaultId(v);
        String dropped = Keyring.dropQuietly(id);
        System.err.println("clawfs: the recovery key of " + v + " (vault id " + HexFormat.of().formatHex(id) + ") follows,"
            + " " + RecoveryKey.WORDS + " words in numbered lines. Write it down and keep it apart from the vault: with it,"
            + " anyone holding a copy of the vault can open it and set a new passphrase. It is shown only now."
            + (had ? " It replaces the earlier recovery key, which no longer works." : ""));
        if (dropped != null) {
          System.err.println("clawfs: " + dropped + " (the header changed; the next mount asks for the passphrase)");
        }
        System.err.flush();
        System.out.print(key.printable());
        System.out.flush();
      } finally {
        key.destroy();
      }
      return ClawfsCli.OK;
    }
  }

  @Command(name = "recover",
      description = "Open VAULT with its recovery key (from --recovery-key-file or stdin) and set a new passphrase"
          + " (from --passphrase-file, CLAWFS_PASSPHRASE or the terminal).")
  static final class Recover implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "VAULT")
    Path vault;

    @Option(names = "--recovery-key-file", paramLabel = "FILE",
        description = "Read the recovery key's words from FILE ('-': stdin, the default).")
    Path keyFile;

    @CommandLine.Mixin
    ClawfsCli.PassphraseOptions pass = new ClawfsCli.PassphraseOptions();

    @Override
    public Integer call() throws IOException {
      Path v = vault.toAbsolutePath().normalize();
      Mounts.checkVault(v);
      if (!VaultHeader.hasRecoveryKey(v)) {
        throw new CliException(ClawfsCli.ERROR, v + " has no recovery key (none was ever exported with"
            + " `clawfs export-recovery-key`); nothing was changed");
      }
      RecoveryKey key = parsed(readWords());
      try {
        // a wrong key is reported before the new passphrase is asked for
        refusedKeyExits3(() -> VaultHeader.checkRecoveryKey(v, key));
        char[] p = pass.read(true);
        try {
          refusedKeyExits3(() -> VaultHeader.recover(v, key, p));
        } finally {
          Arrays.fill(p, '\0');
        }
      } finally {
        key.destroy();
      }
      String dropped = Keyring.dropQuietly(VaultHeader.vaultId(v));
      if (dropped != null) {
        System.err.println("clawfs: " + dropped);
      }
      System.out.println("recovered " + v + ": it opens with the new passphrase now, not the old one; the recovery key"
          + " stays valid (`clawfs export-recovery-key` replaces it)");
      return ClawfsCli.OK;
    }

    private static RecoveryKey parsed(String text) {
      try {
        return RecoveryKey.parse(text);
      } catch (WrongRecoveryKeyException e) {
        throw new CliException(ClawfsCli.WRONG_PASSPHRASE, "recovery key refused: " + e.getMessage() + "; nothing was changed");
      }
    }

    private static void refusedKeyExits3(Runnable r) {
      try {
        r.run();
      } catch (WrongRecoveryKeyException e) {
        throw new CliException(ClawfsCli.WRONG_PASSPHRASE, "recovery key refused: " + e.getMessage() + "; nothing was changed");
      }
    }

    /** The words: from the file, from a terminal (a line at a time until all are in), or all of stdin. */
    private String readWords() throws IOException {
      if (keyFile != null && !keyFile.toString().equals("-")) {
        if (!Files.isReadable(keyFile)) {
          throw new CliException(ClawfsCli.ERROR, "cannot read recovery key file " + keyFile);
        }
        return Files.readString(keyFile, StandardCharsets.ISO_8859_1);
      }
      Console c = System.console();
      if (c == null) {
        return new String(System.in.readAllBytes(), StandardCharsets.ISO_8859_1);
      }
      System.err.println("Recovery key: type or paste its " + RecoveryKey.WORDS + " words (line numbers may be left out);"
          + " an empty line ends early.");
      StringBuilder b = new StringBuilder();
      int words = 0;
      while (words < RecoveryKey.WORDS) {
        String line = c.readLine("> ");
        if (line == null || line.isBlank()) {
          break;
        }
        b.append(line).append('\n');
        words = (int) Arrays.stream(line.replaceAll("(^|\\s)[0-9]+[:.]", " ").split("[^A-Za-z]+"))
            .filter(w -> !w.isEmpty()).count() + words;
      }
      return b.toString();
    }
  }
}
