package dev.fable.bench;

import dev.fable.Buffer;
import dev.fable.ConnectOptions;
import dev.fable.Connection;
import dev.fable.ConnectionClosedException;
import dev.fable.PeerGoneException;
import dev.fable.Endpoint;
import dev.fable.Fable;
import dev.fable.WaitMode;
import dev.fable.sync.ThreadAffinity;
import org.HdrHistogram.Histogram;

import java.lang.foreign.MemorySegment;
import java.lang.management.ManagementFactory;
import java.time.Duration;

import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;

/**
 * One side of a benchmark cell, run in its own JVM by {@link IpcBench}. The hot loop runs on the
 * main thread, pinned to one CPU (only that thread: pinning the whole JVM would shrink its
 * ergonomics to one CPU). Results are printed as {@code RESULT key=value ...} lines.
 *
 * <p>Usage: {@code BenchPeer <server|client> <name> <lat|tput> <size> <spin|adaptive|block>
 * <trusted|untrusted|unix|tcp|tls|auto> <cpu> <warmup> <measure>} where warmup/measure are milliseconds
 * (tput), round trips (lat) or connections (rdv). trusted/untrusted run over {@code xio+shm://};
 * unix/tcp/tls force that transport ({@code xio+unix://} ...); auto connects with {@code xio://} and
 * lets the naming layer choose. The client prints {@code CONNECTED transport=<t>} once connected, or
 * {@code ERROR ...} if the connect failed.
 *
 * <p>Every message is filled completely by the writer ({@code fill} with the low byte of its sequence
 * number) and every byte is checked by the reader, as ipc-bench does.
 */
public final class BenchPeer {
    private static final Duration FOREVER = Duration.ofSeconds(-1);
    /**
     * Latency cells: warm up for at least this long as well as for the given round trips (the
     * orchestrator sets it for socket cells, whose few thousand warm-up round trips alone may end
     * before the JIT has compiled the loop, e.g. when auto picks shm).
     */
    static final long MIN_WARM_NANOS = Long.getLong("fable.bench.minWarmMs", 0) * 1_000_000L;
    private static final com.sun.management.ThreadMXBean THREADS =
            (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
    private static final com.sun.management.OperatingSystemMXBean OS =
            (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();

    /** CPU time of this whole process so far, for the orchestrator's quiet-machine check. */
    static String cpu() {
        return " cpuNanos=" + OS.getProcessCpuTime() + " sleeps=" + dev.fable.sync.Tripwire.sleeps() + " wakes=" + dev.fable.sync.Tripwire.wakes();
    }

    public static void main(String[] a) throws Exception {
        String role = a[0], name = a[1], kind = a[2];
        int size = Integer.parseInt(a[3]);
        WaitMode mode = WaitMode.valueOf(a[4].toUpperCase());
        String variant = a[5];
        boolean trusted = !variant.equals("untrusted");
        int cpu = Integer.parseInt(a[6]);
        long warmup = Long.parseLong(a[7]);
        long measure = Long.parseLong(a[8]);
        ThreadAffinity.pin(cpu);
        // Rendezvous cells measure what users get: the default pool, not the bench's 2 MiB of slots.
        ConnectOptions o = kind.equals("rdv") ? ConnectOptions.trusted().waitMode(mode) : options(size, mode, trusted);
        if (role.equals("server")) {
            try (Endpoint ep = Fable.register(name).listen(o)) {
                System.out.println("READY");
                System.out.flush();
                if (kind.equals("rdv")) {
                    greet(ep, size, warmup + measure);
                } else {
                    try (Connection c = ep.accept()) {
                        if (kind.equals("tput")) receive(c, warmup, measure); else echo(c);
                    }
                }
            }
        } else {
            String uri = uri(variant, name);
            if (kind.equals("rdv")) {
                rendezvous(uri, o.connectTimeout(Duration.ofSeconds(10)), size, warmup, measure);
            } else {
                Connection c;
                try {
                    c = Fable.connect(uri, o.connectTimeout(Duration.ofSeconds(10)));
                } catch (RuntimeException e) {
                    fail("connect " + uri + ": " + e);
                    return;
                }
                System.out.println("CONNECTED transport=" + c.transport());
                System.out.flush();
                try (c) {
                    if (kind.equals("tput")) send(c, size); else ping(c, size, warmup, measure);
                }
            }
        }
        awaitRelease();
    }

    /**
     * The URI for a cell variant: shared memory for the trusted/untrusted cells, a forced socket
     * transport for unix/tcp/tls, and {@code xio://} (the naming layer chooses) for auto.
     */
    static String uri(String variant, String name) {
        return switch (variant) {
            case "trusted", "untrusted", "shm" -> "xio+shm://" + name;
            case "unix", "tcp", "tls" -> "xio+" + variant + "://" + name;
            case "auto" -> "xio://" + name;
            default -> throw new IllegalArgumentException("unknown bench variant " + variant);
        };
    }

    /**
     * Rendezvous cell, listener side: accepts {@code count} connections, sends each its first message
     * ({@code size} bytes of sequence 0) at once, and hands it to another thread that waits for the
     * peer's close, so the accept loop is back in {@code accept} before the next connect.
     */
    static void greet(Endpoint ep, int size, long count) throws InterruptedException {
        java.util.concurrent.BlockingQueue<Connection> done = new java.util.concurrent.LinkedBlockingQueue<>();
        Thread closer = Thread.ofPlatform().daemon().start(() -> {
            try {
                for (long i = 0; i < count; i++) {
                    try (Connection c = done.take()) {
                        while (true) c.receive(FOREVER).release();
                    } catch (ConnectionClosedException | PeerGoneException end) {
                        // the connector closed: next one
                    }
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        for (long i = 0; i < count; i++) {
            Connection c = ep.accept();
            Buffer b = c.claim(size, FOREVER);
            b.segment().fill((byte) 0);
            b.commit();
            done.add(c);
        }
        closer.join();
        System.out.println("RESULT side=listener accepted=" + count + cpu());
    }

    /**
     * Gap between two rendezvous, not timed: the latency of one connect on a warm system, not the
     * rate of a connect storm (which pool preparation bounds: about 4 ms of CPU per side for the
     * default 8 MiB shared-memory pool here). {@code -Dfable.bench.rdvPaceMs=0} measures the storm.
     */
    static final long RDV_PACE_MS = Long.getLong("fable.bench.rdvPaceMs", 20);

    /**
     * Rendezvous cell, connecting side: times {@code Fable.connect(uri)} up to the first message
     * received (and checked), {@code warmup + measure} times, closing each connection after it.
     */
    static void rendezvous(String uri, ConnectOptions o, int size, long warmup, long measure) throws InterruptedException {
        Histogram h = new Histogram(3_600_000_000_000L, 3), connectOnly = new Histogram(3_600_000_000_000L, 3);
        String transport = "?";
        for (long i = 0; i < warmup + measure; i++) {
            long t0 = System.nanoTime();
            Connection c;
            try {
                c = Fable.connect(uri, o);
            } catch (RuntimeException e) {
                fail("connect " + uri + ": " + e);
                return;
            }
            if (i >= warmup) connectOnly.recordValue(System.nanoTime() - t0);
            try (c) {
                Buffer r = c.receive(FOREVER);
                check(r, 0, size);
                r.release();
                long t = System.nanoTime() - t0;
                if (i >= warmup) h.recordValue(t);
                transport = c.transport();
            }
            if (i == 0) {
                System.out.println("CONNECTED transport=" + transport);
                System.out.flush();
            }
            if (RDV_PACE_MS > 0) Thread.sleep(RDV_PACE_MS);   // pacing between measured connects, outside the timed span
        }
        System.out.printf("RESULT side=connector rts=%d p50=%d p90=%d p99=%d p999=%d max=%d allocBytes=-1 connectP50=%d transport=%s%s%n", measure,
                h.getValueAtPercentile(50), h.getValueAtPercentile(90), h.getValueAtPercentile(99),
                h.getValueAtPercentile(99.9), h.getMaxValue(), connectOnly.getValueAtPercentile(50), transport, cpu());
    }

    /** Stays alive until the orchestrator closes our stdin, so it can read our CPU time from /proc first. */
    static void awaitRelease() throws java.io.IOException {
        System.out.flush();
        while (System.in.read() >= 0) {
            // discard
        }
    }

    /** Slots of the message size, about 2 MiB of pool (ring size hardly matters, see the notes). */
    static ConnectOptions options(int size, WaitMode mode, boolean trusted) {
        int slot = Math.max(64, (size + 63) / 64 * 64);
        int count = Math.max(16, Math.min(1 << 16, (2 << 20) / slot));
        return (trusted ? ConnectOptions.trusted() : ConnectOptions.untrusted()).waitMode(mode).slotSize(slot).slotCount(count);
    }

    static long pattern(long seq) {
        return (seq & 0xFF) * 0x0101010101010101L;
    }

    /**
     * Checks every byte of the message (as longs; sizes are multiples of 8). Unaligned reads: a
     * stream transport's receive buffer may start at any offset (4 after a length prefix), and on
     * x86 they cost the same as aligned ones.
     */
    static void check(Buffer b, long seq, int size) {
        MemorySegment s = b.segment();
        long p = pattern(seq);
        int n = b.length();
        if (n != size) fail("message " + seq + " has " + n + " bytes, expected " + size);
        long bad = 0;
        for (int i = 0; i < n; i += 8) {
            bad |= s.get(JAVA_LONG_UNALIGNED, i) ^ p;
        }
        if (bad != 0) fail("message " + seq + " has wrong bytes");
    }

    static void fail(String why) {
        System.out.println("ERROR " + why);
        System.out.flush();
        System.exit(1);
    }

    static void send(Connection c, int size) {
        long seq = 0;
        long allocStart = 0, seqStart = 0;
        try {
            while (true) {
                Buffer b = c.claim(size, FOREVER);
                b.segment().fill((byte) seq);
                b.commit();
                seq++;
                if (seq == 20_000) {   // after JIT warm-up; early enough for 64 KiB runs
                    allocStart = THREADS.getCurrentThreadAllocatedBytes();
                    seqStart = seq;
                }
            }
        } catch (ConnectionClosedException | PeerGoneException end) {   // the peer is done (a socket peer may look gone)
            long alloc = THREADS.getCurrentThreadAllocatedBytes() - allocStart;
            System.out.println("RESULT side=writer transport=" + c.transport() + " sent=" + seq + " allocMsgs=" + (seqStart == 0 ? 0 : seq - seqStart)
                    + " allocBytes=" + (seqStart == 0 ? -1 : alloc) + cpu());
        }
    }

    static void receive(Connection c, long warmupMs, long measureMs) {
        long seq = 0;
        long start = System.nanoTime();
        long warmEnd = start + warmupMs * 1_000_000L;
        long end = warmEnd + measureMs * 1_000_000L;
        long t0 = 0, seq0 = 0, alloc0 = 0, bytes = 0;
        int size = -1;
        boolean measuring = false;
        while (true) {
            Buffer b = c.receive(FOREVER);
            if (size < 0) size = b.length();
            check(b, seq, size);
            b.release();
            seq++;
            if (measuring) bytes += size;
            if ((seq & 1023) == 0) {
                long now = System.nanoTime();
                if (!measuring && now >= warmEnd) {
                    measuring = true;
                    t0 = now;
                    seq0 = seq;
                    alloc0 = THREADS.getCurrentThreadAllocatedBytes();
                } else if (measuring && now >= end) {
                    long alloc = THREADS.getCurrentThreadAllocatedBytes() - alloc0;
                    long msgs = seq - seq0;
                    double secs = (now - t0) / 1e9;
                    System.out.printf("RESULT side=reader msgs=%d secs=%.3f msgPerSec=%.0f bytesPerSec=%.0f allocBytes=%d%s%n",
                            msgs, secs, msgs / secs, bytes / secs, alloc, cpu());
                    return;
                }
            }
        }
    }

    static void ping(Connection c, int size, long warmup, long measure) {
        Histogram h = new Histogram(3_600_000_000_000L, 3);
        long alloc0 = 0;
        long warmEnd = System.nanoTime() + MIN_WARM_NANOS;
        for (long i = 0; i < warmup + measure; i++) {
            if (i == warmup) {
                if (System.nanoTime() < warmEnd) warmup++;   // not warm long enough yet: one more warm-up round trip
                else alloc0 = THREADS.getCurrentThreadAllocatedBytes();
            }
            long t0 = System.nanoTime();
            Buffer b = c.claim(size, FOREVER);
            b.segment().fill((byte) i);
            b.commit();
            Buffer r = c.receive(FOREVER);
            check(r, i, size);
            r.release();
            long rtt = System.nanoTime() - t0;
            if (i >= warmup) h.recordValue(rtt);
        }
        long alloc = THREADS.getCurrentThreadAllocatedBytes() - alloc0;
        System.out.printf("RESULT side=pinger rts=%d p50=%d p90=%d p99=%d p999=%d max=%d allocBytes=%d transport=%s%s%n", measure,
                h.getValueAtPercentile(50), h.getValueAtPercentile(90), h.getValueAtPercentile(99),
                h.getValueAtPercentile(99.9), h.getMaxValue(), alloc, c.transport(), cpu());
    }

    static void echo(Connection c) {
        long i = 0;
        try {
            while (true) {
                Buffer r = c.receive(FOREVER);
                int size = r.length();
                check(r, i, size);
                r.release();
                Buffer b = c.claim(size, FOREVER);
                b.segment().fill((byte) i);
                b.commit();
                i++;
            }
        } catch (ConnectionClosedException | PeerGoneException end) {   // the peer is done (a socket peer may look gone)
            System.out.println("RESULT side=echo" + cpu());
        }
    }
}
