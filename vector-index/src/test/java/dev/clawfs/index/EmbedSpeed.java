package dev.clawfs.index;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import dev.langchain4j.data.segment.TextSegment;
import dev.langchain4j.model.embedding.EmbeddingModel;
import dev.langchain4j.model.embedding.onnx.allminilml6v2.AllMiniLmL6V2EmbeddingModel;
import dev.langchain4j.model.embedding.onnx.allminilml6v2q.AllMiniLmL6V2QuantizedEmbeddingModel;
import dev.langchain4j.model.embedding.onnx.bgesmallenv15.BgeSmallEnV15EmbeddingModel;
import dev.langchain4j.model.embedding.onnx.bgesmallenv15q.BgeSmallEnV15QuantizedEmbeddingModel;
import java.io.IOException;
import java.io.InputStream;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Embedding throughput of one model in this JVM (so that its load time and resident memory are its
 * own), run by bench/embed-speed.sh. Prints one tab-separated line per configuration:
 *
 * <pre>
 * RESULT model config batch passages passages/s seconds load1 load5 passages/cpu-s others steal
 * </pre>
 *
 * <p>{@code passages/cpu-s} divides by the CPU time this process used, which other work on the
 * machine hardly changes; {@code others} is the cores that other processes kept busy during the run
 * (machine busy time from /proc/stat less ours, per wall second), {@code steal} the cores the
 * hypervisor took.
 *
 * <p>Configurations: {@code pPiI} = P passages side by side, each inference on I onnxruntime
 * threads ({@link OnnxEmbedder.Tuning}), {@code pPiIs} the same with onnxruntime's idle pool
 * threads spinning, a suffix {@code wN} truncates inputs at N tokens instead of the model's window;
 * {@code stock} = the artifact's own LangChain4j model class with its defaults (a pool of one
 * thread per core, onnxruntime's default threads, and the artifact's tokenizer truncation, which is
 * 128 tokens for MiniLM).
 *
 * <p>Arguments: {@code --docs DIR} (*.rst/*.txt, searched recursively), {@code --model NAME},
 * {@code --configs p2i1:32,p2i1:8,stock:32}, {@code --passages N} (default 256), {@code --words W}
 * (default 200), {@code --rounds R} (timed passes over the passages, default 1).
 */
public final class EmbedSpeed {
  private static final Pattern ADORNMENT = Pattern.compile("^\\s*([=\\-~^\"'`#*+:.])\\1{2,}\\s*$");

  private static final double TICKS_PER_SECOND = 100; // USER_HZ on Linux
  private static final com.sun.management.OperatingSystemMXBean OS =
      (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();

  private EmbedSpeed() {}

  public static void main(String[] args) throws Exception {
    Map<String, String> opts = parse(args);
    String model = opts.getOrDefault("model", OnnxEmbedder.DEFAULT);
    int count = Integer.parseInt(opts.getOrDefault("passages", "256"));
    int words = Integer.parseInt(opts.getOrDefault("words", "200"));
    int rounds = Integer.parseInt(opts.getOrDefault("rounds", "1"));
    List<String> configs = Arrays.asList(opts.getOrDefault("configs", "p2i1:32").split(","));
    List<String> passages = passages(Path.of(opts.getOrDefault("docs", ".")), words, count);
    if (passages.size() < count) {
      throw new IllegalStateException(
          "only " + passages.size() + " passages in " + opts.get("docs"));
    }
    printTokenStats(model, passages);

    long rssStart = status("VmRSS:");
    long threadsStart = status("Threads:");
    String loaded = null;
    Runner runner = null;
    for (String config : configs) {
      String[] cb = config.split(":");
      String threads = cb[0];
      int batch = Integer.parseInt(cb[1]);
      if (!threads.equals(loaded)) {
        if (runner != null) {
          runner.close();
        }
        long t0 = System.nanoTime();
        runner = open(model, threads);
        long loadMs = (System.nanoTime() - t0) / 1_000_000;
        runner.embed(passages.subList(0, 1)); // first inference allocates onnxruntime's arenas
        long firstMs = (System.nanoTime() - t0) / 1_000_000 - loadMs;
        System.gc();
        System.out.printf(
            Locale.ROOT,
            "LOAD\t%s\t%s\tload_ms=%d\tfirst_inference_ms=%d\trss_before_mib=%d\trss_after_mib=%d"
                + "\theap_used_mib=%d\tos_threads_before=%d\tos_threads=%d%n",
            model,
            threads,
            loadMs,
            firstMs,
            rssStart / 1024,
            status("VmRSS:") / 1024,
            (Runtime.getRuntime().totalMemory() - Runtime.getRuntime().freeMemory()) >> 20,
            threadsStart,
            status("Threads:"));
        // Warm-up: JIT, onnxruntime's memory patterns for the usual input lengths.
        runBatches(runner, passages.subList(0, Math.min(64, passages.size())), batch);
        loaded = threads;
      }
      double[] load = loadAverage();
      long[] machine0 = machineTicks();
      long cpu0 = OS.getProcessCpuTime();
      long t0 = System.nanoTime();
      for (int r = 0; r < rounds; r++) {
        runBatches(runner, passages, batch);
      }
      double secs = (System.nanoTime() - t0) / 1e9;
      double cpu = (OS.getProcessCpuTime() - cpu0) / 1e9;
      long[] machine1 = machineTicks();
      double busy = (machine1[0] - machine0[0]) / TICKS_PER_SECOND;
      double steal = (machine1[1] - machine0[1]) / TICKS_PER_SECOND;
      int n = passages.size() * rounds;
      double[] loadAfter = loadAverage();
      System.out.printf(
          Locale.ROOT,
          "RESULT\t%s\t%s\t%d\t%d\t%.1f\t%.2f\t%.2f\t%.2f\t%.1f\t%.2f\t%.2f%n",
          model,
          threads,
          batch,
          n,
          n / secs,
          secs,
          Math.max(load[0], loadAfter[0]),
          loadAfter[1],
          n / cpu,
          Math.max(0, busy - cpu) / secs,
          steal / secs);
    }
    if (runner != null) {
      System.out.printf(
          Locale.ROOT,
          "END\t%s\trss_mib=%d\tos_threads=%d%n",
          model,
          status("VmRSS:") / 1024,
          status("Threads:"));
      runner.close();
    }
    System.exit(0); // LangChain4j's stock executors are not daemon threads
  }

  private static void runBatches(Runner runner, List<String> passages, int batch)
      throws IOException {
    for (int i = 0; i < passages.size(); i += batch) {
      List<float[]> out = runner.embed(passages.subList(i, Math.min(passages.size(), i + batch)));
      if (out.isEmpty() || out.get(0).length != 384) {
        throw new IllegalStateException("bad output");
      }
    }
  }

  private interface Runner extends AutoCloseable {
    List<float[]> embed(List<String> passages) throws IOException;

    @Override
    void close();
  }

  private static Runner open(String model, String threads) throws IOException {
    if (threads.equals("stock")) {
      EmbeddingModel stock =
          switch (model) {
            case "all-minilm-l6-v2" -> new AllMiniLmL6V2EmbeddingModel();
            case "all-minilm-l6-v2-q" -> new AllMiniLmL6V2QuantizedEmbeddingModel();
            case "bge-small-en-v1.5" -> new BgeSmallEnV15EmbeddingModel();
            case "bge-small-en-v1.5-q" -> new BgeSmallEnV15QuantizedEmbeddingModel();
            default -> throw new IllegalArgumentException(model);
          };
      return new Runner() {
        @Override
        public List<float[]> embed(List<String> passages) {
          List<TextSegment> segments = passages.stream().map(TextSegment::from).toList();
          return stock.embedAll(segments).content().stream().map(e -> e.vector()).toList();
        }

        @Override
        public void close() {}
      };
    }
    var m = Pattern.compile("p(\\d+)i(\\d+)(s?)(?:w(\\d+))?").matcher(threads);
    if (!m.matches()) {
      throw new IllegalArgumentException("config " + threads);
    }
    OnnxEmbedder embedder =
        OnnxEmbedder.load(
            model,
            new OnnxEmbedder.Tuning(
                Integer.parseInt(m.group(1)),
                Integer.parseInt(m.group(2)),
                !m.group(3).isEmpty(),
                m.group(4) == null ? 0 : Integer.parseInt(m.group(4))));
    return new Runner() {
      @Override
      public List<float[]> embed(List<String> passages) throws IOException {
        return embedder.embedPassages(passages);
      }

      @Override
      public void close() {
        embedder.close();
      }
    };
  }

  /** Word-piece counts of the passages under the model's own tokenizer, untruncated. */
  private static void printTokenStats(String model, List<String> passages) throws IOException {
    String file = model + "-tokenizer.json"; // the artifacts name their files after the model
    try (InputStream in = EmbedSpeed.class.getClassLoader().getResourceAsStream(file);
        HuggingFaceTokenizer tok =
            HuggingFaceTokenizer.newInstance(
                in, Map.of("padding", "false", "truncation", "false"))) {
      int[] counts =
          passages.stream().mapToInt(p -> tok.encode(p).getIds().length).sorted().toArray();
      int max = model.startsWith("bge") ? 512 : 256;
      long over = Arrays.stream(counts).filter(c -> c > max).count();
      System.out.printf(
          Locale.ROOT,
          "TOKENS\t%s\tmedian=%d\tp10=%d\tp90=%d\tmax=%d\tover_window(%d)=%d/%d%n",
          model,
          counts[counts.length / 2],
          counts[counts.length / 10],
          counts[counts.length * 9 / 10],
          counts[counts.length - 1],
          max,
          over,
          counts.length);
    }
  }

  /**
   * Passages of {@code words} words of prose: files in name order, RST adornment lines and
   * directives dropped, each file cut into consecutive passages (at most 4 per file, so that the
   * set spans many documents), its short tail dropped.
   */
  static List<String> passages(Path docs, int words, int limit) throws IOException {
    List<Path> files;
    try (Stream<Path> s = Files.walk(docs)) {
      files =
          s.filter(p -> p.toString().endsWith(".rst") || p.toString().endsWith(".txt"))
              .sorted()
              .toList();
    }
    List<String> out = new ArrayList<>();
    for (Path f : files) {
      StringBuilder text = new StringBuilder();
      for (String line : Files.readAllLines(f, StandardCharsets.UTF_8)) {
        String t = line.strip();
        if (ADORNMENT.matcher(t).matches() || t.startsWith("..") || t.startsWith(":")) {
          continue;
        }
        text.append(t).append(' ');
      }
      String[] w = text.toString().trim().split("\\s+");
      for (int i = 0; i + words <= w.length && i < 4 * words && out.size() < limit; i += words) {
        out.add(String.join(" ", Arrays.copyOfRange(w, i, i + words)));
      }
      if (out.size() >= limit) {
        break;
      }
    }
    return out;
  }

  /** A number from /proc/self/status: VmRSS in KiB, Threads (all, not only Java's), ... */
  private static long status(String field) throws IOException {
    for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
      if (line.startsWith(field)) {
        return Long.parseLong(line.replaceAll("\\D", ""));
      }
    }
    return -1;
  }

  /** Busy (user, nice, system, irq, softirq) and steal ticks of all CPUs, from /proc/stat. */
  private static long[] machineTicks() throws IOException {
    String[] f = Files.readAllLines(Path.of("/proc/stat")).get(0).trim().split("\\s+");
    long busy =
        Long.parseLong(f[1])
            + Long.parseLong(f[2])
            + Long.parseLong(f[3])
            + Long.parseLong(f[6])
            + Long.parseLong(f[7]);
    return new long[] {busy, Long.parseLong(f[8])};
  }

  private static double[] loadAverage() throws IOException {
    String[] f = Files.readString(Path.of("/proc/loadavg")).split(" ");
    return new double[] {Double.parseDouble(f[0]), Double.parseDouble(f[1])};
  }

  private static Map<String, String> parse(String[] args) {
    Map<String, String> m = new java.util.HashMap<>();
    for (int i = 0; i + 1 < args.length; i += 2) {
      if (!args[i].startsWith("--")) {
        throw new IllegalArgumentException("expected --option value, got " + args[i]);
      }
      m.put(args[i].substring(2), args[i + 1]);
    }
    return m;
  }
}
