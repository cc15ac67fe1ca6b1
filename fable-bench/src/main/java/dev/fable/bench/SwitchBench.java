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
 * <p>Roles: {@code SwitchBench sink <name> <cpu> <phaseMs>} and {@code SwitchBench source <name>
 * <cpu> <phaseMs>}; {@link #run} starts both.
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
        if (a[0].equals("sink")) sink(name, cpu); else source(name, cpu, phaseNanos);
        System.out.flush();
        System.exit(0);
    }

    // ---- the source ----

    static void source(String name, int cpu, long phaseNanos) throws Exception {
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
            for (long seq = 0; ; seq++) {
                long p = phase[0];
                Buffer b = c.claim(SIZE, forever);
                b.putLong(0, seq);
                b.putLong(8, p);
                b.commit();
                if (p == PHASES) break;
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
                int gaps = 0;
                List<Long> switchAt = new ArrayList<>();
                long expect = 0, prev = 0, epoch = c.epoch();
                Histogram boundary = new Histogram(TimeUnit.SECONDS.toNanos(10), 3);   // last message of epoch e -> first of e+1
                Duration wait = Duration.ofSeconds(10);
                while (true) {
                    Buffer b = c.receive(wait);
                    long now = System.nanoTime();
                    if (b == null) throw new BenchFailure("no message for 10 s after " + expect + " (over " + c.transport() + ")");
                    long seq = b.getLong(0), p = b.getLong(8), e = b.epoch();
                    b.release();
                    if (seq != expect) throw new BenchFailure("expected message " + expect + ", got " + seq + " over " + c.transport());
                    expect++;
                    if (e != epoch) {
                        epoch = e;
                        switchAt.add(now);
                        if (prev != 0) boundary.recordValue(now - prev);
                    }
                    if (prev != 0 && now - prev > GAP_FLOOR_NANOS && gaps < gap.length) {
                        gapAt[gaps] = now;
                        gap[gaps++] = now - prev;
                    }
                    prev = now;
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
                for (long t : switchAt) {
                    long worst = GAP_FLOOR_NANOS;
                    for (int g = 0; g < gaps; g++) {
                        if (Math.abs(gapAt[g] - t) <= WINDOW_NANOS) worst = Math.max(worst, gap[g]);
                    }
                    pauses.recordValue(worst);
                }
                Histogram steady = new Histogram(TimeUnit.SECONDS.toNanos(10), 3);   // largest gap per 100 ms of phase 0, for comparison
                for (long w = first[0]; w < last[0]; w += SWITCH_EVERY_NANOS) {
                    long worst = GAP_FLOOR_NANOS;
                    for (int g = 0; g < gaps; g++) {
                        if (gapAt[g] >= w && gapAt[g] < w + SWITCH_EVERY_NANOS) worst = Math.max(worst, gap[g]);
                    }
                    steady.recordValue(worst);
                }
                System.out.printf(Locale.ROOT, "PAUSES n=%d p50=%d p99=%d max=%d%n", pauses.getTotalCount(),
                        pauses.getValueAtPercentile(50), pauses.getValueAtPercentile(99), pauses.getMaxValue());
                System.out.printf(Locale.ROOT, "STEADY n=%d p50=%d p99=%d max=%d%n", steady.getTotalCount(),
                        steady.getValueAtPercentile(50), steady.getValueAtPercentile(99), steady.getMaxValue());
                System.out.printf(Locale.ROOT, "BOUNDARY n=%d p50=%d p99=%d max=%d%n", boundary.getTotalCount(),
                        boundary.getValueAtPercentile(50), boundary.getValueAtPercentile(99), boundary.getMaxValue());
                System.out.println("DONE " + expect);
            }
        } catch (RuntimeException e) {
            System.out.println("ERROR " + e.getClass().getSimpleName() + ": " + String.valueOf(e.getMessage()).replace('\n', ' '));
        }
    }

    // ---- the orchestrator ----

    /** Runs the two JVMs on {@code cpuA} (source) and {@code cpuB} (sink); returns the report, also written to {@code dir}. */
    static String run(Path dir, int cpuA, int cpuB, long phaseMs, long timeoutMs, List<Process> owned) throws IOException {
        String name = "switch-bench-" + ProcessHandle.current().pid();
        try (PeerPair p = PeerPair.start(
                PeerJvm.command(SwitchBench.class, List.of("sink", name, Integer.toString(cpuB), Long.toString(phaseMs))),
                PeerJvm.command(SwitchBench.class, List.of("source", name, Integer.toString(cpuA), Long.toString(phaseMs))),
                ProcessBuilder.Redirect.to(dir.resolve("switch-sink.err").toFile()),
                ProcessBuilder.Redirect.to(dir.resolve("switch-source.err").toFile()), owned, timeoutMs)) {
            List<String> lines = new ArrayList<>();
            for (String l; (l = p.firstOut.readLine()) != null; ) {
                lines.add(l);
                if (l.startsWith("DONE") || l.startsWith("ERROR")) break;
            }
            String report = report(lines, p.secondOut.readLine(), phaseMs);
            Files.writeString(dir.resolve("reconfigure.md"), report);
            return report;
        }
    }

    static String report(List<String> lines, String switches, long phaseMs) {
        StringBuilder r = new StringBuilder("## Live reconfiguration (64 B messages, one Fable connection, different cores, "
                + "pools of 256 slots x 4 KiB)\n\n");
        for (String l : lines) {
            if (l.startsWith("ERROR")) return r.append("FAILED: ").append(l.substring(6)).append('\n').toString();
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
        r.append(String.format(Locale.ROOT, "%nWhile switching: %.0f %% of the slower transport's steady throughput (target ≥ 50 %%); %s.%n",
                100 * rate[2] / slower, switches == null ? "switch count unknown" : switches.toLowerCase(Locale.ROOT).replace("switches ", "switches: ")));
        for (String l : lines) {
            if (l.startsWith("PAUSES") || l.startsWith("STEADY") || l.startsWith("BOUNDARY")) {
                String[] f = l.split(" ");
                String what = l.startsWith("PAUSES") ? "Pause at a switch (largest gap within 5 ms of the new epoch's first message)"
                        : l.startsWith("BOUNDARY") ? "Gap between the last message of an epoch and the first of the next"
                        : "For comparison, the largest gap per 100 ms of steady shm";
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
