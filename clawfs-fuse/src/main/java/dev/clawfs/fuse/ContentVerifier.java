package dev.clawfs.fuse;

import dev.clawfs.crypto.AuthenticationFailedException;
import dev.clawfs.crypto.ChunkCipher;
import dev.clawfs.crypto.CryptoException;
import dev.clawfs.crypto.FileHeader;
import dev.clawfs.crypto.MasterKeys;
import dev.clawfs.fuse.CheckReport.Kind;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * Checks one file's content against its authenticated metadata: the content file exists, its
 * header is authentic and names the record's file id, it is long enough for every chunk's slot,
 * and every chunk the metadata names opens under the recorded version with the file's own cipher
 * (the real {@link ChunkCipher}, so a tag that fails here fails on read). A chunk that fails is
 * diagnosed: all zeros, an older ciphertext of itself (a rollback), another chunk of the file
 * (swapped or moved), or altered. Reads only; counts what it verified.
 */
final class ContentVerifier {
  /** Older versions tried on a chunk that fails, to tell a rollback from other damage. */
  private static final int ROLLBACK_TRIES = 256;
  /** Other chunk indexes tried, to tell a swapped or moved chunk. */
  private static final int MOVE_TRIES = 64;

  /** A finding about one file, before its path and quarantine are known. */
  record Finding(Kind kind, Long chunk, String detail) {}

  private final Path vault;
  private final MasterKeys keys;
  long chunks;
  long chunksOk;
  long bytesVerified;

  ContentVerifier(Path vault, MasterKeys keys) {
    this.vault = vault;
    this.keys = keys;
  }

  /** Opens every chunk of n that its metadata names. */
  List<Finding> verify(Inode n, Set<Integer> badBlocks) {
    List<Finding> out = new ArrayList<>();
    long count = n.chunkCount();
    long present = 0;
    for (long i = 0; i < count; i++) {
      if (n.version(i) != 0) {
        present++;
      }
    }
    if (present == 0 && badBlocks.isEmpty()) {
      return out;
    }
    if (n.fileId == null) {
      out.add(new Finding(Kind.CONTENT_MISSING, null, "the metadata names " + present
          + " chunks but no content file: the content is lost"));
      return out;
    }
    Path p = ContentStore.pathOf(vault, n.fileId);
    String rel = vault.relativize(p).toString();
    if (!Files.exists(p, LinkOption.NOFOLLOW_LINKS)) {
      out.add(new Finding(Kind.CONTENT_MISSING, null, "the content file " + rel + " is missing: all " + present
          + " chunks (" + n.size + " bytes) are lost"));
      return out;
    }
    if (!Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS)) {
      out.add(new Finding(Kind.CONTENT_HEADER, null, "the content file " + rel + " is not a regular file"));
      return out;
    }
    try (FileChannel ch = FileChannel.open(p, StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS)) {
      byte[] h = new byte[FileHeader.SIZE];
      if (ContentFile.readAt(ch, h, h.length, 0) != h.length) {
        out.add(new Finding(Kind.CONTENT_HEADER, null, "the content file " + rel + " is shorter than its header ("
            + ch.size() + " bytes): all chunks are lost"));
        return out;
      }
      ChunkCipher cipher;
      try {
        FileHeader header = FileHeader.decode(h, keys);
        if (!java.util.Arrays.equals(header.fileId(), n.fileId)) {
          out.add(new Finding(Kind.CONTENT_HEADER, null, "the content file " + rel
              + " holds another file's header (content files swapped or replaced)"));
          return out;
        }
        cipher = header.chunkCipher();
      } catch (AuthenticationFailedException e) {
        out.add(new Finding(Kind.CONTENT_HEADER, null, "the header of " + rel
            + " failed authentication (altered): its content key is lost, so are all chunks"));
        return out;
      } catch (CryptoException e) {
        out.add(new Finding(Kind.CONTENT_HEADER, null, "the header of " + rel + " is invalid: " + e.getMessage()));
        return out;
      }
      long length = ch.size();
      byte[] sealed = new byte[ChunkCipher.SLOT_SIZE];
      byte[] plain = new byte[ChunkCipher.CHUNK_SIZE];
      List<Long> cut = new ArrayList<>();
      for (long i = 0; i < count; i++) {
        long v = n.version(i);
        if (v == 0 || badBlocks.contains((int) (i / Inode.BLOCK_CHUNKS))) {
          continue;
        }
        chunks++;
        if (v > n.versionCounter) {
          out.add(new Finding(Kind.VERSION_MAP, i, "the metadata names version " + v
              + ", beyond the file's version counter " + n.versionCounter));
        }
        int plen = Inode.chunkLength(i, n.size);
        int slen = plen + ChunkCipher.OVERHEAD;
        long off = ContentFile.slotOffset(i, v);
        if (off + slen > length) {
          cut.add(i);
          continue;
        }
        if (ContentFile.readAt(ch, sealed, slen, off) != slen) {
          cut.add(i);
          continue;
        }
        try {
          cipher.open(i, v, sealed, 0, slen, plain, 0);
          chunksOk++;
          bytesVerified += plen;
        } catch (AuthenticationFailedException e) {
          out.add(diagnose(n, cipher, i, v, sealed, slen, plain));
        }
      }
      if (!cut.isEmpty()) {
        long first = cut.get(0);
        long last = cut.get(cut.size() - 1);
        out.add(new Finding(Kind.CHUNK_TRUNCATED, first, "the content file is " + length + " bytes and ends before "
            + (cut.size() == 1 ? "chunk " + first : cut.size() + " chunks (" + first + ".." + last + ")")
            + " (needs " + (ContentFile.slotOffset(first, n.version(first)) + Inode.chunkLength(first, n.size)
            + ChunkCipher.OVERHEAD) + " bytes): truncated, " + cut.size() + " of " + present + " chunks lost"));
      }
    } catch (IOException e) {
      out.add(new Finding(Kind.CONTENT_MISSING, null, "the content file " + rel + " cannot be read: " + e.getMessage()));
    }
    return out;
  }

  /** Why chunk i (version v) failed: zeroed, an older version of itself, another chunk, or altered. */
  private static Finding diagnose(Inode n, ChunkCipher cipher, long i, long v, byte[] sealed, int slen, byte[] plain) {
    boolean zeros = true;
    for (int k = 0; k < slen && zeros; k++) {
      zeros = sealed[k] == 0;
    }
    if (zeros) {
      return new Finding(Kind.CHUNK_ZERO, i, "the chunk is all zeros (zeroed, or never reached the disk)");
    }
    for (long older = v - 1; older >= 1 && older >= v - ROLLBACK_TRIES; older--) {
      if (opens(cipher, i, older, sealed, slen, plain)) {
        return new Finding(Kind.CHUNK_ROLLBACK, i, "the slot holds an older ciphertext of this chunk (version " + older
            + " where the metadata names " + v + "): rolled back");
      }
    }
    long count = n.chunkCount();
    for (long j = Math.max(0, i - MOVE_TRIES / 2), tried = 0; j < count && tried < MOVE_TRIES; j++, tried++) {
      long vj = n.version(j);
      if (j != i && vj != 0 && Inode.chunkLength(j, n.size) + ChunkCipher.OVERHEAD == slen
          && opens(cipher, j, vj, sealed, slen, plain)) {
        return new Finding(Kind.CHUNK_AUTH, i, "the slot holds chunk " + j + " of this file (chunks swapped or moved)");
      }
    }
    return new Finding(Kind.CHUNK_AUTH, i, "the chunk failed authentication (altered bytes, or a chunk of another file)");
  }

  private static boolean opens(ChunkCipher cipher, long index, long version, byte[] sealed, int slen, byte[] plain) {
    try {
      cipher.open(index, version, sealed, 0, slen, plain, 0);
      return true;
    } catch (AuthenticationFailedException e) {
      return false;
    }
  }

}
