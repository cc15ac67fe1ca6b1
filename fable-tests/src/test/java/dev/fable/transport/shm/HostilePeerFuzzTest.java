package dev.fable.transport.shm;

import dev.fable.Buffer;
import dev.fable.ConnectOptions;
import dev.fable.Connection;
import dev.fable.ConnectionClosedException;
import dev.fable.ConnectionState;
import dev.fable.CorruptChannelException;
import dev.fable.Endpoint;
import dev.fable.Fable;
import dev.fable.WaitMode;
import dev.fable.buffer.SlotBuffer;
import dev.fable.testing.PeerProcess;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.nio.ReadOnlyBufferException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Queue;
import java.util.Random;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import static dev.fable.testing.Names.unique;
import static dev.fable.transport.shm.HostilePeer.*;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.*;

/**
 * A peer that writes garbage into the shared rings must not make this side read or write out of
 * bounds, hang or crash: the connection fails with a {@link CorruptChannelException} that names it,
 * and other connections carry on.
 *
 * <p>The hostile peer is a second JVM ({@link HostilePeer}). This JVM is the victim and uses only the
 * public API ({@code poll}/{@code receive}/{@code claim}/{@code release}/{@code commit}), so every
 * garbage value goes through the real {@link RingReader}/{@link RingWriter} behind
 * {@link ShmConnection}. Each connection carries a run of random benign cases (what a correct side
 * must accept: as producer, log records of every kind with random lengths, slots and MORE bits, PADs,
 * HOLEs and their REFs, an END before a clean close, garbage in registers, headers, payloads and the
 * free log; as consumer, READ moved to any record start or into the middle of a record, garbage in the
 * words beside the writer's) and ends with one fatal value, a clean close, or (one in ten) chaos. The
 * peer announces the plan in the connection's first message and the victim checks that it fails
 * exactly there, with the right words, and never earlier. Counted cases are the ones the victim
 * processed and checked (a benign case counts once the victim is past it, a fatal one when it failed
 * correctly). Each direction runs until 110,000 cases, six connections at a time: as consumer about 2,000
 * of them fatal on about 2,200 connections; as producer about 700 on about 800 (its connections are
 * longer, so that their records lap the log). A healthy echo connection to the same hostile process is
 * used throughout and at the end.
 *
 * <p>{@code -Dfable.fuzz.seed=N} replays a seed (printed at the start and in every failure);
 * {@code -Dfable.fuzz.cases=N} sets the cases per direction (default 110,000; at least 100,000 must
 * pass), {@code -Dfable.fuzz.seconds=N} the time limit per direction (default 120: a quiet host reaches the
 * target long before; a loaded one (CI with a CPU hog beside it) needs the room).
 */
class HostilePeerFuzzTest {
    static final long SEED = Long.getLong("fable.fuzz.seed", System.nanoTime());
    static final long TARGET_CASES = Long.getLong("fable.fuzz.cases", 110_000);
    static final long REQUIRED_CASES = Math.min(100_000, TARGET_CASES);
    static final long BUDGET_NANOS = TimeUnit.SECONDS.toNanos(Long.getLong("fable.fuzz.seconds", 120));
    static final long HANG_NANOS = TimeUnit.SECONDS.toNanos(20);
    static final Duration SHORT_WAIT = Duration.ofNanos(50_000);

    /** Findings of one test run; reported together at the end, each with the seed. */
    static final class Findings {
        final Queue<String> list = new ConcurrentLinkedQueue<>();
        final AtomicLong count = new AtomicLong();

        void add(String what) {
            count.incrementAndGet();
            if (list.size() < 30) list.add(what + " [seed " + SEED + "]");
        }

        void add(String what, Throwable t) {
            java.io.StringWriter w = new java.io.StringWriter();
            t.printStackTrace(new java.io.PrintWriter(w));
            add(what + ": " + w);
        }

        void assertNone() {
            assertEquals(0, count.get(), () -> count.get() + " finding(s), seed " + SEED + " (rerun with -Dfable.fuzz.seed="
                    + SEED + "):\n" + String.join("\n", list));
        }
    }

    /** Reads the peer's stdout lines into a queue; ERROR lines become findings. */
    static BlockingQueue<String> pump(PeerProcess peer, Findings findings) {
        BlockingQueue<String> lines = new LinkedBlockingQueue<>();
        Thread t = new Thread(() -> {
            while (true) {
                String l;
                try {
                    l = peer.expectLine("");
                } catch (AssertionError e) {
                    if (!peer.process().isAlive()) return;
                    continue;
                } catch (InterruptedException e) {
                    return;
                }
                if (l.startsWith("ERROR")) findings.add("hostile peer: " + l);
                lines.add(l);
            }
        }, "peer-lines");
        t.setDaemon(true);
        t.start();
        return lines;
    }

    static String nextLine(BlockingQueue<String> lines, String prefix, PeerProcess peer) throws InterruptedException {
        while (true) {
            String l = lines.poll(60, TimeUnit.SECONDS);
            if (l == null) fail("no '" + prefix + "' line from the peer within 60 s; alive=" + peer.process().isAlive() + "; stderr:\n" + peer.stderr());
            if (l.startsWith(prefix)) return l;
            if (!l.startsWith("ERROR")) fail("peer printed '" + l + "', expected '" + prefix + "...'");
        }
    }

    /** A healthy connection to the hostile process's echo endpoint, pinged from its own thread while others fail. */
    static final class Healthy implements AutoCloseable {
        final Connection c;
        final Findings findings;
        final AtomicBoolean stop = new AtomicBoolean();
        final AtomicLong pings = new AtomicLong();
        final Thread thread;
        final Random rnd = new Random(SEED);

        Healthy(String echoEndpoint, Findings findings) {
            this.c = Fable.connect("xio+shm://" + echoEndpoint, ConnectOptions.trusted().slotSize(4096).slotCount(8));
            this.findings = findings;
            ping();
            thread = new Thread(() -> {
                while (!stop.get()) {
                    try {
                        ping();
                        Thread.sleep(20);
                    } catch (Throwable t) {
                        findings.add("the healthy connection broke while others failed", t);
                        return;
                    }
                }
            }, "healthy-pinger");
            thread.setDaemon(true);
            thread.start();
        }

        synchronized void ping() {
            byte[] m = new byte[1 + rnd.nextInt(10_000)];   // up to three fragments
            rnd.nextBytes(m);
            c.send(m);
            byte[] back = c.receiveMessage(Duration.ofSeconds(10));
            assertNotNull(back, "no echo within 10 s on the healthy connection");
            assertArrayEquals(m, back, "the healthy connection garbled a message");
            pings.incrementAndGet();
        }

        /** Stops the pinger, then one last round trip on the calling thread. */
        void finalCheck() throws InterruptedException {
            stop.set(true);
            thread.join(20_000);
            assertFalse(thread.isAlive(), "pinger stuck");
            ping();
            assertEquals(ConnectionState.OPEN, c.state(), "the healthy connection's state");
            assertTrue(pings.get() >= 5, "pinged only " + pings.get() + " times");
        }

        @Override
        public void close() {
            stop.set(true);
            c.close();
        }
    }

    /** Victim-side totals: only cases checked against the plan count. */
    static final class Tally {
        final AtomicLong benign = new AtomicLong();
        final AtomicLong fatal = new AtomicLong();
        final AtomicLong clean = new AtomicLong();
        final AtomicLong connections = new AtomicLong();
        final AtomicLong inlineRead = new AtomicLong();   // buffers read in place from the log (INLINE and REF records)
        final String[] kinds;   // the peer's fatal kinds (HostileProducer.KINDS or HostileConsumer.KINDS)
        final long[] byKind;    // by fatal kind, then chaos

        Tally(String[] kinds) {
            this.kinds = kinds;
            this.byKind = new long[kinds.length + 1];
        }

        long cases() {
            return benign.get() + fatal.get();
        }

        synchronized void kind(int k) {
            byKind[k]++;
        }

        @Override
        public synchronized String toString() {
            return cases() + " cases (" + benign.get() + " benign, " + fatal.get() + " fatal) on " + connections.get()
                    + " connections (" + clean.get() + " closed cleanly); fatal by kind " + Arrays.toString(Arrays.copyOf(byKind, kinds.length))
                    + " + " + byKind[kinds.length] + " chaos" + (inlineRead.get() > 0 ? "; " + inlineRead.get() + " buffers read in place from the log" : "");
        }
    }

    /** One victim connection under test; advanced round-robin by a single thread. */
    interface Victim {
        boolean step(long now);
    }

    static void roundRobin(Queue<Victim> fresh, AtomicBoolean stop, Findings findings) {
        List<Victim> active = new ArrayList<>();
        while (!stop.get() || !active.isEmpty() || !fresh.isEmpty()) {
            Victim v;
            while ((v = fresh.poll()) != null) active.add(v);
            if (active.isEmpty()) {
                Thread.yield();
                continue;
            }
            long now = System.nanoTime();
            for (Iterator<Victim> it = active.iterator(); it.hasNext(); ) {
                v = it.next();
                boolean done;
                try {
                    done = v.step(now);
                } catch (Throwable t) {
                    findings.add("victim " + v + " threw", t);
                    done = true;
                }
                if (done) it.remove();
            }
        }
    }

    record Plan(long index, long seed, long fatal, long clean, int expect, int kind, long benign, int slotSize, int slotCount) {
        static Plan read(Buffer b) {
            assertEquals(PLAN_BYTES, b.length(), "plan length");
            assertEquals(PLAN_MAGIC, b.getLong(0), "plan magic");
            long k = b.getLong(PLAN_KIND);
            long g = b.getLong(PLAN_GEOMETRY);
            return new Plan(b.getLong(PLAN_INDEX), b.getLong(PLAN_SEED), b.getLong(PLAN_FATAL), b.getLong(PLAN_CLEAN),
                    (int) b.getLong(PLAN_EXPECT), (int) k, k >>> 32, (int) (g >>> 32), (int) g);
        }

        boolean chaos() {
            return fatal == CHAOS;
        }

        String describe(String[] kinds) {
            return "connection #" + index + " (connection seed " + seed + ", " + slotCount + " slots x " + slotSize + " B, "
                    + (chaos() ? "chaos" : fatal >= 0 ? "fatal '" + kinds[kind] + "' after " + fatal + " fragments" : "clean close after " + clean)
                    + ", " + benign + " benign before)";
        }
    }

    /** A victim's connection failed: it must be the planned failure (or a chaos case), reported as such. */
    static void expectedFailure(Connection c, CorruptChannelException e, Plan plan, long at, long hostilePid, String op,
                                Tally tally, Findings findings, Victim victim) {
        try {
            assertNotNull(plan, "failed before the plan arrived");
            assertTrue(plan.fatal() >= 0 || plan.chaos(), "failed but the plan was a clean close");
            if (!plan.chaos()) assertEquals(plan.fatal(), at, "failed at another point than planned");
            checkFailure(c, e, plan, hostilePid, op);
            tally.benign.addAndGet(plan.benign());
            tally.fatal.incrementAndGet();
            tally.kind(plan.chaos() ? tally.kinds.length : plan.kind());
        } catch (Throwable t) {
            t.addSuppressed(e);
            findings.add(victim + ": wrong failure", t);
        }
    }

    /**
     * Checks the exception a fatal value produced and the connection state after it. A planned failure
     * must give its exact reason; chaos any of the reasons of that side ({@code op}): any of RingReader.poll's
     * for a reader, READ out of range or off the grid for a writer.
     */
    static void checkFailure(Connection c, CorruptChannelException e, Plan p, long hostilePid, String op) {
        String m = e.getMessage();
        assertNotNull(m);
        assertTrue(m.contains("shm connection '"), () -> "the message does not name the connection: " + m);
        assertTrue(m.contains("(pid " + hostilePid + ")"), () -> "the message does not name the peer's pid: " + m);
        List<String> reasons;
        if (op.equals("claim")) {
            reasons = List.of(expectedWords(EXPECT_READ_REGISTER));
        } else if (p.chaos()) {
            reasons = Arrays.stream(HostileProducer.POLL_WORDS).mapToObj(HostileProducer::words).toList();
        } else {
            reasons = List.of(HostileProducer.words(p.expect()));
        }
        if (op.equals("claim")) assertEquals(EXPECT_READ_REGISTER, p.expect(), "the plan's reason");
        assertTrue(reasons.stream().anyMatch(m::contains), () -> "expected " + reasons.stream().map(r -> "'" + r + "'").toList() + " in: " + m);
        assertEquals(ConnectionState.FAILED, c.state());
        assertSame(e, c.failure(), "failure() is the exception thrown");
        CorruptChannelException again = assertThrows(CorruptChannelException.class,
                () -> {
                    if (op.equals("poll")) c.poll(); else c.claim(8);
                }, "a failed connection keeps failing the same way");
        assertTrue(again.getMessage().startsWith(m), again::getMessage);
    }

    // =====================================================================================
    // The hostile peer produces, this side reads.
    // =====================================================================================

    @Test
    void hostileProducerNeverPushesTheReaderOutOfBounds() throws Exception {
        System.out.println("HostilePeerFuzzTest seed " + SEED + " (rerun with -Dfable.fuzz.seed=" + SEED + ")");
        Findings findings = new Findings();
        Tally tally = new Tally(HostileProducer.KINDS);
        String trustedName = unique("victim-t");
        String untrustedName = unique("victim-u");
        long start = System.nanoTime();
        try (Endpoint trusted = Fable.register(trustedName).listen(ConnectOptions.trusted().slotSize(64).slotCount(2));
             Endpoint untrusted = Fable.register(untrustedName).listen(ConnectOptions.untrusted().slotSize(64).slotCount(2));
             PeerProcess peer = PeerProcess.start(HostilePeer.class, "producer", trustedName, untrustedName, Long.toString(SEED), "6")) {
            BlockingQueue<String> lines = pump(peer, findings);
            String echo = nextLine(lines, "READY", peer).split(" ")[1];
            Queue<Victim> fresh = new ConcurrentLinkedQueue<>();
            AtomicBoolean stopAccepting = new AtomicBoolean();
            AtomicLong accepted = new AtomicLong();
            List<Thread> acceptors = new ArrayList<>();
            for (Endpoint ep : List.of(trusted, untrusted)) {
                boolean isTrusted = ep == trusted;
                Thread t = new Thread(() -> {
                    while (!stopAccepting.get()) {
                        try {
                            Connection c = ep.accept(Duration.ofMillis(50));
                            if (c == null) continue;
                            long n = accepted.incrementAndGet();
                            fresh.add(new ReaderVictim(c, isTrusted, new Random(mix(SEED, -n)), peer.pid(), findings, tally));
                        } catch (Throwable e) {
                            findings.add("accept failed", e);
                        }
                    }
                }, "victim-acceptor");
                t.start();
                acceptors.add(t);
            }
            AtomicBoolean stopWorker = new AtomicBoolean();
            Thread worker = new Thread(() -> roundRobin(fresh, stopWorker, findings), "victim-reader");
            worker.start();
            try (Healthy healthy = new Healthy(echo, findings)) {
                while (tally.cases() < TARGET_CASES && System.nanoTime() - start < BUDGET_NANOS && findings.count.get() == 0) {
                    Thread.sleep(20);
                }
                peer.send("STOP");
                String done = nextLine(lines, "DONE", peer);
                long opened = Long.parseLong(done.replaceAll(".*opened=(\\d+).*", "$1"));
                long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
                while (tally.connections.get() < opened && System.nanoTime() < until) Thread.sleep(5);
                assertEquals(opened, tally.connections.get(), "connections the hostile peer opened vs. finished here; " + done);
                assertEquals(opened, accepted.get(), "accepted");
                healthy.finalCheck();
                System.out.println("hostile producer: " + tally + "; " + healthy.pings.get() + " healthy round trips; peer: " + done
                        + "; " + TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start) + " ms");
            } finally {
                stopAccepting.set(true);
                stopWorker.set(true);
                for (Thread t : acceptors) t.join(10_000);
                worker.join(30_000);
                peer.send("EXIT");
            }
            assertEquals(0, peer.waitFor(30), "hostile peer exit code; stderr:\n" + peer.stderr());
        }
        findings.assertNone();
        assertTrue(tally.cases() >= REQUIRED_CASES, "only " + tally);
        assertTrue(tally.fatal.get() >= 200, "only " + tally);
        assertTrue(tally.inlineRead.get() >= 1000, "the hostile producer's valid inline records were hardly read in place: " + tally);
    }

    /**
     * The reading side of one connection: polls, checks every buffer (in bounds of its own mappings or a
     * private copy), holds up to three and releases them out of order.
     */
    static final class ReaderVictim implements Victim {
        final Connection c;
        final boolean trusted;
        final Random rnd;
        final long hostilePid;
        final Findings findings;
        final Tally tally;
        final List<Buffer> held = new ArrayList<>();
        final HostileAccess.Rings in;   // this side's mappings of the peer's pool and ring: where a zero-copy buffer must lie
        Buffer planBuffer;
        Plan plan;
        int maxHeld;
        long lastProgress = System.nanoTime();
        final byte[] scratch = new byte[64 * 1024];

        ReaderVictim(Connection c, boolean trusted, Random rnd, long hostilePid, Findings findings, Tally tally) {
            this.c = c;
            this.trusted = trusted;
            this.rnd = rnd;
            this.hostilePid = hostilePid;
            this.findings = findings;
            this.tally = tally;
            this.in = HostileAccess.Rings.incoming(c);
        }

        @Override
        public boolean step(long now) {
            try {
                for (int i = 0; i < 32; i++) {
                    Buffer b = c.poll();
                    if (b == null && rnd.nextInt(32) == 0) {
                        try {
                            b = c.receive(SHORT_WAIT);   // spin, arm and sleep on a CONSUMER_PARKED (and ack) the peer scribbles on
                        } catch (ConnectionClosedException e) {
                            return endedCleanly();
                        }
                    }
                    if (b == null) {
                        releaseHeld();   // the writer may be waiting for the log or slots behind them
                        if (c.state() == ConnectionState.OPEN) break;
                        b = c.poll();    // what was committed before the end is still delivered
                        if (b == null) return endedCleanly();
                    }
                    lastProgress = now;
                    check(b, c.fragmentsReceived() - 1);
                }
                if (now - lastProgress > HANG_NANOS) {
                    findings.add(this + ": nothing arrived for 20 s (" + c.fragmentsReceived() + " polled, state " + c.state() + ")");
                    return finish();
                }
                return false;
            } catch (CorruptChannelException e) {
                expectedFailure(c, e, plan, c.fragmentsReceived(), hostilePid, "poll", tally, findings, this);
                return finish();
            } catch (Throwable t) {
                findings.add(this + " after " + c.fragmentsReceived() + " polls", t);
                return finish();
            }
        }

        /** True when {@code [address, address + bytes)} lies inside {@code [from, from + size)} of {@code memory}. */
        private static boolean inside(long address, long bytes, MemorySegment memory, long from, long size) {
            long base = memory.address() + from;
            return address >= base && address + bytes <= base + size;
        }

        private void check(Buffer b, long fragment) {
            if (fragment == 0) {
                plan = Plan.read(b);
                if (plan.chaos() || plan.expect() != HostileProducer.W_HELD) {
                    b.release();   // READ moves past the plan (chaos starts once it has)
                } else {
                    planBuffer = b;   // kept to the end: the plan's slot is the one the fatal SLOT record names
                }
                assertEquals(plan.benign(), plan.chaos() ? 0 : plan.fatal() >= 0 ? plan.fatal() - 1 : plan.clean() - 1, "plan arithmetic");
                assertEquals(in.slotSize(), plan.slotSize(), "the peer's slot size");
                assertEquals(in.slotCount(), plan.slotCount(), "the peer's slot count");
                maxHeld = Math.max(0, Math.min(3, Math.min(32, plan.slotCount()) - 2));
                return;
            }
            assertNotNull(plan);
            if (plan.fatal() >= 0) assertTrue(fragment < plan.fatal(), "accepted the fatal record after fragment " + fragment);
            else if (!plan.chaos()) assertTrue(fragment < plan.clean(), "got more fragments than were published: " + fragment);
            int length = b.length();
            int capacity = b.capacity();
            int slot = ((SlotBuffer) b).slot();
            MemorySegment s = b.segment();
            assertTrue(b.isReadOnly());
            assertEquals(trusted ? Buffer.Kind.SHM_SLOT : Buffer.Kind.PRIVATE_COPY, b.kind());
            assertTrue(length >= 0 && length <= capacity, "length " + length + " of " + capacity);
            assertEquals(capacity, s.byteSize());
            if (!trusted) {   // a private copy of the slot size, in neither of the peer's files
                assertEquals(plan.slotSize(), capacity, "capacity of a private copy");
                assertFalse(inside(s.address(), 1, in.pool(), 0, in.pool().byteSize()) || inside(s.address(), 1, in.ring(), 0, in.ring().byteSize()),
                        "a private copy lies in the peer's memory");
            } else if (slot >= 0) {   // SLOT: the whole slot, in place in the peer's pool
                assertTrue(slot < plan.slotCount(), "slot " + slot);
                assertEquals(plan.slotSize(), capacity, "capacity of a slot");
                assertTrue(inside(s.address(), capacity, in.pool(), ShmLayout.slotOffset(slot, plan.slotSize()), plan.slotSize()),
                        "the buffer of slot " + slot + " lies outside it");
            } else {   // INLINE or REF: the message itself, in place in the log
                tally.inlineRead.incrementAndGet();
                assertEquals(length, capacity, "an inline buffer is as long as its message");
                assertTrue(length <= in.inlineMax(), "an inline message of " + length + " B");
                assertTrue(inside(s.address(), capacity, in.ring(), ShmLayout.LOG, in.logBytes()), "an inline buffer lies outside the log");
            }
            b.get(0, scratch, 0, length);   // every byte the buffer claims to have is readable
            if (length > 0) b.getByte(length - 1);
            if (capacity > 0) s.get(JAVA_BYTE, capacity - 1);
            b.more();
            if (held.size() < maxHeld && rnd.nextInt(3) == 0) {
                held.add(b);
            } else {
                b.release();
                if (!held.isEmpty() && rnd.nextInt(4) == 0) held.remove(rnd.nextInt(held.size())).release();   // out of order
            }
        }

        private void releaseHeld() {
            while (!held.isEmpty()) held.remove(held.size() - 1).release();
        }

        private boolean endedCleanly() {
            try {
                assertNotNull(plan, "ended before the plan arrived: " + c.state() + " " + c.failure());
                assertTrue(plan.clean() >= 0, () -> "ended without the planned failure: " + c.state() + ", " + c.failure());
                assertEquals(ConnectionState.PEER_CLOSED, c.state());
                assertEquals(plan.clean(), c.fragmentsReceived(), "messages before the clean close");
                tally.benign.addAndGet(plan.benign());
                tally.clean.incrementAndGet();
            } catch (Throwable t) {
                findings.add(this + ": wrong ending", t);
            }
            return finish();
        }

        private boolean finish() {
            try {
                releaseHeld();
                if (planBuffer != null) planBuffer.release();
            } catch (Throwable t) {
                findings.add(this + ": releasing after the end", t);
            }
            c.close();
            tally.connections.incrementAndGet();
            return true;
        }

        @Override
        public String toString() {
            return (trusted ? "trusted" : "untrusted") + " reader of " + (plan == null ? "(no plan yet) " + c : plan.describe(HostileProducer.KINDS));
        }
    }

    // =====================================================================================
    // This side produces, the hostile peer consumes.
    // =====================================================================================

    @Test
    void hostileConsumerNeverPushesTheWriterOutOfBounds() throws Exception {
        System.out.println("HostilePeerFuzzTest seed " + SEED + " (rerun with -Dfable.fuzz.seed=" + SEED + ")");
        Findings findings = new Findings();
        Tally tally = new Tally(HostileConsumer.KINDS);
        long start = System.nanoTime();
        try (PeerProcess peer = PeerProcess.start(HostilePeer.class, "consumer", Long.toString(SEED))) {
            BlockingQueue<String> lines = pump(peer, findings);
            String[] ready = nextLine(lines, "READY", peer).split(" ");
            String hostile = ready[1];
            Queue<Victim> fresh = new ConcurrentLinkedQueue<>();
            AtomicBoolean stopConnecting = new AtomicBoolean();
            Semaphore inFlight = new Semaphore(6);
            AtomicLong connected = new AtomicLong();
            Thread connector = new Thread(() -> {
                for (long i = 0; !stopConnecting.get(); i++) {
                    try {
                        if (!inFlight.tryAcquire(50, TimeUnit.MILLISECONDS)) continue;
                        Random rnd = new Random(mix(SEED, -1 - i));
                        boolean manySlots = rnd.nextInt(8) == 0;   // and mostly small messages (Script): the log runs out first
                        ConnectOptions o = (rnd.nextBoolean() ? ConnectOptions.trusted() : ConnectOptions.untrusted())
                                .slotSize(manySlots || rnd.nextInt(4) == 0 ? 1024 * (1 + rnd.nextInt(2)) : 64 * (1 + rnd.nextInt(rnd.nextBoolean() ? 2 : 16)))
                                .slotCount(manySlots ? 64 + rnd.nextInt(193) : 2 + rnd.nextInt(rnd.nextBoolean() ? 7 : 47))
                                .logBytes(rnd.nextInt(4) == 0 ? ShmLayout.MIN_LOG_BYTES << (1 + rnd.nextInt(2)) : ShmLayout.MIN_LOG_BYTES)
                                .waitMode(WaitMode.values()[rnd.nextInt(WaitMode.values().length)]);
                        Connection c = Fable.connect("xio+shm://" + hostile, o);
                        connected.incrementAndGet();
                        fresh.add(new WriterVictim(c, o, rnd, peer.pid(), findings, tally, inFlight));
                    } catch (Throwable e) {
                        findings.add("connect failed", e);
                        inFlight.release();
                    }
                }
            }, "victim-connector");
            connector.start();
            AtomicBoolean stopWorker = new AtomicBoolean();
            Thread worker = new Thread(() -> roundRobin(fresh, stopWorker, findings), "victim-writer");
            worker.start();
            try (Healthy healthy = new Healthy(ready[2], findings)) {
                while (tally.cases() < TARGET_CASES && System.nanoTime() - start < BUDGET_NANOS && findings.count.get() == 0) {
                    Thread.sleep(20);
                }
                stopConnecting.set(true);
                connector.join(30_000);
                long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
                while (tally.connections.get() < connected.get() && System.nanoTime() < until) Thread.sleep(5);
                assertEquals(connected.get(), tally.connections.get(), "connections opened vs. finished");
                healthy.finalCheck();
                System.out.println("hostile consumer: " + tally + "; " + healthy.pings.get() + " healthy round trips; "
                        + TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start) + " ms");
            } finally {
                stopConnecting.set(true);
                stopWorker.set(true);
                worker.join(30_000);
                peer.send("EXIT");
            }
            String done = nextLine(lines, "DONE", peer);
            System.out.println("hostile consumer peer: " + done);
            assertEquals(0, peer.waitFor(30), "hostile peer exit code; stderr:\n" + peer.stderr());
            assertTrue(done.contains("finished=" + connected.get() + " "), "the peer finished other connections than we made: " + done);
        }
        findings.assertNone();
        assertTrue(tally.cases() >= REQUIRED_CASES, "only " + tally);
        assertTrue(tally.fatal.get() >= 200, "only " + tally);
    }

    /**
     * The writing side of one connection: reads the plan, then claims and commits as the peer's
     * {@link HostileConsumer.Script} (drawn from the plan's seed) says, holding a claim across later
     * commits now and then. A claim that finds no room is retried with the same size: in lock step with the
     * peer (it releases the peer's PING, then waits for its GO: the peer moves READ in between), or at once
     * in chaos.
     */
    static final class WriterVictim implements Victim {
        final Connection c;
        final ConnectOptions options;
        final Random rnd;
        final long hostilePid;
        final Findings findings;
        final Tally tally;
        final Semaphore inFlight;
        Plan plan;
        HostileConsumer.Script script;
        boolean blocked;      // the last claim found no room: wait for the peer's PING, release it, then wait for GO
        boolean pinged;
        long syncs;           // sync points passed (GOs received)
        int pending;          // the size of the claim being retried, 0: none
        long claims;          // claims served: each message's stamp
        Buffer held;          // a claim held across later commits
        boolean heldMore;
        int holdLeft;
        long lastProgress = System.nanoTime();

        WriterVictim(Connection c, ConnectOptions options, Random rnd, long hostilePid, Findings findings, Tally tally, Semaphore inFlight) {
            this.c = c;
            this.options = options;
            this.rnd = rnd;
            this.hostilePid = hostilePid;
            this.findings = findings;
            this.tally = tally;
            this.inFlight = inFlight;
        }

        private static void commit(Buffer b, boolean more) {
            if (more) b.commitFragment(); else b.commit();
        }

        @Override
        public boolean step(long now) {
            try {
                if (plan == null) {
                    Buffer b = c.poll();
                    if (b == null) {
                        if (now - lastProgress > HANG_NANOS) {
                            findings.add(this + ": no plan within 20 s");
                            return finish();
                        }
                        return false;
                    }
                    plan = Plan.read(b);
                    b.release();
                    assertEquals(options.slotSize(), plan.slotSize(), "the peer sees our slot size");
                    assertEquals(options.slotCount(), plan.slotCount(), "the peer sees our slot count");
                    script = new HostileConsumer.Script(plan.seed(), options.slotSize(), options.slotCount());
                }
                while (blocked && !plan.chaos()) {
                    Buffer m = c.poll();   // an empty poll publishes READ on that direction: the peer sees its PING released
                    if (m == null) {
                        if (c.state() != ConnectionState.OPEN) c.claim(pending);   // throws: the peer closed (or failed) it
                        if (now - lastProgress > HANG_NANOS) {
                            findings.add(this + ": no PING or GO from the peer for 20 s at sync point " + syncs + " (" + c.fragmentsSent() + " sent)");
                            return finish();
                        }
                        return false;
                    }
                    lastProgress = now;
                    long type = m.getLong(0);
                    long at = m.getLong(8);
                    m.release();
                    assertEquals(syncs, at, "the peer's sync point");
                    if (type == HostileConsumer.PING) {
                        assertFalse(pinged, "a second PING");
                        pinged = true;
                    } else {
                        assertEquals(HostileConsumer.GO, type, "a GO");
                        assertTrue(pinged, "a GO before the PING");
                        pinged = false;
                        blocked = false;
                        syncs++;
                    }
                }
                int inlineMax = ShmLayout.inlineMaxFor(options.slotSize());
                for (int i = 0; i < 64; i++) {
                    long sent = c.fragmentsSent();
                    if (plan.fatal() >= 0) assertTrue(sent <= plan.fatal(), "claimed past the planned failure");
                    else if (!plan.chaos()) assertTrue(sent <= plan.clean(), "claimed more than the peer released");
                    if (pending == 0) pending = script.size();
                    Buffer b = c.claim(pending);
                    if (b == null && rnd.nextInt(32) == 0) b = c.claim(pending, SHORT_WAIT);   // wait on a READ/PRODUCER_PARKED (and ack) the peer scribbles on
                    if (b == null) {
                        blocked = true;
                        break;
                    }
                    lastProgress = now;
                    if (((SlotBuffer) b).slot() < 0) {   // inline, in place in the log: exactly what was asked
                        assertTrue(pending <= inlineMax, "a claim of " + pending + " B went inline");
                        assertEquals(pending, b.capacity(), "capacity of an inline claim");
                    } else {
                        assertEquals(options.slotSize(), b.capacity(), "capacity of a slot claim");
                    }
                    assertEquals(Math.min(pending, b.capacity()), b.length());
                    assertFalse(b.isReadOnly());
                    long m = claims++;
                    int length = script.length(b.capacity());
                    boolean more = script.more();
                    int hold = script.hold(held != null);
                    pending = 0;
                    HostileConsumer.Script.stamp(b, m, length);
                    b.length(length);
                    if (hold > 0) {
                        held = b;
                        heldMore = more;
                        holdLeft = hold;
                    } else {
                        commit(b, more);
                        if (held != null && --holdLeft == 0) {
                            commit(held, heldMore);
                            held = null;
                        }
                    }
                }
                if (now - lastProgress > HANG_NANOS) {
                    findings.add(this + ": no room came back for 20 s (" + c.fragmentsSent() + " sent, state " + c.state() + ")");
                    return finish();
                }
                return false;
            } catch (CorruptChannelException e) {
                expectedFailure(c, e, plan, c.fragmentsSent(), hostilePid, "claim", tally, findings, this);
                return finish();
            } catch (ConnectionClosedException e) {
                try {
                    assertNotNull(plan, "ended before the plan arrived");
                    assertTrue(plan.clean() >= 0, "ended without the planned failure");
                    assertEquals(ConnectionState.PEER_CLOSED, c.state());
                    assertEquals(plan.clean(), c.fragmentsSent(), "messages sent before the peer closed");
                    tally.benign.addAndGet(plan.benign());
                    tally.clean.incrementAndGet();
                } catch (Throwable t) {
                    t.addSuppressed(e);
                    findings.add(this + ": wrong ending", t);
                }
                return finish();
            } catch (Throwable t) {
                findings.add(this + " after " + c.fragmentsSent() + " claims", t);
                return finish();
            }
        }

        private boolean finish() {
            c.close();
            tally.connections.incrementAndGet();
            inFlight.release();
            return true;
        }

        @Override
        public String toString() {
            return "writer of " + (plan == null ? "(no plan yet) " + c : plan.describe(HostileConsumer.KINDS));
        }
    }

    // =====================================================================================
    // MORE chains
    // =====================================================================================

    @Test
    void moreChainsNeitherHangReceiveMessageNorGrowWithoutBound() throws Exception {
        String name = unique("victim-m");
        try (Endpoint ep = Fable.register(name).listen(ConnectOptions.trusted().maxMessageSize(1000));
             PeerProcess peer = PeerProcess.start(HostilePeer.class, "morechain", name)) {
            Connection c = ep.accept(Duration.ofSeconds(30));
            assertNotNull(c);
            peer.expectLine("STALLED");
            // a fragment with MORE, then nothing: the timeout holds for the whole message
            long t0 = System.nanoTime();
            byte[] none = bounded(() -> c.receiveMessage(Duration.ofMillis(200)));
            assertNull(none, "timed out in the middle of a message");
            assertTrue(System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(5), "receiveMessage(200 ms) took " + (System.nanoTime() - t0) / 1_000_000 + " ms");
            peer.send("CONTINUE");
            byte[] whole = bounded(() -> c.receiveMessage(Duration.ofSeconds(20)));
            byte[] expected = new byte[128];
            Arrays.fill(expected, 0, 64, (byte) 'A');
            Arrays.fill(expected, 64, 128, (byte) 'B');
            assertArrayEquals(expected, whole, "the message continues where the timed-out call stopped");
            // an endless chain: fails at maxMessageSize
            CorruptChannelException e = assertThrows(CorruptChannelException.class, () -> bounded(() -> c.receiveMessage(Duration.ofSeconds(20))));
            assertTrue(e.getMessage().contains("maxMessageSize"), e.getMessage());
            assertTrue(e.getMessage().contains("shm connection '"), e.getMessage());
            assertEquals(ConnectionState.FAILED, c.state());
            assertTrue(peer.expectLine("CHAIN-ENDED").contains("PEER_GONE"));
            c.close();
            peer.send("EXIT");
            assertEquals(0, peer.waitFor(30), peer.stderr());
        }
    }

    interface Call<T> {
        T call() throws Exception;
    }

    /** Runs {@code call} on another thread and fails if it does not return within 30 s (a hang). */
    static <T> T bounded(Call<T> call) throws Exception {
        CompletableFuture<T> f = new CompletableFuture<>();
        Thread t = new Thread(() -> {
            try {
                f.complete(call.call());
            } catch (Throwable e) {
                f.completeExceptionally(e);
            }
        }, "bounded-call");
        t.setDaemon(true);
        t.start();
        try {
            return f.get(30, TimeUnit.SECONDS);
        } catch (TimeoutException e) {
            throw new AssertionError("hang: the call did not return within 30 s");
        } catch (java.util.concurrent.ExecutionException e) {
            if (e.getCause() instanceof Exception x) throw x;
            throw (Error) e.getCause();
        }
    }

    // =====================================================================================
    // Writing through read buffers
    // =====================================================================================

    /** Tries every way to write through {@code b}; one line per attempt: "name threw Class: message" or "name WROTE". */
    @SuppressWarnings("restricted")   // reinterpret: even a restricted view keeps the read-only flag
    static List<String> writeAttempts(Buffer b) {
        List<String> out = new ArrayList<>();
        attempt(out, "Buffer.putLong", () -> b.putLong(0, -1L));
        attempt(out, "Buffer.putByte", () -> b.putByte(b.capacity() - 1, (byte) 1));
        attempt(out, "Buffer.put(byte[])", () -> b.put(0, new byte[16], 0, 16));
        attempt(out, "Buffer.length(int)", () -> b.length(1));
        attempt(out, "Buffer.commit", b::commit);
        attempt(out, "Buffer.commitFragment", b::commitFragment);
        attempt(out, "segment().set(JAVA_LONG)", () -> b.segment().set(JAVA_LONG, 0, -1L));
        attempt(out, "segment().set(JAVA_BYTE, last)", () -> b.segment().set(JAVA_BYTE, b.capacity() - 1, (byte) 1));
        attempt(out, "segment().asSlice().set", () -> b.segment().asSlice(Math.min(8, b.capacity())).set(JAVA_INT, 0, 1));   // inline: as short as its message
        attempt(out, "segment().fill", () -> b.segment().fill((byte) 1));
        attempt(out, "segment().copyFrom", () -> b.segment().copyFrom(MemorySegment.ofArray(new byte[b.capacity()])));
        attempt(out, "MemorySegment.copy", () -> MemorySegment.copy(MemorySegment.ofArray(new byte[8]), 0, b.segment(), 0, 8));
        attempt(out, "VarHandle.setVolatile", () -> JAVA_LONG.varHandle().setVolatile(b.segment(), 0L, 1L));
        attempt(out, "VarHandle.getAndAdd", () -> JAVA_LONG.varHandle().getAndAdd(b.segment(), 0L, 1L));
        attempt(out, "segment().asByteBuffer().putLong", () -> b.segment().asByteBuffer().putLong(0, 1L));
        attempt(out, "segment().reinterpret().set", () -> b.segment().reinterpret(b.capacity()).set(JAVA_LONG, 0, 1L));
        return out;
    }

    private static void attempt(List<String> out, String name, Runnable r) {
        try {
            r.run();
            out.add(name + " WROTE");
        } catch (Throwable t) {
            out.add(name + " threw " + t.getClass().getName() + ": " + t.getMessage());
        }
    }

    static void assertRefused(String attempt) {
        boolean ok = attempt.contains(" threw " + ReadOnlyBufferException.class.getName())
                || attempt.contains(" threw " + IllegalArgumentException.class.getName() + ": Attempt to write a read-only segment");
        assertTrue(ok, "a write through a read buffer was not refused as read-only: " + attempt);
    }

    /**
     * The peer's attempts are on a slot of this side's pool (1 KiB, above the 512 B written inline) and on a
     * private copy of one; this side's own attempts on a message the peer wrote inline in its log ("ALIVE")
     * and on a private copy of one. Both zero-copy views map memory the other process writes.
     */
    @Test
    void writesThroughReadBuffersThrowAndNeitherJvmCrashes() throws Exception {
        String t = unique("victim-rt");
        String u = unique("victim-ru");
        byte[] pattern = new byte[1024];
        new Random(SEED).nextBytes(pattern);
        try (Endpoint trusted = Fable.register(t).listen(ConnectOptions.trusted().slotSize(1024).slotCount(4));
             Endpoint untrusted = Fable.register(u).listen(ConnectOptions.untrusted().slotSize(1024).slotCount(4));
             PeerProcess peer = PeerProcess.start(HostilePeer.class, "readonly", t, u)) {
            Connection ct = trusted.accept(Duration.ofSeconds(30));
            Connection cu = untrusted.accept(Duration.ofSeconds(30));
            assertNotNull(ct);
            assertNotNull(cu);
            ct.send(pattern);
            cu.send(pattern);
            // the peer's attempts: on its zero-copy view of a slot of our pool (read-only mapping) and on its private copy
            for (Buffer.Kind kind : List.of(Buffer.Kind.SHM_SLOT, Buffer.Kind.PRIVATE_COPY)) {
                for (int i = 0; i < 16; i++) {
                    String l = peer.expectLine("ATTEMPT " + kind + " ");
                    assertRefused(l);
                }
                String unchanged = peer.expectLine("UNCHANGED " + kind + " true");
                assertTrue(unchanged.endsWith("first=" + java.nio.ByteBuffer.wrap(pattern).order(java.nio.ByteOrder.nativeOrder()).getLong(0)), unchanged);
            }
            peer.expectLine("DONE");
            // our own attempts, on the peer's log (trusted: "ALIVE" is written inline; a read-only view of a ring we map
            // read-write, for READ) and on a private copy (untrusted)
            for (Connection c : List.of(ct, cu)) {
                Buffer b = c.receive(Duration.ofSeconds(30));
                assertNotNull(b, "the peer's ALIVE after its write attempts");
                List<String> attempts = writeAttempts(b);
                assertEquals(16, attempts.size());
                attempts.forEach(HostilePeerFuzzTest::assertRefused);
                byte[] got = new byte[b.length()];
                b.get(0, got, 0, got.length);
                assertEquals("ALIVE", new String(got, StandardCharsets.US_ASCII), "bytes unchanged after the attempts");
                b.release();
                assertEquals(ConnectionState.OPEN, c.state());
                c.send(pattern);   // both sides still work
            }
            peer.send("EXIT");
            assertEquals(0, peer.waitFor(30), "the peer JVM exits normally after its write attempts; stderr:\n" + peer.stderr());
            ct.close();
            cu.close();
        }
    }

    // =====================================================================================
    // The end of an epoch: a writer whose log is full reads the consumer's READ once more, to fit its marker.
    // =====================================================================================

    /**
     * A consumer that moves READ out of range or off the grid just as this side ends its epoch (a
     * reconfiguration's end-of-epoch marker, {@code RingWriter.commitEndOfEpoch}) while the log is full, so
     * that the marker needs READ: behind what this side last read, beyond what it published, off the 16-byte
     * grid, and the extremes. The marker is not written and the connection fails with a
     * CorruptChannelException naming the value; a valid READ lets the marker through. In process: the
     * accepting side's own mapping of this side's ring is the peer's view of it.
     */
    @Test
    void aReadRegisterOutOfRangeWhenTheEpochEndsFailsTheConnection() throws Exception {
        ConnectOptions o = ConnectOptions.trusted().slotSize(64).slotCount(4).logBytes(ShmLayout.MIN_LOG_BYTES);
        for (String which : List.of("behind the READ read", "beyond written", "off the grid", "Long.MIN_VALUE", "Long.MAX_VALUE", "valid")) {
            String name = unique("epoch-read");
            try (Endpoint ep = Fable.register(name).listen(o)) {
                CompletableFuture<Connection> accepted = CompletableFuture.supplyAsync(() -> ep.accept(Duration.ofSeconds(10)));
                try (Connection c = Fable.connect("xio+shm://" + name, o); Connection peer = accepted.get(30, TimeUnit.SECONDS)) {
                    for (int i = 0; i < 6; i++) {   // slot messages (more than 64 B asked), more than the 4 slots: the writer read READ
                        Buffer b = c.claim(65);
                        b.putByte(0, (byte) i);
                        b.commit();
                        Buffer r = peer.receive(Duration.ofSeconds(10));
                        assertNotNull(r);
                        r.release();
                    }
                    while (c.claim(8) instanceof Buffer b) b.commit();   // then the log, up to what the last READ it read allows
                    Object writer = HostileAccess.field(((dev.fable.flow.LiveConnection) c).leg(), "out");
                    long read = (long) HostileAccess.field(writer, "readCache");
                    long position = (long) HostileAccess.field(writer, "position");
                    assertTrue(read > 0 && position > ShmLayout.MIN_LOG_BYTES - 64, "READ read " + read + ", position " + position);
                    ShmConnection leg = (ShmConnection) ((dev.fable.flow.LiveConnection) c).leg();
                    assertFalse(leg.tryFinishOutput(), "the marker waits for READ: the log is full");
                    long bad = switch (which) {
                        case "behind the READ read" -> read - ShmLayout.RECORD_ALIGN;
                        case "beyond written" -> position + ShmLayout.RECORD_ALIGN;
                        case "off the grid" -> position - ShmLayout.RECORD_HEADER;
                        case "Long.MIN_VALUE" -> Long.MIN_VALUE;
                        case "Long.MAX_VALUE" -> Long.MAX_VALUE;
                        default -> position;
                    };
                    MemorySegment ring = HostileAccess.Rings.incoming(peer).ring();   // the consumer's mapping of c's outgoing ring
                    ShmLayout.putReadRegisterRelease(ring, bad);
                    if (which.equals("valid")) {
                        assertTrue(leg.tryFinishOutput(), "the marker fits once READ moved");
                        assertEquals(position + ShmLayout.RECORD_ALIGN, (long) HostileAccess.field(writer, "position"), "the marker was published");
                        continue;
                    }
                    CorruptChannelException e = assertThrows(CorruptChannelException.class, leg::tryFinishOutput, which);
                    assertTrue(e.getMessage().contains("READ register to " + bad + ", outside [" + read + ", " + position + "]"),
                            which + ": " + e.getMessage());
                    assertEquals(ConnectionState.FAILED, leg.state(), which);
                    assertEquals(position, (long) HostileAccess.field(writer, "position"), which + ": no marker was published");
                }
            }
        }
    }
}
