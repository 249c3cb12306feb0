package dev.clawfs.tools;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.clawfs.tools.RunRecord.Outcome;
import dev.clawfs.tools.ToolRuntime.Engine;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Modules written to misbehave (src/test/c, built by the Maven build): each is stopped or refused
 * within its limit with a result that says which limit or why, on both engines where the engine
 * matters, and a well-behaved run at the same time finishes correctly.
 */
class HostileModulesTest {

  private static final int UID = 1000;
  private static final byte[] NONE = new byte[0];

  private static ToolRuntime runtime(Engine engine) {
    return ToolRuntime.builder().withEngine(engine).withFiles(new MemoryToolFiles()).build();
  }

  private static Tool install(
      ToolRuntime rt, String module, int pages, long wallMs, long outputBytes) throws Exception {
    return rt.install(
        Modules.manifest(module, pages, wallMs, outputBytes, null, null), Modules.hostile(module));
  }

  private static RunResult run(ToolRuntime rt, Tool tool, String... args) {
    return rt.run(tool, ToolRequest.of(UID, NONE, args), ToolPolicy.UNRESTRICTED);
  }

  @ParameterizedTest
  @EnumSource(Engine.class)
  void anInfiniteLoopIsStoppedAtItsWallTime(Engine engine) throws Exception {
    ToolRuntime rt = runtime(engine);
    Tool loop = install(rt, "loop", 16, 500, 4096);
    RunResult r = run(rt, loop, "spin");
    assertEquals(Outcome.LIMIT, r.outcome(), r::toString);
    assertEquals(LimitHit.TIME, r.limitHit());
    assertEquals("time limit: stopped after 500 ms", r.message());
    assertEquals("loop: spin\n", r.stdoutText(), "what it wrote before is delivered");
    assertTrue(r.record().duration().compareTo(Duration.ofMillis(500)) >= 0, r.record().duration()::toString);
    assertEquals(loop.engine(), engine);
    awaitIdle(rt, "loop"); // the interrupted thread really ended and gave its slot back
  }

  @ParameterizedTest
  @EnumSource(Engine.class)
  void aSleepingModuleIsStoppedAtItsWallTime(Engine engine) throws Exception {
    ToolRuntime rt = runtime(engine);
    RunResult r = run(rt, install(rt, "loop", 16, 300, 4096), "sleep");
    assertEquals(LimitHit.TIME, r.limitHit(), r::toString);
    awaitIdle(rt, "loop");
  }

  @ParameterizedTest
  @EnumSource(Engine.class)
  void endlessRecursionTrapsWithoutHarmingTheServer(Engine engine) throws Exception {
    ToolRuntime rt = runtime(engine);
    RunResult r = run(rt, install(rt, "loop", 1024, 20_000, 4096), "recurse");
    // the module's own stack (64 KiB in linear memory) overflows first: clang's stack pointer
    // runs below 0 and the next store is out of bounds
    assertEquals(Outcome.TRAPPED, r.outcome(), r::toString);
    assertTrue(r.message().startsWith("the module trapped: "), r.message());
  }

  @ParameterizedTest
  @EnumSource(Engine.class)
  void aMemoryBombIsStoppedAtItsPageLimit(Engine engine) throws Exception {
    ToolRuntime rt = runtime(engine);
    Tool bomb = install(rt, "membomb", 64, 20_000, 4096);
    for (String mode : List.of("malloc", "grow")) {
      RunResult r = run(rt, bomb, mode);
      assertEquals(Outcome.LIMIT, r.outcome(), r::toString);
      assertEquals(LimitHit.MEMORY, r.limitHit());
      assertTrue(
          r.message().startsWith("memory limit: the module asked to grow its memory to "),
          r.message());
      assertTrue(r.message().contains("the limit is 64 (4 MiB)"), r.message());
      assertEquals("", r.stdoutText(), "stopped at the refused grow, before it could go on");
    }
  }

  @Test
  void aModuleWhoseInitialMemoryIsOverThePolicyLimitDoesNotStart() throws Exception {
    ToolRuntime rt = runtime(Engine.COMPILER);
    Tool loop = install(rt, "loop", 16, 1000, 4096);
    ToolPolicy tight =
        ToolPolicy.UNRESTRICTED.withLimits(new ToolLimits(1, Duration.ofSeconds(1), 4096, 4));
    RunResult r = rt.run(loop, ToolRequest.of(UID, NONE, "spin"), tight);
    assertEquals(LimitHit.MEMORY, r.limitHit(), r::toString);
    assertTrue(
        r.message()
            .matches(
                "memory limit: the module needs \\d+ pages \\(64 KiB each\\) at start, the limit is"
                    + " 1"),
        r.message());
  }

  @ParameterizedTest
  @EnumSource(Engine.class)
  void gigabytesOfOutputStopAtTheOutputLimit(Engine engine) throws Exception {
    ToolRuntime rt = runtime(engine);
    Tool flood = install(rt, "flood", 16, 20_000, 1 << 20);
    for (String stream : List.of("stdout", "stderr")) {
      RunResult r = run(rt, flood, stream);
      assertEquals(Outcome.LIMIT, r.outcome(), r::toString);
      assertEquals(LimitHit.OUTPUT, r.limitHit());
      assertEquals(
          "output limit: the tool wrote more than 1048576 bytes (stdout, stderr and files"
              + " together); stopped while writing "
              + stream,
          r.message());
      byte[] got = stream.equals("stdout") ? r.stdout() : r.stderr();
      assertEquals(1 << 20, got.length, "exactly what fitted is delivered");
      assertEquals(1 << 20, r.record().bytesOut());
    }
  }

  @Test
  void outputToTheCallersStreamIsCappedToo() throws Exception {
    ToolRuntime rt = runtime(Engine.COMPILER);
    Tool flood = install(rt, "flood", 16, 20_000, 3_000_000);
    AtomicLong seen = new AtomicLong();
    OutputStream counting =
        new OutputStream() {
          @Override
          public void write(int b) {
            seen.incrementAndGet();
          }

          @Override
          public void write(byte[] b, int off, int len) {
            seen.addAndGet(len);
          }
        };
    RunResult r =
        rt.run(
            flood,
            ToolRequest.of(UID, NONE, "stdout")
                .withOutput(counting, OutputStream.nullOutputStream()),
            ToolPolicy.UNRESTRICTED);
    assertEquals(LimitHit.OUTPUT, r.limitHit(), r::toString);
    assertEquals(3_000_000, seen.get());
  }

  @Test
  void bytesThatAreNotWebAssemblyAreRefusedAtInstall() throws Exception {
    ToolRuntime rt = runtime(Engine.COMPILER);
    ToolManifest m = Modules.manifest("junk", 16, 1000, 4096, null, null);
    ToolException e =
        assertThrows(
            ToolException.class,
            () -> rt.install(m, "#!/bin/sh\ncat /etc/passwd\n".getBytes(StandardCharsets.UTF_8)));
    assertEquals("module refused: not a WebAssembly module (no \\0asm header)", e.getMessage());
    e =
        assertThrows(
            ToolException.class,
            () -> rt.install(m, "(module (func))".getBytes(StandardCharsets.UTF_8)));
    assertTrue(
        e.getMessage().endsWith("(this is the text format: compile it with wat2wasm first)"),
        e.getMessage());
    byte[] truncated = Arrays.copyOf(Modules.hostile("loop"), 200);
    e = assertThrows(ToolException.class, () -> rt.install(m, truncated));
    assertTrue(
        e.getMessage().startsWith("module refused: malformed WebAssembly: "), e.getMessage());
    e =
        assertThrows(
            ToolException.class, () -> rt.install(m, new byte[] {0, 'a', 's', 'm', 2, 0, 0, 0}));
    assertEquals(
        "module refused: WebAssembly binary version 2 is not supported (only 1)", e.getMessage());
    assertTrue(rt.tools().isEmpty());
    RunResult r = rt.run("junk", ToolRequest.of(UID, NONE), ToolPolicy.UNRESTRICTED);
    assertEquals(Outcome.REFUSED, r.outcome());
    assertEquals("no tool named junk", r.message());
  }

  @Test
  void aModuleImportingAHostFunctionThatDoesNotExistIsRefused() throws Exception {
    ToolRuntime rt = runtime(Engine.COMPILER);
    byte[] module = Modules.hostile("importer");
    ToolException e =
        assertThrows(
            ToolException.class,
            () -> rt.install(Modules.manifest("importer", 16, 1000, 4096, null, null), module));
    assertTrue(
        e.getMessage()
            .startsWith(
                "module refused: imports the host function env.clawfs_secret, which ClawFS does not"
                    + " offer"),
        e.getMessage());
  }

  @Test
  void aModuleImportingSocketsIsRefused() throws Exception {
    ToolRuntime rt = runtime(Engine.COMPILER);
    byte[] module = Modules.hostile("network");
    ToolException e =
        assertThrows(
            ToolException.class,
            () -> rt.install(Modules.manifest("network", 16, 1000, 4096, null, null), module));
    assertEquals(
        "module refused: imports wasi_snapshot_preview1.sock_accept; tools get no network",
        e.getMessage());
    assertTrue(LoadedModule.offeredNames().stream().noneMatch(n -> n.startsWith("sock_")));
  }

  @Test
  void hostileRunsDoNotDisturbAGoodRunAtTheSameTime() throws Exception {
    Modules.requireBuiltins();
    ToolRuntime rt = runtime(Engine.COMPILER);
    BuiltinTools.installAll(rt);
    Tool loop = install(rt, "loop", 16, 3000, 4096);
    Tool bomb = install(rt, "membomb", 2048, 3000, 4096);
    Tool flood = install(rt, "flood", 16, 3000, 64 << 20);
    CompletableFuture<RunResult> spinning =
        CompletableFuture.supplyAsync(() -> run(rt, loop, "spin"));
    CompletableFuture<RunResult> bombing =
        CompletableFuture.supplyAsync(() -> run(rt, bomb, "malloc"));
    CompletableFuture<RunResult> flooding =
        CompletableFuture.supplyAsync(() -> run(rt, flood, "stdout"));
    awaitRunning(rt, "loop");

    byte[] text =
        "the quick brown fox\njumps over\nthe lazy dog\n"
            .repeat(1000)
            .getBytes(StandardCharsets.UTF_8);
    RunResult good = rt.run("wordcount", ToolRequest.of(UID + 1, text), ToolPolicy.UNRESTRICTED);
    assertTrue(good.succeeded(), good::toString);
    assertEquals("   3000    9000   44000\n", good.stdoutText());
    assertFalse(spinning.isDone(), "the good run finished while the loop was still spinning");

    assertEquals(LimitHit.TIME, spinning.get().limitHit());
    assertEquals(LimitHit.MEMORY, bombing.get().limitHit());
    assertEquals(LimitHit.OUTPUT, flooding.get().limitHit());
  }

  @Test
  void concurrentRunsOverTheToolsLimitAreRefused() throws Exception {
    ToolRuntime rt = runtime(Engine.COMPILER);
    ToolManifest one =
        ToolManifest.parse(
            "{\"name\":\"loop\",\"description\":\"d\",\"inputs\":{\"args\":\"MODE\"},"
                + "\"limits\":{\"memoryPages\":16,\"wallMs\":2000,\"concurrency\":1}}");
    Tool loop = rt.install(one, Modules.hostile("loop"));
    CompletableFuture<RunResult> first = CompletableFuture.supplyAsync(() -> run(rt, loop, "spin"));
    awaitRunning(rt, "loop");
    RunResult second = run(rt, loop, "spin");
    assertEquals(Outcome.LIMIT, second.outcome());
    assertEquals(LimitHit.CONCURRENCY, second.limitHit());
    assertEquals("concurrency limit: loop already has 1 run going (limit 1)", second.message());
    assertEquals(LimitHit.TIME, first.get().limitHit());
    awaitIdle(rt, "loop");
    assertEquals(
        LimitHit.TIME, run(rt, loop, "sleep").limitHit(), "admitted again once the first ended");
  }

  @Test
  void concurrentRunsOverTheCallersLimitAreRefused() throws Exception {
    ToolRuntime rt = runtime(Engine.COMPILER);
    Tool loop = install(rt, "loop", 16, 2000, 4096);
    Tool flood = install(rt, "flood", 16, 2000, 4096);
    ToolPolicy onePerCaller = ToolPolicy.UNRESTRICTED.withCallerConcurrency(1);
    CompletableFuture<RunResult> first =
        CompletableFuture.supplyAsync(
            () -> rt.run(loop, ToolRequest.of(UID, NONE, "spin"), onePerCaller));
    awaitRunning(rt, "loop");
    RunResult other = rt.run(flood, ToolRequest.of(UID, NONE, "stdout"), onePerCaller);
    assertEquals(LimitHit.CONCURRENCY, other.limitHit());
    assertEquals(
        "concurrency limit: uid 1000 already has 1 tool run going (limit 1)", other.message());
    RunResult otherCaller = rt.run(flood, ToolRequest.of(UID + 1, NONE, "stdout"), onePerCaller);
    assertEquals(LimitHit.OUTPUT, otherCaller.limitHit(), "another caller is not held back");
    first.get();
  }

  static void awaitRunning(ToolRuntime rt, String tool) throws InterruptedException {
    for (int i = 0; i < 500 && rt.limiter().running(tool) == 0; i++) {
      Thread.sleep(10);
    }
    assertEquals(1, rt.limiter().running(tool), tool + " did not start");
  }

  static void awaitIdle(ToolRuntime rt, String tool) throws InterruptedException {
    for (int i = 0; i < 500 && rt.limiter().running(tool) > 0; i++) {
      Thread.sleep(10);
    }
    assertEquals(0, rt.limiter().running(tool), tool + " still running");
  }
}
