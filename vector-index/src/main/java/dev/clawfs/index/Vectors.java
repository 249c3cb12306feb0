package dev.clawfs.index;

/** Small float-vector helpers shared by the embedders. */
final class Vectors {
  private Vectors() {}

  /**
   * Scales {@code v} in place to unit L2 length and returns it. A zero, NaN or infinite vector
   * cannot be normalised and is rejected: it would rank as either nothing or everything.
   */
  static float[] normalize(float[] v) {
    double sum = 0;
    for (float x : v) {
      sum += (double) x * x;
    }
    double norm = Math.sqrt(sum);
    if (!(norm > 0) || Double.isInfinite(norm)) {
      throw new IllegalArgumentException("vector of length " + v.length + " has norm " + norm);
    }
    for (int i = 0; i < v.length; i++) {
      v[i] = (float) (v[i] / norm);
    }
    return v;
  }

  static double dot(float[] a, float[] b) {
    if (a.length != b.length) {
      throw new IllegalArgumentException("dimensions differ: " + a.length + " vs " + b.length);
    }
    double sum = 0;
    for (int i = 0; i < a.length; i++) {
      sum += (double) a[i] * b[i];
    }
    return sum;
  }

  static double norm(float[] v) {
    return Math.sqrt(dot(v, v));
  }
}
