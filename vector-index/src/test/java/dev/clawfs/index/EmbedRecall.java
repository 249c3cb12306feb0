package dev.clawfs.index;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * A rough retrieval check on the speed benchmark's passages: for each passage, a query of 12
 * consecutive words taken from its first half (words 20..31) and one from its second half (words
 * 140..151); the passage should be the nearest of all. Reports recall@1 and @5 per model, so that
 * models and token windows can be compared on the same text. Not a substitute for a real retrieval
 * benchmark: the queries are verbatim spans, which favours lexical overlap.
 *
 * <p>Arguments: {@code --docs DIR --passages N --models a,b --windows 0,128} (0 = the model's own).
 */
public final class EmbedRecall {
  private EmbedRecall() {}

  public static void main(String[] args) throws Exception {
    java.util.Map<String, String> o = new java.util.HashMap<>();
    for (int i = 0; i + 1 < args.length; i += 2) {
      o.put(args[i].substring(2), args[i + 1]);
    }
    List<String> passages =
        EmbedSpeed.passages(
            Path.of(o.getOrDefault("docs", ".")),
            200,
            Integer.parseInt(o.getOrDefault("passages", "256")));
    for (String model : o.getOrDefault("models", OnnxEmbedder.DEFAULT).split(",")) {
      for (String w : o.getOrDefault("windows", "0").split(",")) {
        try (OnnxEmbedder e =
            OnnxEmbedder.load(model, new OnnxEmbedder.Tuning(2, 1, false, Integer.parseInt(w)))) {
          List<float[]> p = e.embedPassages(passages);
          for (int from : new int[] {20, 140}) {
            int hit1 = 0;
            int hit5 = 0;
            for (int i = 0; i < passages.size(); i++) {
              String[] words = passages.get(i).split(" ");
              String query = String.join(" ", Arrays.copyOfRange(words, from, from + 12));
              float[] q = e.embedQuery(query);
              double own = Vectors.dot(q, p.get(i));
              int better = 0;
              for (int j = 0; j < p.size(); j++) {
                if (j != i && Vectors.dot(q, p.get(j)) >= own) {
                  better++;
                }
              }
              hit1 += better == 0 ? 1 : 0;
              hit5 += better < 5 ? 1 : 0;
            }
            System.out.printf(
                Locale.ROOT,
                "RECALL\t%s\twindow=%d\tquery_words=%d..%d\tr@1=%.3f\tr@5=%.3f%n",
                model,
                e.maxTokens(),
                from,
                from + 11,
                hit1 / (double) passages.size(),
                hit5 / (double) passages.size());
          }
        }
      }
    }
    System.exit(0);
  }
}
