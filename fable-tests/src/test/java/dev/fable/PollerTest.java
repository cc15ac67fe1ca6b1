package dev.fable;

import dev.fable.testing.Pair;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;

import static org.junit.jupiter.api.Assertions.*;
import dev.fable.Poller;

class PollerTest {
    @Test
    void wakesForTheConnectionThatGotData() throws Exception {
        for (WaitMode mode : WaitMode.values()) {
            try (Pair a = Pair.open("shm", ConnectOptions.trusted().waitMode(mode), ConnectOptions.trusted());
                 Pair b = Pair.open("shm", ConnectOptions.trusted().waitMode(mode), ConnectOptions.trusted());
                 Poller p = Fable.poller(mode)) {
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

    /**
     * A switch of a polled connection (connector moves it to a new shm transport) wakes a sleeping
     * Poller with the RECONFIGURING event, and the Poller follows the connection to its new transport.
     */
    @Test
    void followsAConnectionThroughASwitchAndReportsItsEvents() throws Exception {
        try (Pair a = Pair.open("shm", ConnectOptions.trusted().waitMode(WaitMode.BLOCK),
                ConnectOptions.trusted()); Poller p = Fable.poller(WaitMode.BLOCK)) {
            p.add(a.server());
            assertNull(p.await(Duration.ofMillis(30)));
            CompletableFuture<Connection> waiting = CompletableFuture.supplyAsync(() -> p.await(Duration.ofSeconds(10)));
            assertEquals(1, a.client().reconfigure("shm", "test: poller"));
            assertSame(a.server(), waiting.get(), "the switch wakes the poller (its event, or the old transport's end marker)");
            Buffer w = a.client().claim(8, Duration.ofSeconds(10));   // the client's output moves to epoch 1 here
            w.putLong(0, 42);
            w.commit();
            java.util.List<ConnectionEvent> seen = new java.util.ArrayList<>();
            long until = System.nanoTime() + Duration.ofSeconds(10).toNanos();
            Buffer r = null;
            while (r == null && System.nanoTime() < until) {
                Connection c = p.await(Duration.ofSeconds(10));
                assertSame(a.server(), c);
                for (ConnectionEvent e; (e = c.pollEvent()) != null; ) seen.add(e);
                r = c.poll();   // the old transport's marker first (null), then the message of epoch 1
            }
            assertTrue(seen.stream().anyMatch(e -> e.type() == ConnectionEvent.Type.RECONFIGURING && e.epoch() == 1), "events: " + seen);
            assertNotNull(r, "the message of the new epoch arrived through the poller");
            assertEquals(42, r.getLong(0));
            assertEquals(1, r.epoch());
            r.release();
        }
    }
}
