package dev.fable.bench;

import dev.fable.Buffer;
import dev.fable.ConnectOptions;
import dev.fable.Connection;
import dev.fable.Endpoint;
import dev.fable.Fable;
import dev.fable.sync.ThreadAffinity;
import org.HdrHistogram.Histogram;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;

/**
 * {@code ./fable bench --reconfigure}: what a live switch costs a busy connection. Two JVMs (hot
 * threads pinned to different CPUs); the source streams 64 B messages (sequence number, phase) over
 * one Fable connection in three phases: steady on shm, steady on tcp, then switching between shm
 * and tcp every 100 ms (a second thread of the source calls {@code reconfigure}). The sink checks
 * every sequence number and measures per phase the throughput and, around every switch (the first
 * message of a new epoch), the <em>pause</em>: the largest gap between two consecutive arrivals
 * within 5 ms either side. Arrival times are {@code System.nanoTime()} in the sink only.
 *
 * <p>Three runs ({@link Mode}): <em>flat out</em> (the source sends as fast as the sink takes: both
 * CPUs are busy, so every bit of CPU the switch needs — the new transport's handshake on both sides,
 * the daemon's route — preempts a hot thread and shows up as a gap); <em>paced</em> (one message
 * per {@link #PACE_MICROS} µs: the hot threads sleep between messages, but the setup threads still
 * land on their CPUs); and <em>paced with a spare CPU</em> (both hot threads on the first CPU, every
 * other thread of both JVMs — setup, JIT, GC — held on the second with {@code taskset}: what the
 * switch costs when it does not compete for the hot threads' CPUs).
 *
 * <p>Roles: {@code SwitchBench sink <name> <cpu> <phaseMs>} and {@code SwitchBench source <name>
 * <cpu> <phaseMs> <paceMicros>} (0: flat out); {@link #run} starts both.
 */
public final class SwitchBench {
    private static final Duration WAIT = Duration.ofSeconds(30);
    private static final int SIZE = 64;
    /**
     * A pool sized for small messages (256 slots of 4 KiB = 1 MiB per direction) rather than the
     * default 8 MiB: preparing and faulting in a new leg's pool is CPU work that, on two CPUs both
     * busy with the hot threads, shows up directly in the pause (about 4 ms for 8 MiB here).
     */
    private static final ConnectOptions OPTIONS = ConnectOptions.trusted().slotSize(4096).slotCount(256).fixedWaitMode(true);
    private static final long SWITCH_EVERY_NANOS = TimeUnit.MILLISECONDS.toNanos(100);
    /** Gaps below this are not recorded (steady-state spacing is well under a microsecond). */
    private static final long GAP_FLOOR_NANOS = TimeUnit.MICROSECONDS.toNanos(20);
    private static final long WINDOW_NANOS = TimeUnit.MILLISECONDS.toNanos(5);
    private static final int PHASES = 3;
    private static final String[] PHASE_NAMES = {"steady shm", "steady tcp", "switching shm<->tcp every 100 ms"};

    private SwitchBench() {}

    public static void main(String[] a) throws Exception {
        String name = a[1];
        int cpu = Integer.parseInt(a[2]);
        long phaseNanos = TimeUnit.MILLISECONDS.toNanos(Long.parseLong(a[3]));
        if (a[0].equals("sink")) sink(name, cpu); else source(name, cpu, phaseNanos, TimeUnit.MICROSECONDS.toNanos(Long.parseLong(a[4])));
        System.out.flush();
        System.exit(0);
    }

    // ---- the source ----

    static void source(String name, int cpu, long phaseNanos, long paceNanos) throws Exception {
        Histogram makeNanos = new Histogram(TimeUnit.SECONDS.toNanos(60), 3);
        try (Connection c = Fable.connect("xio+shm://" + name, OPTIONS.connectTimeout(WAIT))) {
            long[] phase = {0};
            int[] switches = {0};
            Thread switcher = Thread.ofPlatform().name("switcher").start(() -> {
                long start = System.nanoTime();
                await(start + phaseNanos);
                c.reconfigure("tcp", "bench: steady tcp phase");
                phase[0] = 1;   // plain: the sending thread reads it as a hint; the sink trusts the epochs, not this
                await(start + 2 * phaseNanos);
                phase[0] = 2;
                long next = start + 2 * phaseNanos;
                boolean toShm = true;
                while (System.nanoTime() - (start + 3 * phaseNanos) < 0) {
                    next += SWITCH_EVERY_NANOS;
                    long t0 = System.nanoTime();
                    c.reconfigure(toShm ? "shm" : "tcp", "bench: every 100 ms");
                    makeNanos.recordValue(System.nanoTime() - t0);
                    switches[0]++;
                    toShm = !toShm;
                    await(next);
                }
                phase[0] = 3;
            });
            ThreadAffinity.pin(cpu);
            Duration forever = Duration.ofNanos(-1);
            long due = System.nanoTime();
            for (long seq = 0; ; seq++) {
                long p = phase[0];
                Buffer b = c.claim(SIZE, forever);
                b.putLong(0, seq);
                b.putLong(8, p);
                b.putLong(16, paceNanos > 0 ? System.nanoTime() : 0);   // paced only: when it was sent (one clock for both processes)
                b.commit();
                if (p == PHASES) break;
                if (paceNanos > 0) {   // sleep to the next slot (not spin: the point is to leave the CPU free)
                    due += paceNanos;
                    long left = due - System.nanoTime();
                    if (left > 0) java.util.concurrent.locks.LockSupport.parkNanos(left); else due = System.nanoTime();
                }
            }
            switcher.join();
            System.out.println("SWITCHES " + switches[0] + " make p50 " + makeNanos.getValueAtPercentile(50) / 1000 + " us, max "
                    + makeNanos.getMaxValue() / 1000 + " us");
        }
    }

    private static void await(long deadline) {
        long left;
        while ((left = deadline - System.nanoTime()) > 0) java.util.concurrent.locks.LockSupport.parkNanos(left);
    }

    // ---- the sink ----

    static void sink(String name, int cpu) {
        try (Endpoint ep = Fable.register(name).listen(OPTIONS)) {
            System.out.println("READY");
            System.out.flush();
            try (Connection c = ep.accept(WAIT)) {
                ThreadAffinity.pin(cpu);
                long[] count = new long[PHASES], first = new long[PHASES], last = new long[PHASES];
                long[] gapAt = new long[1 << 20], gap = new long[1 << 20];   // recorded gaps (end time, length) above the floor
                long[] sendGap = new long[1 << 20];   // paced: the gap between the same two messages' send times (the source's share)
                long prevSent = 0;
                int gaps = 0;
                List<Long> switchAt = new ArrayList<>();
                long expect = 0, prev = 0, epoch = c.epoch();
                Histogram boundary = new Histogram(TimeUnit.SECONDS.toNanos(10), 3);   // last message of epoch e -> first of e+1
                Histogram intoShm = new Histogram(TimeUnit.SECONDS.toNanos(10), 3);    // the same, by the new epoch's transport
                Histogram intoTcp = new Histogram(TimeUnit.SECONDS.toNanos(10), 3);
                Duration wait = Duration.ofSeconds(10);
                while (true) {
                    Buffer b = c.receive(wait);
                    long now = System.nanoTime();
                    if (b == null) throw new BenchFailure("no message for 10 s after " + expect + " (over " + c.transport() + ")");
                    long seq = b.getLong(0), p = b.getLong(8), e = b.epoch(), sent = b.getLong(16);
                    b.release();
                    if (seq != expect) throw new BenchFailure("expected message " + expect + ", got " + seq + " over " + c.transport());
                    expect++;
                    if (e != epoch) {
                        epoch = e;
                        switchAt.add(now);
                        if (prev != 0) {
                            boundary.recordValue(now - prev);
                            (c.transport().equals("shm") ? intoShm : intoTcp).recordValue(now - prev);
                        }
                    }
                    if (prev != 0 && now - prev > GAP_FLOOR_NANOS && gaps < gap.length) {
                        gapAt[gaps] = now;
                        sendGap[gaps] = sent == 0 || prevSent == 0 ? 0 : sent - prevSent;
                        gap[gaps++] = now - prev;
                    }
                    prev = now;
                    prevSent = sent;
                    if (p >= PHASES) break;
                    int i = (int) p;
                    if (count[i]++ == 0) first[i] = now;
                    last[i] = now;
                }
                for (int i = 0; i < PHASES; i++) {
                    double secs = (last[i] - first[i]) / 1e9;
                    System.out.printf(Locale.ROOT, "PHASE %d msgs=%d secs=%.3f msgPerSec=%.0f%n", i, count[i], secs, count[i] / Math.max(secs, 1e-9));
                }
                Histogram pauses = new Histogram(TimeUnit.SECONDS.toNanos(10), 3);
                Histogram before = new Histogram(TimeUnit.SECONDS.toNanos(10), 3);   // worst gap ending in the 5 ms before the boundary (make)
                Histogram after = new Histogram(TimeUnit.SECONDS.toNanos(10), 3);    // worst gap ending in the 5 ms after it (break)
                Histogram sourceShare = new Histogram(TimeUnit.SECONDS.toNanos(10), 3);   // paced: how much of each pause the source did not send
                for (long t : switchAt) {
                    pauses.recordValue(worstGap(gapAt, gap, gaps, t - WINDOW_NANOS, t + WINDOW_NANOS + 1));
                    int w = worstGapIndex(gapAt, gap, gaps, t - WINDOW_NANOS, t + WINDOW_NANOS + 1);
                    if (w >= 0 && sendGap[w] > 0) sourceShare.recordValue(Math.min(sendGap[w], gap[w]));
                    before.recordValue(worstGap(gapAt, gap, gaps, t - WINDOW_NANOS, t));
                    after.recordValue(worstGap(gapAt, gap, gaps, t + 1, t + WINDOW_NANOS + 1));
                }
                // The same statistic without any switch: the worst gap in each 10 ms window of steady shm (the host's noise floor)
                Histogram steady = new Histogram(TimeUnit.SECONDS.toNanos(10), 3);
                for (long w = first[0]; w + 2 * WINDOW_NANOS < last[0]; w += 2 * WINDOW_NANOS) {
                    steady.recordValue(worstGap(gapAt, gap, gaps, w, w + 2 * WINDOW_NANOS));
                }
                System.out.printf(Locale.ROOT, "PAUSES n=%d p50=%d p99=%d max=%d%n", pauses.getTotalCount(),
                        pauses.getValueAtPercentile(50), pauses.getValueAtPercentile(99), pauses.getMaxValue());
                if (sourceShare.getTotalCount() > 0) {
                    System.out.printf(Locale.ROOT, "SOURCE n=%d p50=%d p99=%d max=%d%n", sourceShare.getTotalCount(),
                            sourceShare.getValueAtPercentile(50), sourceShare.getValueAtPercentile(99), sourceShare.getMaxValue());
                }
                System.out.printf(Locale.ROOT, "BEFORE n=%d p50=%d p99=%d max=%d%n", before.getTotalCount(),
                        before.getValueAtPercentile(50), before.getValueAtPercentile(99), before.getMaxValue());
                System.out.printf(Locale.ROOT, "BOUNDARY n=%d p50=%d p99=%d max=%d%n", boundary.getTotalCount(),
                        boundary.getValueAtPercentile(50), boundary.getValueAtPercentile(99), boundary.getMaxValue());
                for (Histogram h : new Histogram[] {intoTcp, intoShm}) {
                    System.out.printf(Locale.ROOT, "%s n=%d p50=%d p99=%d max=%d%n", h == intoShm ? "INTO_SHM" : "INTO_TCP", h.getTotalCount(),
                            h.getValueAtPercentile(50), h.getValueAtPercentile(99), h.getMaxValue());
                }
                System.out.printf(Locale.ROOT, "AFTER n=%d p50=%d p99=%d max=%d%n", after.getTotalCount(),
                        after.getValueAtPercentile(50), after.getValueAtPercentile(99), after.getMaxValue());
                System.out.printf(Locale.ROOT, "STEADY n=%d p50=%d p99=%d max=%d%n", steady.getTotalCount(),
                        steady.getValueAtPercentile(50), steady.getValueAtPercentile(99), steady.getMaxValue());
                System.out.println("DONE " + expect);
            }
        } catch (RuntimeException e) {
            System.out.println("ERROR " + e.getClass().getSimpleName() + ": " + String.valueOf(e.getMessage()).replace('\n', ' '));
        }
    }

    /** The largest recorded gap that ended in [from, to), at least the floor. */
    private static long worstGap(long[] gapAt, long[] gap, int gaps, long from, long to) {
        int w = worstGapIndex(gapAt, gap, gaps, from, to);
        return w < 0 ? GAP_FLOOR_NANOS : gap[w];
    }

    /** The index of the largest recorded gap that ended in [from, to), or -1. */
    private static int worstGapIndex(long[] gapAt, long[] gap, int gaps, long from, long to) {
        int worst = -1;
        for (int g = 0; g < gaps; g++) {
            if (gapAt[g] - from >= 0 && gapAt[g] - to < 0 && (worst < 0 || gap[g] > gap[worst])) worst = g;
        }
        return worst;
    }

    // ---- the orchestrator ----

    /** One message per this many microseconds in the paced runs. */
    static final long PACE_MICROS = 100;

    /** The three runs: how fast the source sends, and where the threads run. */
    enum Mode {
        FLAT_OUT("", 0, false, "flat out: 64 B messages as fast as they go, hot threads on CPUs %d and %d (both CPUs busy: the switch's "
                + "setup work preempts the hot threads)"),
        PACED("-paced", PACE_MICROS, false, "paced: one 64 B message per " + PACE_MICROS + " µs, hot threads on CPUs %d and %d (they sleep "
                + "between messages, but the setup threads still run on their CPUs)"),
        SPARE_CPU("-spare", PACE_MICROS, true, "paced, with a spare CPU: one 64 B message per " + PACE_MICROS + " µs, both hot threads on "
                + "CPU %d, every other thread of both JVMs (setup, JIT, GC) on CPU %d");

        final String tag;
        final long paceMicros;
        final boolean spareCpu;
        final String title;

        Mode(String tag, long paceMicros, boolean spareCpu, String title) {
            this.tag = tag;
            this.paceMicros = paceMicros;
            this.spareCpu = spareCpu;
            this.title = title;
        }
    }

    /**
     * Runs the two JVMs on {@code cpuA} (source) and {@code cpuB} (sink) in each {@link Mode};
     * returns the report, also written to {@code dir}/reconfigure.md.
     */
    static String run(Path dir, int cpuA, int cpuB, long phaseMs, long timeoutMs, List<Process> owned) throws IOException {
        StringBuilder report = new StringBuilder();
        for (Mode m : Mode.values()) {
            if (!report.isEmpty()) report.append('\n');
            report.append(runOnce(dir, cpuA, cpuB, phaseMs, timeoutMs, owned, m));
        }
        Files.writeString(dir.resolve("reconfigure.md"), report);
        return report.toString();
    }

    private static String runOnce(Path dir, int cpuA, int cpuB, long phaseMs, long timeoutMs, List<Process> owned, Mode m)
            throws IOException {
        String name = "switch-bench-" + ProcessHandle.current().pid() + m.tag;
        int sinkCpu = m.spareCpu ? cpuA : cpuB;
        List<String> sink = PeerJvm.command(SwitchBench.class, List.of("sink", name, Integer.toString(sinkCpu), Long.toString(phaseMs)));
        List<String> source = PeerJvm.command(SwitchBench.class, List.of("source", name, Integer.toString(cpuA), Long.toString(phaseMs),
                Long.toString(m.paceMicros)));
        String title = "## Live reconfiguration, " + String.format(Locale.ROOT, m.title, cpuA, cpuB) + "\n\n";
        if (m.spareCpu) {   // every thread starts on cpuB; the hot threads then pin themselves to cpuA
            if (!Files.isExecutable(Path.of("/usr/bin/taskset"))) return title + "Skipped: /usr/bin/taskset (util-linux) is missing.\n";
            sink = withAffinity(sink, cpuB);
            source = withAffinity(source, cpuB);
        }
        try (PeerPair p = PeerPair.start(sink, source,
                ProcessBuilder.Redirect.to(dir.resolve("switch-sink" + m.tag + ".err").toFile()),
                ProcessBuilder.Redirect.to(dir.resolve("switch-source" + m.tag + ".err").toFile()), owned, timeoutMs)) {
            List<String> lines = new ArrayList<>();
            for (String l; (l = p.firstOut.readLine()) != null; ) {
                lines.add(l);
                if (l.startsWith("DONE") || l.startsWith("ERROR")) break;
            }
            return report(title, lines, p.secondOut.readLine(), phaseMs, m.paceMicros);
        }
    }

    private static List<String> withAffinity(List<String> command, int cpu) {
        List<String> c = new ArrayList<>(List.of("/usr/bin/taskset", "-c", Integer.toString(cpu)));
        c.addAll(command);
        return c;
    }

    static String report(String title, List<String> lines, String switches, long phaseMs, long paceMicros) {
        StringBuilder r = new StringBuilder(title + "One Fable connection, pools of 256 slots x 4 KiB.\n\n");
        for (String l : lines) {
            if (l.startsWith("ERROR")) return r.append("FAILED: ").append(l.substring(6)).append('\n').toString();
        }
        if (lines.stream().noneMatch(l -> l.startsWith("DONE"))) {   // the sink died, or was stopped at the time limit, without a word
            return r.append("FAILED: the sink ended without its results (see switch-sink*.err in the results folder)\n").toString();
        }
        double[] rate = new double[PHASES];
        for (String l : lines) {
            if (l.startsWith("PHASE ")) {
                String[] f = l.split(" ");
                rate[Integer.parseInt(f[1])] = Double.parseDouble(f[4].substring("msgPerSec=".length()));
            }
        }
        r.append("| phase (").append(phaseMs).append(" ms each) | throughput |\n|---|---:|\n");
        for (int i = 0; i < PHASES; i++) {
            r.append("| ").append(PHASE_NAMES[i]).append(" | ").append(String.format(Locale.ROOT, "%.2f M msg/s", rate[i] / 1e6)).append(" |\n");
        }
        double slower = Math.min(rate[0], rate[1]);
        String made = switches == null ? "switch count unknown" : switches.toLowerCase(Locale.ROOT).replace("switches ", "switches: ");
        if (paceMicros > 0) {
            r.append(String.format(Locale.ROOT, "%nPaced, so the throughputs are the pace, not the transports'; %s.%n", made));
        } else {
            r.append(String.format(Locale.ROOT, "%nWhile switching: %.0f %% of the slower transport's steady throughput (target ≥ 50 %%); %s.%n",
                    100 * rate[2] / slower, made));
        }
        for (String l : lines) {
            String key = l.split(" ")[0];
            String what = switch (key) {
                case "PAUSES" -> "Pause at a switch (largest gap within 5 ms of the new epoch's first message)";
                case "SOURCE" -> "  of which the source did not send (its own gap between the same two messages)";
                case "BEFORE" -> "  of which in the 5 ms before that message (setting the new transport up)";
                case "BOUNDARY" -> "  the gap between the last message of an epoch and the first of the next";
                case "INTO_TCP" -> "    into tcp (after shm's end-of-epoch ring entry)";
                case "INTO_SHM" -> "    into shm (after tcp's end-of-epoch frame)";
                case "AFTER" -> "  in the 5 ms after it (closing the old transport)";
                case "STEADY" -> "For comparison, the largest gap in each 10 ms of steady shm (no switch: the host's floor)";
                default -> null;
            };
            if (what != null) {
                String[] f = l.split(" ");
                r.append(String.format(Locale.ROOT, "%s: n=%s, p50 %s, p99 %s, max %s (gaps under 20 µs are not told apart).%n", what,
                        f[1].substring(2), BenchReport.ns(value(f[2])), BenchReport.ns(value(f[3])), BenchReport.ns(value(f[4]))));
            }
        }
        return r.toString();
    }

    private static long value(String kv) {
        return Long.parseLong(kv.substring(kv.indexOf('=') + 1));
    }
}
