package dev.clawfs.mount;

import static java.nio.charset.StandardCharsets.US_ASCII;

import dev.clawfs.crypto.AuthenticationFailedException;
import dev.clawfs.crypto.KeyPurpose;
import dev.clawfs.crypto.MasterKeys;
import dev.clawfs.crypto.Sealer;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.System.Logger.Level;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The audit history, sealed in the vault ({@code VAULT/audit/<sequence>.seg}). Each mount appends
 * to a new segment; a segment is {@code "CLAWAUD1" || key id (u32 BE) || generation (16 random
 * bytes)} followed by records {@code length (u32 BE) || Sealer.seal(lines)} under the AUDIT
 * subkey, each holding the JSON lines of about a second, with {@code aad = "clawfs/v1/audit" ||
 * header || sequence (u64) || record index (u64)}: records cannot be altered, reordered, or moved
 * between segments or to another sequence number undetected. A record torn by a crash ends its
 * segment. Segments roll at {@link #SEGMENT_BYTES} (less for a small budget); the oldest are deleted to keep the history
 * within its budget.
 */
final class AuditHistory implements AutoCloseable {
  private static final System.Logger LOG = System.getLogger("clawfs.audit");
  private static final byte[] MAGIC = "CLAWAUD1".getBytes(US_ASCII);
  static final String AUDIT_TAG = "clawfs/v1/audit";
  private static final int HEADER = MAGIC.length + 4 + 16;
  /** Largest segment; a small budget gets smaller ones, so that several fit. */
  static final long SEGMENT_BYTES = 4L << 20;
  private static final int FLUSH_BYTES = 256 << 10;
  private static final long FLUSH_MS = 1000;
  private static final int MAX_RECORD = 16 << 20;
  private static final Pattern SEGMENT = Pattern.compile("[0-9a-f]{16}\\.seg");
  private static final SecureRandom RANDOM = new SecureRandom();

  private final Path dir;
  private final MasterKeys keys;
  /** Bound into every record's AAD: segments of one history cannot pass as another's. */
  private final byte[] aadTag;
  private final String what;
  private final long maxBytes;
  private final long segmentBytes;
  private final ByteArrayOutputStream pending = new ByteArrayOutputStream(FLUSH_BYTES + 4096);
  private long lastFlush = System.currentTimeMillis();
  private long nextSeq;
  private FileChannel current;
  private long currentSeq = -1;
  private byte[] currentHeader;
  private long currentSize;
  private long recordIndex;
  private Sealer sealer;
  private long failures;

  private AuditHistory(Path dir, MasterKeys keys, long maxBytes, long nextSeq, String aadTag, String what) {
    this.dir = dir;
    this.keys = keys;
    this.aadTag = aadTag.getBytes(US_ASCII);
    this.what = what;
    this.maxBytes = maxBytes;
    this.segmentBytes = Math.max(64 << 10, Math.min(SEGMENT_BYTES, maxBytes / 4));
    this.nextSeq = nextSeq;
  }

  /** The history in {@code dir}, kept within {@code maxBytes} (at least one segment). */
  static AuditHistory open(Path dir, MasterKeys keys, long maxBytes) throws IOException {
    return open(dir, keys, maxBytes, AUDIT_TAG, "audit");
  }

  /**
   * A sealed history of another kind of lines in {@code dir} (the agents' transcripts), with its
   * own AAD tag; {@code what} names it in log messages.
   */
  static AuditHistory open(Path dir, MasterKeys keys, long maxBytes, String aadTag, String what) throws IOException {
    long next = 0;
    if (Files.isDirectory(dir)) {
      for (Path p : segments(dir)) {
        next = Math.max(next, seqOf(p) + 1);
      }
    }
    return new AuditHistory(dir, keys, maxBytes, next, aadTag, what);
  }

  private static long seqOf(Path p) {
    return Long.parseUnsignedLong(p.getFileName().toString().substring(0, 16), 16);
  }

  private static List<Path> segments(Path dir) throws IOException {
    if (!Files.isDirectory(dir)) {
      return List.of();
    }
    try (Stream<Path> s = Files.list(dir)) {
      return s.filter(p -> SEGMENT.matcher(p.getFileName().toString()).matches()).sorted().toList();
    }
  }

  /** Queues one line (ending in '\n'); written with the next flush. */
  synchronized void append(byte[] line) {
    pending.writeBytes(line);
    if (pending.size() >= FLUSH_BYTES) {
      flush();
    }
  }

  /** Writes what is queued when a second has passed since the last write. */
  synchronized void flushIfDue(long now) {
    if (pending.size() > 0 && now - lastFlush >= FLUSH_MS) {
      flush();
    }
  }

  /** Seals what is queued as one record and appends it to the current segment (fsynced). */
  synchronized void flush() {
    lastFlush = System.currentTimeMillis();
    if (pending.size() == 0) {
      return;
    }
    byte[] plain = pending.toByteArray();
    pending.reset();
    try {
      if (current == null || currentSize >= segmentBytes) {
        roll();
      }
      byte[] sealed = sealer.seal(plain, aad(currentHeader, currentSeq, recordIndex));
      ByteBuffer out = ByteBuffer.allocate(4 + sealed.length).putInt(sealed.length).put(sealed).flip();
      while (out.hasRemaining()) {
        current.write(out);
      }
      current.force(false);
      currentSize += 4 + sealed.length;
      recordIndex++;
    } catch (IOException | RuntimeException e) {
      failures++;
      if (failures == 1 || failures % 100 == 0) {
        LOG.log(Level.ERROR, "{0} history write failed ({1} times): {2}", what, failures, e.getMessage());
      }
      closeCurrent();
    } finally {
      java.util.Arrays.fill(plain, (byte) 0);
    }
  }

  private void roll() throws IOException {
    closeCurrent();
    if (!Files.isDirectory(dir)) {
      Files.createDirectories(dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
    }
    int keyId = keys.primaryKeyId();
    sealer = Sealer.of(keys.subkey(keyId, KeyPurpose.AUDIT));
    byte[] gen = new byte[16];
    RANDOM.nextBytes(gen);
    currentHeader = ByteBuffer.allocate(HEADER).put(MAGIC).putInt(keyId).put(gen).array();
    currentSeq = nextSeq++;
    Path file = dir.resolve(String.format("%016x.seg", currentSeq));
    current = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
    current.write(ByteBuffer.wrap(currentHeader));
    current.force(true);
    try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
      d.force(true);
    }
    currentSize = HEADER;
    recordIndex = 0;
    trim();
  }

  /** Deletes the oldest segments (never the current one) until the history fits its budget. */
  private void trim() throws IOException {
    List<Path> all = new ArrayList<>(segments(dir));
    long total = 0;
    for (Path p : all) {
      total += Files.size(p);
    }
    for (Path p : all) {
      if (total + segmentBytes <= maxBytes || seqOf(p) == currentSeq) {
        break;
      }
      total -= Files.size(p);
      Files.deleteIfExists(p);
    }
  }

  private void closeCurrent() {
    if (current != null) {
      try {
        current.close();
      } catch (IOException e) {
        LOG.log(Level.WARNING, "closing a {0} segment: {1}", what, e.getMessage());
      }
      current = null;
    }
  }

  private byte[] aad(byte[] header, long seq, long index) {
    return ByteBuffer.allocate(aadTag.length + header.length + 16).put(aadTag).put(header).putLong(seq)
        .putLong(index).array();
  }

  /**
   * Hands every stored line, oldest first, to {@code sink} (as bytes of one line without '\n').
   * Writes out what is queued first, so the answer includes the last second.
   */
  void forEachLine(Consumer<byte[]> sink) throws IOException {
    List<Path> files;
    long currentLimit;
    long cur;
    synchronized (this) {
      flush();
      files = segments(dir);
      currentLimit = currentSize;
      cur = currentSeq;
    }
    for (Path p : files) {
      long seq = seqOf(p);
      byte[] all;
      try {
        all = Files.readAllBytes(p);
      } catch (java.nio.file.NoSuchFileException e) {
        continue; // trimmed meanwhile
      }
      int limit = seq == cur ? (int) Math.min(all.length, currentLimit) : all.length;
      readSegment(p, seq, all, limit, sink);
    }
  }

  private void readSegment(Path p, long seq, byte[] all, int limit, Consumer<byte[]> sink) {
    readSegment(p, seq, all, limit, sink, null);
  }

  /** Opens each record of a segment: its lines go to {@code sink}, or whole records to {@code records}. */
  private void readSegment(Path p, long seq, byte[] all, int limit, Consumer<byte[]> sink, Consumer<byte[]> records) {
    if (limit < HEADER || !java.util.Arrays.equals(all, 0, MAGIC.length, MAGIC, 0, MAGIC.length)) {
      LOG.log(Level.WARNING, "{0} segment {1}: not a segment; skipped", what, p.getFileName());
      return;
    }
    byte[] header = java.util.Arrays.copyOf(all, HEADER);
    int keyId = ByteBuffer.wrap(header, MAGIC.length, 4).getInt();
    Sealer s;
    try {
      s = Sealer.of(keys.subkey(keyId, KeyPurpose.AUDIT));
    } catch (IllegalArgumentException e) {
      LOG.log(Level.WARNING, "{0} segment {1}: {2}; skipped", what, p.getFileName(), e.getMessage());
      return;
    }
    int pos = HEADER;
    long index = 0;
    while (pos < limit) {
      if (pos + 4 > limit) {
        LOG.log(Level.WARNING, "{0} segment {1}: torn record at its end; skipped", what, p.getFileName());
        return;
      }
      int len = ByteBuffer.wrap(all, pos, 4).getInt();
      if (len < Sealer.OVERHEAD || len > MAX_RECORD || pos + 4 + len > limit) {
        LOG.log(Level.WARNING, "{0} segment {1}: record {2} is torn or damaged; the rest of the segment is skipped",
            what, p.getFileName(), index);
        return;
      }
      byte[] plain;
      try {
        plain = s.open(java.util.Arrays.copyOfRange(all, pos + 4, pos + 4 + len), aad(header, seq, index),
            what + " record " + index + " of segment " + seq);
      } catch (AuthenticationFailedException e) {
        LOG.log(Level.WARNING, "{0} segment {1}: record {2} failed authentication; the rest of the segment is skipped",
            what, p.getFileName(), index);
        return;
      }
      if (records != null) {
        records.accept(plain);
        java.util.Arrays.fill(plain, (byte) 0);
        pos += 4 + len;
        index++;
        continue;
      }
      int start = 0;
      for (int i = 0; i < plain.length; i++) {
        if (plain[i] == '\n') {
          sink.accept(java.util.Arrays.copyOfRange(plain, start, i));
          start = i + 1;
        }
      }
      pos += 4 + len;
      index++;
    }
  }

  /**
   * Key rotation: ends the current segment (the next record starts a segment under the primary
   * key) and rewrites every segment under another key under the primary, record by record, with
   * a fresh generation, each replaced atomically (temporary file, fsync, rename, fsync of the
   * directory). A segment's records after one that fails authentication were unreadable before
   * and are left out. Returns the number of segments rewritten.
   */
  synchronized int rekey() throws IOException {
    flush();
    closeCurrent();
    int primary = keys.primaryKeyId();
    int done = 0;
    for (Path p : segments(dir)) {
      byte[] all = Files.readAllBytes(p);
      if (all.length < HEADER || !java.util.Arrays.equals(all, 0, MAGIC.length, MAGIC, 0, MAGIC.length)
          || ByteBuffer.wrap(all, MAGIC.length, 4).getInt() == primary) {
        continue;
      }
      long seq = seqOf(p);
      byte[] gen = new byte[16];
      RANDOM.nextBytes(gen);
      byte[] header = ByteBuffer.allocate(HEADER).put(MAGIC).putInt(primary).put(gen).array();
      Sealer to = Sealer.of(keys.subkey(primary, KeyPurpose.AUDIT));
      ByteArrayOutputStream out = new ByteArrayOutputStream(all.length);
      out.writeBytes(header);
      long[] index = {0};
      readSegment(p, seq, all, all.length, null, plain -> {
        byte[] sealed = to.seal(plain, aad(header, seq, index[0]++));
        out.writeBytes(ByteBuffer.allocate(4).putInt(sealed.length).array());
        out.writeBytes(sealed);
      });
      Path tmp = dir.resolve(p.getFileName() + ".tmp");
      try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
          StandardOpenOption.WRITE)) {
        ByteBuffer b = ByteBuffer.wrap(out.toByteArray());
        while (b.hasRemaining()) {
          ch.write(b);
        }
        ch.force(true);
      }
      Files.move(tmp, p, java.nio.file.StandardCopyOption.ATOMIC_MOVE, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
      done++;
    }
    if (done > 0) {
      try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
        d.force(true);
      }
    }
    return done;
  }

  /** Key ids named by the segments' headers, with how many segments name each. */
  synchronized java.util.Map<Integer, Integer> keyUse() throws IOException {
    java.util.Map<Integer, Integer> out = new java.util.HashMap<>();
    for (Path p : segments(dir)) {
      try (FileChannel ch = FileChannel.open(p, StandardOpenOption.READ)) {
        ByteBuffer b = ByteBuffer.allocate(MAGIC.length + 4);
        while (b.hasRemaining() && ch.read(b) > 0) {
          // header only
        }
        if (!b.hasRemaining()) {
          out.merge(b.getInt(MAGIC.length), 1, Integer::sum);
        }
      }
    }
    return out;
  }

  /** What this history holds ("audit", "transcript"), for messages. */
  String what() {
    return what;
  }

  /** Sealed history on disk, its bound, and writes that failed (for system/metrics). */
  record Usage(long bytes, long maxBytes, long writeFailures) {}

  Usage usage() {
    long total = 0;
    try {
      for (Path p : segments(dir)) {
        total += Files.size(p);
      }
    } catch (IOException e) {
      total = -1;
    }
    long f;
    synchronized (this) {
      f = failures;
    }
    return new Usage(total, maxBytes, f);
  }

  /** "3 segments, 1.2 MiB of at most 64 MiB". */
  String status() {
    try {
      List<Path> all = segments(dir);
      long total = 0;
      for (Path p : all) {
        total += Files.size(p);
      }
      return String.format("%d segments, %.1f MiB of at most %d MiB%s", all.size(), total / 1048576.0,
          maxBytes >> 20, failures > 0 ? ", " + failures + " write failures" : "");
    } catch (IOException e) {
      return "unreadable: " + e.getMessage();
    }
  }

  @Override
  public synchronized void close() {
    flush();
    closeCurrent();
  }
}
