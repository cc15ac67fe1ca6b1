package dev.fable.transport.shm;

import dev.fable.Buffer;
import dev.fable.ConnectOptions;
import dev.fable.Connection;
import dev.fable.ConnectionState;
import dev.fable.Endpoint;
import dev.fable.Fable;
import dev.fable.FableException;
import dev.fable.WaitMode;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.VarHandle;
import java.lang.reflect.Field;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Queue;
import java.util.Random;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

import static dev.fable.transport.shm.ShmLayout.*;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The hostile process of {@link HostilePeerFuzzTest}: a second JVM that connects through the normal
 * API, then reaches into its own {@link ShmConnection} (reflection, test code only) for the mapped
 * rings and writes garbage into them, as a buggy or malicious peer would.
 *
 * <ul>
 *   <li>{@code producer}: connects to the victim's endpoints and is the producer of the direction the
 *       victim reads: it publishes entries itself (garbage stamps, pointers past the pool, lengths
 *       beyond a slot, a slot the reader holds, ...) instead of using claim/commit.</li>
 *   <li>{@code consumer}: accepts the victim's connections and is the consumer of the direction the
 *       victim writes: it moves READ and writes released pointers itself (READ behind or beyond
 *       WRITE, pointers to slots never published, out of range, other pool ids, duplicates).</li>
 *   <li>{@code morechain}, {@code readonly}: small scripted peers (MORE chains; writes through read buffers).</li>
 * </ul>
 *
 * Every connection starts with a <em>plan</em> message (64 bytes) that tells the victim exactly what
 * is coming: how many benign random cases, then which fatal value at which position (or a clean
 * close). The victim checks its outcome against the plan, so a validator that is too strict shows up
 * as well as one that is too lax. One connection in ten is <em>chaos</em> instead: random values at
 * random times and places, racing the victim (torn entries, rewrites under its feet), where the
 * victim can only check that it stays in bounds and fails cleanly. Randomness comes from
 * {@code seed} mixed with the connection index, so a failing connection's garbage can be
 * regenerated from the two numbers in the failure message (timing aside).
 *
 * <p>Talks to the test by lines: prints {@code READY ...} and {@code DONE ...}, {@code ERROR ...} for
 * anything it saw go wrong; reads {@code STOP} (open no new connections) and {@code EXIT} on stdin.
 */
public final class HostilePeer {
    private HostilePeer() {}

    private static final VarHandle LONG = JAVA_LONG.varHandle();
    private static final VarHandle INT = JAVA_INT.varHandle();

    // ---- the plan message: the first message of every connection, 64 bytes ----
    static final long PLAN_MAGIC = 0x4E414C5054534F48L;   // "HOSTPLAN" little-endian
    static final int PLAN_BYTES = 64;
    static final int PLAN_INDEX = 8;
    static final int PLAN_SEED = 16;
    static final int PLAN_FATAL = 24;     // producer: position of the fatal entry; consumer: messagesSent at the failing claim; -1: none; CHAOS
    static final int PLAN_CLEAN = 32;     // -1, or (clean close) producer: messages published; consumer: messagesSent in the end
    static final int PLAN_EXPECT = 40;    // EXPECT_*
    static final int PLAN_KIND = 48;      // (benign cases << 32) | index into PRODUCER_KINDS / CONSUMER_KINDS (-1: clean close)
    static final int PLAN_GEOMETRY = 56;  // (slotSize << 32) | slotCount of the direction under attack

    /**
     * PLAN_FATAL of a chaos connection: after the plan the peer writes random values at random times and
     * places, racing with the victim (torn entries, rewrites under its feet), until the victim fails.
     * No exact oracle: the victim only checks that whatever it is handed is in bounds and that it fails
     * with a CorruptChannelException in the end.
     */
    static final long CHAOS = -2;

    // what the victim must report: a word its CorruptChannelException message must contain
    static final int EXPECT_NONE = 0;
    static final int EXPECT_STAMP = 1;
    static final int EXPECT_BOUNDS = 2;
    static final int EXPECT_HELD = 3;
    static final int EXPECT_READ_REGISTER = 4;
    static final int EXPECT_RELEASED_POINTER = 5;

    static String expectedWords(int expect) {
        return switch (expect) {
            case EXPECT_STAMP -> "carries stamp";
            case EXPECT_BOUNDS -> "is out of bounds";
            case EXPECT_HELD -> "while this reader still holds it";
            case EXPECT_READ_REGISTER -> "moved its READ register";
            case EXPECT_RELEASED_POINTER -> "which names a slot it does not hold";
            default -> "(no failure expected)";
        };
    }

    static final String[] PRODUCER_KINDS = {"bad stamp", "pool id != 0", "slot index >= slotCount", "length > slotSize",
            "slot the reader holds", "random pointer", "several bad fields"};
    static final String[] CONSUMER_KINDS = {"READ behind the last reclaim", "READ beyond WRITE", "released pointer with pool id != 0",
            "released slot index >= slotCount", "released slot never published", "released the same slot twice",
            "random released pointers"};

    static long mix(long seed, long index) {
        long z = seed + (index + 1) * 0x9E3779B97F4A7C15L;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    // ---- reaching into a connection ----

    static Object field(Object o, String name) {
        try {
            Field f = o.getClass().getDeclaredField(name);
            f.setAccessible(true);
            return f.get(o);
        } catch (ReflectiveOperationException e) {
            throw new AssertionError("cannot read " + o.getClass().getName() + "." + name, e);
        }
    }

    /** One direction's mappings as this process sees them: the ring (read-write) and the slots. */
    record Rings(MemorySegment ring, MemorySegment[] slots, int slotSize, int slotCount, int capacity, int mask) {
        /** {@code side} is a connection's RingWriter ({@code out}) or RingReader ({@code in}). */
        static Rings of(Object side) {
            int slotCount = (int) field(side, "slotCount");
            int capacity = capacityFor(slotCount);
            return new Rings((MemorySegment) field(side, "ring"), (MemorySegment[]) field(side, "slots"),
                    (int) field(side, "slotSize"), slotCount, capacity, capacity - 1);
        }

        static Rings outgoing(Connection c) {
            return of(field(((dev.fable.flow.LiveConnection) c).leg(), "out"));
        }

        static Rings incoming(Connection c) {
            return of(field(((dev.fable.flow.LiveConnection) c).leg(), "in"));
        }

        long entry(long position) {
            return entryOffset(position, mask);
        }
    }

    // ---- process plumbing ----

    private static final CountDownLatch STOP = new CountDownLatch(1);
    private static final CountDownLatch EXIT = new CountDownLatch(1);
    private static final AtomicLong ERRORS = new AtomicLong();
    private static final BlockingQueue<String> COMMANDS = new LinkedBlockingQueue<>();

    static synchronized void say(String line) {
        System.out.println(line);
        System.out.flush();
    }

    static void error(String what) {
        if (ERRORS.incrementAndGet() <= 20) say("ERROR " + what.replace('\n', ' '));
    }

    private static void readCommands() {
        Thread t = new Thread(() -> {
            try (BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))) {
                String l;
                while ((l = in.readLine()) != null) {
                    if (l.equals("STOP")) STOP.countDown();
                    if (l.equals("EXIT")) break;
                    COMMANDS.add(l);
                }
            } catch (Exception ignored) {
                // parent gone: exit below
            }
            STOP.countDown();
            EXIT.countDown();
        }, "hostile-commands");
        t.setDaemon(true);
        t.start();
    }

    /** A healthy connection the victim keeps using while others fail: echoes every message back. */
    private static String startEcho() {
        String name = "echo-" + ProcessHandle.current().pid() + "-" + (System.nanoTime() & 0xFFFFFF);
        Endpoint ep = Fable.register(name).listen(ConnectOptions.untrusted().slotSize(4096).slotCount(8));
        Thread t = new Thread(() -> {
            try (Connection c = ep.accept()) {
                while (true) {
                    byte[] m = c.receiveMessage(Duration.ofMillis(500));
                    if (m != null) c.send(m);
                }
            } catch (FableException e) {
                // the victim closed it
            } finally {
                ep.close();
            }
        }, "hostile-echo");
        t.setDaemon(true);
        t.start();
        return name;
    }

    public static void main(String[] args) throws Exception {
        readCommands();
        switch (args[0]) {
            case "producer" -> producer(args[1], args[2], Long.parseLong(args[3]), Integer.parseInt(args[4]));
            case "consumer" -> consumer(Long.parseLong(args[1]));
            case "morechain" -> moreChain(args[1]);
            case "readonly" -> readOnly(args[1], args[2]);
            default -> throw new IllegalArgumentException(args[0]);
        }
        System.exit(0);
    }

    /** Runs cases round-robin on this thread until {@code more} says no and all have finished. */
    interface Case {
        /** Advances; true once finished (the connection is closed). */
        boolean step(long now);
    }

    private static void runCases(Queue<Case> fresh, java.util.function.BooleanSupplier more, Consumer<Case> finished) {
        List<Case> active = new ArrayList<>();
        while (true) {
            Case n;
            while ((n = fresh.poll()) != null) active.add(n);
            if (active.isEmpty()) {
                if (!more.getAsBoolean()) return;
                Thread.onSpinWait();
                Thread.yield();
                continue;
            }
            long now = System.nanoTime();
            for (Iterator<Case> it = active.iterator(); it.hasNext(); ) {
                Case c = it.next();
                boolean done;
                try {
                    done = c.step(now);
                } catch (RuntimeException | Error e) {
                    error("hostile case " + c + " threw " + e);
                    done = true;
                }
                if (done) {
                    it.remove();
                    finished.accept(c);
                }
            }
        }
    }

    // =====================================================================================
    // Hostile producer: the victim reads (RingReader.poll behind ShmConnection.poll).
    // =====================================================================================

    private static void producer(String trustedEp, String untrustedEp, long seed, int inFlight) throws Exception {
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
                ConnectOptions o = ConnectOptions.trusted()
                        .slotSize(64 * (1 + rnd.nextInt(rnd.nextBoolean() ? 2 : 16)))
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

    static final class ProducerCase implements Case {
        final int index;
        final long seed;
        final Random rnd;
        final Connection c;
        final boolean victimTrusted;
        final Rings r;
        final boolean[] published;   // from this side's view: published and not yet given back
        final int[] free;
        int freeTop;
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
        long since = System.nanoTime();
        final byte[] noise;

        ProducerCase(int index, long seed, Random rnd, Connection c, boolean victimTrusted) {
            this.index = index;
            this.seed = seed;
            this.rnd = rnd;
            this.c = c;
            this.victimTrusted = victimTrusted;
            this.r = Rings.outgoing(c);
            int n = r.slotCount();
            published = new boolean[n];
            free = new int[n];
            for (int i = 0; i < n; i++) free[i] = i;
            freeTop = n;
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
            if (pointerPool(p) != 0 || pointerSlot(p) >= r.slotCount() || pointerLength(p) > r.slotSize()) return EXPECT_BOUNDS;
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
                case 1 -> fatalPointer = (validLength() << 32) | moreBit() | ((1L + rnd.nextInt(127)) << 24) | rnd.nextInt(n);
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
                if (pointerPool(ptr) != 0 || s >= r.slotCount() || !published[s]) {
                    throw new IllegalStateException("the victim released 0x" + Long.toHexString(ptr) + " at " + q);
                }
                published[s] = false;
                free[freeTop++] = s;
            }
            reclaimed = rr;
        }

        /**
         * A free slot, as a real producer needs before it publishes: it also guarantees that the entry
         * about to be overwritten (one lap back) was consumed, so garbage lands exactly where planned.
         */
        private boolean haveFreeSlot() {
            if (freeTop == 0) reclaim();
            return freeTop > 0;
        }

        /** One benign random case: a valid entry with random slot, length and MORE bit, plus garbage where it is harmless. */
        private boolean publishBenign() {
            if (!haveFreeSlot()) return false;
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
                switch (rnd.nextInt(6)) {
                    case 0 -> putWriteRegisterRelease(ring, rnd.nextLong());           // the reader never trusts WRITE
                    case 1 -> INT.setRelease(ring, CONSUMER_PARKED, rnd.nextInt());     // the victim's flag
                    case 2 -> INT.setRelease(ring, PRODUCER_PARKED, rnd.nextInt());
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
            if (fatalWritten) {
                if (c.state() != ConnectionState.OPEN) return finish();
                if (now - since > TimeUnit.SECONDS.toNanos(20)) {
                    error(this + ": the victim did not fail the connection within 20 s of the fatal entry");
                    return finish();
                }
                return false;
            }
            if (fatalAt == CHAOS) {
                if (c.state() != ConnectionState.OPEN) return finish();
                if (now - since > TimeUnit.SECONDS.toNanos(20)) {
                    error(this + ": the victim survived 20 s of chaos");
                    return finish();
                }
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

        private boolean finish() {
            c.close();
            return true;
        }

        @Override
        public String toString() {
            return "producer connection #" + index + " (seed " + seed + ", " + r.slotCount() + " x " + r.slotSize() + " B)";
        }
    }

    // =====================================================================================
    // Hostile consumer: the victim writes (RingWriter.claim/reclaim behind ShmConnection.claim).
    // =====================================================================================

    private static void consumer(long seed) throws Exception {
        String echo = startEcho();
        String name = "hostile-" + ProcessHandle.current().pid() + "-" + (System.nanoTime() & 0xFFFFFF);
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
    static final class ConsumerCase implements Case {
        final int index;
        final long seed;
        final Random rnd;
        final Connection c;
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
        long since = System.nanoTime();

        ConsumerCase(int index, long seed, Random rnd, Connection c) {
            this.index = index;
            this.seed = seed;
            this.rnd = rnd;
            this.c = c;
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
            if (fatalWritten) {
                if (c.state() != ConnectionState.OPEN) return finish();
                if (now - since > TimeUnit.SECONDS.toNanos(20)) {
                    error(this + ": the victim did not fail the connection within 20 s of the fatal release");
                    return finish();
                }
                return false;
            }
            if (fatal == CHAOS) {
                if (c.state() != ConnectionState.OPEN) return finish();
                if (now - since > TimeUnit.SECONDS.toNanos(20)) {
                    error(this + ": the victim survived 20 s of chaos");
                    return finish();
                }
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

        private boolean finish() {
            c.close();
            return true;
        }

        @Override
        public String toString() {
            return "consumer connection #" + index + " (seed " + seed + ", " + n + " x " + r.slotSize() + " B)";
        }
    }

    // =====================================================================================
    // Scripted peers
    // =====================================================================================

    /** A MORE chain that stalls (the victim's receiveMessage must time out), then one that never ends. */
    private static void moreChain(String victimEp) throws Exception {
        Connection c = Fable.connect("xio+shm://" + victimEp, ConnectOptions.trusted().slotSize(64).slotCount(8));
        Buffer b = c.claim(64);
        b.put(0, filled(64, (byte) 'A'), 0, 64);
        b.commitFragment();
        say("STALLED");
        String cmd = nextCommand();
        if (!"CONTINUE".equals(cmd)) throw new IllegalStateException("expected CONTINUE, got " + cmd);
        b = c.claim(64);
        b.put(0, filled(64, (byte) 'B'), 0, 64);
        b.commit();
        long fragments = 0;
        try {
            while (true) {
                b = c.claim(64, Duration.ofSeconds(30));
                if (b == null) break;
                b.put(0, filled(64, (byte) 'C'), 0, 64);
                b.commitFragment();
                fragments++;
            }
            say("CHAIN-ENDED no room for 30 s after " + fragments + " fragments");
        } catch (FableException e) {
            say("CHAIN-ENDED " + c.state() + " after " + fragments + " fragments");
        }
        c.close();
        EXIT.await();
    }

    private static String nextCommand() throws InterruptedException {
        String l = COMMANDS.poll(60, TimeUnit.SECONDS);
        if (l == null) throw new IllegalStateException("no command within 60 s");
        return l;
    }

    static byte[] filled(int n, byte v) {
        byte[] a = new byte[n];
        Arrays.fill(a, v);
        return a;
    }

    /** Receives one message on a trusted and one on an untrusted connection and tries to write through both. */
    private static void readOnly(String trustedEp, String untrustedEp) throws Exception {
        try (Connection shm = Fable.connect("xio+shm://" + trustedEp, ConnectOptions.trusted().slotSize(256).slotCount(4));
             Connection copy = Fable.connect("xio+shm://" + untrustedEp, ConnectOptions.untrusted().slotSize(256).slotCount(4))) {
            for (Connection c : List.of(shm, copy)) {
                Buffer b = c.receive(Duration.ofSeconds(30));
                if (b == null) throw new IllegalStateException("nothing received on " + c);
                byte[] before = new byte[b.capacity()];
                b.get(0, before, 0, before.length);
                for (String outcome : HostilePeerFuzzTest.writeAttempts(b)) say("ATTEMPT " + b.kind() + " " + outcome);
                byte[] after = new byte[b.capacity()];
                b.get(0, after, 0, after.length);
                say("UNCHANGED " + b.kind() + " " + Arrays.equals(before, after) + " first=" + b.getLong(0));
                b.release();
                c.send("ALIVE".getBytes(StandardCharsets.US_ASCII));
            }
            say("DONE");
            EXIT.await();
        }
    }
}
