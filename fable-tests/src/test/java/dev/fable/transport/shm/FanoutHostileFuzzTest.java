package dev.fable.transport.shm;

import dev.fable.Buffer;
import dev.fable.ConnectOptions;
import dev.fable.Connection;
import dev.fable.ConnectionState;
import dev.fable.CorruptChannelException;
import dev.fable.Endpoint;
import dev.fable.Fable;
import dev.fable.FableException;
import dev.fable.Publisher;
import dev.fable.Subscriber;
import dev.fable.buffer.SlotBuffer;
import dev.fable.flow.LiveConnection;
import dev.fable.testing.PeerProcess;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.lang.reflect.Field;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

import static dev.fable.testing.Names.unique;
import static dev.fable.transport.shm.FanoutHostileSubscriber.*;
import static dev.fable.transport.shm.ShmLayout.*;
import static org.junit.jupiter.api.Assertions.*;

/**
 * One producer, many consumers, with a hostile consumer: a subscriber in a second JVM ({@link FanoutHostileSubscriber})
 * subscribes with the real API and then writes what it likes into the words of its ring that a consumer writes: READ
 * (random, behind what the publisher last read, beyond what it published, off the 16-byte grid, in the middle of a
 * record, exactly at a record's start), the parked word, the fenced-signal request and ack words, the CPU/TID hints,
 * and garbage where the publisher never looks. It also never releases, releases out of order through its real reader,
 * writes at random moments racing the publisher, dies by {@code kill -9} mid-stream, and subscribes again after the
 * publisher failed it. The publisher (this JVM: {@code claim}/{@code publish} of the public API) and two honest
 * subscribers (this JVM, trusted and untrusted, each checking every message's sequence, length and bytes) must lose
 * nothing and see no corruption: the publisher never throws out of claim or publish and never waits for the hostile
 * one; an honest subscriber gets exactly the messages published to it, in order, and is never told of a drop (its
 * quota and log are never exceeded: the publisher lets it fall at most half a quota behind); after a fatal value, a
 * kill or a leave every slot the hostile subscriber held comes back.
 *
 * <h2>The oracle</h2>
 * The publisher's side of the hostile subscription (its RingWriter, reached by reflection) is compared with a
 * {@link Model} of a correct one: position, READ as read, the FIFO of (fan-out slot, record position) references,
 * drops counted and not yet told. The hostile process moves READ only when told, in lock step (a <em>sync
 * point</em>): the test publishes until the model says the next offer to the hostile reads READ (its quota is held,
 * or its log has no room, or the offer takes its holds to the publisher's almost-full threshold, after which the
 * publisher rereads READ), or, on the pool-dry path, until it chooses to drain the pool with claims (the publisher
 * then asks every subscriber's leg for its releases); has the hostile process write its input; and then makes that
 * one read happen. A benign value must be accepted and free exactly the slots whose records lie below it: the FIFO
 * left, and, for every slot, {@code holders[slot]} in the publisher's private memory equal to the references the
 * current subscribers' legs hold; the hostile process checks from its side that every record and fan-out slot at or
 * above its READ is untouched. A fatal value must fail exactly that connection with a CorruptChannelException naming
 * the value and the range, the publisher must let that subscriber go and get every reference back, and publish (or
 * claim) must return normally. In polling subscriptions the hostile reads through its real reader (holding up to two
 * buffers and releasing them out of order, or none) and READ is what that reader published: each must be accepted,
 * and the drops that reader was told (DROPPED records) must be exactly those the publisher counted before the
 * messages it read. Chaos subscriptions race (no lock step, sometimes killed meanwhile): only model-free invariants
 * hold there (the FIFO in range and in order, the holders as above). At the end: only the honest subscribers are
 * left, every fan-out slot can be claimed at once, and {@code Publisher.dropped()} is the sum of every subscriber's
 * drops (each lock-step hostile subscription's equal to the model's).
 *
 * <h2>Two publishers, the inputs, the time</h2>
 * {@code quota}: 32 slots, a quota of 8 (the quota runs out; the pool-dry path too); {@code log}: 12,800 slots, a
 * quota of 4,352, a 64 KiB log of 4,095 records (the log runs out; a DROPPED record and its SLOT need 32 bytes). A
 * READ read at a sync point counts one input, benign or fatal; garbage words are counted apart. The run goes on until
 * {@code fable.fuzz.cases} (default 110,000; at least 100,000 must pass) READ inputs, about 0.3% of them fatal (each
 * ends a subscription), with {@code fable.fuzz.kills} (default 3) kills: about 30 s on two busy cores.
 * {@code -Dfable.fuzz.seed=N} replays a seed (printed at the start and with every finding, beside the input; the
 * racing parts aside), {@code -Dfable.fuzz.seconds=N} bounds the time (default 150).
 */
class FanoutHostileFuzzTest {
    static final long SEED = Long.getLong("fable.fuzz.seed", System.nanoTime());
    static final long TARGET_CASES = Long.getLong("fable.fuzz.cases", 110_000);
    static final long REQUIRED_CASES = Math.min(100_000, TARGET_CASES);
    static final long BUDGET_NANOS = TimeUnit.SECONDS.toNanos(Long.getLong("fable.fuzz.seconds", 150));
    static final int KILLS = Integer.getInteger("fable.fuzz.kills", 3);
    static final Duration LIMIT = Duration.ofSeconds(20);
    static final long LIMIT_NANOS = LIMIT.toNanos();

    // =====================================================================================
    // Plumbing: findings, counts, reflection, the hostile process
    // =====================================================================================

    static final class Findings {
        final Queue<String> list = new ConcurrentLinkedQueue<>();
        final AtomicLong count = new AtomicLong();

        void add(String what) {
            count.incrementAndGet();
            String s = what + " [seed " + SEED + "]";
            if (list.size() < 20) list.add(s);
            System.out.println("FINDING " + s);
        }

        void add(String what, Throwable t) {
            java.io.StringWriter w = new java.io.StringWriter();
            t.printStackTrace(new java.io.PrintWriter(w));
            add(what + ": " + w);
        }

        boolean any() {
            return count.get() > 0;
        }

        void assertNone() {
            assertEquals(0, count.get(), () -> count.get() + " finding(s), seed " + SEED + " (rerun with -Dfable.fuzz.seed=" + SEED + "):\n"
                    + String.join("\n", list));
        }
    }

    /** Ends the run after a finding (the finding says what and where). */
    static final class Stop extends RuntimeException {
        Stop() {
            super(null, null, false, false);
        }
    }

    /** What the run covered (publishing thread only). */
    static final class Tally {
        static final String[] BENIGN = {"READ unchanged", "at a SLOT record", "at a DROPPED record", "at the position (all)", "by a real reader"};
        static final String[] FATAL = {"behind the READ read", "beyond the position", "off the grid / mid-record", "random"};
        static final String[] TRIGGERS = {"quota full", "log full", "pool dry", "almost full (after an offer)"};
        long benign, fatal, garbage, chaosWrites, kills, closes, chaosRuns, subscriptions, resubscribed, publishes, drops, toldChecked;
        final long[] benignBy = new long[BENIGN.length];
        final long[] fatalBy = new long[FATAL.length];
        final long[] triggers = new long[TRIGGERS.length];

        long checked() {
            return benign + fatal;
        }

        private static String by(String[] names, long[] n) {
            StringBuilder b = new StringBuilder();
            for (int i = 0; i < n.length; i++) b.append(i == 0 ? "" : ", ").append(names[i]).append(' ').append(n[i]);
            return b.toString();
        }

        @Override
        public String toString() {
            return checked() + " READ inputs checked (" + benign + " benign: " + by(BENIGN, benignBy) + "; " + fatal + " fatal: " + by(FATAL, fatalBy)
                    + "); read on " + by(TRIGGERS, triggers) + "; " + garbage + " garbage words in lock step, " + chaosWrites + " chaos writes in "
                    + chaosRuns + " chaos runs; " + subscriptions + " hostile subscriptions (" + resubscribed + " after a failure), " + kills
                    + " killed, " + closes + " left; " + publishes + " messages published, " + drops + " drops of the hostile counted exactly, "
                    + toldChecked + " told-drop checks";
        }
    }

    private static final Map<String, Field> FIELDS = new ConcurrentHashMap<>();

    /** A private field of {@code o} (test code: the classes are in this module). */
    static Object get(Object o, String name) {
        Field f = FIELDS.computeIfAbsent(o.getClass().getName() + "#" + name, k -> {
            for (Class<?> c = o.getClass(); c != null; c = c.getSuperclass()) {
                try {
                    Field x = c.getDeclaredField(name);
                    x.setAccessible(true);
                    return x;
                } catch (NoSuchFieldException e) {
                    // the superclass's
                }
            }
            throw new AssertionError("no field " + name + " in " + o.getClass());
        });
        try {
            return f.get(o);
        } catch (IllegalAccessException e) {
            throw new AssertionError(e);
        }
    }

    /**
     * From how many held references the publisher rereads a subscriber's READ right after offering it one (its
     * almost-full look, LocalPublisher.watchFill: a fraction of the quota); 0 for a publisher without one.
     */
    static int almostFullAt(Object publisher, int quota) {
        try {
            publisher.getClass().getDeclaredMethod("watchFill", Class.forName("dev.fable.endpoint.LocalPublisher$Member"));
        } catch (ReflectiveOperationException e) {
            return 0;
        }
        double fraction = (double) get(publisher, "almostFullFraction");
        return Math.max(1, (int) Math.ceil(fraction * quota));
    }

    /** The publisher's side of a subscriber's shm leg: its RingWriter. */
    static Object writerOf(Object member) {
        LiveConnection c = (LiveConnection) get(member, "connection");
        return get(c.leg(), "out");
    }

    static FableException failureOf(Object member) {
        return ((LiveConnection) get(member, "connection")).failure();
    }

    /** The hostile JVM and the control connection to it. */
    static final class HostileProcess {
        final Endpoint ctlEndpoint;
        final String ctlName;
        final Findings findings;
        PeerProcess peer;
        Connection ctl;
        BlockingQueue<String> lines;

        HostileProcess(Endpoint ctlEndpoint, String ctlName, Findings findings) {
            this.ctlEndpoint = ctlEndpoint;
            this.ctlName = ctlName;
            this.findings = findings;
        }

        void start() throws InterruptedException {
            peer = PeerProcess.start(FanoutHostileSubscriber.class, ctlName);
            lines = new LinkedBlockingQueue<>();
            PeerProcess p = peer;
            BlockingQueue<String> q = lines;
            Thread t = new Thread(() -> {
                while (true) {
                    String l;
                    try {
                        l = p.expectLine("");
                    } catch (AssertionError e) {
                        if (!p.process().isAlive()) return;
                        continue;
                    } catch (InterruptedException e) {
                        return;
                    }
                    if (l.startsWith("ERROR")) findings.add("hostile subscriber (pid " + p.pid() + "): " + l);
                    q.add(l);
                }
            }, "hostile-lines");
            t.setDaemon(true);
            t.start();
            ctl = ctlEndpoint.accept(Duration.ofSeconds(60));   // its connect waits for this accept; then it says READY
            assertNotNull(ctl, "the hostile subscriber did not connect its control connection; alive=" + p.process().isAlive() + "; stderr:\n" + p.stderr());
            line("READY");
        }

        String line(String prefix) throws InterruptedException {
            while (true) {
                String l = lines.poll(60, TimeUnit.SECONDS);
                if (l == null) fail("no '" + prefix + "' line from the hostile subscriber; alive=" + peer.process().isAlive() + "; stderr:\n" + peer.stderr());
                if (l.startsWith(prefix)) return l;
                if (!l.startsWith("ERROR")) fail("hostile subscriber printed '" + l + "', expected '" + prefix + "...'");
            }
        }

        void send(long... cmd) {
            ctl.send(longs(cmd));
        }

        long[] reply() {
            byte[] m = ctl.receiveMessage(LIMIT);
            if (m == null) throw new AssertionError("no answer from the hostile subscriber within " + LIMIT + "; alive=" + peer.process().isAlive());
            long[] r = longs(m);
            if (r[0] != OK) throw new AssertionError("the hostile subscriber's command failed (see its ERROR line)");
            return r;
        }

        /** The answer if it came, else null (never waits). */
        long[] replyIfAny() {
            byte[] m = ctl.receiveMessage(Duration.ZERO);
            return m == null ? null : longs(m);
        }

        long[] call(long... cmd) {
            send(cmd);
            return reply();
        }

        long[] subscribe(long flags, boolean expectEnded, String publisher) {
            byte[] head = longs(SUBSCRIBE, flags, expectEnded ? 1 : 0, 0);
            byte[] name = publisher.getBytes(StandardCharsets.UTF_8);
            byte[] m = Arrays.copyOf(head, head.length + name.length);
            System.arraycopy(name, 0, m, head.length, name.length);
            ctl.send(m);
            return reply();
        }

        void killAndRestart() throws InterruptedException {
            ctl.close();
            start();
        }

        void exit() throws InterruptedException {
            if (peer == null) return;
            if (peer.process().isAlive()) {
                try {
                    send(EXIT);
                } catch (RuntimeException e) {
                    // its control connection is gone: it is dying
                }
                String done = line("DONE");
                assertEquals("DONE errors=0", done, "the hostile subscriber saw something go wrong");
                assertEquals(0, peer.waitFor(30), "the hostile subscriber's exit status; stderr:\n" + peer.stderr());
            }
            ctl.close();
        }

        void destroy() {
            if (peer != null) peer.close();
            if (ctl != null) ctl.close();
        }
    }

    // =====================================================================================
    // The model of a correct subscription ring writer (RingWriter.offerShared / refreshRead / reclaimShared)
    // =====================================================================================

    /** A correct writer's side of one subscription, played from the same offers and READ values as the real one. */
    static final class Model {
        /** Outcomes: published; dropped; refused READ before publishing; published, then refused READ (the almost-full look). */
        static final int OFFERED = 1, FULL = 0, FATAL = -1, NOT_READ = 2, FATAL_AFTER = -3;
        /** Not in lock step (no model): published or dropped, or the subscriber is gone. */
        static final int UNKNOWN = -2;
        private static final RuntimeException FATAL_READ = new Stop();   // a signal inside the model, never thrown out of it
        final int quota;
        final int logBytes;
        final int watch;       // references held from which the publisher rereads READ after an offer (its almost-full look); 0: never
        long position;         // next record
        long readCache;        // READ as the writer last read it (and accepted)
        long register;         // what the hostile's READ word holds
        long droppedUntold;    // drops not told yet (the next offer that fits is preceded by a DROPPED record)
        long dropped;          // drops counted
        boolean looked;        // the writer read READ since this was last cleared
        long fatalFrom, fatalTo;   // the range a refused READ missed
        final ArrayDeque<long[]> fifo = new ArrayDeque<>();   // {slot, position of its SLOT record}
        // every record, by position / 16 (all records are 16 bytes): kind, and the message (SLOT) or the count (DROPPED)
        byte[] kinds = new byte[1024];
        long[] values = new long[1024];
        // a real reader's view (polling): what it was told below its position
        long readerAt, toldBelow, slotsBelow, lastSeqBelow = -1;

        Model(int quota, int logBytes, int watch) {
            this.quota = quota;
            this.logBytes = logBytes;
            this.watch = watch;
        }

        long room() {
            return readCache + logBytes - RECORD_HEADER - position;
        }

        int need() {
            return droppedUntold > 0 ? 2 * RECORD_ALIGN : RECORD_ALIGN;
        }

        /** True when the next offer reads READ: the quota is held, or the log has no room for it. */
        boolean nextOfferReadsRead() {
            return fifo.size() == quota || room() < need();
        }

        private boolean refresh() {
            looked = true;
            long r = register;
            if (r == readCache) return false;
            if (r < readCache || r > position || (r & (RECORD_ALIGN - 1)) != 0) {
                fatalFrom = readCache;
                fatalTo = position;
                throw FATAL_READ;
            }
            readCache = r;
            while (!fifo.isEmpty() && fifo.peekFirst()[1] < r) fifo.pollFirst();
            return true;
        }

        private boolean hasRoom(int bytes) {
            return room() >= bytes || refresh() && room() >= bytes;
        }

        int offer(int slot, long seq) {
            try {
                int need = need();
                if (fifo.size() == quota) refresh();
                if (fifo.size() == quota || !hasRoom(need)) {
                    droppedUntold++;
                    dropped++;
                    return FULL;
                }
            } catch (RuntimeException e) {
                if (e != FATAL_READ) throw e;
                return FATAL;
            }
            if (droppedUntold > 0) record(KIND_DROPPED, Math.min(droppedUntold, Integer.MAX_VALUE));
            fifo.add(new long[] {slot, position});
            record(KIND_SLOT, seq);
            droppedUntold = 0;
            if (watch > 0 && fifo.size() >= watch) {   // LocalPublisher.watchFill: reclaimShared
                try {
                    refresh();
                } catch (RuntimeException e) {
                    if (e != FATAL_READ) throw e;
                    return FATAL_AFTER;
                }
            }
            return OFFERED;
        }

        /** True when the next offer publishes without reading READ first and then, its holds crossing the threshold, reads it. */
        boolean nextOfferCrossesWatch() {
            return watch > 0 && !nextOfferReadsRead() && fifo.size() + 1 == watch;
        }

        /** LocalPublisher.reclaim: the leg rereads READ if it holds references. */
        int reclaim() {
            if (fifo.isEmpty()) return NOT_READ;
            try {
                refresh();
                return OFFERED;
            } catch (RuntimeException e) {
                if (e != FATAL_READ) throw e;
                return FATAL;
            }
        }

        private void record(int kind, long value) {
            int i = (int) (position / RECORD_ALIGN);
            if (i >= kinds.length) {
                kinds = Arrays.copyOf(kinds, kinds.length * 2);
                values = Arrays.copyOf(values, values.length * 2);
            }
            kinds[i] = (byte) kind;
            values[i] = value;
            position += RECORD_ALIGN;
        }

        int kindAt(long p) {
            return p < position ? kinds[(int) (p / RECORD_ALIGN)] : 0;
        }

        /** A real reader reached {@code at}: what it must have been told and read below it. */
        void reader(long at) {
            for (; readerAt < at && readerAt < position; readerAt += RECORD_ALIGN) {
                int i = (int) (readerAt / RECORD_ALIGN);
                if (kinds[i] == KIND_DROPPED) {
                    toldBelow += values[i];
                } else {
                    slotsBelow++;
                    lastSeqBelow = values[i];
                }
            }
        }

        @Override
        public String toString() {
            return "model: position " + position + ", READ read " + readCache + ", READ word " + register + ", " + fifo.size() + " of " + quota
                    + " references held" + (fifo.isEmpty() ? "" : " (oldest slot " + fifo.peekFirst()[0] + " at " + fifo.peekFirst()[1] + ")")
                    + ", room " + room() + ", " + dropped + " dropped (" + droppedUntold + " untold)";
        }
    }

    // =====================================================================================
    // An honest subscriber (this JVM, its own thread)
    // =====================================================================================

    static final class Honest implements Runnable {
        final Connection c;
        final boolean trusted;
        final int slotSize;
        final Findings findings;
        final String label;
        Subscriber member;
        final ConcurrentLinkedQueue<Long> expected = new ConcurrentLinkedQueue<>();
        volatile long expectedCount;   // publishing thread
        final AtomicLong received = new AtomicLong();
        volatile boolean stop;
        Thread thread;

        Honest(Connection c, boolean trusted, int slotSize, Findings findings, String label) {
            this.c = c;
            this.trusted = trusted;
            this.slotSize = slotSize;
            this.findings = findings;
            this.label = label;
        }

        void start() {
            thread = new Thread(this, label);
            thread.setDaemon(true);
            thread.start();
        }

        @Override
        public void run() {
            try {
                while ((!stop || received.get() < expectedCount) && !(stop && findings.any())) {
                    Buffer b = c.receive(Duration.ofMillis(50));
                    if (b == null) {
                        if (c.state() != ConnectionState.OPEN) {
                            findings.add(label + ": its subscription ended: " + c.state() + " " + c.failure());
                            return;
                        }
                        continue;
                    }
                    long seq = b.getLong(0);
                    Long e = expected.poll();
                    String bad = e == null ? "message " + seq + " was not published to it"
                            : e != seq ? "message " + seq + " where message " + e + " was due (lost or out of order)"
                            : b.kind() != (trusted ? Buffer.Kind.SHM_SLOT : Buffer.Kind.PRIVATE_COPY) ? "a buffer of kind " + b.kind()
                            : !b.isReadOnly() ? "a writable buffer"
                            : checkMessage(b.segment(), 0, b.length(), seq, slotSize);
                    if (bad == null && c.messagesDropped() != 0) bad = "told of " + c.messagesDropped() + " drops";
                    b.release();
                    if (bad != null) {
                        findings.add(label + ": " + bad);
                        return;
                    }
                    received.incrementAndGet();
                }
            } catch (Throwable t) {
                findings.add(label + " threw", t);
            }
        }
    }

    // =====================================================================================
    // The test
    // =====================================================================================

    @Test
    void hostileSubscribersCostThePublisherAndTheOtherSubscribersNothing() throws Exception {
        System.out.println("FanoutHostileFuzzTest seed " + SEED + " (rerun with -Dfable.fuzz.seed=" + SEED + ")");
        Findings findings = new Findings();
        Tally tally = new Tally();
        long start = System.nanoTime();
        String ctlName = unique("fanfuzz-ctl");
        Random rnd = new Random(SEED);
        int killsA = (2 * KILLS + 2) / 3;
        try (Endpoint ctl = Fable.register(ctlName).listen(ConnectOptions.trusted().slotSize(4096).slotCount(8))) {
            HostileProcess hostile = new HostileProcess(ctl, ctlName, findings);
            try {
                hostile.start();
                // the quota runs out (and the pool, when the test drains it)
                new Phase("quota", 128, 32, 8, 600, true, false, TARGET_CASES * 4 / 5, killsA, start, rnd, hostile, findings, tally).run();
                // the log runs out: 4,095 records of 16 bytes, a quota above that, and a pool no subscriber can drain
                new Phase("log", 64, 12_800, 4_352, 800, false, true, TARGET_CASES, KILLS - killsA, start, rnd, hostile, findings, tally).run();
                if (!findings.any()) hostile.exit();
            } catch (Stop e) {
                // a finding says why
            } finally {
                hostile.destroy();
            }
        }
        long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        System.out.println("FanoutHostileFuzzTest: " + tally + "; " + ms + " ms");
        findings.assertNone();
        assertTrue(tally.checked() >= REQUIRED_CASES, () -> "only " + tally + " within the time limit (" + ms + " ms)");
        assertTrue(tally.fatal >= Math.min(200, tally.checked() / 400) && tally.fatal <= 5_000, () -> "fatal inputs: " + tally);
        assertTrue(tally.kills >= KILLS, () -> "killed only " + tally.kills + " of " + KILLS);
        for (long n : tally.fatalBy) assertTrue(n > 0, () -> "a fatal kind never ran: " + tally);
        for (int i = 0; i < 3; i++) assertTrue(tally.triggers[i] > 0, () -> "a path to READ never ran: " + tally);
        for (long n : tally.benignBy) assertTrue(n > 0, () -> "a benign kind never ran: " + tally);
    }

    /** One publisher, its honest subscribers, and hostile subscriptions one after another until its share of inputs is done. */
    static final class Phase {
        static final int T_OFFER = 0, T_DRY = 1, T_WATCH = 2;
        static final int ALL = 0, ONE = 1, SET = 2, CLASSIFIER = 3, HONEST = 4;

        final String label;
        final int slotSize, slotCount, quota, maxBenign;
        final boolean poolDry, smallMoves;
        final long target;
        final long start;
        final Random rnd;
        final HostileProcess hostile;
        final Findings findings;
        final Tally tally;
        final int window;
        int watch;   // the publisher's almost-full look: references from which it rereads READ after an offer (0: it has none)
        int killsLeft;

        Publisher pub;
        int[] holders;
        final List<Honest> honest = new ArrayList<>();
        long seq;
        long pubNanos, subNanos, pokeNanos, pokes;   // for the summary line
        final long began = System.nanoTime();
        long waits;   // times the publisher let an honest subscriber catch up
        final Set<Subscriber> known = Collections.newSetFromMap(new IdentityHashMap<>());
        final List<Subscriber> hostiles = new ArrayList<>();
        final Map<Subscriber, Long> modelDrops = new IdentityHashMap<>();

        // the current hostile subscription
        int subNo;
        String mode = "-";
        int syncNo;
        String input = "(none yet)";
        Subscriber hm;
        Object hWriter;
        Model model;           // null while the hostile's moves are not in lock step (chaos, leaving, dying)
        boolean expectEnded;   // the publisher failed its last subscription: the hostile checks it ended
        final byte[] message;

        Phase(String label, int slotSize, int slotCount, int quota, int maxBenign, boolean poolDry, boolean smallMoves, long target, int kills,
              long start, Random rnd, HostileProcess hostile, Findings findings, Tally tally) {
            this.label = label;
            this.slotSize = slotSize;
            this.slotCount = slotCount;
            this.quota = quota;
            this.maxBenign = maxBenign;
            this.poolDry = poolDry;
            this.smallMoves = smallMoves;
            this.target = target;
            this.killsLeft = kills;
            this.start = start;
            this.rnd = rnd;
            this.hostile = hostile;
            this.findings = findings;
            this.tally = tally;
            this.window = Math.max(1, Math.min(quota / 2, 16));
            this.message = new byte[slotSize];
        }

        String where() {
            return "publisher '" + label + "' (" + slotCount + " slots of " + slotSize + " B, quota " + quota + "), hostile subscription #" + subNo
                    + " (" + mode + "), sync point " + syncNo + ", input: " + input + "; " + (model == null ? "no model" : model);
        }

        Stop finding(String what) {
            findings.add(what + " -- " + where());
            return new Stop();
        }

        boolean overBudget() {
            return System.nanoTime() - start > BUDGET_NANOS;
        }

        void run() throws InterruptedException {
            String name = unique("fanfuzz-" + label);
            ConnectOptions o = ConnectOptions.trusted().slotSize(slotSize).slotCount(slotCount).readQuota(quota).logBytes(MIN_LOG_BYTES);
            try (Publisher p = Fable.register(name).publish(o)) {
                pub = p;
                FanoutPool pool = (FanoutPool) get(p, "pool");
                assertEquals(quota, pool.quota());
                holders = (int[]) get(pool, "holders");
                watch = almostFullAt(p, quota);
                for (boolean trusted : new boolean[] {true, false}) {
                    ConnectOptions so = (trusted ? ConnectOptions.trusted() : ConnectOptions.untrusted()).slotSize(64).slotCount(2).logBytes(MIN_LOG_BYTES);
                    Honest h = new Honest(Fable.subscribe("xio+shm://" + name, so), trusted, slotSize, findings,
                            "honest " + (trusted ? "trusted" : "untrusted") + " subscriber of '" + label + "'");
                    assertTrue(pub.awaitSubscribers(honest.size() + 1, LIMIT));
                    h.member = pub.subscribers().get(honest.size());
                    known.add(h.member);
                    honest.add(h);
                    h.start();
                }
                int[] killAt = new int[killsLeft];
                for (int i = 0; i < killAt.length; i++) killAt[i] = 4 + 8 * i;
                try {
                    while (tally.checked() < target && !overBudget() && !findings.any()) {
                        boolean kill = false;
                        for (int k : killAt) kill |= k == subNo + 1;
                        subscription(name, kill);
                    }
                    if (hm != null && hm.active()) closeEnding();
                    if (!findings.any()) finish();
                } catch (Stop e) {
                    throw e;
                } catch (Throwable t) {
                    findings.add("the run broke -- " + where(), t);
                    throw new Stop();
                } finally {
                    for (Honest h : honest) h.stop = true;
                    for (Honest h : honest) {
                        h.thread.join(30_000);
                        h.c.close();
                    }
                }
            }
        }

        // ---- one hostile subscription ----

        void subscription(String name, boolean kill) throws InterruptedException {
            subNo++;
            syncNo = 0;
            input = "subscribe";
            int r = rnd.nextInt(100);
            mode = kill ? (tally.kills % 2 == 0 ? "lock step, killed" : "chaos, killed") : r < 68 ? "lock step" : r < 88 ? "polling" : "chaos";
            long flags = (rnd.nextInt(4) == 0 ? F_UNTRUSTED : 0) | (rnd.nextInt(6) == 0 ? F_SPIN : rnd.nextInt(3) == 0 ? F_BLOCK : 0);
            long t0 = System.nanoTime();
            long[] reply = hostile.subscribe(flags, expectEnded, name);
            if (expectEnded && reply[1] == ConnectionState.OPEN.ordinal()) throw finding("the hostile's failed subscription is still OPEN on its side");
            tally.subscriptions++;
            if (expectEnded) tally.resubscribed++;
            expectEnded = false;
            hm = awaitNewMember();
            subNanos += System.nanoTime() - t0;
            hostiles.add(hm);
            hWriter = writerOf(hm);
            model = new Model(quota, MIN_LOG_BYTES, watch);
            int benign = 1 + rnd.nextInt(maxBenign);
            if (mode.startsWith("chaos")) {
                for (int i = 0; i < benign / 8 && !findings.any(); i++) sync(false);
                chaos(kill);
                return;
            }
            boolean polling = mode.equals("polling");
            for (int i = 0; i < benign && !findings.any() && tally.checked() < target; i++) sync(polling);
            if (kill) {
                killMidStream();
                return;
            }
            r = rnd.nextInt(100);
            if (r < 6) {
                closeEnding();
                return;
            }
            if (r < 14) neverRelease();
            fatalEnding();
        }

        Subscriber awaitNewMember() throws InterruptedException {
            long until = System.nanoTime() + LIMIT_NANOS;
            while (System.nanoTime() < until) {
                for (Subscriber s : pub.subscribers()) {
                    if (known.add(s)) return s;
                }
                Thread.sleep(1);
            }
            throw finding("the hostile subscribed, but no new subscriber joined the publisher within " + LIMIT);
        }

        // ---- sync points ----

        /** Publishes until the hostile's READ is to be read: the next offer to it reads READ, or (pool-dry path) a drain now. */
        int fill() {
            boolean dry = poolDry && rnd.nextInt(4) == 0;
            int extra = rnd.nextInt(12) == 0 ? 1 + rnd.nextInt(20) : 0;   // a moment of never releasing: offers beyond the quota drop
            for (int guard = 0; ; guard++) {
                if (guard > 200_000) throw finding("no sync point after " + guard + " messages");
                if (dry && !model.fifo.isEmpty() && rnd.nextInt(3) == 0) return T_DRY;
                if (model.nextOfferCrossesWatch() && rnd.nextInt(3) == 0) return T_WATCH;
                if (model.nextOfferReadsRead()) {
                    if (extra-- <= 0) return T_OFFER;
                    publish(toHostile(), true);
                    continue;
                }
                publish(smallMoves ? (rnd.nextInt(10) < 8 ? ONE : anyTarget()) : anyTarget());
            }
        }

        void trigger(int t) {
            input += "; read " + (t == T_DRY ? "when claims drained the pool" : t == T_WATCH ? "after an offer took its holds to the almost-full mark"
                    : model.fifo.size() == quota ? "by an offer beyond its quota" : "by an offer its log had no room for");
            if (t == T_OFFER || t == T_WATCH) {
                tally.triggers[t == T_WATCH ? 3 : model.fifo.size() == quota ? 0 : 1]++;
                publish(toHostile(), true);
            } else {
                tally.triggers[2]++;
                claimDry();
            }
        }

        /** One READ input in lock step: chosen here (benign) or published by the hostile's real reader (polling). */
        void sync(boolean polling) {
            syncNo++;
            int t = fill();
            long v;
            int cls;
            if (polling) {
                long flags = rnd.nextInt(6) == 0 ? P_STUCK : rnd.nextInt(4) == 0 ? P_NO_HOLD : 0;
                int k = rnd.nextInt(Math.min(quota, 16) + 3);
                input = "the hostile polls " + k + " (flags " + flags + ")";
                long[] r = hostile.call(POLL, k, flags);
                v = r[1];
                input += ": READ " + v;
                model.register = v;
                model.reader(r[4]);
                if (model.readerAt != r[4] || model.slotsBelow != r[2] || model.toldBelow != r[3] || (r[2] > 0 && model.lastSeqBelow != r[5])) {
                    throw finding("the hostile's reader, at " + r[4] + ", polled " + r[2] + " messages (the last " + r[5] + ") and was told of " + r[3]
                            + " drops; below that position the publisher wrote " + model.slotsBelow + " (the last " + model.lastSeqBelow + ") and "
                            + model.toldBelow + " drops");
                }
                tally.toldChecked++;
                if (rnd.nextInt(4) == 0) poke(garbage(1 + rnd.nextInt(3)), false);   // words beside READ, READ left as its reader wrote it
                cls = 4;
            } else {
                v = benignValue();
                int kind = model.kindAt(v);
                cls = v == model.readCache ? 0 : v == model.position ? 3 : kind == KIND_DROPPED ? 2 : 1;
                input = "benign READ " + v + " (" + Tally.BENIGN[cls] + "), READ read " + model.readCache + ", position " + model.position;
                List<long[]> writes = garbage(rnd.nextInt(3));
                writes.add(rnd.nextInt(writes.size() + 1), new long[] {RING_IN, READ, 8, v});
                poke(writes, true);
                model.register = v;
            }
            model.looked = false;
            trigger(t);
            if (model == null) throw finding("the model refused a READ chosen as benign (test bug)");
            if (!model.looked) throw finding("the sync point did not make the publisher read READ (test bug)");
            verifyWriter(syncNo % (smallMoves ? 32 : 1) == 0);
            tally.benign++;
            tally.benignBy[cls]++;
        }

        long benignValue() {
            long rc = model.readCache;
            long records = (model.position - rc) / RECORD_ALIGN;
            int r = rnd.nextInt(100);
            if (smallMoves) {   // a full log refills by as many messages as READ freed: mostly a few
                if (r < 90) return rc + RECORD_ALIGN * Math.min(records, 1 + rnd.nextInt(3));
                if (r < 97) return rc + RECORD_ALIGN * rnd.nextLong(Math.min(records, 64) + 1);
                if (r < 99) return rc;
                return rnd.nextInt(8) == 0 ? model.position : rc + RECORD_ALIGN * rnd.nextLong(records + 1);
            }
            if (r < 88) return rc + RECORD_ALIGN * rnd.nextLong(records + 1);
            if (r < 94) return model.position;
            return rc;
        }

        /** Garbage words for a POKE: where a publisher never looks, or only takes a hint. */
        List<long[]> garbage(int n) {
            List<long[]> w = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                long[] g = switch (rnd.nextInt(11)) {
                    case 0 -> new long[] {RING_IN, CONSUMER_PARKED, 4, rnd.nextBoolean() ? rnd.nextInt(3) : rnd.nextInt()};
                    case 1 -> new long[] {RING_IN, CONSUMER_PARKED + dev.fable.sync.Tripwire.REQUEST, 4, rnd.nextBoolean() ? rnd.nextInt(3) : rnd.nextInt()};
                    case 2 -> new long[] {RING_IN, PRODUCER_PARKED, 4, rnd.nextInt()};
                    case 3 -> new long[] {RING_IN, PRODUCER_PARKED + dev.fable.sync.Tripwire.ACK, 4, rnd.nextBoolean() ? rnd.nextInt(3) : rnd.nextInt()};
                    case 4 -> new long[] {RING_IN, CONSUMER_CPU, 8, rnd.nextLong()};
                    case 5 -> new long[] {RING_IN, CONSUMER_TID, 4, rnd.nextInt()};
                    case 6 -> new long[] {RING_IN, WRITE, 8, rnd.nextLong()};
                    case 7 -> new long[] {RING_IN, new long[] {HDR_MAGIC, HDR_VERSION, HDR_LOG_BYTES, HDR_SLOT_SIZE, HDR_SLOT_COUNT}[rnd.nextInt(5)], 4, rnd.nextInt()};
                    case 8 -> {   // the free log: past the record after the position, below READ's next lap
                        long from = model.position + RECORD_ALIGN;
                        long free = model.readCache + MIN_LOG_BYTES - RECORD_HEADER - from;
                        yield free <= 0 ? new long[] {RING_IN, PRODUCER_TID, 4, rnd.nextInt()}
                                : new long[] {RING_IN, LOG + ((from + (rnd.nextLong(free) & -8L)) & (MIN_LOG_BYTES - 1)), 8, rnd.nextLong()};
                    }
                    case 9 -> new long[] {RING_OUT, PRODUCER_STATE, 4, rnd.nextInt(3)};   // read by the publisher when our socket closes
                    default -> new long[] {RING_OUT, LOG + 8L * rnd.nextInt(64), 8, rnd.nextLong()};   // our own direction: never polled
                };
                w.add(g);
            }
            return w;
        }

        /** The hostile writes {@code writes} ({file, offset, width, value}) in order; returns once it says (in its ring) it has. */
        void poke(List<long[]> writes, boolean readIncluded) {
            long number = ++pokes;
            long[] cmd = new long[3 + 4 * writes.size()];
            cmd[0] = POKE;
            cmd[1] = writes.size();
            cmd[2] = number;
            for (int i = 0; i < writes.size(); i++) System.arraycopy(writes.get(i), 0, cmd, 3 + 4 * i, 4);
            long t0 = System.nanoTime();
            hostile.send(cmd);
            MemorySegment ring = (MemorySegment) get(hWriter, "ring");   // this side's mapping of the hostile's ring
            for (int i = 0; (long) HostileAccess.LONG.getAcquire(ring, DONE) != number; i++) {   // acquire: its writes before
                if (i < 64) {
                    Thread.onSpinWait();
                } else {
                    Thread.yield();
                    if ((i & 255) == 0 && (findings.any() || System.nanoTime() - t0 > LIMIT_NANOS)) {
                        throw finding("the hostile did not do its POKE within " + LIMIT + " (alive: " + hostile.peer.process().isAlive() + ")");
                    }
                }
            }
            pokeNanos += System.nanoTime() - t0;
            tally.garbage += writes.size() - (readIncluded ? 1 : 0);
            if (readIncluded) {
                long v = 0;
                for (long[] w : writes) if (w[0] == RING_IN && w[1] == READ) v = w[3];
                if (readRegisterAcquire(ring) != v) throw finding("the hostile's READ word holds " + readRegisterAcquire(ring) + " after it wrote " + v);
            }
        }

        // ---- publishing ----

        int anyTarget() {
            int r = rnd.nextInt(100);
            return r < 60 ? ONE : r < 75 ? ALL : r < 85 ? SET : r < 95 ? CLASSIFIER : HONEST;
        }

        int toHostile() {
            int r = rnd.nextInt(10);
            return r < 5 ? ONE : r < 8 ? ALL : r < 9 ? SET : CLASSIFIER;
        }

        /**
         * Publishes one message to {@code target}; the hostile's outcome is checked against the model (in lock step),
         * every honest recipient's against "delivered, never dropped".
         */
        void publish(int target) {
            publish(target, false);
        }

        /** As {@link #publish(int)}; {@code hostileToo}: a SET or CLASSIFIER target includes the hostile (while it is a member). */
        void publish(int target, boolean hostileToo) {
            long t0 = System.nanoTime();
            try {
                publish0(target, hostileToo);
            } finally {
                pubNanos += System.nanoTime() - t0;
            }
        }

        void publish0(int target, boolean hostileToo) {
            boolean hostileIn = hm != null && hm.active();
            List<Honest> to = new ArrayList<>();
            boolean toHostile;
            switch (target) {
                case ALL -> {
                    to.addAll(honest);
                    toHostile = hostileIn;
                }
                case ONE -> toHostile = hostileIn;
                case HONEST -> {
                    to.add(honest.get(rnd.nextInt(honest.size())));
                    toHostile = false;
                }
                default -> {
                    for (Honest h : honest) if (rnd.nextBoolean()) to.add(h);
                    toHostile = hostileIn && (hostileToo || rnd.nextInt(4) != 0 || to.isEmpty());
                }
            }
            if (target == ONE && !hostileIn) target = HONEST;
            if (target == HONEST && to.isEmpty()) to.add(honest.get(0));
            if (target == SET && !toHostile && to.isEmpty()) to.add(honest.get(0));
            for (Honest h : to) awaitRoom(h);
            long s = seq++;
            int length = lengthOf(s, slotSize);
            Buffer b = pub.claim(length, LIMIT);
            if (b == null) throw finding("the publisher found no free fan-out slot for " + LIMIT);
            int slot = ((SlotBuffer) b).slot();
            java.nio.ByteBuffer.wrap(message).order(java.nio.ByteOrder.nativeOrder()).putLong(0, s);
            for (int i = 8; i < length; i++) message[i] = pattern(s, i);
            b.put(0, message, 0, length);
            b.length(length);
            for (Honest h : to) {
                h.expected.add(s);
                h.expectedCount++;
            }
            long v = model == null ? 0 : model.register;
            int expect = !toHostile ? Model.NOT_READ : model == null ? Model.UNKNOWN : model.offer(slot, s);
            int queued;
            try {
                queued = switch (target) {
                    case ALL -> pub.publish(b);
                    case ONE -> pub.publish(b, hm);
                    case HONEST -> pub.publish(b, to.get(0).member);
                    case SET -> {
                        List<Subscriber> set = new ArrayList<>();
                        for (Honest h : to) set.add(h.member);
                        if (toHostile) set.add(rnd.nextInt(set.size() + 1), hm);
                        yield pub.publish(b, set);
                    }
                    default -> {
                        Set<Subscriber> want = Collections.newSetFromMap(new IdentityHashMap<>());
                        for (Honest h : to) want.add(h.member);
                        if (toHostile) want.add(hm);
                        yield pub.publish(b, (sub, m) -> want.contains(sub) && m.getLong(0) == s);
                    }
                };
            } catch (IllegalArgumentException e) {
                // Named the hostile, which left meanwhile (killed, or it closed: the publisher lets it go at once, from
                // another thread); the buffer stays claimed, as documented. Only outside lock step may that happen.
                if (model != null || hm.active() || (target != ONE && target != SET)) {
                    findings.add("publish threw -- " + where(), e);
                    throw new Stop();
                }
                queued = to.isEmpty() ? pub.publish(b, (sub, m) -> false) : pub.publish(b, to.stream().map(h -> h.member).toList());
            } catch (Throwable e) {
                findings.add("publish threw -- " + where(), e);
                throw new Stop();
            }
            tally.publishes++;
            int hostileQueued = expect == Model.OFFERED ? 1 : 0;
            boolean either = expect == Model.UNKNOWN || expect == Model.FATAL_AFTER;   // published to it, and then it failed: counted or not
            if (either ? queued != to.size() && queued != to.size() + 1 : queued != to.size() + hostileQueued) {
                throw finding("publish queued message " + s + " for " + queued + " subscribers, expected " + to.size() + " honest and "
                        + (either ? "maybe " : "") + hostileQueued + " hostile (the model's offer: " + expect + ")");
            }
            for (Honest h : to) {
                if (h.member.delivered() != h.expectedCount || h.member.dropped() != 0) {
                    throw finding(h.label + ": delivered " + h.member.delivered() + " of " + h.expectedCount + ", dropped " + h.member.dropped());
                }
            }
            if (expect == Model.FATAL || expect == Model.FATAL_AFTER) {
                verifyFailed(v);
            } else if (toHostile && model != null) {
                if (expect == Model.FULL) tally.drops++;
                verifyWriter(false);
            } else if (toHostile) {
                sanity();
            }
        }

        /** Lets honest subscriber {@code h} be at most {@link #window} messages behind: its quota and log are never exceeded. */
        void awaitRoom(Honest h) {
            if (h.expectedCount - h.received.get() < window) return;
            long t0 = System.nanoTime();
            waits++;
            for (int i = 0; h.expectedCount - h.received.get() >= window; i++) {
                if (findings.any()) throw new Stop();
                if (i < 100) {
                    Thread.onSpinWait();
                } else if (i < 200) {
                    Thread.yield();
                } else {
                    LockSupport.parkNanos(20_000);
                    if (System.nanoTime() - t0 > LIMIT_NANOS) throw finding(h.label + " read nothing for " + LIMIT + " (received " + h.received.get() + " of " + h.expectedCount + ")");
                }
            }
        }

        /** Claims until the pool is dry (the publisher then asks every subscriber's leg for its releases), then frees them. */
        void claimDry() {
            long v = model.register;
            List<Buffer> got = new ArrayList<>();
            try {
                for (Buffer b; got.size() <= slotCount && (b = pub.claim(8)) != null; ) got.add(b);
            } catch (Throwable e) {
                findings.add("claim threw -- " + where(), e);
                throw new Stop();
            }
            if (got.size() > slotCount) throw finding("claimed " + got.size() + " buffers from a pool of " + slotCount);
            int outcome = model.reclaim();
            for (Buffer b : got) {
                if (pub.publish(b, (s, m) -> false) != 0) throw finding("a message published to nobody was queued");
            }
            if (outcome == Model.FATAL) verifyFailed(v); else verifyWriter(false);
        }

        // ---- checks ----

        /** The publisher's side of the hostile subscription equals the model; holders are right. */
        void verifyWriter(boolean full) {
            long pos = (long) get(hWriter, "position");
            long rc = (long) get(hWriter, "readCache");
            int count = (int) get(hWriter, "sharedCount");
            if (pos != model.position || rc != model.readCache || count != model.fifo.size()) {
                throw finding("the publisher's side of the hostile subscription: position " + pos + ", READ read " + rc + ", " + count
                        + " references held; a correct one: " + model);
            }
            if ((long) get(hm, "droppedUntold") != model.droppedUntold || hm.dropped() != model.dropped) {
                throw finding("drops of the hostile: " + hm.dropped() + " counted, " + get(hm, "droppedUntold") + " untold; a correct publisher: " + model);
            }
            if (!hm.active()) throw finding("the publisher dropped a hostile subscriber that broke no rule");
            boolean all = full || !smallMoves;
            if (all || count <= 64) {
                int[] shared = (int[]) get(hWriter, "shared");
                long[] sharedAt = (long[]) get(hWriter, "sharedAt");
                int at = (int) get(hWriter, "sharedHead");
                for (long[] e : model.fifo) {
                    if (shared[at] != e[0] || sharedAt[at] != e[1]) {
                        throw finding("the publisher's FIFO of references holds slot " + shared[at] + " at " + sharedAt[at] + " where a correct one has slot "
                                + e[0] + " at " + e[1]);
                    }
                    if (++at == shared.length) at = 0;
                }
            }
            if (all) checkHolders();
        }

        /** After a fatal READ: that subscriber failed, naming the value, is gone, and gave everything back; publish returned normally. */
        void verifyFailed(long v) {
            FableException f = failureOf(hm);
            String want = "moved its READ register to " + v + ", outside [" + model.fatalFrom + ", " + model.fatalTo + "]";
            if (!(f instanceof CorruptChannelException) || !f.getMessage().contains(want)) {
                throw finding("the fatal READ " + v + " failed the subscription with " + f + ", expected a CorruptChannelException saying '" + want + "'");
            }
            if (hm.active() || pub.subscribers().contains(hm)) throw finding("the publisher kept a subscriber whose READ was fatal");
            if (hm.dropped() != model.dropped) throw finding("drops of the failed subscription: " + hm.dropped() + ", a correct publisher " + model.dropped);
            modelDrops.put(hm, model.dropped);
            model = null;
            awaitGone("broke the protocol");   // closed already, or at the next claim: every reference back
            expectEnded = true;
        }

        /** Model-free: the hostile's FIFO is in range and in order (chaos, dying, leaving). */
        void sanity() {
            if (hWriter == null) return;
            long pos = (long) get(hWriter, "position");
            long rc = (long) get(hWriter, "readCache");
            int count = (int) get(hWriter, "sharedCount");
            if (rc < 0 || rc > pos || (rc & (RECORD_ALIGN - 1)) != 0 || count < 0 || count > quota) {
                throw finding("the publisher's side of the hostile subscription: position " + pos + ", READ read " + rc + ", " + count + " references");
            }
            long[] sharedAt = (long[]) get(hWriter, "sharedAt");
            int at = (int) get(hWriter, "sharedHead");
            long last = rc - RECORD_ALIGN;
            for (int i = 0; i < count; i++) {
                long p = sharedAt[at];
                if (p <= last || p >= pos) throw finding("reference " + i + " of " + count + " at " + p + ", outside (" + last + ", " + pos + ")");
                last = p;
                if (++at == sharedAt.length) at = 0;
            }
        }

        /** True while {@code s} is among the publisher's members (its publishing thread closes one that ended at its next claim). */
        boolean isMember(Subscriber s) {
            for (Object m : (Object[]) get(pub, "members")) if (m == s) return true;
            return false;
        }

        /** Every fan-out slot's holders equal the references the current subscribers' legs hold (no claim is out now). */
        void checkHolders() {
            int[] expect = new int[slotCount];
            for (Object m : (Object[]) get(pub, "members")) {
                Object w = writerOf(m);
                int[] shared = (int[]) get(w, "shared");
                int at = (int) get(w, "sharedHead");
                int count = (int) get(w, "sharedCount");
                for (int i = 0; i < count; i++) {
                    expect[shared[at]]++;
                    if (++at == shared.length) at = 0;
                }
            }
            for (int s = 0; s < slotCount; s++) {
                if (holders[s] != expect[s]) {
                    throw finding("fan-out slot " + s + " has " + holders[s] + " holders, but the subscribers' legs hold " + expect[s] + " references to it");
                }
            }
        }

        // ---- endings ----

        void fatalEnding() {
            syncNo++;
            int t = fill();
            long rc = model.readCache;
            long p = model.position + (t == T_WATCH ? model.need() : 0);   // where the writer is when it reads READ
            int kind = rnd.nextInt(4);
            long v = switch (kind) {
                case 0 -> switch (rnd.nextInt(4)) {
                    case 0 -> rc >= RECORD_ALIGN ? rc - RECORD_ALIGN * (1 + rnd.nextLong(Math.min(rc / RECORD_ALIGN, 1000))) : -RECORD_ALIGN;
                    case 1 -> -RECORD_ALIGN * (1 + rnd.nextInt(1000));
                    case 2 -> Long.MIN_VALUE;
                    default -> rc - 1;
                };
                case 1 -> switch (rnd.nextInt(5)) {
                    case 0 -> p + RECORD_ALIGN;
                    case 1 -> p + MIN_LOG_BYTES;
                    case 2 -> p + (1L << 32);
                    case 3 -> Long.MAX_VALUE & -RECORD_ALIGN;
                    default -> p + RECORD_ALIGN + (rnd.nextLong(Long.MAX_VALUE - p - RECORD_ALIGN) & -RECORD_ALIGN);
                };
                case 2 -> p == rc || rnd.nextBoolean() ? rc + RECORD_HEADER + RECORD_ALIGN * rnd.nextLong(Math.max(1, (p - rc) / RECORD_ALIGN))   // mid-record: its pointer word
                        : rc + 1 + rnd.nextLong(p - rc - 1) | 1;
                default -> {
                    long x;
                    do {
                        x = rnd.nextLong();
                    } while (x >= rc && x <= p && (x & (RECORD_ALIGN - 1)) == 0);
                    yield x;
                }
            };
            input = "fatal READ " + v + " (" + Tally.FATAL[kind] + "), READ read " + rc + ", position " + p;
            List<long[]> writes = garbage(rnd.nextInt(2));
            writes.add(new long[] {RING_IN, READ, 8, v});
            poke(writes, true);
            model.register = v;
            trigger(t);
            if (model != null) throw finding("the model accepted a READ chosen as fatal (test bug)");
            tally.fatal++;
            tally.fatalBy[kind]++;
        }

        /** The hostile's READ stays while the publisher goes on: every offer beyond its quota or log drops, counted; nobody else waits. */
        void neverRelease() {
            input = "never releasing";
            long before = model.dropped;
            for (int i = 200 + rnd.nextInt(1500); i > 0 || model.dropped - before < 100; i--) {
                if (i < -10_000) throw finding("a subscriber that never released lost nothing (test bug)");
                publish(rnd.nextInt(3) == 0 ? ALL : ONE);
            }
        }

        /** The hostile closes its subscription: the publisher lets it go (closing its leg at its next claim) and gets every reference back. */
        void closeEnding() {
            input = "the hostile leaves";
            hostile.call(CLOSE);
            tally.closes++;
            modelDrops.put(hm, -1L);   // it may drop more before the publisher sees it gone
            model = null;
            awaitGone("left");
        }

        /** Publishes (to every subscriber, the hostile too) until the publisher let the hostile go; then checks it gave everything back. */
        void awaitGone(String how) {
            long t0 = System.nanoTime();
            // it leaves the view as soon as its connection ends (any thread); the publishing thread closes it, which gives its
            // slots back, at its next claim
            for (int n = 0; hm.active() || isMember(hm); n++) {
                if (System.nanoTime() - t0 > LIMIT_NANOS) throw finding("the publisher kept a subscriber that " + how + " for " + LIMIT);
                publish(rnd.nextBoolean() ? ALL : ONE);
                if (n % 16 == 0) checkHolders();
            }
            if (pub.subscribers().contains(hm)) throw finding("a subscriber that " + how + " is still listed");
            if ((int) get(hWriter, "sharedCount") != 0) throw finding("a subscriber that " + how + " kept " + get(hWriter, "sharedCount") + " references");
            checkHolders();
        }

        /** kill -9 of the hostile JVM while the publisher publishes to it; then a new one. */
        void killMidStream() throws InterruptedException {
            input = "kill -9 while holding " + model.fifo.size() + " references";
            modelDrops.put(hm, -1L);
            model = null;
            PeerProcess victim = hostile.peer;
            long delay = rnd.nextInt(30);
            Thread killer = Thread.ofPlatform().daemon().start(() -> {
                try {
                    Thread.sleep(delay);
                    victim.kill9();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            });
            awaitGone("was killed");
            killer.join(30_000);
            afterKill();
        }

        void afterKill() throws InterruptedException {
            tally.kills++;
            killsLeft--;
            expectEnded = false;
            hostile.killAndRestart();
        }

        /** No lock step: the hostile writes at random moments while the publisher publishes; maybe it is killed meanwhile. */
        void chaos(boolean kill) throws InterruptedException {
            tally.chaosRuns++;
            modelDrops.put(hm, -1L);
            model = null;
            long ms = 20 + rnd.nextInt(100);
            input = "chaos for " + ms + " ms" + (kill ? ", killed" : "");
            hostile.send(CHAOS, ms, rnd.nextLong());
            PeerProcess victim = hostile.peer;
            Thread killer = null;
            if (kill) {
                long delay = rnd.nextLong(ms);
                killer = Thread.ofPlatform().daemon().start(() -> {
                    try {
                        Thread.sleep(delay);
                        victim.kill9();
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                });
            }
            long t0 = System.nanoTime();
            long until = t0 + TimeUnit.MILLISECONDS.toNanos(ms);
            long[] reply = null;
            for (int n = 0; ; n++) {
                publish(rnd.nextInt(3) == 0 ? anyTarget() : toHostile());
                if (n % 16 == 0) checkHolders();
                if (!kill && reply == null) reply = hostile.replyIfAny();
                if (System.nanoTime() > until && (kill || reply != null)) break;
                if (System.nanoTime() - t0 > LIMIT_NANOS + TimeUnit.MILLISECONDS.toNanos(ms)) throw finding("the hostile never finished its chaos");
            }
            if (kill) {
                awaitGone("was killed");
                killer.join(30_000);
                afterKill();
                return;
            }
            if (reply[0] != OK) throw finding("the hostile's chaos failed (see its ERROR line)");
            tally.chaosWrites += reply[1];
            if (hm.active()) {
                closeEnding();
            } else {   // a READ of the chaos was fatal
                awaitGone("broke the protocol");
                expectEnded = true;
            }
        }

        // ---- the end ----

        void finish() throws InterruptedException {
            long until = System.nanoTime() + LIMIT_NANOS;
            for (Honest h : honest) {
                while (h.received.get() < h.expectedCount && System.nanoTime() < until && !findings.any()) Thread.sleep(1);
                if (h.received.get() != h.expectedCount) throw finding(h.label + " received " + h.received.get() + " of " + h.expectedCount);
            }
            List<Subscriber> left = pub.subscribers();
            List<Subscriber> want = honest.stream().map(h -> h.member).toList();
            if (left.size() != want.size() || !left.containsAll(want)) throw finding("subscribers at the end: " + left + ", expected only the honest ones " + want);
            checkHolders();
            // every slot claimable at once (the honest subscribers' legs give back what they read when the pool runs dry)
            List<Buffer> all = new ArrayList<>();
            for (int i = 0; i < slotCount; i++) {
                Buffer b = pub.claim(8);
                if (b == null) throw finding("only " + i + " of " + slotCount + " fan-out slots could be claimed at once at the end");
                all.add(b);
            }
            for (Buffer b : all) pub.publish(b, (s, m) -> false);
            long sum = 0;
            for (Honest h : honest) {
                if (h.member.dropped() != 0 || h.c.messagesDropped() != 0 || h.member.delivered() != h.expectedCount) {
                    throw finding(h.label + ": dropped " + h.member.dropped() + ", told " + h.c.messagesDropped() + ", delivered " + h.member.delivered()
                            + " of " + h.expectedCount);
                }
            }
            for (Subscriber s : hostiles) {
                sum += s.dropped();
                Long m = modelDrops.get(s);
                if (m != null && m >= 0 && m != s.dropped()) throw finding("a hostile subscription dropped " + s.dropped() + ", a correct publisher " + m);
            }
            if (pub.dropped() != sum) throw finding("Publisher.dropped() " + pub.dropped() + ", the subscribers' drops add up to " + sum);
            System.out.println("publisher '" + label + "': " + seq + " messages in " + TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - began) + " ms ("
                    + pokes + " pokes, " + (pokes == 0 ? 0 : pokeNanos / pokes / 1000) + " us each; " + subNo + " hostile subscriptions, "
                    + subNanos / Math.max(1, subNo) / 1_000_000 + " ms each; publishing " + pubNanos / 1_000_000 + " ms, the publisher waited "
                    + waits + " times for an honest subscriber), " + sum + " drops; " + honest.stream().map(h -> h.received.get() + " to " + h.label).toList());
        }
    }
}
