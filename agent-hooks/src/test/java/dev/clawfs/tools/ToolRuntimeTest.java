package dev.clawfs.tools;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.clawfs.tools.RunRecord.Outcome;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Installing, the run record and listeners, effective limits, exit codes and refusals. */
class ToolRuntimeTest {

  private final List<RunRecord> audit = new CopyOnWriteArrayList<>();
  private ToolRuntime rt;

  @BeforeEach
  void setUp() throws Exception {
    Modules.requireBuiltins();
    rt = ToolRuntime.builder().withListener(audit::add).build();
    BuiltinTools.installAll(rt);
  }

  @Test
  void everyRunIsRecordedForTheAudit() {
    byte[] in = "one two three\n".getBytes(StandardCharsets.UTF_8);
    RunResult r =
        rt.run(
            "wordcount", ToolRequest.of(1234, in).withAgent("librarian"), ToolPolicy.UNRESTRICTED);
    assertEquals(1, audit.size());
    RunRecord rec = audit.get(0);
    assertSame(r.record(), rec);
    assertEquals("wordcount", rec.tool());
    assertEquals(rt.tool("wordcount").orElseThrow().moduleHash(), rec.moduleHash());
    assertEquals(1234, rec.callerUid());
    assertEquals("librarian", rec.agent());
    assertEquals(Outcome.EXITED, rec.outcome());
    assertEquals(0, rec.exitCode());
    assertEquals(in.length, rec.bytesIn());
    assertEquals(r.stdout().length, rec.bytesOut());
    assertEquals(null, rec.limitHit());
    assertTrue(rec.duration().compareTo(Duration.ZERO) > 0);
    assertTrue(rec.succeeded());
  }

  @Test
  void exitCodesPassThrough() {
    RunResult r =
        rt.run(
            "jsonq",
            ToolRequest.of(1, "[1]".getBytes(StandardCharsets.UTF_8), ".a"),
            ToolPolicy.UNRESTRICTED);
    assertEquals(Outcome.EXITED, r.outcome());
    assertEquals(5, r.exitCode());
    assertEquals("jsonq: cannot index array with \"a\"\n", r.stderrText());
    assertFalse(r.succeeded());
    assertEquals(5, audit.get(0).exitCode());
  }

  @Test
  void refusalsAreRecordedToo() throws Exception {
    rt.install(
        ToolManifest.parse("{\"name\":\"noargs\",\"description\":\"d\"}"),
        BuiltinTools.module("wordcount"));
    RunResult r = rt.run("noargs", ToolRequest.of(7, new byte[0], "-l"), ToolPolicy.UNRESTRICTED);
    assertEquals(Outcome.REFUSED, r.outcome());
    assertEquals("noargs takes no arguments", r.message());
    RunResult unknown = rt.run("nope", ToolRequest.of(7, new byte[0]), ToolPolicy.UNRESTRICTED);
    assertEquals("no tool named nope", unknown.message());
    assertEquals(
        List.of(Outcome.REFUSED, Outcome.REFUSED), audit.stream().map(RunRecord::outcome).toList());
  }

  @Test
  void thePolicysStricterLimitsApply() {
    ToolPolicy tight =
        ToolPolicy.UNRESTRICTED.withLimits(new ToolLimits(256, Duration.ofSeconds(10), 10, 4));
    RunResult r =
        rt.run("wordcount", ToolRequest.of(1, "a b c\n".getBytes(StandardCharsets.UTF_8)), tight);
    assertEquals(LimitHit.OUTPUT, r.limitHit(), r::toString);
    assertEquals(
        "      1   ",
        new String(r.stdout(), StandardCharsets.UTF_8),
        "the first 10 bytes, and a clear limit");
    assertTrue(
        r.message().startsWith("output limit: the tool wrote more than 10 bytes"), r.message());
  }

  @Test
  void theClockIsTheRuntimesAndTheEnvironmentTheRequests() throws Exception {
    // md2text ignores both; what matters is that a run starts with an injected clock and env
    Clock fixed = Clock.fixed(Instant.parse("2030-01-02T03:04:05Z"), ZoneOffset.UTC);
    ToolRuntime timed = ToolRuntime.builder().withClock(fixed).build();
    BuiltinTools.installAll(timed);
    RunResult r =
        timed.run(
            "md2text",
            ToolRequest.of(1, "*x*".getBytes(StandardCharsets.UTF_8)).withEnv(Map.of("LANG", "C")),
            ToolPolicy.UNRESTRICTED);
    assertEquals("x\n", r.stdoutText());
    assertEquals(Instant.parse("2030-01-02T03:04:05Z"), r.record().started());
  }

  @Test
  void modulesAreSharedByHashAndDroppedWithTheirLastTool() throws Exception {
    Tool a = rt.tool("sha256").orElseThrow();
    Tool b =
        rt.install(
            ToolManifest.parse(
                "{\"name\":\"hash\",\"description\":\"d\",\"inputs\":{\"args\":\"F\"}}"),
            BuiltinTools.module("sha256"));
    assertSame(a.loaded(), b.loaded(), "parsed and compiled once");
    assertTrue(rt.remove("hash"));
    assertFalse(rt.remove("hash"));
    assertTrue(rt.tool("sha256").isPresent());
    assertEquals(
        List.of("jsonq", "md2text", "sha256", "wordcount"),
        rt.tools().stream().map(Tool::name).toList());
    assertTrue(
        rt.run("sha256", ToolRequest.of(1, new byte[0]), ToolPolicy.UNRESTRICTED).succeeded());
  }

  @Test
  void aModuleNeedingMoreMemoryThanItsManifestAllowsIsRefused() {
    ToolException e =
        assertThrows(
            ToolException.class,
            () ->
                rt.install(
                    ToolManifest.parse(
                        "{\"name\":\"tiny\",\"description\":\"d\",\"limits\":{\"memoryPages\":1}}"),
                    BuiltinTools.module("wordcount")));
    assertTrue(
        e.getMessage()
            .matches(
                "module refused: it needs \\d+ memory pages at start, the manifest's"
                    + " limits.memoryPages is 1"),
        e.getMessage());
  }

  @Test
  void aCallerThatStopsWaitingStopsTheRun() throws Exception {
    Tool loop =
        rt.install(Modules.manifest("loop", 16, 10_000, 4096, null, null), Modules.hostile("loop"));
    Thread caller = Thread.currentThread();
    Thread interrupter =
        new Thread(
            () -> {
              try {
                HostileModulesTest.awaitRunning(rt, "loop");
              } catch (InterruptedException e) {
                return;
              }
              caller.interrupt();
            });
    interrupter.start();
    RunResult r = rt.run(loop, ToolRequest.of(1, new byte[0], "spin"), ToolPolicy.UNRESTRICTED);
    assertTrue(Thread.interrupted(), "the interrupt is kept for the caller");
    interrupter.join();
    assertEquals(Outcome.CANCELLED, r.outcome(), r::toString);
    assertEquals("the caller stopped waiting; the module was interrupted", r.message());
    HostileModulesTest.awaitIdle(rt, "loop");
  }

  @Test
  void theModuleIsServedBack() {
    Tool t = rt.tool("wordcount").orElseThrow();
    byte[] bytes = t.moduleBytes();
    assertEquals(t.moduleSize(), bytes.length);
    assertEquals(LoadedModule.sha256(BuiltinTools.module("wordcount")), t.moduleHash());
    bytes[0] = 9;
    assertEquals(0, t.moduleBytes()[0], "a copy");
  }
}
