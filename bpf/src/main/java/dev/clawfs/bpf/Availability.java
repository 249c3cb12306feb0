package dev.clawfs.bpf;

/**
 * Whether this machine and process can run the eBPF audit, checked without loading anything into the
 * kernel. {@code available} true means the preconditions hold; the kernel may still refuse at
 * {@link BpfAudit#start}.
 *
 * @param reason why not, one short line ("needs root (...)"), or "ready"
 * @param failure the matching failure kind, null when available
 */
public record Availability(boolean available, String reason, BpfException.Reason failure) {
  static Availability ready() {
    return new Availability(true, "ready", null);
  }

  static Availability missing(BpfException.Reason failure, String reason) {
    return new Availability(false, reason, failure);
  }

  /** "ebpf: ready" or "ebpf: off: needs root (...)". */
  public String statusLine() {
    return available ? "ebpf: ready" : "ebpf: off: " + reason;
  }

  BpfException toException() {
    return new BpfException(failure, reason);
  }
}
