package dev.fable.transport;

import java.util.ArrayList;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * One thread per Fable set-up ({@link LegServices}) that finishes writes a sending thread left
 * queued because the socket was full at its last commit (without it, a sender that commits and then
 * waits for an answer would wait forever: nothing else pushes its last frames).
 *
 * <p>It stays out of a busy sender's way: while any writer is armed it wakes once per
 * {@link #TICK_NANOS} and lets each writer try; a writer whose sending thread is active skips (that
 * thread flushes on its own), an idle one makes one non-blocking write. A writer is disarmed once
 * drained, and armed at most once until then, so a sender that keeps outrunning its peer costs
 * about one wake-up per tick, not one per message. With nothing armed the thread is parked. So a
 * frame left behind by a quiet sender leaves within about a tick of the socket draining.
 *
 * <p>Threads: {@link #arm} from any thread; the flusher thread starts with the first arm and ends
 * with {@link #close()}.
 */
public final class PendingFlusher extends SetUpThread {
    /** A writer with frames left queued. */
    public interface Writer {
        /** One non-blocking attempt; true when nothing is left queued (the writer is then disarmed). */
        boolean flushPending();
    }

    static final long TICK_NANOS = TimeUnit.MILLISECONDS.toNanos(1);

    private final Queue<Writer> armed = new ConcurrentLinkedQueue<>();

    PendingFlusher(String name) {
        super(name);
    }

    /**
     * Hands {@code w} to the flusher; the writer calls it at most once until {@link Writer#flushPending()}
     * drains it. After {@link #close()} nothing is flushed any more (the set-up is gone).
     */
    public void arm(Writer w) {
        Thread t = started();
        if (t == null) return;
        armed.add(w);
        LockSupport.unpark(t);
    }

    @Override
    void wake(Thread t) {
        LockSupport.unpark(t);
    }

    @Override
    void run() {
        List<Writer> watching = new ArrayList<>();
        while (!closed()) {
            Writer w;
            while ((w = armed.poll()) != null) watching.add(w);
            if (watching.isEmpty()) {
                LockSupport.park();   // arm() and close() unpark us; a spurious wake-up just loops
                continue;
            }
            LockSupport.parkNanos(TICK_NANOS);
            try {
                watching.removeIf(Writer::flushPending);
            } catch (RuntimeException e) {
                System.getLogger("dev.fable.transport").log(System.Logger.Level.ERROR, "pending-write flusher error", e);
            }
        }
    }
}
