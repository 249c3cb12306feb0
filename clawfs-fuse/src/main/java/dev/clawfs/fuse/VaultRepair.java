package dev.clawfs.fuse;

import dev.clawfs.crypto.MasterKeys;
import dev.clawfs.fuse.ContentVerifier.Finding;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Repairs an unmounted vault so that it mounts and keeps everything that can be kept. Nothing is
 * deleted: what the repair replaces or sets aside is moved to {@code VAULT/repair/<time>/}.
 *
 * <ol>
 *   <li>Metadata: when the database is damaged or disagrees with itself, a new {@code metadata.db}
 *       is built from every row that can still be read and authenticates (the old database goes
 *       to the backup). Entries naming lost inodes are left out; inodes no directory reaches are
 *       linked into {@code /workspaces/lost+found} as {@code #INODE}; a lost root or top-level
 *       directory is recreated; link counts are recomputed. The chunk versions of a lost version
 *       block are searched for by trial (the newest version that authenticates in either slot),
 *       and chunks not found become holes, which the file's note lists.
 *   <li>Content files no inode names (which a mount deletes) are moved to the backup.
 *   <li>Each file with chunks that fail is moved (renamed, not rewritten) to
 *       {@code /workspaces/lost+found/INODE-NAME}, its damaged chunks still reading as EIO, with a
 *       note {@code INODE-NAME.note.txt} saying which chunks failed and why, and a copy
 *       {@code INODE-NAME.salvaged} in which the damaged chunks read as zeros.
 * </ol>
 * lost+found is made mode 0700, owned by root: a file moved out of /vault must not become readable
 * to anyone it was not readable to before.
 */
public final class VaultRepair {
  /** The folder in the vault directory that keeps what a repair set aside. */
  public static final String BACKUP_DIR = "repair";
  private static final DateTimeFormatter STAMP =
      DateTimeFormatter.ofPattern("uuuuMMdd'T'HHmmss'Z'").withZone(ZoneOffset.UTC);

  /**
   * What a repair did.
   *
   * @param backup where the old database and the set-aside content files went, or null when
   *     nothing had to be set aside
   * @param actions each change, in words
   * @param moved the files moved to lost+found, by inode, with their new paths
   */
  public record Result(Path backup, List<String> actions, Map<Long, String> moved) {}

  private final Path vault;
  private final MasterKeys keys;
  private final Instant now;
  private final List<String> actions = new ArrayList<>();
  private final Map<Long, String> moved = new LinkedHashMap<>();
  private Path backup;

  private VaultRepair(Path vault, MasterKeys keys, Instant now) {
    this.vault = vault;
    this.keys = keys;
    this.now = now;
  }

  /**
   * Repairs the unmounted vault at {@code vault}. The caller makes sure no server has it mounted.
   *
   * @throws IOException when the repair cannot proceed (nothing has been changed unless the
   *     actions say so)
   */
  public static Result run(Path vault, MasterKeys keys) throws IOException {
    VaultRepair r = new VaultRepair(vault, keys, Instant.now());
    r.repair();
    return new Result(r.backup, List.copyOf(r.actions), Map.copyOf(r.moved));
  }

  private void repair() throws IOException {
    MetadataRebuild rebuild = new MetadataRebuild(this);
    try (MetadataSnapshot snap = MetadataSnapshot.read(vault, keys)) {
      if (snap.checkRecord == MetadataSnapshot.CheckRecord.FOREIGN) {
        throw new IOException(MetadataStore.DB_FILE + " belongs to another vault (or these are not its keys);"
            + " nothing was changed");
      }
      MetadataTree tree = new MetadataTree(snap);
      if (MetadataRebuild.needed(snap, tree)) {
        rebuild.run(snap, tree);
      }
    }
    Set<String> live = new HashSet<>();
    Map<Long, List<Finding>> damaged;
    MetadataTree tree;
    try (MetadataSnapshot snap = MetadataSnapshot.read(vault, keys)) {
      tree = new MetadataTree(snap);
      if (snap.openError != null || !snap.integrity.isEmpty() || !snap.badInodes.isEmpty() || !snap.badBlocks.isEmpty()
          || !tree.orphans.isEmpty()) {
        throw new IOException("the rebuilt metadata is still not sound; the old database is in " + backup);
      }
      for (Inode n : snap.inodes.values()) {
        if (n.fileId != null) {
          live.add(ContentStore.hex(n.fileId));
        }
      }
      damaged = VaultCheck.damagedFiles(vault, keys, snap);
    }
    setAsideUnreferencedContent(live);
    if (!damaged.isEmpty() || !rebuild.versionLoss.isEmpty() || !rebuild.linkedOrphans.isEmpty()) {
      new LostAndFound(this, rebuild.versionLoss, rebuild.linkedOrphans).fill(tree, damaged);
    }
  }

  Path vault() {
    return vault;
  }

  MasterKeys keys() {
    return keys;
  }

  Instant now() {
    return now;
  }

  /** Records a change, in words. */
  void act(String what) {
    actions.add(what);
  }

  /** Records a file moved to lost+found. */
  void moved(long ino, String newPath) {
    moved.put(ino, newPath);
  }

  /** The backup folder of this repair, made (mode 0700) when first asked for. */
  Path backupDir() throws IOException {
    if (backup == null) {
      Path base = vault.resolve(BACKUP_DIR);
      Files.createDirectories(base);
      Path d = base.resolve(STAMP.format(now));
      for (int k = 2; Files.exists(d); k++) {
        d = base.resolve(STAMP.format(now) + "-" + k);
      }
      Files.createDirectory(d);
      Files.setPosixFilePermissions(base, PosixFilePermissions.fromString("rwx------"));
      Files.setPosixFilePermissions(d, PosixFilePermissions.fromString("rwx------"));
      backup = d;
    }
    return backup;
  }

  // ================================================================== content files

  private void setAsideUnreferencedContent(Set<String> live) throws IOException {
    int n = 0;
    for (Path f : VaultCheck.contentFiles(vault)) {
      if (live.contains(f.getFileName().toString())) {
        continue;
      }
      Path dest = backupDir().resolve(ContentStore.DIR).resolve(f.getParent().getFileName().toString())
          .resolve(f.getFileName().toString());
      Files.createDirectories(dest.getParent());
      Files.move(f, dest, StandardCopyOption.REPLACE_EXISTING);
      n++;
    }
    if (n > 0) {
      actions.add("moved " + n + " content file(s) no inode names to " + vault.relativize(backup) + "/"
          + ContentStore.DIR + "/ (a mount would delete them)");
    }
  }
}
