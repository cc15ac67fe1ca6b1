package dev.fable.transport.shm;

import dev.fable.CorruptChannelException;
import dev.fable.buffer.LeakDetector;
import dev.fable.buffer.SlotBuffer;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static org.junit.jupiter.api.Assertions.assertNotNull;

/**
 * One direction of a shared-memory connection without the connection: a pool and a ring (registers
 * and log) in plain memory, initialised as a writer does, with a {@link RingWriter} and a
 * {@link RingReader} over them, both driven by the test's thread. Faults throw {@link CorruptChannelException}.
 */
final class RingPair implements AutoCloseable {
    final int slotSize;
    final int slotCount;
    final int logBytes;
    final Arena arena = Arena.ofShared();
    final MemorySegment pool;
    final MemorySegment ring;
    final RingWriter writer;
    final RingReader reader;

    RingPair(int slotSize, int slotCount, boolean writerMayPark) {
        this(slotSize, slotCount, ShmLayout.MIN_LOG_BYTES, true, writerMayPark);
    }

    RingPair(int slotSize, int slotCount, int logBytes, boolean trusted, boolean writerMayPark) {
        this.slotSize = slotSize;
        this.slotCount = slotCount;
        this.logBytes = logBytes;
        pool = arena.allocate(ShmLayout.poolBytes(slotSize, slotCount), 4096);
        ring = arena.allocate(ShmLayout.ringBytes(logBytes), 4096);
        RingWriter.initialise(pool, ring, slotSize, slotCount, logBytes);
        LeakDetector leaks = new LeakDetector(LeakDetector.Level.OFF);
        Faults faults = detail -> { throw new CorruptChannelException("test ring: " + detail); };
        writer = new RingWriter(pool, ring, slotSize, slotCount, logBytes, null, 0, faults, false, "test (sending)", leaks);
        reader = new RingReader(pool.asReadOnly(), ring, slotSize, slotCount, logBytes, trusted, 0, null, 0, faults, writerMayPark,
                "test (receiving)", leaks);
    }

    /** {@code n} messages of {@code bytes}, each carrying its number in its first byte(s). */
    void publish(int n, int bytes) {
        for (int i = 0; i < n; i++) {
            SlotBuffer b = writer.claim(bytes);
            assertNotNull(b, "claim " + i);
            if (bytes >= 8) b.putLong(0, i); else if (bytes > 0) b.putByte(0, (byte) i);
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

    /** The READ register as the reader last published it. */
    long read() {
        return ShmLayout.readRegisterAcquire(ring);
    }

    /** Offset of {@code b}'s bytes in the ring file (an inline record's payload), for a buffer in the log. */
    long ringOffset(SlotBuffer b) {
        return b.segment().address() - ring.address();
    }

    /** Offset of {@code b}'s bytes in the pool file, for a buffer in a slot. */
    long poolOffset(SlotBuffer b) {
        return b.segment().address() - pool.address();
    }

    @Override
    public void close() {
        arena.close();
    }
}
