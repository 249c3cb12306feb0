package dev.clawfs.tools;

import com.dylibso.chicory.runtime.ByteBufferMemory;
import com.dylibso.chicory.runtime.Instance;
import com.dylibso.chicory.runtime.Memory;
import com.dylibso.chicory.wasm.types.DataSegment;
import com.dylibso.chicory.wasm.types.MemoryLimits;

/**
 * A module's linear memory under the run's page limit. The maximum given to Chicory already makes
 * {@code memory.grow} fail past the limit; this wrapper stops the run there instead of returning
 * -1, so a module that asks for more than it may have ends with {@link LimitHit#MEMORY} and a
 * message, not with whatever it does on a failed allocation. Every other call is passed straight
 * through (one more monomorphic call, inlined by the JIT).
 */
@SuppressWarnings("removal") // lock, waitOn, notify: delegated while Chicory still declares them
final class GuardedMemory implements Memory {

  private final Memory memory;
  private final int limitPages;

  private GuardedMemory(Memory memory, int limitPages) {
    this.memory = memory;
    this.limitPages = limitPages;
  }

  /**
   * The memory for a module declaring {@code declared}, under {@code limitPages}; stops the run
   * before it starts when the module's initial memory is already over the limit.
   */
  static Memory create(MemoryLimits declared, int limitPages) {
    if (declared.initialPages() > limitPages) {
      throw new LimitExceeded(
          LimitHit.MEMORY,
          "memory limit: the module needs "
              + declared.initialPages()
              + " pages (64 KiB each) at start, "
              + "the limit is "
              + limitPages);
    }
    int max = Math.min(declared.maximumPages(), limitPages);
    return new GuardedMemory(
        new ByteBufferMemory(new MemoryLimits(declared.initialPages(), max, declared.shared())),
        limitPages);
  }

  @Override
  public int grow(int size) {
    long wanted = (long) memory.pages() + Integer.toUnsignedLong(size);
    if (wanted > limitPages) {
      throw new LimitExceeded(
          LimitHit.MEMORY,
          "memory limit: the module asked to grow its memory to "
              + wanted
              + " pages (64 KiB each), "
              + "the limit is "
              + limitPages
              + " ("
              + (limitPages / 16)
              + " MiB)");
    }
    return memory.grow(size);
  }

  @Override
  public int pages() {
    return memory.pages();
  }

  @Override
  public int initialPages() {
    return memory.initialPages();
  }

  @Override
  public int maximumPages() {
    return memory.maximumPages();
  }

  @Override
  public boolean shared() {
    return memory.shared();
  }

  @Override
  public Object lock(int address) {
    return memory.lock(address);
  }

  @Override
  public int waitOn(int address, int expected, long timeout) {
    return memory.waitOn(address, expected, timeout);
  }

  @Override
  public int waitOn(int address, long expected, long timeout) {
    return memory.waitOn(address, expected, timeout);
  }

  @Override
  public int notify(int address, int maxThreads) {
    return memory.notify(address, maxThreads);
  }

  @Override
  public void initialize(Instance instance, DataSegment[] dataSegments) {
    memory.initialize(instance, dataSegments);
  }

  @Override
  public void initialize(Instance instance, DataSegment[] dataSegments, int index) {
    memory.initialize(instance, dataSegments, index);
  }

  @Override
  public void initPassiveSegment(int segmentId, int dest, int offset, int size) {
    memory.initPassiveSegment(segmentId, dest, offset, size);
  }

  @Override
  public void write(int addr, byte[] data, int offset, int size) {
    memory.write(addr, data, offset, size);
  }

  @Override
  public byte read(int addr) {
    return memory.read(addr);
  }

  @Override
  public byte[] readBytes(int addr, int len) {
    return memory.readBytes(addr, len);
  }

  @Override
  public void writeI32(int addr, int data) {
    memory.writeI32(addr, data);
  }

  @Override
  public int readInt(int addr) {
    return memory.readInt(addr);
  }

  @Override
  public void writeLong(int addr, long data) {
    memory.writeLong(addr, data);
  }

  @Override
  public long readLong(int addr) {
    return memory.readLong(addr);
  }

  @Override
  public void writeShort(int addr, short data) {
    memory.writeShort(addr, data);
  }

  @Override
  public short readShort(int addr) {
    return memory.readShort(addr);
  }

  @Override
  public long readU16(int addr) {
    return memory.readU16(addr);
  }

  @Override
  public void writeByte(int addr, byte data) {
    memory.writeByte(addr, data);
  }

  @Override
  public void writeF32(int addr, float data) {
    memory.writeF32(addr, data);
  }

  @Override
  public long readF32(int addr) {
    return memory.readF32(addr);
  }

  @Override
  public float readFloat(int addr) {
    return memory.readFloat(addr);
  }

  @Override
  public void writeF64(int addr, double data) {
    memory.writeF64(addr, data);
  }

  @Override
  public double readDouble(int addr) {
    return memory.readDouble(addr);
  }

  @Override
  public long readF64(int addr) {
    return memory.readF64(addr);
  }

  @Override
  public void zero() {
    memory.zero();
  }

  @Override
  public void fill(byte value, int fromIndex, int toIndex) {
    memory.fill(value, fromIndex, toIndex);
  }

  @Override
  public void copy(int dest, int src, int size) {
    memory.copy(dest, src, size);
  }

  @Override
  public void drop(int segment) {
    memory.drop(segment);
  }
}
