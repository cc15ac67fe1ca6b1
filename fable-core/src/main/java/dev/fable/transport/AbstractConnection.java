package dev.fable.transport;

import dev.fable.Buffer;
import dev.fable.ConnectOptions;
import dev.fable.Connection;
import dev.fable.ConnectionClosedException;
import dev.fable.ConnectionState;
import dev.fable.CorruptChannelException;
import dev.fable.FableException;
import dev.fable.PeerGoneException;
import dev.fable.sync.Waiter;

import java.io.ByteArrayOutputStream;
import java.time.Duration;
import java.util.Objects;

/**
 * What every transport's {@link Connection} shares: the state machine (OPEN → PEER_CLOSED /
 * PEER_GONE / FAILED / CLOSED, changed under the object's monitor, read through a volatile field),
 * and the blocking conveniences {@link #send} and {@link #receiveMessage} built on the transport's
 * non-blocking core ({@link #claim(int, Duration)} and {@link #receiveUntil(long)}).
 */
public abstract class AbstractConnection implements Connection {
    private static final Duration FOREVER = Duration.ofNanos(-1);

    /** Reconfiguration (a later issue) gives each transport instance its own epoch; until then all are 0. */
    protected static final long EPOCH = 0;

    protected final ConnectOptions options;
    protected final String localName;
    protected final String peerName;
    private volatile ConnectionState state = ConnectionState.OPEN;
    private volatile FableException failure;
    private ByteArrayOutputStream partial;   // receiving thread only: a message whose rest had not arrived when receiveMessage timed out

    protected AbstractConnection(ConnectOptions options, String localName, String peerName) {
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
        return EPOCH;
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

    /** Waits until {@code deadline} ({@link Waiter#deadline}) for the next read buffer; null on timeout. */
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
        Objects.checkFromIndexSize(offset, length, data.length);
        int done = 0;
        do {
            int n = Math.min(length - done, maxFragment());
            Buffer b = claim(n, FOREVER);
            b.put(0, data, offset + done, n);
            b.length(n);
            done += n;
            if (done < length) b.commitFragment(); else b.commit();
        } while (done < length);
    }

    @Override
    public byte[] receiveMessage(Duration timeout) {
        long deadline = Waiter.deadline(timeout.toNanos());   // for the whole message: a peer that stops mid-message cannot hang us
        byte[] chunk = null;
        while (true) {
            Buffer b = receiveUntil(deadline);
            if (b == null) return null;   // timed out; a message already begun stays in `partial` for the next call
            int n = b.length();
            boolean more = b.more();
            ByteArrayOutputStream acc = partial;
            if (acc == null && !more) {
                byte[] r = new byte[n];
                b.get(0, r, 0, n);
                b.release();
                return r;
            }
            if (acc == null) partial = acc = new ByteArrayOutputStream((int) Math.min(4L * n, options.maxMessageSize()));
            if (acc.size() + (long) n > options.maxMessageSize()) {
                partial = null;
                b.release();
                throw corrupt("a message exceeds maxMessageSize (" + options.maxMessageSize() + " B); raise ConnectOptions.maxMessageSize");
            }
            if (chunk == null || chunk.length < n) chunk = new byte[Math.max(n, maxFragment())];
            b.get(0, chunk, 0, n);
            b.release();
            acc.write(chunk, 0, n);
            if (!more) {
                partial = null;
                return acc.toByteArray();
            }
        }
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
