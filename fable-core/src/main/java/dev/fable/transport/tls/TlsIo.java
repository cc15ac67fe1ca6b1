package dev.fable.transport.tls;

import dev.fable.FableException;
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
 * pushed to the socket, reads pull records into {@code netIn} and decrypt them straight into the
 * caller's buffer when it has room for a whole record (else through {@code appIn}, one extra copy).
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
    private final ByteBuffer appIn;
    private final int appSize;
    private final int packetSize;
    private static final ByteBuffer[] NONE = {ByteBuffer.allocate(0)};

    TlsIo(SocketChannel channel, SSLEngine engine) {
        this.channel = channel;
        this.engine = engine;
        this.packetSize = engine.getSession().getPacketBufferSize();
        this.appSize = engine.getSession().getApplicationBufferSize();
        this.netIn = ByteBuffer.allocate(2 * packetSize);
        this.netOut = ByteBuffer.allocate(4 * packetSize);
        this.appIn = ByteBuffer.allocate(appSize);
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
                        if (r.getStatus() == SSLEngineResult.Status.BUFFER_UNDERFLOW) {
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

    @Override
    public int read(ByteBuffer dst) throws IOException {
        if (appIn.position() > 0) return drainAppIn(dst);
        while (true) {
            ByteBuffer target = dst.remaining() >= appSize ? dst : appIn;
            netIn.flip();
            SSLEngineResult r = engine.unwrap(netIn, target);
            netIn.compact();
            if (r.getHandshakeStatus() == SSLEngineResult.HandshakeStatus.NEED_TASK) runTasks();
            switch (r.getStatus()) {
                case OK -> {
                    if (r.bytesProduced() > 0) return target == dst ? r.bytesProduced() : drainAppIn(dst);
                }
                case BUFFER_UNDERFLOW -> {
                    int n = channel.read(netIn);
                    if (n <= 0) return n;   // 0: nothing now; -1: the socket ended without close_notify
                }
                case CLOSED -> {
                    return -1;   // close_notify
                }
                case BUFFER_OVERFLOW -> throw new SSLException("a TLS record larger than the application buffer (" + appSize + " B)");
            }
        }
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
        while (netOut.remaining() >= packetSize) {
            SSLEngineResult r = engine.wrap(srcs, off, len, netOut);
            if (r.getStatus() == SSLEngineResult.Status.CLOSED) throw new SSLException("TLS was closed on this connection");
            if (r.getHandshakeStatus() == SSLEngineResult.HandshakeStatus.NEED_TASK) runTasks();
            if (r.bytesConsumed() == 0 && r.bytesProduced() == 0) break;
            taken += r.bytesConsumed();
            if (!anyRemaining(srcs, off, len)) break;
        }
        flush();
        return taken;
    }

    private static boolean anyRemaining(ByteBuffer[] srcs, int off, int len) {
        for (int i = off; i < off + len; i++) if (srcs[i].hasRemaining()) return true;
        return false;
    }

    @Override
    public boolean flush() throws IOException {
        if (netOut.position() == 0) return true;
        netOut.flip();
        channel.write(netOut);
        boolean empty = !netOut.hasRemaining();
        netOut.compact();
        return empty;
    }

    @Override
    public int minReadRoom() {
        return appSize;
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
