package dev.clawfs.bpf;

import java.util.List;

/**
 * Why the eBPF audit could not start. {@link #getMessage()} is one short line meant for a status
 * line ({@link #statusLine()}); {@link #detail()} holds what libbpf printed, for the log.
 */
public final class BpfException extends Exception {
  private static final long serialVersionUID = 1L;

  /** The ways starting can fail, each with something the operator can do about it. */
  public enum Reason {
    /** The jar carries no eBPF object: clang, bpftool, libbpf-dev or BTF was missing at build time. */
    NOT_BUILT,
    /** Not Linux, or a kernel without BTF ({@code /sys/kernel/btf/vmlinux}). */
    UNSUPPORTED_KERNEL,
    /** libbpf.so.1 (Debian package libbpf1) cannot be loaded, or lacks a function. */
    NO_LIBBPF,
    /** Not root: loading needs CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN. */
    NOT_PERMITTED,
    /** The kernel refused the object (verifier, missing hook, lockdown). */
    LOAD_FAILED,
    /** A program loaded but could not be attached to its hook. */
    ATTACH_FAILED,
    /** A map or the ring buffer could not be set up. */
    MAP_FAILED
  }

  private final Reason reason;
  private final List<String> detail;

  BpfException(Reason reason, String message) {
    this(reason, message, List.of());
  }

  BpfException(Reason reason, String message, List<String> detail) {
    super(message);
    this.reason = reason;
    this.detail = List.copyOf(detail);
  }

  public Reason reason() {
    return reason;
  }

  /** libbpf's last messages before the failure (the verifier log's tail, say); may be empty. */
  public List<String> detail() {
    return detail;
  }

  /** "ebpf: off: needs root (EPERM loading program)". */
  public String statusLine() {
    return "ebpf: off: " + getMessage();
  }
}
