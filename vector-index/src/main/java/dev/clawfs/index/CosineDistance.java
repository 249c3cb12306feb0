package dev.clawfs.index;

import com.github.jelmerk.hnswlib.core.DistanceFunction;

/**
 * Cosine distance of unit vectors, {@code 1 - a.b}. The dot product runs four independent sums so
 * the CPU can overlap the multiply-adds (a single running sum is one long dependency chain, and
 * the JIT may not reorder float additions); graph construction spends most of its time here.
 * Serializable because hnswlib stores its distance function in the snapshot.
 */
final class CosineDistance implements DistanceFunction<float[], Float> {
  private static final long serialVersionUID = 1L;

  static final CosineDistance INSTANCE = new CosineDistance();

  @Override
  public Float distance(float[] a, float[] b) {
    return 1f - dot(a, b);
  }

  /** The dot product; equals the cosine similarity when both vectors have unit length. */
  static float dot(float[] a, float[] b) {
    int n = a.length;
    float s0 = 0f;
    float s1 = 0f;
    float s2 = 0f;
    float s3 = 0f;
    int i = 0;
    for (; i + 3 < n; i += 4) {
      s0 += a[i] * b[i];
      s1 += a[i + 1] * b[i + 1];
      s2 += a[i + 2] * b[i + 2];
      s3 += a[i + 3] * b[i + 3];
    }
    for (; i < n; i++) {
      s0 += a[i] * b[i];
    }
    return (s0 + s1) + (s2 + s3);
  }
}
