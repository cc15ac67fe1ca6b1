package dev.fable.transport;

import dev.fable.buffer.LeakDetector;

/**
 * What every leg of one Fable set-up shares: its leak detector, the thread that watches control
 * sockets for a peer's end, the thread that finishes socket writes a quiet sender left queued, and
 * the liveness bound of its TCP sockets, and the caps on what a peer may declare ({@link PeerLimits}).
 * One per set-up (the endpoint layer makes it with the context); two set-ups in one JVM share
 * nothing. The threads start on first use; {@link #close()} ends them and the leak detector.
 */
public final class LegServices implements AutoCloseable {
    private final LeakDetector leaks;
    private final ControlMonitor controlMonitor;
    private final PendingFlusher pendingFlusher;
    private final Liveness liveness;
    private final PeerLimits limits;

    /**
     * {@code id}: names this set-up's threads ({@code fable-control-monitor-ID}, ...); {@code liveness}: how
     * soon its TCP sockets (tcp, tls, plain external peers) notice a silent peer; {@code limits}: how much
     * memory a peer's declared geometry may make a leg of this set-up map or allocate.
     */
    public LegServices(LeakDetector.Level leakLevel, String id, Liveness liveness, PeerLimits limits) {
        this.liveness = java.util.Objects.requireNonNull(liveness, "liveness");
        this.limits = java.util.Objects.requireNonNull(limits, "limits");
        this.leaks = new LeakDetector(leakLevel);
        this.controlMonitor = new ControlMonitor("fable-control-monitor-" + id);
        this.pendingFlusher = new PendingFlusher("fable-pending-flusher-" + id);
    }

    public LeakDetector leaks() {
        return leaks;
    }

    public ControlMonitor controlMonitor() {
        return controlMonitor;
    }

    public PendingFlusher pendingFlusher() {
        return pendingFlusher;
    }

    /** The liveness bound every TCP socket of this set-up gets when its connection is made. */
    public Liveness liveness() {
        return liveness;
    }

    /** What a peer may declare to this set-up's legs (checked in every handshake). */
    public PeerLimits limits() {
        return limits;
    }

    @Override
    public void close() {
        controlMonitor.close();
        pendingFlusher.close();
        leaks.close();
    }
}
