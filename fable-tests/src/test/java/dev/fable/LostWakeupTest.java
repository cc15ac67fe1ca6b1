package dev.fable;

import dev.fable.testing.Pair;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Blocking ping-pong with both ends sleeping on futexes, while hog threads preempt them at random
 * points; every receive has a 5 s limit, so a lost wake-up fails the test instead of hanging it.
 * (The one lost wake-up found so far needs a preemption at one exact instruction and does not
 * reproduce here; {@code TripwireTest} forces that interleaving deterministically.)
 */
class LostWakeupTest {
    @Test
    void blockingPingPongNeverLosesAWakeup() throws Exception {
        ConnectOptions o = ConnectOptions.trusted().waitMode(WaitMode.BLOCK).slotSize(64).slotCount(16);
        AtomicBoolean stop = new AtomicBoolean();
        Thread[] hogs = new Thread[3];
        for (int i = 0; i < hogs.length; i++) {
            hogs[i] = Thread.ofPlatform().daemon().start(() -> {
                long x = 0;
                while (!stop.get()) {
                    x += System.nanoTime();
                    if ((x & 0xFF) == 0) Thread.yield();
                }
            });
        }
        int rounds = 30_000;
        try (Pair p = Pair.open("shm", o, o)) {
            CompletableFuture<Void> echo = CompletableFuture.runAsync(() -> {
                for (int i = 0; i < rounds; i++) {
                    Buffer r = p.server().receive(Duration.ofSeconds(5));
                    if (r == null) throw new AssertionError("echo: ping " + i + " never woke us (lost wake-up)");
                    long v = r.getLong(0);
                    r.release();
                    Buffer b = p.server().claim(8);
                    b.putLong(0, v);
                    b.commit();
                }
            });
            for (int i = 0; i < rounds; i++) {
                Buffer b = p.client().claim(8);
                b.putLong(0, i);
                b.commit();
                Buffer r = p.client().receive(Duration.ofSeconds(5));
                assertNotNull(r, "pinger: pong " + i + " never woke us (lost wake-up)");
                assertEquals(i, r.getLong(0));
                r.release();
            }
            echo.get();
        } finally {
            stop.set(true);
        }
    }
}
