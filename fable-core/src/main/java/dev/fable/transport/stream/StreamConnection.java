package dev.fable.transport.stream;

import dev.fable.transport.LegServices;
import dev.fable.Buffer;
import dev.fable.ConnectOptions;
import dev.fable.ConnectionClosedException;
import dev.fable.ConnectionState;
import dev.fable.CorruptChannelException;
import dev.fable.FableException;
import dev.fable.PeerGoneException;
import dev.fable.WaitMode;
import dev.fable.sync.Waiter;
import dev.fable.internal.Closeables;
import dev.fable.transport.AbstractLeg;
import dev.fable.transport.Counted;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.util.concurrent.TimeUnit;

/**
 * A {@link dev.fable.Connection} over a byte stream (Unix socket, TCP, TLS over TCP, or a plain
 * external TCP peer): a {@link StreamWriter} and a {@link StreamReader} on one non-blocking socket.
 * The socket is also the liveness signal: the end of the stream after a CLOSE marker is a clean
 * close, without one the peer is gone. A TCP peer that falls silent (host down, network cut) is
 * ended by the kernel within the set-up's {@link dev.fable.transport.Liveness} bound, set on the
 * socket before this connection is made; its {@code ETIMEDOUT} becomes a {@link PeerGoneException}
 * that says so. That end is noticed when this side receives (or when a send
 * fails), not asynchronously as with shared memory: {@link #state()} stays OPEN until then. (Java
 * gives no portable way to see the peer's FIN or RST without reading the data queued before it.)
 *
 * <p>Waiting: SPIN retries the non-blocking call; BLOCK sleeps in {@code select}; ADAPTIVE spins
 * {@link ConnectOptions#spinNanos()} then sleeps. Each waiting side has its own selector, made on
 * first use by the thread that waits.
 *
 * <p>Threads: as for every connection, one sending and one receiving thread at a time. {@link #close()}
 * may come from any thread: it takes the writer's lock to queue the CLOSE marker behind the last
 * committed frame, so it cannot interleave with a commit.
 */
public final class StreamConnection extends AbstractLeg implements StreamFailure {
    private static final long CLOSE_FLUSH_NANOS = TimeUnit.SECONDS.toNanos(1);

    private final String transport;
    private final long peerPid;
    private final SocketIo io;
    private final SocketChannel channel;
    private final StreamWriter out;
    private final StreamReader in;
    private final WaitMode mode;
    private final long spinNanos;
    private final dev.fable.transport.Liveness liveness;
    private volatile Selector readSelector;
    private volatile Selector writeSelector;

    /**
     * @param framed           false for a plain external peer: bytes go out as written and come in as they arrive
     * @param peerMaxFragment  largest fragment the peer announced it sends (sizes the receive area)
     */
    public StreamConnection(String transport, String localName, String peerName, long peerPid, SocketIo io, boolean framed,
                            int peerMaxFragment, ConnectOptions options, long epoch, LegServices services) {
        super(options, localName, peerName, epoch);
        this.transport = transport;
        this.peerPid = peerPid;
        this.io = io;
        this.channel = io.channel();
        this.mode = options.waitMode();
        this.spinNanos = options.spinNanos();
        this.liveness = services.liveness();
        int slotSize = Math.min(options.slotSize(), StreamFrame.MAX_FRAGMENT);
        int slots = Math.max(2, Math.min(options.slotCount(), STAGING_SLOTS));
        int quota = options.readQuota() > 0 ? options.readQuota() : DEFAULT_READ_QUOTA;
        String label = toString();
        this.out = new StreamWriter(io, framed, slotSize, slots, this::face, epoch, this, label + " (sending)", services);
        this.in = new StreamReader(io, framed, peerMaxFragment, quota, this::face, epoch, label + " (receiving)", services.leaks());
    }

    /** Staging slots per sending side: enough to keep the socket busy, few enough to bound memory (16 × 64 KiB). */
    static final int STAGING_SLOTS = 16;
    /** Read buffers one side may hold at once unless {@link ConnectOptions#readQuota(int)} says otherwise. */
    static final int DEFAULT_READ_QUOTA = 1024;

    @Override public String transport() { return transport; }
    @Override public int maxFragment() { return out.slotSize(); }
    @Override protected Counted sending() { return out; }
    @Override protected Counted receiving() { return in; }

    // ---- sending ----

    @Override
    public Buffer claim(int maxBytes) {
        if (state() != ConnectionState.OPEN) throw ended("claim");
        return out.claim(maxBytes);
    }

    @Override
    public boolean awaitSpace(long deadline) {
        return await(false, deadline);
    }

    /** A reconfiguration leg on the accepting side is in its connection's chain: tell the connector, which waits for it. */
    @Override
    public void installed() {
        if (epoch > 0) out.pushInstalled(System.nanoTime() + TimeUnit.SECONDS.toNanos(5));
    }

    /**
     * Connecting side of a reconfiguration leg: waits until the accepting side has installed it (its
     * {@link StreamFrame#INSTALLED} frame), so that this side's sender, which moves as soon as the
     * switch is set up, never ends the old leg before the peer's receiver can follow it here.
     */
    void awaitInstalled(long deadline) {
        try {
            while (true) {
                int r = in.takeInstalled();
                if (r > 0) return;
                if (r < 0 || state() != ConnectionState.OPEN) {
                    throw new FableException(this + ": the peer did not confirm the new " + transport + " leg (it closed it, or sent "
                            + "something else first); the switch is abandoned");
                }
                if (!await(true, deadline)) {
                    throw new FableException(this + ": the peer did not confirm the new " + transport + " leg in time; the switch is abandoned");
                }
            }
        } catch (IOException e) {
            throw failed("receive", e);
        }
    }

    @Override
    public boolean finishOutput(long deadline) {
        try {
            return super.finishOutput(deadline);
        } catch (FableException e) {
            return true;   // the socket broke: the state says so, and the reconfiguration layer reports it
        }
    }

    @Override
    public boolean tryFinishOutput() {
        try {
            return out.pushEndOfEpoch() || state() != ConnectionState.OPEN;   // the peer is gone: nobody to tell
        } catch (FableException e) {
            return true;   // the socket broke: the state says so, and the reconfiguration layer reports it
        }
    }

    @Override
    public boolean outputFlushed() {
        return out.allHandedToKernel();
    }

    @Override
    public boolean inputFinished() {
        return in.epochEnded();
    }

    @Override
    public boolean skipEndOfEpoch() {
        try {
            return in.skipEndOfEpoch();
        } catch (IOException e) {
            return false;   // the socket broke: the next poll reports it
        }
    }

    @Override
    public int detachHeldBuffers() {
        return in.detachHeld(java.lang.foreign.Arena.ofAuto());
    }

    @Override
    public int readBuffersHeld() {
        return in.held();
    }

    // ---- receiving ----

    @Override
    public Buffer poll() {
        ConnectionState s = state();
        if (s == ConnectionState.FAILED || s == ConnectionState.CLOSED) throw ended("poll");
        try {
            Buffer b = in.poll();
            if (b == null && in.ended()) peerEnded();
            return b;
        } catch (IOException e) {
            throw failed("receive", e);
        } catch (CorruptChannelException e) {
            throw corrupt(e.getMessage());
        }
    }

    @Override
    public boolean readable() {
        ConnectionState s = state();
        if (s == ConnectionState.FAILED || s == ConnectionState.CLOSED) return true;   // the poll that follows says why
        try {
            return in.readable();
        } catch (IOException e) {
            return true;   // the poll that follows fails with it
        }
    }

    @Override
    public java.nio.channels.SelectableChannel selectable() {
        return channel;
    }

    @Override
    public Buffer receive(long deadline) {
        while (true) {
            Buffer b = poll();
            if (b != null) return b;
            if (in.epochEnded()) return null;
            if (state() != ConnectionState.OPEN) throw ended("receive");
            if (!await(true, deadline)) return null;
        }
    }

    private void peerEnded() {
        if (in.endedCleanly()) {
            end(ConnectionState.PEER_CLOSED, new ConnectionClosedException("peer '" + peerName + "' closed " + this));
        } else if (silenced(in.resetCause())) {
            end(ConnectionState.PEER_GONE, new PeerGoneException(silence(in.resetCause())
                    + (in.unparsed() > 0 ? "; it fell silent in the middle of a message (" + in.unparsed() + " B of it were dropped)" : "")
                    + "; every message it sent before that reaches this side (what this side sent may not have reached it)"));
        } else {
            end(ConnectionState.PEER_GONE, new PeerGoneException("peer '" + peerName + "'" + pid() + " of " + this
                    + " went away without closing (crashed, killed or the network dropped"
                    + (in.resetCause() != null ? ": " + in.resetCause() : "") + ")"
                    + (in.unparsed() > 0 ? " in the middle of a message (" + in.unparsed() + " B of it were dropped)" : "")
                    + "; every message it sent before that reaches this side (what this side sent may not have reached it)"));
        }
    }

    /** True if the kernel ended the socket with {@code cause} because the liveness bound ran out (see {@link dev.fable.transport.Liveness}). */
    private boolean silenced(String cause) {
        return liveness.enabled() && dev.fable.transport.Liveness.silencedBy(cause);
    }

    private String silence(String cause) {
        return this + ": peer '" + peerName + "'" + pid() + " gave " + liveness.silence() + "; the host may be down or the network cut ("
                + cause + "; the bound is Fable.Context.peerTimeout, fable.peerTimeoutMillis)";
    }

    private String pid() {
        return peerPid > 0 ? " (pid " + peerPid + ")" : "";
    }

    // ---- waiting ----

    /** Waits until the socket is readable (or writable) or the connection ended; false at the deadline. */
    private boolean await(boolean forRead, long deadline) {
        long now = System.nanoTime();
        long spinEnd = mode == WaitMode.SPIN ? Long.MAX_VALUE : mode == WaitMode.BLOCK ? now : now + spinNanos;
        try {
            for (int i = 1; ; i++) {
                if (state() != ConnectionState.OPEN) return true;
                if (forRead ? in.readable() : out.spaceAvailable()) return true;
                // Each try is a system call, which is backoff enough: no pause, and the clock only every 8th try.
                if ((i & 7) != 0 && (mode == WaitMode.SPIN || mode == WaitMode.ADAPTIVE)) continue;
                now = System.nanoTime();
                if (deadline != Waiter.FOREVER && now - deadline >= 0) return false;
                if (mode == WaitMode.SPIN || now - spinEnd < 0) continue;
                Selector sel = selector(forRead);
                long ms = deadline == Waiter.FOREVER ? 0 : Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - now));
                sel.select(IGNORE_KEY, ms);   // the action form leaves the selected-key set alone: no set node per wake-up
            }
        } catch (IOException e) {
            throw failed(forRead ? "receive" : "send", e);
        } catch (java.nio.channels.ClosedSelectorException e) {
            return true;   // closed under us by close(): the state says why
        }
    }

    private static final java.util.function.Consumer<SelectionKey> IGNORE_KEY = k -> { };

    private Selector selector(boolean forRead) throws IOException {
        Selector s = forRead ? readSelector : writeSelector;
        if (s == null) {
            s = Selector.open();
            channel.register(s, forRead ? SelectionKey.OP_READ : SelectionKey.OP_WRITE);
            if (forRead) readSelector = s; else writeSelector = s;
            if (state() != ConnectionState.OPEN) s.wakeup();
        }
        return s;
    }

    @Override
    protected void wakeAll() {
        Selector r = readSelector;
        Selector w = writeSelector;
        if (r != null) r.wakeup();
        if (w != null) w.wakeup();
    }

    // ---- ending ----

    @Override
    public FableException failed(String op, Exception cause) {
        if (cause instanceof CorruptChannelException c) return corrupt(c.getMessage());
        if (cause instanceof FableException f) return f;
        end(ConnectionState.PEER_GONE, new PeerGoneException(silenced(cause.getMessage())
                ? silence(cause.getMessage()) + "; everything received before was delivered"
                : "peer '" + peerName + "'" + pid() + " of " + this + " is unreachable: " + cause.getMessage()
                        + "; everything received before was delivered"));
        return ended(op);
    }

    /** The subscriber's side of a subscription: data frames may carry the publisher's count of drops. Before use. */
    void readDrops() {
        in.readDrops(this::peerDropped);
    }

    @Override
    public void noteDropped(long n) {
        out.noteDropped(n);
    }

    @Override
    public CorruptChannelException corrupt(String detail) {
        CorruptChannelException e = new CorruptChannelException(this + " failed: " + detail);
        if (end(ConnectionState.FAILED, e)) closeSocket();
        return e;
    }

    @Override
    public void close() {
        if (!markClosed()) return;
        if (channel.isOpen()) pushClose();
        wakeAll();
        closeSocket();
        in.untrackAll();
        out.untrackAll();
    }

    /** Sends what is queued and the CLOSE marker, waiting at most a second for a slow peer. */
    private void pushClose() {
        long deadline = System.nanoTime() + CLOSE_FLUSH_NANOS;
        try (Selector sel = Selector.open()) {
            channel.register(sel, SelectionKey.OP_WRITE);
            while (!out.pushClose()) {
                long left = deadline - System.nanoTime();
                if (left <= 0) return;
                sel.select(Math.max(1, TimeUnit.NANOSECONDS.toMillis(left)));
                sel.selectedKeys().clear();
            }
            io.shutdownOutput();
        } catch (IOException | RuntimeException e) {
            // the peer is gone or the socket broke: nothing more to tell it
        }
    }

    /**
     * Closes the socket. First it reads and drops what the peer sent that nobody will read now: a
     * socket closed with unread data answers with a reset instead of a FIN, and a reset may discard
     * what the peer has not read yet of our last frames (the CLOSE marker among them).
     */
    private void closeSocket() {
        try {
            ByteBuffer scratch = ByteBuffer.allocate(16 * 1024);
            for (int i = 0; i < 64 && channel.isOpen() && !channel.isBlocking(); i++) {
                scratch.clear();
                if (channel.read(scratch) <= 0) break;
            }
        } catch (IOException | RuntimeException ignored) {
            // the peer is gone or the socket is closed already
        }
        Closeables.closeQuietly(channel, readSelector, writeSelector);
    }

    @Override
    public String toString() {
        return transport + " connection '" + localName + "' -> '" + peerName + "'";
    }
}
