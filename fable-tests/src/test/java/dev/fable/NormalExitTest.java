package dev.fable;

import dev.fable.testing.Names;
import dev.fable.testing.PeerProcess;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.time.Duration;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A JVM that exits normally — its main returns with a connection still open, or it gets SIGTERM —
 * closes its connections on the way out: the peer receives what was sent, then a clean close
 * ({@link ConnectionClosedException}), not {@link PeerGoneException} "crashed or killed".
 */
class NormalExitTest {
    private static final Duration LIMIT = Duration.ofSeconds(30);

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"shm", "tcp"})
    void mainReturningWithAnOpenConnectionClosesItCleanly(String transport) throws Exception {
        endsCleanly(transport, "return");
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"shm", "tcp"})
    void sigtermClosesCleanly(String transport) throws Exception {
        endsCleanly(transport, "wait");
    }

    private static void endsCleanly(String transport, String how) throws Exception {
        String name = Names.unique("exit");
        try (Endpoint ep = Fable.register(name).listen(ConnectOptions.trusted());
             PeerProcess peer = PeerProcess.start(NormalExitTest.class, "xio+" + transport + "://" + name, how);
             Connection c = ep.accept(LIMIT)) {
            assertNotNull(c, "the peer connected");
            Buffer b = c.receive(LIMIT);
            assertNotNull(b);
            assertEquals(42, b.getLong(0));
            b.release();
            if (how.equals("wait")) {
                assertEquals("SENT", peer.expectLine("SENT", LIMIT));
                peer.terminate();   // SIGTERM: the JVM runs its shutdown hooks
            }
            ConnectionClosedException end = assertThrows(ConnectionClosedException.class, () -> c.receive(LIMIT),
                    "a normal exit is a clean close, not a crash");
            assertTrue(end.getMessage().contains("closed"), end.getMessage());
            assertEquals(ConnectionState.PEER_CLOSED, c.state());
        }
    }

    /** The peer: connects to args[0], sends 42, then returns from main ("return") or waits for SIGTERM ("wait"); never closes. */
    public static void main(String[] args) throws Exception {
        Connection c = Fable.connect(args[0], ConnectOptions.trusted());
        Buffer b = c.claim(8, LIMIT);
        b.putLong(0, 42);
        b.length(8).commit();
        if (args[1].equals("wait")) {
            System.out.println("SENT");
            System.out.flush();
            Thread.sleep(Long.MAX_VALUE);   // the test ends us with SIGTERM
        }
    }
}
