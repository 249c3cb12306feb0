package dev.clawfs.bpf;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;

/**
 * The compiled eBPF object the build put beside this class, or the build's reason for its absence
 * (written by {@code src/main/sh/build-object.sh} when clang, bpftool, libbpf-dev or BTF was missing).
 */
final class AuditObject {
  static final String OBJECT = "clawfs_audit.bpf.o";
  static final String UNAVAILABLE = "clawfs_audit.bpf.unavailable";

  private AuditObject() {}

  /** The object's bytes. */
  static byte[] bytes() throws BpfException {
    return bytes(OBJECT, UNAVAILABLE);
  }

  static byte[] bytes(String object, String unavailable) throws BpfException {
    try (InputStream in = AuditObject.class.getResourceAsStream(object)) {
      if (in != null) {
        return in.readAllBytes();
      }
    } catch (IOException e) {
      throw new UncheckedIOException("reading resource " + object, e);
    }
    throw new BpfException(BpfException.Reason.NOT_BUILT, "eBPF object not built: " + whyMissing(unavailable));
  }

  private static String whyMissing(String unavailable) {
    try (InputStream in = AuditObject.class.getResourceAsStream(unavailable)) {
      if (in != null) {
        String reason = new String(in.readAllBytes(), StandardCharsets.UTF_8).strip();
        if (!reason.isEmpty()) {
          return reason;
        }
      }
    } catch (IOException e) {
      // fall through to the generic reason
    }
    return "the jar has no " + OBJECT + " (built without the bpf module's antrun step?)";
  }
}
