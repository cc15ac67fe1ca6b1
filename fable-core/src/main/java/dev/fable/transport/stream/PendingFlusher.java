package dev.fable.transport.stream;

import java.util.ArrayList;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * One daemon thread per process that finishes writes a sending thread left queued because the
 * socket was full at its last commit (without it, a sender that commits and then waits for an
 * answer would wait forever: nothing else pushes its last frames).
 *
 * <p>It stays out of a busy sender's way: while any writer is armed it wakes once per
 * {@link #TICK_NANOS} and tries each writer's lock; a writer whose sending thread is active is
 * skipped (that thread flushes on its own), an idle one gets one non-blocking write. A writer is
 * disarmed once drained, and armed at most once until then, so a sender that keeps outrunning its
 * peer costs about one wake-up per tick, not one per message. With nothing armed the thread is
 * parked. So a frame left behind by a quiet sender leaves within about a tick of the socket
 * draining.
 */
final class PendingFlusher {
    private PendingFlusher() {}

    static final long TICK_NANOS = TimeUnit.MILLISECONDS.toNanos(1);

    private static final Queue<StreamWriter> ARMED = new ConcurrentLinkedQueue<>();
    private static final Thread THREAD = new Thread(PendingFlusher::run, "fable-pending-flusher");

    static {
        THREAD.setDaemon(true);
        THREAD.start();
    }

    /** Hands {@code w} to the flusher; the writer calls it at most once until {@link StreamWriter#flushPending()} drains it. */
    static void arm(StreamWriter w) {
        ARMED.add(w);
        LockSupport.unpark(THREAD);
    }

    private static void run() {
        List<StreamWriter> watching = new ArrayList<>();
        while (true) {
            StreamWriter w;
            while ((w = ARMED.poll()) != null) watching.add(w);
            if (watching.isEmpty()) {
                LockSupport.park();   // an arm() unparks us; a spurious wake-up just loops
                continue;
            }
            LockSupport.parkNanos(TICK_NANOS);
            try {
                watching.removeIf(StreamWriter::flushPending);
            } catch (RuntimeException e) {
                System.getLogger("dev.fable.transport").log(System.Logger.Level.ERROR, "pending-write flusher error", e);
            }
        }
    }
}
