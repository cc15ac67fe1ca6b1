package dev.fable.endpoint;

import dev.fable.Buffer;
import dev.fable.ConnectOptions;
import dev.fable.Connection;
import dev.fable.Fable;
import dev.fable.Publisher;
import dev.fable.Subscriber;
import dev.fable.testing.Names;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A publisher's broadcast log ({@link ConnectOptions#broadcastLog}): small messages to all written once, read by every
 * shm subscriber at its own pace, merged in publication order with what reaches a subscriber through its own ring
 * (large messages, classified ones, claims for it alone); a subscriber the publisher laps counts exactly what it lost.
 */
class BroadcastLogTest {
    private static final Duration LIMIT = Duration.ofSeconds(30);

    private static ConnectOptions publisher(int logBytes) {
        return ConnectOptions.trusted().slotSize(4096).slotCount(64).readQuota(64).broadcastLog(logBytes);
    }

    /** What one subscriber must receive: sequence numbers, in order. */
    private record Expect(Connection c, List<Long> seqs) { }

    @Test
    void broadcastAndRingMessagesArriveInPublicationOrder() {
        String name = Names.unique("bcast");
        try (Publisher pub = Fable.register(name).publish(publisher(1 << 16))) {
            List<Expect> subs = new ArrayList<>();
            try {
                for (int i = 0; i < 5; i++) {   // one at a time: pub.subscribers() lists them in this order
                    String uri = Names.uri(i == 4 ? "unix" : "shm", name);
                    subs.add(new Expect(Fable.subscribe(uri, i == 3 ? ConnectOptions.untrusted() : ConnectOptions.trusted()), new ArrayList<>()));
                    assertTrue(pub.awaitSubscribers(i + 1, LIMIT));
                }
                java.util.Random rnd = new java.util.Random(7);
                java.util.Set<Long> viaLog = new java.util.HashSet<>();   // small messages to all: the broadcast log carries them
                long seq = 0;
                for (int round = 0; round < 40; round++) {
                    // a burst of mixed messages, then every subscriber drains: both of its sources have records waiting
                    for (int k = 0; k < 25; k++, seq++) {
                        int kind = rnd.nextInt(5);
                        int length = kind == 1 ? 1000 + rnd.nextInt(2000) : 16 + rnd.nextInt(200);   // 1: past the log's limit, a fan-out slot
                        Subscriber only = pub.subscribers().get(rnd.nextInt(pub.subscribers().size()));
                        Buffer b = kind == 3 ? pub.claim(length, only) : pub.claim(length, LIMIT);
                        assertNotNull(b, "no room for message " + seq);
                        fill(b, seq, length);
                        final long s = seq;
                        if (kind == 2) {   // a subset: every other subscriber
                            pub.publish(b, (sub, m) -> (pub.subscribers().indexOf(sub) & 1) == (s & 1));
                            for (int i = 0; i < subs.size(); i++) if ((i & 1) == (s & 1)) subs.get(i).seqs().add(s);
                        } else if (kind == 3) {
                            b.commit();
                            subs.get(pub.subscribers().indexOf(only)).seqs().add(s);
                        } else {
                            assertEquals(subs.size(), pub.publish(b));
                            for (Expect e : subs) e.seqs().add(s);
                            if (length <= 512) viaLog.add(s);
                        }
                    }
                    for (int i = 0; i < subs.size(); i++) {
                        Expect e = subs.get(i);
                        if ((i & 1) == 0 || round % 3 == 0) {   // the Buffer API
                            for (long want : e.seqs()) {
                                Buffer r = e.c().receive(LIMIT);
                                assertNotNull(r, e.c() + " got nothing for message " + want);
                                assertEquals(want, r.getLong(0), e.c() + ": out of order or lost");
                                if (i < 3) {   // trusted shm: a copy from the broadcast log, else in place in the publisher's memory
                                    assertEquals(viaLog.contains(want) ? Buffer.Kind.PRIVATE_COPY : Buffer.Kind.SHM_SLOT, r.kind(), "message " + want);
                                }
                                check(r);
                                r.release();
                            }
                        } else {   // batches through a handler
                            List<Long> got = new ArrayList<>();
                            long deadline = System.nanoTime() + LIMIT.toNanos();
                            while (got.size() < e.seqs().size() && System.nanoTime() < deadline) {
                                e.c().poll((m, off, len) -> {
                                    got.add(m.get(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, off));
                                    check(m.asSlice(off, len), len);
                                }, 1 + rnd.nextInt(12));
                            }
                            assertEquals(e.seqs(), got, e.c() + ": out of order or lost (batches)");
                        }
                        e.seqs().clear();
                        assertNull(e.c().poll(), e.c() + " got more than was published to it");
                        assertEquals(0, e.c().poll((m, off, len) -> fail("more than was published"), 5));
                    }
                }
                for (Expect e : subs) assertEquals(0, e.c().messagesDropped());
            } finally {
                subs.forEach(e -> e.c().close());
            }
        }
    }

    @Test
    void aLappedSubscriberCountsExactlyWhatItLostAndTheOthersLoseNothing() {
        String name = Names.unique("bcast");
        try (Publisher pub = Fable.register(name).publish(publisher(1 << 16))) {
            Connection fast = Fable.subscribe(Names.uri("shm", name), ConnectOptions.trusted());
            Connection slow = Fable.subscribe(Names.uri("shm", name), ConnectOptions.trusted());
            try {
                assertTrue(pub.awaitSubscribers(2, LIMIT));
                int n = 50_000;   // 96 B records: 4.8 MB through a 64 KiB log, laps upon laps for the one that does not read
                long slowGot = 0, last = -1;
                for (int i = 0; i < n; i++) {
                    Buffer b = pub.claim(64, LIMIT);
                    fill(b, i, 64);
                    pub.publish(b);
                    Buffer r = fast.receive(LIMIT);
                    assertNotNull(r, "the fast subscriber lost message " + i);
                    assertEquals(i, r.getLong(0));
                    check(r);
                    r.release();
                    if (i % 5_000 == 4_999) {   // the slow one reads a little now and then: buffers, then a batch
                        for (int k = 0; k < 5; k++) {
                            Buffer s = slow.poll();
                            if (s == null) break;
                            assertTrue(s.getLong(0) > last, "the slow subscriber went back: " + s.getLong(0) + " after " + last);
                            last = s.getLong(0);
                            check(s);
                            s.release();
                            slowGot++;
                        }
                        long[] lastSeen = {last};
                        slowGot += slow.poll((m, off, len) -> {
                            long seq = m.get(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, off);
                            assertTrue(seq > lastSeen[0], "the slow subscriber went back (batch): " + seq + " after " + lastSeen[0]);
                            lastSeen[0] = seq;
                            check(m.asSlice(off, len), len);
                        }, 10);
                        last = lastSeen[0];
                    }
                }
                for (Buffer s; (s = slow.poll()) != null; ) {
                    assertTrue(s.getLong(0) > last, "the slow subscriber went back: " + s.getLong(0) + " after " + last);
                    last = s.getLong(0);
                    check(s);
                    s.release();
                    slowGot++;
                }
                assertEquals(n - 1, last, "the slow subscriber ends with the last message");
                assertTrue(slow.messagesDropped() > 0, "it was lapped: it lost some");
                assertEquals(n, slowGot + slow.messagesDropped(), "received + dropped = published (received " + slowGot + ")");
                assertEquals(0, fast.messagesDropped());
                assertEquals(0, pub.dropped(), "the publisher dropped nothing itself: the log carried every message, the slow reader was lapped");
                for (Subscriber s : pub.subscribers()) assertEquals(n, s.delivered());
            } finally {
                fast.close();
                slow.close();
            }
        }
    }

    @Test
    void aLosslessLogWaitsForItsSlowestReaderAndGoesOnWhenItLeaves() {
        String name = Names.unique("bcast");
        try (Publisher pub = Fable.register(name).publish(publisher(1 << 16).broadcastLog(1 << 16, true))) {
            Connection fast = Fable.subscribe(Names.uri("shm", name), ConnectOptions.trusted());
            Connection slow = Fable.subscribe(Names.uri("shm", name), ConnectOptions.trusted());
            try {
                assertTrue(pub.awaitSubscribers(2, LIMIT));
                long seq = 0, slowNext = 0;
                for (int round = 0; round < 5; round++) {
                    Buffer b;
                    while ((b = pub.claim(64)) != null) {   // until the log is full for the slow one
                        fill(b, seq, 64);
                        pub.publish(b);
                        Buffer r = fast.receive(LIMIT);
                        assertEquals(seq, r.getLong(0));
                        r.release();
                        seq++;
                        assertTrue(seq < 10_000, "the publisher never waited: 64 KiB holds fewer than 700 of these");
                    }
                    assertNull(fast.poll(), "the fast subscriber has everything");
                    for (Buffer r; (r = slow.poll()) != null; slowNext++) {   // the slow one catches up: room again
                        assertEquals(slowNext, r.getLong(0), "the slow subscriber lost or reordered one");
                        check(r);
                        r.release();
                    }
                    assertEquals(seq, slowNext);
                }
                assertEquals(0, slow.messagesDropped());
                assertEquals(0, fast.messagesDropped());
                slow.close();   // it leaves: the publisher no longer waits for it
                Buffer b = pub.claim(64, LIMIT);
                for (int i = 0; i < 5_000; i++) {
                    assertNotNull(b, "the publisher still waits for a subscriber that left");
                    fill(b, seq, 64);
                    pub.publish(b);
                    Buffer r = fast.receive(LIMIT);
                    assertEquals(seq++, r.getLong(0));
                    r.release();
                    b = pub.claim(64, LIMIT);
                }
                b.length(8);
                pub.publish(b);
            } finally {
                fast.close();
                slow.close();
            }
        }
    }

    @Test
    void aSleepingSubscriberWakesForABroadcastMessage() throws Exception {
        String name = Names.unique("bcast");
        try (Publisher pub = Fable.register(name).publish(publisher(1 << 16))) {
            Connection sub = Fable.subscribe(Names.uri("shm", name), ConnectOptions.trusted().waitMode(dev.fable.WaitMode.BLOCK));
            try {
                assertTrue(pub.awaitSubscribers(1, LIMIT));
                long pid = ProcessHandle.current().pid();
                for (int i = 0; i < 20; i++) {
                    java.util.concurrent.atomic.AtomicLong tid = new java.util.concurrent.atomic.AtomicLong();
                    java.util.concurrent.FutureTask<Long> got = dev.fable.testing.Tasks.spawn("sleeper", () -> {
                        tid.set(dev.fable.testing.ProcFs.currentTid());
                        Buffer r = sub.receive(LIMIT);
                        try {
                            return r == null ? -1L : r.getLong(0);
                        } finally {
                            if (r != null) r.release();
                        }
                    });
                    // the message comes only once the receiver sleeps on its ring's futex word
                    while (tid.get() == 0 || !dev.fable.testing.ProcFs.inSharedFutexWait(pid, tid.get())) Thread.onSpinWait();
                    Buffer b = pub.claim(64, LIMIT);
                    fill(b, i, 64);
                    pub.publish(b);
                    assertEquals(i, dev.fable.testing.Tasks.join(got), "the sleeping subscriber was not woken for message " + i);
                }
            } finally {
                sub.close();
            }
        }
    }

    @Test
    void broadcastLogOptionIsChecked() {
        assertThrows(IllegalArgumentException.class, () -> ConnectOptions.trusted().broadcastLog(100_000));
        assertThrows(IllegalArgumentException.class, () -> ConnectOptions.trusted().broadcastLog(1 << 10));
        assertEquals(0, ConnectOptions.trusted().broadcastLog(1 << 20).broadcastLog(0).broadcastLog());
    }

    /** seq in the first 8 bytes, then bytes derived from it, the length in the last 4. */
    private static void fill(Buffer b, long seq, int length) {
        b.putLong(0, seq);
        for (int i = 8; i < length - 4; i++) b.segment().set(java.lang.foreign.ValueLayout.JAVA_BYTE, i, (byte) (seq * 31 + i));
        b.segment().set(java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED, length - 4, length);
        b.length(length);
    }

    private static void check(Buffer r) {
        check(r.segment(), r.length());
    }

    private static void check(java.lang.foreign.MemorySegment m, int length) {
        long seq = m.get(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, 0);
        assertEquals(length, m.get(java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED, length - 4), "message " + seq + ": its length");
        for (int i = 8; i < length - 4; i++) {
            if (m.get(java.lang.foreign.ValueLayout.JAVA_BYTE, i) != (byte) (seq * 31 + i)) fail("message " + seq + ": byte " + i + " corrupt");
        }
    }
}
