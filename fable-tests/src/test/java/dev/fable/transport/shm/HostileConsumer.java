package dev.fable.transport.shm;

import dev.fable.Buffer;
import dev.fable.ConnectOptions;
import dev.fable.Connection;
import dev.fable.ConnectionState;
import dev.fable.Endpoint;
import dev.fable.Fable;

import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.Queue;
import java.util.Random;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;

import static dev.fable.testing.Names.unique;
import static dev.fable.transport.shm.HostileAccess.*;
import static dev.fable.transport.shm.HostilePeer.*;
import static dev.fable.transport.shm.ShmLayout.*;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The {@link HostilePeer} as the consumer of the direction the victim writes: its READ register and
 * released pointers meet the victim's RingWriter.claim/reclaim (behind ShmConnection.claim).
 */
final class HostileConsumer {
    private HostileConsumer() {}

    static void run(long seed) throws Exception {
        String echo = startEcho();
        String name = unique("hostile");
        Endpoint ep = Fable.register(name).listen(ConnectOptions.trusted().slotSize(64).slotCount(2));
        say("READY " + name + " " + echo);
        Queue<Case> fresh = new ConcurrentLinkedQueue<>();
        long[] stats = new long[4];   // finished, fatal written, clean, chaos
        Thread acceptor = new Thread(() -> {
            for (int i = 0; EXIT.getCount() > 0; ) {
                try {
                    Connection c = ep.accept(Duration.ofMillis(100));
                    if (c == null) continue;
                    long s = mix(seed, i);
                    fresh.add(new ConsumerCase(i, s, new Random(s), c));
                    i++;
                } catch (RuntimeException e) {
                    error("accept failed: " + e);
                }
            }
        }, "hostile-acceptor");
        acceptor.start();
        runCases(fresh, () -> acceptor.isAlive() || !fresh.isEmpty(), c -> {
            ConsumerCase k = (ConsumerCase) c;
            stats[0]++;
            if (k.fatalWritten) stats[1]++;
            if (k.fatal == -1) stats[2]++;
            if (k.fatal == CHAOS) stats[3]++;
        });
        ep.close();
        say("DONE finished=" + stats[0] + " fatal=" + stats[1] + " clean=" + stats[2] + " chaos=" + stats[3] + " errors=" + ERRORS.get());
    }

    /**
     * Works in lock-step with the victim's writer. The victim first claims one buffer and keeps it (slot
     * 0 stays CLAIMED), then publishes as long as it gets slots. A sync point is reached when WRITE equals
     * READ + slotCount - 1: the victim has reclaimed everything released so far and holds no free slot,
     * so its state is known exactly (reclaimed = READ, slots 1..n-1 PUBLISHED, slot 0 CLAIMED) and every
     * value written now has one right outcome.
     */
    static final class ConsumerCase extends Case {
        final int index;
        final long seed;
        final Random rnd;
        final Rings r;
        final int n;
        final int[] batches;   // slots released at each benign sync point
        final long fatal;      // messagesSent at the claim that must fail, -1 (clean close) or CHAOS
        final long clean;      // messagesSent in the end when the connection closes cleanly, or -1
        final int kind;
        final int expect;
        long read;             // the READ this side last published
        int sync;              // sync points passed
        boolean fatalWritten;

        ConsumerCase(int index, long seed, Random rnd, Connection c) {
            super(c);
            this.index = index;
            this.seed = seed;
            this.rnd = rnd;
            this.r = Rings.incoming(c);
            this.n = r.slotCount();
            batches = new int[rnd.nextInt(rnd.nextBoolean() ? 20 : 200)];
            long total = 0;
            for (int j = 0; j < batches.length; j++) {
                batches[j] = 1 + rnd.nextInt(n - 1);
                total += batches[j];
            }
            long last = total + n - 1;
            int shape = rnd.nextInt(10);
            boolean isClean = shape == 0;
            boolean chaos = shape == 1;
            fatal = isClean ? -1 : chaos ? CHAOS : last;
            clean = isClean ? last : -1;
            int k = -1;
            if (fatal >= 0) {
                do {
                    k = rnd.nextInt(CONSUMER_KINDS.length);
                } while (k == 5 && n < 3);   // two released slots need two published ones
            }
            kind = k;
            expect = fatal < 0 ? EXPECT_NONE : kind <= 1 ? EXPECT_READ_REGISTER : EXPECT_RELEASED_POINTER;
            Buffer plan = c.claim(PLAN_BYTES);
            if (plan == null || plan.capacity() < PLAN_BYTES) throw new IllegalStateException("no room for the plan: " + plan);
            plan.putLong(0, PLAN_MAGIC);
            plan.putLong(PLAN_INDEX, index);
            plan.putLong(PLAN_SEED, seed);
            plan.putLong(PLAN_FATAL, fatal);
            plan.putLong(PLAN_CLEAN, clean);
            plan.putLong(PLAN_EXPECT, expect);
            plan.putLong(PLAN_KIND, ((long) (chaos ? 0 : batches.length) << 32) | (kind & 0xFFFF_FFFFL));   // benign cases, kind
            plan.putLong(PLAN_GEOMETRY, ((long) r.slotSize() << 32) | n);
            plan.length(PLAN_BYTES);
            plan.commit();
        }

        private long garbageHighBits(long ptr) {   // length and MORE bits: the writer must ignore them
            return rnd.nextBoolean() ? ptr : (rnd.nextLong() & ~0x7FFF_FFFFL) | (ptr & 0x7FFF_FFFFL);
        }

        /** {@code k} distinct published slots (1..n-1) in random order, as released pointers. */
        private long[] distinctReleases(int k) {
            int[] slots = new int[n - 1];
            for (int i = 0; i < slots.length; i++) slots[i] = i + 1;
            long[] out = new long[k];
            for (int i = 0; i < k; i++) {
                int j = i + rnd.nextInt(slots.length - i);
                int t = slots[i];
                slots[i] = slots[j];
                slots[j] = t;
                out[i] = garbageHighBits(pointer(slots[i], rnd.nextInt(1 << 20), rnd.nextBoolean()));
            }
            return out;
        }

        private void writeReleased(long[] ptrs) {
            for (int i = 0; i < ptrs.length; i++) putPointerPlain(r.ring(), r.entry(read + i), ptrs[i]);
        }

        /** Garbage where the writer must not care: stamps, registers it does not read, headers, unused entries. */
        private void harmlessGarbage(long nextTarget) {
            MemorySegment ring = r.ring();
            long published = read + n - 1;
            switch (rnd.nextInt(7)) {
                case 0 -> ring.set(JAVA_LONG, r.entry(rnd.nextLong() & Long.MAX_VALUE), rnd.nextLong());   // any stamp
                case 1 -> {
                    long w = rnd.nextLong();
                    if (w != nextTarget) putWriteRegisterRelease(ring, w);   // the victim rewrites it with its next commit
                }
                case 2 -> INT.setRelease(ring, CONSUMER_PARKED, rnd.nextInt(3));   // 1 makes the victim CAS and wake
                case 3 -> INT.setRelease(ring, PRODUCER_PARKED, rnd.nextInt());
                case 4 -> putProducerStateRelease(ring, rnd.nextInt());
                case 5 -> {
                    long[] at = {HDR_MAGIC, HDR_VERSION, HDR_CAPACITY, HDR_SLOT_SIZE, HDR_SLOT_COUNT};
                    ring.set(JAVA_INT, at[rnd.nextInt(at.length)], rnd.nextInt());
                }
                default -> {   // pointer of an entry not in use: the victim writes it before it publishes there
                    long q = published + rnd.nextInt((int) (read + r.capacity() - published));
                    putPointerPlain(ring, r.entry(q), rnd.nextLong());
                }
            }
        }

        /**
         * At a sync point every slot but 0 is PUBLISHED, so any k distinct slots of 1..n-1 are a valid
         * release. The pointers in the entries are the victim's only until a release named slots out of
         * position order: then a slot freed early was republished and may appear in two entries.
         */
        private boolean entriesDistinct(int k) {
            boolean[] seen = new boolean[n];
            for (long q = read; q < read + k; q++) {
                int s = pointerSlot(pointerPlain(r.ring(), r.entry(q)));
                if (s == 0 || s >= n || seen[s]) return false;
                seen[s] = true;
            }
            return true;
        }

        private void benign(int k) {
            long target = read + k + n - 1;
            int variant = entriesDistinct(k) ? rnd.nextInt(4) : 2;
            switch (variant) {
                case 0 -> { }   // in order: the entries still hold the pointers the victim published
                case 1 -> {     // out of order: the same pointers, shuffled, maybe with garbage length/MORE bits
                    long[] ptrs = new long[k];
                    for (int i = 0; i < k; i++) ptrs[i] = garbageHighBits(pointerPlain(r.ring(), r.entry(read + i)));
                    for (int i = k - 1; i > 0; i--) {
                        int j = rnd.nextInt(i + 1);
                        long t = ptrs[i];
                        ptrs[i] = ptrs[j];
                        ptrs[j] = t;
                    }
                    writeReleased(ptrs);
                }
                default -> writeReleased(distinctReleases(k));   // any published slots, even ones not polled yet
            }
            for (int g = rnd.nextInt(3); g > 0; g--) harmlessGarbage(target);
            putReadRegisterRelease(r.ring(), read + k);
            read += k;
        }

        private void inject() {
            long published = read + n - 1;
            long bad;
            switch (kind) {
                case 0 -> {
                    bad = switch (rnd.nextInt(4)) {
                        case 0 -> -1;
                        case 1 -> Long.MIN_VALUE;
                        case 2 -> read == 0 ? -1 - rnd.nextInt(1000) : read - 1 - rnd.nextLong(read);
                        default -> read == 0 ? rnd.nextLong() | Long.MIN_VALUE : read - 1;
                    };
                    putReadRegisterRelease(r.ring(), bad);
                }
                case 1 -> {
                    bad = switch (rnd.nextInt(5)) {
                        case 0 -> published + 1;
                        case 1 -> published + r.capacity();
                        case 2 -> published + (1L << 32);   // same futex word as a valid value
                        case 3 -> Long.MAX_VALUE;
                        default -> published + 1 + (rnd.nextLong() & Long.MAX_VALUE) % (Long.MAX_VALUE - published);
                    };
                    if (rnd.nextBoolean()) writeReleased(distinctReleases(1 + rnd.nextInt(n - 1)));
                    putReadRegisterRelease(r.ring(), bad);
                }
                default -> {
                    int k = kind == 5 ? 2 + rnd.nextInt(n - 2) : 1 + rnd.nextInt(n - 1);
                    long[] ptrs = distinctReleases(k);
                    int at = kind == 5 ? 1 + rnd.nextInt(k - 1) : rnd.nextInt(k);
                    ptrs[at] = switch (kind) {
                        case 2 -> ptrs[at] | ((1L + rnd.nextInt(127)) << 24);
                        case 3 -> garbageHighBits(n + rnd.nextInt(0x100_0000 - n));
                        case 4 -> garbageHighBits(pointer(0, rnd.nextInt(1 << 20), rnd.nextBoolean()));   // the victim's CLAIMED slot
                        case 5 -> garbageHighBits(ptrs[rnd.nextInt(at)]);
                        default -> {
                            long p;
                            do {
                                p = rnd.nextLong();
                            } while (pointerPool(p) == 0 && pointerSlot(p) < n && pointerSlot(p) != 0 && !repeats(ptrs, at, p));
                            yield p;
                        }
                    };
                    if (kind == 6) {
                        for (int i = at + 1; i < k; i++) ptrs[i] = rnd.nextLong();
                    }
                    writeReleased(ptrs);
                    if (rnd.nextBoolean()) harmlessGarbage(Long.MIN_VALUE);
                    putReadRegisterRelease(r.ring(), read + k);
                }
            }
            fatalWritten = true;
        }

        /** Chaos: released pointers and READ values, plausible or not, written without waiting for the victim. */
        private void chaos() {
            MemorySegment ring = r.ring();
            int k = 1 + rnd.nextInt(n - 1);
            for (int i = 0; i < k; i++) {
                long p = switch (rnd.nextInt(4)) {
                    case 0 -> rnd.nextLong();
                    case 1 -> pointer(rnd.nextInt(n), 0, false);
                    default -> garbageHighBits(pointer(1 + rnd.nextInt(n - 1), 0, false));
                };
                putPointerPlain(ring, r.entry(read + rnd.nextInt(n)), p);
            }
            long next = switch (rnd.nextInt(8)) {
                case 0 -> rnd.nextLong();
                case 1 -> read - 1;
                case 2 -> read + n;
                default -> read + rnd.nextInt(n);
            };
            putReadRegisterRelease(ring, next);
            if (next >= read && next < read + n) read = next;
        }

        private static boolean repeats(long[] ptrs, int before, long p) {
            for (int i = 0; i < before; i++) if (pointerSlot(ptrs[i]) == pointerSlot(p)) return true;
            return false;
        }

        @Override
        public boolean step(long now) {
            if (fatalWritten) return victimEndedOrOverdue(now, "the victim did not fail the connection within 20 s of the fatal release");
            if (fatal == CHAOS) {
                if (victimEndedOrOverdue(now, "the victim survived 20 s of chaos")) return true;
                if (rnd.nextInt(4) == 0) chaos();
                return false;
            }
            if (c.state() != ConnectionState.OPEN) {
                error(this + ": the victim ended the connection at sync point " + sync + " of " + batches.length
                        + " before the fatal release: " + c.state() + " " + c.failure());
                return finish();
            }
            long w = (long) LONG.getAcquire(r.ring(), WRITE);
            long target = read + n - 1;
            if (w != target) {
                if (w > target && w - target <= n) {   // (garbage this side wrote into WRITE is random: not in this window)
                    error(this + ": the victim published position " + w + " with only " + (n - 1) + " slots past READ " + read);
                    return finish();
                }
                if (now - since > TimeUnit.SECONDS.toNanos(20)) {
                    error(this + ": the victim's WRITE stayed at " + w + " for 20 s, expected " + target);
                    return finish();
                }
                return false;
            }
            since = now;
            if (sync == batches.length) {
                if (fatal < 0) return finish();   // clean close
                inject();
                return false;
            }
            benign(batches[sync++]);
            return false;
        }

        @Override
        public String toString() {
            return "consumer connection #" + index + " (seed " + seed + ", " + n + " x " + r.slotSize() + " B)";
        }
    }
}
