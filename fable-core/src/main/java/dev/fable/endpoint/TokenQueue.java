package dev.fable.endpoint;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * A bounded multi-producer, single-consumer queue of int tokens {@code 0..capacity-1}, each in the queue at
 * most once: {@link #offer} of a token already queued does nothing. So the ring never fills (it has a cell
 * for every token) and an event posted twice before it is taken costs one entry — "the first time, not per
 * message". The event queue of a {@link EventPoller} (tripwire-clan §3.5), and the to-do lists of its watchers.
 *
 * <h2>Invariants</h2>
 * <ul>
 * <li>{@code queued[t] == 1} from the producer's successful CAS until the consumer took {@code t} (the consumer
 *     clears it after reading the cell, so a producer that offers again after that queues it anew).</li>
 * <li>Cells hold {@code token + 1}; 0 is empty. A producer claims a cell by advancing {@code tail} with a CAS,
 *     then fills it with a release store; the consumer spins on a claimed but not yet filled cell (a producer
 *     between its two steps), reads with acquire and writes 0 back (plain: only it writes 0, producers
 *     write a cell only after the consumer passed it a whole lap earlier, which the capacity rules out).</li>
 * <li>{@code head} is the consumer's alone; {@code tail} is advanced by producers only.</li>
 * </ul>
 */
final class TokenQueue {
    private static final VarHandle CELLS = MethodHandles.arrayElementVarHandle(int[].class);
    private static final VarHandle QUEUED = MethodHandles.arrayElementVarHandle(byte[].class);
    private static final VarHandle TAIL;

    static {
        try {
            TAIL = MethodHandles.lookup().findVarHandle(TokenQueue.class, "tail", long.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final int capacity;
    private final int mask;
    private final int[] cells;
    private final byte[] queued;
    // padding keeps the producers' tail off the consumer's head line
    @SuppressWarnings("unused") private long p01, p02, p03, p04, p05, p06, p07;
    private volatile long tail;
    @SuppressWarnings("unused") private long p11, p12, p13, p14, p15, p16, p17;
    private long head;   // consumer only

    /** @param capacity the number of distinct tokens (tokens are 0..capacity-1) */
    TokenQueue(int capacity) {
        if (capacity < 1 || capacity > 1 << 24) throw new IllegalArgumentException("a token queue of " + capacity + " tokens (1..2^24)");
        this.capacity = capacity;
        int cellsLength = Integer.highestOneBit(Math.max(1, capacity - 1)) << 1;
        this.cells = new int[cellsLength];
        this.mask = cellsLength - 1;
        this.queued = new byte[capacity];
    }

    int capacity() {
        return capacity;
    }

    /** Any thread: queues {@code token} unless it is queued already. True if this call queued it. */
    boolean offer(int token) {
        if (!QUEUED.compareAndSet(queued, token, (byte) 0, (byte) 1)) return false;   // CAS: one producer queues it
        long t = (long) TAIL.getAndAdd(this, 1L);   // a cell of our own
        CELLS.setRelease(cells, (int) (t & mask), token + 1);   // release: whatever the producer wrote before, first
        return true;
    }

    /** The consumer: the next token, or -1 when none is queued. */
    int poll() {
        long h = head;
        if (h == tail) return -1;   // volatile read of tail: a producer claimed nothing beyond head
        int i = (int) (h & mask);
        int v;
        while ((v = (int) CELLS.getAcquire(cells, i)) == 0) {   // acquire: the producer's writes before its release
            Thread.onSpinWait();   // a producer claimed the cell and is about to fill it
        }
        cells[i] = 0;   // plain: the next producer of this cell comes a lap later, after tail passed it (see class comment)
        head = h + 1;
        int token = v - 1;
        QUEUED.setRelease(queued, token, (byte) 0);   // release: offered again from now on, after we read the cell
        return token;
    }

    /** The consumer (or a racy snapshot from elsewhere): true when nothing is queued. */
    boolean isEmpty() {
        return head == tail;
    }
}
