package dev.fable.transport.shm;

import dev.fable.ConnectOptions;
import dev.fable.Connection;
import dev.fable.ConnectionState;
import dev.fable.Fable;
import dev.fable.WaitMode;

import java.lang.foreign.MemorySegment;
import java.util.ArrayDeque;
import java.util.Queue;
import java.util.Random;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import static dev.fable.transport.shm.HostileAccess.*;
import static dev.fable.transport.shm.HostilePeer.*;
import static dev.fable.transport.shm.ShmLayout.*;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The {@link HostilePeer} as the producer of the direction the victim reads: it writes the log records
 * itself (no RingWriter), and they meet the victim's RingReader.poll (behind ShmConnection.poll).
 *
 * <p>Its benign records are what a correct writer may publish (INLINE, SLOT, a PAD at the log's end or
 * anywhere a claim larger than its commit would have put one, HOLE then SLOTs then its REF, END before a
 * clean close), with garbage only where the reader must not look. It takes log room and slots back only
 * as READ passes them, and checks the victim's READ as a writer would (never backwards, never past what
 * was published, always the start of a record). Its fatal records are listed in {@link #KINDS}; the
 * victim must fail with exactly the words of {@link #WORDS} for them.
 */
final class HostileProducer {
    private HostileProducer() {}

    // What the victim's CorruptChannelException must say (RingReader.poll's reasons), by PLAN_EXPECT.
    static final int W_TAG = 1, W_KIND = 2, W_INLINE = 3, W_SLOT_SIZE = 4, W_BOUNDS = 5, W_HELD = 6, W_REF = 7, W_PAD = 8,
            W_HOLE = 9, W_END = 10, W_DROPPED = 11, W_POOL = 12;
    static final String[] WORDS = {"(no failure expected)", "a stale or forged tag", "an unknown kind", "an inline length past",
            "a slot record of the wrong size", "is out of bounds", "while this reader still holds it", "not to the pending HOLE",
            "a PAD that does not end at the log's end", "a HOLE past the log's end or a second HOLE",
            "an end-of-epoch marker with a length or before a pending REF",
            "a DROPPED record",   // kind 7: a one-to-one connection takes none (only a subscription's ring carries them)
            "a POOL record"};     // kind 8: a pool announcement, every field checked (its reasons all say this)

    /** The fatal records, by PLAN_KIND; each comes to one reason ({@link #KIND_WORDS}; random fields to one chosen when planned). */
    static final String[] KINDS = {"a stale or forged tag (older or later lap, random)", "an unknown kind",
            "INLINE longer than inlineMax or past the log's end", "SLOT record of the wrong size",
            "slot pointer out of bounds (pool, index, length)", "SLOT naming the slot the reader holds",
            "REF without its HOLE (none, another position, longer than the HOLE)", "PAD that does not end at the log's end",
            "HOLE longer than inlineMax or past the log's end, or a second HOLE", "END with a length or before a pending REF",
            "random fields under the right tag"};
    private static final int K_TAG = 0, K_KIND = 1, K_INLINE = 2, K_SLOT_SIZE = 3, K_BOUNDS = 4, K_HELD = 5, K_REF = 6, K_PAD = 7,
            K_HOLE = 8, K_END = 9, K_RANDOM = 10;
    private static final int[] KIND_WORDS = {W_TAG, W_KIND, W_INLINE, W_SLOT_SIZE, W_BOUNDS, W_HELD, W_REF, W_PAD, W_HOLE, W_END, -1};
    /** The reasons a chaos connection may end with: any of RingReader.poll's. */
    static final int[] POLL_WORDS = {W_TAG, W_KIND, W_INLINE, W_SLOT_SIZE, W_BOUNDS, W_HELD, W_REF, W_PAD, W_HOLE, W_END, W_DROPPED, W_POOL};

    static String words(int expect) {
        return WORDS[expect];
    }

    /** Benign records published, by kind (KIND_INLINE .. KIND_END): printed with DONE, to show what the run covered. */
    static final java.util.concurrent.atomic.AtomicLongArray BENIGN = new java.util.concurrent.atomic.AtomicLongArray(KIND_END + 1);

    static void run(String trustedEp, String untrustedEp, long seed, int inFlight) throws Exception {
        say("READY " + startEcho());
        Semaphore permits = new Semaphore(inFlight);
        Queue<Case> fresh = new ConcurrentLinkedQueue<>();
        AtomicLong opened = new AtomicLong();
        long[] stats = new long[4];   // finished, fatal written, clean, chaos
        Thread connector = new Thread(() -> {
            for (int i = 0; STOP.getCount() > 0; i++) {
                try {
                    if (!permits.tryAcquire(50, TimeUnit.MILLISECONDS)) {
                        i--;
                        continue;
                    }
                } catch (InterruptedException e) {
                    return;
                }
                long s = mix(seed, i);
                Random rnd = new Random(s);
                boolean trusted = rnd.nextBoolean();
                // slots of 64 B (inline up to the slot), up to 1 KiB, or 1-2 KiB (inline up to 512 B); logs of 64 KiB mostly,
                // so that benign records lap the log (PADs, tags of later laps, room taken back) within a connection
                int slotSize = rnd.nextInt(4) == 0 ? 1024 * (1 + rnd.nextInt(2)) : 64 * (1 + rnd.nextInt(rnd.nextBoolean() ? 2 : 16));
                ConnectOptions o = ConnectOptions.trusted()
                        .slotSize(slotSize)
                        .slotCount(2 + rnd.nextInt(rnd.nextBoolean() ? 7 : 47))
                        .logBytes(rnd.nextInt(4) == 0 ? MIN_LOG_BYTES << (1 + rnd.nextInt(2)) : MIN_LOG_BYTES)
                        .waitMode(WaitMode.values()[rnd.nextInt(WaitMode.values().length)]);
                try {
                    Connection c = Fable.connect("xio+shm://" + (trusted ? trustedEp : untrustedEp), o);
                    fresh.add(new ProducerCase(i, s, rnd, c, trusted));
                    opened.incrementAndGet();
                } catch (RuntimeException e) {
                    error("connect #" + i + " failed: " + e);
                    permits.release();
                }
            }
        }, "hostile-connector");
        connector.start();
        runCases(fresh, () -> connector.isAlive() || !fresh.isEmpty(), c -> {
            ProducerCase p = (ProducerCase) c;
            stats[0]++;
            if (p.fatalWritten) stats[1]++;
            if (p.total >= 0) stats[2]++;
            if (p.fatalAt == CHAOS) stats[3]++;
            permits.release();
        });
        say("DONE opened=" + opened.get() + " finished=" + stats[0] + " fatal=" + stats[1] + " clean=" + stats[2]
                + " chaos=" + stats[3] + " errors=" + ERRORS.get() + " benign records: INLINE " + BENIGN.get(KIND_INLINE) + ", SLOT "
                + BENIGN.get(KIND_SLOT) + ", PAD " + BENIGN.get(KIND_PAD) + ", HOLE " + BENIGN.get(KIND_HOLE) + ", REF " + BENIGN.get(KIND_REF)
                + ", END " + BENIGN.get(KIND_END));
        EXIT.await();
    }

    static final class ProducerCase extends Case {
        final int index;
        final long seed;
        final Random rnd;
        final boolean victimTrusted;
        final Rings r;
        final MemorySegment ring;
        final int n;
        final int logBytes;
        final int inlineMax;
        final int maxRecord;         // recordBytes(inlineMax): the largest INLINE or HOLE record
        final long[] slotAt;         // by slot: the position of the SLOT record naming it until READ passes it, else -1
        final ArrayDeque<Long> starts = new ArrayDeque<>();   // record starts at or above `read`: READ must be one of them
        long position;               // next record
        long read;                   // READ as last read and checked
        long messages;               // fragments published (the plan is fragment 0)
        long holeAt = -1;            // a benign HOLE whose REF is not published yet
        int holeLength;
        final int s0;                // the plan's slot: held by a trusted victim to the end for K_HELD
        final boolean planHeld;
        final long fatalAt;          // fragments before the fatal record, -1 (clean close) or CHAOS
        final long total;            // clean close after this many fragments, or -1
        final long limit;            // fatalAt or total: the benign fragments are 1 .. limit - 1
        final int kind;
        final int expect;
        final boolean atTheEnd;      // K_INLINE / K_HOLE: the record lands just short of the log's end and runs past it
        final int endGap;            // then: bytes from the fatal record to the log's end
        boolean fatalWritten;
        boolean broken;              // the victim did something a correct reader never does (reported)
        final byte[] noise;

        ProducerCase(int index, long seed, Random rnd, Connection c, boolean victimTrusted) {
            super(c);
            this.index = index;
            this.seed = seed;
            this.rnd = rnd;
            this.victimTrusted = victimTrusted;
            this.r = Rings.outgoing(c);
            this.ring = r.ring();
            this.n = r.slotCount();
            this.logBytes = r.logBytes();
            this.inlineMax = r.inlineMax();
            this.maxRecord = recordBytes(inlineMax);
            slotAt = new long[n];
            java.util.Arrays.fill(slotAt, -1);
            noise = new byte[Math.max(r.slotSize(), maxRecord)];
            s0 = rnd.nextInt(n);
            int shape = rnd.nextInt(10);
            boolean clean = shape == 0;
            boolean chaos = shape == 1;
            kind = clean || chaos ? -1 : victimTrusted ? rnd.nextInt(KINDS.length) : pickNot(KINDS.length, K_HELD);
            planHeld = kind == K_HELD;
            atTheEnd = (kind == K_INLINE || kind == K_HOLE) && rnd.nextBoolean();
            endGap = RECORD_ALIGN * (1 + rnd.nextInt((inlineMax + RECORD_HEADER - 1) / RECORD_ALIGN));   // some length <= inlineMax runs past it
            long length;   // fragments before the end, the plan included
            if (planHeld) {
                length = 2 + rnd.nextInt(40);   // READ stays at the plan: all must fit in one log, with at most n - 1 slots
            } else if (atTheEnd) {
                long d = logBytes - RECORD_ALIGN - endGap;   // bytes from the first benign record to the fatal one
                long least = (d + maxRecord - 1) / maxRecord;
                length = 1 + least + rnd.nextInt((int) Math.min(d / RECORD_ALIGN - least + 1, 400));
            } else {
                length = 1 + rnd.nextInt(rnd.nextBoolean() ? 40 : 400);
            }
            fatalAt = clean ? -1 : chaos ? CHAOS : length;
            total = clean ? length : -1;
            limit = clean ? total : fatalAt;
            long benign = chaos ? 0 : length - 1;
            expect = kind < 0 ? EXPECT_NONE : kind == K_RANDOM ? randomExpectation() : KIND_WORDS[kind];
            MemorySegment plan = r.slots()[s0];
            plan.set(JAVA_LONG, 0, PLAN_MAGIC);
            plan.set(JAVA_LONG, PLAN_INDEX, index);
            plan.set(JAVA_LONG, PLAN_SEED, seed);
            plan.set(JAVA_LONG, PLAN_FATAL, fatalAt);
            plan.set(JAVA_LONG, PLAN_CLEAN, total);
            plan.set(JAVA_LONG, PLAN_EXPECT, expect);
            plan.set(JAVA_LONG, PLAN_KIND, (benign << 32) | (kind & 0xFFFF_FFFFL));
            plan.set(JAVA_LONG, PLAN_GEOMETRY, ((long) r.slotSize() << 32) | n);
            publishSlot(s0, PLAN_BYTES, false);
        }

        private int pickNot(int bound, int excluded) {
            int k;
            do {
                k = rnd.nextInt(bound);
            } while (k == excluded);
            return k;
        }

        /** K_RANDOM: which reason its random fields must come to (chosen now: the plan names it). */
        private int randomExpectation() {
            int[] any = {W_KIND, W_INLINE, W_SLOT_SIZE, W_BOUNDS, W_REF, W_PAD, W_HOLE, W_END};
            return any[rnd.nextInt(any.length)];
        }

        // ---- publishing, as a producer does ----

        /** Publishes a record of {@code size} bytes at {@code position} (payload written): 0 into the word after it, the header (release), WRITE. */
        private void publish(int size, long header) {
            long p = position;
            putLogWordPlain(ring, r.log(p + size), 0);
            putHeaderRelease(ring, r.log(p), header);
            starts.add(p);
            position = p + size;
            putWriteRegisterRelease(ring, position);
            if (fatalAt != CHAOS && !fatalWritten) BENIGN.incrementAndGet(headerKind(header));
        }

        private void publishSlot(int slot, int length, boolean more) {
            long p = position;
            putLogWordPlain(ring, r.log(p) + RECORD_HEADER, pointer(slot, length, more));
            publish(RECORD_ALIGN, header(p, KIND_SLOT, RECORD_HEADER, harmlessMore()));
            slotAt[slot] = p;
            messages++;
        }

        /** The MORE bit of a SLOT, PAD or HOLE header: the reader does not look at it, so now and then it is set. */
        private boolean harmlessMore() {
            return rnd.nextInt(8) == 0;
        }

        private void publishPad() {
            int toEnd = r.toEnd(position);
            publish(toEnd, header(position, KIND_PAD, toEnd - RECORD_HEADER, harmlessMore()));
        }

        /** Payload of an INLINE or HOLE record: noise now and then, and garbage in the padding up to the record's end. */
        private void payload(long p, int length) {
            if (rnd.nextInt(4) == 0) {
                rnd.nextBytes(noise);
                MemorySegment.copy(noise, 0, ring, JAVA_BYTE, r.log(p) + RECORD_HEADER, length);
            }
            int slack = recordBytes(length) - RECORD_HEADER - length;
            if (slack > 0 && rnd.nextInt(8) == 0) {
                rnd.nextBytes(noise);
                MemorySegment.copy(noise, 0, ring, JAVA_BYTE, r.log(p) + RECORD_HEADER + length, slack);
            }
        }

        // ---- room, taken back as READ passes it ----

        /**
         * Reads READ and takes back the log below it and the slots whose SLOT records it passed, checking it
         * as a writer does and, since the victim is a correct reader, more: READ is the start of a record.
         */
        private void reclaim() {
            long rr = readRegisterAcquire(ring);
            if (rr == read) return;
            while (!starts.isEmpty() && starts.peekFirst() < rr) starts.pollFirst();
            if (rr < read || rr > position || (rr & (RECORD_ALIGN - 1)) != 0 || (rr != position && (starts.isEmpty() || starts.peekFirst() != rr))) {
                broken = true;
                error(this + ": the victim's READ " + rr + " is outside [" + read + ", " + position + "] or not the start of a record");
                return;
            }
            read = rr;
            for (int s = 0; s < n; s++) {
                if (slotAt[s] >= 0 && slotAt[s] < rr) slotAt[s] = -1;
            }
        }

        /** True when {@code bytes} more, the 0 after them and (while a HOLE waits) its REF fit in the log below READ + logBytes. */
        private boolean room(int bytes, boolean keepRef) {
            long need = bytes + RECORD_HEADER + (keepRef && holeAt >= 0 ? RECORD_ALIGN : 0);
            if (position + need <= read + logBytes) return true;
            reclaim();
            return position + need <= read + logBytes;
        }

        private int freeSlot() {
            int k = 0;
            for (int s = 0; s < n; s++) if (slotAt[s] < 0) k++;
            if (k == 0) {
                reclaim();
                for (int s = 0; s < n; s++) if (slotAt[s] < 0) k++;
                if (k == 0) return -1;
            }
            int pick = rnd.nextInt(k);
            for (int s = 0; s < n; s++) if (slotAt[s] < 0 && pick-- == 0) return s;
            throw new AssertionError();
        }

        private int validLength(int max) {
            return switch (rnd.nextInt(5)) {
                case 0 -> 0;
                case 1 -> max;
                default -> rnd.nextInt(max + 1);
            };
        }

        // ---- benign records ----

        private boolean inline(int length) {
            int record = recordBytes(length);
            int toEnd = r.toEnd(position);
            // a PAD where the record would not fit before the log's end, and now and then anywhere (a claim larger than its
            // commit), except while steering to the log's end
            boolean pad = record > toEnd || (!atTheEnd && rnd.nextInt(64) == 0 && toEnd < logBytes);
            if (!room((pad ? toEnd : 0) + record, true)) return false;
            if (pad) publishPad();
            long p = position;
            payload(p, length);
            publish(record, header(p, KIND_INLINE, length, rnd.nextInt(4) == 0));
            messages++;
            return true;
        }

        private boolean slot() {
            if (!room(RECORD_ALIGN, true)) return false;
            int s = freeSlot();
            if (s < 0) return false;
            int length = validLength(r.slotSize());
            if (rnd.nextInt(4) == 0) {
                rnd.nextBytes(noise);
                MemorySegment.copy(noise, 0, r.slots()[s], JAVA_BYTE, 0, length);
            }
            publishSlot(s, length, rnd.nextInt(4) == 0);
            return true;
        }

        /** An inline claim held while a slot is committed: its HOLE, then the SLOT (the REF follows later). */
        private boolean holeThenSlot() {
            int length = validLength(inlineMax);
            int record = recordBytes(length);
            int toEnd = r.toEnd(position);
            int pad = record > toEnd ? toEnd : 0;
            if (!room(pad + record + 2 * RECORD_ALIGN, false)) return false;
            int s = freeSlot();
            if (s < 0) return false;
            if (pad > 0) publishPad();
            long p = position;
            payload(p, length);
            publish(record, header(p, KIND_HOLE, length, harmlessMore()));
            holeAt = p;
            holeLength = length;
            publishSlot(s, validLength(r.slotSize()), rnd.nextInt(4) == 0);
            return true;
        }

        private boolean ref() {
            if (!room(RECORD_ALIGN, false)) return false;
            long p = position;
            putLogWordPlain(ring, r.log(p) + RECORD_HEADER, holeAt);
            publish(RECORD_ALIGN, header(p, KIND_REF, validLength(holeLength), rnd.nextInt(4) == 0));
            holeAt = -1;
            messages++;
            return true;
        }

        /**
         * One benign fragment (false: no room, wait for the victim). Where the fatal record must land just
         * short of the log's end, each record's size is chosen so that it lands there exactly.
         */
        private boolean publishBenign() {
            if (holeAt >= 0) {   // a correct writer publishes only slots until the held inline claim is committed
                if (messages == limit - 1 || rnd.nextInt(3) == 0) return ref();
                return slot() || ref();
            }
            if (atTheEnd) return steer();
            int k = rnd.nextInt(20);
            if (k < 9) return inline(validLength(inlineMax));
            if (k < 17 || messages + 2 > limit || planHeld) return slot() || inline(validLength(inlineMax));
            return holeThenSlot();
        }

        private boolean steer() {
            long d = r.toEnd(position) - endGap;   // bytes to consume before the fatal record
            long left = limit - messages;          // fragments to consume them with, this one included
            long low = Math.max(RECORD_ALIGN, d - (long) maxRecord * (left - 1));
            long high = Math.min(maxRecord, d - (long) RECORD_ALIGN * (left - 1));
            if (low > high) throw new AssertionError(this + ": cannot steer " + d + " B over " + left + " fragments");
            int record = (int) (low + RECORD_ALIGN * rnd.nextLong((high - low) / RECORD_ALIGN + 1));
            if (record == RECORD_ALIGN && rnd.nextBoolean()) {
                if (!room(RECORD_ALIGN, true)) return false;
                int s = freeSlot();
                if (s >= 0) {
                    publishSlot(s, validLength(r.slotSize()), rnd.nextInt(4) == 0);
                    return true;
                }
            }
            int length = record - RECORD_HEADER - rnd.nextInt(Math.min(RECORD_ALIGN, record - RECORD_HEADER + 1));
            if (recordBytes(length) != record) throw new AssertionError(length + " -> " + record);
            return inline(Math.min(length, inlineMax));
        }

        // ---- garbage where the reader must not look ----

        private void harmlessGarbage() {
            switch (rnd.nextInt(12)) {
                case 0 -> putWriteRegisterRelease(ring, rnd.nextLong());               // the reader never reads WRITE
                case 1 -> INT.setRelease(ring, CONSUMER_PARKED, rnd.nextInt());         // the victim's parked word: it wakes early
                case 2 -> INT.setRelease(ring, CONSUMER_PARKED + dev.fable.sync.Tripwire.ACK, rnd.nextInt(3));       // a false ack: the victim
                case 3 -> INT.setRelease(ring, CONSUMER_PARKED + dev.fable.sync.Tripwire.REQUEST, rnd.nextInt(3));   // may sleep late, nothing worse
                case 4 -> INT.setRelease(ring, PRODUCER_PARKED, rnd.nextInt());
                case 5 -> putProducerStateRelease(ring, rnd.nextInt());               // read only once the control socket closes
                case 6 -> {                                                           // headers are read once, at the handshake
                    long[] at = {HDR_MAGIC, HDR_VERSION, HDR_LOG_BYTES, HDR_SLOT_SIZE, HDR_SLOT_COUNT};
                    ring.set(JAVA_INT, at[rnd.nextInt(at.length)], rnd.nextInt());
                }
                case 7 -> {                                                           // hints, validated before use
                    if (rnd.nextBoolean()) putProducerCpuOpaque(ring, rnd.nextLong()); else putProducerTidOpaque(ring, rnd.nextInt());
                }
                case 8, 9 -> {   // the log no record occupies: [position + 8, READ + logBytes); the word at position stays 0
                    long free = read + logBytes - position - RECORD_HEADER - RECORD_HEADER;
                    if (free > 0) {
                        long q = position + RECORD_HEADER + (rnd.nextLong(free) & -8L);
                        ring.set(JAVA_LONG, r.log(q), rnd.nextLong());
                    }
                }
                default -> {                                                          // scribble on a slot the victim may be reading
                    int s = rnd.nextInt(n);
                    if (s != s0) {
                        rnd.nextBytes(noise);
                        MemorySegment.copy(noise, 0, r.slots()[s], JAVA_BYTE, 0, r.slotSize());
                    }
                }
            }
        }

        // ---- the fatal record ----

        /** What the victim must say about header {@code h} (payload word {@code w}) at {@code p}: a W_* or 0 (valid). RingReader.poll's order. */
        private int classify(long p, long h, long w, long pendingHole, int pendingLength) {
            if (h == 0) return EXPECT_NONE;
            if (headerTag(h) != headerTagFor(p)) return W_TAG;
            int length = headerLength(h);
            int toEnd = r.toEnd(p);
            return switch (headerKind(h)) {
                case KIND_INLINE -> length > inlineMax || recordBytes(length) > toEnd ? W_INLINE : EXPECT_NONE;
                case KIND_SLOT -> {
                    if (length != RECORD_HEADER) yield W_SLOT_SIZE;
                    if (pointerPool(w) != POOL_SLOTS || pointerSlot(w) >= n || pointerLength(w) > r.slotSize()) yield W_BOUNDS;
                    yield planHeld && pointerSlot(w) == s0 ? W_HELD : EXPECT_NONE;   // other slots it may hold: never published here
                }
                case KIND_REF -> pendingHole < 0 || w != pendingHole || length > pendingLength ? W_REF : EXPECT_NONE;
                case KIND_PAD -> length != toEnd - RECORD_HEADER ? W_PAD : EXPECT_NONE;
                case KIND_HOLE -> length > inlineMax || recordBytes(length) > toEnd || pendingHole >= 0 ? W_HOLE : EXPECT_NONE;
                case KIND_END -> length != 0 || pendingHole >= 0 ? W_END : EXPECT_NONE;
                case KIND_DROPPED -> W_DROPPED;
                case KIND_POOL -> W_POOL;   // a random announcement never names a sealed Fable memfd of the right shape
                default -> W_KIND;
            };
        }

        private long badSlot() {
            return switch (rnd.nextInt(4)) {
                case 0 -> n;
                case 1 -> 0xFF_FFFF;
                default -> n + rnd.nextInt(0x100_0000 - n);
            };
        }

        private long badLength() {
            long size = r.slotSize();
            return switch (rnd.nextInt(6)) {
                case 0 -> size + 1;
                case 1 -> 2 * size;
                case 2 -> 0x8000_0000L;   // the pointer's top bit: negative as a signed long
                case 3 -> 0xFFFF_FFFFL;
                default -> size + 1 + (rnd.nextLong() & 0xFFFF_FFFFL) % (0x1_0000_0000L - size - 1);
            };
        }

        private long badPointer() {
            long more = rnd.nextBoolean() ? 1L << 31 : 0;
            return switch (rnd.nextInt(4)) {
                case 0 -> ((long) validLength(r.slotSize()) << 32) | more | ((1L + rnd.nextInt(127)) << 24) | rnd.nextInt(n);
                case 1 -> ((long) validLength(r.slotSize()) << 32) | more | badSlot();
                case 2 -> (badLength() << 32) | more | rnd.nextInt(n);
                default -> rnd.nextLong();
            };
        }

        private int anyLength() {
            return switch (rnd.nextInt(4)) {
                case 0 -> rnd.nextInt(RECORD_ALIGN * 4);
                case 1 -> 0xFF_FFFF;
                default -> rnd.nextInt(0x100_0000);
            };
        }

        /** A valid HOLE of {@code length} (after a valid PAD if it would not fit before the log's end): the fatal record follows it. */
        private void validHole(int length) {
            if (recordBytes(length) > r.toEnd(position)) publishPad();
            long p = position;
            payload(p, length);
            publish(recordBytes(length), header(p, KIND_HOLE, length, false));
            holeAt = p;
            holeLength = length;
        }

        /**
         * Writes the fatal record (after a valid HOLE where the fault needs one) at the next position, checking
         * that RingReader would refuse it with the planned words. False: no room yet.
         */
        private boolean writeFatal() {
            if (!room(maxRecord + maxRecord + 2 * RECORD_ALIGN, false)) return false;   // a PAD, a HOLE and the record, at most
            long h;
            long w = rnd.nextLong();   // the payload word (a SLOT's pointer, a REF's position): random unless set below
            boolean afterHole = switch (kind) {
                case K_REF -> rnd.nextInt(3) != 0;
                case K_HOLE -> !atTheEnd && rnd.nextInt(3) == 0;
                case K_END -> rnd.nextBoolean();
                default -> false;
            };
            if (afterHole) validHole(validLength(inlineMax));
            long p = position;
            int toEnd = r.toEnd(p);
            int tag = headerTagFor(p);
            switch (kind) {
                case K_TAG -> {
                    long other = switch (rnd.nextInt(6)) {
                        case 0 -> p - logBytes;                                   // the same offset one lap back: a stale record
                        case 1 -> p - (long) logBytes * (2 + rnd.nextInt(8));
                        case 2 -> p + (long) logBytes * (1 + rnd.nextInt(8));     // a later lap
                        case 3 -> p + RECORD_ALIGN;
                        case 4 -> p - RECORD_ALIGN;
                        default -> rnd.nextLong() & -16L;
                    };
                    if (headerTagFor(other) == tag) other += RECORD_ALIGN;
                    int k = 1 + rnd.nextInt(KIND_END);
                    int length = k == KIND_SLOT ? RECORD_HEADER : k == KIND_END ? 0 : rnd.nextInt(inlineMax + 1);
                    if (k == KIND_SLOT) w = pointer(rnd.nextInt(n), validLength(r.slotSize()), false);
                    payload(p, Math.min(length, toEnd - RECORD_HEADER));
                    h = header(other, k, length, rnd.nextBoolean());
                }
                case K_KIND -> {
                    int k = rnd.nextBoolean() ? 0 : KIND_POOL + 1 + rnd.nextInt(127 - KIND_POOL);   // 0 or 9..127: no such kind
                    h = (rnd.nextBoolean() ? Long.MIN_VALUE : 0) | ((long) k << 56) | ((long) anyLength() << 32) | (tag & 0xFFFF_FFFFL);
                }
                case K_INLINE -> {
                    int length = atTheEnd && toEnd - 7 <= inlineMax ? toEnd - 7 + rnd.nextInt(inlineMax - (toEnd - 7) + 1)
                            : inlineMax + 1 + rnd.nextInt(0xFF_FFFF - inlineMax);
                    h = header(p, KIND_INLINE, length, rnd.nextBoolean());
                }
                case K_SLOT_SIZE -> {
                    int length;
                    do {
                        length = anyLength();
                    } while (length == RECORD_HEADER);
                    w = pointer(rnd.nextInt(n), validLength(r.slotSize()), false);
                    h = header(p, KIND_SLOT, length, false);
                }
                case K_BOUNDS -> {
                    do {
                        w = badPointer();
                    } while (classify(p, header(p, KIND_SLOT, RECORD_HEADER, false), w, -1, 0) != W_BOUNDS);
                    h = header(p, KIND_SLOT, RECORD_HEADER, rnd.nextBoolean());
                }
                case K_HELD -> {
                    w = pointer(s0, validLength(r.slotSize()), rnd.nextBoolean());
                    h = header(p, KIND_SLOT, RECORD_HEADER, false);
                }
                case K_REF -> {
                    int length = validLength(inlineMax);
                    if (holeAt >= 0) {
                        switch (rnd.nextInt(4)) {
                            case 0 -> w = holeAt - logBytes;             // the HOLE's offset, one lap back
                            case 1 -> w = holeAt + (rnd.nextBoolean() ? RECORD_ALIGN : -RECORD_ALIGN);
                            case 2 -> {
                                w = holeAt;                               // the HOLE, but longer than it
                                length = holeLength + 1 + rnd.nextInt(0xFF_FFFF - holeLength);
                            }
                            default -> { }                               // random
                        }
                    } else if (rnd.nextBoolean()) {
                        w = starts.isEmpty() ? 0 : starts.peekLast();     // a record that was never a HOLE
                    }
                    h = header(p, KIND_REF, length, rnd.nextBoolean());
                }
                case K_PAD -> {
                    int length;
                    do {
                        length = switch (rnd.nextInt(4)) {
                            case 0 -> toEnd - RECORD_HEADER + (rnd.nextBoolean() ? RECORD_ALIGN : -RECORD_ALIGN);
                            case 1 -> toEnd - RECORD_HEADER + logBytes;   // to the end of the next lap
                            case 2 -> 0;
                            default -> anyLength();
                        };
                        length &= 0xFF_FFFF;
                    } while (length == toEnd - RECORD_HEADER);
                    h = header(p, KIND_PAD, length, false);
                }
                case K_HOLE -> {
                    int length;
                    if (holeAt >= 0) length = validLength(Math.min(inlineMax, toEnd - RECORD_HEADER));   // a second HOLE, itself well formed
                    else if (atTheEnd && toEnd - 7 <= inlineMax) length = toEnd - 7 + rnd.nextInt(inlineMax - (toEnd - 7) + 1);
                    else length = inlineMax + 1 + rnd.nextInt(0xFF_FFFF - inlineMax);
                    h = header(p, KIND_HOLE, length, false);
                }
                case K_END -> h = header(p, KIND_END, holeAt >= 0 && rnd.nextBoolean() ? 0 : 1 + rnd.nextInt(0xFF_FFFF), false);
                default -> {   // K_RANDOM: random fields under the right tag, until they come to the planned reason
                    int[] kindFor = {0, 0, 0, KIND_INLINE, KIND_SLOT, KIND_SLOT, 0, KIND_REF, KIND_PAD, KIND_HOLE, KIND_END};
                    int tries = 0;
                    do {
                        if (++tries > 100_000) throw new AssertionError(this + ": no random record came to " + WORDS[expect]);
                        int k = expect == W_KIND ? rnd.nextInt(128) : kindFor[expect];
                        h = (rnd.nextBoolean() ? Long.MIN_VALUE : 0) | ((long) k << 56) | ((long) anyLength() << 32) | (tag & 0xFFFF_FFFFL);
                        w = rnd.nextInt(3) == 0 ? badPointer() : rnd.nextLong();
                    } while (classify(p, h, w, holeAt, holeLength) != expect);
                }
            }
            int got = classify(p, h, w, holeAt, holeLength);
            if (got != expect) {
                throw new AssertionError(this + ": fatal record 0x" + Long.toHexString(h) + " / 0x" + Long.toHexString(w) + " at " + p
                        + " comes to '" + WORDS[got] + "', planned '" + WORDS[expect] + "'");
            }
            putLogWordPlain(ring, r.log(p) + RECORD_HEADER, w);
            putHeaderRelease(ring, r.log(p), h);
            putWriteRegisterRelease(ring, rnd.nextBoolean() ? p + RECORD_ALIGN : rnd.nextLong());
            return true;
        }

        // ---- chaos ----

        /** Valid-looking records (any slot, even held ones; never an END), garbage around the victim, torn writes. */
        private void chaos() {
            for (int i = 0; i < 8; i++) {
                switch (rnd.nextInt(8)) {
                    case 0, 1 -> {   // a record at the next position, ignoring READ: it may land on records not yet read
                        long p = position;
                        int toEnd = r.toEnd(p);
                        switch (rnd.nextInt(4)) {
                            case 0 -> {
                                int length = rnd.nextInt(Math.min(inlineMax, toEnd - RECORD_HEADER) + 1);
                                payload(p, length);
                                publish(recordBytes(length), header(p, KIND_INLINE, length, rnd.nextBoolean()));
                            }
                            case 1 -> {
                                putLogWordPlain(ring, r.log(p) + RECORD_HEADER, pointer(rnd.nextInt(n), validLength(r.slotSize()), rnd.nextBoolean()));
                                publish(RECORD_ALIGN, header(p, KIND_SLOT, RECORD_HEADER, false));
                            }
                            case 2 -> publishPad();
                            default -> {   // torn: the header first, its payload after
                                long h = rnd.nextBoolean() ? header(p, KIND_SLOT, RECORD_HEADER, false) : header(p, KIND_REF, rnd.nextInt(inlineMax + 1), false);
                                putHeaderRelease(ring, r.log(p), h);
                                putLogWordPlain(ring, r.log(p) + RECORD_HEADER, rnd.nextBoolean() ? rnd.nextLong() : p - RECORD_ALIGN);
                                position = p + RECORD_ALIGN;
                            }
                        }
                    }
                    case 2 -> {   // a header that looks right over a random payload, or the reverse, anywhere near
                        long q = (position - logBytes + rnd.nextInt(2 * logBytes)) & -16L;
                        int k = 1 + rnd.nextInt(KIND_REF);   // never an END: the victim would stop reading, not fail
                        putLogWordPlain(ring, r.log(q) + RECORD_HEADER, rnd.nextLong());
                        putHeaderRelease(ring, r.log(q), rnd.nextBoolean() ? header(q, k, rnd.nextInt(inlineMax + 1), false) : rnd.nextLong());
                    }
                    case 3 -> putLogWordPlain(ring, r.log(position + (rnd.nextInt(logBytes) & -8)), rnd.nextLong());   // rewrite any word ahead
                    case 4 -> putHeaderRelease(ring, r.log(position - RECORD_ALIGN * (1 + rnd.nextInt(logBytes / RECORD_ALIGN))),
                            rnd.nextLong());   // rewrite a header behind (or torn into a payload)
                    case 5 -> {   // garbage where an idle victim waits: the record after the last one it released
                        long at = readRegisterAcquire(ring);
                        putHeaderRelease(ring, r.log(at & -16L), header(at, KIND_END, 1 + rnd.nextInt(100), false) ^ (rnd.nextBoolean() ? 0 : 1L << 56));
                    }
                    default -> putWriteRegisterRelease(ring, rnd.nextLong());
                }
            }
        }

        @Override
        public boolean step(long now) {
            if (broken) return finish();
            if (fatalWritten) return victimEndedOrOverdue(now, "the victim did not fail the connection within 20 s of the fatal record");
            if (fatalAt == CHAOS) {
                if (victimEndedOrOverdue(now, "the victim survived 20 s of chaos")) return true;
                if (readRegisterAcquire(ring) == 0) return false;   // the victim has not read the plan yet
                if (rnd.nextInt(4) == 0) chaos();
                return false;
            }
            if (c.state() != ConnectionState.OPEN) {
                error(this + ": the victim ended the connection at position " + position + " (" + messages + " fragments) before the "
                        + (fatalAt >= 0 ? "fatal record" : "clean close") + ": " + c.state() + " " + c.failure());
                return finish();
            }
            for (int i = 0; i < 32; i++) {
                if (broken) return finish();
                if (messages == total) {   // clean close, now and then after an end-of-epoch marker: the victim drains, then sees PEER_CLOSED
                    if (rnd.nextBoolean() && room(RECORD_ALIGN, false)) publish(RECORD_ALIGN, header(position, KIND_END, 0, false));
                    return finish();
                }
                if (messages == fatalAt) {
                    if (!writeFatal()) break;
                    fatalWritten = true;
                    since = now;
                    return false;
                }
                if (!publishBenign()) break;
                if (rnd.nextInt(4) == 0) harmlessGarbage();
                since = now;
            }
            if (now - since > TimeUnit.SECONDS.toNanos(20)) {
                error(this + ": no room came back for 20 s at position " + position + " (READ " + read + ", " + messages + " fragments)");
                return finish();
            }
            return false;
        }

        @Override
        public String toString() {
            return "producer connection #" + index + " (seed " + seed + ", " + n + " x " + r.slotSize() + " B, log " + logBytes + " B)";
        }
    }
}
