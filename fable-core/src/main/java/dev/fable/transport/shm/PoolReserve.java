package dev.fable.transport.shm;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;

/**
 * A prepared outgoing pool per set-up, so a connect or accept does not spend the milliseconds of
 * reserving and faulting in its pool (docs/transports.md) on the critical path. Taking it
 * starts a background thread that prepares the next one, of the shape last asked for.
 *
 * <p>One per shared-memory transport, that is per Fable set-up. A prepared pool is a pair of sealed
 * memfds this process holds open until used; they go with the process on any exit, {@code kill -9}
 * included (the exit hook only closes them early). A connect storm outruns the reserve and falls back to preparing inline.
 * {@code fable.shm.reserve=false} turns it off.
 */
final class PoolReserve {
    private final ShmFiles files;
    private final boolean enabled;
    private final AtomicReference<ShmTransport.Outgoing> ready = new AtomicReference<>();
    /** The shape {slotSize, slotCount, logBytes} the next prepared pool should have; null when none is wanted. */
    private final AtomicReference<int[]> wanted = new AtomicReference<>();
    /** How long a refill waits before it starts (see {@link #run()}). */
    static final long REFILL_DELAY_MS = 10;
    private volatile Thread preparer;   // started on first need, then parked between refills
    private volatile boolean exiting;
    /**
     * Held while a pool is created and published: the exit hook takes it too, so the JVM cannot halt
     * (killing the daemon preparer) between the files' creation and {@link #ready} naming them.
     */
    private final Object preparing = new Object();

    PoolReserve(ShmFiles files, boolean enabled) {
        this.files = files;
        this.enabled = enabled;
    }

    /** The prepared pool if it has this shape (ownership passes to the caller), else null. */
    ShmTransport.Outgoing take(int slotSize, int slotCount, int logBytes) {
        if (!enabled) return null;
        ShmTransport.Outgoing r = ready.get();
        boolean match = r != null && r.hasShape(slotSize, slotCount, logBytes) && ready.compareAndSet(r, null);
        return match ? r : null;
    }

    /** Asks the preparer thread for a pool of this shape (it makes one unless one is ready). Never blocks. */
    void refill(int slotSize, int slotCount, int logBytes) {
        if (!enabled) return;
        wanted.set(new int[] {slotSize, slotCount, logBytes});
        Thread t = preparer;
        if (t == null) {
            synchronized (this) {
                t = preparer;
                if (t == null) {
                    Runtime.getRuntime().addShutdownHook(new Thread(this::unlinkAtExit, "fable-pool-reserve-cleanup"));
                    t = Thread.ofPlatform().daemon().name("fable-pool-reserve").start(this::run);
                    preparer = t;
                }
            }
        }
        LockSupport.unpark(t);
    }

    /** Exit hook: removes the prepared files (waits for a preparation under way: its files exist before {@link #ready} names them). */
    private void unlinkAtExit() {
        ShmTransport.Outgoing o;
        synchronized (preparing) {
            exiting = true;
            o = ready.getAndSet(null);
        }
        if (o != null) o.unlink();
    }

    /**
     * The preparer: waits for a wish, lets the connection that just took the reserve finish its
     * handshake and first exchanges (preparing takes milliseconds of CPU, and on a 2-core machine it would delay
     * exactly those), then prepares. A pool of a shape nobody wants any more is discarded.
     */
    private void run() {
        while (true) {
            int[] shape = wanted.getAndSet(null);
            if (shape == null) {
                LockSupport.park();
                continue;
            }
            ShmTransport.Outgoing r = ready.get();
            if (r != null && r.hasShape(shape[0], shape[1], shape[2])) continue;
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(REFILL_DELAY_MS));
            try {
                ShmTransport.Outgoing old;
                synchronized (preparing) {
                    if (exiting) return;
                    old = ready.getAndSet(ShmTransport.Outgoing.create(files, shape[0], shape[1], shape[2]));
                    if (old != null) old.unlink();   // the shape changed meanwhile: keep the newest
                }
                if (old != null) old.arena().close();
            } catch (RuntimeException e) {
                // no reserve this time (e.g. /dev/shm full): the next connect prepares inline and reports it
            }
        }
    }
}
