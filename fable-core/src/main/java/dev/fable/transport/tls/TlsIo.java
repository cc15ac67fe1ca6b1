package dev.fable.transport.tls;

import dev.fable.FableException;
import dev.fable.transport.ControlChannel;
import dev.fable.transport.stream.SocketIo;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLEngineResult;
import javax.net.ssl.SSLException;

/**
 * A {@link SocketIo} through a JSSE {@link SSLEngine}: writes are encrypted into {@code netOut} and
 * pushed to the socket, reads pull records into {@code netIn} and decrypt them into {@code appIn}.
 *
 * <p>With JSSE all engine buffers are heap buffers, and plaintext is staged through heap buffers on both
 * sides ({@code appOut}, {@code appIn}): JSSE's AES-GCM runs at about 2.4 GB/s (wrap and unwrap on
 * one core) between heap buffers here and at 1.5 GB/s when either side is direct, so one memcpy of
 * the plaintext (~20 GB/s) is the cheaper path. JSSE allocates about 13 KB per 64 KiB it encrypts
 * and decrypts (its own record objects); TLS is the one transport whose data path allocates. A native
 * engine ({@link TlsEngineFactory#directBuffers()}, BoringSSL) gets direct buffers: 3.9 GB/s there,
 * 2.6 GB/s with heap ones, and about 320 B allocated per 64 KiB ({@code JsseCeiling}).
 *
 * <p>Buffers and modes: {@code netOut} stays in fill mode (position = end of the bytes waiting for
 * the socket); {@code netIn} and {@code appIn} stay in fill mode too, flipped only inside a call.
 * The reading half ({@code netIn}, {@code appIn}) belongs to the receiving thread, the writing half
 * ({@code netOut}) to the sending thread; the engine allows wrap and unwrap to run at once. A
 * post-handshake message that asks for an answer (a TLS 1.3 KeyUpdate) is answered by the next wrap.
 */
public final class TlsIo implements SocketIo {
    private final SocketChannel channel;
    private final SSLEngine engine;
    private final ByteBuffer netIn;
    private final ByteBuffer netOut;
    private ByteBuffer appIn;   // grows once if the engine needs more room than its session said at first
    private final ByteBuffer appOut;
    private IOException readError;   // receiving thread only: a socket failure behind bytes already returned
    private final int appSize;
    private final boolean direct;
    private final int packetSize;
    private static final ByteBuffer[] NONE = {ByteBuffer.allocate(0)};

    /** {@code direct}: the engine's buffers are direct (a native engine: no copies at its boundary), else heap (JSSE). */
    TlsIo(SocketChannel channel, SSLEngine engine, boolean direct) {
        this.channel = channel;
        this.engine = engine;
        this.packetSize = engine.getSession().getPacketBufferSize();
        this.appSize = engine.getSession().getApplicationBufferSize();
        this.direct = direct;
        this.netIn = allocate(4 * packetSize);   // several records per socket read
        this.netOut = allocate(4 * packetSize);
        this.appIn = allocate(appSize);
        this.appOut = allocate(4 * appSize);
    }

    private ByteBuffer allocate(int bytes) {
        return direct ? ByteBuffer.allocateDirect(bytes) : ByteBuffer.allocate(bytes);
    }

    /** Runs the TLS handshake on the (non-blocking) socket until it completes or {@code deadline} passes. */
    void handshake(long deadline, String what) throws IOException {
        engine.beginHandshake();
        try (Selector sel = Selector.open()) {
            SelectionKey key = channel.register(sel, 0);
            while (true) {
                SSLEngineResult.HandshakeStatus hs = engine.getHandshakeStatus();
                switch (hs) {
                    case NEED_TASK -> runTasks();
                    case NEED_WRAP -> {
                        SSLEngineResult r = engine.wrap(NONE, 0, 1, netOut);
                        if (r.getStatus() == SSLEngineResult.Status.CLOSED) throw new SSLException(what + ": the peer closed during the TLS handshake");
                        if (!flush()) waitFor(sel, key, SelectionKey.OP_WRITE, deadline, what);
                    }
                    case NEED_UNWRAP, NEED_UNWRAP_AGAIN -> {
                        netIn.flip();
                        SSLEngineResult r = engine.unwrap(netIn, appIn);
                        netIn.compact();
                        if (r.getHandshakeStatus() == SSLEngineResult.HandshakeStatus.FINISHED) continue;   // done, though it asked for input
                        if (r.getStatus() == SSLEngineResult.Status.BUFFER_OVERFLOW) {
                            growAppIn();
                        } else if (r.getStatus() == SSLEngineResult.Status.BUFFER_UNDERFLOW) {
                            if (!flush()) {
                                waitFor(sel, key, SelectionKey.OP_WRITE, deadline, what);
                                continue;
                            }
                            int n = channel.read(netIn);
                            if (n < 0) throw new SSLException(what + ": the peer closed the connection during the TLS handshake");
                            if (n == 0) waitFor(sel, key, SelectionKey.OP_READ, deadline, what);
                        } else if (r.getStatus() == SSLEngineResult.Status.CLOSED) {
                            throw new SSLException(what + ": the peer ended TLS during the handshake");
                        }
                    }
                    case FINISHED, NOT_HANDSHAKING -> {
                        while (!flush()) waitFor(sel, key, SelectionKey.OP_WRITE, deadline, what);
                        return;
                    }
                }
            }
        }
    }

    /**
     * The acceptor's last handshake step: one application byte, written after everything the engine
     * sent during the handshake (a TLS 1.3 server sends its NewSessionTicket there).
     */
    void sendReady(String what, ControlChannel control) throws IOException {
        ByteBuffer mark = ByteBuffer.allocate(3 + ControlChannel.SECRET_BYTES + ControlChannel.TICKET_BYTES).put(READY);
        control.putSecret(mark);   // the connection's secret, inside TLS (none on a switch's leg), and a door ticket
        ByteBuffer[] ready = {mark.flip()};
        try (Selector sel = Selector.open()) {
            SelectionKey key = channel.register(sel, 0);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (ready[0].hasRemaining()) write(ready, 0, 1);
            while (!flush()) waitFor(sel, key, SelectionKey.OP_WRITE, deadline, what);
        }
    }

    /**
     * The connector waits for the acceptor's ready byte, and so reads the post-handshake messages
     * before it: a ticket left unread in this socket would make the kernel answer this process's
     * death with a reset instead of a FIN, and a reset can discard what the peer has not read yet of
     * the data this side committed. Anything the acceptor sent after the byte stays in {@code appIn}.
     */
    void awaitReady(long deadline, String what, ControlChannel control) throws IOException {
        ByteBuffer head = ByteBuffer.allocate(2);
        try (Selector sel = Selector.open()) {
            SelectionKey key = channel.register(sel, 0);
            readFully(head, sel, key, deadline, what);
            if (head.get(0) != READY) throw new SSLException(what + ": the peer's first byte after the handshake was not Fable's ready mark");
            int n = head.get(1) & 0xFF;
            if (n != 0 && n != ControlChannel.SECRET_BYTES) throw new SSLException(what + ": malformed connection secret (" + n + " B)");
            ByteBuffer rest = ByteBuffer.allocate(n + 1);   // the secret, then the door ticket's length
            readFully(rest, sel, key, deadline, what);
            int t = rest.get(n) & 0xFF;
            if (t != 0 && t != ControlChannel.TICKET_BYTES) throw new SSLException(what + ": malformed door ticket (" + t + " B)");
            ByteBuffer mark = ByteBuffer.allocate(3 + n + t).put(head.flip()).put(rest.flip());
            readFully(mark, sel, key, deadline, what);
            control.takeSecret(mark.flip().position(1));
        }
    }

    private void readFully(ByteBuffer b, Selector sel, SelectionKey key, long deadline, String what) throws IOException {
        while (b.hasRemaining()) {
            int n = read(b);
            if (n < 0) throw new SSLException(what + ": the peer closed right after the TLS handshake");
            if (n == 0) waitFor(sel, key, SelectionKey.OP_READ, deadline, what);
        }
    }

    private static final byte READY = 'R';

    private static void waitFor(Selector sel, SelectionKey key, int op, long deadline, String what) throws IOException {
        long left = deadline - System.nanoTime();
        if (left <= 0) throw new FableException(what + ": the TLS handshake did not finish in time");
        key.interestOps(op);
        sel.select(Math.max(1, TimeUnit.NANOSECONDS.toMillis(left)));
        sel.selectedKeys().clear();
    }

    private void runTasks() {
        Runnable t;
        while ((t = engine.getDelegatedTask()) != null) t.run();
    }

    /**
     * Decrypts every whole record already here, reading the socket once when none is, until
     * {@code dst} is full. It must not stop after one record: records already pulled off the socket
     * are invisible to {@code select}, so a caller that then waits for readability would sleep on
     * data it has.
     */
    @Override
    public int read(ByteBuffer dst) throws IOException {
        netIn.flip();   // read mode for the whole call: compacting after every record would move the rest each time
        try {
            return readRecords(dst);
        } finally {
            netIn.compact();
        }
    }

    /** {@link #read} with {@code netIn} in read mode (and left so). */
    private int readRecords(ByteBuffer dst) throws IOException {
        int total = 0;
        boolean socketRead = false;
        while (true) {
            if (appIn.position() > 0) {
                total += drainAppIn(dst);
                if (!dst.hasRemaining()) return total;
            }
            SSLEngineResult r = engine.unwrap(netIn, appIn);
            if (r.getHandshakeStatus() == SSLEngineResult.HandshakeStatus.NEED_TASK) runTasks();
            switch (r.getStatus()) {
                case OK -> {
                    // a record decrypted (or a handshake message consumed): go round for the next
                }
                case BUFFER_UNDERFLOW -> {
                    if (socketRead) return total;   // one read per call: the caller loops, we do not spin here
                    socketRead = true;
                    if (readError != null) {
                        IOException e = readError;   // the socket failed after the bytes we returned last time
                        readError = null;
                        throw e;
                    }
                    int n;
                    netIn.compact();
                    try {
                        n = channel.read(netIn);
                    } catch (IOException e) {
                        if (total == 0) throw e;
                        readError = e;   // hand out what was decrypted into dst first; report the failure next call
                        return total;
                    } finally {
                        netIn.flip();
                    }
                    if (n < 0) return total > 0 ? total : -1;   // end without close_notify: report it after what we have
                    if (n == 0) return total;
                }
                case CLOSED -> {
                    return total > 0 ? total : -1;   // close_notify
                }
                case BUFFER_OVERFLOW -> {
                    if (appIn.position() > 0) return total;   // dst is full; what is decrypted stays for the next call
                    growAppIn();   // empty and still too small for this engine (BoringSSL wants room for a whole record)
                }
            }
        }
    }

    /**
     * The most room for plaintext an engine may ask for: a record carries at most 16 KiB (RFC 8446 §5.1); BoringSSL
     * through netty asks for about two (33,344 B). Our cap, whatever the engine says.
     */
    private static final int MAX_APP_BUFFER = 64 * 1024;

    /**
     * The engine asked for more room than {@link #appIn} has although it is empty: once, up to what its session now
     * says, at most {@link #MAX_APP_BUFFER} (set-up, or the first record: not the steady state).
     */
    private void growAppIn() throws SSLException {
        int want = Math.max(engine.getSession().getApplicationBufferSize(), (1 << 14) + 256);
        if (appIn.capacity() >= want || want > MAX_APP_BUFFER) {
            throw new SSLException("the TLS engine asks for " + want + " B of room for one record's plaintext, more than the "
                    + appIn.capacity() + " B it has (at most " + MAX_APP_BUFFER + " B)");
        }
        ByteBuffer bigger = allocate(want);
        bigger.put(appIn.flip());
        appIn = bigger;
    }

    private int drainAppIn(ByteBuffer dst) {
        appIn.flip();
        int n = Math.min(appIn.remaining(), dst.remaining());
        int lim = appIn.limit();
        appIn.limit(appIn.position() + n);
        dst.put(appIn);
        appIn.limit(lim);
        appIn.compact();
        return n;
    }

    @Override
    public long write(ByteBuffer[] srcs, int off, int len) throws IOException {
        if (!flush()) return 0;
        long taken = 0;
        int i = off;
        while (netOut.remaining() >= packetSize) {
            // stage plaintext into the heap buffer (appOut stays in fill mode between calls: bytes not yet encrypted)
            for (; i < off + len && appOut.hasRemaining(); i++) {
                ByteBuffer src = srcs[i];
                int n = Math.min(src.remaining(), appOut.remaining());
                int lim = src.limit();
                src.limit(src.position() + n);
                appOut.put(src);
                src.limit(lim);
                taken += n;
                if (src.hasRemaining()) break;
            }
            if (appOut.position() == 0) break;
            if (!wrapStaged()) break;
        }
        flush();
        return taken;
    }

    /**
     * Encrypts staged plaintext ({@code appOut}) into {@code netOut}, record after record while there is room for
     * one, compacting {@code appOut} once at the end (not after each record: that would move the rest each time).
     * True if anything was encrypted.
     */
    private boolean wrapStaged() throws SSLException {
        appOut.flip();
        boolean progress = false;
        try {
            while (appOut.hasRemaining() && netOut.remaining() >= packetSize) {
                SSLEngineResult r = engine.wrap(appOut, netOut);
                if (r.getStatus() == SSLEngineResult.Status.CLOSED) throw new SSLException("TLS was closed on this connection");
                if (r.getHandshakeStatus() == SSLEngineResult.HandshakeStatus.NEED_TASK) runTasks();
                if (r.bytesConsumed() == 0 && r.bytesProduced() == 0) break;
                progress = true;
            }
        } finally {
            appOut.compact();
        }
        return progress;
    }

    /** Encrypts staged plaintext and writes records until both are empty (true) or the socket is full (false). */
    @Override
    public boolean flush() throws IOException {
        while (true) {
            if (appOut.position() > 0 && netOut.remaining() >= packetSize) wrapStaged();
            if (netOut.position() == 0) return appOut.position() == 0;
            netOut.flip();
            channel.write(netOut);
            boolean empty = !netOut.hasRemaining();
            netOut.compact();
            if (!empty) return false;   // the socket is full
            if (appOut.position() == 0) return true;
        }
    }

    @Override
    public void shutdownOutput() {
        try {
            engine.closeOutbound();
            engine.wrap(NONE, 0, 1, netOut);
            flush();
        } catch (IOException ignored) {
            // best effort: the socket's end follows
        }
    }

    @Override
    public SocketChannel channel() {
        return channel;
    }
}
