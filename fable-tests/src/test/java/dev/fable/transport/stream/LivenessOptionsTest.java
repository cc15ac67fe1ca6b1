package dev.fable.transport.stream;

import dev.fable.ConnectOptions;
import dev.fable.Connection;
import dev.fable.Endpoint;
import dev.fable.ExternalListener;
import dev.fable.Fable;
import dev.fable.testing.TcpSockets;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.net.InetSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every TCP socket of a set-up carries its liveness bound ({@code Fable.Context.peerTimeout}), read
 * back from the kernel with {@code getsockopt}: keepalive with idle, interval and count, and
 * {@code TCP_USER_TIMEOUT}, on both ends of a tcp and a tls connection made through the daemon and
 * on the sockets to plain external peers (Fable connecting and Fable accepting). Needs no root:
 * {@link PartitionTest} shows the bound at work when a network is cut.
 */
@Timeout(value = 120, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class LivenessOptionsTest {
    private static final Duration WAIT = Duration.ofSeconds(20);
    /** 7 s: keepalive idle 3 s, one probe a second, 4 probes; TCP_USER_TIMEOUT 6 s. Not the 10 s default, so the context's value shows. */
    private static final Duration BOUND = Duration.ofSeconds(7);
    private static final String EXPECTED = "keepalive=1 idle=3 intvl=1 cnt=4 user_timeout=6000";
    private static final String KERNEL_DEFAULT_USER_TIMEOUT = "user_timeout=0";

    @TempDir
    static Path dir;

    private static Fable.Context context(Duration bound) {
        return new Fable.Context().runtimeDir(dir.resolve("run")).stateDir(dir.resolve("state")).shmDir(dir.resolve("shm")).peerTimeout(bound);
    }

    @Test
    void tcpAndTlsLegsCarryTheBoundOnBothEnds() throws Exception {
        try (Fable f = Fable.launch(context(BOUND))) {
            for (String transport : new String[] {"tcp", "tls"}) {
                String name = "live-" + transport + "-" + ProcessHandle.current().pid();
                try (Endpoint ep = f.endpoint(name).listen(ConnectOptions.trusted())) {
                    Set<TcpSockets.Socket> before = new HashSet<>(TcpSockets.connected());
                    CompletableFuture<Connection> accepted = CompletableFuture.supplyAsync(() -> ep.accept(WAIT));
                    try (Connection c = f.open("xio+" + transport + "://" + name, ConnectOptions.trusted());
                         Connection s = accepted.get(WAIT.toSeconds(), TimeUnit.SECONDS)) {
                        assertNotNull(s, "accepted");
                        assertEquals(transport, c.transport());
                        c.send(new byte[] {1, 2, 3});
                        assertEquals(3, s.receiveMessage(WAIT).length, "the leg carries data");
                        List<TcpSockets.Socket> pair = newPair(before);
                        for (TcpSockets.Socket end : pair) {
                            assertEquals(EXPECTED, end.options(), transport + " leg, end " + end);
                        }
                    }
                }
            }
        }
    }

    @Test
    void socketsToPlainExternalPeersCarryTheBoundWhicheverSideConnects() throws Exception {
        try (Fable f = Fable.launch(context(BOUND))) {
            // Fable connects to a plain peer (this test's own server socket)
            try (ServerSocketChannel server = ServerSocketChannel.open().bind(new InetSocketAddress("127.0.0.1", 0))) {
                InetSocketAddress at = (InetSocketAddress) server.getLocalAddress();
                try (Connection c = f.open("tcp://127.0.0.1:" + at.getPort(), ConnectOptions.trusted());
                     SocketChannel plain = server.accept()) {
                    TcpSockets.Socket fable = TcpSockets.between((InetSocketAddress) plain.getRemoteAddress(), at);
                    assertEquals(EXPECTED, fable.options(), "Fable's socket to a plain peer, " + fable);
                    TcpSockets.Socket other = TcpSockets.between(at, (InetSocketAddress) plain.getRemoteAddress());
                    assertFalse(other.keepalive(), "control: the plain peer's socket keeps the kernel's defaults: " + other.options());
                }
            }
            // a plain peer connects to Fable's external listener
            try (ExternalListener l = f.externalListener("tcp://127.0.0.1:0", ConnectOptions.trusted());
                 SocketChannel plain = SocketChannel.open(new InetSocketAddress("127.0.0.1", l.port()));
                 Connection c = l.accept(WAIT)) {
                assertNotNull(c, "accepted");
                TcpSockets.Socket fable = TcpSockets.between((InetSocketAddress) plain.getRemoteAddress(),
                        (InetSocketAddress) plain.getLocalAddress());
                assertEquals(EXPECTED, fable.options(), "the socket Fable's external listener accepted, " + fable);
            }
        }
    }

    @Test
    void aZeroBoundLeavesTheKernelDefaultsAndTooShortABoundIsRefused() throws Exception {
        try (Fable f = Fable.launch(context(Duration.ZERO));
             ServerSocketChannel server = ServerSocketChannel.open().bind(new InetSocketAddress("127.0.0.1", 0))) {
            InetSocketAddress at = (InetSocketAddress) server.getLocalAddress();
            try (Connection c = f.open("tcp://127.0.0.1:" + at.getPort(), ConnectOptions.trusted());
                 SocketChannel plain = server.accept()) {
                TcpSockets.Socket fable = TcpSockets.between((InetSocketAddress) plain.getRemoteAddress(), at);
                assertFalse(fable.keepalive(), "off: no keepalive, " + fable.options());
                assertTrue(fable.options().endsWith(KERNEL_DEFAULT_USER_TIMEOUT), "off: no user timeout, " + fable.options());
            }
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new Fable.Context().peerTimeout(Duration.ofMillis(1500)));
        assertTrue(e.getMessage().contains("at least 2000 ms"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new Fable.Context().peerTimeout(Duration.ofSeconds(-1)));
        if (System.getProperty("fable.peerTimeoutMillis") == null && System.getenv("FABLE_PEERTIMEOUTMILLIS") == null) {
            assertEquals(Duration.ofSeconds(10), new Fable.Context().peerTimeout(), "the default bound");
        }
    }

    /**
     * What spares the accepting side a descriptor search: a listener given the bound hands it to every
     * socket it accepts, before any Fable code touches that socket, and {@code Liveness.connect} sets
     * it on a connecting socket before returning it. Read from the kernel with no {@code apply} call.
     */
    @Test
    void aListenerHandsTheBoundToTheSocketsItAcceptsAndConnectSetsItOnTheWayOut() throws Exception {
        dev.fable.transport.Liveness bound = dev.fable.transport.Liveness.ofMillis(BOUND.toMillis());
        try (ServerSocketChannel server = ServerSocketChannel.open().bind(new InetSocketAddress("127.0.0.1", 0))) {
            bound.applyToListener(server);
            InetSocketAddress at = (InetSocketAddress) server.getLocalAddress();
            try (SocketChannel plain = SocketChannel.open(at); SocketChannel accepted = server.accept()) {
                TcpSockets.Socket inherited = TcpSockets.between((InetSocketAddress) plain.getRemoteAddress(),
                        (InetSocketAddress) plain.getLocalAddress());
                assertEquals(EXPECTED, inherited.options(), "the accepted socket, untouched since accept, " + inherited);
                TcpSockets.Socket other = TcpSockets.between((InetSocketAddress) plain.getLocalAddress(), at);
                assertFalse(other.keepalive(), "control: the plain connector keeps the kernel's defaults: " + other.options());
            }
            try (SocketChannel fable = bound.connect(at); SocketChannel accepted = server.accept()) {
                TcpSockets.Socket s = TcpSockets.between((InetSocketAddress) fable.getLocalAddress(), at);
                assertEquals(EXPECTED, s.options(), "the socket Liveness.connect made, " + s);
            }
        }
    }

    /** The two sockets that appeared since {@code before} and are the two ends of one connection. */
    private static List<TcpSockets.Socket> newPair(Set<TcpSockets.Socket> before) {
        List<TcpSockets.Socket> fresh = new ArrayList<>(TcpSockets.connected());
        fresh.removeAll(before);
        for (TcpSockets.Socket a : fresh) {
            for (TcpSockets.Socket b : fresh) {
                if (a.local().equals(b.peer()) && b.local().equals(a.peer())) return List.of(a, b);
            }
        }
        throw new AssertionError("no new connected pair of TCP sockets in this process: " + fresh);
    }
}
