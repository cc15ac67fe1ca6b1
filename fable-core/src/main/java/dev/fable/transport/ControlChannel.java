package dev.fable.transport;

import dev.fable.FableException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.util.concurrent.TimeUnit;

/**
 * The control connection between two ends of a Fable connection: carries the transport handshake
 * (length-prefixed frames), then stays open for the connection's lifetime as the liveness signal
 * (the kernel closes it when a peer dies). No data ever flows through it.
 *
 * <p>Frames: {@code int length} (1 … {@link #MAX_FRAME}) then the payload. Used by one thread during
 * the handshake; afterwards only {@link ControlMonitor} reads it.
 */
public final class ControlChannel implements AutoCloseable {
    public static final int MAX_FRAME = 64 * 1024;

    private final SocketChannel channel;
    private final String description;
    private long epoch;           // set before the handshake by the naming layer; read by the transport that builds the connection
    private byte[] secretToSend;  // acceptor of a connection's first leg: the connection's secret, for the transport to hand over
    private byte[] secretReceived;// connector of a first leg: the secret the acceptor handed over, once the handshake is done
    private byte[] ticketToSend;  // acceptor at its TCP door: a door ticket for the connector's next connection
    private byte[] ticketReceived;// connector: the door ticket the acceptor handed over, once the handshake is done
    private FanoutSlots fanout;   // acceptor of a subscription's leg: the publisher's fan-out pool, for the transport to share
    private BroadcastSource broadcast;   // the same: the publisher's broadcast log, or null
    private boolean subscribing;  // connector of a subscription's leg: it may be handed a fan-out pool (and only then)
    private Selector selector;    // handshake only: the one thread doing the handshake uses it
    private SelectionKey key;
    /** How long a handshake read spins before it sleeps in select (setup path only). */
    private static final long HANDSHAKE_SPIN_NANOS = TimeUnit.MICROSECONDS.toNanos(500);

    public ControlChannel(SocketChannel channel, String description) throws IOException {
        this.channel = channel;
        this.description = description;
        channel.configureBlocking(false);
        if (!(channel.getLocalAddress() instanceof java.net.UnixDomainSocketAddress)) {
            // the handshake is small frames in turns (session, challenge, proof, hello, ...): with Nagle's algorithm a
            // frame written right behind another waits for the peer's delayed ACK, 40 ms on Linux
            channel.setOption(java.net.StandardSocketOptions.TCP_NODELAY, true);
        }
    }

    /** The epoch of the connection (or reconfiguration leg) this channel sets up: 0 first, +1 per switch. */
    public long epoch() {
        return epoch;
    }

    public ControlChannel epoch(long e) {
        this.epoch = e;
        return this;
    }

    /** Acceptor of a subscription's leg: the publisher's fan-out pool, which a transport that can share it hands over. */
    public ControlChannel fanout(FanoutSlots pool) {
        this.fanout = pool;
        return this;
    }

    public FanoutSlots fanout() {
        return fanout;
    }

    /** Acceptor of a subscription's leg: the publisher's broadcast log (null: it has none), for the transport to share. */
    public ControlChannel broadcast(BroadcastSource log) {
        this.broadcast = log;
        return this;
    }

    public BroadcastSource broadcast() {
        return broadcast;
    }

    /** Connector of a subscription's leg: the acceptor may hand over a fan-out pool; any other connector refuses one. */
    public ControlChannel subscribing(boolean s) {
        this.subscribing = s;
        return this;
    }

    public boolean subscribing() {
        return subscribing;
    }

    /** Length of a connection secret, bytes. */
    public static final int SECRET_BYTES = 32;

    /**
     * Acceptor of a connection's first leg: the connection's secret, which the transport hands to the
     * connector inside its handshake (inside TLS for tls). Later legs (REJOINs) carry none.
     */
    public ControlChannel secretToSend(byte[] secret) {
        this.secretToSend = secret;
        return this;
    }

    public byte[] secretToSend() {
        return secretToSend;
    }

    /** Connector: the secret the acceptor's handshake handed over (null if none). */
    public byte[] secretReceived() {
        return secretReceived;
    }

    /** Length of a door ticket's id, bytes. */
    public static final int TICKET_BYTES = 16;

    /** Acceptor at its TCP door: a door ticket the transport hands to the connector beside the secret (not a secret itself). */
    public ControlChannel ticketToSend(byte[] ticket) {
        this.ticketToSend = ticket;
        return this;
    }

    /** Connector: the door ticket the acceptor's handshake handed over (null if none). */
    public byte[] ticketReceived() {
        return ticketReceived;
    }

    /**
     * Appends the secret to send and the door ticket to send (each may be empty) to a handshake frame:
     * {@code byte length, bytes} each.
     */
    public void putSecret(ByteBuffer frame) {
        putChunk(frame, secretToSend);
        putChunk(frame, ticketToSend);
    }

    private static void putChunk(ByteBuffer frame, byte[] b) {
        if (b == null) {
            frame.put((byte) 0);
        } else {
            frame.put((byte) b.length).put(b);
        }
    }

    /** Reads what {@link #putSecret} wrote, as far as the frame has it (a peer that sends none: none). */
    public void takeSecret(ByteBuffer frame) {
        byte[] s = takeChunk(frame, SECRET_BYTES, "connection secret");
        if (s != null) secretReceived = s;
        byte[] t = takeChunk(frame, TICKET_BYTES, "door ticket");
        if (t != null) ticketReceived = t;
    }

    private byte[] takeChunk(ByteBuffer frame, int size, String what) {
        if (!frame.hasRemaining()) return null;
        int n = frame.get() & 0xFF;
        if (n == 0) return null;
        if (n != size || frame.remaining() < n) {
            throw new FableException("control connection " + description + ": malformed " + what + " (" + n + " B, "
                    + frame.remaining() + " B left); is the peer a Fable endpoint of this version?");
        }
        byte[] b = new byte[n];
        frame.get(b);
        return b;
    }

    /** True if this channel is a TCP connection (an endpoint's TCP door), false for a Unix socket. */
    public boolean overTcp() {
        try {
            return !(channel.getLocalAddress() instanceof java.net.UnixDomainSocketAddress);
        } catch (IOException e) {
            return true;   // closed: the stricter door
        }
    }

    /** The peer's address for messages ("unix" for a Unix socket). */
    public String peerAddress() {
        try {
            java.net.SocketAddress a = channel.getRemoteAddress();
            return a instanceof java.net.InetSocketAddress i ? i.getAddress().getHostAddress() + ":" + i.getPort() : "unix";
        } catch (IOException e) {
            return "?";
        }
    }

    public SocketChannel channel() {
        return channel;
    }

    public String description() {
        return description;
    }

    public void writeFrame(ByteBuffer payload) {
        ByteBuffer header = ByteBuffer.allocate(4).putInt(0, payload.remaining());
        try {
            ByteBuffer[] both = {header, payload};
            channel.write(both);   // a handshake frame almost always fits the socket buffer at once
            while (payload.hasRemaining()) {
                if (channel.write(both) == 0) selector(SelectionKey.OP_WRITE).select(100);
            }
        } catch (IOException e) {
            throw new FableException("control connection " + description + " broke while sending the handshake: " + e, e);
        }
    }

    /**
     * The one selector of this channel's handshake, made on first need and closed with
     * {@link #handshakeDone()} or {@link #close()} (opening one costs tens of microseconds).
     */
    private Selector selector(int op) throws IOException {
        if (selector == null) {
            selector = Selector.open();
            key = channel.register(selector, op);
        }
        key.interestOps(op);
        return selector;
    }

    /** Releases the handshake's selector; the channel itself stays open. */
    public void handshakeDone() {
        if (selector != null) {
            try {
                key.cancel();
                selector.close();
            } catch (IOException ignored) {
                // nothing to report
            }
            selector = null;
        }
    }

    /** Reads one frame, waiting until {@code deadlineNanos} ({@link System#nanoTime()} based). */
    public ByteBuffer readFrame(long deadlineNanos) {
        ByteBuffer header = ByteBuffer.allocate(4);
        readFully(header, deadlineNanos);
        int len = header.getInt(0);
        if (len < 1 || len > MAX_FRAME) {
            throw new FableException("control connection " + description + ": frame length " + len + " is out of range; is the peer a Fable endpoint of this version?");
        }
        ByteBuffer body = ByteBuffer.allocate(len);
        readFully(body, deadlineNanos);
        return body.flip();
    }

    private void readFully(ByteBuffer b, long deadline) {
        try {
            long spinEnd = System.nanoTime() + HANDSHAKE_SPIN_NANOS;
            while (b.hasRemaining()) {
                int n = channel.read(b);
                if (n < 0) {
                    throw new FableException("control connection " + description + " closed by the peer during the handshake");
                }
                if (n == 0) {
                    long now = System.nanoTime();
                    long left = deadline - now;
                    if (left <= 0) {
                        throw new FableException("control connection " + description + ": the peer did not answer the handshake in time; "
                                + "is it calling accept()?");
                    }
                    if (now - spinEnd < 0) {
                        Thread.onSpinWait();   // the answer usually comes within microseconds: spare this thread a wake-up
                        continue;
                    }
                    selector(SelectionKey.OP_READ).select(Math.max(1, TimeUnit.NANOSECONDS.toMillis(left)));
                    selector.selectedKeys().clear();
                }
            }
        } catch (IOException e) {
            throw new FableException("control connection " + description + " broke during the handshake: " + e, e);
        }
    }

    /**
     * Ends a refused connection so that the refusal arrives: shuts our output (the refusal goes ahead
     * of a FIN), then reads and drops what the peer had already sent (its hello, say) until it closes,
     * at most 64 KiB or {@code lingerNanos}; only then closes. Closing with its bytes unread would
     * make the kernel answer with a reset, which discards the refusal before the peer reads it.
     */
    public void closeAfterRefusal(long lingerNanos) {
        try {
            channel.shutdownOutput();
            long deadline = System.nanoTime() + lingerNanos;
            ByteBuffer sink = ByteBuffer.allocate(4096);
            for (int total = 0; total < 64 * 1024; ) {
                sink.clear();
                int n = channel.read(sink);
                if (n < 0) break;
                total += n;
                if (n == 0) {
                    long left = deadline - System.nanoTime();
                    if (left <= 0) break;
                    selector(SelectionKey.OP_READ).select(Math.max(1, TimeUnit.NANOSECONDS.toMillis(left)));
                    selector.selectedKeys().clear();
                }
            }
        } catch (IOException | RuntimeException e) {
            // the peer is gone already: nothing to linger for
        }
        close();
    }

    @Override
    public void close() {
        handshakeDone();
        try {
            channel.close();
        } catch (IOException ignored) {
            // closing: nothing left to report
        }
    }
}
