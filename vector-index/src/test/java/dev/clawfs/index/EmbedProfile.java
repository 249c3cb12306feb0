package dev.clawfs.index;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.IntStream;
import java.util.stream.Stream;

/**
 * Where the embedding time goes (bench/embed-profile.sh): runs a model's ONNX file straight on
 * onnxruntime, one thread, with {@code batch} passages per inference (sorted by length and padded
 * with an attention mask, which LangChain4j does not do), and optionally writes onnxruntime's
 * profile and sums it per operator. Not part of the product: the numbers decide how OnnxEmbedder
 * runs.
 *
 * <p>Arguments: DOCS_DIR MODEL_ONNX_RESOURCE TOKENIZER_RESOURCE PASSAGES BATCH WINDOW [profile]
 */
public final class EmbedProfile {
  public static void main(String[] a) throws Exception {
    Path docs = Path.of(a[0]);
    String onnxResource = a[1];
    String tokenizerResource = a[2];
    int n = Integer.parseInt(a[3]);
    int batch = Integer.parseInt(a[4]);
    int window = Integer.parseInt(a[5]);
    boolean profile = a.length > 6 && a[6].equals("profile");
    ClassLoader cl = EmbedProfile.class.getClassLoader();
    byte[] onnx = cl.getResourceAsStream(onnxResource).readAllBytes();
    Path tokenizerFile = Files.createTempFile("tokenizer", ".json");
    Files.write(tokenizerFile, cl.getResourceAsStream(tokenizerResource).readAllBytes());
    HuggingFaceTokenizer tokenizer = HuggingFaceTokenizer.builder().optTokenizerPath(tokenizerFile)
        .optMaxLength(window).optTruncation(true).optPadding(false).build();
    Files.delete(tokenizerFile);

    List<String> words = new ArrayList<>();
    try (Stream<Path> s = Files.walk(docs)) {
      for (Path p : s.filter(Files::isRegularFile).sorted().limit(400).toList()) {
        words.addAll(Arrays.asList(Files.readString(p).split("\\s+")));
      }
    }
    List<String> passages = new ArrayList<>();
    for (int i = 0; i + 200 <= words.size() && passages.size() < n; i += 200) {
      passages.add(String.join(" ", words.subList(i, i + 200)));
    }

    OrtEnvironment env = OrtEnvironment.getEnvironment();
    OrtSession.SessionOptions o = new OrtSession.SessionOptions();
    o.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
    o.setIntraOpNumThreads(1);
    o.setInterOpNumThreads(1);
    o.addConfigEntry("session.intra_op.allow_spinning", "0");
    Path profileDir = Files.createTempDirectory("embed-profile");
    if (profile) {
      o.enableProfiling(profileDir.resolve("ort").toString());
    }
    OrtSession session = env.createSession(onnx, o);
    Encoding[] enc = passages.stream().map(tokenizer::encode).toArray(Encoding[]::new);
    int[] lengths = Arrays.stream(enc).mapToInt(e -> e.getIds().length).sorted().toArray();
    System.out.printf(Locale.ROOT, "onnxruntime %s, %s, %d passages of 200 words, word pieces median %d (p10 %d, max %d)%n",
        env.getVersion(), onnxResource, enc.length, lengths[lengths.length / 2], lengths[lengths.length / 10],
        lengths[lengths.length - 1]);
    Integer[] order = IntStream.range(0, enc.length).boxed()
        .sorted(Comparator.comparingInt(i -> enc[i].getIds().length)).toArray(Integer[]::new);
    ThreadMXBean mx = ManagementFactory.getThreadMXBean();
    for (int rep = 0; rep < 2; rep++) {
      long c0 = mx.getCurrentThreadCpuTime();
      long w0 = System.nanoTime();
      for (int s = 0; s < enc.length; s += batch) {
        int b = Math.min(batch, enc.length - s);
        int len = 0;
        for (int j = 0; j < b; j++) {
          len = Math.max(len, enc[order[s + j]].getIds().length);
        }
        long[][] ids = new long[b][len];
        long[][] mask = new long[b][len];
        long[][] types = new long[b][len];
        for (int j = 0; j < b; j++) {
          long[] x = enc[order[s + j]].getIds();
          System.arraycopy(x, 0, ids[j], 0, x.length);
          Arrays.fill(mask[j], 0, x.length, 1L);
        }
        Map<String, OnnxTensor> in = new HashMap<>();
        in.put("input_ids", OnnxTensor.createTensor(env, ids));
        in.put("attention_mask", OnnxTensor.createTensor(env, mask));
        if (session.getInputNames().contains("token_type_ids")) {
          in.put("token_type_ids", OnnxTensor.createTensor(env, types));
        }
        try (OrtSession.Result r = session.run(in)) {
          r.get(0).getValue();
        }
        in.values().forEach(OnnxTensor::close);
      }
      double cpu = (mx.getCurrentThreadCpuTime() - c0) / 1e9;
      double wall = (System.nanoTime() - w0) / 1e9;
      System.out.printf(Locale.ROOT, "%s batch %d window %d: %.1f passages per CPU-second (%.1f/s wall, one thread)%n",
          rep == 0 ? "warm-up" : "measured", batch, window, enc.length / cpu, enc.length / wall);
    }
    if (profile) {
      String file = session.endProfiling();
      Map<String, long[]> byOp = new HashMap<>();
      var root = new com.fasterxml.jackson.databind.ObjectMapper().readTree(Path.of(file).toFile());
      for (var e : root) {
        if ("Node".equals(e.path("cat").asText()) && e.path("name").asText().endsWith("_kernel_time")) {
          long[] t = byOp.computeIfAbsent(e.path("args").path("op_name").asText(), k -> new long[2]);
          t[0] += e.path("dur").asLong();
          t[1]++;
        }
      }
      long total = byOp.values().stream().mapToLong(t -> t[0]).sum();
      System.out.println("operator time over both rounds (onnxruntime profile):");
      byOp.entrySet().stream().sorted((x, y) -> Long.compare(y.getValue()[0], x.getValue()[0])).limit(12)
          .forEach(e -> System.out.printf(Locale.ROOT, "  %-24s %5.1f%%  %8.1f ms  %6d calls%n", e.getKey(),
              100.0 * e.getValue()[0] / total, e.getValue()[0] / 1000.0, e.getValue()[1]));
      Files.delete(Path.of(file));
    }
    Files.deleteIfExists(profileDir);
    session.close();
  }
}
