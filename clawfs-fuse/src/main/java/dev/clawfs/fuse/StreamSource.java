package dev.clawfs.fuse;

/**
 * The content of a virtual file that grows while it is open, like a log being written (the audit
 * stream). Its size is what was ever appended; each open gets its own {@link Reader} whose reads
 * wait for new data. Thread-safe.
 */
public interface StreamSource {
  /** Bytes appended so far (the file's st_size). */
  long size();

  /** When something was last appended, in nanoseconds since the epoch (the file's st_mtime). */
  long modifiedNanos();

  /** A new reader for one open descriptor. */
  Reader open(Caller caller);

  /** One descriptor's view of the stream. */
  interface Reader {
    /**
     * Copies bytes for a read at {@code offset} of this descriptor into {@code dst}.
     *
     * @param waitMillis how long to wait for data when there is none yet (0: do not wait)
     * @return the number of bytes copied (more than 0), 0 when nothing arrived in time, or -1
     *     when the stream has ended (the server is stopping)
     */
    int read(long offset, byte[] dst, int len, long waitMillis) throws InterruptedException;

    /** The descriptor was closed. */
    void close();
  }
}
