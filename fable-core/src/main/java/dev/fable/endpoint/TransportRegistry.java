package dev.fable.endpoint;

import dev.fable.transport.LegServices;
import dev.fable.flow.LiveConnection;
import dev.fable.internal.Closeables;
import dev.fable.transport.tls.HostIdentity;
import dev.fable.transport.Transport;
import dev.fable.transport.shm.ShmTransport;
import dev.fable.transport.stream.PlainIo;
import dev.fable.transport.stream.StreamConnection;
import dev.fable.transport.stream.StreamTransport;
import dev.fable.transport.tls.TlsTransport;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.StandardSocketOptions;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.util.Map;
import dev.fable.ConnectOptions;
import dev.fable.Connection;
import dev.fable.FableException;
import dev.fable.PeerGoneException;

/** The transports of this process by name, and plain connections to external (non-Fable) peers. */
public final class TransportRegistry {
    /** Transport name of a connection to a plain TCP peer: raw bytes, no Fable framing. */
    static final String TCP_RAW = "tcp-raw";
    static final String UNIX_RAW = "unix-raw";

    private final Map<String, Transport> byName;

    private final LegServices services;
    private final java.nio.file.Path stateDir;
    private volatile HostIdentity identity;   // loaded on first need (the daemon creates it)
    private final DoorTickets.Held tickets = new DoorTickets.Held();

    /** {@code stateDir}: where this host's TLS identity is (null: the default); {@code services}: the set-up's leak detector and threads. */
    TransportRegistry(java.util.function.Predicate<String> knownHost, java.nio.file.Path stateDir, java.nio.file.Path shmDir,
                      LegServices services) {
        this.services = services;
        this.stateDir = stateDir;
        TlsTransport tls = new TlsTransport(this::identity, knownHost, services);
        byName = Map.of(
                ShmTransport.NAME, new ShmTransport(shmDir, services),
                StreamTransport.UNIX, new StreamTransport(StreamTransport.UNIX, false, services),
                StreamTransport.TCP, new StreamTransport(StreamTransport.TCP, true, services),
                TlsTransport.NAME, tls);
    }

    /** This host's identity (key and certificate), from the set-up's state directory; loaded once. */
    HostIdentity identity() {
        HostIdentity id = identity;
        if (id == null) {
            synchronized (this) {
                id = identity;
                if (id == null) identity = id = HostIdentity.load(stateDir != null ? stateDir : HostIdentity.defaultDirectory());
            }
        }
        return id;
    }

    /**
     * This host's identity as its daemon knows it ({@code daemonFingerprint}, from the daemon's
     * WELCOME): the one loaded, or, when that is another key, loaded again (a process that moved
     * hosts, whose state directory now holds the new host's key).
     *
     * @throws FableException if the state directory holds another key than the daemon's
     */
    HostIdentity identity(String daemonFingerprint) {
        HostIdentity id = identity();
        if (id.fingerprint().equalsIgnoreCase(daemonFingerprint)) return id;
        synchronized (this) {
            id = HostIdentity.load(stateDir != null ? stateDir : HostIdentity.defaultDirectory());
            identity = id;
        }
        if (!id.fingerprint().equalsIgnoreCase(daemonFingerprint)) {
            throw new FableException("this process's host key (" + id.directory() + ", certificate sha256 " + id.fingerprint()
                    + ") is not its name daemon's (" + daemonFingerprint + "), so its TCP door cannot prove who it is; "
                    + "run it with the daemon's state directory (fable.state.dir, Fable.Context.stateDir)");
        }
        return id;
    }

    /** The door tickets this set-up holds for the TCP doors it connects to. */
    DoorTickets.Held tickets() {
        return tickets;
    }

    ShmTransport shm() {
        return (ShmTransport) byName.get(ShmTransport.NAME);
    }

    LegServices services() {
        return services;
    }

    Transport get(String name) {
        return byName.get(name);
    }

    /**
     * A connection to a plain peer: {@code send} writes exactly the bytes given, {@code poll} returns
     * whatever bytes arrived (no message boundaries), the peer's end of stream is a clean close.
     */
    Connection external(Target t, String localName, ConnectOptions options) {
        boolean tcp = t.scheme().equals("tcp");
        String where = tcp ? t.host() + ":" + t.port() : t.path();
        SocketChannel ch = null;
        try {
            if (tcp) {
                ch = services.liveness().connect(new InetSocketAddress(t.host(), t.port()));
                ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
            } else {
                ch = SocketChannel.open(StandardProtocolFamily.UNIX);
                ch.connect(UnixDomainSocketAddress.of(t.path()));
            }
            ch.configureBlocking(false);
            return LiveConnection.external(new StreamConnection(tcp ? TCP_RAW : UNIX_RAW, localName, where, 0, new PlainIo(ch), false, options.slotSize(), options, 0, services));
        } catch (IOException e) {
            Closeables.closeQuietly(ch);
            throw new PeerGoneException("cannot connect to " + t.scheme() + "://" + where + ": " + e
                    + "; is the peer listening there?", e);
        }
    }
}
