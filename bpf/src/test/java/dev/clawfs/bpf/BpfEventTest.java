package dev.clawfs.bpf;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class BpfEventTest {
  @Test
  void quotesOnlyWhatNeedsIt() {
    assertEquals("/bin/true", BpfEvent.quote("/bin/true"));
    assertEquals("\"\"", BpfEvent.quote(""));
    assertEquals("\"a b\"", BpfEvent.quote("a b"));
    assertEquals("\"say \\\"hi\\\"\\n\"", BpfEvent.quote("say \"hi\"\n"));
    assertEquals("\"\\x1b[31m\"", BpfEvent.quote("\u001b[31m"));
  }

  @Test
  void resultTextPerKind() {
    BpfEvent open = new BpfEvent(0, BpfEvent.Kind.OPEN, 1, 1, 0, 0, 0, "cat", "/x", "", 0, "", "", 0, 3, false);
    assertEquals("fd 3", open.resultText());
    BpfEvent connect = new BpfEvent(0, BpfEvent.Kind.CONNECT, 1, 1, 0, 0, 0, "nc", "", "", 0, "tcp", "10.0.0.1", 80,
        -115, false);
    assertEquals("EINPROGRESS", connect.resultText());
    assertEquals("connect pid=1 ppid=0 uid=0 gid=0 comm=nc proto=tcp peer=10.0.0.1:80 result=EINPROGRESS",
        connect.auditLine());
  }
}
