package dev.fable.transport.shm;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;

/**
 * One prepared outgoing pool per process, so a connect or accept does not spend the ~4 ms (default
 * 8 MiB pool, this machine) of reserving and faulting in its pool on the critical path. Taking it
 * starts a background thread that prepares the next one, of the shape last asked for.
 *
 * <p>The prepared files sit in {@code /dev/shm/fable-<uid>} under this pid until used. A normal exit
 * removes them (shutdown hook); after a {@code kill -9} the name daemon removes them when it sees the
 * process's control connection close, and failing that the next Fable process's stale-file sweep
 * does. A connect storm outruns the reserve and falls back to preparing inline.
 * {@code -Dfable.shm.reserve=false} turns it off.
 */
final class PoolReserve {
    private PoolReserve() {}

    private static final boolean ENABLED = !"false".equals(System.getProperty("fable.shm.reserve"));
    private static final AtomicReference<ShmTransport.Outgoing> READY = new AtomicReference<>();
    /** The shape {slotSize, slotCount} the next prepared pool should have; null when none is wanted. */
    private static final AtomicReference<int[]> WANTED = new AtomicReference<>();
    /** How long a refill waits before it starts (see {@link #run()}). */
    static final long REFILL_DELAY_MS = 10;
    private static volatile Thread preparer;   // started on first need, then parked between refills
    private static volatile boolean exiting;
    /**
     * Held while a pool is created and published: the exit hook takes it too, so the JVM cannot halt
     * (killing the daemon preparer) between the files' creation and READY naming them.
     */
    private static final Object PREPARING = new Object();

    static {
        if (ENABLED) {
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                ShmTransport.Outgoing o;
                synchronized (PREPARING) {   // waits for a preparation under way: its files exist before READY names them
                    exiting = true;
                    o = READY.getAndSet(null);
                }
                if (o != null) o.unlink();
            }, "fable-pool-reserve-cleanup"));
        }
    }

    /** The prepared pool if it has this shape (ownership passes to the caller), else null. */
    static ShmTransport.Outgoing take(int slotSize, int slotCount) {
        if (!ENABLED) return null;
        ShmTransport.Outgoing ready = READY.get();
        boolean match = ready != null && ready.slotSize() == slotSize && ready.slotCount() == slotCount && READY.compareAndSet(ready, null);
        return match ? ready : null;
    }

    /** Asks the preparer thread for a pool of this shape (it makes one unless one is ready). Never blocks. */
    static void refill(int slotSize, int slotCount) {
        if (!ENABLED) return;
        WANTED.set(new int[] {slotSize, slotCount});
        Thread t = preparer;
        if (t == null) {
            synchronized (PoolReserve.class) {
                t = preparer;
                if (t == null) {
                    t = Thread.ofPlatform().daemon().name("fable-pool-reserve").start(PoolReserve::run);
                    preparer = t;
                }
            }
        }
        LockSupport.unpark(t);
    }

    /**
     * The preparer: waits for a wish, lets the connection that just took the reserve finish its
     * handshake and first exchanges (preparing is ~4 ms of CPU, and on a 2-core machine it would delay
     * exactly those), then prepares. A pool of a shape nobody wants any more is discarded.
     */
    private static void run() {
        while (true) {
            int[] shape = WANTED.getAndSet(null);
            if (shape == null) {
                LockSupport.park();
                continue;
            }
            ShmTransport.Outgoing ready = READY.get();
            if (ready != null && ready.slotSize() == shape[0] && ready.slotCount() == shape[1]) continue;
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(REFILL_DELAY_MS));
            try {
                ShmTransport.Outgoing old;
                synchronized (PREPARING) {
                    if (exiting) return;
                    old = READY.getAndSet(ShmTransport.Outgoing.create(shape[0], shape[1]));
                    if (old != null) old.unlink();   // the shape changed meanwhile: keep the newest
                }
                if (old != null) old.arena().close();
            } catch (RuntimeException e) {
                // no reserve this time (e.g. /dev/shm full): the next connect prepares inline and reports it
            }
        }
    }

}
