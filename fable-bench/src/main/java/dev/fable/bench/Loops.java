package dev.fable.bench;

import dev.fable.sync.ThreadAffinity;
import org.HdrHistogram.Histogram;

import java.lang.management.ManagementFactory;

/**
 * The measured loops, the same for every row. The driver (pinger, writer) gets its orders from the
 * orchestrator; the responder (echo, sink) gets them in-band as a {@link Pattern#COMMAND} frame and
 * answers every phase with a {@link Pattern#RESULT} frame after the driver's {@link Pattern#STOP}.
 *
 * <p>Clock reads are kept out of the per-message path where they would cost (a {@code nanoTime} is
 * ~25 ns, a 64 B message ~25 ns): the writer and the sink look at the clock every
 * {@link #checkEvery} messages; the pinger times each round trip, which is what it measures.
 */
final class Loops {
    private Loops() {}

    static final int ECHO = 1, SINK = 2;

    private static final com.sun.management.ThreadMXBean THREADS =
            (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
    private static final com.sun.management.OperatingSystemMXBean OS =
            (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();

    static long allocated() {
        return THREADS.getCurrentThreadAllocatedBytes();
    }

    static long processCpuNanos() {
        return OS.getProcessCpuTime();
    }

    /** Messages between two clock reads: about 16 KiB of traffic, at least one message. */
    static int checkEvery(int size) {
        return Math.max(1, 16384 / size);
    }

    /** Ping-pong result: the histogram of round trips (ns), allocation per round trip on the pinger's thread. */
    record Lat(Histogram h, long allocBytes, long[] echo) {}

    /** Pinger: round trips for {@code warm} ns unmeasured, then measured until {@code measure} ns or {@code maxRts} round trips. */
    static Lat ping(Link l, int size, int cpu, int peerCpu, long warmNs, long measureNs, long maxRts, boolean verify) {
        ThreadAffinity.pin(cpu);
        l.control(Pattern.COMMAND, ECHO, size, peerCpu, verify ? 1 : 0, 0);
        Histogram h = new Histogram(3_600_000_000_000L, 3);
        long start = System.nanoTime(), warmEnd = start + warmNs, end = warmEnd + measureNs, alloc0 = 0;
        boolean measuring = false;
        for (long i = 0; ; i++) {
            long t0 = System.nanoTime();
            if (!measuring && t0 >= warmEnd) {
                measuring = true;
                alloc0 = allocated();
            } else if (measuring && (t0 >= end || h.getTotalCount() >= maxRts)) {
                break;
            }
            l.send(i, size);
            long got = l.receive(verify);
            long t1 = System.nanoTime();
            if (got != i || l.length != size) throw mismatch(l, got, i, size);
            if (measuring) h.recordValue(t1 - t0);
        }
        long alloc = allocated() - alloc0;
        l.control(Pattern.STOP);
        l.expect(Pattern.RESULT, "the echo's result");
        return new Lat(h, alloc, l.args.clone());
    }

    /** Writer: sends for {@code warm + measure} ns, then STOP; returns the sink's result (messages, ns, alloc, cpu) and its own sent count. */
    static long[] write(Link l, int size, int cpu, int peerCpu, long warmNs, long measureNs, boolean verify) {
        ThreadAffinity.pin(cpu);
        l.control(Pattern.COMMAND, SINK, size, peerCpu, verify ? 1 : 0, warmNs);
        int every = checkEvery(size), n = every;
        long end = System.nanoTime() + warmNs + measureNs, alloc0 = allocated(), seq = 0;
        while (true) {
            if (seq == Pattern.SKIP_AT) seq++;
            l.send(seq++, size);
            if (--n == 0) {
                n = every;
                if (System.nanoTime() >= end) break;
            }
        }
        long alloc = allocated() - alloc0;
        l.control(Pattern.STOP);
        l.expect(Pattern.RESULT, "the reader's result");
        long[] r = new long[Pattern.ARGS + 2];
        System.arraycopy(l.args, 0, r, 0, Pattern.ARGS);
        r[Pattern.ARGS] = seq;
        r[Pattern.ARGS + 1] = alloc;
        return r;
    }

    /**
     * Responder: says HELLO, then obeys commands until the link ends (returns normally only when the
     * driver closed it; any other failure propagates).
     */
    static void serve(Link l) {
        l.control(Pattern.HELLO);
        while (true) {
            l.awaitQuietly();   // between cells: never spin on a CPU another row is being measured on
            long code = l.receive(false);
            if (code != Pattern.COMMAND) throw new BenchFailure("expected a command, got " + code);
            int op = (int) l.args[0], size = (int) l.args[1], cpu = (int) l.args[2];
            boolean verify = l.args[3] != 0;
            long warmNs = l.args[4];
            ThreadAffinity.pin(cpu);
            if (op == ECHO) echo(l, size, verify);
            else if (op == SINK) sink(l, size, verify, warmNs);
            else throw new BenchFailure("unknown command " + op);
        }
    }

    private static void echo(Link l, int size, boolean verify) {
        long alloc0 = allocated();
        for (long expect = 0; ; expect++) {
            long got = l.receive(verify);
            if (got == Pattern.STOP) {
                l.control(Pattern.RESULT, expect, 0, allocated() - alloc0, processCpuNanos());
                return;
            }
            if (got != expect || l.length != size) throw mismatch(l, got, expect, size);
            l.send(got, size);
        }
    }

    private static void sink(Link l, int size, boolean verify, long warmNs) {
        int every = checkEvery(size), n = 1;
        long first = 0, t0 = 0, m0 = 0, alloc0 = 0, expect = 0;
        while (true) {
            long got = l.receive(verify);
            if (got == Pattern.STOP) break;
            if (got != expect || l.length != size) throw mismatch(l, got, expect, size);
            expect++;
            if (t0 == 0 && --n == 0) {   // still warming up: look at the clock now and then
                n = every;
                long now = System.nanoTime();
                if (first == 0) {
                    first = now;
                } else if (now - first >= warmNs) {
                    t0 = now;
                    m0 = expect;
                    alloc0 = allocated();
                }
            }
        }
        long t1 = System.nanoTime();
        if (t0 == 0) {   // the writer stopped before the warm-up ended: report the whole phase
            t0 = first;
            m0 = 0;
            alloc0 = allocated();
        }
        l.control(Pattern.RESULT, expect - m0, t1 - t0, allocated() - alloc0, processCpuNanos());
    }

    static BenchFailure mismatch(Link l, long got, long expect, int size) {
        if (got != expect) {
            String what = got < 0 ? "control frame " + got : got < expect ? "message " + got + " again (duplicate or reordered)"
                    : "message " + got + " (messages " + expect + ".." + (got - 1) + " lost)";
            return new BenchFailure(l.transport() + ": expected message " + expect + ", got " + what);
        }
        return new BenchFailure(l.transport() + ": message " + got + " has " + l.length + " bytes, expected " + size);
    }
}
