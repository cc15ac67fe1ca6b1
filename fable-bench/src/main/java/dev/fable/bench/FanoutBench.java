package dev.fable.bench;

import dev.fable.Buffer;
import dev.fable.ConnectOptions;
import dev.fable.Connection;
import dev.fable.Endpoint;
import dev.fable.Fable;
import dev.fable.Publisher;
import dev.fable.WaitMode;
import dev.fable.sync.ThreadAffinity;
import io.aeron.Aeron;
import io.aeron.ExclusivePublication;
import io.aeron.FragmentAssembler;
import io.aeron.Publication;
import io.aeron.Subscription;
import io.aeron.driver.MediaDriver;
import io.aeron.logbuffer.BufferClaim;
import io.aeron.logbuffer.Header;
import org.HdrHistogram.Histogram;
import org.agrona.BufferUtil;
import org.agrona.DirectBuffer;
import org.agrona.MutableDirectBuffer;
import org.agrona.concurrent.UnsafeBuffer;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.FutureTask;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;

/**
 * The peer JVMs of {@code ./fable bench --fanout} (one producer, N consumers; the orchestrator is
 * {@link FanoutRun}). Three families, each a way to get every message of one producer to N consumer
 * processes on this host:
 * <ul>
 *   <li>{@value #FANOUT}: one Fable {@link Publisher}; each consumer a shm subscriber reading the
 *       publisher's fan-out pool in place (one write per message whatever N; a full subscriber
 *       queue drops the message for that subscriber, the publisher never waits for it);</li>
 *   <li>{@value #AERON}: one Aeron IPC exclusive publication, N subscriptions each in its own JVM,
 *       the media driver embedded in the producer ({@link AeronLink#launchDriver}: 64 MiB term,
 *       pre-touched, SHARED with a sleeping idle strategy); the slowest subscriber back-pressures
 *       the publisher (tethered, Aeron's default);</li>
 *   <li>{@value #ONE_TO_ONE}: N one-to-one Fable shm connections with the matrix's
 *       {@code fable-shm-spin} options ({@link FableLink#options}); the producer writes each message
 *       into each connection (a copy per consumer), waiting for room in each.</li>
 * </ul>
 *
 * <p>A message of {@code size} bytes (at least {@link #MIN_SIZE}): word 0 its sequence number (from 0
 * on each opened stream), word 1 its tag ({@code cell << 2 | phase}), word 2 a time ({@code System.nanoTime()}:
 * its send time in a paced cell, the cell's start in a flat-out one); every other byte the sequence number's low byte,
 * all written by the producer for every message. A consumer checks every message: length, sequence
 * number (exactly the next one, or, for the fan-out, the next one after the drops it was told of:
 * {@code seq == received + messagesDropped()}, so a loss nobody told it of fails the run), and its
 * last byte; with {@code --verify} every byte.
 *
 * <p>Roles (one line per command on stdin, one answer line on stdout):
 * {@code producer <family> <name> <cpu> <consumers> <aeronDir> <poolBytes> <logBytes> <quota>}:
 * {@code OPEN <size> <index>} (a stream for that size), {@code TPUT <cell> <warmMs> <measureMs> <tailMs>}
 * (flat out: warm-up, measured, tail phases), {@code LAT <cell> <warmMs> <measureMs> <tailMs> <paceNanos>}
 * (paced, each message stamped), {@code CLOSE}; answers {@code OK} or {@code SENT k=v ...}.
 * {@code consumer <family> <name> <cpu> <shared 0|1> <aeronDir> <verify 0|1>}: {@code OPEN <size> <index>},
 * {@code TPUT|LAT <cell> <warmMs> <measureMs>} (answers {@code GO}, then reads until {@code STOP}, drains, answers
 * {@code RESULT k=v ...}), {@code CLOSE}. Both: {@code READY} once started, {@code ERROR <why>} and
 * exit on a failure, exit on {@code QUIT} or the end of stdin.
 */
public final class FanoutBench {
    static final String FANOUT = "fable-fanout", AERON = "aeron-fanout", ONE_TO_ONE = "fable-1to1";
    static final List<String> FAMILIES = List.of(FANOUT, AERON, ONE_TO_ONE);
    /** Three header words and at least one fill byte after them (the byte the cheap check reads). */
    static final int MIN_SIZE = 32;
    static final int PHASE_WARM = 0, PHASE_MEASURED = 1, PHASE_TAIL = 2;
    /** Aeron stream id of the stream opened for the i-th size: this + i. */
    static final int AERON_STREAM = 2001;
    /** Fragments per Aeron poll, as Aeron's samples ({@code aeron.sample.frameCountLimit}). */
    static final int AERON_POLL_LIMIT = 10;
    /** Half the subscribers' default peer-slot cap: 2 MiB of pool at 64 B ({@link FanoutTx#slotCount}). */
    static final int MAX_FANOUT_SLOTS = 1 << 15;
    /**
     * The fan-out's broadcast log for messages of at most 512 B ({@code -Dfable.bench.fanout.broadcastMiB}, default 16;
     * 0: none, every message takes a fan-out slot and a reference per subscriber).
     */
    static final int BROADCAST_LOG_BYTES = Integer.getInteger("fable.bench.fanout.broadcastMiB", 16) << 20;
    private static final String CHANNEL = "aeron:ipc";
    private static final Duration WAIT = Duration.ofSeconds(30);
    /** A producer that finds no room for this long fails (a consumer stopped reading). */
    private static final long STALL_NANOS = TimeUnit.SECONDS.toNanos(10);
    /** After STOP a consumer reads on until nothing came for this long, so the next cell starts with empty queues. */
    private static final long DRAIN_NANOS = TimeUnit.MILLISECONDS.toNanos(20);

    private FanoutBench() {}

    public static void main(String[] a) {
        try {
            if (a[0].equals("producer")) new Producer(a).serve();
            else new ConsumerPeer(a).serve();
        } catch (Throwable e) {
            System.out.println("ERROR " + a[0] + ": " + oneLine(e));
        }
        System.out.flush();
        System.exit(0);
    }

    static String oneLine(Throwable e) {
        String m = e instanceof BenchFailure ? e.getMessage() : e.getClass().getSimpleName() + ": " + e.getMessage();
        return String.valueOf(m).replaceAll("\\s+", " ").strip();
    }

    private static void say(String line) {
        System.out.println(line);
        System.out.flush();
    }

    static long tag(long cell, int phase) {
        return cell << 2 | phase;
    }

    // ------------------------------------------------------------------ the message

    /** Writes message {@code seq} of {@code size} bytes at the start of {@code s}. */
    static void write(MemorySegment s, long seq, long tag, long stamp, int size) {
        MemorySegment m = s.byteSize() == size ? s : s.asSlice(0, size);
        if (size <= 256) {   // a few stores inline (fill() calls the runtime's memset; see Pattern)
            long w = Pattern.fillWord(seq);
            int i = 24;
            for (; i + 8 <= size; i += 8) m.set(JAVA_LONG_UNALIGNED, i, w);
            for (; i < size; i++) m.set(JAVA_BYTE, i, (byte) seq);
        } else {
            m.fill((byte) seq);
        }
        m.set(JAVA_LONG_UNALIGNED, 0, seq);
        m.set(JAVA_LONG_UNALIGNED, 8, tag);
        m.set(JAVA_LONG_UNALIGNED, 16, stamp);
        if (seq == Pattern.CORRUPT_AT) m.set(JAVA_BYTE, size - 1, (byte) ~seq);
    }

    /** The same message in an Agrona buffer (Aeron's claim or the offer's scratch buffer). */
    static void write(MutableDirectBuffer b, int off, long seq, long tag, long stamp, int size) {
        b.setMemory(off + 24, size - 24, (byte) seq);
        b.putLong(off, seq);
        b.putLong(off + 8, tag);
        b.putLong(off + 16, stamp);
        if (seq == Pattern.CORRUPT_AT) b.putByte(off + size - 1, (byte) ~seq);
    }

    /** Every byte after the three header words is the fill byte (an int-indexed loop, as Pattern's). */
    static boolean filled(MemorySegment m, long off, int len, long seq) {
        long w = Pattern.fillWord(seq), bad = 0;
        int i = 24;
        for (; i + 8 <= len; i += 8) bad |= m.get(JAVA_LONG_UNALIGNED, off + i) ^ w;
        for (; i < len; i++) bad |= (m.get(JAVA_BYTE, off + i) ^ w) & 0xFF;
        return bad == 0;
    }

    static boolean filled(DirectBuffer b, int off, int len, long seq) {
        long w = Pattern.fillWord(seq), bad = 0;
        int i = 24;
        for (; i + 8 <= len; i += 8) bad |= b.getLong(off + i) ^ w;
        for (; i < len; i++) bad |= (b.getByte(off + i) ^ w) & 0xFF;
        return bad == 0;
    }

    // ------------------------------------------------------------------ the producer

    /** One family's way to get a message to every consumer; blocks (spinning) while there is no room. */
    abstract static class Tx implements AutoCloseable {
        final int size;
        private int spins;
        private long waitingSince;

        Tx(int size) {
            this.size = size;
        }

        /** Waits until all {@code n} consumers are there. */
        abstract void awaitConsumers(int n);

        abstract void send(long seq, long tag, long stamp);

        /** (message, subscriber) pairs dropped so far: the fan-out only. */
        long dropped() {
            return 0;
        }

        @Override
        public abstract void close();

        /** No room yet: spin, and fail after {@link #STALL_NANOS} without any. */
        final void backOff() {
            Thread.onSpinWait();
            if ((++spins & 0xFFF) == 0) {
                long now = System.nanoTime();
                if (waitingSince == 0) waitingSince = now;
                else if (now - waitingSince > STALL_NANOS) {
                    throw new BenchFailure("the producer found no room for " + TimeUnit.NANOSECONDS.toSeconds(STALL_NANOS)
                            + " s: a consumer stopped reading");
                }
            }
        }

        final void sent() {
            spins = 0;
            waitingSince = 0;
        }
    }

    /** One publisher, every consumer a subscriber: one write per message, a 16-byte reference per subscriber. */
    static final class FanoutTx extends Tx {
        final Publisher pub;

        FanoutTx(String name, int size, long poolBytes, int logBytes, int quota) {
            super(size);
            int slot = slotSize(size);
            int count = slotCount(slot, poolBytes);
            int broadcast = size <= ConnectOptions.INLINE_MAX_BYTES ? BROADCAST_LOG_BYTES : 0;   // larger messages never use it
            boolean lossless = quota >= count;   // a quota of the whole pool: nothing dropped, the slowest paces (the log too)
            pub = Fable.register(name).publish(ConnectOptions.trusted().waitMode(WaitMode.SPIN).fixedWaitMode(true)
                    .slotSize(slot).slotCount(count).readQuota(quota).logBytes(logBytes).broadcastLog(broadcast, lossless));
        }

        static int slotSize(int size) {
            return Math.max(64, (size + 63) / 64 * 64);
        }

        /**
         * Slots of {@code slot} bytes in about {@code poolBytes}, at most {@link #MAX_FANOUT_SLOTS}: a subscriber refuses a
         * publisher whose slots (its fan-out pool's and its connection pool's) exceed its cap ({@code fable.shm.maxPeerSlots},
         * default 65,536), and the bench keeps every consumer at the library's defaults.
         */
        static int slotCount(int slot, long poolBytes) {
            return (int) Math.max(16, Math.min(MAX_FANOUT_SLOTS, poolBytes / slot));
        }

        @Override
        void awaitConsumers(int n) {
            if (!pub.awaitSubscribers(n, WAIT)) {
                throw new BenchFailure("only " + pub.subscribers().size() + " of " + n + " subscribers joined within " + WAIT.toSeconds() + " s");
            }
        }

        @Override
        void send(long seq, long tag, long stamp) {
            Buffer b;
            while ((b = pub.claim(size)) == null) backOff();
            sent();
            write(b.segment(), seq, tag, stamp, size);
            pub.publish(b);
        }

        @Override
        long dropped() {
            return pub.dropped();
        }

        @Override
        public void close() {
            pub.close();
        }
    }

    /** N one-to-one connections: each message written into each (a copy per consumer). */
    static final class OneToOneTx extends Tx {
        final Endpoint ep;
        final Connection[] conns;
        final Thread acceptor;
        volatile Throwable acceptFailure;

        OneToOneTx(String name, int size, int n) {
            super(size);
            ep = Fable.register(name).listen(FableLink.options(size, WaitMode.SPIN, true));
            conns = new Connection[n];
            acceptor = Thread.ofPlatform().name("acceptor").start(() -> {
                try {
                    for (int i = 0; i < n; i++) {
                        conns[i] = ep.accept(WAIT);
                        if (conns[i] == null) throw new BenchFailure("only " + i + " of " + n + " consumers connected within " + WAIT.toSeconds() + " s");
                    }
                } catch (Throwable t) {
                    acceptFailure = t;
                }
            });
        }

        @Override
        void awaitConsumers(int n) {
            try {
                if (!acceptor.join(WAIT.plusSeconds(5))) throw new BenchFailure("the consumers did not connect within " + WAIT.toSeconds() + " s");
            } catch (InterruptedException e) {
                throw new BenchFailure("interrupted");
            }
            Throwable t = acceptFailure;
            if (t != null) throw t instanceof BenchFailure f ? f : new BenchFailure("accept: " + oneLine(t));
        }

        @Override
        void send(long seq, long tag, long stamp) {
            for (Connection c : conns) {
                Buffer b;
                while ((b = c.claim(size)) == null) backOff();
                sent();
                write(b.segment(), seq, tag, stamp, size);
                b.commit();
            }
        }

        @Override
        public void close() {
            for (Connection c : conns) {
                if (c != null) c.close();
            }
            ep.close();
        }
    }

    /** One Aeron IPC exclusive publication; each consumer's subscription reads the same log. */
    static final class AeronTx extends Tx {
        final ExclusivePublication pub;
        final BufferClaim claim = new BufferClaim();
        final UnsafeBuffer scratch;
        final int maxPayload;

        AeronTx(Aeron aeron, int stream, int size) {
            super(size);
            pub = aeron.addExclusivePublication(CHANNEL, stream);
            scratch = new UnsafeBuffer(BufferUtil.allocateDirectAligned(size, 64));
            maxPayload = pub.maxPayloadLength();
        }

        @Override
        void awaitConsumers(int n) {
            long end = System.nanoTime() + WAIT.toNanos();
            while (!pub.isConnected()) {   // the orchestrator starts a cell only after every subscription saw its image
                if (System.nanoTime() - end > 0) throw new BenchFailure("the Aeron publication has no subscriber after " + WAIT.toSeconds() + " s");
                LockSupport.parkNanos(1_000_000);
            }
        }

        @Override
        void send(long seq, long tag, long stamp) {
            long r;
            if (size <= maxPayload) {   // in place, as Aeron's samples do for one frame
                while ((r = pub.tryClaim(size, claim)) < 0) aeronBackOff(r);
                sent();
                write(claim.buffer(), claim.offset(), seq, tag, stamp, size);
                claim.commit();
            } else {   // above one frame: offer, which Aeron fragments (as AeronLink)
                write(scratch, 0, seq, tag, stamp, size);
                while ((r = pub.offer(scratch, 0, size)) < 0) aeronBackOff(r);
                sent();
            }
        }

        private void aeronBackOff(long r) {
            if (r == Publication.CLOSED || r == Publication.NOT_CONNECTED || r == Publication.MAX_POSITION_EXCEEDED) {
                throw new BenchFailure("aeron publication failed: " + r);
            }
            backOff();   // BACK_PRESSURED or ADMIN_ACTION: retry
        }

        @Override
        public void close() {
            pub.close();
        }
    }

    /**
     * The pinned thread of a peer, which runs each cell's loop. It is started (and pins itself) before
     * the peer opens anything, and the peer's main thread, never pinned, does all set-up: threads a
     * library starts while connecting inherit the CPUs of the thread that connects (Linux affinity is
     * inherited), and must not land on the measured CPU.
     */
    static final class Hot {
        private final LinkedBlockingQueue<FutureTask<String>> tasks = new LinkedBlockingQueue<>();

        Hot(int cpu) {
            Thread.ofPlatform().daemon().name("hot").start(() -> {
                ThreadAffinity.pin(cpu);   // this thread only
                while (true) {
                    try {
                        tasks.take().run();
                    } catch (InterruptedException e) {
                        return;
                    }
                }
            });
        }

        Future<String> submit(Callable<String> task) {
            FutureTask<String> t = new FutureTask<>(task);
            tasks.add(t);
            return t;
        }

        /** The task's answer; its exception rethrown. */
        static String get(Future<String> f) throws Exception {
            try {
                return f.get();
            } catch (ExecutionException e) {
                throw e.getCause() instanceof Exception x ? x : new BenchFailure(oneLine(e.getCause()));
            }
        }
    }

    static final class Producer {
        final String family, name, aeronDir;
        final int cpu, consumers, logBytes, quota;
        final long poolBytes;
        MediaDriver driver;
        Aeron aeron;
        Tx tx;
        long seq;

        Producer(String[] a) {
            family = a[1];
            name = a[2];
            cpu = Integer.parseInt(a[3]);
            consumers = Integer.parseInt(a[4]);
            aeronDir = a[5];
            poolBytes = Long.parseLong(a[6]);
            logBytes = Integer.parseInt(a[7]);
            quota = Integer.parseInt(a[8]);
        }

        void serve() throws Exception {
            Hot hot = new Hot(cpu);
            if (family.equals(AERON)) {
                driver = AeronLink.launchDriver(aeronDir);
                aeron = Aeron.connect(new Aeron.Context().aeronDirectoryName(aeronDir));
            }
            BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
            say("READY");
            try {
                for (String l; (l = in.readLine()) != null; ) {
                    String[] f = l.trim().split(" ");
                    switch (f[0]) {
                        case "OPEN" -> {
                            closeTx();
                            open(Integer.parseInt(f[1]), Integer.parseInt(f[2]));
                            say("OK");
                        }
                        case "TPUT" -> {
                            tx.awaitConsumers(consumers);
                            say(Hot.get(hot.submit(() -> tput(Long.parseLong(f[1]), ms(f[2]), ms(f[3]), ms(f[4])))));
                        }
                        case "LAT" -> {
                            tx.awaitConsumers(consumers);
                            say(Hot.get(hot.submit(() -> lat(Long.parseLong(f[1]), ms(f[2]), ms(f[3]), ms(f[4]), Long.parseLong(f[5])))));
                        }
                        case "CLOSE" -> {
                            closeTx();
                            say("OK");
                        }
                        case "QUIT" -> {
                            return;
                        }
                        default -> throw new BenchFailure("unknown command '" + l + "'");
                    }
                }
            } finally {
                closeTx();
                if (aeron != null) aeron.close();
                if (driver != null) driver.close();
            }
        }

        private static long ms(String s) {
            return TimeUnit.MILLISECONDS.toNanos(Long.parseLong(s));
        }

        void open(int size, int index) {
            String stream = name + "-" + index;
            tx = switch (family) {
                case FANOUT -> new FanoutTx(stream, size, poolBytes, logBytes, quota);
                case ONE_TO_ONE -> new OneToOneTx(stream, size, consumers);
                case AERON -> new AeronTx(aeron, AERON_STREAM + index, size);
                default -> throw new BenchFailure("unknown family " + family);
            };
            seq = 0;
        }

        void closeTx() {
            if (tx != null) {
                Tx t = tx;
                tx = null;
                t.close();
            }
        }

        /** Flat out: warm-up, measured and tail phases by time; the phase is in each message. */
        String tput(long cell, long warm, long measure, long tail) {
            Tx t = tx;
            long mask = t.size >= 4096 ? 0 : 63;   // the clock every 64 small messages (a read costs about 25 ns)
            long t0 = System.nanoTime(), t1 = t0 + warm, t2 = t1 + measure, t3 = t2 + tail;
            int phase = PHASE_WARM;
            long tg = tag(cell, phase), s = seq, startSeq = 0, start = 0, msgs = 0, nanos = 0, drop0 = 0, drops = 0;
            for (long i = 0; ; i++) {
                if ((i & mask) == 0) {
                    long now = System.nanoTime();
                    if (phase == PHASE_WARM && now - t1 >= 0) {
                        phase = PHASE_MEASURED;
                        tg = tag(cell, phase);
                        start = now;
                        startSeq = s;
                        drop0 = t.dropped();
                    } else if (phase == PHASE_MEASURED && now - t2 >= 0) {
                        phase = PHASE_TAIL;
                        tg = tag(cell, phase);
                        nanos = now - start;
                        msgs = s - startSeq;
                        drops = t.dropped() - drop0;
                    } else if (phase == PHASE_TAIL && now - t3 >= 0) {
                        break;
                    }
                }
                if (s == Pattern.SKIP_AT) s++;   // self-test of the consumers' checks (tests only)
                t.send(s++, tg, t0);   // the start time: each consumer places the measured window after it
            }
            seq = s;
            return "SENT msgs=" + msgs + " nanos=" + nanos + " dropped=" + drops + " total=" + s + " droppedAll=" + t.dropped();
        }

        /** Paced: one message per {@code pace} ns, each stamped with its send time; the phase by time as in {@link #tput}. */
        String lat(long cell, long warm, long measure, long tail, long pace) {
            Tx t = tx;
            long t0 = System.nanoTime(), t1 = t0 + warm, t2 = t1 + measure, t3 = t2 + tail, due = t0, s = seq, msgs = 0, drop0 = 0, drops = 0;
            boolean measuring = false;
            while (true) {
                long now;
                while ((now = System.nanoTime()) - due < 0) Thread.onSpinWait();   // alone on its CPU: spin to the due time
                if (now - t3 >= 0) break;
                int phase = now - t1 < 0 ? PHASE_WARM : now - t2 < 0 ? PHASE_MEASURED : PHASE_TAIL;
                if (phase == PHASE_MEASURED) {
                    if (!measuring) {
                        measuring = true;
                        drop0 = t.dropped();
                    }
                    msgs++;
                } else if (phase == PHASE_TAIL && measuring) {
                    measuring = false;
                    drops = t.dropped() - drop0;
                }
                if (s == Pattern.SKIP_AT) s++;
                t.send(s++, tag(cell, phase), System.nanoTime());
                due += pace;
                long after = System.nanoTime();
                if (due - after < 0) due = after;   // late (preempted, or a slow send): no burst to catch up
            }
            seq = s;
            return "SENT msgs=" + msgs + " nanos=" + measure + " dropped=" + drops + " total=" + s + " droppedAll=" + t.dropped();
        }
    }

    // ------------------------------------------------------------------ the consumers

    /**
     * One consumer's end of a stream and the counting of one cell. {@link #poll} takes what arrived
     * (one message for Fable, up to {@link #AERON_POLL_LIMIT} fragments for Aeron) and hands each
     * message to {@link #message}, which checks it and counts it.
     */
    abstract static class Rx implements AutoCloseable {
        final int size;
        final boolean verify;
        private long received;   // messages of this stream so far, every cell
        // the cell
        private long cell = -1, warm, measure, count, stale, told0, toldNow, latMsgs;
        private boolean lat;
        // flat out: the measured window [windowStart, windowEnd) on the host's clock, and the count and time where it was crossed
        private long windowStart, windowEnd, startCount, startAt, endCount, endAt;
        private boolean started, ended;
        private final Histogram hist = new Histogram(TimeUnit.SECONDS.toNanos(10), 3);
        /** Flat out, a clock read per message at 64 KiB, per 8 at 4 KiB, per 64 below (a read costs about 25 ns), and per empty poll. */
        private final long clockMask;
        String failure;

        Rx(int size, boolean verify) {
            this.size = size;
            this.verify = verify;
            this.clockMask = size >= 65536 ? 0 : size >= 4096 ? 7 : 63;
        }

        /** Messages (Aeron: fragments) taken; 0 if nothing had arrived. */
        abstract int poll();

        @Override
        public abstract void close();

        /** A new cell: {@code warm} and {@code measure} (ns) place a flat-out cell's window after the producer's start. */
        void begin(long cell, boolean lat, long warm, long measure) {
            this.cell = cell;
            this.lat = lat;
            this.warm = warm;
            this.measure = measure;
            count = stale = latMsgs = startCount = startAt = endCount = endAt = 0;
            windowStart = windowEnd = 0;
            started = ended = false;
            told0 = toldNow;
            hist.reset();
        }

        final void fail(String why) {
            if (failure == null) failure = why;
        }

        /**
         * One message. {@code told}: the drops this consumer has been told of so far (fan-out), which
         * the message's sequence number must account for exactly.
         */
        final void message(long seq, long tag, long stamp, int len, boolean contentOk, long told) {
            if (failure != null) return;   // still read (the producer may wait for room), but count nothing
            long expect = received + told;
            if (seq != expect) {
                fail(seq < expect ? "message " + seq + " arrived out of order or twice (expected " + expect + ")"
                        : "expected message " + expect + ", got message " + seq + " (messages " + expect + ".." + (seq - 1) + " lost"
                        + (told > 0 || this instanceof FableRx f && f.fanout ? " without a DROPPED notice)" : ")"));
                return;
            }
            received++;
            toldNow = told;
            if (len != size) {
                fail("message " + seq + " has " + len + " bytes, not " + size);
                return;
            }
            if (!contentOk) {
                fail("message " + seq + " has wrong bytes");
                return;
            }
            if (tag >>> 2 != cell) {   // left over from an earlier cell (none after a drain)
                stale++;
                return;
            }
            if (lat) {
                if ((tag & 3) == PHASE_MEASURED) {
                    latMsgs++;
                    hist.recordValue(Math.min(hist.getHighestTrackableValue(), Math.max(0, System.nanoTime() - stamp)));
                }
                return;
            }
            if (windowEnd == 0) {   // a flat-out message carries the producer's start time
                windowStart = stamp + warm;
                windowEnd = windowStart + measure;
            }
            if ((++count & clockMask) == 0) tick();
        }

        /**
         * Flat out: reads the clock and notes where it crossed the window's start and end (the count of
         * this cell's messages then, and the time). Called every {@link #clockMask} + 1 messages, on every
         * empty poll and at STOP.
         */
        final void tick() {
            if (lat || windowEnd == 0 || ended) return;
            long now = System.nanoTime();
            if (!started && now - windowStart >= 0) {
                started = true;
                startCount = count;
                startAt = now;
            }
            if (started && now - windowEnd >= 0) {
                ended = true;
                endCount = count;
                endAt = now;
            }
        }

        /**
         * The cell's answer. Flat out: the messages this consumer received while the host's clock was in
         * the measured window (from the producer's start + warm-up, for the measured time), whatever
         * phase the producer wrote in them: what it delivered in that time, also when it ran behind.
         * Paced: the latency percentiles of the measured phase. Both: the drops it was told of.
         */
        String result() {
            if (failure != null) return "ERROR consumer: " + failure;
            if (lat) {   // no percentiles without a measured message (the report shows none, not 0 ns)
                return "RESULT msgs=" + latMsgs + " told=" + (toldNow - told0) + " stale=" + stale + (latMsgs == 0 ? ""
                        : " p50=" + hist.getValueAtPercentile(50) + " p99=" + hist.getValueAtPercentile(99) + " max=" + hist.getMaxValue());
            }
            tick();   // at STOP the window has ended (the producer sent past it)
            return "RESULT msgs=" + (ended ? endCount - startCount : 0) + " nanos=" + (ended ? endAt - startAt : 0) + " told="
                    + (toldNow - told0) + " stale=" + stale;
        }
    }

    /**
     * A Fable connection (a subscription, or one end of a one-to-one connection): up to {@link #AERON_POLL_LIMIT} buffers
     * per {@link Connection#poll(dev.fable.MessageHandler, int)}, as Aeron's poll, each checked where the handler gets it.
     */
    static final class FableRx extends Rx {
        final Connection c;
        final boolean fanout;
        private long lastTold;
        private boolean toldMoved;
        private final dev.fable.MessageHandler handler = this::onMessage;

        FableRx(Connection c, boolean fanout, int size, boolean verify) {
            super(size, verify);
            this.c = c;
            this.fanout = fanout;
        }

        @Override
        int poll() {
            int n = c.poll(handler, AERON_POLL_LIMIT);
            if (toldMoved) {   // take the DROPPED events, which would pile up
                toldMoved = false;
                while (c.pollEvent() != null) {
                    // counted by messagesDropped
                }
            }
            return n;
        }

        private void onMessage(MemorySegment m, long off, int len) {
            if (len < MIN_SIZE) {
                fail("a message of " + len + " bytes arrived");
                return;
            }
            long seq = m.get(JAVA_LONG_UNALIGNED, off), tag = m.get(JAVA_LONG_UNALIGNED, off + 8), stamp = m.get(JAVA_LONG_UNALIGNED, off + 16);
            boolean ok = m.get(JAVA_BYTE, off + len - 1) == (byte) seq && (!verify || filled(m, off, len, seq));
            long told = c.messagesDropped();   // a counter: told before the message after the drops
            if (told != lastTold) {
                lastTold = told;
                toldMoved = true;
            }
            message(seq, tag, stamp, len, ok, told);
        }

        @Override
        public void close() {
            c.close();
        }
    }

    /** An Aeron subscription: poll fragments, reassembled by a FragmentAssembler, checked in place. */
    static final class AeronRx extends Rx {
        final Subscription sub;
        final FragmentAssembler assembler;

        AeronRx(Aeron aeron, int stream, int size, boolean verify) {
            super(size, verify);
            sub = aeron.addSubscription(CHANNEL, stream);
            long end = System.nanoTime() + WAIT.toNanos();
            while (!sub.isConnected()) {   // the publication's image is there
                if (System.nanoTime() - end > 0) throw new BenchFailure("no Aeron image on stream " + stream + " after " + WAIT.toSeconds() + " s");
                LockSupport.parkNanos(1_000_000);
            }
            assembler = new FragmentAssembler(this::onMessage);
        }

        @Override
        int poll() {
            return sub.poll(assembler, AERON_POLL_LIMIT);
        }

        /** Must not throw: Aeron would pass the exception to its error handler and consume the fragment. */
        private void onMessage(DirectBuffer b, int off, int len, Header h) {
            if (len < MIN_SIZE) {
                fail("a message of " + len + " bytes arrived");
                return;
            }
            long seq = b.getLong(off);
            boolean ok = b.getByte(off + len - 1) == (byte) seq && (!verify || filled(b, off, len, seq));
            message(seq, b.getLong(off + 8), b.getLong(off + 16), len, ok, 0);
        }

        @Override
        public void close() {
            sub.close();
        }
    }

    static final class ConsumerPeer {
        final String family, name, aeronDir;
        final int cpu;
        final boolean shared, verify;
        volatile boolean stop;
        Aeron aeron;
        Rx rx;

        ConsumerPeer(String[] a) {
            family = a[1];
            name = a[2];
            cpu = Integer.parseInt(a[3]);
            shared = a[4].equals("1");
            aeronDir = a[5];
            verify = a[6].equals("1");
        }

        void serve() throws Exception {
            Hot hot = new Hot(cpu);
            if (family.equals(AERON)) aeron = Aeron.connect(new Aeron.Context().aeronDirectoryName(aeronDir));
            BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
            say("READY");
            try {
                for (String l; (l = in.readLine()) != null; ) {
                    String[] f = l.trim().split(" ");
                    switch (f[0]) {
                        case "OPEN" -> {
                            closeRx();
                            rx = open(Integer.parseInt(f[1]), Integer.parseInt(f[2]));
                            say("OK");
                        }
                        case "TPUT", "LAT" -> {
                            Rx r = rx;
                            r.begin(Long.parseLong(f[1]), f[0].equals("LAT"), f.length > 3 ? Long.parseLong(f[2]) * 1_000_000 : 0,
                                    f.length > 3 ? Long.parseLong(f[3]) * 1_000_000 : 0);
                            stop = false;
                            Future<String> done = hot.submit(() -> {
                                read(r);
                                return r.result();
                            });
                            say("GO");
                            String next;
                            while ((next = in.readLine()) != null && !next.trim().equals("STOP")) {
                                // nothing else comes during a cell
                            }
                            stop = true;   // also when stdin ended: the orchestrator is gone
                            say(Hot.get(done));
                            if (r.failure != null || next == null) return;
                        }
                        case "CLOSE" -> {
                            closeRx();
                            say("OK");
                        }
                        case "QUIT" -> {
                            return;
                        }
                        default -> throw new BenchFailure("unknown command '" + l + "'");
                    }
                }
            } finally {
                closeRx();
                if (aeron != null) aeron.close();
            }
        }

        Rx open(int size, int index) {
            String uri = "xio+shm://" + name + "-" + index;
            return switch (family) {
                case FANOUT -> new FableRx(Fable.subscribe(uri, ConnectOptions.trusted().waitMode(WaitMode.SPIN).fixedWaitMode(true)
                        .connectTimeout(WAIT)), true, size, verify);
                case ONE_TO_ONE -> new FableRx(Fable.connect(uri, FableLink.options(size, WaitMode.SPIN, true).connectTimeout(WAIT)), false, size, verify);
                case AERON -> new AeronRx(aeron, AERON_STREAM + index, size, verify);
                default -> throw new BenchFailure("unknown family " + family);
            };
        }

        void closeRx() {
            if (rx != null) {
                Rx r = rx;
                rx = null;
                r.close();
            }
        }

        /**
         * Reads until STOP, then until nothing came for {@link #DRAIN_NANOS}. Between polls that find
         * nothing: a spin hint when this consumer has its CPU to itself, {@code Thread.yield()} when
         * it shares it with other consumers (a spinning one would keep the CPU from them for a whole
         * time slice). The same for every family.
         */
        void read(Rx r) {
            if (shared) {
                while (!stop) {
                    if (r.poll() == 0) {
                        r.tick();
                        Thread.yield();
                    }
                }
            } else {
                while (!stop) {
                    if (r.poll() == 0) {
                        r.tick();
                        Thread.onSpinWait();
                    }
                }
            }
            r.tick();
            long quietSince = System.nanoTime();
            while (System.nanoTime() - quietSince < DRAIN_NANOS) {
                if (r.poll() > 0) quietSince = System.nanoTime();
                else Thread.yield();
            }
        }
    }
}
