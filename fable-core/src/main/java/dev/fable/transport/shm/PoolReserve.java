package dev.fable.transport.shm;

import java.util.concurrent.atomic.AtomicReference;

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
    private static final AtomicReference<Thread> PREPARING = new AtomicReference<>();
    /** How long a refill waits before it starts (see the refill thread). */
    static final long REFILL_DELAY_MS = 10;

    static {
        if (ENABLED) {
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                ShmTransport.Outgoing o = READY.getAndSet(null);
                if (o != null) o.unlink();
            }, "fable-pool-reserve-cleanup"));
        }
    }

    /** The prepared pool if it has this shape (ownership passes to the caller), else null; either way a refill starts. */
    static ShmTransport.Outgoing take(int slotSize, int slotCount) {
        if (!ENABLED) return null;
        ShmTransport.Outgoing ready = READY.get();
        if (ready != null && ready.slotSize() == slotSize && ready.slotCount() == slotCount && READY.compareAndSet(ready, null)) {
            refill(slotSize, slotCount);
            return ready;
        }
        refill(slotSize, slotCount);
        return null;
    }

    /** Starts preparing a pool of this shape unless one is being prepared or is ready. */
    static void refill(int slotSize, int slotCount) {
        if (!ENABLED || READY.get() != null) return;
        Thread t = Thread.ofPlatform().daemon().name("fable-pool-reserve").unstarted(() -> {
            try {
                // Let the connection that just took the reserve finish its handshake and first exchanges:
                // preparing is ~4 ms of CPU, and on a 2-core machine it would delay exactly those.
                Thread.sleep(REFILL_DELAY_MS);
                ShmTransport.Outgoing made = ShmTransport.Outgoing.create(slotSize, slotCount);
                ShmTransport.Outgoing old = READY.getAndSet(made);
                if (old != null) discard(old);   // the shape changed meanwhile, or a racing refill: keep the newest
            } catch (InterruptedException e) {
                // exiting
            } catch (RuntimeException e) {
                // no reserve this time (e.g. /dev/shm full): the next connect prepares inline and reports it
            } finally {
                PREPARING.set(null);
            }
        });
        if (PREPARING.compareAndSet(null, t)) t.start();
    }

    private static void discard(ShmTransport.Outgoing o) {
        o.unlink();
        o.arena().close();
    }
}
