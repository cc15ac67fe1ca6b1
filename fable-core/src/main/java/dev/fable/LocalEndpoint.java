package dev.fable;

import dev.fable.internal.Closeables;
import dev.fable.naming.NameService;
import dev.fable.naming.NamingConfig;
import dev.fable.transport.ControlChannel;
import dev.fable.transport.EndpointListener;
import dev.fable.transport.Frames;
import dev.fable.transport.Transport;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * The endpoint implementation: a name held through the {@link NameService}, an
 * {@link EndpointListener} once listening, and the transports ({@link Transports}).
 */
final class LocalEndpoint implements Endpoint {
    private static final long ACCEPT_HANDSHAKE_NANOS = TimeUnit.SECONDS.toNanos(30);

    private final String name;
    private final NameService names;
    private final Transports transports;
    private final NameService.Registration registration;   // null for anonymous endpoints
    private EndpointListener listener;                      // guarded by this
    private boolean closed;                                 // guarded by this
    private volatile ConnectOptions listenOptions;

    LocalEndpoint(String name, NameService names, Transports transports, boolean register) {
        this.name = name;
        this.names = names;
        this.transports = transports;
        this.registration = register ? names.register(NamingConfig.checkName(name)) : null;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public synchronized Endpoint listen(ConnectOptions options) {
        if (registration == null) throw new IllegalStateException("an anonymous endpoint cannot listen; use Fable.register(name)");
        if (closed) throw new IllegalStateException("endpoint '" + name + "' is closed; register the name again");
        this.listenOptions = options;
        if (listener == null) {
            Path sock = NamingConfig.endpointSocket(name);
            listener = new EndpointListener(name, sock, names.host().advertiseHost());
            registration.listening(listener.address());
            dev.fable.transport.shm.ShmTransport.prepare(options);   // the first shm accept finds its pool ready
        }
        return this;
    }

    @Override
    public Connection accept() {
        return accept(-1);
    }

    @Override
    public Connection accept(Duration timeout) {
        return accept(timeout.toNanos());
    }

    @Override
    public Connection tryAccept() {
        return accept(0);
    }

    private Connection accept(long timeoutNanos) {
        EndpointListener l;
        synchronized (this) {
            l = listener;
        }
        if (l == null || listenOptions == null) {
            throw new IllegalStateException("endpoint '" + name + "' is not listening: call listen() first");
        }
        ControlChannel ch = l.accept(timeoutNanos);
        if (ch == null) return null;
        try {
            ByteBuffer hello = ch.readFrame(System.nanoTime() + ACCEPT_HANDSHAKE_NANOS);
            String transport = Frames.getString(hello, "transport");
            Transport t = transports.get(transport);
            if (t == null) throw new FableException("endpoint '" + name + "': a peer asked for unknown transport '" + transport + "'");
            Connection c = t.accept(ch, name, hello, listenOptions);
            FlowTable.add(c, NameService.ACCEPTED_REASON);
            return c;
        } catch (RuntimeException e) {
            ch.close();
            throw e;
        }
    }

    @Override
    public Connection connect(String uri, ConnectOptions options) {
        Target target = Target.parse(uri);
        if (target.external()) return Transports.external(target, name, options);
        NameService.Route route = names.resolve(target.name(), new NameService.RouteRequest(options.isTrusted(), target.forcedTransport()),
                options.connectTimeout().toNanos());
        Transport t = transports.get(route.transport());
        if (t == null) {
            throw new FableException("the name daemon chose transport '" + route.transport() + "' for '" + target.name()
                    + "', which this library does not have; update Fable on this host");
        }
        Connection c = t.connect(() -> open(route, t), name, route, options);
        FlowTable.add(c, route.reason());
        return c;
    }

    /** Opens the socket the transport runs over: the peer's Unix socket on this host, else its TCP port. */
    private static ControlChannel open(NameService.Route route, Transport t) {
        boolean viaTcp = t.crossesHosts();
        String where = viaTcp ? route.tcpHost() + ":" + route.tcpPort() : route.unixPath();
        if (viaTcp ? route.tcpPort() <= 0 : route.unixPath() == null) {
            throw new FableException("endpoint '" + route.peerName() + "' has no " + (viaTcp ? "TCP" : "Unix socket")
                    + " address for transport " + t.name() + " (route: " + route + ")");
        }
        SocketChannel ch = null;
        try {
            ch = viaTcp ? SocketChannel.open(new InetSocketAddress(route.tcpHost(), route.tcpPort()))
                    : SocketChannel.open(StandardProtocolFamily.UNIX);
            if (!viaTcp) {
                ch.connect(UnixDomainSocketAddress.of(route.unixPath()));
                EndpointListener.checkSameUser(ch, "endpoint '" + route.peerName() + "'");
            }
            return new ControlChannel(ch, t.name() + " to '" + route.peerName() + "' at " + where);
        } catch (IOException | RuntimeException e) {
            Closeables.closeQuietly(ch);
            if (e instanceof FableException f) throw f;
            throw new PeerGoneException("cannot reach endpoint '" + route.peerName() + "' at " + where + " over " + t.name()
                    + ": " + e + "; it may have just exited (its name goes within a second)", e);
        }
    }

    @Override
    public synchronized void close() {
        if (closed) return;   // once the name is released, its socket may be a new owner's
        closed = true;
        if (listener != null) listener.close();
        if (registration != null) registration.close();
    }

    @Override
    public String toString() {
        return "endpoint '" + name + "'";
    }
}
