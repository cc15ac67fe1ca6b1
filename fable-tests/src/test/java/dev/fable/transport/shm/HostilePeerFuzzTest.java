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
 * {@link ShmConnection}. Each connection carries a run of random benign cases (values a correct side
 * must accept: random slots, lengths and MORE bits, out-of-order releases naming slots not polled
 * yet, garbage length bits in released pointers, garbage in registers, headers and payloads it must
 * not trust) and ends with one fatal value, a clean close, or (one in ten) chaos. The peer announces
 * the plan in the connection's first message and the victim checks that it fails exactly there, with
 * the right words, and never earlier. Counted cases are the ones the victim processed and checked
 * (a benign case counts once the victim is past it, a fatal one when it failed correctly). Each
 * direction runs until 110,000 cases, about 2,000 of them fatal, on about 2,000 connections, six at a
 * time. A healthy echo connection to the same hostile process is used throughout and at the end.
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
        final AtomicLong smallRead = new AtomicLong();   // buffers read in place from small slots (pool 1)
        final long[] byKind = new long[8];   // the peer's fatal kinds, then chaos

        long cases() {
            return benign.get() + fatal.get();
        }

        synchronized void kind(int k) {
            byKind[k]++;
        }

        @Override
        public synchronized String toString() {
            return cases() + " cases (" + benign.get() + " benign, " + fatal.get() + " fatal) on " + connections.get()
                    + " connections (" + clean.get() + " closed cleanly); fatal by kind " + Arrays.toString(Arrays.copyOf(byKind, 7))
                    + " + " + byKind[7] + " chaos" + (smallRead.get() > 0 ? "; " + smallRead.get() + " buffers read in place from small slots" : "");
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
                    + (chaos() ? "chaos" : fatal >= 0 ? "fatal '" + kinds[kind] + "' at " + fatal : "clean close at " + clean)
                    + ", " + benign + " benign before)";
        }
    }

    /**
     * Checks the exception a fatal value produced and the connection state after it. A planned failure
     * must give its exact reason; chaos any of the reasons of that side ({@code op}).
     */
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
            tally.kind(plan.chaos() ? 7 : plan.kind());
        } catch (Throwable t) {
            t.addSuppressed(e);
            findings.add(victim + ": wrong failure", t);
        }
    }

    static void checkFailure(Connection c, CorruptChannelException e, Plan p, long hostilePid, String op) {
        String m = e.getMessage();
        assertNotNull(m);
        assertTrue(m.contains("shm connection '"), () -> "the message does not name the connection: " + m);
        assertTrue(m.contains("(pid " + hostilePid + ")"), () -> "the message does not name the peer's pid: " + m);
        int[] reasons = !p.chaos() ? new int[] {p.expect()} : op.equals("poll")
                ? new int[] {EXPECT_STAMP, EXPECT_BOUNDS, EXPECT_HELD}
                : new int[] {EXPECT_READ_REGISTER, EXPECT_RELEASED_POINTER};
        assertTrue(Arrays.stream(reasons).anyMatch(r -> m.contains(expectedWords(r))), () -> "expected "
                + Arrays.stream(reasons).mapToObj(r -> "'" + expectedWords(r) + "'").toList() + " in: " + m);
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
        Tally tally = new Tally();
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
        assertTrue(tally.smallRead.get() >= 1000, "the hostile producer's valid small slots were hardly read: " + tally);
    }

    /** The reading side of one connection: polls, checks every buffer, holds and releases some out of order. */
    static final class ReaderVictim implements Victim {
        final Connection c;
        final boolean trusted;
        final Random rnd;
        final long hostilePid;
        final Findings findings;
        final Tally tally;
        final List<Buffer> held = new ArrayList<>();
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
        }

        @Override
        public boolean step(long now) {
            try {
                for (int i = 0; i < 32; i++) {
                    Buffer b = c.poll();
                    if (b == null && rnd.nextInt(32) == 0) {
                        try {
                            b = c.receive(SHORT_WAIT);   // spin, arm and sleep on a WRITE/CONSUMER_PARKED the peer scribbles on
                        } catch (ConnectionClosedException e) {
                            return endedCleanly();
                        }
                    }
                    if (b == null) {
                        releaseHeld();   // the writer may be waiting for our slots
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

        private void check(Buffer b, long position) {
            if (position == 0) {
                plan = Plan.read(b);
                if (plan.chaos()) {
                    b.release();   // tells the peer the plan was read (READ moves): chaos may start
                } else {
                    planBuffer = b;   // kept to the end: a trusted reader holds its slot all along
                }
                assertEquals(plan.benign(), plan.chaos() ? 0 : plan.fatal() >= 0 ? plan.fatal() - 1 : plan.clean() - 1, "plan arithmetic");
                maxHeld = Math.max(0, Math.min(3, Math.min(32, plan.slotCount()) - 2));
                return;
            }
            assertNotNull(plan);
            if (plan.fatal() >= 0) assertTrue(position < plan.fatal(), "accepted the fatal entry at position " + position);
            else if (!plan.chaos()) assertTrue(position < plan.clean(), "got more entries than were published: position " + position);
            int length = b.length();
            int capacity = b.capacity();
            boolean small = trusted && capacity == ShmLayout.SMALL_SLOT_SIZE && plan.slotSize() >= ShmLayout.SMALL_SLOTS_FROM;   // pool 1, read in place
            if (small) tally.smallRead.incrementAndGet();
            assertEquals(small ? ShmLayout.SMALL_SLOT_SIZE : plan.slotSize(), capacity, "capacity");
            assertTrue(length >= 0 && length <= capacity, "length " + length + " of " + capacity);
            assertTrue(b.isReadOnly());
            assertEquals(trusted ? Buffer.Kind.SHM_SLOT : Buffer.Kind.PRIVATE_COPY, b.kind());
            MemorySegment s = b.segment();
            assertEquals(capacity, s.byteSize());
            b.get(0, scratch, 0, length);   // every byte the buffer claims to have is readable
            if (length > 0) b.getByte(length - 1);
            s.get(JAVA_BYTE, capacity - 1);
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
            return (trusted ? "trusted" : "untrusted") + " reader of " + (plan == null ? "(no plan yet) " + c : plan.describe(PRODUCER_KINDS));
        }
    }

    // =====================================================================================
    // This side produces, the hostile peer consumes.
    // =====================================================================================

    @Test
    void hostileConsumerNeverPushesTheWriterOutOfBounds() throws Exception {
        System.out.println("HostilePeerFuzzTest seed " + SEED + " (rerun with -Dfable.fuzz.seed=" + SEED + ")");
        Findings findings = new Findings();
        Tally tally = new Tally();
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
                        ConnectOptions o = (rnd.nextBoolean() ? ConnectOptions.trusted() : ConnectOptions.untrusted())
                                .slotSize(64 * (1 + rnd.nextInt(rnd.nextBoolean() ? 2 : 16)))
                                .slotCount(2 + rnd.nextInt(rnd.nextBoolean() ? 7 : 47))
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

    /** The writing side of one connection: holds one claimed slot, then publishes whenever a slot is free. */
    static final class WriterVictim implements Victim {
        final Connection c;
        final ConnectOptions options;
        final Random rnd;
        final long hostilePid;
        final Findings findings;
        final Tally tally;
        final Semaphore inFlight;
        Buffer kept;
        Plan plan;
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

        @Override
        public boolean step(long now) {
            try {
                if (kept == null) {
                    kept = c.claim(ShmLayout.SMALL_SLOT_SIZE + 1);   // more than a small slot takes: a slot of pool 0
                    assertNotNull(kept, "first claim");
                    assertEquals(0, ((SlotBuffer) kept).slot(), "the first claim takes slot 0 (the peer relies on it)");
                }
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
                }
                for (int i = 0; i < 64; i++) {
                    long sent = c.fragmentsSent();
                    if (plan.fatal() >= 0) assertTrue(sent <= plan.fatal(), "claimed past the planned failure");
                    else if (!plan.chaos()) assertTrue(sent <= plan.clean(), "claimed more than the peer released");
                    // claim(0) is a usage error. Where the pool has small slots, claims stay above their size: the hostile
                    // consumer's model is one pool whose every slot but the kept one is published (PackedSlotsTest covers pool 1).
                    int least = options.slotSize() >= ShmLayout.SMALL_SLOTS_FROM ? ShmLayout.SMALL_SLOT_SIZE + 1 : 1;
                    int max = least + rnd.nextInt(options.slotSize() + 100 - least);
                    Buffer b = c.claim(max);
                    if (b == null && rnd.nextInt(32) == 0) b = c.claim(max, SHORT_WAIT);   // wait on a READ/PRODUCER_PARKED the peer scribbles on
                    if (b == null) break;
                    lastProgress = now;
                    boolean small = max <= ShmLayout.SMALL_SLOT_SIZE && options.slotSize() >= ShmLayout.SMALL_SLOTS_FROM;
                    assertEquals(small ? ShmLayout.SMALL_SLOT_SIZE : options.slotSize(), b.capacity(), "a small claim is packed into a small slot");
                    assertEquals(Math.min(max, options.slotSize()), b.length());
                    assertFalse(b.isReadOnly());
                    int length = rnd.nextInt(b.capacity() + 1);
                    if (length >= 8) b.putLong(0, sent);
                    if (length > 0) b.putByte(length - 1, (byte) sent);
                    b.length(length);
                    if (rnd.nextInt(4) == 0) b.commitFragment(); else b.commit();
                }
                if (now - lastProgress > HANG_NANOS) {
                    findings.add(this + ": no slot came back for 20 s (" + c.fragmentsSent() + " sent, state " + c.state() + ")");
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
            return "writer of " + (plan == null ? "(no plan yet) " + c : plan.describe(CONSUMER_KINDS));
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
        attempt(out, "segment().asSlice().set", () -> b.segment().asSlice(8).set(JAVA_INT, 0, 1));
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

    @Test
    void writesThroughReadBuffersThrowAndNeitherJvmCrashes() throws Exception {
        String t = unique("victim-rt");
        String u = unique("victim-ru");
        byte[] pattern = new byte[256];
        new Random(SEED).nextBytes(pattern);
        try (Endpoint trusted = Fable.register(t).listen(ConnectOptions.trusted().slotSize(256).slotCount(4));
             Endpoint untrusted = Fable.register(u).listen(ConnectOptions.untrusted().slotSize(256).slotCount(4));
             PeerProcess peer = PeerProcess.start(HostilePeer.class, "readonly", t, u)) {
            Connection ct = trusted.accept(Duration.ofSeconds(30));
            Connection cu = untrusted.accept(Duration.ofSeconds(30));
            assertNotNull(ct);
            assertNotNull(cu);
            ct.send(pattern);
            cu.send(pattern);
            // the peer's attempts: on its zero-copy view of our pool (read-only mapping) and on its private copy
            for (Buffer.Kind kind : List.of(Buffer.Kind.SHM_SLOT, Buffer.Kind.PRIVATE_COPY)) {
                for (int i = 0; i < 16; i++) {
                    String l = peer.expectLine("ATTEMPT " + kind + " ");
                    assertRefused(l);
                }
                String unchanged = peer.expectLine("UNCHANGED " + kind + " true");
                assertTrue(unchanged.endsWith("first=" + java.nio.ByteBuffer.wrap(pattern).order(java.nio.ByteOrder.nativeOrder()).getLong(0)), unchanged);
            }
            peer.expectLine("DONE");
            // our own attempts, on the peer's pool (trusted) and on a private copy (untrusted)
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
    // The end of an epoch: the writer reads the consumer's READ once more, to fit its marker.
    // =====================================================================================

    /**
     * A consumer that moves READ out of range just as this side ends its epoch (a reconfiguration's
     * end-of-epoch marker, {@code RingWriter.commitEndOfEpoch}): behind what this side already
     * reclaimed, beyond what it published, and the extremes that overflow {@code position - READ}.
     * The marker is not written and the connection fails with a CorruptChannelException naming the
     * value. In process: the accepting side's own mapping of this side's ring is the peer's view of it.
     */
    @Test
    void aReadRegisterOutOfRangeWhenTheEpochEndsFailsTheConnection() throws Exception {
        ConnectOptions o = ConnectOptions.trusted().slotSize(64).slotCount(4);
        for (String which : List.of("behind reclaimed", "beyond written", "Long.MIN_VALUE", "Long.MAX_VALUE")) {
            String name = unique("epoch-read");
            try (Endpoint ep = Fable.register(name).listen(o)) {
                CompletableFuture<Connection> accepted = CompletableFuture.supplyAsync(() -> ep.accept(Duration.ofSeconds(10)));
                try (Connection c = Fable.connect("xio+shm://" + name, o); Connection peer = accepted.get(30, TimeUnit.SECONDS)) {
                    for (int i = 0; i < 6; i++) {   // more than the 4 slots: the writer has reclaimed released ones
                        c.send(new byte[] {(byte) i});
                        Buffer b = peer.receive(Duration.ofSeconds(10));
                        assertNotNull(b);
                        b.release();
                    }
                    Object writer = HostileAccess.field(((dev.fable.flow.LiveConnection) c).leg(), "out");
                    long reclaimed = (long) HostileAccess.field(writer, "reclaimed");
                    long position = (long) HostileAccess.field(writer, "position");
                    assertTrue(reclaimed > 0 && position == 6, "reclaimed " + reclaimed + ", position " + position);
                    long bad = switch (which) {
                        case "behind reclaimed" -> reclaimed - 1;
                        case "beyond written" -> position + 1;
                        case "Long.MIN_VALUE" -> Long.MIN_VALUE;
                        default -> Long.MAX_VALUE;
                    };
                    MemorySegment ring = HostileAccess.Rings.incoming(peer).ring();   // the consumer's mapping of c's outgoing ring
                    ShmLayout.putReadRegisterRelease(ring, bad);
                    ShmConnection leg = (ShmConnection) ((dev.fable.flow.LiveConnection) c).leg();
                    CorruptChannelException e = assertThrows(CorruptChannelException.class, leg::tryFinishOutput, which);
                    assertTrue(e.getMessage().contains("READ register to " + bad + ", outside [" + reclaimed + ", " + position + "]"),
                            which + ": " + e.getMessage());
                    assertEquals(ConnectionState.FAILED, leg.state(), which);
                    assertEquals(position, (long) HostileAccess.field(writer, "position"), which + ": no marker was published");
                }
            }
        }
    }
}
