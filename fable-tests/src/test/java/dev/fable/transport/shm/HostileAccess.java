package dev.fable.transport.shm;

import dev.fable.Connection;
import dev.fable.flow.LiveConnection;

import java.lang.foreign.MemorySegment;
import java.lang.invoke.VarHandle;
import java.lang.reflect.Field;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * How the {@link HostilePeer} reaches into its own {@link ShmConnection} (reflection, test code only):
 * the mapped ring (registers and log) and pool of one direction, and var handles for the ring's registers.
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
     * One direction's mappings as this process sees them: the ring (read-write: registers and the log of
     * {@code logBytes}), the whole pool and its slots (layout 3).
     */
    record Rings(MemorySegment ring, MemorySegment pool, MemorySegment[] slots, int slotSize, int slotCount, int logBytes, int inlineMax) {
        /** {@code side} is a connection's RingWriter ({@code out}) or RingReader ({@code in}). */
        static Rings of(Object side) {
            int slotSize = (int) field(side, "slotSize");
            return new Rings((MemorySegment) field(side, "ring"), (MemorySegment) field(side, "pool"), (MemorySegment[]) field(side, "slots"),
                    slotSize, (int) field(side, "slotCount"), (int) field(side, "logBytes"), ShmLayout.inlineMaxFor(slotSize));
        }

        static Rings outgoing(Connection c) {
            return of(field(((LiveConnection) c).leg(), "out"));
        }

        static Rings incoming(Connection c) {
            return of(field(((LiveConnection) c).leg(), "in"));
        }

        /** Offset in the ring file of log position {@code position}. */
        long log(long position) {
            return ShmLayout.logOffset(position, logBytes - 1);
        }

        /** Bytes from {@code position} to the log's end. */
        int toEnd(long position) {
            return logBytes - (int) (position & (logBytes - 1));
        }
    }
}
