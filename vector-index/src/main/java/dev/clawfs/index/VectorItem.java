package dev.clawfs.index;

import com.github.jelmerk.hnswlib.core.Item;
import com.github.jelmerk.hnswlib.core.ObjectSerializer;
import java.io.IOException;
import java.io.ObjectInput;
import java.io.ObjectOutput;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * One vector in the HNSW graph, keyed by passage id. Immutable by convention: the array is a
 * private copy that nothing writes after construction.
 */
final class VectorItem implements Item<Long, float[]> {
  private static final long serialVersionUID = 1L;

  private final Long id;
  private final float[] vector;

  VectorItem(long id, float[] vector) {
    this.id = id;
    this.vector = vector;
  }

  @Override
  public Long id() {
    return id;
  }

  @Override
  public float[] vector() {
    return vector;
  }

  @Override
  public int dimensions() {
    return vector.length;
  }

  /** Little-endian IEEE 754 floats, the plaintext of a vec row. */
  static byte[] encode(float[] v) {
    ByteBuffer b = ByteBuffer.allocate(v.length * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
    b.asFloatBuffer().put(v);
    return b.array();
  }

  static float[] decode(byte[] bytes) {
    float[] v = new float[bytes.length / Float.BYTES];
    ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(v);
    return v;
  }

  /**
   * Writes items into hnswlib's snapshot as an id and raw floats, instead of Java-serializing
   * each item object: a third of the size, faster, and no per-item class to deserialize.
   */
  static final class Codec implements ObjectSerializer<VectorItem> {
    private static final long serialVersionUID = 1L;
    private final int dimension;

    Codec(int dimension) {
      this.dimension = dimension;
    }

    @Override
    public void write(VectorItem item, ObjectOutput out) throws IOException {
      out.writeLong(item.id);
      out.writeInt(item.vector.length);
      byte[] bytes = encode(item.vector);
      out.write(bytes);
      Arrays.fill(bytes, (byte) 0);
    }

    @Override
    public VectorItem read(ObjectInput in) throws IOException {
      long id = in.readLong();
      int n = in.readInt();
      if (n != dimension) {
        throw new IOException("snapshot item has " + n + " dimensions, expected " + dimension);
      }
      byte[] bytes = new byte[n * Float.BYTES];
      in.readFully(bytes);
      float[] v = decode(bytes);
      Arrays.fill(bytes, (byte) 0);
      return new VectorItem(id, v);
    }
  }

  /** Passage ids as plain longs in the snapshot. */
  static final class IdCodec implements ObjectSerializer<Long> {
    private static final long serialVersionUID = 1L;

    @Override
    public void write(Long id, ObjectOutput out) throws IOException {
      out.writeLong(id);
    }

    @Override
    public Long read(ObjectInput in) throws IOException {
      return in.readLong();
    }
  }
}
