package dev.clawfs.mount;

import dev.clawfs.mount.ClawfsCli.CliException;
import java.io.Console;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code clawfs passwd VAULT}: a new passphrase AND a new primary master key in one header write,
 * then the rekey's re-encryption (see {@link RekeyCommand}, {@link KeyService}): a copy of the old
 * header, which the old passphrase still opens, holds no key for anything written afterwards, and
 * none at all for the vault once the re-encryption has finished (docs/security.md).
 */
@Command(name = "passwd", description = "Change the passphrase; also rotates the master key and re-encrypts"
    + " everything, so an old copy of the header cannot read the vault's new data.")
final class PasswdCommand implements Callable<Integer> {
  @Parameters(index = "0", paramLabel = "VAULT")
  Path vault;

  @CommandLine.Mixin
  ClawfsCli.PassphraseOptions pass;

  @Option(names = "--new-passphrase-file", paramLabel = "FILE", description = "Read the new passphrase from the first"
      + " line of FILE (else it is asked twice on the terminal).")
  Path newFile;

  @Option(names = "--no-wait", description = "Mounted: return once the passphrase is changed; the re-encryption"
      + " goes on in the background (clawfs rekey --status VAULT).")
  boolean noWait;

  @Override
  public Integer call() throws Exception {
    char[] fresh = readNew();
    try {
      return RekeyCommand.run(vault, pass, fresh, false, noWait);
    } finally {
      Arrays.fill(fresh, '\0');
    }
  }

  private char[] readNew() throws Exception {
    char[] p;
    if (newFile != null) {
      if (!Files.isReadable(newFile)) {
        throw new CliException(ClawfsCli.ERROR, "cannot read passphrase file " + newFile);
      }
      String s = Files.readString(newFile, StandardCharsets.UTF_8);
      int nl = s.indexOf('\n');
      p = (nl >= 0 ? s.substring(0, nl) : s).replace("\r", "").toCharArray();
    } else {
      Console c = System.console();
      if (c == null) {
        throw new CliException(ClawfsCli.USAGE, "no new passphrase: use --new-passphrase-file or a terminal");
      }
      p = c.readPassword("New passphrase: ");
      char[] again = c.readPassword("New passphrase (again): ");
      if (p == null || again == null || !Arrays.equals(p, again)) {
        throw new CliException(ClawfsCli.USAGE, "the passphrases differ");
      }
      Arrays.fill(again, '\0');
    }
    if (p.length == 0) {
      throw new CliException(ClawfsCli.USAGE, "the new passphrase is empty");
    }
    for (char ch : p) {
      if (ch == '\n') {
        throw new CliException(ClawfsCli.USAGE, "the new passphrase holds a line break");
      }
    }
    return p;
  }
}
