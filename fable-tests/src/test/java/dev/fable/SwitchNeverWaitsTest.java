package dev.fable;

import dev.fable.testing.Pair;
import org.junit.jupiter.api.Test;

import java.time.Duration;

import static org.junit.jupiter.api.Assertions.*;

/**
 * {@code claim()} never waits for a switch: when the old transport cannot take its end-of-epoch
 * marker yet (the reader holds the whole ring), the sending thread's non-blocking claim returns
 * null at once, as back-pressure does, and the switch finishes once the reader drains. Before the
 * roles were split, the switcher and the claim each waited up to 10 s for the marker under the
 * sending lock, then threw.
 */
class SwitchNeverWaitsTest {
    private static final Duration LIMIT = Duration.ofSeconds(10);

    @Test
    void aClaimDuringASwitchWhoseMarkerCannotFitReturnsNullAndTheSwitchFinishesOnceTheReaderDrains() throws Exception {
        // the smallest log, filled with 8-byte messages (16-byte records) until a claim finds no room: no room for the marker either
        try (Pair p = Pair.open("shm", ConnectOptions.trusted(),
                ConnectOptions.trusted().slotSize(64).slotCount(4).logBytes(ConnectOptions.MIN_LOG_BYTES))) {
            Connection c = p.client();
            int sent = 0;
            for (Buffer b; (b = c.claim(8)) != null; sent++) {
                b.putLong(0, sent);
                b.commit();
            }
            // about one 16-byte record per 16 bytes of the 64 KiB asked for (the default 1 MiB would hold 16 times as many)
            assertTrue(sent >= ConnectOptions.MIN_LOG_BYTES / 16 - 4 && sent < ConnectOptions.MIN_LOG_BYTES / 16,
                    "messages the smallest log held: " + sent);
            assertNull(c.claim(8), "the old log is full");

            long epoch = c.reconfigure("shm", "a switch whose marker must wait");   // returns once the new leg is in
            assertEquals(1, epoch);
            assertTrue(c.reconfiguring(), "the old leg cannot end yet");
            assertNull(c.claim(8), "claim() during the switch: nothing now (the marker does not fit), without waiting or throwing");
            assertTrue(c.reconfiguring());

            for (int i = 0; i < sent; i++) {
                Buffer r = p.server().receive(LIMIT);
                assertNotNull(r, "old message " + i);
                assertEquals(i, r.getLong(0));
                assertEquals(0, r.epoch());
                r.release();
            }
            Buffer b = c.claim(8, LIMIT);   // the blocking form: the marker fits now, the output moves
            assertNotNull(b);
            assertEquals(1, b.epoch(), "claimed from the new transport");
            b.putLong(0, 99);
            b.commit();
            Buffer r = p.server().receive(LIMIT);
            assertNotNull(r);
            assertEquals(99, r.getLong(0));
            assertEquals(1, r.epoch());
            r.release();
        }
    }
}
