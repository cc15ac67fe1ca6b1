package dev.fable;

import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;

import static org.junit.jupiter.api.Assertions.*;

class PollerTest {
    @Test
    void wakesForTheConnectionThatGotData() throws Exception {
        for (WaitMode mode : WaitMode.values()) {
            try (InProcessChannelTest.Pair a = InProcessChannelTest.pair(ConnectOptions.trusted().waitMode(mode), ConnectOptions.trusted());
                 InProcessChannelTest.Pair b = InProcessChannelTest.pair(ConnectOptions.trusted().waitMode(mode), ConnectOptions.trusted());
                 Poller p = Poller.create(mode)) {
                p.add(a.server());
                p.add(b.server());
                assertNull(p.poll());
                assertNull(p.await(Duration.ofMillis(30)), mode + ": nothing sent yet");
                CompletableFuture<Connection> waiting = CompletableFuture.supplyAsync(() -> p.await(Duration.ofSeconds(10)));
                Buffer w = b.client().claim(8);
                w.putLong(0, 99);
                w.commit();
                assertSame(b.server(), waiting.get(), mode.toString());
                Buffer r = b.server().poll();
                assertEquals(99, r.getLong(0));
                r.release();
                assertNull(p.poll());
            }
        }
    }
}
