package dev.fable.transport;

import dev.fable.Buffer;
import dev.fable.ConnectOptions;
import dev.fable.Connection;
import dev.fable.ConnectionClosedException;
import dev.fable.ConnectionState;
import dev.fable.CorruptChannelException;
import dev.fable.FableException;
import dev.fable.PeerGoneException;
import dev.fable.WaitMode;
import dev.fable.sync.CpuSample;
import dev.fable.sync.Waiter;

import dev.fable.buffer.MessageAssembler;
import java.time.Duration;

/**
 * What every transport's {@link Connection} shares: the state machine (OPEN → PEER_CLOSED /
 * PEER_GONE / FAILED / CLOSED, changed under the object's monitor, read through a volatile field),
 * and the blocking conveniences {@link #send} and {@link #receiveMessage} built on the transport's
 * non-blocking core ({@link #claim(int, Duration)} and {@link #receiveUntil(long)}).
 */
public abstract class AbstractConnection implements Connection {

    protected final ConnectOptions options;
    protected final String localName;
    protected final String peerName;
    /** The epoch of this transport instance: 0 for a new connection, e+1 for the leg a switch sets up. */
    protected final long epoch;
    private volatile ConnectionState state = ConnectionState.OPEN;
    private volatile FableException failure;
    private final MessageAssembler assembler = new MessageAssembler();   // receiving thread only

    protected AbstractConnection(ConnectOptions options, String localName, String peerName, long epoch) {
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

    private volatile Connection face = this;

    /** The connection the application holds for this leg (its {@link dev.fable.flow.LiveConnection}): what buffers name as theirs. */
    public final Connection face() {
        return face;
    }

    public final void face(Connection c) {
        this.face = c;
    }

    /**
     * Accepting side: this reconfiguration leg is now in its connection's chain (the receiver can follow
     * the old leg's end-of-epoch marker to it). Transports whose connector waits for that say so here.
     */
    public void installed() {
    }

    /** Where this leg's sending and receiving threads last waited (the connection's, shared by all its legs). */
    protected CpuSample sendCpu = new CpuSample();
    protected CpuSample recvCpu = new CpuSample();

    /** Sets the samples this leg's waits write: before the leg is published to the threads that use it. */
    public final void cpuSamples(CpuSample send, CpuSample recv) {
        this.sendCpu = send;
        this.recvCpu = recv;
    }

    // ---- reconfiguration legs (dev.fable.flow.LiveConnection drives these; applications never see a leg) ----

    /**
     * Sends the end-of-epoch marker behind everything this side committed, so the peer's reader knows
     * this leg's direction is finished and moves to the next leg. Called once, by the sending side,
     * with no claimed buffer outstanding. Waits (the socket or ring may be full) until {@code deadline}
     * ({@link Waiter#deadline}); false if the marker could not be queued in time.
     */
    public abstract boolean finishOutput(long deadline);

    /** True once the peer's end-of-epoch marker was polled: nothing more will arrive on this leg. Receiving thread. */
    public abstract boolean inputFinished();

    /**
     * If the next thing on this leg is the peer's end-of-epoch marker, consumes it and returns true
     * (then {@link #inputFinished()}); never consumes data. For a reconfiguration layer that holds
     * the receiving role while the application's receiving thread is idle.
     */
    public abstract boolean skipEndOfEpoch();

    /**
     * Copies every read buffer the application still holds from this leg into private memory and
     * detaches it (its release then only ends it), so the leg can close. Returns how many. Receiving role.
     */
    public abstract int detachHeldBuffers();

    /** Read buffers polled from this leg and not yet released. Receiving thread. */
    public abstract int readBuffersHeld();

    /** {@link #receiveUntil}, for the reconfiguration layer: null at the deadline or once {@link #inputFinished()}. */
    public final Buffer receiveLeg(long deadline) {
        return receiveUntil(deadline);
    }

    /** {@link #awaitSpace}, for the reconfiguration layer. */
    public final boolean awaitSpaceLeg(long deadline) {
        return awaitSpace(deadline);
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

    /**
     * Waits until a claim may succeed (or the connection ended) or {@code deadline}
     * ({@link Waiter#deadline}) passes; false at the deadline.
     */
    protected abstract boolean awaitSpace(long deadline);

    @Override
    public final Buffer claim(int maxBytes, Duration timeout) {
        Buffer b = claim(maxBytes);
        if (b != null) return b;   // fast path: no clock read
        long deadline = Waiter.deadline(timeout.toNanos());
        while (true) {
            if (!awaitSpace(deadline)) return null;
            b = claim(maxBytes);
            if (b != null) return b;
        }
    }

    /**
     * Waits until {@code deadline} ({@link Waiter#deadline}) for the next read buffer; null on timeout
     * or when the peer's end-of-epoch marker arrived ({@link #inputFinished()}).
     */
    protected abstract Buffer receiveUntil(long deadline);

    /** Wakes every thread blocked on this connection; called after the state changed. */
    protected abstract void wakeAll();

    @Override
    public final Buffer receive(Duration timeout) {
        Buffer b = poll();
        if (b != null) return b;   // fast path: no clock read
        return receiveUntil(Waiter.deadline(timeout.toNanos()));
    }

    @Override
    public void send(byte[] data, int offset, int length) {
        dev.fable.buffer.Messages.send(this, data, offset, length);
    }

    @Override
    public byte[] receiveMessage(Duration timeout) {
        // the deadline bounds the whole message: a peer that stops mid-message cannot hang us
        return assembler.next(fragments, Waiter.deadline(timeout.toNanos()), maxFragment(), options.maxMessageSize(), corrupt);
    }

    private final MessageAssembler.Source fragments = this::receiveUntil;   // made once: receiveMessage allocates only its result
    private final java.util.function.Function<String, RuntimeException> corrupt = this::corrupt;

    /** The connection's options. */
    public final WaitMode waitMode() {
        return options.waitMode();
    }

    public final ConnectOptions options() {
        return options;
    }

    /** Fails the connection because the peer broke the protocol; returns the exception to throw. */
    public abstract CorruptChannelException corrupt(String detail);

    /** The exception for an operation on a connection that is no longer open (one per call, no storm). */
    protected final FableException ended(String op) {
        FableException f = failure;
        if (f == null) f = new ConnectionClosedException(this + " is " + state);
        if (f instanceof PeerGoneException) return new PeerGoneException(f.getMessage() + " (during " + op + ")", f);
        if (f instanceof CorruptChannelException) return new CorruptChannelException(f.getMessage() + " (during " + op + ")", f);
        return new ConnectionClosedException(f.getMessage() + " (during " + op + ")", f);
    }

    /** Moves OPEN → {@code s} and wakes waiters; false if the connection had already ended. */
    protected final synchronized boolean end(ConnectionState s, FableException why) {
        if (state != ConnectionState.OPEN) return false;
        failure = why;
        state = s;   // volatile write after failure: readers that see the state see the reason
        wakeAll();
        return true;
    }

    /** Moves to CLOSED (this side closed); false if it was closed already. */
    protected final synchronized boolean markClosed() {
        if (state == ConnectionState.CLOSED) return false;
        if (state == ConnectionState.OPEN) failure = new ConnectionClosedException(this + " was closed by this side");
        state = ConnectionState.CLOSED;
        return true;
    }
}
