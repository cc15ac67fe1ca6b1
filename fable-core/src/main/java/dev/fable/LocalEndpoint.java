package dev.fable;

import dev.fable.naming.Rendezvous;
import dev.fable.naming.UdsRendezvous;
import dev.fable.transport.ControlChannel;
import dev.fable.transport.Frames;
import dev.fable.transport.Transport;
import dev.fable.transport.shm.ShmTransport;

import java.net.URI;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/** The endpoint implementation: a registration with the naming layer plus the transports. */
final class LocalEndpoint implements Endpoint {
    private static final Map<String, Transport> TRANSPORTS = Map.of(ShmTransport.NAME, new ShmTransport());
    private static final long ACCEPT_HANDSHAKE_NANOS = TimeUnit.SECONDS.toNanos(30);

    private final String name;
    private final Rendezvous rendezvous;
    private final Rendezvous.Registration registration;   // null for anonymous endpoints
    private volatile ConnectOptions listenOptions;

    LocalEndpoint(String name, Rendezvous rendezvous, boolean register) {
        this.name = name;
        this.rendezvous = rendezvous;
        this.registration = register ? rendezvous.register(name) : null;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public Endpoint listen(ConnectOptions options) {
        if (registration == null) throw new IllegalStateException("an anonymous endpoint cannot listen; use Fable.register(name)");
        this.listenOptions = options;
        registration.listen();
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
        if (registration == null || listenOptions == null) {
            throw new IllegalStateException("endpoint '" + name + "' is not listening: call listen() first");
        }
        ControlChannel ch = registration.accept(timeoutNanos);
        if (ch == null) return null;
        try {
            ByteBuffer hello = ch.readFrame(System.nanoTime() + ACCEPT_HANDSHAKE_NANOS);
            String transport = Frames.getString(hello, "transport");
            Transport t = TRANSPORTS.get(transport);
            if (t == null) throw new FableException("endpoint '" + name + "': a peer asked for unknown transport '" + transport + "'");
            return t.accept(ch, name, hello, listenOptions);
        } catch (RuntimeException e) {
            ch.close();
            throw e;
        }
    }

    @Override
    public Connection connect(String uri, ConnectOptions options) {
        URI u;
        try {
            u = URI.create(uri);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("not a Fable URI: '" + uri + "' (expected xio://name or xio+shm://name)", e);
        }
        String scheme = u.getScheme();
        String peer = u.getAuthority();
        if (scheme == null || peer == null) {
            throw new IllegalArgumentException("not a Fable URI: '" + uri + "' (expected xio://name or xio+shm://name)");
        }
        String transport;
        switch (scheme) {
            case "xio", "xio+shm" -> transport = ShmTransport.NAME;   // no daemon yet: same host is the only case
            default -> throw new IllegalArgumentException("unsupported scheme '" + scheme + "' in '" + uri
                    + "': this version supports xio:// and xio+shm:// (tcp, unix and tls arrive with the name daemon)");
        }
        UdsRendezvous.checkName(peer);
        ControlChannel ch = rendezvous.connect(peer, options.connectTimeout().toNanos());
        return TRANSPORTS.get(transport).connect(ch, name, peer, options);
    }

    @Override
    public void close() {
        if (registration != null) registration.close();
    }

    @Override
    public String toString() {
        return "endpoint '" + name + "'";
    }
}
