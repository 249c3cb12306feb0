package dev.clawfs.fuse;

/**
 * What a {@link VirtualNode.Session} file does for each descriptor opened on it: a conversation
 * in which the caller writes a request and reads the reply through the same descriptor. The
 * provider decides what ends the request (for example the first read). Thread-safe.
 */
@FunctionalInterface
public interface SessionSource {
  /** A new conversation for one open descriptor ({@code flags} as given to open(2)). */
  Session open(Caller caller, int flags);

  /** One descriptor's conversation; reads wait as {@link StreamSource.Reader#read} describes. */
  interface Session extends StreamSource.Reader {
    /**
     * Takes {@code len} bytes the caller wrote; may wait while the consumer catches up. Throws
     * {@link FsException} to fail the write(2) (EPIPE once the reply is complete, say).
     */
    void write(byte[] src, int len) throws InterruptedException;
  }
}
