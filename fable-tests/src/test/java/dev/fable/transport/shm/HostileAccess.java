package dev.fable.transport.shm;

import dev.fable.Connection;
import dev.fable.flow.LiveConnection;

import java.lang.foreign.MemorySegment;
import java.lang.invoke.VarHandle;
import java.lang.reflect.Field;

import static dev.fable.transport.shm.ShmLayout.capacityFor;
import static dev.fable.transport.shm.ShmLayout.entryOffset;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * How the {@link HostilePeer} reaches into its own {@link ShmConnection} (reflection, test code only):
 * the mapped ring and slots of one direction, and var handles for the ring's registers.
 */
final class HostileAccess {
    private HostileAccess() {}

    static final VarHandle LONG = JAVA_LONG.varHandle();
    static final VarHandle INT = JAVA_INT.varHandle();

    static Object field(Object o, String name) {
        try {
            Field f = o.getClass().getDeclaredField(name);
            f.setAccessible(true);
            return f.get(o);
        } catch (ReflectiveOperationException e) {
            throw new AssertionError("cannot read " + o.getClass().getName() + "." + name, e);
        }
    }

    /**
     * One direction's mappings as this process sees them: the ring (read-write), the whole pool and the
     * slots (pool 0); {@code smallCount} small slots of pool 1 follow the slots in the pool (layout 2).
     */
    record Rings(MemorySegment ring, MemorySegment pool, MemorySegment[] slots, int slotSize, int slotCount, int smallCount, int capacity, int mask) {
        /** {@code side} is a connection's RingWriter ({@code out}) or RingReader ({@code in}). */
        static Rings of(Object side) {
            int slotCount = (int) field(side, "slotCount");
            int slotSize = (int) field(side, "slotSize");
            int capacity = capacityFor(slotCount);
            return new Rings((MemorySegment) field(side, "ring"), (MemorySegment) field(side, "pool"), (MemorySegment[]) field(side, "slots"),
                    slotSize, slotCount, ShmLayout.smallSlotsFor(slotSize, slotCount), capacity, capacity - 1);
        }

        static Rings outgoing(Connection c) {
            return of(field(((LiveConnection) c).leg(), "out"));
        }

        static Rings incoming(Connection c) {
            return of(field(((LiveConnection) c).leg(), "in"));
        }

        long entry(long position) {
            return entryOffset(position, mask);
        }

        /** Small slot {@code i} (pool 1) as a segment of the pool. */
        MemorySegment small(int i) {
            return pool.asSlice(ShmLayout.smallSlotOffset(i, slotSize, slotCount), ShmLayout.SMALL_SLOT_SIZE);
        }
    }
}
