package dev.fable;

import dev.fable.testing.Pair;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.time.Duration;
import java.util.concurrent.FutureTask;
import java.util.concurrent.TimeUnit;

import static dev.fable.testing.Tasks.join;
import static dev.fable.testing.Tasks.spawn;
import static org.junit.jupiter.api.Assertions.*;

/** Claim under back-pressure: a writer that outruns its reader is told so (null), loses nothing, and what it committed still arrives. */
class BackPressureContractTest extends ChannelContract {
    /**
     * Bound on the claims a writer makes without the reader polling: 4 GiB of 64 KiB fragments, far
     * beyond any kernel socket buffer plus a sane transport staging area.
     */
    static final int MAX_UNREAD_CLAIMS = 65_536;

    private static final ConnectOptions BACK_PRESSURE_WRITER = ConnectOptions.trusted().slotSize(KIB_64).slotCount(16);

    private static void stamp(Buffer b, long seq, int size) {
        assertEquals(size, b.length(), "a claim starts at min(maxBytes, capacity)");
        b.putLong(0, seq);
        b.putByte(size / 2, patternByte(seq, size / 2));
        b.putLong(size - 8, ~seq);
    }

    private static void checkStamp(Buffer b, long seq, int size, String what) {
        assertEquals(size, b.length(), what + ": length");
        assertEquals(seq, b.getLong(0), what);
        assertEquals(patternByte(seq, size / 2), b.getByte(size / 2), what + ": middle byte");
        assertEquals(~seq, b.getLong(size - 8), what + ": tail");
    }

    /**
     * Claims and commits {@code size}-byte fragments (stamped 0, 1, ...) until a non-blocking claim
     * returns null; returns how many were committed. Fails if that never happens within the bound.
     */
    private static long fillUntilBackPressure(Connection w, int size) {
        for (long committed = 0; committed < MAX_UNREAD_CLAIMS; committed++) {
            Buffer b = w.claim(size);
            if (b == null) return committed;
            stamp(b, committed, size);
            b.commit();
        }
        return fail("claim(n) never returned null after " + MAX_UNREAD_CLAIMS + " unread fragments of " + size + " B");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("transports")
    void writerThatOutrunsAnIdleReaderGetsNullAndLosesNothing(String transport) throws Exception {
        try (Pair p = open(transport, "backpressure", ConnectOptions.trusted(), BACK_PRESSURE_WRITER)) {
            Connection w = p.client();
            Connection r = p.server();
            int size = Math.min(KIB_64, w.maxFragment());
            assertTrue(size >= 16, "maxFragment " + w.maxFragment());
            Duration timeout = Duration.ofMillis(100);
            long committed = fillUntilBackPressure(w, size);
            // Then the blocking claim must time out too. Socket transports need their kernel buffers
            // full, which can free up a little while in-flight data is acknowledged: in that case
            // commit what the blocking claim gave and go on until it holds.
            while (true) {
                long t0 = System.nanoTime();
                Buffer b = w.claim(size, timeout);
                long waited = System.nanoTime() - t0;
                if (b == null) {
                    assertTrue(waited >= timeout.toNanos() * 9 / 10,
                            "claim(n, " + timeout + ") gave up after " + TimeUnit.NANOSECONDS.toMillis(waited) + " ms");
                    break;
                }
                if (committed >= MAX_UNREAD_CLAIMS) {
                    fail("claim(n, timeout) never returned null after " + committed + " unread fragments of " + size + " B");
                }
                stamp(b, committed++, size);
                b.commit();
            }
            assertEquals(committed, w.messagesSent());

            // The reader drains while the writer goes on with blocking claims: claims succeed again
            // and every fragment arrives once, in order.
            final long total = committed + 200;
            final long firstNew = committed;
            FutureTask<Void> reader = spawn("backpressure-reader", () -> {
                for (long i = 0; i < total; i++) {
                    Buffer b = r.receive(WAIT);
                    assertNotNull(b, "fragment " + i + " of " + total + " was lost (" + firstNew + " committed under back-pressure)");
                    checkStamp(b, i, size, "fragment " + i);
                    b.release();
                }
                return null;
            });
            for (long i = committed; i < total; i++) {
                Buffer b = w.claim(size, WAIT);
                assertNotNull(b, "claim " + i + " while the reader drains");
                stamp(b, i, size);
                b.commit();
            }
            join(reader);
            assertNull(r.poll(), "more fragments arrived than were committed");
            assertEquals(total, w.messagesSent());
            assertEquals(total, r.messagesReceived());
            assertEquals(total * size, w.bytesSent());
            assertEquals(total * size, r.bytesReceived());
        }
    }

    /**
     * A commit sends: once the writer stops calling (here: it ran into back-pressure and does
     * nothing more), everything it committed still reaches the reader. A transport that keeps
     * committed fragments in a staging area until the sending thread's next call deadlocks every
     * "send a request, then wait for the reply" exchange.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("transports")
    void everythingCommittedArrivesWithoutFurtherCallsFromTheWriter(String transport) throws Exception {
        try (Pair p = open(transport, "committed", ConnectOptions.trusted(), BACK_PRESSURE_WRITER)) {
            Connection w = p.client();
            Connection r = p.server();
            int size = Math.min(KIB_64, w.maxFragment());
            long committed = fillUntilBackPressure(w, size);
            assertTrue(committed > 0);
            // from here on the writer makes no call at all
            for (long i = 0; i < committed; i++) {
                Buffer b = r.receive(Duration.ofSeconds(10));
                assertNotNull(b, "fragment " + i + " of " + committed + " was committed but never arrived"
                        + " (the writer stopped calling after its last commit)");
                checkStamp(b, i, size, "fragment " + i);
                b.release();
            }
            assertEquals(committed, r.messagesReceived());
        }
    }
}
