package dev.fable.transport.shm;

import dev.fable.Buffer;
import dev.fable.CorruptChannelException;
import dev.fable.buffer.SlotBuffer;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static dev.fable.transport.shm.ShmLayout.*;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The log of layout 3, between a real writer and reader: claims of at most {@code inlineMax} bytes are
 * written in place in the log, back to back; larger ones take a slot and a 16-byte SLOT record. A record
 * never wraps (a PAD fills the log's end); an inline claim held while a slot is committed becomes a HOLE
 * and, when committed, a REF, so that messages arrive in commit order; READ never passes a buffer still
 * held, and the writer gets log and slots back only as READ passes them. The reader refuses every record
 * it cannot place, the writer every READ off the grid or out of range.
 */
class InlineRecordsTest {
    private static final int SLOT = 4096, SLOTS = 16;
    private static final int LOG_BYTES = MIN_LOG_BYTES;
    private static final int BIG = INLINE_MAX + 1;   // a claim that takes a slot

    private static long headerAt(RingPair r, long position) {
        return headerAcquire(r.ring, logOffset(position, r.logBytes - 1));
    }

    private static long wordAt(RingPair r, long position) {
        return logWordPlain(r.ring, logOffset(position, r.logBytes - 1) + RECORD_HEADER);
    }

    /** Polls and releases until nothing is left; the last, empty poll publishes READ. */
    private static void drain(RingPair r) {
        for (SlotBuffer b; (b = r.reader.poll()) != null; ) b.release();
    }

    private static byte[] bytes(int n, long seed) {
        byte[] a = new byte[n];
        new Random(seed).nextBytes(a);
        return a;
    }

    private static byte[] read(Buffer b) {
        byte[] a = new byte[b.length()];
        b.get(0, a, 0, a.length);
        return a;
    }

    @Test
    void smallClaimsGoInlineBackToBackAndLargeOnesTakeSlots() {
        try (RingPair r = new RingPair(SLOT, SLOTS, false)) {
            for (int i = 0; i < 4; i++) {
                SlotBuffer b = r.writer.claim(64);
                assertEquals(64, b.capacity(), "an inline claim grants what was asked");
                assertEquals(-1, b.slot(), "an inline claim takes no slot");
                assertEquals(LOG + 80L * i + RECORD_HEADER, r.ringOffset(b), "consecutive 64 B messages lie 80 bytes apart in the log");
                b.putLong(0, 1000 + i);
                b.length(64).commit();
                assertEquals(header(80L * i, KIND_INLINE, 64, false), headerAt(r, 80L * i));
            }
            SlotBuffer big = r.writer.claim(BIG);
            assertEquals(SLOT, big.capacity(), "a claim above 512 B gets a whole slot");
            assertEquals(0, big.slot());
            assertEquals(slotOffset(0, SLOT), r.poolOffset(big));
            big.putLong(0, 2000);
            big.length(SLOT).commit();
            assertEquals(header(320, KIND_SLOT, RECORD_HEADER, false), headerAt(r, 320), "a 16-byte SLOT record");
            assertEquals(pointer(0, SLOT, false), wordAt(r, 320));
            SlotBuffer most = r.writer.claim(INLINE_MAX);
            assertEquals(-1, most.slot(), "512 B still go inline");
            assertEquals(LOG + 336 + RECORD_HEADER, r.ringOffset(most));
            most.putLong(0, 3000);
            most.commit();

            for (int i = 0; i < 4; i++) {
                SlotBuffer m = r.reader.poll();
                assertEquals(1000 + i, m.getLong(0), "in commit order");
                assertEquals(64, m.length());
                assertEquals(64, m.capacity(), "an inline read buffer is its message");
                assertEquals(-1, m.slot());
                assertEquals(LOG + 80L * i + RECORD_HEADER, r.ringOffset(m), "zero-copy: the reader sees the writer's bytes in the log");
                m.release();
                assertThrows(IllegalStateException.class, () -> m.getLong(0), "single-use");
            }
            SlotBuffer m = r.reader.poll();
            assertEquals(2000, m.getLong(0));
            assertEquals(SLOT, m.length());
            assertEquals(0, m.slot());
            assertEquals(slotOffset(0, SLOT), r.poolOffset(m), "zero-copy: the reader sees the writer's slot");
            m.release();
            m = r.reader.poll();
            assertEquals(3000, m.getLong(0));
            assertEquals(INLINE_MAX, m.length());
            assertEquals(LOG + 336 + RECORD_HEADER, r.ringOffset(m));
            m.release();
            assertNull(r.reader.poll());
            assertEquals(336 + recordBytes(INLINE_MAX), r.read(), "READ is the log position after the last record");
        }
    }

    @Test
    void aSlotSmallerThanInlineMaxBoundsWhatGoesInline() {
        try (RingPair r = new RingPair(256, SLOTS, false)) {
            assertEquals(256, inlineMaxFor(256));
            SlotBuffer b = r.writer.claim(256);
            assertEquals(-1, b.slot(), "a whole slot's worth still goes inline");
            b.commit();
            SlotBuffer s = r.writer.claim(257);
            assertEquals(256, s.capacity(), "more than a slot: the slot");
            assertEquals(0, s.slot());
            s.commit();
        }
    }

    /** Messages of mixed sizes over two laps of the log: each record starts where the last ended, or after a PAD at the log's start. */
    @Test
    void aPadFillsTheLogsEndAndNoRecordWraps() {
        try (RingPair r = new RingPair(SLOT, SLOTS, false)) {
            int mask = r.logBytes - 1;
            int[] sizes = {64, 1, INLINE_MAX, 300, 17, 200, 8};
            long p = 0;
            int pads = 0;
            for (int i = 0; p < 2L * r.logBytes + 1000; i++) {
                int size = sizes[i % sizes.length];
                int record = recordBytes(size);
                int toEnd = r.logBytes - (int) (p & mask);
                SlotBuffer b = r.writer.claim(size);
                assertNotNull(b, "claim " + i);
                if (record > toEnd) {
                    assertEquals(header(p, KIND_PAD, toEnd - RECORD_HEADER, false), headerAt(r, p), "a PAD fills the log's end at " + p);
                    p += toEnd;
                    pads++;
                }
                assertEquals(LOG + (p & mask) + RECORD_HEADER, r.ringOffset(b), "message " + i);
                assertTrue((p & mask) + record <= r.logBytes, "a record never wraps");
                byte[] m = bytes(size, i);
                b.put(0, m, 0, size);
                b.commit();
                assertEquals(header(p, KIND_INLINE, size, false), headerAt(r, p), "the tag of this lap, at " + p);
                p += record;
                SlotBuffer got = r.reader.poll();
                assertArrayEquals(m, read(got), "message " + i);
                got.release();
                assertNull(r.reader.poll());
                assertEquals(p, r.read());
            }
            assertTrue(pads >= 2, "the log lapped twice: " + pads + " PADs");
        }
    }

    @Test
    void anInlineClaimHeldWhileASlotIsCommittedBecomesAHoleAndARefInCommitOrder() {
        try (RingPair r = new RingPair(SLOT, SLOTS, false)) {
            byte[] message = bytes(100, 1);
            SlotBuffer held = r.writer.claim(100);
            held.put(0, message, 0, 100);
            SlotBuffer s1 = r.writer.claim(1000);
            s1.putLong(0, 1);
            s1.length(1000).commit();
            assertEquals(header(0, KIND_HOLE, 100, false), headerAt(r, 0), "the held claim's record became a HOLE: the slot does not wait for it");
            assertEquals(header(112, KIND_SLOT, RECORD_HEADER, false), headerAt(r, 112));
            SlotBuffer s2 = r.writer.claim(64);
            assertEquals(SLOT, s2.capacity(), "a second concurrent small claim takes a slot: one inline claim at a time");
            assertTrue(s2.slot() >= 0);
            s2.putLong(0, 2);
            s2.length(64).commit();
            held.length(60);
            held.commitFragment();
            assertEquals(header(144, KIND_REF, 60, true), headerAt(r, 144), "committed last, the held claim goes as a REF");
            assertEquals(0, wordAt(r, 144), "the REF names its HOLE");

            SlotBuffer m1 = r.reader.poll();
            assertEquals(1, m1.getLong(0), "the slot committed first comes first");
            assertEquals(1000, m1.length());
            SlotBuffer m2 = r.reader.poll();
            assertEquals(2, m2.getLong(0));
            SlotBuffer m3 = r.reader.poll();
            assertEquals(60, m3.length());
            assertTrue(m3.more());
            assertEquals(-1, m3.slot());
            assertEquals(LOG + RECORD_HEADER, r.ringOffset(m3), "read in place from the HOLE");
            assertArrayEquals(Arrays.copyOf(message, 60), read(m3), "the inline bytes, intact");
            assertNull(r.reader.poll());
            m1.release();
            m2.release();
            m3.release();
            assertNull(r.reader.poll());
            assertEquals(160, r.read());
        }
    }

    /**
     * The REF's buffer reads the HOLE's bytes, which lie before the SLOT records published after the HOLE:
     * READ must stay at the HOLE while it is held, whatever else is released, or the writer would write its
     * next lap over bytes the application is reading (and READ would move back when the SLOT's buffer goes).
     */
    @Test
    void aRefHeldBehindALaterSlotKeepsReadAtItsHole() {
        try (RingPair r = new RingPair(SLOT, SLOTS, false)) {
            SlotBuffer held = r.writer.claim(64);
            held.putLong(0, 111);
            r.writer.claim(1000).commit();   // HOLE at 0, SLOT at 80
            held.commit();                   // REF at 96
            SlotBuffer slot = r.reader.poll();
            SlotBuffer ref = r.reader.poll();
            assertEquals(111, ref.getLong(0));
            assertNull(r.reader.poll());
            assertEquals(0, r.read(), "READ stays at the HOLE the REF's buffer reads (both buffers held)");
            slot.release();
            assertNull(r.reader.poll());
            assertEquals(0, r.read(), "READ stays at the HOLE the REF's buffer reads (the SLOT's buffer released)");
            for (SlotBuffer b; (b = r.writer.claim(8)) != null || (b = r.writer.claim(BIG)) != null; ) {   // the writer takes all the room it is given
                b.putLong(0, -7);
                b.commit();
                drain(r);
            }
            assertEquals(111, ref.getLong(0), "the held REF's bytes survived a full log");
            ref.release();
            assertNull(r.reader.poll());
            assertNotNull(r.writer.claim(8), "released: the writer goes on");
        }
    }

    @Test
    void readNeverPassesAHeldBufferAndPassesItOnceReleasedInAnyOrder() {
        try (RingPair r = new RingPair(SLOT, SLOTS, false)) {
            r.publish(1, 64);     // INLINE at 0 (80 B)
            r.publish(1, BIG);    // SLOT at 80
            r.publish(1, 64);     // INLINE at 96
            r.publish(1, BIG);    // SLOT at 176, the log's end at 192
            SlotBuffer[] b = new SlotBuffer[4];
            for (int i = 0; i < 4; i++) b[i] = r.reader.poll();
            assertNull(r.reader.poll());
            assertEquals(0, r.read(), "all held");
            b[1].release();
            assertNull(r.reader.poll());
            assertEquals(0, r.read(), "the first is still held");
            b[0].release();
            assertNull(r.reader.poll());
            assertEquals(96, r.read(), "the third is now the oldest held");
            b[3].release();
            assertNull(r.reader.poll());
            assertEquals(96, r.read());
            b[2].release();
            assertNull(r.reader.poll());
            assertEquals(192, r.read(), "none held: the next record to poll");
        }
    }

    @Test
    void aHeldInlineBufferBackPressuresTheWriterUntilReleased() {
        try (RingPair r = new RingPair(SLOT, SLOTS, false)) {
            r.publish(1, 64);
            SlotBuffer first = r.reader.poll();
            long sent = 0;
            SlotBuffer b;
            while ((b = r.writer.claim(64)) != null || (b = r.writer.claim(BIG)) != null) {   // the rest goes by
                b.putLong(0, ++sent);
                b.commit();
                SlotBuffer m = r.reader.poll();
                assertEquals(sent, m.getLong(0));
                m.release();
                assertNull(r.reader.poll());
            }
            assertEquals(0, r.read(), "READ is held at the first message");
            assertTrue(sent > r.logBytes / 80 - 10, "about one log of 80-byte records went by: " + sent);
            assertNull(r.writer.claim(1), "back-pressure: no room for the smallest claim");
            assertFalse(r.writer.spaceAvailable());
            first.release();
            assertNull(r.reader.poll());
            assertTrue(r.read() > r.logBytes - 128, "released: READ passes everything: " + r.read());
            assertTrue(r.writer.spaceAvailable());
            assertNotNull(r.writer.claim(64), "the writer goes on");
        }
    }

    @Test
    void aHeldSlotBufferHoldsBackTheSlotsAfterIt() {
        try (RingPair r = new RingPair(SLOT, SLOTS, false)) {
            r.publish(1, BIG);
            SlotBuffer first = r.reader.poll();
            for (int i = 1; i < SLOTS; i++) {
                r.publish(1, BIG);
                r.reader.poll().release();
            }
            assertNull(r.reader.poll());
            assertNull(r.writer.claim(BIG), "no slot comes back while READ is held at the first SLOT record");
            SlotBuffer small = r.writer.claim(64);
            assertNotNull(small, "the log still has room for inline messages");
            small.commit();
            r.reader.poll().release();
            first.release();
            assertNull(r.reader.poll());
            r.publish(SLOTS, BIG);   // every slot came back
        }
    }

    /** An untrusted reader copies each message at poll: READ moves at once, and the writer reusing log and slots does not touch the copies. */
    @Test
    void untrustedReadersGetPrivateCopiesAndReleaseTheRecordsAtOnce() {
        try (RingPair r = new RingPair(SLOT, SLOTS, LOG_BYTES, false, false)) {
            byte[] a = bytes(100, 1), s = bytes(3000, 2), h = bytes(40, 3), t = bytes(2000, 4);
            SlotBuffer b = r.writer.claim(100);
            b.put(0, a, 0, a.length);
            b.commit();                              // INLINE
            b = r.writer.claim(s.length);
            b.put(0, s, 0, s.length);
            b.length(s.length).commit();             // SLOT
            SlotBuffer held = r.writer.claim(h.length);
            held.put(0, h, 0, h.length);
            b = r.writer.claim(t.length);
            b.put(0, t, 0, t.length);
            b.length(t.length).commit();             // HOLE, SLOT
            held.commit();                           // REF
            List<SlotBuffer> copies = new ArrayList<>();
            for (byte[] want : List.of(a, s, t, h)) {
                SlotBuffer c = r.reader.poll();
                assertEquals(Buffer.Kind.PRIVATE_COPY, c.kind());
                assertEquals(SLOT, c.capacity(), "a copy area of the slot size");
                assertArrayEquals(want, read(c));
                long at = c.segment().address();
                assertFalse(at >= r.ring.address() && at < r.ring.address() + r.ring.byteSize(), "a copy is not in the log");
                assertFalse(at >= r.pool.address() && at < r.pool.address() + r.pool.byteSize(), "a copy is not in the pool");
                copies.add(c);
            }
            assertNull(r.reader.poll());
            assertEquals(112 + 16 + 48 + 16 + 16, r.read(), "every record released, the copies still held");
            for (int i = 0; i < 2000; i++) {   // two laps of the log and every slot reused, the copies still held
                SlotBuffer w = r.writer.claim(i % 3 == 0 ? BIG : 200);
                assertNotNull(w, "claim " + i);
                w.put(0, new byte[200], 0, 200);
                w.length(200).commit();
                drain(r);
            }
            assertArrayEquals(a, read(copies.get(0)));
            assertArrayEquals(s, read(copies.get(1)));
            assertArrayEquals(t, read(copies.get(2)));
            assertArrayEquals(h, read(copies.get(3)), "the REF's bytes, copied at poll");
            copies.forEach(SlotBuffer::release);
        }
    }

    @Test
    void moreFlagsSurviveOnInlineSlotAndRefRecords() {
        for (boolean trusted : new boolean[] {true, false}) {
            try (RingPair r = new RingPair(SLOT, SLOTS, LOG_BYTES, trusted, false)) {
                r.writer.claim(10).commitFragment();      // INLINE, MORE
                r.writer.claim(BIG).commitFragment();     // SLOT, MORE
                SlotBuffer held = r.writer.claim(10);
                r.writer.claim(BIG).commit();             // HOLE, SLOT without MORE
                held.commitFragment();                    // REF, MORE
                r.writer.claim(10).commit();              // INLINE without MORE
                assertTrue(headerMore(headerAt(r, 0)), "MORE is bit 63 of an INLINE header");
                assertTrue(pointerMore(wordAt(r, 32)), "MORE is in a SLOT record's pointer");
                assertFalse(headerMore(headerAt(r, 48)), "a HOLE has no MORE");
                assertTrue(headerMore(headerAt(r, 96)), "MORE is bit 63 of a REF header");
                boolean[] more = {true, true, false, true, false};
                for (int i = 0; i < more.length; i++) {
                    SlotBuffer m = r.reader.poll();
                    assertEquals(more[i], m.more(), (trusted ? "trusted" : "untrusted") + ", fragment " + i);
                    m.release();
                }
            }
        }
    }

    @Test
    void theEndOfEpochMarkerComesAfterEveryCommittedRecord() {
        try (RingPair r = new RingPair(SLOT, SLOTS, false)) {
            r.publish(2, 64);
            SlotBuffer out = r.writer.claim(64);
            assertThrows(IllegalStateException.class, r.writer::commitEndOfEpoch, "not while a claim is out");
            out.commit();
            assertTrue(r.writer.commitEndOfEpoch());
            assertEquals(header(240, KIND_END, 0, false), headerAt(r, 240), "a 16-byte END after the three records");
            assertFalse(r.reader.skipEndOfEpoch(), "data comes first");
            r.pollAndRelease(3);
            assertNull(r.reader.poll());
            assertTrue(r.reader.inputFinished());
            assertEquals(256, r.read(), "READ passes the marker");
            assertNull(r.reader.poll(), "nothing follows the marker");
        }
        try (RingPair r = new RingPair(SLOT, SLOTS, false)) {
            assertTrue(r.writer.commitEndOfEpoch());
            assertTrue(r.reader.skipEndOfEpoch(), "the marker next: skipped");
            assertTrue(r.reader.inputFinished());
        }
        try (RingPair r = new RingPair(SLOT, SLOTS, false)) {   // a full log: the marker waits for READ
            r.publish(1, 64);
            SlotBuffer first = r.reader.poll();
            for (SlotBuffer b; (b = r.writer.claim(8)) != null || (b = r.writer.claim(BIG)) != null; ) {
                b.commit();
                r.reader.poll().release();
            }
            assertFalse(r.writer.commitEndOfEpoch(), "no room for the marker while READ is held at the first message");
            first.release();
            assertNull(r.reader.poll());
            assertTrue(r.writer.commitEndOfEpoch());
        }
    }

    // ---- records the reader cannot place ----

    /** A lying writer: publishes {@code header} (and {@code word} after it) at {@code p}; the reader must refuse it, saying {@code why}. */
    private static void refused(RingPair r, long p, long header, long word, String why) {
        putLogWordPlain(r.ring, logOffset(p, r.logBytes - 1) + RECORD_HEADER, word);
        putHeaderRelease(r.ring, logOffset(p, r.logBytes - 1), header);
        CorruptChannelException x = assertThrows(CorruptChannelException.class, r.reader::poll, why + ": 0x" + Long.toHexString(header));
        assertTrue(x.getMessage().contains(why), x.getMessage());
    }

    private static void refused(long header, long word, String why) {
        try (RingPair r = new RingPair(SLOT, SLOTS, false)) {
            refused(r, 0, header, word, why);
        }
    }

    /** A valid HOLE of {@code length} at 0, then {@code header} at the position after it. */
    private static void refusedAfterAHole(int length, long header, long word, String why) {
        try (RingPair r = new RingPair(SLOT, SLOTS, false)) {
            putLogWordPlain(r.ring, LOG + recordBytes(length), 0);
            putHeaderRelease(r.ring, LOG, ShmLayout.header(0, KIND_HOLE, length, false));
            assertNull(r.reader.poll(), "a HOLE alone delivers nothing");
            refused(r, recordBytes(length), header, word, why);
        }
    }

    /** A POOL record: pool id, descriptor, slot size, slot count, as RingWriter.offerLent writes it. */
    private static void pool(RingPair r, long p, int id, int fd, int size, int count) {
        long at = logOffset(p, r.logBytes - 1) + RECORD_HEADER;
        putLogWordPlain(r.ring, at, (id & 0xFFFF_FFFFL) | ((long) fd << 32));
        putLogWordPlain(r.ring, at + 8, (size & 0xFFFF_FFFFL) | ((long) count << 32));
        putLogWordPlain(r.ring, logOffset(p + recordBytes(POOL_RECORD_PAYLOAD), r.logBytes - 1), 0);
        putHeaderRelease(r.ring, logOffset(p, r.logBytes - 1), header(p, KIND_POOL, POOL_RECORD_PAYLOAD, false));
    }

    /**
     * POOL records (a peer forwarding read buffers of a third process in place) and the SLOT records that name their
     * pools: every field is checked, the pool is capped by this side's budget before it is mapped, it must be a sealed
     * Fable memfd with a valid header, and its slots are bounded as a pool's.
     */
    @Test
    void forwardedPoolsAreCheckedCappedAndBounded() {
        long self = ProcessHandle.current().pid();
        try (java.lang.foreign.Arena files = java.lang.foreign.Arena.ofShared()) {
            ShmFiles.Sealed third = ShmFiles.createSealed(ShmFiles.newName("pool"), poolBytes(1024, 4), files, "a third process's pool");
            RingWriter.initialise(third.segment(), files.allocate(LOG + 65536, 4096), 1024, 4, 65536);
            int passwd = dev.fable.internal.Libc.open("/etc/passwd", 0);
            try {
                String[][] cases = {
                        {"1", Integer.toString(third.fd()), "1024", "4", "announces pool id 1"},
                        {"128", Integer.toString(third.fd()), "1024", "4", "announces pool id 128"},
                        {"2", Integer.toString(third.fd()), "1000", "4", "announces 4 slots of 1000 B"},
                        {"2", Integer.toString(third.fd()), "1024", "1", "announces 1 slots of 1024 B"},
                        {"2", Integer.toString(third.fd()), "1048576", "4096", "more than the"},   // 4 GiB: over the budget
                        {"2", Integer.toString(passwd), "1024", "4", "cannot be mapped"},             // not a Fable memfd
                        {"2", Integer.toString(third.fd()), "1024", "8", "cannot be mapped"},         // smaller than announced
                        {"2", Integer.toString(third.fd()), "2048", "2", "header disagrees"},         // the same size, another shape
                };
                for (String[] c : cases) {
                    try (RingPair r = new RingPair(SLOT, SLOTS, false)) {
                        r.reader.acceptForwardedPools((fd, bytes) -> ShmFiles.mapPeer(self, fd, bytes, true, r.arena, "forwarded pool"), 1L << 20);
                        pool(r, 0, Integer.parseInt(c[0]), Integer.parseInt(c[1]), Integer.parseInt(c[2]), Integer.parseInt(c[3]));
                        CorruptChannelException x = assertThrows(CorruptChannelException.class, r.reader::poll, String.join(",", c));
                        assertTrue(x.getMessage().contains(c[4]), x.getMessage());
                    }
                }
                try (RingPair r = new RingPair(SLOT, SLOTS, false)) {   // a valid one: its slots are read in place, bounded by its shape
                    r.reader.acceptForwardedPools((fd, bytes) -> ShmFiles.mapPeer(self, fd, bytes, true, r.arena, "forwarded pool"), 1L << 20);
                    third.segment().set(java.lang.foreign.ValueLayout.JAVA_LONG, slotOffset(3, 1024), 0xF00DL);
                    pool(r, 0, 2, third.fd(), 1024, 4);
                    long p = recordBytes(POOL_RECORD_PAYLOAD);
                    putLogWordPlain(r.ring, logOffset(p, r.logBytes - 1) + RECORD_HEADER, pointer(2, 3, 8, false));
                    putLogWordPlain(r.ring, logOffset(p + RECORD_ALIGN, r.logBytes - 1), 0);
                    putHeaderRelease(r.ring, logOffset(p, r.logBytes - 1), header(p, KIND_SLOT, RECORD_HEADER, false));
                    dev.fable.buffer.SlotBuffer b = r.reader.poll();
                    assertEquals(0xF00DL, b.getLong(0), "slot 3 of the third process's pool, in place");
                    refused(r, p + RECORD_ALIGN, header(p + RECORD_ALIGN, KIND_SLOT, RECORD_HEADER, false), pointer(2, 3, 8, false), "while this reader still holds it");
                }
                try (RingPair r = new RingPair(SLOT, SLOTS, false)) {
                    r.reader.acceptForwardedPools((fd, bytes) -> ShmFiles.mapPeer(self, fd, bytes, true, r.arena, "forwarded pool"), 1L << 20);
                    pool(r, 0, 2, third.fd(), 1024, 4);
                    long p = recordBytes(POOL_RECORD_PAYLOAD);
                    refused(r, p, header(p, KIND_SLOT, RECORD_HEADER, false), pointer(2, 4, 8, false), "slot 4, length 8");
                }
                try (RingPair r = new RingPair(SLOT, SLOTS, false)) {
                    r.reader.acceptForwardedPools((fd, bytes) -> ShmFiles.mapPeer(self, fd, bytes, true, r.arena, "forwarded pool"), 1L << 20);
                    pool(r, 0, 2, third.fd(), 1024, 4);
                    long p = recordBytes(POOL_RECORD_PAYLOAD);
                    pool(r, p, 2, third.fd(), 1024, 4);
                    CorruptChannelException x = assertThrows(CorruptChannelException.class, r.reader::poll);
                    assertTrue(x.getMessage().contains("each once"), x.getMessage());
                }
            } finally {
                dev.fable.internal.Libc.close(passwd);
                third.closeFd();
            }
        }
    }

    @Test
    void theReaderRefusesRecordsItCannotPlace() {
        String tag = "a stale or forged tag", inline = "an inline length past", slotSize = "a slot record of the wrong size";
        String bounds = "is out of bounds", ref = "not to the pending HOLE", pad = "a PAD that does not end at the log's end";
        String hole = "a HOLE past the log's end or a second HOLE", end = "an end-of-epoch marker with a length", kind = "an unknown kind";
        refused(header(LOG_BYTES, KIND_INLINE, 8, false), 0, tag);            // the next lap's record
        refused(header(-LOG_BYTES, KIND_SLOT, RECORD_HEADER, false), pointer(0, 8, false), tag);   // an older lap's
        refused(header(16, KIND_END, 0, false), 0, tag);
        refused(header(0, KIND_INLINE, INLINE_MAX + 1, false), 0, inline);
        refused(header(0, KIND_INLINE, 0xFF_FFFF, false), 0, inline);
        refused(header(0, KIND_SLOT, 16, false), pointer(0, 8, false), slotSize);
        refused(header(0, KIND_SLOT, 0, false), pointer(0, 8, false), slotSize);
        refused(header(0, KIND_SLOT, RECORD_HEADER, false), pointer(SLOTS, 8, false), bounds);
        refused(header(0, KIND_SLOT, RECORD_HEADER, false), pointer(0, SLOT + 1, false), bounds);
        refused(header(0, KIND_SLOT, RECORD_HEADER, false), pointer(0, 8, false) | (1L << 24), "has no fan-out pool");   // pool 1: a subscription's
        refused(header(0, KIND_SLOT, RECORD_HEADER, false), -1L, "never announced");   // pool 127: a forwarded pool's id, no POOL record before
        refused(header(0, KIND_SLOT, RECORD_HEADER, false), pointer(FIRST_FORWARDED_POOL, 0, 8, false), "never announced");
        refused(header(0, KIND_REF, 8, false), 0, ref);                       // no HOLE
        refused(header(0, KIND_PAD, RECORD_HEADER, false), 0, pad);
        refused(header(0, KIND_PAD, LOG_BYTES, false), 0, pad);               // one past the end
        refused(header(0, KIND_HOLE, INLINE_MAX + 1, false), 0, hole);
        refused(header(0, KIND_END, 8, false), 0, end);
        refused(((long) 8 << 32) | headerTagFor(0), 0, kind);                 // kind 0
        refused(header(0, KIND_DROPPED, 8, false), 1, "outside a subscription");   // only a publisher's rings carry drops
        refused(header(0, KIND_POOL, POOL_RECORD_PAYLOAD, false), 0, "which this connection does not take");   // no mapper: a test ring
        refused(header(0, KIND_POOL, 8, false), 0, "a POOL record of the wrong size");
        refused(header(0, 9, 8, false), 0, kind);
        refused(header(0, 127, 8, false), 0, kind);
        refusedAfterAHole(8, header(16, KIND_REF, 8, false), 16, ref);        // a REF to itself
        refusedAfterAHole(8, header(16, KIND_REF, 8, false), -LOG_BYTES, ref);   // to the HOLE's offset, a lap back
        refusedAfterAHole(8, header(16, KIND_REF, 9, false), 0, ref);         // longer than its HOLE
        refusedAfterAHole(8, header(16, KIND_HOLE, 8, false), 0, hole);       // a second HOLE
        refusedAfterAHole(8, header(16, KIND_END, 0, false), 0, "before a pending REF");
        try (RingPair r = new RingPair(SLOT, SLOTS, false)) {   // the slot a trusted reader still holds
            r.publish(1, BIG);
            assertNotNull(r.reader.poll());
            refused(r, 16, header(16, KIND_SLOT, RECORD_HEADER, false), pointer(0, 8, false), "while this reader still holds it");
        }
        try (RingPair r = new RingPair(SLOT, SLOTS, false)) {   // records that would run past the log's end
            long p = 0;
            while (p != r.logBytes - 16) {   // 80-byte records up to 16 bytes short of the end
                r.publish(1, 64);
                p += 80;
                drain(r);
            }
            assertEquals(p, r.read());
            refused(r, p, header(p, KIND_INLINE, 9, false), 0, inline);
        }
        try (RingPair r = new RingPair(SLOT, SLOTS, false)) {
            long p = 0;
            while (p != r.logBytes - 16) {
                r.publish(1, 64);
                p += 80;
                drain(r);
            }
            refused(r, p, header(p, KIND_HOLE, 9, false), 0, hole);
        }
    }

    // ---- READ values the writer cannot accept ----

    /**
     * READ is a log position on the 16-byte grid between what the writer last read and what it published;
     * the writer cannot tell one in the middle of a record from a record's start, and takes a slot back only
     * when READ has passed the SLOT record that named it.
     */
    @Test
    void theWriterTakesASlotBackOnlyWhenReadPassesItsRecordAndRefusesAReadOffTheGridOrOutOfRange() {
        try (RingPair r = new RingPair(SLOT, 2, false)) {
            r.publish(1, 100);    // INLINE at 0 (112 B)
            r.publish(2, BIG);    // slot 0 at 112, slot 1 at 128; the writer is at 144
            assertNull(r.writer.claim(BIG), "both slots out");
            putReadRegisterRelease(r.ring, 16);    // inside the INLINE record: on the grid, so taken
            assertNull(r.writer.claim(BIG), "READ passed no SLOT record");
            putReadRegisterRelease(r.ring, 112);   // the first SLOT record's start: not passed
            assertNull(r.writer.claim(BIG));
            putReadRegisterRelease(r.ring, 128);   // passed
            SlotBuffer b = r.writer.claim(BIG);
            assertNotNull(b, "slot 0 came back");
            assertEquals(0, b.slot());
            b.commit();                            // at 144; the writer is at 160
            assertNull(r.writer.claim(BIG), "slot 1's record is at READ, not below it");
            putReadRegisterRelease(r.ring, 136);
            CorruptChannelException e = assertThrows(CorruptChannelException.class, () -> r.writer.claim(BIG));
            assertTrue(e.getMessage().contains("moved its READ register to 136, outside [128, 160] or off the 16-byte record grid"), e.getMessage());
        }
        for (long bad : new long[] {112, -16, Long.MIN_VALUE, 176, Long.MAX_VALUE & -16L, 129}) {
            try (RingPair r = new RingPair(SLOT, 2, false)) {
                r.publish(1, 100);
                r.publish(2, BIG);
                putReadRegisterRelease(r.ring, 128);
                r.publish(1, BIG);   // the writer read READ 128; it is at 160
                putReadRegisterRelease(r.ring, bad);
                CorruptChannelException e = assertThrows(CorruptChannelException.class, () -> r.writer.claim(BIG), Long.toString(bad));
                assertTrue(e.getMessage().contains("READ register to " + bad + ", outside [128, 160]"), e.getMessage());
            }
        }
    }

    /** A REF's buffer reads the HOLE's bytes in place: they are the log's, read-only, and as long as the message. */
    @Test
    void aRefsBufferIsAReadOnlyViewOfTheHole() {
        try (RingPair r = new RingPair(SLOT, SLOTS, false)) {
            SlotBuffer held = r.writer.claim(32);
            held.putLong(0, 42);
            r.writer.claim(BIG).commit();
            held.length(8).commit();
            r.reader.poll().release();
            SlotBuffer m = r.reader.poll();
            MemorySegment s = m.segment();
            assertEquals(8, s.byteSize());
            assertTrue(s.isReadOnly());
            assertThrows(RuntimeException.class, () -> m.putLong(0, 1));
            assertEquals(42, m.getLong(0));
            m.release();
        }
    }
}
