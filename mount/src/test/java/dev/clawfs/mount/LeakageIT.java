package dev.clawfs.mount;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.clawfs.mount.MountedVault.Result;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.UserDefinedFileAttributeView;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Someone who has the vault directory but not the passphrase learns no name and no word:
 * distinctive names, contents, symlink targets and xattrs written through the mount are looked
 * for in every byte of every vault file (SQLite db, -wal, -shm, content files, the search index),
 * in ASCII, upper case, UTF-16, hex and base64 at every alignment, while mounted and after
 * unmount. The search index is included: the files are indexed (keywords and vectors) before the
 * scan, the index's stems and the words of queries run through search/ are looked for too, and
 * so are the embedding vectors of the indexed text.
 */
class LeakageIT {
  /** Words used only in names (files, directories, links, xattr names). */
  private static final List<String> NAME_WORDS = List.of(
      "zanzibarquokka", "platypusdossier", "wombatcompass", "pelicanmarathon", "falconquadrille",
      "tapiraurora", "hardlinkmarmoset", "labyrinthmkdir", "kumquatattribute", "phantcaravane");
  /** Words used only in contents, symlink targets and xattr values. */
  private static final List<String> CONTENT_WORDS = List.of(
      "xylophonequagmire", "marmaladeventriloquist", "quixoticfandango", "jellyfishsonata",
      "hippogriffcanteen", "overwrittenbasilisk", "ocelotharmonica", "narwhalsemaphore",
      "gondolabrigadier", "saxophonebumblebee");
  /** Words used only in queries typed into search/. */
  private static final List<String> SEARCH_WORDS = List.of("quetzalpinafore", "armadillotrombone");

  @TempDir Path base;

  /** Writes the distinctive files through the mount and fsyncs them. */
  private static void writeDistinctiveFiles(MountedVault v) throws IOException {
    Path ws = v.path("workspaces");
    Path dossier = ws.resolve("platypusdossier");
    Files.createDirectories(dossier.resolve("labyrinthmkdir/deeper"));
    StringBuilder text = new StringBuilder();
    for (int i = 0; i < 400; i++) {
      text.append("Paragraph ").append(i).append(": the xylophonequagmire met a ")
          .append("marmaladeventriloquist near the quixoticfandango, and a saxophonebumblebee ")
          .append("hummed along. Ordinary words fill the rest of this sentence so that the text ")
          .append("is long and spans several chunks of the content format.\n");
    }
    synced(dossier.resolve("zanzibarquokka-report.txt"),
        ("xylophonequagmire ".repeat(200) + "\n" + text).getBytes(StandardCharsets.UTF_8));
    synced(ws.resolve("tiny.txt"), "jellyfishsonata".getBytes(StandardCharsets.US_ASCII));
    synced(dossier.resolve("labyrinthmkdir/deeper/big.txt"),
        "hippogriffcanteen\n".repeat(120_000).getBytes(StandardCharsets.US_ASCII));
    synced(ws.resolve("utf16.txt"), "saxophonebumblebee".getBytes(StandardCharsets.UTF_16LE));
    synced(ws.resolve("\u00e9l\u00e9phantcaravane.txt"), "unicode name".getBytes(StandardCharsets.UTF_8));
    // overwritten content: the old words must not remain anywhere either
    Path over = ws.resolve("overwritten.txt");
    synced(over, "overwrittenbasilisk ".repeat(50).getBytes(StandardCharsets.US_ASCII));
    synced(over, "replacement".getBytes(StandardCharsets.US_ASCII));
    // renamed: the old name must not remain
    Path old = dossier.resolve("pelicanmarathon.txt");
    synced(old, "renamed file".getBytes(StandardCharsets.US_ASCII));
    Files.move(old, dossier.resolve("falconquadrille.txt"));
    // deleted: neither its name nor its content may remain
    Path gone = ws.resolve("tapiraurora.txt");
    synced(gone, "ocelotharmonica ".repeat(100).getBytes(StandardCharsets.US_ASCII));
    Files.delete(gone);
    Files.createLink(dossier.resolve("hardlinkmarmoset"), dossier.resolve("falconquadrille.txt"));
    Files.createSymbolicLink(dossier.resolve("wombatcompass"),
        Path.of("../narwhalsemaphore/" + "narwhalsemaphore-".repeat(10) + "/target.txt"));
    Path withXattr = dossier.resolve("zanzibarquokka-report.txt");
    UserDefinedFileAttributeView xv =
        Files.getFileAttributeView(withXattr, UserDefinedFileAttributeView.class);
    xv.write("kumquatattribute",
        ByteBuffer.wrap("value gondolabrigadier".getBytes(StandardCharsets.UTF_8)));
    synced(withXattr, null);
    synced(dossier, null); // fsync(2) on the directories: every name above is committed
    synced(ws, null);
    // searches, so the queries' words have passed through the server; then wait until the
    // index has everything (keywords and vectors) before anyone scans the vault
    for (String q : List.of("xylophonequagmire", "text:quetzalpinafore OR armadillotrombone", "armadillotrombone of jellyfishsonata")) {
      try (Stream<Path> hits = Files.list(v.path("search").resolve(q))) {
        hits.count();
      }
    }
    awaitIndexIdle(v);
    try (Stream<Path> hits = Files.list(v.path("search").resolve("text:xylophonequagmire"))) {
      assertTrue(hits.anyMatch(h -> h.getFileName().toString().endsWith("zanzibarquokka-report.txt")),
          "the content was indexed (so the scan covers a populated index)");
    }
    // the names and values read back (so the test wrote what it means to look for)
    assertEquals("renamed file", Files.readString(dossier.resolve("hardlinkmarmoset")));
    assertTrue(Files.readSymbolicLink(dossier.resolve("wombatcompass")).toString()
        .startsWith("../narwhalsemaphore/"));
    ByteBuffer b = ByteBuffer.allocate(xv.size("kumquatattribute"));
    xv.read("kumquatattribute", b);
    assertEquals("value gondolabrigadier", new String(b.array(), StandardCharsets.UTF_8));
  }

  static void awaitIndexIdle(MountedVault v) throws IOException {
    long end = System.currentTimeMillis() + 120_000;
    while (System.currentTimeMillis() < end) {
      if (Files.readString(v.path("system/index/status")).startsWith("state: idle")) {
        return;
      }
      try {
        Thread.sleep(100);
      } catch (InterruptedException e) {
        throw new IOException(e);
      }
    }
    throw new AssertionError("the index did not become idle: " + Files.readString(v.path("system/index/status")));
  }

  /** Writes (if given) and fsyncs. */
  private static void synced(Path p, byte[] content) throws IOException {
    if (content != null) {
      try (FileChannel ch = FileChannel.open(p, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
          StandardOpenOption.TRUNCATE_EXISTING)) {
        ByteBuffer buf = ByteBuffer.wrap(content);
        while (buf.hasRemaining()) {
          ch.write(buf);
        }
        ch.force(true);
      }
    } else {
      try (FileChannel ch = FileChannel.open(p, StandardOpenOption.READ)) {
        ch.force(true);
      }
    }
  }

  @Test
  void noNameAndNoWordInAnyVaultFileWhileMountedOrAfter() throws IOException {
    try (MountedVault v = MountedVault.create(base)) {
      writeDistinctiveFiles(v);
      System.out.println("LeakageIT: scanning the mounted vault: " + listing(v.vault()));
      List<String> leaks = scan(v.vault());
      assertEquals(List.of(), leaks, "plaintext found in the vault while mounted (files: "
          + listing(v.vault()) + ")");
      assertEquals(List.of(), plaintextNames(v.vault()), "vault entries named after plaintext");
      v.unmount();
      assertEquals(List.of(), scan(v.vault()), "plaintext found in the vault after unmount (files: "
          + listing(v.vault()) + ")");
      assertEquals(List.of(), plaintextNames(v.vault()), "vault entries named after plaintext");

      // after another mount (recovery, checkpoints, cache rebuilds) and unmount
      v.mount();
      assertEquals("xylophonequagmire ",
          Files.readString(v.path("workspaces/platypusdossier/zanzibarquokka-report.txt"))
              .substring(0, 18), "the vault no longer reads back");
      v.unmount();
      assertEquals(List.of(), scan(v.vault()), "plaintext found after a second mount");
    }
  }

  @Test
  void stringsFindsNoWordInTheVault() throws IOException {
    Assumptions.assumeTrue(RealProgramsIT.onPath("strings"),
        "SKIPPED: strings (package binutils) is not installed");
    try (MountedVault v = MountedVault.create(base)) {
      writeDistinctiveFiles(v);
      List<String> whileMounted = stringsHits(v.vault());
      assertEquals(List.of(), whileMounted, "strings finds plaintext in the mounted vault");
      v.unmount();
      assertEquals(List.of(), stringsHits(v.vault()), "strings finds plaintext after unmount");
    }
  }

  @Test
  void theSearchItselfFindsEveryEncodingOfAWord() throws IOException {
    // every word is long enough that random ciphertext cannot hold it by chance
    for (String w : words()) {
      assertTrue(w.length() >= 10, "word too short for a meaningful search: " + w);
    }
    // a control: plant each encoding in an ordinary file and check that scan() sees it
    Path plain = base.resolve("control");
    Files.createDirectories(plain);
    for (String form : List.of("ascii", "utf16", "base64-0", "base64-1", "base64-2", "hex")) {
      Path f = plain.resolve(form);
      byte[] w = "xylophonequagmire".getBytes(StandardCharsets.US_ASCII);
      byte[] encoded = switch (form) {
        case "ascii" -> w;
        case "utf16" -> "xylophonequagmire".getBytes(StandardCharsets.UTF_16LE);
        case "hex" -> HexFormat.of().formatHex(w).getBytes(StandardCharsets.US_ASCII);
        default -> {
          int k = form.charAt(form.length() - 1) - '0';
          byte[] padded = new byte[k + w.length + 2];
          System.arraycopy(w, 0, padded, k, w.length);
          yield Base64.getEncoder().encode(padded);
        }
      };
      byte[] noise = new byte[1000];
      new java.util.Random(form.hashCode()).nextBytes(noise);
      ByteBuffer b = ByteBuffer.allocate(2000 + encoded.length).put(noise).put(encoded).put(noise);
      Files.write(f, b.array());
      assertTrue(!scan(plain).isEmpty(), "the scan misses the " + form + " form");
      Files.delete(f);
    }
    assertEquals(List.of(), scan(plain));
  }

  /** Every hit of every form of every word in every file under dir. */
  static List<String> scan(Path dir) throws IOException {
    Map<String, String> needles = new LinkedHashMap<>();
    for (String w : words()) {
      for (Map.Entry<String, byte[]> e : forms(w).entrySet()) {
        needles.put(new String(e.getValue(), StandardCharsets.ISO_8859_1), w + " (" + e.getKey() + ")");
      }
    }
    List<String> hits = new ArrayList<>();
    for (Path f : stableListing(dir)) {
      {
        byte[] bytes = readIfStillThere(f);
        if (bytes == null) {
          return scan(dir); // a file replaced while we read (the index's snapshot): scan everything again
        }
        String hay = new String(bytes, StandardCharsets.ISO_8859_1);
        for (Map.Entry<String, String> n : needles.entrySet()) {
          int at = hay.indexOf(n.getKey());
          if (at >= 0) {
            hits.add(dir.relativize(f) + " @" + at + ": " + n.getValue());
          }
        }
      }
    }
    return hits;
  }

  /** The vault's regular files. */
  static List<Path> stableListing(Path dir) throws IOException {
    try (Stream<Path> s = Files.walk(dir)) {
      return s.filter(Files::isRegularFile).sorted().toList();
    } catch (java.io.UncheckedIOException e) {
      return stableListing(dir); // a file vanished during the walk: list again
    }
  }

  /**
   * The file's bytes, or null when it is gone: the index writes its snapshot to a temporary file
   * and renames it into place, which can happen while a test lists and reads the vault.
   */
  static byte[] readIfStillThere(Path f) throws IOException {
    try {
      return Files.readAllBytes(f);
    } catch (java.nio.file.NoSuchFileException e) {
      return null;
    }
  }

  private static List<String> words() {
    List<String> all = new ArrayList<>(NAME_WORDS);
    all.addAll(CONTENT_WORDS);
    all.addAll(SEARCH_WORDS);
    // the blind index works on stems: a plaintext stem would give the word away just as well
    for (String w : new ArrayList<>(all)) {
      String stem = dev.clawfs.index.Tokenizer.stem(w);
      if (!all.contains(stem) && stem.length() >= 10) {
        all.add(stem);
      }
    }
    return all;
  }

  @Test
  void noEmbeddingOfTheIndexedTextInTheVault() throws Exception {
    String text = "The gondolabrigadier signalled the narwhalsemaphore across the harbour at dusk,"
        + " while the ocelotharmonica played on the pier.";
    try (MountedVault v = MountedVault.create(base)) {
      synced(v.path("specs/embedme.txt"), text.getBytes(StandardCharsets.UTF_8));
      awaitIndexIdle(v);
      try (Stream<Path> hits = Files.list(v.path("search").resolve("semantic:a signal across the harbour at dusk"))) {
        assertTrue(hits.anyMatch(h -> h.getFileName().toString().equals("1-embedme.txt")), "the text was embedded");
      }
      // the vector the server stored, recomputed here with the same model on the same passage
      List<dev.clawfs.index.Passage> passages = dev.clawfs.index.Chunker.defaults().chunk(text);
      assertEquals(1, passages.size());
      float[] vec;
      try (dev.clawfs.index.OnnxEmbedder e = dev.clawfs.index.OnnxEmbedder.load(dev.clawfs.index.OnnxEmbedder.DEFAULT, 2)) {
        vec = e.embedPassages(List.of(passages.get(0).text())).get(0);
      }
      // control: the scan finds the vector in a file that holds it (raw floats, either byte order)
      Path control = base.resolve("control-vector");
      ByteBuffer bb = ByteBuffer.allocate(7 + 4 * vec.length).order(java.nio.ByteOrder.BIG_ENDIAN);
      bb.position(7);
      for (float f : vec) {
        bb.putFloat(f + 1e-7f);
      }
      Files.write(control, bb.array());
      assertTrue(vectorHits(control, vec) > 0, "the vector scan misses a planted vector");
      Files.delete(control);
      v.unmount();
      List<String> hits = new ArrayList<>();
      try (Stream<Path> s = Files.walk(v.vault())) {
        for (Path f : s.filter(Files::isRegularFile).toList()) {
          if (vectorHits(f, vec) > 0) {
            hits.add(v.vault().relativize(f).toString());
          }
        }
      }
      assertEquals(List.of(), hits, "vault files holding the embedding in the clear");
    }
  }

  /**
   * Places in f (any byte offset, either byte order) where four consecutive floats equal
   * components of vec within 1e-4: the model's output may differ in the last bits between runs,
   * so exact byte patterns would prove nothing. Random bytes match by chance with odds near 1e-12.
   */
  static int vectorHits(Path f, float[] vec) throws IOException {
    byte[] b = Files.readAllBytes(f);
    int hits = 0;
    for (java.nio.ByteOrder order : List.of(java.nio.ByteOrder.LITTLE_ENDIAN, java.nio.ByteOrder.BIG_ENDIAN)) {
      ByteBuffer bb = ByteBuffer.wrap(b).order(order);
      for (int i = 0; i + 16 <= b.length; i++) {
        float a = bb.getFloat(i);
        if (Math.abs(a - vec[0]) > 1e-4 && Math.abs(a - vec[1]) > 1e-4) {
          continue;
        }
        int start = Math.abs(a - vec[0]) <= 1e-4 ? 0 : 1;
        boolean all = true;
        for (int j = 1; j < 4 && all; j++) {
          all = Math.abs(bb.getFloat(i + 4 * j) - vec[start + j]) <= 1e-4;
        }
        if (all) {
          hits++;
        }
      }
    }
    return hits;
  }

  /** The byte sequences that would give the word away. */
  private static Map<String, byte[]> forms(String word) {
    Map<String, byte[]> f = new LinkedHashMap<>();
    byte[] w = word.getBytes(StandardCharsets.US_ASCII);
    f.put("ascii", w);
    f.put("upper case", word.toUpperCase(Locale.ROOT).getBytes(StandardCharsets.US_ASCII));
    f.put("utf-16le", word.getBytes(StandardCharsets.UTF_16LE));
    f.put("utf-16be", word.getBytes(StandardCharsets.UTF_16BE));
    f.put("hex", HexFormat.of().formatHex(w).getBytes(StandardCharsets.US_ASCII));
    f.put("HEX", HexFormat.of().withUpperCase().formatHex(w).getBytes(StandardCharsets.US_ASCII));
    // base64 of the word at each of the three byte alignments inside a longer encoding: the
    // 4-character groups that depend only on the word's bytes
    for (int k = 0; k < 3; k++) {
      byte[] padded = new byte[k + w.length];
      System.arraycopy(w, 0, padded, k, w.length);
      String enc = Base64.getEncoder().withoutPadding().encodeToString(padded);
      int start = k == 0 ? 0 : 4;
      int end = ((k + w.length) / 3) * 4;
      String stable = enc.substring(start, end);
      f.put("base64+" + k, stable.getBytes(StandardCharsets.US_ASCII));
      f.put("base64url+" + k,
          stable.replace('+', '-').replace('/', '_').getBytes(StandardCharsets.US_ASCII));
    }
    return f;
  }

  /** Vault entries (files or directories) whose name contains a plaintext word. */
  private static List<String> plaintextNames(Path vault) throws IOException {
    List<String> bad = new ArrayList<>();
    try (Stream<Path> s = Files.walk(vault)) {
      for (Path p : s.toList()) {
        String name = p.getFileName().toString().toLowerCase(Locale.ROOT);
        for (String w : words()) {
          if (name.contains(w)) {
            bad.add(vault.relativize(p) + " (" + w + ")");
          }
        }
      }
    }
    return bad;
  }

  /** Runs strings(1) on every vault file and looks for each word, case-insensitively. */
  private static List<String> stringsHits(Path vault) throws IOException {
    List<String> hits = new ArrayList<>();
    {
      for (Path f : stableListing(vault)) {
        for (String enc : List.of("s", "l")) { // 7-bit ASCII and 16-bit little-endian
          Result r = MountedVault.run(List.of("strings", "-a", "-n", "6", "-e", enc, f.toString()),
              null, 120);
          if (r.exitCode() != 0 && !Files.exists(f)) {
            return stringsHits(vault); // replaced meanwhile (the index's snapshot): again from the start
          }
          assertEquals(0, r.exitCode(), "strings failed on " + f + ": " + r);
          String out = r.stdout().toLowerCase(Locale.ROOT);
          for (String w : words()) {
            if (out.contains(w)) {
              hits.add(vault.relativize(f) + ": " + w + " (strings -e " + enc + ")");
            }
          }
        }
      }
    }
    return hits;
  }

  private static String listing(Path vault) {
    try (Stream<Path> s = Files.walk(vault)) {
      return s.filter(Files::isRegularFile).map(p -> vault.relativize(p) + "=" + size(p))
          .limit(60).toList().toString();
    } catch (IOException e) {
      return "unlistable: " + e;
    }
  }

  private static long size(Path p) {
    try {
      return Files.size(p);
    } catch (IOException e) {
      return -1;
    }
  }
}
