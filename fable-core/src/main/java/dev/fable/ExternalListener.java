package dev.fable;

import dev.fable.internal.Closeables;
import dev.fable.transport.Selectors;
import dev.fable.transport.stream.PlainIo;
import dev.fable.transport.stream.StreamConnection;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.net.URI;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.time.Duration;

/**
 * Accepts plain (non-Fable) TCP peers on {@code tcp://host:port}: each accepted socket becomes a
 * {@link Connection} with transport {@code tcp-raw}, like {@code Fable.connect("tcp://…")} gives on
 * the other side of the arrow: {@code send} writes exactly the bytes given, {@code poll} returns the
 * bytes as they arrived (no message boundaries), the peer's end of stream is a clean close.
 *
 * <pre>{@code
 * try (ExternalListener l = Fable.listenExternal("tcp://127.0.0.1:7000", ConnectOptions.trusted());
 *      Connection c = l.accept(Duration.ofSeconds(10))) { ... }
 * }</pre>
 */
public final class ExternalListener implements AutoCloseable {
    private final ServerSocketChannel server;
    private final Selector selector;
    private final ConnectOptions options;
    private final String where;

    ExternalListener(String uri, ConnectOptions options) {
        URI u = URI.create(uri);
        if (!"tcp".equals(u.getScheme()) || u.getHost() == null || u.getPort() < 0) {
            throw new IllegalArgumentException("listenExternal needs tcp://host:port (port 0 picks a free one), not '" + uri + "'");
        }
        this.options = options;
        try {
            server = ServerSocketChannel.open();
            server.bind(new InetSocketAddress(u.getHost(), u.getPort()), 128);
            server.configureBlocking(false);
            selector = Selector.open();
            server.register(selector, SelectionKey.OP_ACCEPT);
            where = "tcp://" + u.getHost() + ":" + port();
        } catch (IOException e) {
            throw new FableException("cannot listen on " + uri + ": " + e + "; is the port in use or the address not local?", e);
        }
    }

    /** The port bound (useful with port 0). */
    public int port() {
        try {
            return ((InetSocketAddress) server.getLocalAddress()).getPort();
        } catch (IOException e) {
            throw new FableException("cannot read the port of a closed external listener", e);
        }
    }

    /** The next plain peer, waiting up to {@code timeout} (negative: without limit); null on timeout. */
    public Connection accept(Duration timeout) {
        long t = timeout.toNanos();
        long deadline = System.nanoTime() + t;
        try {
            while (true) {
                SocketChannel ch = server.accept();
                if (ch != null) {
                    ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
                    ch.configureBlocking(false);
                    String peer = ch.getRemoteAddress().toString();
                    return new StreamConnection(Transports.TCP_RAW, where, peer.startsWith("/") ? peer.substring(1) : peer, 0,
                            new PlainIo(ch), false, options.slotSize(), options, 0);
                }
                if (!Selectors.awaitReady(selector, t, deadline)) return null;
            }
        } catch (IOException e) {
            throw new FableException("accept failed on " + where + ": " + e, e);
        }
    }

    @Override
    public void close() {
        Closeables.closeQuietly(server, selector);
    }

    @Override
    public String toString() {
        return "external listener on " + where;
    }
}
