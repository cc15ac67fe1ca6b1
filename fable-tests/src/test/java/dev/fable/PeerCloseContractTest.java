package dev.fable;

import dev.fable.testing.Await;
import dev.fable.testing.Pair;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.time.Duration;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.FutureTask;
import java.util.concurrent.TimeUnit;

import static dev.fable.testing.Tasks.spawn;
import static org.junit.jupiter.api.Assertions.*;

/** The end of a channel by close: everything committed before it is delivered, then each call says the connection ended. */
class PeerCloseContractTest extends ChannelContract {
    private static final byte[] LAST_WORDS = seeded(77, 100_000);

    /** Commits 10 small messages (i, ~i) and a 100,000-byte one, then closes: checks this side's view of its own close. */
    private static void sendThenClose(Connection c) {
        for (int i = 0; i < 10; i++) {
            Buffer b = c.claim(16, WAIT);
            assertNotNull(b);
            b.putLong(0, i);
            b.putLong(8, ~(long) i);
            b.length(16);
            b.commit();
        }
        c.send(LAST_WORDS);
        c.close();
        assertEquals(ConnectionState.CLOSED, c.state());
        c.close();  // idempotent
        assertEquals(ConnectionState.CLOSED, c.state());
        assertThrows(ConnectionClosedException.class, () -> c.claim(8), "claim after own close");
        assertThrows(ConnectionClosedException.class, () -> c.claim(8, Duration.ofSeconds(5)), "claim(timeout) after own close");
        assertThrows(ConnectionClosedException.class, () -> c.send(new byte[10]), "send after own close");
        assertThrows(ConnectionClosedException.class, () -> c.receive(Duration.ofSeconds(5)), "receive after own close");
        assertEquals(ConnectionState.CLOSED, c.state(), "the state does not flap");
    }

    /** Receives what {@link #sendThenClose} sent, with blocking receives. */
    private static void receiveLastWords(Connection s, long writerFragment) {
        for (int i = 0; i < 10; i++) {
            Buffer b = s.receive(WAIT);
            assertNotNull(b, "message " + i + " committed before close was lost");
            assertEquals(i, b.getLong(0));
            assertEquals(~(long) i, b.getLong(8));
            b.release();
        }
        assertArrayEquals(LAST_WORDS, s.receiveMessage(WAIT), "the message sent just before close");
        assertEquals(11, s.messagesReceived(), "whole messages");
        assertEquals(10 + (LAST_WORDS.length + writerFragment - 1) / writerFragment, s.fragmentsReceived(), "fragments");
        assertEquals(10 * 16 + LAST_WORDS.length, s.bytesReceived());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("transports")
    void peerCloseDeliversEverythingCommittedThenEnds(String transport) throws Exception {
        try (Pair p = open(transport, "close")) {
            Connection s = p.server();
            int writerFragment = p.client().maxFragment();
            sendThenClose(p.client());

            receiveLastWords(s, writerFragment);
            assertThrows(ConnectionClosedException.class, () -> s.receive(WAIT), "receive after the last buffer");
            assertEquals(ConnectionState.PEER_CLOSED, s.state());
            assertInstanceOf(ConnectionClosedException.class, s.failure());
            assertNull(s.poll(), "poll after the last buffer answers null");
            assertThrows(ConnectionClosedException.class, () -> s.receive(WAIT), "receive, again");
            assertThrows(ConnectionClosedException.class, () -> s.receiveMessage(WAIT), "receiveMessage after the last buffer");
            assertThrows(ConnectionClosedException.class, () -> s.claim(8), "claim towards a closed peer");
            assertEquals(ConnectionState.PEER_CLOSED, s.state(), "the state does not flap");
            s.close();
            s.close();
            assertEquals(ConnectionState.CLOSED, s.state());
        }
    }

    /**
     * {@link Connection}: "When the peer closes ... state() changes; everything it committed before
     * that can still be polled." The survivor sees PEER_CLOSED without reading first. Shared memory
     * only: a socket transport learns of the end when it reads up to it (see StreamConnection).
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("asyncEndTransports")
    void peerCloseShowsInStateBeforeTheDataIsRead(String transport) throws Exception {
        try (Pair p = open(transport, "close-state")) {
            Connection s = p.server();
            int writerFragment = p.client().maxFragment();
            sendThenClose(p.client());
            Await.until(() -> s.state() != ConnectionState.OPEN, Duration.ofSeconds(10),
                    () -> "the survivor's state is still " + s.state() + " 10 s after the peer closed (nothing read yet)");
            assertEquals(ConnectionState.PEER_CLOSED, s.state());
            assertInstanceOf(ConnectionClosedException.class, s.failure());
            receiveLastWords(s, writerFragment);
            assertThrows(ConnectionClosedException.class, () -> s.receive(WAIT), "receive after the last buffer");
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("transports")
    void peerCloseWakesABlockedReceive(String transport) throws Exception {
        try (Pair p = open(transport, "close-wake")) {
            FutureTask<Buffer> blocked = spawn("blocked-receive", () -> p.server().receive(Duration.ofSeconds(60)));
            p.client().close();
            // the peer's close ends the blocked receive with ConnectionClosedException, not a 60 s wait
            ExecutionException e = assertThrows(ExecutionException.class, () -> blocked.get(20, TimeUnit.SECONDS));
            assertInstanceOf(ConnectionClosedException.class, e.getCause());
            assertEquals(ConnectionState.PEER_CLOSED, p.server().state());
            p.server().close();
            p.server().close();
            assertEquals(ConnectionState.CLOSED, p.server().state());
        }
    }
}
