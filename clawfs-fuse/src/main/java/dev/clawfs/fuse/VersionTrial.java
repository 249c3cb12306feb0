package dev.clawfs.fuse;

import dev.clawfs.crypto.AuthenticationFailedException;
import dev.clawfs.crypto.ChunkCipher;
import dev.clawfs.crypto.CryptoException;
import dev.clawfs.crypto.FileHeader;
import dev.clawfs.crypto.MasterKeys;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * Finds the chunk versions a lost version block held, by trial: a chunk's version is bound into
 * its AAD, so for each chunk the versions below the file's counter are tried on both of its
 * slots, and the newest that authenticates is taken. That may be a version written after the last
 * commit (a crash between the chunk and its metadata); it is still what the file's writer wrote.
 */
final class VersionTrial {
  /** Versions tried per slot. */
  static final int TRIES = 512;

  private VersionTrial() {}

  /**
   * What was found for one inode.
   *
   * @param found chunks whose version was found
   * @param lost per lost block, the chunks with none (they become holes), in words
   * @param error why nothing could be tried (no readable content file), or null
   */
  record Outcome(int found, List<String> lost, String error) {}

  /** Sets n's versions in the {@code bad} blocks to what authenticates, 0 where nothing does. */
  static Outcome recover(Path vault, MasterKeys keys, Inode n, Map<Integer, String> bad) {
    if (n.versions.length < n.chunkCount()) {
      n.versions = Arrays.copyOf(n.versions, (int) n.chunkCount());
    }
    for (int blk : bad.keySet()) {
      long first = (long) blk * Inode.BLOCK_CHUNKS;
      for (long i = first; i < Math.min(n.chunkCount(), first + Inode.BLOCK_CHUNKS); i++) {
        n.versions[(int) i] = 0;
      }
    }
    if (n.fileId == null) {
      return new Outcome(0, List.of(), "the file has no content file");
    }
    Path p = ContentStore.pathOf(vault, n.fileId);
    if (!Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS)) {
      return new Outcome(0, List.of(), "its content file is missing");
    }
    try (FileChannel ch = FileChannel.open(p, StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS)) {
      byte[] h = new byte[FileHeader.SIZE];
      if (ContentFile.readAt(ch, h, h.length, 0) != h.length) {
        return new Outcome(0, List.of(), "its content file has no header");
      }
      FileHeader header = FileHeader.decode(h, keys);
      if (!Arrays.equals(header.fileId(), n.fileId)) {
        return new Outcome(0, List.of(), "its content file holds another file's header");
      }
      ChunkCipher cipher = header.chunkCipher();
      List<String> lost = new ArrayList<>();
      int found = 0;
      byte[] sealed = new byte[ChunkCipher.SLOT_SIZE];
      byte[] plain = new byte[ChunkCipher.CHUNK_SIZE];
      for (Map.Entry<Integer, String> b : bad.entrySet()) {
        long first = (long) b.getKey() * Inode.BLOCK_CHUNKS;
        long end = Math.min(n.chunkCount(), first + Inode.BLOCK_CHUNKS);
        List<Long> missing = new ArrayList<>();
        for (long i = first; i < end; i++) {
          long v = newest(ch, cipher, n, i, sealed, plain);
          n.versions[(int) i] = v;
          if (v == 0) {
            missing.add(i);
          } else {
            found++;
          }
        }
        if (!missing.isEmpty()) {
          lost.add("version block " + b.getKey() + " " + b.getValue() + ": " + missing.size() + " chunk(s) could not"
              + " be recovered and now read as zeros: " + ranges(missing));
        }
      }
      return new Outcome(found, lost, null);
    } catch (IOException | CryptoException e) {
      return new Outcome(0, List.of(), "its content file cannot be read: " + e.getMessage());
    }
  }

  /** The newest version of chunk i that opens in either slot, or 0. */
  private static long newest(FileChannel ch, ChunkCipher cipher, Inode n, long i, byte[] sealed, byte[] plain)
      throws IOException {
    int slen = Inode.chunkLength(i, n.size) + ChunkCipher.OVERHEAD;
    long best = 0;
    for (int parity = 0; parity < 2; parity++) {
      if (ContentFile.readAt(ch, sealed, slen, ContentFile.slotOffset(i, parity)) != slen) {
        continue;
      }
      long top = n.versionCounter - ((n.versionCounter & 1) == parity ? 0 : 1);
      for (long v = top, tries = 0; v > best && v >= 1 && tries < TRIES; v -= 2, tries++) {
        try {
          cipher.open(i, v, sealed, 0, slen, plain, 0);
          best = v;
          break;
        } catch (AuthenticationFailedException e) {
          // not this version
        }
      }
    }
    return best;
  }

  /** "3, 7..9" for [3, 7, 8, 9]. */
  static String ranges(List<Long> xs) {
    StringBuilder b = new StringBuilder();
    int i = 0;
    while (i < xs.size()) {
      int j = i;
      while (j + 1 < xs.size() && xs.get(j + 1) == xs.get(j) + 1) {
        j++;
      }
      if (b.length() > 0) {
        b.append(", ");
      }
      b.append(xs.get(i));
      if (j > i) {
        b.append("..").append(xs.get(j));
      }
      i = j + 1;
    }
    return b.toString();
  }

}
