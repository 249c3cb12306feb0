package dev.clawfs.mount;

import dev.clawfs.crypto.VaultHeader;
import dev.clawfs.mount.ClawfsCli.CliException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

/**
 * {@code clawfs lock VAULT|MOUNTPOINT}: drops the vault key that {@code clawfs mount
 * --keyring-timeout} keeps in the kernel keyring, so the next mount asks for the passphrase. A
 * mount that is up stays up (its server holds the keys in memory); {@code clawfs umount} ends it.
 */
@Command(name = "lock",
    description = "Drop the vault key kept in the kernel keyring (mount --keyring-timeout), so the next mount asks for the"
        + " passphrase. TARGET is the vault or a mount point of it; a mount that is up stays up.")
final class KeyringCommand implements Callable<Integer> {
  @Parameters(index = "0", paramLabel = "TARGET")
  Path target;

  @Override
  public Integer call() throws IOException {
    Path t = target.toAbsolutePath().normalize();
    Path vault;
    Path mountedAt;
    if (VaultHeader.exists(t)) {
      vault = t;
      mountedAt = Mounts.mountOf(t);
    } else if (Mounts.isClawfsMount(t)) {
      vault = vaultOf(t);
      mountedAt = t;
    } else {
      throw new CliException(ClawfsCli.BAD_VAULT, t + " is neither a vault nor a ClawFS mount point");
    }
    String why = Keyring.unavailableReason();
    if (why != null) {
      throw new CliException(ClawfsCli.ERROR, "the kernel keyring cannot be used here: " + why);
    }
    boolean dropped;
    try {
      dropped = Keyring.drop(VaultHeader.vaultId(vault));
    } catch (Keyring.KeyringException e) {
      throw new CliException(ClawfsCli.ERROR, e.getMessage());
    }
    String still = mountedAt == null ? "" : " (it stays mounted at " + mountedAt + "; `clawfs umount " + mountedAt
        + "` ends the mount)";
    System.out.println(dropped
        ? "dropped the key kept in the kernel keyring for " + vault + ": the next mount asks for the passphrase" + still
        : "no key was kept in the kernel keyring for " + vault + "; nothing to drop" + still);
    return ClawfsCli.OK;
  }

  /** The vault a mount serves: the "vault:" line of its system/status. */
  private static Path vaultOf(Path mountpoint) throws IOException {
    for (String line : Files.readAllLines(mountpoint.resolve("system").resolve("status"), StandardCharsets.UTF_8)) {
      if (line.startsWith("vault: ")) {
        return Path.of(line.substring(7).strip());
      }
    }
    throw new CliException(ClawfsCli.BAD_VAULT, "cannot tell which vault is mounted at " + mountpoint);
  }
}
