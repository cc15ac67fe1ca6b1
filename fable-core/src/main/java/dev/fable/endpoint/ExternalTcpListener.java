package dev.fable.endpoint;

import dev.fable.transport.LegServices;
import dev.fable.flow.LiveConnection;
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
import dev.fable.ConnectOptions;
import dev.fable.ExternalListener;
import dev.fable.Connection;
import dev.fable.FableException;

/** The one {@link ExternalListener}: a non-blocking TCP server socket and a selector to wait on. */
public final class ExternalTcpListener implements ExternalListener {
    private final ServerSocketChannel server;
    private final Selector selector;
    private final ConnectOptions options;
    private final String where;

    private final LegServices services;
    private final java.util.function.BiConsumer<Connection, String> accepted;

    /** {@code accepted} is told each connection accepted, with a reason for the flow table. */
    public ExternalTcpListener(String uri, ConnectOptions options, LegServices services, java.util.function.BiConsumer<Connection, String> accepted) {
        this.services = services;
        this.accepted = accepted;
        URI u = URI.create(uri);
        if (!"tcp".equals(u.getScheme()) || u.getHost() == null || u.getPort() < 0) {
            throw new IllegalArgumentException("listenExternal needs tcp://host:port (port 0 picks a free one), not '" + uri + "'");
        }
        this.options = options;
        try {
            server = ServerSocketChannel.open();
            server.bind(new InetSocketAddress(u.getHost(), u.getPort()), 128);
            services.liveness().applyToListener(server);   // accepted sockets inherit the bound: no per-connection descriptor scan
            server.configureBlocking(false);
            selector = Selector.open();
            server.register(selector, SelectionKey.OP_ACCEPT);
            where = "tcp://" + u.getHost() + ":" + port();
        } catch (IOException e) {
            throw new FableException("cannot listen on " + uri + ": " + e + "; is the port in use or the address not local?", e);
        }
    }

    @Override
    public int port() {
        try {
            return ((InetSocketAddress) server.getLocalAddress()).getPort();
        } catch (IOException e) {
            throw new FableException("cannot read the port of a closed external listener", e);
        }
    }

    @Override
    public Connection accept(Duration timeout) {
        long t = timeout.toNanos();
        long deadline = System.nanoTime() + t;
        try {
            while (true) {
                SocketChannel ch = server.accept();
                if (ch != null) {
                    try {
                        ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
                        services.liveness().apply(ch);
                        ch.configureBlocking(false);
                    } catch (IOException e) {
                        Closeables.closeQuietly(ch);   // this peer only; the listener keeps listening
                        throw new FableException("cannot set up the connection from a peer on " + where + ": " + e, e);
                    }
                    String peer = ch.getRemoteAddress().toString();
                    Connection c = LiveConnection.external(new StreamConnection(TransportRegistry.TCP_RAW, where, peer.startsWith("/") ? peer.substring(1) : peer, 0,
                            new PlainIo(ch), false, options.slotSize(), options, 0, services));
                    accepted.accept(c, "plain peer accepted on " + where);
                    return c;
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
