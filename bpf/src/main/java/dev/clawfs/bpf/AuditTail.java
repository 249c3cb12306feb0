package dev.clawfs.bpf;

import java.util.concurrent.CountDownLatch;

/**
 * Prints the audit lines of the given uids until interrupted: the check by hand.
 *
 * <pre>java -cp CLASSPATH dev.clawfs.bpf.AuditTail 1001 [1002 ...]</pre>
 */
public final class AuditTail {
  private AuditTail() {}

  public static void main(String[] args) throws InterruptedException {
    if (args.length == 0) {
      System.err.println("usage: AuditTail UID...   (prints exec, open and connect of those uids)");
      System.exit(2);
    }
    Availability availability = BpfAudit.probe();
    System.err.println(availability.statusLine());
    BpfAudit audit;
    try {
      audit = BpfAudit.start(e -> System.out.println(e.timeMillis() + " " + e.auditLine()));
    } catch (BpfException e) {
      System.err.println(e.statusLine());
      e.detail().forEach(line -> System.err.println("  " + line));
      System.exit(1);
      return;
    }
    for (String uid : args) {
      audit.watchUid(Integer.parseInt(uid));
    }
    System.err.println(audit.statusLine());
    CountDownLatch stop = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      System.err.println(audit.statusLine());
      audit.close();
      stop.countDown();
    }));
    stop.await();
  }
}
