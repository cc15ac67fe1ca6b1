package dev.fable.transport;

import dev.fable.FableException;
import dev.fable.internal.OwnedDirectory;
import dev.fable.internal.PeerUser;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;


/**
 * Where one listening endpoint accepts connections: a Unix socket (same-host peers: shm and unix)
 * and a TCP socket on this host's advertised address (tcp and tls, from this or another host). The
 * naming layer publishes both addresses; connectors come straight here, never through the daemon.
 *
 * <p>Unix-socket peers must run as this process's uid ({@code SO_PEERCRED}, {@link PeerUser}): a
 * connection from another uid is closed and the refusal logged. The socket's directory must be this
 * uid's ({@link OwnedDirectory}). TCP peers are checked by the transport (tls verifies
 * certificates; plain tcp is for trusted networks only).
 */
public final class EndpointListener implements AutoCloseable {
    private final String name;
    private final Path unixPath;
    private final ServerSocketChannel unix;
    private final ServerSocketChannel tcp;
    private final Selector selector;

    /** {@code liveness}: the bound every accepted TCP socket inherits from the listening one ({@link Liveness#applyToListener}). */
    public EndpointListener(String name, Path socketPath, String tcpHost, Liveness liveness) {
        this.name = name;
        Path unixPath = socketPath;
        try {
            OwnedDirectory.ensure(unixPath.getParent(), "Fable endpoint socket directory", "fable.runtime.dir");
            // published as its real path: where the socket is, even if the runtime directory is a link that later
            // points elsewhere (a process that moved hosts keeps listening where it bound)
            unixPath = unixPath.getParent().toRealPath().resolve(unixPath.getFileName());
            Files.deleteIfExists(unixPath);   // the name service gave us the name: a socket file here is a dead owner's
            unix = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
            unix.bind(UnixDomainSocketAddress.of(unixPath), 128);
            unix.configureBlocking(false);
            tcp = ServerSocketChannel.open();
            tcp.bind(new InetSocketAddress(tcpHost, 0), 128);
            liveness.applyToListener(tcp);
            tcp.configureBlocking(false);
            selector = Selector.open();
            this.unixPath = unixPath;
            unix.register(selector, SelectionKey.OP_ACCEPT);
            tcp.register(selector, SelectionKey.OP_ACCEPT);
        } catch (OwnedDirectory.RefusedException e) {
            throw new FableException(e.getMessage(), e);
        } catch (IOException e) {
            throw new FableException("cannot listen as '" + name + "' on " + unixPath + " and " + tcpHost + ": " + e
                    + "; check fable.runtime.dir and fable.host.address", e);
        }
    }

    /** True once {@link #close()} ran: an accept failure after that is the end, not a passing error. */
    public boolean isClosed() {
        return !unix.isOpen();
    }

    /** The Unix socket's path, to publish. */
    public Path unixPath() {
        return unixPath;
    }

    /** The TCP socket's bound address, to publish. */
    public InetSocketAddress tcpAddress() {
        try {
            return (InetSocketAddress) tcp.getLocalAddress();
        } catch (IOException e) {
            throw new FableException("endpoint '" + name + "': cannot read its TCP address: " + e, e);
        }
    }

    /** The next control channel, waiting up to {@code timeoutNanos} (negative: forever); null on timeout. */
    public ControlChannel accept(long timeoutNanos) {
        long deadline = System.nanoTime() + timeoutNanos;
        try {
            while (true) {
                ControlChannel c = acceptFrom(unix, true);
                if (c == null) c = acceptFrom(tcp, false);
                if (c != null) return c;
                if (!Selectors.awaitReady(selector, timeoutNanos, deadline)) return null;
            }
        } catch (IOException e) {
            if (!unix.isOpen()) throw new FableException("endpoint '" + name + "' was closed", e);
            throw new FableException("accept failed on endpoint '" + name + "': " + e, e);
        } catch (java.nio.channels.ClosedSelectorException e) {   // closed by another thread while accept waited
            throw new FableException("endpoint '" + name + "' was closed while accept waited", e);
        }
    }

    private ControlChannel acceptFrom(ServerSocketChannel server, boolean local) throws IOException {
        while (true) {
            SocketChannel ch = server.accept();
            if (ch == null) return null;
            try {
                if (local) checkSameUser(ch, "a process connecting to '" + name + "'");
                return new ControlChannel(ch, (local ? "unix" : "tcp from " + ch.getRemoteAddress()) + " to '" + name + "'");
            } catch (FableException e) {
                ch.close();
                System.getLogger("dev.fable.transport").log(System.Logger.Level.WARNING, e.getMessage());
            }
        }
    }

    /** Refuses a Unix-socket peer that runs as another uid (SO_PEERCRED; uids are compared, never names). */
    public static void checkSameUser(SocketChannel ch, String who) throws IOException {
        int peer = PeerUser.uid(ch);
        int me = PeerUser.me();
        if (peer != me) {
            throw new FableException(who + " runs as uid " + peer + ", this process as uid " + me
                    + "; Fable connects only processes of the same uid");
        }
    }

    @Override
    public void close() {
        try {
            unix.close();
            tcp.close();
            selector.close();
            Files.deleteIfExists(unixPath);
        } catch (IOException e) {
            System.getLogger("dev.fable.transport").log(System.Logger.Level.WARNING, "closing endpoint '" + name + "'", e);
        }
    }
}
