package dev.fable;

import dev.fable.testing.Pair;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.time.Duration;
import java.util.concurrent.FutureTask;

import static dev.fable.testing.Names.unique;
import static dev.fable.testing.Names.uri;
import static dev.fable.testing.Tasks.join;
import static dev.fable.testing.Tasks.spawn;
import static org.junit.jupiter.api.Assertions.*;

/** Messages arrive once, in order, whole and exact, at every size; the counters and names say what was sent. */
class MessageOrderContractTest extends ChannelContract {
    // ---- ordering ----

    private static final int ORDERED = 100_000;

    private static Void sendSequence(Connection c, int n) {
        for (int i = 0; i < n; i++) {
            Buffer b = c.claim(16, WAIT);
            assertNotNull(b, "claim for message " + i + " timed out");
            b.putLong(0, i);
            b.putLong(8, ~(long) i);
            b.commit();
        }
        return null;
    }

    private static Void receiveSequence(Connection c, int n, String dir) {
        for (int i = 0; i < n; i++) {
            Buffer b = c.receive(WAIT);
            assertNotNull(b, dir + ": message " + i + " of " + n + " never arrived");
            assertEquals(16, b.length(), dir + ": length of message " + i);
            long seq = b.getLong(0);
            if (seq != i) fail(dir + ": message " + i + " arrived as sequence " + seq);
            assertEquals(~(long) i, b.getLong(8), dir + ": second word of message " + i);
            b.release();
        }
        return null;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("transports")
    void hundredThousandMessagesArriveInOrderOneWay(String transport) throws Exception {
        try (Pair p = open(transport, "order1")) {
            FutureTask<Void> tx = spawn("order-tx", () -> sendSequence(p.client(), ORDERED));
            receiveSequence(p.server(), ORDERED, "client->server");
            join(tx);
            assertNull(p.server().poll(), "nothing beyond the sequence");
            assertEquals(ORDERED, p.client().messagesSent());
            assertEquals(ORDERED, p.server().messagesReceived());
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("transports")
    void hundredThousandMessagesEachWayAtOnceArriveInOrder(String transport) throws Exception {
        try (Pair p = open(transport, "order2")) {
            FutureTask<Void> txC = spawn("order-tx-client", () -> sendSequence(p.client(), ORDERED));
            FutureTask<Void> txS = spawn("order-tx-server", () -> sendSequence(p.server(), ORDERED));
            FutureTask<Void> rxC = spawn("order-rx-client", () -> receiveSequence(p.client(), ORDERED, "server->client"));
            receiveSequence(p.server(), ORDERED, "client->server");
            join(rxC);
            join(txC);
            join(txS);
            assertEquals(ORDERED, p.client().messagesSent());
            assertEquals(ORDERED, p.client().messagesReceived());
            assertEquals(ORDERED, p.server().messagesSent());
            assertEquals(ORDERED, p.server().messagesReceived());
        }
    }

    // ---- message sizes ----

    static final int[] SIZES = {1, 63, KIB_64 - 1, KIB_64, KIB_64 + 1, 1 << 20, 16 << 20};

    @ParameterizedTest(name = "{0}")
    @MethodSource("transports")
    void messagesOfEverySizeArriveWholeAndExactBothWays(String transport) throws Exception {
        try (Pair p = open(transport, "sizes")) {
            FutureTask<Void> up = spawn("sizes-up", () -> {
                for (int size : SIZES) p.client().send(seeded(size, size));
                return null;
            });
            FutureTask<Void> down = spawn("sizes-down", () -> {
                for (int size : SIZES) p.server().send(seeded(~size, size));
                return null;
            });
            FutureTask<Void> rxClient = spawn("sizes-rx-client", () -> {
                for (int size : SIZES) {
                    byte[] got = p.client().receiveMessage(WAIT);
                    assertNotNull(got, "server->client: message of " + size + " B never arrived");
                    assertArrayEquals(seeded(~size, size), got, "server->client: message of " + size + " B");
                }
                return null;
            });
            for (int size : SIZES) {
                byte[] got = p.server().receiveMessage(WAIT);
                assertNotNull(got, "client->server: message of " + size + " B never arrived");
                assertArrayEquals(seeded(size, size), got, "client->server: message of " + size + " B");
            }
            join(rxClient);
            join(up);
            join(down);
            long total = 0;
            for (int size : SIZES) total += size;
            assertEquals(total, p.client().bytesSent());
            assertEquals(total, p.server().bytesReceived());
            assertEquals(total, p.server().bytesSent());
            assertEquals(total, p.client().bytesReceived());
            assertNull(p.server().poll(), "message boundaries: nothing left over");
            assertNull(p.client().poll(), "message boundaries: nothing left over");
        }
    }

    // ---- counters and identity ----

    @ParameterizedTest(name = "{0}")
    @MethodSource("transports")
    void countersAndTransportMatchWhatWasSent(String transport) throws Exception {
        String name = unique("counters-" + transport);
        String clientName = unique("counters-client-" + transport);
        try (Endpoint ep = Fable.register(name).listen();
             Endpoint cep = Fable.register(clientName)) {
            FutureTask<Connection> accepted = spawn("accept", () -> ep.accept(LONG));
            try (Connection c = cep.connect(uri(transport, name), ConnectOptions.trusted().connectTimeout(Duration.ofSeconds(10)));
                 Connection s = join(accepted)) {
                assertNotNull(s);
                assertEquals(transport, c.transport(), "client transport");
                assertEquals(transport, s.transport(), "server transport");
                assertEquals(name, s.localName());
                assertEquals(clientName, s.peerName());
                assertEquals(clientName, c.localName());
                assertEquals(name, c.peerName());
                assertEquals(ConnectionState.OPEN, c.state());
                assertNull(c.failure());
                assertEquals(0, c.messagesSent() + c.messagesReceived() + c.fragmentsSent() + c.fragmentsReceived() + c.bytesSent() + c.bytesReceived());

                long bytes = 0;
                long frags = 0;
                long msgs = 0;
                for (int i = 0; i < 50; i++) {
                    int len = 1 + i * 7;                      // 1 .. 344 bytes, each one fragment
                    Buffer b = c.claim(len, WAIT);
                    assertNotNull(b);
                    assertEquals(len, b.length());
                    b.commit();
                    bytes += len;
                    frags++;
                    msgs++;
                    Buffer r = s.receive(WAIT);
                    assertEquals(len, r.length());
                    r.release();
                }
                int big = 3 * c.maxFragment() + 5;
                c.send(new byte[big]);
                assertEquals(big, s.receiveMessage(WAIT).length);
                bytes += big;
                frags += 4;   // one message of four fragments: counted once as a message
                msgs++;

                for (int i = 0; i < 7; i++) s.send(new byte[100 + i]);
                for (int i = 0; i < 7; i++) assertEquals(100 + i, c.receiveMessage(WAIT).length);

                assertEquals(msgs, c.messagesSent(), "whole messages sent");
                assertEquals(msgs, s.messagesReceived(), "whole messages received");
                assertEquals(frags, c.fragmentsSent(), "fragments sent");
                assertEquals(frags, s.fragmentsReceived(), "fragments received");
                assertEquals(bytes, c.bytesSent());
                assertEquals(bytes, s.bytesReceived());
                assertEquals(7, s.messagesSent());
                assertEquals(7, c.messagesReceived());
                assertEquals(7, s.fragmentsSent());
                assertEquals(7, c.fragmentsReceived());
                assertEquals(7 * 100 + 21, s.bytesSent());
                assertEquals(7 * 100 + 21, c.bytesReceived());
            }
        }
    }
}
