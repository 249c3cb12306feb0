package dev.clawfs.fuse;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.clawfs.crypto.KdfParams;
import dev.clawfs.crypto.MasterKeys;
import dev.clawfs.crypto.VaultHeader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Virtual streams (reads that wait) and virtual directories that root creates files in. */
class VirtualStreamTest {
  private static final int O_NONBLOCK = 04000;
  private static final int O_WRONLY = 1;

  @TempDir Path dir;
  private MasterKeys keys;
  private ClawFileSystem fs;
  private final StringBuilder log = new StringBuilder();
  private final Map<String, byte[]> files = new ConcurrentHashMap<>();

  /** A stream of what {@link #log} holds; every reader reads it from its own offset. */
  private final StreamSource source = new StreamSource() {
    @Override
    public long size() {
      synchronized (log) {
        return log.length();
      }
    }

    @Override
    public long modifiedNanos() {
      return 42;
    }

    @Override
    public Reader open(Caller caller) {
      return new Reader() {
        @Override
        public int read(long offset, byte[] dst, int len, long waitMillis) throws InterruptedException {
          synchronized (log) {
            if (offset >= log.length() && waitMillis > 0) {
              log.wait(waitMillis);
            }
            if (offset >= log.length()) {
              return 0;
            }
            byte[] b = log.substring((int) offset).getBytes(StandardCharsets.UTF_8);
            int n = Math.min(len, b.length);
            System.arraycopy(b, 0, dst, 0, n);
            return n;
          }
        }

        @Override
        public void close() {}
      };
    }
  };

  @BeforeEach
  void open() throws Exception {
    keys = VaultHeader.create(dir, "pw".toCharArray(), new KdfParams(8192, 1, 1));
    ClawFileSystem.initialize(dir, keys, 0, 0);
    fs = ClawFileSystem.open(dir, keys, 50);
    VirtualDir system = new VirtualDir();
    system.stream("stream", source, 0400);
    system.tree("drop", (path, caller) -> {
      if (path.isEmpty()) {
        return new VirtualNode.Directory(() -> files.keySet().stream()
            .map(n -> new VirtualNode.Entry(n, VirtualNode.Kind.FILE)).toList(), new VirtualNode.Files() {
              @Override
              public VirtualNode.File create(String name, Caller c) {
                if (name.startsWith("bad")) {
                  throw new FsException(Errno.EINVAL, "bad name");
                }
                files.put(name, new byte[0]);
                return node(name);
              }

              @Override
              public void remove(String name, Caller c) {
                if (files.remove(name) == null) {
                  throw new FsException(Errno.ENOENT, "none");
                }
              }
            });
      }
      if (!files.containsKey(path.get(0))) {
        throw new FsException(Errno.ENOENT, "none");
      }
      return node(path.get(0));
    });
    // an echo service: what one descriptor wrote comes back upper-cased from its first read on
    system.session("echo", (caller, flags) -> new SessionSource.Session() {
      private final StringBuilder in = new StringBuilder();
      private byte[] reply;

      @Override
      public void write(byte[] src, int len) {
        if (reply != null) {
          throw new FsException(Errno.EPIPE, "answered already");
        }
        in.append(new String(src, 0, len, StandardCharsets.UTF_8));
      }

      @Override
      public int read(long offset, byte[] dst, int len, long waitMillis) {
        if (reply == null) {
          reply = in.toString().toUpperCase(java.util.Locale.ROOT).getBytes(StandardCharsets.UTF_8);
          in.setLength(0);
        }
        if (in.length() >= reply.length) {
          return -1;
        }
        int n = Math.min(len, reply.length - in.length());
        System.arraycopy(reply, in.length(), dst, 0, n);
        in.append("x".repeat(n)); // bytes delivered so far
        return n;
      }

      @Override
      public void close() {
        sessionsClosed.incrementAndGet();
      }
    }, 0666);
    system.tree("made", (path, caller) -> {
      if (path.isEmpty()) {
        return new VirtualNode.Directory(() -> made.stream().map(n -> new VirtualNode.Entry(n, VirtualNode.Kind.DIRECTORY)).toList(),
            new VirtualNode.Files() {
              @Override
              public VirtualNode.File create(String name, Caller c) {
                throw new FsException(Errno.EACCES, "folders only");
              }

              @Override
              public void mkdir(String name, Caller c) {
                made.add(name);
              }

              @Override
              public void remove(String name, Caller c) {
                if (!made.remove(name)) {
                  throw new FsException(Errno.ENOENT, "none");
                }
              }
            }, 0777);
      }
      if (!made.contains(path.get(0))) {
        throw new FsException(Errno.ENOENT, "none");
      }
      return new VirtualNode.Directory(List::of);
    });
    fs.registerVirtual("system", system);
  }

  private final AtomicInteger sessionsClosed = new AtomicInteger();
  private final List<String> made = new java.util.concurrent.CopyOnWriteArrayList<>();

  private VirtualNode.File node(String name) {
    return new VirtualNode.File(() -> files.get(name), (data, c) -> files.put(name, data), 0600);
  }

  @AfterEach
  void close() throws Exception {
    fs.close();
    keys.destroy();
  }

  private static byte[] p(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  @Test
  void aStreamGrowsWaitsForDataAndHonoursNonBlockingAndInterrupts() throws Exception {
    Attr a = fs.getattr(p("/system/stream"));
    assertEquals(0, a.size());
    assertEquals(Inode.S_IFREG | 0400, a.mode());
    assertEquals(42, a.mtimeNs());
    assertThrows(FsException.class, () -> fs.open(p("/system/stream"), O_WRONLY), "read-only");
    long fh = fs.open(p("/system/stream"), 0);
    assertTrue(fs.isVirtualHandle(fh), "served with direct_io");
    byte[] buf = new byte[100];
    FsException again = assertThrows(FsException.class, () -> fs.read(fh, 0, buf, 100, O_NONBLOCK, ClawFileSystem.ReadWait.NONE));
    assertEquals(Errno.EAGAIN, again.errno());

    AtomicInteger waits = new AtomicInteger();
    AtomicInteger asked = new AtomicInteger();
    ClawFileSystem.ReadWait interruptAfterTwo = new ClawFileSystem.ReadWait() {
      @Override
      public boolean interrupted() {
        return asked.incrementAndGet() > 2;
      }

      @Override
      public void waiting() {
        waits.incrementAndGet();
      }
    };
    FsException intr = assertThrows(FsException.class, () -> fs.read(fh, 0, buf, 100, 0, interruptAfterTwo));
    assertEquals(Errno.EINTR, intr.errno());
    assertEquals(1, waits.get(), "the loop is told once that the read waits");

    Thread writer = new Thread(() -> {
      try {
        Thread.sleep(150);
      } catch (InterruptedException e) {
        return;
      }
      synchronized (log) {
        log.append("event\n");
        log.notifyAll();
      }
    });
    writer.start();
    int n = fs.read(fh, 0, buf, 100, 0, ClawFileSystem.ReadWait.NONE);
    assertEquals("event\n", new String(buf, 0, n, StandardCharsets.UTF_8));
    assertEquals(6, fs.fgetattr(fh).size(), "fstat sees the size grow (tail -f polls it)");
    fs.release(fh);
  }

  @Test
  void rootCreatesAndRemovesFilesInAVirtualDirectoryThatAllowsIt() {
    Caller root = Caller.ROOT;
    long fh = fs.create(p("/system/drop/req.txt"), 0644, O_WRONLY, root);
    assertEquals(Inode.S_IFREG | 0600, fs.getattr(p("/system/drop/req.txt")).mode(), "stat-able right after create");
    fs.write(fh, 0, p("hello"), 5);
    fs.flush(fh);
    fs.release(fh);
    assertEquals("hello", new String(files.get("req.txt"), StandardCharsets.UTF_8));
    List<String> names = new ArrayList<>();
    for (ClawFileSystem.DirEntry e : fs.readdir(p("/system/drop"))) {
      names.add(new String(e.name(), StandardCharsets.UTF_8));
    }
    assertEquals(List.of("req.txt"), names);
    FsException bad = assertThrows(FsException.class, () -> fs.create(p("/system/drop/bad.txt"), 0644, O_WRONLY, root));
    assertEquals(Errno.EINVAL, bad.errno());
    FsException notHere = assertThrows(FsException.class, () -> fs.create(p("/system/new.txt"), 0644, O_WRONLY, root));
    assertEquals(Errno.EACCES, notHere.errno(), "a directory without Files stays read-only");
    fs.unlink(p("/system/drop/req.txt"), root);
    assertTrue(files.isEmpty());
    assertEquals(Errno.ENOENT, assertThrows(FsException.class, () -> fs.unlink(p("/system/drop/req.txt"), root)).errno());
  }

  @Test
  void aSessionAnswersOnTheDescriptorThatAskedIgnoringOffsets() {
    Attr a = fs.getattr(p("/system/echo"));
    assertEquals(Inode.S_IFREG | 0666, a.mode());
    assertEquals(0, a.size());
    long one = fs.open(p("/system/echo"), 2, new Caller(1000, 1000, 1));
    long two = fs.open(p("/system/echo"), 2, new Caller(1000, 1000, 2));
    assertTrue(fs.bypassPageCache(one), "a conversation is never cached");
    fs.write(one, 0, p("hello "), 6);
    fs.write(one, 0, p("world"), 5); // offsets are ignored: it is a pipe, not a file
    fs.write(two, 0, p("other"), 5);
    fs.ftruncate(one, 0); // O_TRUNC of a conversation is a no-op, not an error
    byte[] buf = new byte[4];
    StringBuilder got = new StringBuilder();
    int n;
    while ((n = fs.read(one, 12345, buf, 4, 0, ClawFileSystem.ReadWait.NONE)) > 0) {
      got.append(new String(buf, 0, n, StandardCharsets.UTF_8));
    }
    assertEquals("HELLO WORLD", got.toString());
    assertEquals(Errno.EPIPE, assertThrows(FsException.class, () -> fs.write(one, 0, p("late"), 4)).errno());
    n = fs.read(two, 0, buf, 4, 0, ClawFileSystem.ReadWait.NONE);
    assertEquals("OTHE", new String(buf, 0, n, StandardCharsets.UTF_8), "each descriptor has its own conversation");
    fs.release(one);
    fs.release(two);
    assertEquals(2, sessionsClosed.get());
  }

  @Test
  void aVirtualDirectoryMayAllowMkdirAndRmdirAndShowsItsMode() {
    assertEquals(Inode.S_IFDIR | 0777, fs.getattr(p("/system/made")).mode());
    fs.mkdir(p("/system/made/tool"), 0755, Caller.ROOT);
    assertEquals(List.of("tool"), made);
    assertEquals(Inode.S_IFDIR | 0555, fs.getattr(p("/system/made/tool")).mode());
    assertEquals(Errno.EACCES, assertThrows(FsException.class,
        () -> fs.mkdir(p("/system/drop/sub"), 0755, Caller.ROOT)).errno(), "mkdir is refused unless allowed");
    assertEquals(Errno.ENOTDIR, assertThrows(FsException.class,
        () -> fs.rmdir(p("/system/stream"), Caller.ROOT)).errno());
    fs.rmdir(p("/system/made/tool"), Caller.ROOT);
    assertTrue(made.isEmpty());
  }

  @Test
  void onlyANameOutsideTheStoredNamespaceCanBeDroppedAndTakenByAVirtualTree() {
    assertThrows(IllegalArgumentException.class, () -> fs.registerVirtual("agents", (path, c) -> null));
    assertThrows(IllegalArgumentException.class, () -> fs.dropEmptyTopLevel("workspaces"));
    assertTrue(fs.dropEmptyTopLevel("tools"), "absent is as good as dropped");
    fs.registerVirtual("tools", (path, c) -> new VirtualNode.Directory(List::of));
    assertEquals(Inode.S_IFDIR | 0555, fs.getattr(p("/tools")).mode());
  }

  @Test
  void anOverlayAddsVirtualEntriesInsideStoredDirectoriesOfItsDepth() {
    fs.registerOverlay("agents", 2, new VirtualOverlay() {
      @Override
      public java.util.Set<String> names(List<String> dir) {
        return dir.get(1).equals("bot") ? java.util.Set.of("status", "ask") : java.util.Set.of();
      }

      @Override
      public VirtualNode resolve(List<String> dir, String name, List<String> rest, Caller caller) {
        if (name.equals("status") && rest.isEmpty()) {
          return VirtualNode.File.readOnly(() -> p("ok " + dir.get(1) + "\n"));
        }
        if (name.equals("ask") && rest.isEmpty()) {
          return new VirtualNode.Directory(List::of);
        }
        if (name.equals("ask") && rest.size() == 1) {
          return VirtualNode.File.readOnly(() -> p("answer to " + rest.get(0)));
        }
        throw new FsException(Errno.ENOENT, "none");
      }
    });
    fs.mkdir(p("/agents/bot"), 0700, Caller.ROOT);
    fs.mkdir(p("/agents/bot/memory"), 0700, Caller.ROOT);
    fs.mkdir(p("/agents/other"), 0700, Caller.ROOT);
    List<String> names = new ArrayList<>();
    for (ClawFileSystem.DirEntry e : fs.readdir(p("/agents/bot"))) {
      names.add(new String(e.name(), StandardCharsets.UTF_8));
    }
    names.sort(null);
    assertEquals(List.of("ask", "memory", "status"), names, "stored and virtual entries side by side");
    assertTrue(fs.readdir(p("/")).stream().anyMatch(e -> new String(e.name(), StandardCharsets.UTF_8).equals("agents")),
        "the root lists with an overlay registered");
    assertEquals(Inode.S_IFREG | 0444, fs.getattr(p("/agents/bot/status")).mode());
    long fh = fs.open(p("/agents/bot/ask/why"), 0);
    byte[] buf = new byte[64];
    int n = fs.read(fh, 0, buf, 64);
    fs.release(fh);
    assertEquals("answer to why", new String(buf, 0, n, StandardCharsets.UTF_8));
    assertEquals(Errno.EACCES, assertThrows(FsException.class,
        () -> fs.create(p("/agents/bot/status"), 0644, O_WRONLY, Caller.ROOT)).errno(), "a reserved name");
    assertEquals(Errno.EACCES, assertThrows(FsException.class,
        () -> fs.rename(p("/agents/bot/memory"), p("/agents/bot/ask"))).errno());
    assertEquals(Errno.EACCES, assertThrows(FsException.class,
        () -> fs.rename(p("/agents/bot/status"), p("/agents/bot/memory/s"))).errno());
    fs.mkdir(p("/agents/other/status"), 0700, Caller.ROOT); // other directories are plain
    assertEquals(Inode.S_IFDIR, fs.getattr(p("/agents/other/status")).mode() & Inode.S_IFMT);
    assertEquals(Errno.ENOENT, assertThrows(FsException.class, () -> fs.getattr(p("/agents/other/ask"))).errno());
  }
}
