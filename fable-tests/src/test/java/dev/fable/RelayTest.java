package dev.fable;

import dev.fable.testing.Await;
import dev.fable.testing.Names;
import dev.fable.testing.Pair;
import dev.fable.testing.PeerProcess;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.Random;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.*;

/**
 * {@link Fable#relay}: a -> (in) relay (out) -> b and back. In each test {@code in.client()} is a, {@code in.server()} and
 * {@code out.client()} are the relay's two sides, {@code out.server()} is b.
 */
class RelayTest {
    private static final Duration LIMIT = Duration.ofSeconds(30);
    private static final ConnectOptions SLOTS = ConnectOptions.trusted().slotSize(8192).slotCount(16);

    private static byte[] message(Random rnd, int min, int max) {
        byte[] m = new byte[min + rnd.nextInt(max - min + 1)];
        rnd.nextBytes(m);
        return m;
    }

    /** Lock-step both ways: n messages a -> b, each answered b -> a, every byte checked. */
    private static void pingPong(Connection a, Connection b, int n, int min, int max) {
        Random rnd = new Random(n);
        for (int i = 0; i < n; i++) {
            byte[] m = message(rnd, min, max);
            a.send(m);
            assertArrayEquals(m, b.receiveMessage(LIMIT), "a -> b, message " + i);
            byte[] back = message(rnd, min, max);
            b.send(back);
            assertArrayEquals(back, a.receiveMessage(LIMIT), "b -> a, message " + i);
        }
    }

    /**
     * Many relays, one thread: 40 relays (shm and tcp sides mixed) carry traffic at once, every byte checked, and the
     * process has one relay thread, not two per relay.
     */
    @Test
    void manyRelaysShareOneThread() throws Exception {
        int n = 40;
        java.util.List<Pair> pairs = new java.util.ArrayList<>();
        java.util.List<Relay> relays = new java.util.ArrayList<>();
        try {
            for (int i = 0; i < n; i++) {
                Pair in = Pair.open(i % 2 == 0 ? "shm" : "tcp", SLOTS, SLOTS);
                pairs.add(in);
                Pair out = Pair.open(i % 3 == 0 ? "tcp" : "shm", SLOTS, SLOTS);
                pairs.add(out);
                relays.add(Fable.relay(in.server(), out.client()));
            }
            long relayThreads = Thread.getAllStackTraces().keySet().stream().filter(t -> t.getName().startsWith("fable-relay")).count();
            assertEquals(1, relayThreads, "one thread serves every relay: " + Thread.getAllStackTraces().keySet().stream()
                    .map(Thread::getName).filter(x -> x.startsWith("fable-relay")).toList());
            for (int round = 0; round < 20; round++) {   // every relay at once: all requests out, then all answers
                Random rnd = new Random(round);
                byte[][] sent = new byte[n][];
                for (int i = 0; i < n; i++) {
                    sent[i] = message(rnd, 1, 20_000);
                    pairs.get(2 * i).client().send(sent[i]);
                }
                for (int i = 0; i < n; i++) {
                    assertArrayEquals(sent[i], pairs.get(2 * i + 1).server().receiveMessage(LIMIT), "relay " + i + ", round " + round);
                    pairs.get(2 * i + 1).server().send(sent[i]);
                }
                for (int i = 0; i < n; i++) assertArrayEquals(sent[i], pairs.get(2 * i).client().receiveMessage(LIMIT), "back through relay " + i);
            }
        } finally {
            for (Relay r : relays) r.close();
            for (Pair p : pairs) p.close();
        }
    }

    @Test
    void shmToShmLendsEverySlotAndCopiesNothing() throws Exception {
        try (Pair in = Pair.open("shm", SLOTS, SLOTS); Pair out = Pair.open("shm", SLOTS, SLOTS)) {
            Relay r = Fable.relay(in.server(), out.client());
            try (r) {
                pingPong(in.client(), out.server(), 300, 600, 8192);   // above the 512-byte inline size, within one slot
                // b has the last message once the relay committed it; its counters follow right after
                Await.until(() -> r.zeroCopyForwards() + r.copiedForwards() == 600 && r.messages(Relay.Direction.A_TO_B) == 300
                        && r.messages(Relay.Direction.B_TO_A) == 300 && r.bytes(Relay.Direction.B_TO_A) == out.server().bytesSent(),
                        LIMIT, () -> "forwards counted: " + r.zeroCopyForwards() + " in place, " + r.copiedForwards() + " copied");
                assertEquals(0, r.copiedForwards(), "shm to shm on one host copies nothing: " + r.copied(Relay.Direction.A_TO_B)
                        + " a->b and " + r.copied(Relay.Direction.B_TO_A) + " b->a were copied");
                assertEquals(300, r.zeroCopy(Relay.Direction.A_TO_B));
                assertEquals(300, r.zeroCopy(Relay.Direction.B_TO_A));
                assertEquals(300, r.messages(Relay.Direction.A_TO_B));
                assertEquals(in.client().bytesSent(), r.bytes(Relay.Direction.A_TO_B));
                assertEquals(out.server().bytesSent(), r.bytes(Relay.Direction.B_TO_A));
                assertThrows(IllegalStateException.class, () -> Fable.relay(in.server(), out.server()), "a connection is in one relay at a time");
            }
            assertTrue(r.ended());
            assertNull(r.failure(), "close() is no failure");
        }
    }

    @Test
    void shmToTcpCopiesEachBufferOnceAndCountsIt() throws Exception {
        try (Pair in = Pair.open("shm", SLOTS, SLOTS); Pair out = Pair.open("tcp", SLOTS, SLOTS)) {
            try (Relay r = Fable.relay(in.server(), out.client())) {
                pingPong(in.client(), out.server(), 200, 1, 20_000);   // small (inline), one slot, several fragments
                Await.until(() -> r.messages(Relay.Direction.B_TO_A) == 200 && r.copied(Relay.Direction.B_TO_A) == out.client().fragmentsReceived(),
                        LIMIT, () -> "messages counted b -> a: " + r.messages(Relay.Direction.B_TO_A));
                assertEquals(0, r.zeroCopyForwards(), "nothing is lent to a tcp connection");
                assertEquals(in.server().fragmentsReceived(), r.copied(Relay.Direction.A_TO_B));
                assertEquals(out.client().fragmentsReceived(), r.copied(Relay.Direction.B_TO_A));
                assertEquals(200, r.messages(Relay.Direction.A_TO_B));
                assertEquals(200, r.messages(Relay.Direction.B_TO_A));
            }
        }
    }

    /** The far side switches shm -> unix while 20,000 messages stream through; every byte arrives, in order. */
    @Test
    void survivesALiveSwitchOfTheFarSideMidStream() throws Exception {
        streamThroughSwitches(false);
    }

    /**
     * The relay's own target side switches shm -> tcp mid-stream (and later the far side to unix). It stalled in 2 of 4
     * clean-clone runs until a lender could get back, after the retired leg closed, the slots its peer had released
     * before (ForwardTest covers that step alone).
     */
    @Test
    void survivesALiveSwitchOfItsOwnSideMidStream() throws Exception {
        streamThroughSwitches(true);
    }

    /** 20,000 messages a -> relay -> b; at 5,000 the relay's own side switches to tcp ({@code ownSide}), at 10,000 the far side to unix. */
    private static void streamThroughSwitches(boolean ownSide) throws Exception {
        try (Pair in = Pair.open("shm", SLOTS, SLOTS); Pair out = Pair.open("shm", SLOTS, SLOTS);
             Relay r = Fable.relay(in.server(), out.client())) {
            int n = 20_000;
            AtomicReference<Throwable> failed = new AtomicReference<>();
            Thread sender = Thread.ofPlatform().start(() -> {
                try {
                    Random rnd = new Random(5);
                    for (int i = 0; i < n; i++) in.client().send(message(rnd, 1, 20_000));
                } catch (Throwable t) {
                    failed.set(t);
                }
            });
            Random rnd = new Random(5);
            for (int i = 0; i < n; i++) {
                if (ownSide && i == 5_000) assertEquals(1, out.client().reconfigure("tcp", "test"));   // the relay's own side
                if (i == 10_000) assertEquals(1, in.client().reconfigure("unix", "test"));  // the far side
                byte[] m = out.server().receiveMessage(LIMIT);
                assertNotNull(m, "message " + i + " did not come; sender: " + failed.get());
                assertArrayEquals(message(rnd, 1, 20_000), m, "message " + i);
            }
            sender.join();
            assertNull(failed.get());
            assertEquals(ownSide ? "tcp" : "shm", out.client().transport());
            assertEquals("unix", in.server().transport());
            // the far end has the last message once the relay committed it; the relay's counters follow right after
            Await.until(() -> r.messages(Relay.Direction.A_TO_B) == n, LIMIT, () -> "messages counted: " + r.messages(Relay.Direction.A_TO_B));
            assertTrue(r.zeroCopyForwards() > 0, "before the switches, shm to shm lent slots");
            assertTrue(r.copiedForwards() > 0, "after them, everything is copied");
            assertNull(r.failure());
        }
    }

    /**
     * b reads nothing: the relay stops reading a once b's side is full, and a's sender stops in its turn, at what the two
     * connections' pools hold; then b reads everything, every byte checked.
     */
    @Test
    void aSlowReceiverStopsTheSenderAndNothingIsLost() throws Exception {
        ConnectOptions small = ConnectOptions.trusted().slotSize(4096).slotCount(8);
        try (Pair in = Pair.open("shm", small, small); Pair out = Pair.open("shm", small, small);
             Relay r = Fable.relay(in.server(), out.client())) {
            int n = 2_000, size = 4000;
            AtomicLong sent = new AtomicLong();
            Thread sender = Thread.ofPlatform().start(() -> {
                Random rnd = new Random(8);
                for (int i = 0; i < n; i++) {
                    in.client().send(message(rnd, size, size));
                    sent.incrementAndGet();
                }
            });
            // in: 8 slots (some lent to out's reader in place); out: 8 slots; the relay holds one: far below the 2,000 sent.
            // Without back-pressure the sender would finish.
            long bound = 8 + 8 + 1 + 8;
            Await.until(() -> sent.get() > 0 && r.bytes(Relay.Direction.A_TO_B) > 0, LIMIT, () -> "nothing was relayed");
            assertFalse(Await.within(() -> sent.get() > bound, Duration.ofSeconds(3)),
                    "the sender got " + sent.get() + " messages out while nobody read: the relay did not hold it back");
            assertTrue(r.bytes(Relay.Direction.A_TO_B) <= (bound + 1) * size, "relayed " + r.bytes(Relay.Direction.A_TO_B));
            Random rnd = new Random(8);
            for (int i = 0; i < n; i++) assertArrayEquals(message(rnd, size, size), out.server().receiveMessage(LIMIT), "message " + i);
            sender.join();
            Await.until(() -> r.bytes(Relay.Direction.A_TO_B) == (long) n * size, LIMIT,   // counted right after the commit the reader saw
                    () -> "bytes counted: " + r.bytes(Relay.Direction.A_TO_B));
        }
    }

    @Test
    void aCleanEndDeliversEverythingThenClosesTheOtherSide() throws Exception {
        try (Pair in = Pair.open("shm", SLOTS, SLOTS); Pair out = Pair.open("tcp", SLOTS, SLOTS)) {
            Relay r = Fable.relay(in.server(), out.client());
            AtomicReference<Throwable> failed = new AtomicReference<>();
            Thread sender = Thread.ofPlatform().start(() -> {
                Random rnd = new Random(3);
                try {
                    for (int i = 0; i < 500; i++) in.client().send(message(rnd, 1, 30_000));
                    in.client().close();
                } catch (Throwable t) {
                    failed.set(t);
                }
            });
            Random rnd = new Random(3);
            for (int i = 0; i < 500; i++) assertArrayEquals(message(rnd, 1, 30_000), out.server().receiveMessage(LIMIT), "message " + i);
            sender.join();
            assertNull(failed.get(), () -> "the sender failed: " + failed.get() + "; relay: " + r.failure());
            assertThrows(ConnectionClosedException.class, () -> out.server().receive(LIMIT), "b sees a clean end after the last message");
            assertTrue(r.awaitEnd(LIMIT));
            assertNull(r.failure(), "a clean end is no failure");
            assertEquals(ConnectionState.CLOSED, out.client().state(), "the relay closed its other side");
        }
    }

    /** A real peer JVM is killed -9 while it sends through the relay: b gets what it sent, then the end; the relay says why. */
    @Test
    void aPeerKilledMidStreamEndsTheRelayAndClosesTheOtherSide() throws Exception {
        String name = Names.unique("relay-death");
        try (Endpoint ep = Fable.register(name).listen();
             PeerProcess child = PeerProcess.start(PeerDeathTest.Sender.class, name, "50");
             Pair out = Pair.open("shm", SLOTS, SLOTS)) {
            Connection in = ep.accept(LIMIT);
            assertNotNull(in, "the child did not connect");
            Relay r = Fable.relay(in, out.client());
            child.expectLine("SENT 50");
            for (int i = 0; i < 50; i++) {
                Buffer b = out.server().receive(LIMIT);
                assertNotNull(b, "message " + i);
                assertEquals(i, b.getLong(0));
                assertEquals(~(long) i, b.getLong(8));
                b.release();
            }
            assertFalse(r.ended());
            child.kill9();
            assertThrows(ConnectionClosedException.class, () -> out.server().receive(LIMIT), "the relay closes b's side when a's peer dies");
            assertTrue(r.awaitEnd(LIMIT));
            assertNotNull(r.failure(), "a peer's death is a failure of the relay");
            assertInstanceOf(PeerGoneException.class, r.failure().getCause());
            assertTrue(r.failure().getMessage().contains("side a"), r.failure().getMessage());
            assertEquals(ConnectionState.CLOSED, in.state());
        }
    }
}
