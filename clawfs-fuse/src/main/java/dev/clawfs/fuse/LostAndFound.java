package dev.clawfs.fuse;

import dev.clawfs.crypto.ChunkCipher;
import dev.clawfs.crypto.MasterKeys;
import dev.clawfs.fuse.ContentVerifier.Finding;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Instant;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Fills {@code /workspaces/lost+found} through {@link ClawFileSystem} (so the ordinary write
 * order applies): each file with chunks that fail is renamed there as {@code INODE-NAME},
 * unchanged (its damaged chunks still read as EIO), with {@code INODE-NAME.note.txt} (which
 * chunks, which bytes, why) and {@code INODE-NAME.salvaged}, a copy whose unreadable chunks are
 * holes; each inode the rebuild linked there as {@code #INODE} gets a note too. lost+found is
 * mode 0700 and root's: a file moved out of /vault must not become readable to anyone new.
 */
final class LostAndFound {
  private static final int O_RDWR = 2;

  private final VaultRepair repair;
  private final Path vault;
  private final MasterKeys keys;
  private final Instant now;
  private final Map<Long, List<String>> versionLoss;
  private final Set<Long> linkedOrphans;

  LostAndFound(VaultRepair repair, Map<Long, List<String>> versionLoss, Set<Long> linkedOrphans) {
    this.repair = repair;
    this.vault = repair.vault();
    this.keys = repair.keys();
    this.now = repair.now();
    this.versionLoss = versionLoss;
    this.linkedOrphans = linkedOrphans;
  }

  /** Moves the damaged files (outside lost+found) there, and notes every file it holds for this repair. */
  void fill(MetadataTree tree, Map<Long, List<Finding>> damaged) throws IOException {
    ClawFileSystem fs = ClawFileSystem.open(vault, keys, 50);
    try {
      byte[] lf = bytes(VaultCheck.LOST_FOUND_PATH);
      try {
        fs.getattr(lf);
      } catch (FsException e) {
        fs.mkdir(lf, 0700, Caller.ROOT);
        repair.act("created " + VaultCheck.LOST_FOUND_PATH + " (mode 0700, root's)");
      }
      Set<Long> todo = new java.util.TreeSet<>(damaged.keySet());
      todo.addAll(versionLoss.keySet());
      for (long ino : todo) {
        if (linkedOrphans.contains(ino)) {
          continue; // already in lost+found; its note is written below
        }
        byte[] path = tree.paths.get(ino);
        if (path == null) {
          continue;
        }
        if (tree.quarantined.contains(ino)) {
          continue; // moved by an earlier repair, with its note
        }
        moveDamaged(fs, ino, path, damaged.getOrDefault(ino, List.of()));
      }
      for (long ino : linkedOrphans) {
        byte[] path = MetadataTree.join(lf, bytes("#" + ino));
        writeNote(fs, MetadataTree.join(lf, bytes("#" + ino + ".note.txt")), orphanNote(ino, path, fs,
            damaged.getOrDefault(ino, List.of())));
      }
    } finally {
      fs.close();
    }
  }

  private void moveDamaged(ClawFileSystem fs, long ino, byte[] path, List<Finding> findings) {
    Attr a = fs.getattr(path);
    byte[] base = lastName(path);
    String prefix = ino + "-";
    int room = Name.MAX_BYTES - prefix.length() - ".note.txt".length() - 4;
    if (base.length > room) {
      base = Arrays.copyOf(base, room);
    }
    byte[] lf = bytes(VaultCheck.LOST_FOUND_PATH);
    byte[] name = concat(bytes(prefix), base);
    for (int k = 2; exists(fs, MetadataTree.join(lf, name)); k++) {
      name = concat(bytes(prefix), concat(base, bytes("-" + k)));
    }
    byte[] dest = MetadataTree.join(lf, name);
    fs.rename(path, dest);
    String was = new String(path, StandardCharsets.UTF_8);
    String now = new String(dest, StandardCharsets.UTF_8);
    repair.moved(ino, now);
    repair.act("moved " + was + " to " + now);
    List<String> lines = new ArrayList<>();
    lines.add("clawfs check --repair, " + DateTimeFormatter.ISO_INSTANT.format(this.now));
    lines.add("");
    lines.add("File: " + was + " (inode " + ino + "), " + a.size() + " bytes, mode "
        + String.format("%04o", a.mode() & 07777) + ", owner " + a.uid() + ":" + a.gid());
    lines.add("Moved here as " + new String(name, StandardCharsets.UTF_8) + " by the repair: the file itself was not"
        + " changed; its damaged chunks still fail to read (EIO).");
    lines.addAll(damageLines(ino, findings));
    Salvage s = salvage(fs, dest, a);
    if (s.readable() > 0 && s.failed() > 0) {
      byte[] copy = concat(dest, bytes(".salvaged"));
      lines.add("");
      lines.add("A copy with every unreadable chunk replaced by zeros: " + new String(lastName(copy),
          StandardCharsets.UTF_8) + " (" + s.readable() + " of " + (s.readable() + s.failed())
          + " chunks readable).");
      writeCopy(fs, copy, a, s);
      repair.act("wrote " + new String(copy, StandardCharsets.UTF_8) + " (damaged chunks as zeros)");
    } else if (s.failed() > 0) {
      lines.add("");
      lines.add("No chunk of it could be read, so there is no salvaged copy.");
    }
    lines.add("");
    lines.add("Chunks are " + ChunkCipher.CHUNK_SIZE + " bytes: chunk N holds bytes N*" + ChunkCipher.CHUNK_SIZE
        + " to (N+1)*" + ChunkCipher.CHUNK_SIZE + "-1. The database before the repair, if it was replaced, is in"
        + " VAULT/" + VaultRepair.BACKUP_DIR + "/.");
    byte[] note = concat(dest, bytes(".note.txt"));
    writeNote(fs, note, String.join("\n", lines) + "\n");
    repair.act("wrote " + new String(note, StandardCharsets.UTF_8));
  }

  private List<String> damageLines(long ino, List<Finding> findings) {
    List<String> lines = new ArrayList<>();
    if (!findings.isEmpty() || versionLoss.containsKey(ino)) {
      lines.add("");
      lines.add("What is wrong:");
    }
    for (Finding f : findings) {
      String where = f.chunk() == null ? "" : "chunk " + f.chunk() + " (bytes " + f.chunk() * ChunkCipher.CHUNK_SIZE
          + ".." + ((f.chunk() + 1) * ChunkCipher.CHUNK_SIZE - 1) + "): ";
      lines.add("  " + where + f.kind().code() + ": " + f.detail());
    }
    for (String s : versionLoss.getOrDefault(ino, List.of())) {
      lines.add("  version-map: " + s);
    }
    return lines;
  }

  private String orphanNote(long ino, byte[] path, ClawFileSystem fs, List<Finding> findings) {
    List<String> lines = new ArrayList<>();
    lines.add("clawfs check --repair, " + DateTimeFormatter.ISO_INSTANT.format(now));
    lines.add("");
    String what;
    try {
      Attr a = fs.getattr(path);
      what = ((a.mode() & Inode.S_IFMT) == Inode.S_IFDIR ? "directory" : "file") + ", " + a.size() + " bytes, mode "
          + String.format("%04o", a.mode() & 07777) + ", owner " + a.uid() + ":" + a.gid();
    } catch (FsException e) {
      what = "gone";
    }
    lines.add("#" + ino + " (inode " + ino + ", " + what + ") was reachable from no directory: the entry that named it"
        + " was lost. Its name is unknown; its content is as it was. A mount would have deleted it.");
    lines.addAll(damageLines(ino, findings));
    return String.join("\n", lines) + "\n";
  }

  /** Which chunks of a file read, and which fail. */
  private record Salvage(int readable, int failed, List<Long> bad) {}

  private static Salvage salvage(ClawFileSystem fs, byte[] path, Attr a) {
    long fh = fs.open(path, 0);
    int ok = 0;
    List<Long> bad = new ArrayList<>();
    try {
      byte[] buf = new byte[ChunkCipher.CHUNK_SIZE];
      for (long off = 0, i = 0; off < a.size(); off += ChunkCipher.CHUNK_SIZE, i++) {
        try {
          fs.read(fh, off, buf, buf.length);
          ok++;
        } catch (FsException e) {
          bad.add(i);
        }
      }
    } finally {
      fs.release(fh);
    }
    return new Salvage(ok, bad.size(), bad);
  }

  private static void writeCopy(ClawFileSystem fs, byte[] copy, Attr a, Salvage s) {
    long src = fs.open(lastNameParent(copy, ".salvaged"), 0);
    long dst = fs.create(copy, 0600, O_RDWR, Caller.ROOT);
    try {
      byte[] buf = new byte[ChunkCipher.CHUNK_SIZE];
      Set<Long> bad = new HashSet<>(s.bad());
      for (long off = 0, i = 0; off < a.size(); off += ChunkCipher.CHUNK_SIZE, i++) {
        if (bad.contains(i)) {
          continue; // a hole: zeros
        }
        int n = fs.read(src, off, buf, buf.length);
        int done = 0;
        while (done < n) {
          byte[] part = done == 0 ? buf : Arrays.copyOfRange(buf, done, n);
          done += fs.write(dst, off + done, part, n - done);
        }
      }
      fs.ftruncate(dst, a.size());
    } finally {
      fs.release(src);
      fs.release(dst);
    }
    fs.chown(copy, a.uid(), a.gid());
    fs.chmod(copy, a.mode() & 0777);
  }

  /** The path {@code copy} without {@code suffix}. */
  private static byte[] lastNameParent(byte[] copy, String suffix) {
    return Arrays.copyOf(copy, copy.length - suffix.length());
  }

  private static void writeNote(ClawFileSystem fs, byte[] path, String text) {
    byte[] data = text.getBytes(StandardCharsets.UTF_8);
    long fh = fs.create(path, 0600, O_RDWR, Caller.ROOT);
    try {
      fs.ftruncate(fh, 0);
      int done = 0;
      while (done < data.length) {
        byte[] part = done == 0 ? data : Arrays.copyOfRange(data, done, data.length);
        done += fs.write(fh, done, part, data.length - done);
      }
    } finally {
      fs.release(fh);
    }
  }

  private static boolean exists(ClawFileSystem fs, byte[] path) {
    try {
      fs.getattr(path);
      return true;
    } catch (FsException e) {
      return false;
    }
  }

  private static byte[] lastName(byte[] path) {
    int slash = -1;
    for (int i = 0; i < path.length; i++) {
      if (path[i] == '/') {
        slash = i;
      }
    }
    return Arrays.copyOfRange(path, slash + 1, path.length);
  }

  private static byte[] concat(byte[] a, byte[] b) {
    byte[] out = Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }

  private static byte[] bytes(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }
}
