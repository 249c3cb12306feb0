package dev.clawfs.index;

import com.github.jelmerk.hnswlib.core.hnsw.HnswIndex;
import java.lang.reflect.Field;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.concurrent.atomic.AtomicReferenceArray;
import org.eclipse.collections.api.list.primitive.MutableIntList;

/**
 * Finds the live vectors of an hnswlib graph that a search is likely to miss.
 *
 * <p>A search enters the graph at its entry point and only ever follows links. A vector far from
 * everything else (a new file on a topic the index has not seen) links out to its nearest
 * neighbours when it is inserted, but those neighbours' link lists are already full of closer
 * nodes, and the pruning heuristic drops the link back; later insertions can drop it too. Such a
 * vector, and a small cluster of them that mostly link to each other, is then rarely or never
 * returned, however close the query: few or no links lead to it, so the greedy search does not
 * pass by. This returns the live items no walk from the entry point reaches and those with few
 * links in, so that {@link VectorIndex} can score them exactly beside the graph search.
 *
 * <p>Measured (VectorIndexTest and a 25,000-vector 384-dimension experiment): the vectors of a
 * second topic had 2 to 6 links in where most nodes have 10 to 20, and with the nodes under
 * 8 links scored exactly, no query near them missed any of them.
 *
 * <p>hnswlib-java does not expose its links, so this reads its private fields (version 1.2.0, the
 * version the build pins); if they change, the class fails to initialise with a message that says
 * so, and the index tests fail, rather than silently finding nothing.
 *
 * <p>The caller must keep the graph from changing during the walk.
 */
final class GraphReach {
  private static final Field NODES;
  private static final Field NODE_COUNT;
  private static final Field ENTRY_POINT;
  private static final Field CONNECTIONS;
  private static final Field ITEM;
  private static final Field DELETED;
  private static final Field NODE_ID;

  static {
    try {
      NODES = field(HnswIndex.class, "nodes");
      NODE_COUNT = field(HnswIndex.class, "nodeCount");
      ENTRY_POINT = field(HnswIndex.class, "entryPoint");
      Class<?> node = Class.forName(HnswIndex.class.getName() + "$Node");
      CONNECTIONS = field(node, "connections");
      ITEM = field(node, "item");
      DELETED = field(node, "deleted");
      NODE_ID = field(node, "id");
    } catch (ReflectiveOperationException | RuntimeException e) {
      throw new ExceptionInInitializerError(new IllegalStateException(
          "hnswlib's graph layout is not the one GraphReach was written for (hnswlib-core 1.2.0)", e));
    }
  }

  private GraphReach() {}

  /**
   * The live items a search may miss: those no walk of the links from the entry point reaches,
   * and those fewer than {@code minInDegree} live nodes link to on the base layer. One pass over
   * every node's links, and a breadth-first walk.
   */
  static List<VectorItem> weaklyLinked(HnswIndex<Long, float[], VectorItem, Float> graph, int minInDegree) {
    try {
      AtomicReferenceArray<?> nodes = (AtomicReferenceArray<?>) NODES.get(graph);
      int count = NODE_COUNT.getInt(graph);
      int[] inDegree = new int[count];
      for (int id = 0; id < count; id++) {
        Object n = nodes.get(id);
        if (n != null && !DELETED.getBoolean(n)) {
          MutableIntList base = ((MutableIntList[]) CONNECTIONS.get(n))[0];
          for (int i = 0; i < base.size(); i++) {
            inDegree[base.get(i)]++;
          }
        }
      }
      BitSet reached = new BitSet(count);
      Object entry = ENTRY_POINT.get(graph);
      if (entry != null) {
        ArrayDeque<Object> queue = new ArrayDeque<>();
        reached.set(NODE_ID.getInt(entry));
        queue.add(entry);
        while (!queue.isEmpty()) {
          for (MutableIntList links : (MutableIntList[]) CONNECTIONS.get(queue.poll())) {
            for (int i = 0; i < links.size(); i++) {
              int to = links.get(i);
              if (!reached.get(to)) {
                reached.set(to);
                Object next = nodes.get(to);
                if (next != null) {
                  queue.add(next);
                }
              }
            }
          }
        }
      }
      List<VectorItem> out = new ArrayList<>();
      for (int id = 0; id < count; id++) {
        Object n = nodes.get(id);
        if (n != null && !DELETED.getBoolean(n) && (!reached.get(id) || inDegree[id] < minInDegree)) {
          out.add((VectorItem) ITEM.get(n));
        }
      }
      return out;
    } catch (IllegalAccessException e) {
      throw new IllegalStateException("cannot read hnswlib's graph", e);
    }
  }

  private static Field field(Class<?> c, String name) throws NoSuchFieldException {
    Field f = c.getDeclaredField(name);
    f.setAccessible(true);
    return f;
  }
}
