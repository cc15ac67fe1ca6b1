package dev.fable.transport.shm;

import dev.fable.ConnectOptions;
import dev.fable.Connection;
import dev.fable.ConnectionState;
import dev.fable.Fable;
import dev.fable.WaitMode;

import java.lang.foreign.MemorySegment;
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
 * The {@link HostilePeer} as the producer of the direction the victim reads: its entries meet the
 * victim's RingReader.poll (behind ShmConnection.poll).
 */
final class HostileProducer {
    private HostileProducer() {}

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
                ConnectOptions o = ConnectOptions.trusted()   // a quarter with slots of 1-2 KiB, which come with small slots (pool 1)
                        .slotSize(rnd.nextInt(4) == 0 ? SMALL_SLOTS_FROM * (1 + rnd.nextInt(2)) : 64 * (1 + rnd.nextInt(rnd.nextBoolean() ? 2 : 16)))
                        .slotCount(2 + rnd.nextInt(rnd.nextBoolean() ? 7 : 47))
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
                + " chaos=" + stats[3] + " errors=" + ERRORS.get());
        EXIT.await();
    }

    static final class ProducerCase extends Case {
        final int index;
        final long seed;
        final Random rnd;
        final boolean victimTrusted;
        final Rings r;
        final boolean[] published;   // from this side's view: published and not yet given back
        final int[] free;
        int freeTop;
        final boolean[] publishedSmall;   // the same for the small slots of pool 1 (none where the pool has none)
        final int[] freeSmall;
        int freeSmallTop;
        long position;
        long reclaimed;
        final int s0;                // the plan's slot: a trusted victim holds it until the end
        final long fatalAt;          // position of the fatal entry, -1 (clean close) or CHAOS
        final long total;            // clean close after this many entries, or -1
        final int kind;
        int expect;
        long fatalStamp;
        long fatalPointer;
        boolean fatalWritten;
        final byte[] noise;

        ProducerCase(int index, long seed, Random rnd, Connection c, boolean victimTrusted) {
            super(c);
            this.index = index;
            this.seed = seed;
            this.rnd = rnd;
            this.victimTrusted = victimTrusted;
            this.r = Rings.outgoing(c);
            int n = r.slotCount();
            published = new boolean[n];
            free = new int[n];
            for (int i = 0; i < n; i++) free[i] = i;
            freeTop = n;
            publishedSmall = new boolean[r.smallCount()];
            freeSmall = new int[r.smallCount()];
            for (int i = 0; i < r.smallCount(); i++) freeSmall[i] = i;
            freeSmallTop = r.smallCount();
            noise = new byte[r.slotSize()];
            s0 = takeFreeSlot();
            long length = 1 + rnd.nextInt(4 * r.capacity() + 40);   // entries before the end, the plan included: several laps
            int shape = rnd.nextInt(10);
            boolean clean = shape == 0;
            boolean chaos = shape == 1;
            fatalAt = clean ? -1 : chaos ? CHAOS : length;
            total = clean ? length : -1;
            long benign = chaos ? 0 : length - 1;
            kind = clean || chaos ? -1 : victimTrusted ? rnd.nextInt(PRODUCER_KINDS.length) : pickNot(PRODUCER_KINDS.length, 4);
            if (fatalAt > 0) planFatal();
            MemorySegment plan = r.slots()[s0];
            plan.set(JAVA_LONG, 0, PLAN_MAGIC);
            plan.set(JAVA_LONG, PLAN_INDEX, index);
            plan.set(JAVA_LONG, PLAN_SEED, seed);
            plan.set(JAVA_LONG, PLAN_FATAL, fatalAt);
            plan.set(JAVA_LONG, PLAN_CLEAN, total);
            plan.set(JAVA_LONG, PLAN_EXPECT, expect);
            plan.set(JAVA_LONG, PLAN_KIND, (benign << 32) | (kind & 0xFFFF_FFFFL));
            plan.set(JAVA_LONG, PLAN_GEOMETRY, ((long) r.slotSize() << 32) | n);
            publish(1, pointer(s0, PLAN_BYTES, false));
            published[s0] = true;
        }

        private int pickNot(int bound, int excluded) {
            int k;
            do {
                k = rnd.nextInt(bound);
            } while (k == excluded);
            return k;
        }

        private int takeFreeSlot() {
            int i = rnd.nextInt(freeTop);
            int s = free[i];
            free[i] = free[--freeTop];
            return s;
        }

        private long validLength() {
            return switch (rnd.nextInt(5)) {
                case 0 -> 0;
                case 1 -> r.slotSize();
                default -> rnd.nextInt(r.slotSize() + 1);
            };
        }

        private long badSlot() {
            int n = r.slotCount();
            return switch (rnd.nextInt(6)) {
                case 0 -> n;
                case 1 -> r.capacity() > n ? n + rnd.nextInt(r.capacity() - n) : n + 1;   // inside the ring's capacity
                case 2 -> r.capacity();
                case 3 -> 0xFF_FFFF;
                default -> n + rnd.nextInt(0x100_0000 - n);
            };
        }

        private long badLength() {
            long size = r.slotSize();
            return switch (rnd.nextInt(7)) {
                case 0 -> size + 1;
                case 1 -> size + 64;
                case 2 -> 2 * size;
                case 3 -> 0x7FFF_FFFFL;
                case 4 -> 0x8000_0000L;   // the pointer's top bit: negative as a signed long
                case 5 -> 0xFFFF_FFFFL;
                default -> size + 1 + (rnd.nextLong() & 0xFFFF_FFFFL) % (0x1_0000_0000L - size - 1);
            };
        }

        private long moreBit() {
            return rnd.nextBoolean() ? 1L << 31 : 0;
        }

        /** What this victim must say about pointer {@code p} at a fresh stamp (EXPECT_NONE: undecidable or valid). */
        private int classify(long p) {
            boolean small = pointerPool(p) == POOL_SMALL && smallSlotsFor(r.slotSize(), r.slotCount()) > 0;   // a small slot (layout 2)
            if ((pointerPool(p) != 0 && !small) || pointerSlot(p) >= r.slotCount()
                    || pointerLength(p) > (small ? SMALL_SLOT_SIZE : r.slotSize())) return EXPECT_BOUNDS;
            if (small) return EXPECT_NONE;   // valid, or held: a small slot published and released behind an unpublished READ batch is undecidable
            if (victimTrusted && pointerSlot(p) == s0) return EXPECT_HELD;
            return EXPECT_NONE;
        }

        private void planFatal() {
            long f = fatalAt;
            long cap = r.capacity();
            long good = f + 1;
            long previousLap = f < cap ? 0 : f + 1 - cap;
            fatalStamp = good;
            int n = r.slotCount();
            switch (kind) {
                case 0 -> {
                    do {
                        fatalStamp = switch (rnd.nextInt(9)) {
                            case 0 -> f + 1 + cap * (1 + rnd.nextInt(3));          // a future lap
                            case 1 -> f + 2;
                            case 2 -> f;
                            case 3 -> 0;
                            case 4 -> -1;
                            case 5 -> Long.MIN_VALUE;
                            case 6 -> Long.MAX_VALUE;
                            case 7 -> f + 1 - cap * (2 + rnd.nextInt(3));          // an older lap
                            default -> rnd.nextLong();
                        };
                    } while (fatalStamp == good || fatalStamp == previousLap);
                    fatalPointer = rnd.nextBoolean() ? rnd.nextLong() : pointer(rnd.nextInt(n), (int) validLength(), rnd.nextBoolean());
                    expect = EXPECT_STAMP;
                }
                case 1 -> {   // pool 127, slot 0, length 0, no MORE is END_OF_EPOCH: a valid entry (a switch), not this fault
                    do {
                        fatalPointer = (validLength() << 32) | moreBit() | ((1L + rnd.nextInt(127)) << 24) | rnd.nextInt(n);
                    } while (fatalPointer == END_OF_EPOCH || classify(fatalPointer) == EXPECT_NONE);   // pool 1 may name a small slot
                }
                case 2 -> fatalPointer = (validLength() << 32) | moreBit() | badSlot();
                case 3 -> fatalPointer = (badLength() << 32) | moreBit() | rnd.nextInt(n);
                case 4 -> fatalPointer = (validLength() << 32) | moreBit() | s0;
                case 5 -> {
                    do {
                        fatalPointer = rnd.nextLong();
                    } while (classify(fatalPointer) == EXPECT_NONE);
                }
                default -> {
                    long pool = rnd.nextBoolean() ? (1L + rnd.nextInt(127)) << 24 : 0;
                    long slot = pool == 0 || rnd.nextBoolean() ? badSlot() : rnd.nextInt(n);
                    long length = slot < n || rnd.nextBoolean() ? badLength() : validLength();
                    fatalPointer = (length << 32) | moreBit() | pool | slot;
                }
            }
            if (kind != 0) expect = classify(fatalPointer);
            if (expect == EXPECT_NONE) throw new AssertionError("fatal plan " + kind + " built a valid pointer 0x" + Long.toHexString(fatalPointer));
        }

        /** Publishes entry {@code position} like a producer: pointer, then the stamp (release), then WRITE (release). */
        private void publish(long stamp, long ptr) {
            long p = position;
            long e = r.entry(p);
            putPointerPlain(r.ring(), e, ptr);
            putStampRelease(r.ring(), e, stamp);
            putWriteRegisterRelease(r.ring(), p + 1);
            position = p + 1;
        }

        /** Takes back what the (honest) victim released, checking it as RingWriter does. */
        private void reclaim() {
            long rr = readRegisterAcquire(r.ring());
            if (rr < reclaimed || rr > position) {
                throw new IllegalStateException("the victim's READ " + rr + " is outside [" + reclaimed + ", " + position + "]");
            }
            for (long q = reclaimed; q < rr; q++) {
                long ptr = pointerPlain(r.ring(), r.entry(q));
                int s = pointerSlot(ptr);
                boolean small = pointerPool(ptr) == POOL_SMALL && s < r.smallCount() && publishedSmall[s];
                if (!small && (pointerPool(ptr) != 0 || s >= r.slotCount() || !published[s])) {
                    throw new IllegalStateException("the victim released 0x" + Long.toHexString(ptr) + " at " + q);
                }
                if (small) {
                    publishedSmall[s] = false;
                    freeSmall[freeSmallTop++] = s;
                } else {
                    published[s] = false;
                    free[freeTop++] = s;
                }
            }
            reclaimed = rr;
        }

        /**
         * A free slot, as a real producer needs before it publishes: it also guarantees that the entry
         * about to be overwritten (one lap back) was consumed, so garbage lands exactly where planned.
         */
        private boolean haveFreeSlot() {
            // as RingWriter: at most slotCount slots of both pools out, so a lap never overruns an unreleased entry
            if (freeTop == 0 || position - reclaimed >= r.slotCount()) reclaim();
            return freeTop > 0 && position - reclaimed < r.slotCount();
        }

        /**
         * One benign random case: a valid entry with random slot (of either pool, where there are small
         * slots), length and MORE bit, plus garbage where it is harmless.
         */
        private boolean publishBenign() {
            if (!haveFreeSlot()) return false;
            if (freeSmallTop > 0 && rnd.nextBoolean()) {   // a small slot: any length up to its 256 bytes
                int i = rnd.nextInt(freeSmallTop);
                int slot = freeSmall[i];
                freeSmall[i] = freeSmall[--freeSmallTop];
                int length = rnd.nextInt(5) == 0 ? SMALL_SLOT_SIZE : rnd.nextInt(SMALL_SLOT_SIZE + 1);
                if (rnd.nextInt(4) == 0) {
                    rnd.nextBytes(noise);
                    MemorySegment.copy(noise, 0, r.small(slot), JAVA_BYTE, 0, length);
                }
                publish(position + 1, pointer(POOL_SMALL, slot, length, rnd.nextInt(4) == 0));
                publishedSmall[slot] = true;
                return true;
            }
            int slot = takeFreeSlot();
            int length = (int) validLength();
            if (rnd.nextInt(4) == 0) {
                rnd.nextBytes(noise);
                MemorySegment.copy(noise, 0, r.slots()[slot], JAVA_BYTE, 0, length);
            }
            publish(position + 1, pointer(slot, length, rnd.nextInt(4) == 0));
            published[slot] = true;
            if (rnd.nextInt(4) == 0) {
                MemorySegment ring = r.ring();
                switch (rnd.nextInt(8)) {
                    case 0 -> putWriteRegisterRelease(ring, rnd.nextLong());           // the reader never trusts WRITE
                    case 1 -> INT.setRelease(ring, CONSUMER_PARKED, rnd.nextInt());     // the victim's flag
                    case 2 -> INT.setRelease(ring, PRODUCER_PARKED, rnd.nextInt());
                    case 6 -> INT.setRelease(ring, CONSUMER_PARKED + dev.fable.sync.Tripwire.ACK, rnd.nextInt(3));       // a false ack: the victim
                    case 7 -> INT.setRelease(ring, CONSUMER_PARKED + dev.fable.sync.Tripwire.REQUEST, rnd.nextInt(3));   // may sleep late, nothing worse
                    case 3 -> putProducerStateRelease(ring, rnd.nextInt());
                    case 4 -> {                                                        // headers are read once, at the handshake
                        long[] at = {HDR_MAGIC, HDR_VERSION, HDR_CAPACITY, HDR_SLOT_SIZE, HDR_SLOT_COUNT};
                        ring.set(JAVA_INT, at[rnd.nextInt(at.length)], rnd.nextInt());
                    }
                    default -> {                                                       // scribble on a slot the victim may be reading
                        int s = rnd.nextInt(r.slotCount());
                        if (s != s0) {
                            rnd.nextBytes(noise);
                            MemorySegment.copy(noise, 0, r.slots()[s], JAVA_BYTE, 0, noise.length);
                        }
                    }
                }
            }
            return true;
        }

        /** Chaos: valid-looking entries (any slot, even held ones), garbage at entries around the victim, torn writes. */
        private void chaos() {
            MemorySegment ring = r.ring();
            int cap = r.capacity();
            for (int i = 0; i < 8; i++) {
                switch (rnd.nextInt(6)) {
                    case 0, 1 -> publish(position + 1, pointer(rnd.nextInt(r.slotCount()), (int) validLength(), rnd.nextBoolean()));
                    case 2 -> {   // a stamp that looks right over a random pointer, or the reverse, anywhere near
                        long q = position - cap + rnd.nextInt(2 * cap);
                        long e = r.entry(q);
                        if (rnd.nextBoolean()) {
                            putPointerPlain(ring, e, rnd.nextLong());
                            putStampRelease(ring, e, q + 1);
                        } else {
                            putPointerPlain(ring, e, pointer(rnd.nextInt(r.slotCount()), (int) validLength(), false));
                            putStampRelease(ring, e, rnd.nextLong());
                        }
                    }
                    case 3 -> putPointerPlain(ring, r.entry(position + rnd.nextInt(cap)), rnd.nextLong());   // rewrite a published pointer
                    case 4 -> putStampRelease(ring, r.entry(position - 1 - rnd.nextInt(cap)), rnd.nextLong());   // rewrite a stamp behind
                    default -> putWriteRegisterRelease(ring, rnd.nextLong());
                }
            }
        }

        @Override
        public boolean step(long now) {
            if (fatalWritten) return victimEndedOrOverdue(now, "the victim did not fail the connection within 20 s of the fatal entry");
            if (fatalAt == CHAOS) {
                if (victimEndedOrOverdue(now, "the victim survived 20 s of chaos")) return true;
                if (readRegisterAcquire(r.ring()) == 0) return false;   // the victim has not read the plan yet
                if (rnd.nextInt(4) == 0) chaos();
                return false;
            }
            if (c.state() != ConnectionState.OPEN) {
                error(this + ": the victim ended the connection at position " + position + " before the fatal entry: "
                        + c.state() + " " + c.failure());
                return finish();
            }
            for (int i = 0; i < 32; i++) {
                long p = position;
                if (p == total) return finish();   // clean close: the victim drains, then sees PEER_CLOSED
                if (p == fatalAt) {
                    if (!haveFreeSlot()) break;
                    publish(fatalStamp, fatalPointer);
                    fatalWritten = true;
                    since = now;
                    return false;
                }
                if (!publishBenign()) break;
                since = now;
            }
            if (now - since > TimeUnit.SECONDS.toNanos(20)) {
                error(this + ": no slot came back for 20 s at position " + position);
                return finish();
            }
            return false;
        }

        @Override
        public String toString() {
            return "producer connection #" + index + " (seed " + seed + ", " + r.slotCount() + " x " + r.slotSize() + " B)";
        }
    }
}
