package dev.clawfs.index;

import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.langchain4j.data.embedding.Embedding;
import dev.langchain4j.data.segment.TextSegment;
import dev.langchain4j.model.embedding.onnx.AbstractInProcessEmbeddingModel;
import dev.langchain4j.model.embedding.onnx.OnnxBertBiEncoder;
import dev.langchain4j.model.embedding.onnx.PoolingMode;
import dev.langchain4j.model.embedding.onnx.allminilml6v2.AllMiniLmL6V2EmbeddingModel;
import dev.langchain4j.model.embedding.onnx.allminilml6v2q.AllMiniLmL6V2QuantizedEmbeddingModel;
import dev.langchain4j.model.embedding.onnx.bgesmallenv15.BgeSmallEnV15EmbeddingModel;
import dev.langchain4j.model.embedding.onnx.bgesmallenv15q.BgeSmallEnV15QuantizedEmbeddingModel;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Sentence-embedding models that run in-process on onnxruntime, from the ONNX files and tokenizers
 * that the LangChain4j embedding artifacts ship: nothing is downloaded.
 *
 * <p>The model's ONNX file is read from the artifact and given its own {@link OrtSession} (rather
 * than using the artifact's model class, whose static instance fixes onnxruntime's defaults), and
 * LangChain4j's {@link OnnxBertBiEncoder} does tokenisation and pooling. LangChain4j runs each
 * passage as its own inference; {@code threads} passages run side by side, each on one onnxruntime
 * thread, which measured fastest on two cores (see bench/embed-speed.sh).
 *
 * <p>Long inputs are truncated by the tokenizer to {@link #maxTokens()} word pieces, [CLS] and
 * [SEP] included, so text past that point does not change the vector. (LangChain4j's own
 * split-into-510-token-parts-and-average path is never reached, because the tokenizer has already
 * truncated.) MiniLM's tokenizer file in the artifact truncates at 128, which cuts a 200-word
 * passage to its first ~95 words; it is raised here to 256, the limit that sentence-transformers
 * sets for all-MiniLM-L6-v2 (fine-tuned on 128, position embeddings up to 512). bge-small keeps its
 * 512. Both cost time in proportion to the tokens kept: MiniLM at 256 is about half as fast as at
 * 128.
 *
 * <p>Speed on the 2-core build machine (AVX-512 VNNI), 200-word passages of kernel documentation:
 * all-minilm-l6-v2-q embeds about 29 per CPU-second (58/s on two idle cores), all-minilm-l6-v2 14,
 * bge-small-en-v1.5-q 9.5, bge-small-en-v1.5 5. The quantised models rank as well as their fp32
 * originals in bench/embed-speed.sh --recall.
 */
public final class OnnxEmbedder implements Embedder {

  /** The model a vault uses unless its settings name another. */
  public static final String DEFAULT = "all-minilm-l6-v2-q";

  private static final String BGE_QUERY_INSTRUCTION =
      "Represent this sentence for searching relevant passages: ";

  private record Model(
      String name,
      Class<?> artifact,
      String onnxFile,
      String tokenizerFile,
      PoolingMode pooling,
      int maxTokens,
      String queryPrefix) {}

  // Class literals only name the artifacts' classes (no static initialiser runs, so their
  // default-configured model is never loaded); their class loader finds the files.
  private static final List<Model> MODELS =
      List.of(
          new Model(
              "all-minilm-l6-v2",
              AllMiniLmL6V2EmbeddingModel.class,
              "all-minilm-l6-v2.onnx",
              "all-minilm-l6-v2-tokenizer.json",
              PoolingMode.MEAN,
              256,
              ""),
          new Model(
              "all-minilm-l6-v2-q",
              AllMiniLmL6V2QuantizedEmbeddingModel.class,
              "all-minilm-l6-v2-q.onnx",
              "all-minilm-l6-v2-q-tokenizer.json",
              PoolingMode.MEAN,
              256,
              ""),
          new Model(
              "bge-small-en-v1.5",
              BgeSmallEnV15EmbeddingModel.class,
              "bge-small-en-v1.5.onnx",
              "bge-small-en-v1.5-tokenizer.json",
              PoolingMode.CLS,
              512,
              BGE_QUERY_INSTRUCTION),
          new Model(
              "bge-small-en-v1.5-q",
              BgeSmallEnV15QuantizedEmbeddingModel.class,
              "bge-small-en-v1.5-q.onnx",
              "bge-small-en-v1.5-q-tokenizer.json",
              PoolingMode.CLS,
              512,
              BGE_QUERY_INSTRUCTION));

  private static final int DIMENSION = 384;

  private final Model model;
  private final OrtSession session;
  private final ExecutorService pool; // null when passages run in the caller's thread
  private final SessionModel encoder;
  private volatile boolean closed;

  private OnnxEmbedder(
      Model model, OrtSession session, ExecutorService pool, SessionModel encoder) {
    this.model = model;
    this.session = session;
    this.pool = pool;
    this.encoder = encoder;
  }

  /** The names {@link #load} accepts. */
  public static List<String> names() {
    return MODELS.stream().map(Model::name).toList();
  }

  /**
   * Loads a model: {@code threads} passages are embedded at a time, each on one onnxruntime thread,
   * so the embedder uses at most {@code threads} cores. Takes 0.3 to 2 s and, for the fp32 models,
   * a transient heap buffer of the model's size (90 or 133 MB).
   *
   * @throws IllegalArgumentException for an unknown name (the message lists the valid ones) or
   *     {@code threads < 1}
   * @throws IOException if the model files cannot be read or onnxruntime rejects them
   */
  public static OnnxEmbedder load(String name, int threads) throws IOException {
    return load(name, new Tuning(threads, 1, false, 0));
  }

  /**
   * How a model runs, set apart for the speed benchmark: {@code parallel} passages side by side,
   * each inference on {@code intraOpThreads} onnxruntime threads that {@code spin} while idle or
   * not, inputs truncated at {@code maxTokens} (0: the model's own window).
   */
  record Tuning(int parallel, int intraOpThreads, boolean spin, int maxTokens) {
    Tuning {
      if (parallel < 1 || intraOpThreads < 1 || maxTokens < 0) {
        throw new IllegalArgumentException(
            "thread counts must be >= 1 and maxTokens >= 0, got "
                + List.of(parallel, intraOpThreads, maxTokens));
      }
    }
  }

  static OnnxEmbedder load(String name, Tuning tuning) throws IOException {
    Model found =
        MODELS.stream()
            .filter(m -> m.name().equals(name))
            .findFirst()
            .orElseThrow(
                () ->
                    new IllegalArgumentException(
                        "unknown embedding model \""
                            + name
                            + "\"; valid: "
                            + String.join(", ", names())));
    Model model =
        tuning.maxTokens() == 0
            ? found
            : new Model(
                found.name(),
                found.artifact(),
                found.onnxFile(),
                found.tokenizerFile(),
                found.pooling(),
                tuning.maxTokens(),
                found.queryPrefix());
    int parallel = tuning.parallel();
    byte[] onnx = readResource(model, model.onnxFile());
    byte[] tokenizer =
        withTruncation(readResource(model, model.tokenizerFile()), model.maxTokens());

    OrtEnvironment env = OrtEnvironment.getEnvironment();
    OrtSession session;
    try (OrtSession.SessionOptions options = new OrtSession.SessionOptions()) {
      options.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
      options.setIntraOpNumThreads(tuning.intraOpThreads());
      options.setInterOpNumThreads(1);
      // Spinning pool threads burn a core while idle, which a shared machine notices.
      options.addConfigEntry("session.intra_op.allow_spinning", tuning.spin() ? "1" : "0");
      session = env.createSession(onnx, options);
    } catch (OrtException e) {
      throw new IOException(name + ": onnxruntime could not load the model: " + e.getMessage(), e);
    }
    try {
      OnnxBertBiEncoder bert =
          new OnnxBertBiEncoder(env, session, new ByteArrayInputStream(tokenizer), model.pooling());
      ExecutorService pool = parallel == 1 ? null : newPool(name, parallel);
      return new OnnxEmbedder(
          model, session, pool, new SessionModel(bert, pool == null ? Runnable::run : pool));
    } catch (RuntimeException e) {
      closeQuietly(session);
      throw new IOException(name + ": could not load the tokenizer: " + e.getMessage(), e);
    }
  }

  @Override
  public String name() {
    return model.name();
  }

  @Override
  public int dimension() {
    return DIMENSION;
  }

  /** Word pieces per input, [CLS] and [SEP] included; the rest of a longer input is ignored. */
  public int maxTokens() {
    return model.maxTokens();
  }

  /**
   * @throws IllegalArgumentException if a passage is null or blank (the models cannot embed it)
   */
  @Override
  public List<float[]> embedPassages(List<String> passages) throws IOException {
    checkOpen();
    if (passages.isEmpty()) {
      return List.of();
    }
    List<TextSegment> segments = new ArrayList<>(passages.size());
    for (int i = 0; i < passages.size(); i++) {
      segments.add(TextSegment.from(requireText(passages.get(i), "passage " + i)));
    }
    List<Embedding> embeddings = run(segments);
    List<float[]> vectors = new ArrayList<>(embeddings.size());
    for (Embedding e : embeddings) {
      vectors.add(Vectors.normalize(e.vector()));
    }
    return vectors;
  }

  /**
   * @throws IllegalArgumentException if the query is null or blank
   */
  @Override
  public float[] embedQuery(String query) throws IOException {
    checkOpen();
    String text = model.queryPrefix() + requireText(query, "query");
    return Vectors.normalize(run(List.of(TextSegment.from(text))).get(0).vector());
  }

  /** Stops the worker threads and frees onnxruntime's session; later calls fail. */
  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    if (pool != null) {
      pool.shutdown();
      try {
        pool.awaitTermination(30, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    closeQuietly(session);
  }

  @Override
  public String toString() {
    return "OnnxEmbedder[" + model.name() + "]";
  }

  private List<Embedding> run(List<TextSegment> segments) throws IOException {
    try {
      return encoder.embedAll(segments).content();
    } catch (RuntimeException e) {
      // LangChain4j wraps onnxruntime and executor failures in RuntimeException.
      for (Throwable c = e; c != null; c = c.getCause()) {
        if (c instanceof InterruptedException) {
          Thread.currentThread().interrupt();
          InterruptedIOException ie = new InterruptedIOException(model.name() + ": interrupted");
          ie.initCause(e);
          throw ie;
        }
      }
      if (closed) {
        throw new IllegalStateException(this + " is closed", e);
      }
      throw new IOException(model.name() + ": embedding failed: " + e, e);
    }
  }

  private void checkOpen() {
    if (closed) {
      throw new IllegalStateException(this + " is closed");
    }
  }

  private static String requireText(String text, String what) {
    if (text == null || text.isBlank()) {
      throw new IllegalArgumentException(what + " is blank");
    }
    return text;
  }

  private static byte[] readResource(Model model, String file) throws IOException {
    try (InputStream in = model.artifact().getClassLoader().getResourceAsStream(file)) {
      if (in == null) {
        throw new IOException(
            model.name()
                + ": "
                + file
                + " is not on the class path (is its LangChain4j artifact?)");
      }
      return in.readAllBytes();
    }
  }

  /** The tokenizer.json with its truncation set to {@code maxTokens} and padding off. */
  static byte[] withTruncation(byte[] tokenizerJson, int maxTokens) throws IOException {
    ObjectMapper json = new ObjectMapper();
    ObjectNode root = (ObjectNode) json.readTree(tokenizerJson);
    ObjectNode truncation = root.putObject("truncation");
    truncation.put("direction", "Right");
    truncation.put("max_length", maxTokens);
    truncation.put("strategy", "LongestFirst");
    truncation.put("stride", 0);
    root.putNull("padding");
    return json.writeValueAsBytes(root);
  }

  private static ExecutorService newPool(String name, int threads) {
    AtomicInteger n = new AtomicInteger();
    ThreadPoolExecutor pool =
        new ThreadPoolExecutor(
            threads,
            threads,
            30,
            TimeUnit.SECONDS,
            new LinkedBlockingQueue<>(),
            r -> {
              Thread t = new Thread(r, "embed-" + name + "-" + n.incrementAndGet());
              t.setDaemon(true);
              return t;
            });
    pool.allowCoreThreadTimeOut(true);
    return pool;
  }

  private static void closeQuietly(OrtSession session) {
    try {
      session.close();
    } catch (OrtException e) {
      // Nothing to do: the session is gone either way.
    }
  }

  /** LangChain4j's in-process model around a session we configured ourselves. */
  private static final class SessionModel extends AbstractInProcessEmbeddingModel {
    private final OnnxBertBiEncoder bert;

    SessionModel(OnnxBertBiEncoder bert, Executor executor) {
      super(executor);
      this.bert = bert;
    }

    @Override
    protected OnnxBertBiEncoder model() {
      return bert;
    }

    @Override
    protected Integer knownDimension() {
      return DIMENSION;
    }
  }
}
