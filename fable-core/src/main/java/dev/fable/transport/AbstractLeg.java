package dev.fable.transport;

import dev.fable.ConnectOptions;
import dev.fable.Connection;
import dev.fable.ConnectionClosedException;
import dev.fable.ConnectionState;
import dev.fable.CorruptChannelException;
import dev.fable.FableException;
import dev.fable.PeerGoneException;
import dev.fable.WaitMode;
import dev.fable.sync.CpuSample;

/**
 * What every transport's {@link Leg} shares: the state machine (OPEN → PEER_CLOSED / PEER_GONE /
 * FAILED / CLOSED, changed under the object's monitor, read through a volatile field), the
 * connection its buffers name as theirs, and the CPU samples its waits write.
 */
public abstract class AbstractLeg implements Leg {

    protected final ConnectOptions options;
    protected final String localName;
    protected final String peerName;
    /** The epoch of this transport instance: 0 for a new connection, e+1 for the leg a switch sets up. */
    protected final long epoch;
    private volatile ConnectionState state = ConnectionState.OPEN;
    private volatile FableException failure;
    private volatile ConnectionState closedFrom;   // the state markClosed() found (null until then)

    protected AbstractLeg(ConnectOptions options, String localName, String peerName, long epoch) {
        this.epoch = epoch;
        this.options = options;
        this.localName = localName;
        this.peerName = peerName;
    }

    @Override
    public final String localName() {
        return localName;
    }

    @Override
    public final String peerName() {
        return peerName;
    }

    @Override
    public final long epoch() {
        return epoch;
    }

    private volatile Connection face;   // written once, before the leg is published to the roles' threads

    /** The connection the application holds for this leg: what its buffers name as theirs (null before {@link #bind}). */
    public final Connection face() {
        return face;
    }

    @Override
    public void installed() {
    }

    /** {@link #tryFinishOutput()} until it fits, waiting for space (a full ring or socket) up to {@code deadline}. */
    @Override
    public boolean finishOutput(long deadline) {
        while (!tryFinishOutput()) {
            if (!awaitSpace(deadline)) return false;
        }
        return true;
    }

    /** Where this leg's sending and receiving threads last waited (the connection's, shared by all its legs). */
    protected CpuSample sendCpu = new CpuSample();
    protected CpuSample recvCpu = new CpuSample();

    @Override
    public final void bind(Connection connection, CpuSample send, CpuSample recv) {
        this.face = connection;
        this.sendCpu = send;
        this.recvCpu = recv;
    }

    @Override
    public final ConnectionState state() {
        return state;
    }

    @Override
    public final FableException failure() {
        return failure;
    }

    /** The sending direction's counters. */
    protected abstract Counted sending();

    /** The receiving direction's counters. */
    protected abstract Counted receiving();

    @Override
    public final long fragmentsSent() {
        return sending().fragments();
    }

    @Override
    public final long fragmentsReceived() {
        return receiving().fragments();
    }

    @Override
    public final long messagesSent() {
        return sending().messages();
    }

    @Override
    public final long messagesReceived() {
        return receiving().messages();
    }

    @Override
    public final long bytesSent() {
        return sending().bytes();
    }

    @Override
    public final long bytesReceived() {
        return receiving().bytes();
    }

    /** Wakes every thread blocked on this connection; called after the state changed. */
    protected abstract void wakeAll();

    @Override
    public final WaitMode waitMode() {
        return options.waitMode();
    }

    @Override
    public final ConnectOptions options() {
        return options;
    }

    /** The exception for an operation on a connection that is no longer open (one per call, no storm). */
    protected final FableException ended(String op) {
        FableException f = failure;
        if (f == null) f = new ConnectionClosedException(this + " is " + state);
        if (f instanceof PeerGoneException) return new PeerGoneException(f.getMessage() + " (during " + op + ")", f);
        if (f instanceof CorruptChannelException) return new CorruptChannelException(f.getMessage() + " (during " + op + ")", f);
        return new ConnectionClosedException(f.getMessage() + " (during " + op + ")", f);
    }

    /** Moves OPEN → {@code s} and wakes waiters; false if the connection had already ended. */
    protected final boolean end(ConnectionState s, FableException why) {
        synchronized (this) {
            if (state != ConnectionState.OPEN) return false;
            failure = why;
            state = s;   // volatile write after failure: readers that see the state see the reason
            wakeAll();
        }
        if (face instanceof LegEvents e) e.legEnded(this);   // outside the monitor: the listener takes its own locks
        return true;
    }

    /** The state this leg was in when this side closed it (OPEN: the peer could still read), or null before. */
    protected final ConnectionState stateBeforeClose() {
        return closedFrom;
    }

    /** Tells the connection that the publisher dropped {@code n} messages for this side (a subscription's leg). */
    protected final void peerDropped(long n) {
        if (face instanceof LegEvents e) e.peerDropped(n);
    }

    /** Moves to CLOSED (this side closed); false if it was closed already. */
    protected final synchronized boolean markClosed() {
        if (state == ConnectionState.CLOSED) return false;
        closedFrom = state;
        if (state == ConnectionState.OPEN) failure = new ConnectionClosedException(this + " was closed by this side");
        state = ConnectionState.CLOSED;
        return true;
    }
}
