package dev.fable.buffer;

/**
 * The owner of read buffers whose memory another process may map: a shared-memory reader whose
 * buffers lie in a pool this process can name by a descriptor. Forwarding such a buffer
 * ({@link SlotBuffer#forward}) lends it to a {@link ForwardTarget}: the target's peer reads the slot
 * in place, and the lender keeps the slot held (its producer cannot reuse it) until the target's
 * {@link LentWatch} says its peer released it; the lender looks at its next polls, so nothing else has
 * to give it back on the lender's thread.
 *
 * <p>Every method is called on the lender's receiving thread: the thread that polled the buffer
 * (forwarding, like release, belongs to it).
 */
public interface Lender {
    /**
     * The pool holding {@code b}'s bytes, or null if {@code b} cannot be lent: a small message in the
     * log, a private copy, or this lender has lent as many buffers as it may at once (its producer must
     * keep slots to write into).
     */
    LentPool poolOf(SlotBuffer b);

    /** {@code b}'s slot index within {@link #poolOf}'s pool. */
    int slotInPool(SlotBuffer b);

    /** {@code b} is being lent: the application's view of it ends (it is dead to it); the lender still holds it. */
    void lent(SlotBuffer b);

    /**
     * The target published its reference to {@code b} at {@code at} of the queue {@code watch} watches: {@code b}
     * comes back when {@code watch.releasedUpTo() > at}.
     */
    void lentTo(SlotBuffer b, LentWatch watch, long at);

    /** The lending did not happen after all ({@link #lent} was called, the target refused): {@code b} is the application's again. */
    void unlent(SlotBuffer b);

    /** How far a target's peer has released what the target published (its queue's release position). */
    interface LentWatch {
        /**
         * Positions below this are released: {@link Long#MAX_VALUE} once the target ended and its peer reads no more;
         * once {@link #abandoned()}, what the peer had released when the target closed (final). Any thread.
         */
        long releasedUpTo();

        /**
         * True once the target closed under a live peer that may still hold what it read: positions at or above
         * {@link #releasedUpTo()} then never come back (their slots stay held for good). Read it before
         * {@code releasedUpTo()}: a watch that turns abandoned in between still answers a position that holds. Any thread.
         */
        boolean abandoned();
    }

    /**
     * One pool a lender can lend from, as a target's peer maps it: descriptor {@code fd} of this process
     * ({@code /proc/<pid>/fd/<fd>}), with {@code slotCount} slots of {@code slotSize} bytes in the pool file
     * layout. Its identity names the pool: a target announces each pool to its peer once. The descriptor stays
     * open while anyone may still need to open it: the lender (until it closes) and each target that announced
     * the pool until its peer has read the announcement ({@link #retain}, {@link #release}).
     */
    final class LentPool {
        private final int fd;
        private final int slotSize;
        private final int slotCount;
        private final java.util.concurrent.atomic.AtomicInteger refs = new java.util.concurrent.atomic.AtomicInteger(1);   // the lender's
        private final java.util.function.IntConsumer closer;

        /** {@code closer} closes {@code fd} when the last holder let go. */
        public LentPool(int fd, int slotSize, int slotCount, java.util.function.IntConsumer closer) {
            this.fd = fd;
            this.slotSize = slotSize;
            this.slotCount = slotCount;
            this.closer = closer;
        }

        public int fd() {
            return fd;
        }

        public int slotSize() {
            return slotSize;
        }

        public int slotCount() {
            return slotCount;
        }

        /** One more holder of the descriptor (a target announcing the pool; the lender still holds its own). */
        public void retain() {
            refs.incrementAndGet();
        }

        /** A holder lets go; the last one closes the descriptor. */
        public void release() {
            if (refs.decrementAndGet() == 0) closer.accept(fd);
        }

        @Override
        public String toString() {
            return "pool at descriptor " + fd + " (" + slotCount + " slots of " + slotSize + " B)";
        }
    }
}
