package dev.clawfs.mount;

import dev.clawfs.index.Embedder;
import dev.clawfs.index.HttpEmbedder;
import dev.clawfs.index.OnnxEmbedder;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;

/** The embedder the mount's options choose: an in-process model, or an OpenAI-compatible endpoint. */
final class Embedders {
  private Embedders() {}

  static Embedder create(ClawfsCli.SearchOptions o) throws IOException {
    String model = o.model != null ? o.model : System.getenv("CLAWFS_EMBEDDING_MODEL");
    if (o.url != null) {
      if (model == null || model.isBlank()) {
        throw new ClawfsCli.CliException(ClawfsCli.USAGE, "--embeddings-url needs --embedding-model (the endpoint's model name)");
      }
      String key = null;
      if (o.keyFile != null) {
        key = Files.readString(o.keyFile, StandardCharsets.UTF_8).strip();
      }
      HttpEmbedder e = HttpEmbedder.builder(o.url, model).withApiKey(key).build();
      try {
        e.embedQuery("dimension probe"); // the index needs the vector length before anything is embedded
      } catch (IOException ex) {
        throw new IOException("the embeddings endpoint did not answer: " + ex.getMessage(), ex);
      }
      return e;
    }
    String name = model == null || model.isBlank() ? OnnxEmbedder.DEFAULT : model.strip();
    if (!OnnxEmbedder.names().contains(name)) {
      throw new ClawfsCli.CliException(ClawfsCli.USAGE, "unknown embedding model " + name + "; known: " + OnnxEmbedder.names());
    }
    return OnnxEmbedder.load(name, Math.max(1, Runtime.getRuntime().availableProcessors()));
  }
}
