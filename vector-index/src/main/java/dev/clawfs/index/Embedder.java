package dev.clawfs.index;

import java.io.IOException;
import java.util.List;

/**
 * Turns passages (and queries) into unit-length vectors. Implementations: in-process ONNX models
 * shipped in Maven artifacts ({@link OnnxEmbedder}) and an OpenAI-compatible embeddings endpoint
 * ({@link HttpEmbedder}). Thread-safe.
 */
public interface Embedder extends AutoCloseable {
  /** Setting value that selects this model, e.g. "all-minilm-l6-v2-q". */
  String name();

  int dimension();

  /** One L2-normalised vector per passage, in order. */
  List<float[]> embedPassages(List<String> passages) throws IOException;

  /** The vector of a search query (models such as bge prefix queries with an instruction). */
  float[] embedQuery(String query) throws IOException;

  @Override
  default void close() {}
}
