package dev.fable;

import dev.fable.testing.Pair;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;

import static org.junit.jupiter.api.Assertions.*;

/** Both ends in one JVM (the memory is still shared through /dev/shm files): API semantics. */
class InProcessChannelTest {
    @Test
    void messagesArriveInOrderWithTheirBytes() throws Exception {
        try (Pair p = Pair.open("shm", ConnectOptions.trusted(), ConnectOptions.trusted().slotSize(256).slotCount(8))) {
            for (int i = 0; i < 10_000; i++) {
                Buffer b = p.client().claim(16, Duration.ofSeconds(5));
                assertNotNull(b);
                b.putLong(0, i);
                b.putLong(8, ~i);
                b.commit();
                Buffer r = p.server().receive(Duration.ofSeconds(5));
                assertNotNull(r);
                assertEquals(16, r.length());
                assertEquals(i, r.getLong(0));
                assertEquals(~i, r.getLong(8));
                assertEquals(Buffer.Kind.SHM_SLOT, r.kind());
                assertSame(p.server(), r.connection());
                assertEquals(0, r.epoch());
                r.release();
            }
        }
    }

    @Test
    void countersTrackMessagesAndPayloadBytesOnBothSides() throws Exception {
        try (Pair p = Pair.open("shm", ConnectOptions.trusted(), ConnectOptions.trusted().slotSize(128).slotCount(8))) {
            long bytes = 0;
            for (int i = 0; i < 20; i++) {
                int n = 1 + i * 5;                      // 1 .. 96 bytes, each one slot
                Buffer b = p.client().claim(n, Duration.ofSeconds(5));
                b.commit();
                bytes += n;
                p.server().receive(Duration.ofSeconds(5)).release();
            }
            p.client().send(new byte[300]);             // 3 fragments of a 128-byte slot
            assertNotNull(p.server().receiveMessage(Duration.ofSeconds(5)));
            assertEquals(21, p.client().messagesSent(), "whole messages: 20 small, one large");
            assertEquals(21, p.server().messagesReceived());
            assertEquals(23, p.client().fragmentsSent(), "fragments: the large message took 3");
            assertEquals(23, p.server().fragmentsReceived());
            assertEquals(bytes + 300, p.client().bytesSent());
            assertEquals(bytes + 300, p.server().bytesReceived());
            assertEquals(0, p.server().bytesSent());
        }
    }

    @Test
    void buffersAreSingleUse() throws Exception {
        try (Pair p = Pair.open("shm", ConnectOptions.trusted(), ConnectOptions.trusted())) {
            Buffer b = p.client().claim(8);
            b.putLong(0, 7);
            b.commit();
            assertThrows(IllegalStateException.class, () -> b.putLong(0, 1));
            assertThrows(IllegalStateException.class, b::commit);
            Buffer r = p.server().receive(Duration.ofSeconds(5));
            assertThrows(java.nio.ReadOnlyBufferException.class, () -> r.putLong(0, 1));
            assertThrows(IllegalArgumentException.class, () -> r.segment().set(java.lang.foreign.ValueLayout.JAVA_LONG, 0, 1L),
                    "the OS-level read-only mapping refuses writes through the segment too");
            r.release();
            assertThrows(IllegalStateException.class, () -> r.getLong(0));
            assertThrows(IllegalStateException.class, r::release);
        }
    }

    @Test
    void theLogSizeIsAPowerOfTwoBetween64KiBAnd1GiB() {
        ConnectOptions o = ConnectOptions.trusted();
        assertEquals(ConnectOptions.DEFAULT_LOG_BYTES, o.logBytes());
        assertEquals(1 << 16, o.logBytes(1 << 16).logBytes());
        assertEquals(1 << 30, o.logBytes(1 << 30).logBytes());
        for (int bad : new int[] {0, -1, (1 << 16) - 1, 1 << 15, (1 << 16) + 16, 3 << 20, Integer.MIN_VALUE, Integer.MAX_VALUE}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> o.logBytes(bad), "logBytes(" + bad + ")");
            assertTrue(e.getMessage().contains("power of two") && e.getMessage().contains(Integer.toString(bad)), e.getMessage());
        }
    }

    @Test
    void claimReturnsNullWhenPeerHoldsEverySlotAndNeverOverwrites() throws Exception {
        // claims above the inline limit (512 B) take slots: with 4 slots out, the writer has none left
        try (Pair p = Pair.open("shm", ConnectOptions.trusted(), ConnectOptions.trusted().slotSize(1024).slotCount(4))) {
            for (int i = 0; i < 4; i++) {
                Buffer b = p.client().claim(1024);
                assertNotNull(b, "slot " + i);
                b.putLong(0, i);
                b.commit();
            }
            assertNull(p.client().claim(1024), "all 4 slots are with the reader: back-pressure");
            assertNull(p.client().claim(1024, Duration.ofMillis(50)), "blocking claim times out, never allocates");
            List<Buffer> held = new ArrayList<>();
            for (int i = 0; i < 4; i++) held.add(p.server().poll());
            for (int i = 0; i < 4; i++) assertEquals(i, held.get(i).getLong(0));
            // out-of-order release: 2, 0, 3, 1
            for (int i : new int[] {2, 0, 3, 1}) held.get(i).release();
            for (int i = 10; i < 14; i++) {
                Buffer b = p.client().claim(1024);
                assertNotNull(b);
                b.putLong(0, i);
                b.commit();
            }
            for (int i = 10; i < 14; i++) {
                Buffer r = p.server().poll();
                assertEquals(i, r.getLong(0));
                r.release();
            }
        }
    }

    @Test
    void largeMessagesSpanSlots() throws Exception {
        try (Pair p = Pair.open("shm", ConnectOptions.trusted(), ConnectOptions.trusted().slotSize(64 * 1024).slotCount(64))) {
            Random rnd = new Random(1);
            for (int size : new int[] {1, 63, 64, 65, 4096, 65536, 65537, 1 << 20, 16 << 20}) {
                byte[] data = new byte[size];
                rnd.nextBytes(data);
                CompletableFuture<Void> sent = CompletableFuture.runAsync(() -> p.client().send(data));
                byte[] got = p.server().receiveMessage(Duration.ofSeconds(30));
                sent.get();
                assertArrayEquals(data, got, "size " + size);
            }
        }
    }

    @Test
    void untrustedReaderGetsPrivateCopies() throws Exception {
        try (Pair p = Pair.open("shm", ConnectOptions.untrusted().readQuota(2), ConnectOptions.trusted().slotSize(64).slotCount(4))) {
            for (int i = 0; i < 3; i++) {
                Buffer b = p.client().claim(8);
                b.putLong(0, i);
                b.commit();
            }
            Buffer r0 = p.server().receive(Duration.ofSeconds(5));
            Buffer r1 = p.server().receive(Duration.ofSeconds(5));
            assertEquals(Buffer.Kind.PRIVATE_COPY, r0.kind());
            assertThrows(QuotaExceededException.class, () -> p.server().poll());
            // the writer got its slots back already (copies were taken at poll)
            Buffer w = p.client().claim(8);
            assertNotNull(w);
            w.commit();
            assertEquals(0, r0.getLong(0));
            assertEquals(1, r1.getLong(0));
            r0.release();
            r1.release();
        }
    }

    @Test
    void cleanCloseDeliversEverythingThenEnds() throws Exception {
        try (Pair p = Pair.open("shm", ConnectOptions.trusted(), ConnectOptions.trusted().slotSize(64).slotCount(16))) {
            for (int i = 0; i < 10; i++) {
                Buffer b = p.client().claim(8);
                b.putLong(0, i);
                b.commit();
            }
            p.client().close();
            for (int i = 0; i < 10; i++) {
                Buffer r = p.server().receive(Duration.ofSeconds(5));
                assertEquals(i, r.getLong(0));
                r.release();
            }
            assertThrows(ConnectionClosedException.class, () -> p.server().receive(Duration.ofSeconds(5)));
            assertEquals(ConnectionState.PEER_CLOSED, p.server().state());
            assertThrows(ConnectionClosedException.class, () -> p.server().claim(8));
        }
    }
}
