package dev.fable;

import dev.fable.testing.Await;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Connections opened and closed in quick succession (before the process-wide control monitor has even
 * started watching them) must not disturb how the monitor reports the end of later connections.
 */
class ConnectionChurnTest {
    static String unique(String base) {
        return base + "-" + ProcessHandle.current().pid() + "-" + System.nanoTime();
    }

    @Test
    void peerCloseIsStillSeenAfterManyShortLivedConnections() throws Exception {
        ConnectOptions small = ConnectOptions.trusted().slotSize(64).slotCount(4);
        String name = unique("churn");
        try (Endpoint ep = Fable.register(name).listen(small)) {
            for (int i = 0; i < 200; i++) {
                CompletableFuture<Connection> accepted = CompletableFuture.supplyAsync(() -> ep.accept(Duration.ofSeconds(30)));
                Connection client = Fable.connect("xio+shm://" + name, small);
                Connection server = accepted.get(30, TimeUnit.SECONDS);
                if (i % 2 == 0) {
                    // closed at once, in both orders: the monitor may meet channels that are closed already
                    if (i % 4 == 0) { client.close(); server.close(); } else { server.close(); client.close(); }
                    continue;
                }
                Buffer b = client.claim(8);
                b.putLong(0, i);
                b.commit();
                client.close();
                int round = i;
                Await.until(() -> server.state() != ConnectionState.OPEN, Duration.ofSeconds(2),
                        () -> "round " + round + ": the server never saw the client's close");
                assertEquals(ConnectionState.PEER_CLOSED, server.state(), "round " + i);
                Buffer r = server.poll();
                assertNotNull(r, "round " + i);
                assertEquals(i, r.getLong(0));
                r.release();
                assertThrows(ConnectionClosedException.class, () -> server.receive(Duration.ofSeconds(5)));
                server.close();
            }
        }
    }
}
