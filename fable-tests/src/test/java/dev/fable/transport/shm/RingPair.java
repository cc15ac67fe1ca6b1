package dev.fable.transport.shm;

import dev.fable.CorruptChannelException;
import dev.fable.buffer.LeakDetector;
import dev.fable.buffer.SlotBuffer;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static org.junit.jupiter.api.Assertions.assertNotNull;

/**
 * One direction of a shared-memory connection without the connection: a pool and a ring in plain
 * memory, initialised as a writer does, with a {@link RingWriter} and a {@link RingReader} over them,
 * both driven by the test's thread. Faults throw {@link CorruptChannelException}.
 */
final class RingPair implements AutoCloseable {
    final int slotSize;
    final int slotCount;
    final Arena arena = Arena.ofShared();
    final MemorySegment pool;
    final MemorySegment ring;
    final RingWriter writer;
    final RingReader reader;

    RingPair(int slotSize, int slotCount, boolean writerMayPark) {
        this.slotSize = slotSize;
        this.slotCount = slotCount;
        pool = arena.allocate(ShmLayout.poolBytes(slotSize, slotCount), 4096);
        ring = arena.allocate(ShmLayout.ringBytes(ShmLayout.capacityFor(slotCount)), 4096);
        RingWriter.initialise(pool, ring, slotSize, slotCount);
        LeakDetector leaks = new LeakDetector(LeakDetector.Level.OFF);
        Faults faults = detail -> { throw new CorruptChannelException("test ring: " + detail); };
        writer = new RingWriter(pool, ring, slotSize, slotCount, null, 0, faults, false, "test (sending)", leaks);
        reader = new RingReader(pool.asReadOnly(), ring, slotSize, slotCount, true, 0, null, 0, faults, writerMayPark, "test (receiving)", leaks);
    }

    /** {@code n} messages of {@code bytes}, each carrying its number in its first byte(s). */
    void publish(int n, int bytes) {
        for (int i = 0; i < n; i++) {
            SlotBuffer b = writer.claim(bytes);
            assertNotNull(b, "claim " + i);
            if (bytes >= 8) b.putLong(0, i); else b.putByte(0, (byte) i);
            b.commit();
        }
    }

    void pollAndRelease(int n) {
        for (int i = 0; i < n; i++) {
            SlotBuffer b = reader.poll();
            assertNotNull(b, "poll " + i);
            b.release();
        }
    }

    @Override
    public void close() {
        arena.close();
    }
}
