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

    /** One direction's mappings as this process sees them: the ring (read-write) and the slots. */
    record Rings(MemorySegment ring, MemorySegment[] slots, int slotSize, int slotCount, int capacity, int mask) {
        /** {@code side} is a connection's RingWriter ({@code out}) or RingReader ({@code in}). */
        static Rings of(Object side) {
            int slotCount = (int) field(side, "slotCount");
            int capacity = capacityFor(slotCount);
            return new Rings((MemorySegment) field(side, "ring"), (MemorySegment[]) field(side, "slots"),
                    (int) field(side, "slotSize"), slotCount, capacity, capacity - 1);
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
    }
}
