package dev.fable.transport.shm;

import dev.fable.CorruptChannelException;
import dev.fable.buffer.LeakDetector;
import dev.fable.buffer.SlotBuffer;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static dev.fable.transport.shm.ShmLayout.*;
import static org.junit.jupiter.api.Assertions.*;

/**
 * A subscriber's reader of a broadcast log against a publisher that is honest in some rounds and hostile in the
 * others. Honest rounds: a real {@link BroadcastLog} and a real {@link RingWriter} (BSTART, BSYNC) publish a mix of
 * broadcast and ring messages, with laps; the reader, polling one buffer or a batch at a time, must deliver every
 * ring message and every broadcast message it was not lapped by, in publication order, and count exactly the
 * broadcast messages it lost. Hostile rounds add forged words anywhere in the log, INTENT and TAIL, and forged
 * BSTART/BSYNC records: every poll must then either hand out a message within bounds, find nothing, or fail the
 * connection with {@link CorruptChannelException} (never another exception, never a read out of bounds).
 */
class BroadcastLogFuzzTest {
    private static final int LOG_SIZE = MIN_LOG_BYTES;   // 64 KiB: laps come quickly
    private static final int MAX = 200;             // largest broadcast message
    private static final int ROUNDS = 3_000;
    private static final LeakDetector LEAKS = new LeakDetector(LeakDetector.Level.OFF);

    /** A publisher: the log, a ring pair whose writer orders its records after the log's messages, the expected stream. */
    private static final class Publisher implements AutoCloseable {
        final BroadcastLog log = BroadcastLog.create(LOG_SIZE, MAX, "fuzz", LEAKS);
        final RingPair pair = new RingPair(4096, 16, MIN_LOG_BYTES, true, false);
        final List<Long> expected = new ArrayList<>();   // publication order: broadcast sequence s as s, ring message k as -2 - k
        boolean ringForged;   // a forged record sits where the writer's inline claim is out: the writer writes no more
        long ringMessages;
        long seq;
        boolean toAll;
        long dropped;   // told to the reader (DROPPED from a lap)

        Publisher() {
            log.delivery((l, length) -> {
                if (toAll) l.publishToAll(length); else l.skip();
            });
            MemorySegment dummy = java.lang.foreign.Arena.ofAuto().allocate(poolBytes(64, 2), 4096);
            pair.reader.readFanout(dummy, 64, 2, n -> dropped += n);
            pair.reader.readBroadcast(log.segment().asReadOnly(), LOG_SIZE, MAX);
            pair.writer.startBroadcast(log);
        }

        void broadcast(Random rnd, boolean all) {
            int length = 8 + rnd.nextInt(MAX - 7);
            var b = log.claim(length);
            assertNotNull(b);
            b.putLong(0, all ? seq : Long.MIN_VALUE);
            b.length(length);
            toAll = all;
            b.commit();
            if (all) expected.add(seq++);
        }

        void ring(Random rnd) {
            if (ringForged) return;
            SlotBuffer b = pair.writer.claim(rnd.nextBoolean() ? 8 + rnd.nextInt(300) : 600 + rnd.nextInt(2000));
            if (b == null) return;   // its ring is full: the reader has not read
            b.putLong(0, -2 - ringMessages);
            b.length(Math.min(b.capacity(), 8 + rnd.nextInt(64)));
            b.commit();
            expected.add(-2 - ringMessages++);
        }

        @Override
        public void close() {
            pair.close();
            log.close();
        }
    }

    @Test
    void honestRoundsDeliverInOrderAndCountLossesAndHostileOnesOnlyFailTheConnection() {
        long seed = Long.getLong("fable.fuzz.seed", System.nanoTime());
        Random rnd = new Random(seed);
        long inputs = 0, fatal = 0, delivered = 0, laps = 0;
        for (int round = 0; round < ROUNDS; round++) {
            boolean hostile = round % 2 == 1;
            try (Publisher pub = new Publisher()) {
                List<Long> got = new ArrayList<>();
                try {
                    for (int step = 0; step < 60; step++, inputs++) {
                        int a = hostile && rnd.nextInt(10) == 0 ? 10 + rnd.nextInt(4) : rnd.nextInt(10);   // hostile rounds: a tenth of the steps forged
                        switch (a) {
                            case 0, 1, 2, 3, 4 -> pub.broadcast(rnd, true);
                            case 5 -> pub.broadcast(rnd, false);   // to fewer than all: a PAD in the log
                            case 6 -> pub.ring(rnd);
                            case 7 -> {   // a burst past a lap while the reader sleeps
                                for (int i = 0; i < 900; i++) pub.broadcast(rnd, true);
                            }
                            case 10 -> {   // a forged word at or after the reader's next record, or anywhere
                                long at = randomLogOffset(rnd);
                                pub.log.segment().set(java.lang.foreign.ValueLayout.JAVA_LONG, at, forged(rnd, at));
                            }
                            case 11 -> pub.log.segment().set(java.lang.foreign.ValueLayout.JAVA_LONG, BROADCAST_INTENT, forged(rnd, 0));
                            case 12 -> pub.log.segment().set(java.lang.foreign.ValueLayout.JAVA_LONG, BROADCAST_TAIL, forged(rnd, 0));
                            case 13 -> forgeRingRecord(pub, rnd);
                            default -> { }
                        }
                        int polls = rnd.nextInt(4);
                        for (int k = 0; k < polls; k++) delivered += read(pub, rnd, got);
                    }
                    for (int k = 0; k < 2_000; k++) {   // drain
                        int n = read(pub, rnd, got);
                        delivered += n;
                        if (n == 0) break;
                    }
                } catch (CorruptChannelException e) {
                    assertTrue(hostile, "an honest publisher failed the reader (seed " + seed + ", round " + round + "): " + e.getMessage());
                    fatal++;
                    continue;
                } catch (Throwable t) {
                    throw new AssertionError("round " + round + " (seed " + seed + ", rerun with -Dfable.fuzz.seed=" + seed + "): "
                            + (hostile ? "a hostile publisher got " : "") + t, t);
                }
                laps += pub.pair.reader.broadcastLaps();
                if (!hostile) check(pub, got, seed, round);
            }
        }
        System.out.printf("broadcast log fuzz: %,d inputs, %,d rounds (%,d hostile, %,d of them fatal), %,d messages, %,d laps, seed %d%n",
                inputs, ROUNDS, ROUNDS / 2, fatal, delivered, laps, seed);
        assertTrue(inputs >= 100_000, "fewer than 100,000 inputs: " + inputs);
        assertTrue(laps > 0, "no round lapped its reader");
        assertTrue(fatal > 0, "no hostile input was ever caught");
    }

    /** Honest: the ring's messages all, in order; the broadcast ones in order, each either delivered or counted as lost. */
    private static void check(Publisher pub, List<Long> got, long seed, int round) {
        String where = " (seed " + seed + ", round " + round + ")";
        int e = 0;
        long lostSeen = 0;
        for (long g : got) {
            while (e < pub.expected.size() && pub.expected.get(e) != g) {
                long skipped = pub.expected.get(e);
                assertTrue(skipped >= 0, "ring message " + (-2 - skipped) + " lost or out of order" + where + ": got " + g);
                lostSeen++;
                e++;
            }
            assertTrue(e < pub.expected.size(), "message " + g + " out of order or never published" + where);
            e++;
        }
        for (; e < pub.expected.size(); e++) {
            long rest = pub.expected.get(e);
            assertTrue(rest >= 0, "ring message " + (-2 - rest) + " never delivered" + where);
            lostSeen++;
        }
        assertEquals(lostSeen, pub.dropped, "broadcast messages lost must equal what the reader counted" + where);
    }

    /** One poll or batch; every message checked within bounds; returns how many. */
    private static int read(Publisher pub, Random rnd, List<Long> got) {
        if (rnd.nextBoolean()) {
            SlotBuffer b = pub.pair.reader.poll();
            if (b == null) return 0;
            try {
                take(b.segment(), 0, b.length(), got);
            } finally {
                b.release();
            }
            return 1;
        }
        return pub.pair.reader.poll((m, off, len) -> take(m, off, len, got), 1 + rnd.nextInt(16));
    }

    private static void take(MemorySegment m, long off, int len, List<Long> got) {
        assertTrue(len >= 0 && off + len <= m.byteSize(), "a message past its memory");
        for (int i = 0; i < len; i++) m.get(java.lang.foreign.ValueLayout.JAVA_BYTE, off + i);   // every byte readable (bounds-checked)
        got.add(len >= 8 ? m.get(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, off) : Long.MIN_VALUE + 1);
    }

    private static long randomLogOffset(Random rnd) {
        return ShmLayout.LOG + (rnd.nextInt(LOG_SIZE / 8) * 8L);
    }

    /** A header that passes the tag check at {@code at} half the time, with any kind and length; else random. */
    private static long forged(Random rnd, long at) {
        return switch (rnd.nextInt(4)) {
            case 0 -> rnd.nextLong();
            case 1 -> header(rnd.nextInt(1 << 20) * 16L, 1 + rnd.nextInt(12), rnd.nextInt(1 << 24), false);
            case 2 -> rnd.nextInt(1 << 20) * 16L;   // a plausible position
            default -> rnd.nextBoolean() ? 0 : -1;
        };
    }

    /** A BSYNC with any sequence, or a second BSTART, at the ring writer's position (as a hostile publisher would write). */
    private static void forgeRingRecord(Publisher pub, Random rnd) {
        if (pub.ringForged) return;
        pub.ringForged = true;
        SlotBuffer b = pub.pair.writer.claim(16);   // reserves the place: an inline record at the writer's position
        if (b == null) return;
        long p = b.segment().address() - pub.pair.ring.address() - LOG - RECORD_HEADER;
        int kind = rnd.nextBoolean() ? KIND_BSYNC : KIND_BSTART;
        b.putLong(0, rnd.nextInt(3) == 0 ? rnd.nextLong() : rnd.nextInt(1 << 16) * 16L);
        b.putLong(8, rnd.nextLong());
        MemorySegment ring = pub.pair.ring;
        ring.set(java.lang.foreign.ValueLayout.JAVA_LONG, LOG + recordBytes(16) + p, 0);
        putHeaderRelease(ring, LOG + p, header(p, kind, kind == KIND_BSYNC ? 8 : 16, false));   // published in place of the claim
    }
}
