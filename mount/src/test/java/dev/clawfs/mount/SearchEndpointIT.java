package dev.clawfs.mount;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpServer;
import dev.clawfs.mount.MountedVault.Result;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The other embedding option: an OpenAI-compatible /embeddings endpoint (here a server on
 * loopback, in the test, that embeds text as hashed word counts). The mount is started with
 * --embeddings-url, --embedding-model and --embeddings-key-file; semantic search then runs on the
 * endpoint's vectors, the key goes in the Authorization header and nowhere else.
 */
class SearchEndpointIT {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String KEY = "sk-test-keymaterialzebra";
  private static final int DIM = 64;

  @TempDir Path base;

  /** A bag-of-words embedding: each word adds 1 at hash(word) mod 64. */
  static float[] embed(String text) {
    float[] v = new float[DIM];
    for (String w : text.toLowerCase(Locale.ROOT).split("[^a-z0-9]+")) {
      if (!w.isEmpty()) {
        v[Math.floorMod(w.hashCode(), DIM)] += 1;
      }
    }
    v[0] += 0.01f; // never the zero vector
    return v;
  }

  @Test
  void semanticSearchRunsOnTheEndpointsVectors() throws Exception {
    AtomicInteger requests = new AtomicInteger();
    List<String> badAuth = new ArrayList<>();
    HttpServer server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    server.createContext("/v1/embeddings", ex -> {
      requests.incrementAndGet();
      String auth = ex.getRequestHeaders().getFirst("Authorization");
      if (!("Bearer " + KEY).equals(auth)) {
        badAuth.add(String.valueOf(auth));
      }
      JsonNode req = JSON.readTree(ex.getRequestBody());
      ObjectNode resp = JSON.createObjectNode();
      ArrayNode data = resp.putArray("data");
      int i = 0;
      for (JsonNode in : req.get("input")) {
        ObjectNode d = data.addObject();
        d.put("index", i++);
        ArrayNode e = d.putArray("embedding");
        for (float f : embed(in.asText())) {
          e.add(f);
        }
      }
      resp.put("model", req.get("model").asText());
      byte[] out = JSON.writeValueAsBytes(resp);
      ex.getResponseHeaders().add("Content-Type", "application/json");
      ex.sendResponseHeaders(200, out.length);
      ex.getResponseBody().write(out);
      ex.close();
    });
    server.start();
    Path keyFile = base.resolve("key");
    Files.writeString(keyFile, KEY + "\n");
    MountedVault v = MountedVault.existing(base, base.resolve("vault"), base.resolve("mnt"));
    try {
      Result init = MountedVault.clawfs("init", v.vault().toString(), "--passphrase-file", v.passphraseFile().toString(),
          MountedVault.TEST_KDF[0], MountedVault.TEST_KDF[1], MountedVault.TEST_KDF[2], MountedVault.TEST_KDF[3]);
      assertEquals(0, init.exitCode(), init.toString());
      Files.createDirectories(v.mountpoint());
      String url = "http://127.0.0.1:" + server.getAddress().getPort() + "/v1";
      Result m = MountedVault.clawfs("mount", v.vault().toString(), v.mountpoint().toString(), "--passphrase-file",
          v.passphraseFile().toString(), "--embeddings-url", url, "--embedding-model", "bag-of-words", "--embeddings-key-file",
          keyFile.toString());
      assertEquals(0, m.exitCode(), m.toString());
      Files.writeString(v.path("specs/birds.txt"), "penguins cannot fly but they swim very well\n");
      Files.writeString(v.path("specs/cars.txt"), "the engine of the car needs oil every winter\n");
      long end = System.currentTimeMillis() + 60_000;
      String status = "";
      while (System.currentTimeMillis() < end) {
        status = Files.readString(v.path("system/index/status"));
        if (status.startsWith("state: idle") && status.contains("vectors: 2")) {
          break;
        }
        Thread.sleep(100);
      }
      assertTrue(status.contains("model: bag-of-words (64 dimensions)"), status);
      assertTrue(status.contains("vectors: 2"), status);
      List<String> hits;
      try (Stream<Path> s = Files.list(v.path("search").resolve("semantic:penguins swim"))) {
        hits = s.map(p -> p.getFileName().toString()).filter(n -> !n.startsWith(".")).sorted().toList();
      }
      assertEquals("1-birds.txt", hits.get(0), hits.toString());
      assertTrue(requests.get() >= 3, "passages and the query went to the endpoint: " + requests.get());
      assertEquals(List.of(), badAuth, "requests without the key from the key file");
      assertFalse(status.contains(KEY));
      Path log = Mounts.logFile(v.mountpoint());
      if (Files.exists(log)) {
        assertFalse(Files.readString(log, StandardCharsets.ISO_8859_1).contains(KEY), "the key is in the server log");
      }
    } finally {
      if (Mounts.isClawfsMount(v.mountpoint())) {
        Result u = MountedVault.clawfs("umount", v.mountpoint().toString());
        assertEquals(0, u.exitCode(), u.toString());
      }
      server.stop(0);
    }
  }
}
