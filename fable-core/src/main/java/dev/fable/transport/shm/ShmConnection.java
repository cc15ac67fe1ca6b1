package dev.fable.transport.shm;

import dev.fable.Buffer;
import dev.fable.ConnectOptions;
import dev.fable.Connection;
import dev.fable.ConnectionClosedException;
import dev.fable.ConnectionState;
import dev.fable.CorruptChannelException;
import dev.fable.FableException;
import dev.fable.PeerGoneException;
import dev.fable.WaitMode;
import dev.fable.flow.SlotBuffer;
import dev.fable.sync.Waiter;
import dev.fable.transport.ControlChannel;
import dev.fable.transport.ControlMonitor;
import dev.fable.transport.Pollable;
import dev.fable.sync.Tripwire;

import java.io.ByteArrayOutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.time.Duration;

/**
 * A {@link Connection} over shared memory: one {@link RingWriter} for the direction this side
 * writes, one {@link RingReader} for the other, and the control channel as the liveness signal.
 *
 * <p>Threads: the sending thread owns the writer, the receiving thread owns the reader, the
 * {@link ControlMonitor} thread and any closing thread only change {@link #state} (under the
 * object's monitor, off the data path) and wake sleepers.
 */
final class ShmConnection implements Connection, Pollable, Faults, ControlMonitor.Listener {
    private final String localName;
    private final String peerName;
    private final long peerPid;
    private final ConnectOptions options;
    private final Arena arena;
    private final ControlChannel control;
    private final RingWriter out;
    private final RingReader in;
    private final WaitMode mode;
    private final long spinNanos;
    private final Waiter.Condition dataOrEnd;
    private final Waiter.Condition spaceOrEnd;

    /** A writer waiting for space re-reads the reader's READ line every this many spins (see Waiter). */
    private static final int SPINS_PER_SPACE_CHECK = 32;
    /** Reconfiguration (a later issue) will give each transport instance its own epoch; until then all are 0. */
    private static final long EPOCH = 0;
    private static final Duration FOREVER = Duration.ofNanos(-1);

    private volatile ConnectionState state = ConnectionState.OPEN;
    private volatile FableException failure;
    private ByteArrayOutputStream partial;   // receiving thread only: a message whose rest had not arrived when receiveMessage timed out

    ShmConnection(String localName, String peerName, long peerPid, ConnectOptions options, Arena arena, ControlChannel control,
                  MemorySegment outPool, MemorySegment outRing, MemorySegment inPool, MemorySegment inRing,
                  int inSlotSize, int inSlotCount, WaitMode peerMode) {
        this.localName = localName;
        this.peerName = peerName;
        this.peerPid = peerPid;
        this.options = options;
        this.arena = arena;
        this.control = control;
        this.mode = options.waitMode();
        this.spinNanos = options.spinNanos();
        String label = toString();
        this.out = new RingWriter(outPool, outRing, options.slotSize(), options.slotCount(), this, EPOCH, this,
                peerMode != WaitMode.SPIN, label + " (sending)");
        this.in = new RingReader(inPool, inRing, inSlotSize, inSlotCount, options.isTrusted(), options.readQuota(), this, EPOCH, this,
                mode != WaitMode.SPIN, label + " (receiving)");
        this.dataOrEnd = () -> in.dataAvailable() || state != ConnectionState.OPEN;
        this.spaceOrEnd = () -> out.spaceAvailable() || state != ConnectionState.OPEN;
        ControlMonitor.watch(control, this);
    }

    @Override public String localName() { return localName; }
    @Override public String peerName() { return peerName; }
    @Override public String transport() { return ShmTransport.NAME; }
    @Override public long epoch() { return EPOCH; }
    @Override public int maxFragment() { return out.slotSize(); }
    @Override public ConnectionState state() { return state; }
    @Override public FableException failure() { return failure; }
    @Override public long messagesSent() { return out.messages(); }
    @Override public long messagesReceived() { return in.messages(); }
    @Override public long bytesSent() { return out.bytes(); }
    @Override public long bytesReceived() { return in.bytes(); }

    // ---- sending ----

    @Override
    public Buffer claim(int maxBytes) {
        if (state != ConnectionState.OPEN) throw ended("claim");
        return out.claim(maxBytes);
    }

    @Override
    public Buffer claim(int maxBytes, Duration timeout) {
        Buffer b = claim(maxBytes);
        if (b != null) return b;   // fast path: no clock read
        long deadline = Waiter.deadline(timeout.toNanos());
        while (true) {
            b = claim(maxBytes);
            if (b != null) return b;
            if (!Waiter.await(out.spaceWire(), spaceOrEnd, mode, spinNanos, deadline, SPINS_PER_SPACE_CHECK)) return null;
        }
    }

    @Override
    public void send(byte[] data, int offset, int length) {
        java.util.Objects.checkFromIndexSize(offset, length, data.length);
        int done = 0;
        do {
            int n = Math.min(length - done, out.slotSize());
            Buffer b = claim(n, FOREVER);
            b.put(0, data, offset + done, n);
            b.length(n);
            done += n;
            if (done < length) b.commitFragment(); else b.commit();
        } while (done < length);
    }

    // ---- receiving ----

    @Override
    public Buffer poll() {
        ConnectionState s = state;
        if (s == ConnectionState.FAILED || s == ConnectionState.CLOSED) throw ended("poll");
        return in.poll();
    }

    @Override
    public Buffer receive(Duration timeout) {
        Buffer b = poll();
        if (b != null) return b;   // fast path: no clock read
        return receive(Waiter.deadline(timeout.toNanos()));
    }

    private Buffer receive(long deadline) {
        while (true) {
            Buffer b = poll();
            if (b != null) return b;
            if (state != ConnectionState.OPEN) {
                b = poll();   // what the peer committed before it ended is still delivered
                if (b != null) return b;
                throw ended("receive");
            }
            if (!Waiter.await(in.dataWire(), dataOrEnd, mode, spinNanos, deadline)) return null;
        }
    }

    @Override
    public byte[] receiveMessage(Duration timeout) {
        long deadline = Waiter.deadline(timeout.toNanos());   // for the whole message: a peer that stops mid-message cannot hang us
        byte[] chunk = null;
        while (true) {
            Buffer b = receive(deadline);
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
            if (chunk == null) chunk = new byte[b.capacity()];
            b.get(0, chunk, 0, n);
            b.release();
            acc.write(chunk, 0, n);
            if (!more) {
                partial = null;
                return acc.toByteArray();
            }
        }
    }

    @Override
    public boolean readReady() {
        return dataOrEnd.met();
    }

    @Override
    public Tripwire readWire() {
        return in.dataWire();
    }

    // ---- ending ----

    private FableException ended(String op) {
        FableException f = failure;
        if (f == null) f = new ConnectionClosedException(this + " is " + state);
        if (f instanceof PeerGoneException) return new PeerGoneException(f.getMessage() + " (during " + op + ")", f);
        if (f instanceof CorruptChannelException) return new CorruptChannelException(f.getMessage() + " (during " + op + ")", f);
        return new ConnectionClosedException(f.getMessage() + " (during " + op + ")", f);
    }

    /** Moves OPEN → {@code s}; false if the connection had already ended. */
    private synchronized boolean end(ConnectionState s, FableException why) {
        if (state != ConnectionState.OPEN) return false;
        failure = why;
        state = s;   // volatile write after failure: readers that see the state see the reason
        in.dataWire().wakeAll();
        out.spaceWire().wakeAll();
        return true;
    }

    @Override
    public CorruptChannelException corrupt(String detail) {
        CorruptChannelException e = new CorruptChannelException(this + " failed: " + detail
                + ". The peer (pid " + peerPid + ") broke the shared-memory protocol, so this connection was shut down; "
                + "other connections are not affected. Check that both sides run the same Fable version.");
        if (end(ConnectionState.FAILED, e)) {
            ControlMonitor.unwatch(control);
            control.close();   // tells the peer
        }
        return e;
    }

    @Override
    public synchronized void controlClosed() {
        // Under the monitor: close() moves to CLOSED under it before it unmaps, so the ring is still mapped here.
        if (state != ConnectionState.OPEN) return;
        if (in.producerClosed()) {
            end(ConnectionState.PEER_CLOSED, new ConnectionClosedException("peer '" + peerName + "' closed " + this));
        } else {
            end(ConnectionState.PEER_GONE, new PeerGoneException("peer '" + peerName + "' (pid " + peerPid + ") of " + this
                    + " went away without closing (crashed or killed); everything it committed before was delivered"));
        }
    }

    @Override
    public void close() {
        synchronized (this) {
            if (state == ConnectionState.CLOSED) return;
            if (state == ConnectionState.OPEN) {
                failure = new ConnectionClosedException(this + " was closed by this side");
            }
            state = ConnectionState.CLOSED;
        }
        out.markClosed();          // after our last commit: the peer drains, then sees a clean close
        in.dataWire().wakeAll();
        out.spaceWire().wakeAll();
        ControlMonitor.unwatch(control);
        control.close();
        in.untrackAll();
        out.untrackAll();
        unmap();
    }

    /** Unmaps the four mappings. A thread still inside poll/claim makes the close handshake fail; retry briefly. */
    private void unmap() {
        for (int attempt = 0; ; attempt++) {
            try {
                arena.close();
                return;
            } catch (IllegalStateException e) {
                if (attempt > 1000) {
                    System.getLogger("dev.fable.shm").log(System.Logger.Level.WARNING,
                            "could not unmap " + this + " (a thread keeps using it); the mapping is freed at exit", e);
                    return;
                }
                Thread.onSpinWait();
            }
        }
    }

    @Override
    public String toString() {
        return "shm connection '" + localName + "' -> '" + peerName + "'";
    }
}
