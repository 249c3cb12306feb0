package dev.clawfs.index;

import static java.nio.charset.StandardCharsets.US_ASCII;

import dev.clawfs.crypto.Sealer;
import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.SecureRandom;
import java.util.Arrays;
import java.util.Objects;

/**
 * A file of sealed records holding one plaintext byte stream, written atomically and read back
 * one authenticated record at a time, so a large snapshot is never held in memory whole and no
 * byte reaches the caller before its record has been authenticated.
 *
 * <p>Layout: {@code "CLAWHNSW" || version(1) || generation(16)}, then records, each
 * {@code flags(1) || length(4, big-endian) || sealed}, where {@code sealed} is
 * {@link Sealer#seal} of up to {@link #RECORD_SIZE} plaintext bytes with associated data
 * {@code "clawfs/v1/hnsw-snapshot" || file header || record index(8) || flags}. Flags is 1 on the
 * last record and 0 elsewhere; every record but the last is full. The generation is random per
 * file, so records cannot be moved between snapshots; the index and the last flag in the AAD
 * catch reordering, swapping and truncation (a stream that ends without an authenticated last
 * record is an error, and so are bytes after it).
 */
final class SealedSnapshot {
  static final int RECORD_SIZE = 1 << 20;
  static final byte[] MAGIC = "CLAWHNSW".getBytes(US_ASCII);
  static final int GENERATION_SIZE = 16;
  static final int HEADER_SIZE = MAGIC.length + 1 + GENERATION_SIZE;
  /** Bytes before each sealed record: the flags byte and the sealed length. */
  static final int RECORD_HEADER_SIZE = 5;

  private static final byte VERSION = 1;
  private static final byte[] AAD_TAG = "clawfs/v1/hnsw-snapshot".getBytes(US_ASCII);
  private static final SecureRandom RANDOM = new SecureRandom();

  private SealedSnapshot() {}

  /** Writes the snapshot's plaintext; may close the stream it is given. */
  @FunctionalInterface
  interface Body {
    void writeTo(OutputStream out) throws IOException;
  }

  /** The snapshot's framing or structure is wrong (as opposed to a failed tag). */
  static final class CorruptSnapshotException extends IOException {
    private static final long serialVersionUID = 1L;

    CorruptSnapshotException(String message) {
      super(message);
    }
  }

  /**
   * Replaces {@code file} atomically: writes a temporary file beside it, fsyncs it, renames it
   * over {@code file} and fsyncs the directory. On failure the old file is left as it was.
   */
  static void write(Path file, Sealer sealer, Body body) throws IOException {
    Path tmp = tempFile(file);
    byte[] header = new byte[HEADER_SIZE];
    System.arraycopy(MAGIC, 0, header, 0, MAGIC.length);
    header[MAGIC.length] = VERSION;
    byte[] generation = new byte[GENERATION_SIZE];
    RANDOM.nextBytes(generation);
    System.arraycopy(generation, 0, header, MAGIC.length + 1, GENERATION_SIZE);
    try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE,
        StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE)) {
      OutputStream raw = new BufferedOutputStream(Channels.newOutputStream(ch), 1 << 16);
      raw.write(header);
      RecordOutputStream records = new RecordOutputStream(raw, sealer, header);
      try {
        body.writeTo(records);
        records.close();
      } finally {
        records.wipe();
      }
      raw.flush();
      ch.force(true);
    } catch (IOException | RuntimeException e) {
      try {
        Files.deleteIfExists(tmp);
      } catch (IOException suppressed) {
        e.addSuppressed(suppressed);
      }
      throw e;
    }
    Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    try (FileChannel dir = FileChannel.open(file.toAbsolutePath().getParent(), StandardOpenOption.READ)) {
      dir.force(true);
    }
  }

  /**
   * Opens the plaintext stream of {@code file}. Reads throw {@link
   * dev.clawfs.crypto.AuthenticationFailedException} when a record fails its tag and {@link
   * CorruptSnapshotException} when the framing is wrong or the file is truncated; {@code -1}
   * (end of stream) is returned only after the last record was authenticated and nothing follows
   * it, so a reader that wants the whole file verified reads until {@code -1}.
   */
  static InputStream open(Path file, Sealer sealer) throws IOException {
    InputStream raw = new BufferedInputStream(Files.newInputStream(file), 1 << 16);
    try {
      byte[] header = raw.readNBytes(HEADER_SIZE);
      if (header.length != HEADER_SIZE
          || !Arrays.equals(header, 0, MAGIC.length, MAGIC, 0, MAGIC.length)
          || header[MAGIC.length] != VERSION) {
        throw new CorruptSnapshotException("not a version " + VERSION + " vector snapshot (bad header)");
      }
      return new RecordInputStream(raw, sealer, header);
    } catch (IOException | RuntimeException e) {
      raw.close();
      throw e;
    }
  }

  /** The temporary file a write goes through; a leftover one (crash mid-write) is garbage. */
  static Path tempFile(Path file) {
    return file.resolveSibling(file.getFileName() + ".tmp");
  }

  private static byte[] aad(byte[] header, long index, int flags) {
    return ByteBuffer.allocate(AAD_TAG.length + header.length + Long.BYTES + 1)
        .put(AAD_TAG).put(header).putLong(index).put((byte) flags).array();
  }

  /** Buffers one record of plaintext; a full record is sealed only once more bytes arrive, so the
   *  last record can carry the last flag. */
  private static final class RecordOutputStream extends OutputStream {
    private final OutputStream out;
    private final Sealer sealer;
    private final byte[] header;
    private final byte[] buf = new byte[RECORD_SIZE];
    private int pos;
    private long index;
    private boolean closed;

    RecordOutputStream(OutputStream out, Sealer sealer, byte[] header) {
      this.out = out;
      this.sealer = sealer;
      this.header = header;
    }

    @Override
    public void write(int b) throws IOException {
      write(new byte[] {(byte) b}, 0, 1);
    }

    @Override
    public void write(byte[] b, int off, int len) throws IOException {
      Objects.checkFromIndexSize(off, len, b.length);
      if (closed) {
        throw new IOException("snapshot stream closed");
      }
      while (len > 0) {
        if (pos == RECORD_SIZE) {
          emit(buf, 0);
          pos = 0;
        }
        int n = Math.min(len, RECORD_SIZE - pos);
        System.arraycopy(b, off, buf, pos, n);
        pos += n;
        off += n;
        len -= n;
      }
    }

    /** Seals what is buffered as the last record; the file stream stays open. */
    @Override
    public void close() throws IOException {
      if (closed) {
        return;
      }
      closed = true;
      byte[] last = pos == RECORD_SIZE ? buf : Arrays.copyOf(buf, pos);
      try {
        emit(last, 1);
      } finally {
        Arrays.fill(last, (byte) 0);
      }
      out.flush();
    }

    private void emit(byte[] plaintext, int flags) throws IOException {
      byte[] sealed = sealer.seal(plaintext, aad(header, index++, flags));
      out.write(flags);
      out.write(ByteBuffer.allocate(4).putInt(sealed.length).array());
      out.write(sealed);
    }

    void wipe() {
      Arrays.fill(buf, (byte) 0);
    }
  }

  private static final class RecordInputStream extends InputStream {
    private final InputStream in;
    private final Sealer sealer;
    private final byte[] header;
    private byte[] plain = new byte[0];
    private int pos;
    private long index;
    private boolean ended;
    private boolean closed;

    RecordInputStream(InputStream in, Sealer sealer, byte[] header) {
      this.in = in;
      this.sealer = sealer;
      this.header = header;
    }

    @Override
    public int read() throws IOException {
      return fill() ? plain[pos++] & 0xff : -1;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      Objects.checkFromIndexSize(off, len, b.length);
      if (len == 0) {
        return 0;
      }
      if (!fill()) {
        return -1;
      }
      int n = Math.min(len, plain.length - pos);
      System.arraycopy(plain, pos, b, off, n);
      pos += n;
      return n;
    }

    /** True when plaintext is available; false only at the verified end. */
    private boolean fill() throws IOException {
      if (closed) {
        throw new IOException("snapshot stream closed");
      }
      while (pos == plain.length) {
        if (ended) {
          return false;
        }
        next();
      }
      return true;
    }

    private void next() throws IOException {
      int flags = in.read();
      if (flags < 0) {
        throw new CorruptSnapshotException("snapshot truncated: ends before record " + index
            + " and no last record was seen");
      }
      if (flags > 1) {
        throw new CorruptSnapshotException("bad flags on snapshot record " + index);
      }
      byte[] len = in.readNBytes(4);
      int length = len.length == 4 ? ByteBuffer.wrap(len).getInt() : -1;
      if (len.length == 4 && (length < Sealer.OVERHEAD || length > RECORD_SIZE + Sealer.OVERHEAD)) {
        throw new CorruptSnapshotException("bad length on snapshot record " + index);
      }
      byte[] sealed = length < 0 ? new byte[0] : in.readNBytes(length);
      if (length < 0 || sealed.length != length) {
        throw new CorruptSnapshotException("snapshot truncated inside record " + index);
      }
      Arrays.fill(plain, (byte) 0);
      plain = sealer.open(sealed, aad(header, index, flags), "vector snapshot record " + index);
      pos = 0;
      if (flags == 0 && plain.length != RECORD_SIZE) {
        throw new CorruptSnapshotException("short snapshot record " + index + " before the last");
      }
      index++;
      if (flags == 1) {
        ended = true;
        if (in.read() >= 0) {
          throw new CorruptSnapshotException("data after the last snapshot record");
        }
      }
    }

    @Override
    public void close() throws IOException {
      Arrays.fill(plain, (byte) 0);
      plain = new byte[0];
      pos = 0;
      closed = true;
      in.close();
    }
  }
}
