package dev.fable.endpoint;

import dev.fable.Buffer;
import dev.fable.ConnectOptions;
import dev.fable.Connection;
import dev.fable.ConnectionEvent;
import dev.fable.Fable;
import dev.fable.FableException;
import dev.fable.Publisher;
import dev.fable.Subscriber;
import dev.fable.testing.Names;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

/**
 * One producer, many consumers, every end in this JVM (the fan-out pool is still a memfd each
 * subscriber maps read-only): the API's semantics. Real processes: {@link FanoutProcessesTest}.
 */
class FanoutInProcessTest {
    private static final Duration LIMIT = Duration.ofSeconds(30);

    private static ConnectOptions pool(int slotSize, int slotCount) {
        return ConnectOptions.trusted().slotSize(slotSize).slotCount(slotCount);
    }

    /** Publishes one message with {@code seq} in its first 8 bytes, waiting for a slot. */
    private static Buffer claimSeq(Publisher pub, long seq, int length) {
        Buffer b = pub.claim(length, LIMIT);
        assertNotNull(b, "no fan-out slot came free within " + LIMIT);
        b.putLong(0, seq);
        return b;
    }

    private static List<Connection> subscribe(String name, int n, ConnectOptions o) {
        List<Connection> subs = new ArrayList<>();
        for (int i = 0; i < n; i++) subs.add(Fable.subscribe(Names.uri("shm", name), o));
        return subs;
    }

    @Test
    void everySubscriberReadsEveryMessageInPlaceInThePublishersPool() {
        String name = Names.unique("fan");
        try (Publisher pub = Fable.register(name).publish(pool(256, 8))) {
            List<Connection> subs = subscribe(name, 3, ConnectOptions.trusted());
            try {
                assertTrue(pub.awaitSubscribers(3, LIMIT));
                for (int i = 0; i < 2_000; i++) {
                    Buffer b = claimSeq(pub, i, 64);
                    b.putLong(56, ~i);
                    assertEquals(3, pub.publish(b));
                    for (Connection s : subs) {
                        Buffer r = s.receive(LIMIT);
                        assertNotNull(r, "subscriber got nothing for message " + i);
                        assertEquals(64, r.length());
                        assertEquals(i, r.getLong(0));
                        assertEquals(~i, r.getLong(56));
                        assertEquals(Buffer.Kind.SHM_SLOT, r.kind());
                        assertTrue(r.isReadOnly());
                        r.release();
                    }
                }
                for (Subscriber s : pub.subscribers()) {
                    assertEquals(2_000, s.delivered());
                    assertEquals(0, s.dropped());
                    assertEquals("shm", s.transport());
                }
            } finally {
                subs.forEach(Connection::close);
            }
        }
    }

    @Test
    void aSlotIsFreeOnlyWhenEveryHolderReleasedIt() {
        String name = Names.unique("fan");
        try (Publisher pub = Fable.register(name).publish(pool(128, 2).readQuota(2))) {
            List<Connection> subs = subscribe(name, 2, ConnectOptions.trusted());
            try {
                assertTrue(pub.awaitSubscribers(2, LIMIT));
                pub.publish(claimSeq(pub, 1, 8));
                pub.publish(claimSeq(pub, 2, 8));
                Buffer a1 = subs.get(0).receive(LIMIT);
                Buffer a2 = subs.get(0).receive(LIMIT);
                a1.release();
                a2.release();
                assertNull(subs.get(0).poll());   // idle: its releases are published (READ goes in batches)
                assertNull(pub.claim(8), "subscriber 2 still holds both slots (it has not polled them)");
                Buffer b1 = subs.get(1).receive(LIMIT);
                Buffer b2 = subs.get(1).receive(LIMIT);
                assertEquals(2, b2.getLong(0));
                b1.release();                     // message 2 still held
                assertNull(subs.get(1).poll());   // idle: READ up to message 2's record, which it holds
                Buffer again = pub.claim(8, LIMIT);
                assertNotNull(again, "slot of message 1 released by both subscribers but never freed");
                assertNull(pub.claim(8), "message 2's slot is still held by subscriber 2");
                b2.release();
                assertNull(subs.get(1).poll());
                Buffer last = pub.claim(8, LIMIT);
                assertNotNull(last, "message 2's slot released by both but never freed");
                pub.publish(again);
                pub.publish(last, (s, m) -> false);
            } finally {
                subs.forEach(Connection::close);
            }
        }
    }

    @Test
    void aClassifierSendsDisjointSubsetsInOrder() {
        String name = Names.unique("fan");
        try (Publisher pub = Fable.register(name).publish(pool(256, 16))) {
            List<Connection> subs = subscribe(name, 3, ConnectOptions.trusted());
            try {
                assertTrue(pub.awaitSubscribers(3, LIMIT));
                List<Subscriber> who = pub.subscribers();
                int n = 3_000;
                List<List<Long>> got = List.of(new ArrayList<>(), new ArrayList<>(), new ArrayList<>());
                for (int i = 0; i < n; i++) {
                    Buffer b = claimSeq(pub, i, 8);
                    assertEquals(1, pub.publish(b, (s, m) -> s == who.get((int) (m.getLong(0) % 3))));
                    for (int k = 0; k < 3; k++) {
                        Buffer r = subs.get(k).poll();
                        if (r == null) continue;
                        got.get(k).add(r.getLong(0));
                        r.release();
                    }
                }
                for (int k = 0; k < 3; k++) {
                    Connection s = subs.get(k);
                    while (got.get(k).size() < n / 3) {
                        Buffer r = s.receive(LIMIT);
                        assertNotNull(r, "subscriber " + k + " stopped at " + got.get(k).size());
                        got.get(k).add(r.getLong(0));
                        r.release();
                    }
                    assertNull(s.poll(), "subscriber " + k + " got more than its subset");
                    // which subscriber object is which connection: match by the first sequence number received
                    long first = got.get(k).get(0);
                    for (int j = 0; j < got.get(k).size(); j++) assertEquals(first + 3L * j, got.get(k).get(j));
                }
            } finally {
                subs.forEach(Connection::close);
            }
        }
    }

    @Test
    void publishingToOneOrASetOrNobody() {
        String name = Names.unique("fan");
        try (Publisher pub = Fable.register(name).publish(pool(256, 4))) {
            List<Connection> subs = subscribe(name, 2, ConnectOptions.trusted());
            try {
                assertTrue(pub.awaitSubscribers(2, LIMIT));
                Subscriber first = pub.subscribers().get(0);
                Buffer b = claimSeq(pub, 7, 8);
                assertThrows(IllegalArgumentException.class, () -> pub.publish(b, Set.of()), "an empty set is refused");
                assertEquals(1, pub.publish(b, Set.of(first)), "the buffer stayed claimed after the refusal");
                assertEquals(0, pub.publish(claimSeq(pub, 8, 8), (s, m) -> false), "nobody wanted it: the slot is free at once");
                int got = 0;
                for (Connection s : subs) {
                    Buffer r = s.receive(Duration.ofMillis(200));
                    if (r != null) {
                        assertEquals(7, r.getLong(0));
                        r.release();
                        got++;
                    }
                }
                assertEquals(1, got);
                for (Connection s : subs) assertNull(s.poll());   // idle: releases published (READ goes in batches)
                List<Buffer> all = new ArrayList<>();
                for (int i = 0; i < 4; i++) all.add(assertInstanceOf(Buffer.class, pub.claim(8, LIMIT), "slot " + i + " of 4 is free again"));
                assertThrows(IllegalStateException.class, () -> all.get(0).commitFragment(), "a published message is one buffer");
                for (Buffer x : all) pub.publish(x, (s, m) -> false);
            } finally {
                subs.forEach(Connection::close);
            }
        }
    }

    @Test
    void aFullSubscriberLosesOnlyItsOwnMessagesAndIsToldHowMany() {
        String name = Names.unique("fan");
        // the smallest queue: a 64 KiB log holds 4,095 references; the stalled subscriber polls nothing for 10,000
        try (Publisher pub = Fable.register(name).publish(pool(128, 64).logBytes(64 * 1024))) {
            List<Connection> subs = subscribe(name, 2, ConnectOptions.trusted());
            try {
                assertTrue(pub.awaitSubscribers(2, LIMIT));
                Connection fast = subs.get(0), stalled = subs.get(1);
                int n = 10_000;
                for (int i = 0; i < n; i++) {
                    pub.publish(claimSeq(pub, i, 16));
                    Buffer r = fast.receive(LIMIT);
                    assertEquals(i, r.getLong(0), "the fast subscriber lost or reordered a message");
                    r.release();
                }
                Subscriber s = pub.subscribers().stream().filter(x -> x.dropped() > 0).findFirst().orElseThrow();
                long dropped = s.dropped();
                assertTrue(dropped > 0 && dropped < n, "drops " + dropped);
                assertEquals(dropped, pub.dropped());
                long got = 0;
                long last = -1;
                for (Buffer r; (r = stalled.poll()) != null; ) {
                    assertTrue(r.getLong(0) > last, "in order");
                    last = r.getLong(0);
                    got++;
                    r.release();
                }
                assertEquals(n - dropped, got, "what arrived and what was dropped add up");
                assertEquals(0, stalled.messagesDropped(), "not told yet: told before its next message");
                pub.publish(claimSeq(pub, n, 16));
                Buffer r = stalled.receive(LIMIT);
                assertEquals(n, r.getLong(0));
                r.release();
                assertEquals(dropped, stalled.messagesDropped());
                // the publisher's events: each transition once, none for the fast subscriber but its joining
                List<String> seen = new ArrayList<>();
                for (dev.fable.SubscriberEvent ev; (ev = pub.pollEvent()) != null; ) {
                    seen.add((ev.subscriber() == s ? "stalled " : "fast ") + ev.type() + (ev.type() == dev.fable.SubscriberEvent.Type.SPACE_AVAILABLE ? " " + ev.count() : ""));
                }
                seen.removeIf(x -> x.endsWith("JOINED"));
                assertEquals(List.of("stalled ALMOST_FULL", "stalled FULL", "stalled SPACE_AVAILABLE " + dropped), seen);
                ConnectionEvent e = stalled.pollEvent();
                assertNotNull(e);
                assertEquals(ConnectionEvent.Type.DROPPED, e.type());
                assertTrue(e.reason().contains(Long.toString(dropped)), e.reason());
                assertEquals(0, fast.messagesDropped());
            } finally {
                subs.forEach(Connection::close);
            }
        }
    }

    @Test
    void aSubscriberThatLeavesGivesItsSlotsBack() {
        String name = Names.unique("fan");
        try (Publisher pub = Fable.register(name).publish(pool(128, 4).readQuota(4))) {
            Connection stays = Fable.subscribe(Names.uri("shm", name), ConnectOptions.trusted());
            Connection leaves = Fable.subscribe(Names.uri("shm", name), ConnectOptions.trusted());
            try {
                assertTrue(pub.awaitSubscribers(2, LIMIT));
                for (int i = 0; i < 4; i++) pub.publish(claimSeq(pub, i, 8));   // 'leaves' never reads them
                for (int i = 0; i < 4; i++) stays.receive(LIMIT).release();
                assertNull(pub.claim(8), "all four slots are held by the subscriber that did not read");
                leaves.close();
                Buffer b = pub.claim(8, LIMIT);
                assertNotNull(b, "the subscriber left, but its slots never came back");
                assertEquals(1, pub.publish(b));
                assertEquals(1, pub.subscribers().size());
            } finally {
                stays.close();
                leaves.close();
            }
        }
    }

    @Test
    void subscribingToAListenerAndConnectingToAPublisherAreRefusedWithTheReason() {
        String listener = Names.unique("one");
        try (var ep = Fable.register(listener).listen()) {
            FableException e = assertThrows(FableException.class, () -> Fable.subscribe(Names.uri("shm", listener), ConnectOptions.trusted()));
            assertTrue(e.getMessage().contains("does not publish"), e.getMessage());
        }
        String publisher = Names.unique("fan");
        try (Publisher pub = Fable.register(publisher).publish(pool(128, 4))) {
            FableException e = assertThrows(FableException.class, () -> Fable.connect(Names.uri("shm", publisher), ConnectOptions.trusted()));
            assertTrue(e.getMessage().contains("publishes"), e.getMessage());
            try (Connection sub = Fable.subscribe(Names.uri("shm", publisher), ConnectOptions.trusted())) {
                assertThrows(IllegalStateException.class, () -> sub.claim(8), "a subscription sends nothing");
            }
        }
    }

    @Test
    void aSocketSubscriberGetsCopiesAndIsToldItsDropsToo() {
        String name = Names.unique("fan");
        try (Publisher pub = Fable.register(name).publish(pool(2048, 64))) {
            Connection shm = Fable.subscribe(Names.uri("shm", name), ConnectOptions.trusted());
            Connection unix = Fable.subscribe(Names.uri("unix", name), ConnectOptions.trusted());
            try {
                assertTrue(pub.awaitSubscribers(2, LIMIT));
                int n = 20_000;   // 1 KiB each: far more than a Unix socket's buffer and the leg's staging hold
                for (int i = 0; i < n; i++) {
                    Buffer b = claimSeq(pub, i, 1024);
                    b.putLong(1016, ~i);
                    pub.publish(b);
                    Buffer r = shm.receive(LIMIT);
                    assertEquals(i, r.getLong(0));
                    r.release();
                }
                Subscriber u = pub.subscribers().stream().filter(x -> x.transport().equals("unix")).findFirst().orElseThrow();
                long dropped = u.dropped();
                assertTrue(dropped > 0, "the unix subscriber read nothing while 20 MB went by, yet nothing was dropped for it");
                long last = -1;
                for (long got = 0; got < n - dropped; got++) {
                    Buffer r = unix.receive(LIMIT);
                    assertNotNull(r, "the unix subscriber stopped after " + got + " of " + (n - dropped) + " messages");
                    assertNotEquals(Buffer.Kind.SHM_SLOT, r.kind(), "a copy");
                    assertTrue(r.getLong(0) > last, "in order");
                    assertEquals(~r.getLong(0), r.getLong(1016));
                    last = r.getLong(0);
                    r.release();
                }
                assertEquals(0, unix.messagesDropped(), "not told yet: told with the next message");
                pub.publish(claimSeq(pub, n, 1024));
                Buffer r = unix.receive(LIMIT);
                assertEquals(n, r.getLong(0), "received and dropped add up to what was published");
                r.release();
                assertEquals(dropped, unix.messagesDropped(), "told with the last message's frame");
                assertEquals(ConnectionEvent.Type.DROPPED, unix.pollEvent().type());
            } finally {
                shm.close();
                unix.close();
            }
        }
    }

    @Test
    void aSubscriberMayHoldManyBuffersAtOnce() {
        String name = Names.unique("fan");
        try (Publisher pub = Fable.register(name).publish(pool(256, 64).readQuota(32))) {
            try (Connection sub = Fable.subscribe(Names.uri("shm", name), ConnectOptions.trusted())) {
                assertTrue(pub.awaitSubscribers(1, LIMIT));
                for (int i = 0; i < 20; i++) pub.publish(claimSeq(pub, i, 256));
                List<Buffer> held = new ArrayList<>();
                for (int i = 0; i < 20; i++) held.add(sub.receive(LIMIT));   // its own leg's pool has 2 slots: the fan-out pool's count
                for (int i = 0; i < 20; i++) assertEquals(i, held.get(i).getLong(0));
                held.forEach(Buffer::release);
            }
        }
    }

    /**
     * A subscriber forwards every message into a one-to-one shm connection; the far end reads the publisher's
     * fan-out slot in place: the slot stays held (the publisher cannot reuse it) until the far end released it.
     */
    @Test
    void aSubscriberForwardsFanOutSlotsInPlace() throws Exception {
        String name = Names.unique("fan");
        try (Publisher pub = Fable.register(name).publish(pool(2048, 4).readQuota(4));
             dev.fable.testing.Pair relay = dev.fable.testing.Pair.open("shm", ConnectOptions.trusted(), ConnectOptions.trusted());
             Connection sub = Fable.subscribe(Names.uri("shm", name), ConnectOptions.trusted())) {
            assertTrue(pub.awaitSubscribers(1, LIMIT));
            Connection farEnd = relay.server();
            for (int i = 0; i < 2; i++) {
                Buffer b = claimSeq(pub, i, 1500);
                b.putLong(1492, ~i);
                pub.publish(b);
                assertTrue(sub.receive(LIMIT).forward(relay.client()));
            }
            Buffer a = farEnd.receive(LIMIT), b = farEnd.receive(LIMIT);
            assertEquals(0, a.getLong(0));
            assertEquals(~1L, b.getLong(1492));
            assertNull(sub.poll());   // an idle poll publishes the subscriber's READ: had it copied, both records would be released
            Buffer x = pub.claim(8), y = pub.claim(8);   // the two slots never used
            assertNotNull(x);
            assertNotNull(y);
            assertNull(pub.claim(8), "the subscriber's READ passed its records: it copied instead of lending");
            a.release();
            b.release();
            assertNull(farEnd.poll());   // publishes the far end's releases
            assertNull(sub.receive(java.time.Duration.ofMillis(50)));   // the subscriber sees them and gives its holds back
            assertNotNull(pub.claim(8, LIMIT), "the far end released both, but the publisher never got its slots back");
            pub.publish(x, (s, m) -> false);
            pub.publish(y, (s, m) -> false);
        }
    }

    /**
     * Early classification: a subscriber contributes a pool; what the publisher claims for it alone is written
     * straight into that pool (its slot size bounds the claim, its slot count is the subscriber's back-pressure),
     * in order with what is published to everyone, and no other subscriber sees it.
     */
    @Test
    void aContributedPoolTakesTheMessagesClassifiedForItsSubscriberAlone() {
        String name = Names.unique("fan");
        try (Publisher pub = Fable.register(name).publish(pool(16384, 16))) {
            Connection own = Fable.subscribe(Names.uri("shm", name), ConnectOptions.trusted().slotSize(4096).slotCount(8).contributePool(true));
            Connection other = Fable.subscribe(Names.uri("shm", name), ConnectOptions.trusted());
            try {
                assertTrue(pub.awaitSubscribers(2, LIMIT));
                Subscriber mine = pub.subscribers().get(0);
                pub.publish(claimSeq(pub, 0, 100));   // to both
                List<Buffer> claimed = new ArrayList<>();
                for (int i = 1; i <= 8; i++) {
                    Buffer b = pub.claim(10_000, mine);
                    assertNotNull(b, "contributed slot " + i + " of 8");
                    assertEquals(4096, b.capacity(), "the contributed pool's slot size bounds the claim (the publisher's own is 16 KiB)");
                    b.putLong(0, i);
                    b.putLong(4088, ~i);
                    claimed.add(b);
                }
                assertNull(pub.claim(10_000, mine), "all 8 contributed slots are out: that subscriber's back-pressure");
                assertThrows(IllegalArgumentException.class, () -> pub.publish(claimed.get(0)), "an early-classified buffer is committed, not published");
                claimed.forEach(Buffer::commit);
                pub.publish(claimSeq(pub, 9, 100));
                List<Buffer> got = new ArrayList<>();
                for (int i = 0; i <= 9; i++) {
                    Buffer r = own.receive(LIMIT);
                    assertEquals(i, r.getLong(0), "in order with what was published to everyone");
                    if (i >= 1 && i <= 8) assertEquals(~(long) i, r.getLong(4088));
                    got.add(r);
                }
                assertNull(pub.claim(2000, mine), "the subscriber holds all 8 of its slots");
                got.forEach(Buffer::release);
                assertNull(own.poll());   // publishes its releases
                Buffer again = pub.claim(2000, mine);
                assertNotNull(again, "released: its pool is free again");
                again.commit();
                assertEquals(0, other.receive(LIMIT).getLong(0));
                assertEquals(9, other.receive(LIMIT).getLong(0), "the other subscriber saw nothing of what was classified for the first");
                assertEquals(11, mine.delivered(), "2 published to everyone and 9 claimed for it alone");
            } finally {
                own.close();
                other.close();
            }
        }
    }

    /**
     * Each subscriber's privacy model, as both ends report it to {@code fable flows}: relaxed (reads in place),
     * strict (an untrusted subscriber copies at poll, and says so in its HELLO), early (a contributed pool),
     * copy (a socket transport).
     */
    @Test
    void eachEndKnowsItsSubscribersPrivacyModel() {
        String name = Names.unique("fan");
        try (Publisher pub = Fable.register(name).publish(pool(4096, 16))) {
            List<Connection> subs = List.of(
                    Fable.subscribe(Names.uri("shm", name), ConnectOptions.trusted()),
                    Fable.subscribe(Names.uri("shm", name), ConnectOptions.untrusted()),
                    Fable.subscribe(Names.uri("shm", name), ConnectOptions.trusted().slotSize(4096).slotCount(8).contributePool(true)),
                    Fable.subscribe(Names.uri("unix", name), ConnectOptions.trusted()));
            try {
                assertTrue(pub.awaitSubscribers(4, LIMIT));
                List<String> expected = List.of("relaxed", "strict", "early", "copy");
                for (int i = 0; i < 4; i++) {
                    assertEquals(expected.get(i), ((dev.fable.flow.LiveConnection) subs.get(i)).leg().privacy(), "subscriber " + i + "'s end");
                }
                List<String> seen = new ArrayList<>();
                for (Subscriber s : pub.subscribers()) seen.add(((LocalPublisher.Member) s).connection.leg().privacy());
                assertEquals(Set.copyOf(expected), Set.copyOf(seen), "the publisher's ends: " + seen);
            } finally {
                subs.forEach(Connection::close);
            }
        }
    }
}
