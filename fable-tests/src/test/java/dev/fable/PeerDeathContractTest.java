package dev.fable;

import dev.fable.testing.Await;
import dev.fable.testing.PeerProcess;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.FutureTask;
import java.util.concurrent.TimeUnit;

import static dev.fable.testing.Names.unique;
import static dev.fable.testing.Names.uri;
import static dev.fable.testing.Tasks.spawn;
import static org.junit.jupiter.api.Assertions.*;

/** The end of a channel by kill -9 of the peer's process: everything it committed is delivered, then the peer is gone for good. */
class PeerDeathContractTest extends ChannelContract {
    /**
     * Child JVM: registers {@code args[2]-data} and {@code args[2]-idle}, connects both to
     * {@code xio+args[0]://args[1]}, commits {@code args[3]} messages (i, ~i) on the data connection,
     * prints "SENT n" and parks until killed.
     */
    public static final class DyingPeer {
        public static void main(String[] args) throws Exception {
            String uri = uri(args[0], args[1]);
            int n = Integer.parseInt(args[3]);
            ConnectOptions o = ConnectOptions.trusted().connectTimeout(Duration.ofSeconds(30));
            Connection data = Fable.register(args[2] + "-data").connect(uri, o);
            Connection idle = Fable.register(args[2] + "-idle").connect(uri, o);
            for (int i = 0; i < n; i++) {
                Buffer b = data.claim(16, Duration.ofSeconds(30));
                b.putLong(0, i);
                b.putLong(8, ~(long) i);
                b.length(16);
                b.commit();
            }
            System.out.println("SENT " + n + " " + data.transport() + " " + idle.transport());
            System.in.read();   // parks here until killed
        }
    }

    /** Accepts a connection from the child, failing at once (with its stderr) if the child exits first. */
    private static Connection acceptFrom(Endpoint ep, PeerProcess peer, String transport) {
        long deadline = System.nanoTime() + LONG.toNanos();
        while (true) {
            Connection c = ep.accept(Duration.ofMillis(200));
            if (c != null) return c;
            if (!peer.process().isAlive()) {
                fail("the child exited with " + peer.process().exitValue() + " before connecting over " + transport
                        + "; stderr:\n" + peer.stderr());
            }
            if (System.nanoTime() - deadline >= 0) {
                fail("the child did not connect over " + transport + " within " + LONG + "; stderr:\n" + peer.stderr());
            }
        }
    }

    interface DyingPeerCase {
        void run(PeerProcess peer, Connection data, Connection idle) throws Exception;
    }

    /**
     * Starts a {@link DyingPeer} over {@code transport}, accepts its two connections, waits until it
     * committed {@code n} messages, and runs {@code body} (which kills it).
     */
    private static void withDyingPeer(String transport, String tag, int n, DyingPeerCase body) throws Exception {
        String name = unique(tag + "-" + transport);
        String child = unique(tag + "-child-" + transport);
        try (Endpoint ep = Fable.register(name).listen();
             PeerProcess peer = PeerProcess.start(DyingPeer.class, transport, name, child, String.valueOf(n))) {
            Map<String, Connection> byPeer = new HashMap<>();
            try {
                for (int i = 0; i < 2; i++) {
                    Connection c = acceptFrom(ep, peer, transport);
                    byPeer.put(c.peerName(), c);
                }
                Connection data = byPeer.get(child + "-data");
                Connection idle = byPeer.get(child + "-idle");
                assertNotNull(data, "peer names seen: " + byPeer.keySet());
                assertNotNull(idle, "peer names seen: " + byPeer.keySet());
                assertEquals(transport, data.transport());
                assertEquals(transport, idle.transport());
                peer.expectLine("SENT " + n + " " + transport + " " + transport);
                assertEquals(ConnectionState.OPEN, data.state());
                assertEquals(ConnectionState.OPEN, idle.state());
                body.run(peer, data, idle);
            } finally {
                for (Connection c : byPeer.values()) c.close();
            }
        }
    }

    /** After the last buffer of a dead peer: one PeerGoneException per call, no hang, no flapping. */
    private static void assertGoneForGood(Connection c, int delivered) {
        assertNull(c.poll(), "poll after the last buffer of a dead peer");
        assertThrows(PeerGoneException.class, () -> c.receive(WAIT), "receive after the last buffer of a dead peer");
        assertThrows(PeerGoneException.class, () -> c.receiveMessage(WAIT), "receiveMessage from a dead peer");
        assertThrows(PeerGoneException.class, () -> c.claim(8), "claim towards a dead peer");
        assertThrows(PeerGoneException.class, () -> c.claim(8, WAIT), "claim(timeout) towards a dead peer");
        assertThrows(PeerGoneException.class, () -> c.send(new byte[100]), "send towards a dead peer");
        assertEquals(ConnectionState.PEER_GONE, c.state(), "the state does not flap");
        assertInstanceOf(PeerGoneException.class, c.failure());
        assertEquals(delivered, c.messagesReceived());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("transports")
    void killedPeerIsGoneAndEverythingItCommittedIsStillDelivered(String transport) throws Exception {
        killAndDrain(transport, "death", false);
    }

    /**
     * As above, but the dead peer had not read what it was sent: sockets then end with a reset
     * (ECONNRESET) instead of an orderly end of stream. The contract is the same.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("transports")
    void killedPeerWithUnreadDataIsGoneAndEverythingItCommittedIsStillDelivered(String transport) throws Exception {
        killAndDrain(transport, "death-unread", true);
    }

    private static void killAndDrain(String transport, String tag, boolean leaveUnread) throws Exception {
        int n = 100;
        withDyingPeer(transport, tag, n, (peer, data, idle) -> {
            if (leaveUnread) {
                data.send(seeded(1, 1000));
                idle.send(seeded(2, 1000));
            }
            FutureTask<Buffer> blocked = spawn("blocked-receive", () -> idle.receive(Duration.ofSeconds(60)));
            peer.kill9();

            ExecutionException e = assertThrows(ExecutionException.class, () -> blocked.get(20, TimeUnit.SECONDS),
                    "a receive blocked on the killed peer must end with an exception");
            assertInstanceOf(PeerGoneException.class, e.getCause(), "a receive blocked on the killed peer");
            assertEquals(ConnectionState.PEER_GONE, idle.state());

            for (int i = 0; i < n; i++) {
                Buffer b;
                try {
                    b = data.receive(WAIT);
                } catch (FableException ended) {
                    throw new AssertionError("message " + i + " of " + n + " committed before the kill was lost: " + ended, ended);
                }
                assertNotNull(b, "message " + i + " of " + n + " committed before the kill");
                assertEquals(i, b.getLong(0), "message " + i);
                assertEquals(~(long) i, b.getLong(8));
                b.release();
            }
            assertGoneForGood(data, n);
            assertGoneForGood(idle, 0);
        });
    }

    /**
     * {@link ConnectionState#PEER_GONE}: the survivor sees the death in {@code state()} within a
     * few seconds without reading; the data stays pollable. Shared memory only, as above.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("asyncEndTransports")
    void killedPeerShowsInStateWithoutReading(String transport) throws Exception {
        int n = 100;
        withDyingPeer(transport, "death-state", n, (peer, data, idle) -> {
            peer.kill9();
            Await.until(() -> data.state() != ConnectionState.OPEN && idle.state() != ConnectionState.OPEN,
                    Duration.ofSeconds(10), () -> "10 s after kill -9 of pid " + peer.pid() + " (nothing read): data connection "
                            + data.state() + ", idle connection " + idle.state());
            assertEquals(ConnectionState.PEER_GONE, data.state());
            assertEquals(ConnectionState.PEER_GONE, idle.state());
            assertInstanceOf(PeerGoneException.class, data.failure());
            for (int i = 0; i < n; i++) {
                Buffer b = data.poll();
                assertNotNull(b, "message " + i + " of " + n + " committed before the kill is not pollable");
                assertEquals(i, b.getLong(0), "message " + i);
                assertEquals(~(long) i, b.getLong(8));
                b.release();
            }
            assertGoneForGood(data, n);
            assertGoneForGood(idle, 0);
        });
    }
}
