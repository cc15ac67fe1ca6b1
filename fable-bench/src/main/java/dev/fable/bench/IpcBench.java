package dev.fable.bench;

import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;

/**
 * {@code fable bench}: the ipc-bench matrix for the shared-memory transport, between two JVM
 * processes whose hot threads are pinned to different CPUs. Each cell runs in fresh JVMs, with a
 * placement probe ({@link PlacementProbe}) just before and just after, printed beside the result.
 * Writes a Markdown table and a CSV under {@code bench-results/}.
 */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Measure latency and throughput of Fable channels between two pinned JVMs (ipc-bench matrix).")
public final class IpcBench implements Callable<Integer> {
    @Option(names = "--quick", description = "shorter runs (for a smoke test; figures are noisier)")
    boolean quick;

    @Option(names = "--cpus", defaultValue = "0,1", description = "the two CPUs to pin the peers to (default ${DEFAULT-VALUE})")
    String cpus;

    @Option(names = "--only", description = "run only cells whose name contains this text (e.g. lat, tput-64B)")
    String only;

    @Option(names = "--repeat", defaultValue = "1", description = "run every cell this many times (default ${DEFAULT-VALUE})")
    int repeat;

    @Option(names = "--out", defaultValue = "bench-results", description = "directory for the CSV and Markdown results")
    Path out;

    record Cell(String kind, int size, String mode, String trust) {
        String name() {
            return kind + "-" + human(size) + "-" + mode + "-" + trust;
        }
    }

    record Row(Cell cell, double probeBefore, double probeAfter, Map<String, String> reader, Map<String, String> writer,
               double foreignCpuPct, double stealPct) {
        /** Quiet: other processes used at most 5% of one CPU and the host stole at most 5% during the cell. */
        boolean quiet() {
            return foreignCpuPct <= 5 && stealPct <= 5;
        }
    }

    static String human(int size) {
        return size >= 1024 ? (size / 1024) + "KiB" : size + "B";
    }

    @Override
    public Integer call() throws Exception {
        String[] cp = cpus.split(",");
        int cpuA = Integer.parseInt(cp[0].trim()), cpuB = Integer.parseInt(cp[1].trim());
        List<Cell> cells = new ArrayList<>();
        for (String mode : new String[] {"spin", "adaptive", "block"}) {
            cells.add(new Cell("lat", 64, mode, "trusted"));
        }
        cells.add(new Cell("lat", 64, "spin", "untrusted"));
        cells.add(new Cell("lat", 64, "spin", "raw"));
        cells.add(new Cell("lat", 64, "spin", "aeron"));
        for (int size : new int[] {64, 4096, 65536}) {
            cells.add(new Cell("tput", size, "spin", "raw"));
            cells.add(new Cell("tput", size, "spin", "aeron"));
            for (String mode : new String[] {"spin", "adaptive"}) {
                for (String trust : new String[] {"trusted", "untrusted"}) {
                    cells.add(new Cell("tput", size, mode, trust));
                }
            }
        }
        for (int i = 0; i < 5; i++) PlacementProbe.roundTripNanos(cpuA, cpuB, 50);   // warm the probe's JIT
        System.out.printf(Locale.ROOT, "fable bench: %d cells, peers pinned to CPUs %d and %d; probe = cache-line round trip "
                + "between them (near < %.0f ns)%n%n", cells.size(), cpuA, cpuB, PlacementProbe.NEAR_LIMIT_NS);
        System.out.printf(Locale.ROOT, "%-28s %-18s %-7s %-7s %s%n", "cell", "probe ns (place)", "foreign", "steal", "result");
        List<Row> rows = new ArrayList<>();
        for (int rep = 0; rep < repeat; rep++) {
            for (Cell c : cells) {
                if (only != null && !c.name().contains(only)) continue;
                double before = PlacementProbe.roundTripNanos(cpuA, cpuB, 20);
                long[] window = new long[6];   // busy jiffies before/after, children's CPU ns, wall ns, steal jiffies before/after
                long self0 = selfCpuNanos();
                Map<String, String>[] res = runCell(c, cpuA, cpuB, window);
                long self1 = selfCpuNanos();
                double after = PlacementProbe.roundTripNanos(cpuA, cpuB, 20);
                long ours = window[2] + (self1 - self0);
                double foreignPct = Math.max(0, (window[1] - window[0]) * 10_000_000.0 - ours) * 100.0 / window[3];
                double stealPct = (window[5] - window[4]) * 10_000_000.0 * 100.0 / window[3];
                Row r = new Row(c, before, after, res[0], res[1], foreignPct, stealPct);
                rows.add(r);
                System.out.printf(Locale.ROOT, "%-28s %4.0f/%-4.0f %-7s %5.1f%% %5.1f%%%s %s%n", c.name(), before, after,
                        "(" + PlacementProbe.label(before, after) + ")", foreignPct, stealPct, r.quiet() ? " " : "!", describe(r));
            }
        }
        System.out.println("\nforeign = CPU used by other processes during the cell, steal = CPU the host gave to other guests, both in % of "
                + "one CPU; '!' marks a busy machine (either > 5%): rerun such cells before quoting them.");
        write(rows);
        return 0;
    }

    /** Busy jiffies of all CPUs from /proc/stat (user, nice, system, irq, softirq; 100 per second). */
    static long busyJiffies() {
        return procStat(1) + procStat(2) + procStat(3) + procStat(6) + procStat(7);
    }

    /** Steal jiffies of all CPUs: time our vCPUs wanted to run but the host ran someone else. */
    static long stealJiffies() {
        return procStat(8);
    }

    static long procStat(int field) {
        try {
            String[] f = Files.readAllLines(Path.of("/proc/stat")).get(0).trim().split("\\s+");
            return Long.parseLong(f[field]);
        } catch (IOException | RuntimeException e) {
            return 0;
        }
    }

    static long selfCpuNanos() {
        return ((com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean())
                .getProcessCpuTime();
    }

    static String describe(Row r) {
        if (r.cell().kind().equals("lat")) {
            Map<String, String> p = r.writer();
            return String.format(Locale.ROOT, "RTT p50 %s  p90 %s  p99 %s  p99.9 %s  (%s round trips, %s B allocated)",
                    ns(p.get("p50")), ns(p.get("p90")), ns(p.get("p99")), ns(p.get("p999")), p.get("rts"), p.get("allocBytes"));
        }
        Map<String, String> rd = r.reader(), wr = r.writer();
        double mps = Double.parseDouble(rd.get("msgPerSec"));
        double bps = Double.parseDouble(rd.get("bytesPerSec"));
        long msgs = Long.parseLong(rd.get("msgs"));
        return String.format(Locale.ROOT, "%7.2f M msg/s  %6.2f GB/s  sleeps r/w %s/%s  alloc/msg reader %.4f B, writer %.4f B (over %,d msgs)",
                mps / 1e6, bps / 1e9, rd.getOrDefault("sleeps", "-"), wr.getOrDefault("sleeps", "-"),
                Long.parseLong(rd.get("allocBytes")) / (double) msgs,
                wr.getOrDefault("allocMsgs", "0").equals("0") ? Double.NaN
                        : Long.parseLong(wr.get("allocBytes")) / Double.parseDouble(wr.get("allocMsgs")), msgs);
    }

    static String ns(String v) {
        long n = Long.parseLong(v);
        return n >= 10_000 ? String.format(Locale.ROOT, "%.1f µs", n / 1000.0) : n + " ns";
    }

    @SuppressWarnings("unchecked")
    Map<String, String>[] runCell(Cell c, int cpuA, int cpuB, long[] window) throws Exception {
        String name = "bench-" + ProcessHandle.current().pid() + "-" + System.nanoTime();
        long warm, measure;
        if (c.kind().equals("tput")) {
            warm = quick ? 300 : 1000;
            measure = quick ? 500 : 2000;
        } else if (c.mode().equals("block")) {
            warm = quick ? 2_000 : 10_000;
            measure = quick ? 5_000 : 20_000;
        } else {
            warm = quick ? 50_000 : 300_000;
            measure = quick ? 100_000 : 1_000_000;
        }
        List<String> common = List.of(name, c.kind(), Integer.toString(c.size()), c.mode(), c.trust());
        window[0] = busyJiffies();
        window[4] = stealJiffies();
        long t0 = System.nanoTime();
        Process server = start("server", common, cpuB, warm, measure);
        Process client = null;
        try {
            BufferedReader sout = reader(server);
            String ready = sout.readLine();
            if (!"READY".equals(ready)) throw new IllegalStateException("bench server did not start: " + ready + stderr(server));
            client = start("client", common, cpuA, warm, measure);
            BufferedReader cout = reader(client);
            Map<String, String> reader = null, writer = null;
            if (c.kind().equals("tput") && (c.trust().equals("raw") || c.trust().equals("aeron"))) {
                reader = result(sout, server);
                writer = Map.of();   // the raw writer just spins until killed below
            } else if (c.kind().equals("tput")) {
                reader = result(sout, server);
                writer = result(cout, client);
            } else {
                writer = result(cout, client);
                reader = result(sout, server);
            }
            // Both peers wait for us now: read their CPU time while they are alive, then let them go.
            window[1] = busyJiffies();
            window[5] = stealJiffies();
            window[2] = procCpuNanos(server) + procCpuNanos(client);
            window[3] = System.nanoTime() - t0;
            server.getOutputStream().close();
            client.getOutputStream().close();
            if (c.trust().equals("raw") || c.trust().equals("aeron")) client.destroyForcibly();
            waitFor(client);
            waitFor(server);
            return new Map[] {reader, writer};
        } finally {
            server.destroyForcibly();
            if (client != null) client.destroyForcibly();
            Files.deleteIfExists(Path.of("/dev/shm", name + ".ab"));   // raw baseline files, if a peer died early
            Files.deleteIfExists(Path.of("/dev/shm", name + ".ba"));
        }
    }

    /** utime + stime of a live process from /proc/<pid>/stat (ticks of 10 ms). */
    static long procCpuNanos(Process p) {
        try {
            String st = Files.readString(Path.of("/proc", Long.toString(p.pid()), "stat"));
            String[] f = st.substring(st.lastIndexOf(')') + 2).split(" ");
            return (Long.parseLong(f[11]) + Long.parseLong(f[12])) * 10_000_000L;
        } catch (IOException | RuntimeException e) {
            return 0;
        }
    }

    static void waitFor(Process p) throws InterruptedException {
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IllegalStateException("bench peer did not exit");
        }
    }

    static BufferedReader reader(Process p) {
        return new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
    }

    static String stderr(Process p) {
        try {
            p.waitFor(2, TimeUnit.SECONDS);
            return "\n" + new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException | InterruptedException e) {
            return "";
        }
    }

    static Map<String, String> result(BufferedReader r, Process p) throws IOException {
        String l;
        while ((l = r.readLine()) != null) {
            if (l.startsWith("ERROR")) throw new IllegalStateException("bench peer failed: " + l);
            if (l.startsWith("RESULT ")) {
                Map<String, String> m = new LinkedHashMap<>();
                for (String kv : l.substring(7).trim().split(" ")) {
                    int eq = kv.indexOf('=');
                    m.put(kv.substring(0, eq), kv.substring(eq + 1));
                }
                return m;
            }
        }
        throw new IllegalStateException("bench peer exited without a result" + stderr(p));
    }

    static Class<?> peerClass(String trust) {
        return switch (trust) {
            case "raw" -> RawRingPeer.class;
            case "aeron" -> AeronIpcPeer.class;
            default -> BenchPeer.class;
        };
    }

    Process start(String role, List<String> common, int cpu, long warm, long measure) throws IOException {
        List<String> cmd = new ArrayList<>();
        cmd.add(ProcessHandle.current().info().command().orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        cmd.addAll(List.of("--enable-native-access=ALL-UNNAMED", "-XX:+UseParallelGC", "-Xms256m", "-Xmx256m",
                "--sun-misc-unsafe-memory-access=allow", "--add-opens=java.base/jdk.internal.misc=ALL-UNNAMED",
                "--add-opens=java.base/java.nio=ALL-UNNAMED", "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
                "-Daeron.print.configuration=false", "-Dagrona.disable.bounds.checks=true",
                "-Dfable.leakDetection=simple", "-cp", System.getProperty("java.class.path"),
                peerClass(common.get(4)).getName(), role));
        cmd.addAll(common);
        cmd.addAll(List.of(Integer.toString(cpu), Long.toString(warm), Long.toString(measure)));
        return new ProcessBuilder(cmd).start();
    }

    void write(List<Row> rows) throws IOException {
        Files.createDirectories(out);
        String stamp = LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss"));
        StringBuilder csv = new StringBuilder("cell,kind,size,mode,trust,probe_before_ns,probe_after_ns,placement,"
                + "foreign_cpu_pct,steal_pct,sleeps_reader,sleeps_writer,msg_per_s,bytes_per_s,p50_ns,p90_ns,p99_ns,p999_ns,reader_alloc_bytes,writer_alloc_bytes,msgs\n");
        StringBuilder md = new StringBuilder("| cell | probe before/after (ns) | placement | foreign CPU | steal | result |\n|---|---|---|---|---|---|\n");
        for (Row r : rows) {
            Cell c = r.cell();
            Map<String, String> rd = r.reader(), wr = r.writer();
            csv.append(String.join(",", c.name(), c.kind(), Integer.toString(c.size()), c.mode(), c.trust(),
                    String.format(Locale.ROOT, "%.0f", r.probeBefore()), String.format(Locale.ROOT, "%.0f", r.probeAfter()),
                    PlacementProbe.label(r.probeBefore(), r.probeAfter()), String.format(Locale.ROOT, "%.1f", r.foreignCpuPct()),
                    String.format(Locale.ROOT, "%.1f", r.stealPct()), rd.getOrDefault("sleeps", ""), wr.getOrDefault("sleeps", ""),
                    rd.getOrDefault("msgPerSec", ""), rd.getOrDefault("bytesPerSec", ""),
                    wr.getOrDefault("p50", ""), wr.getOrDefault("p90", ""), wr.getOrDefault("p99", ""), wr.getOrDefault("p999", ""),
                    rd.getOrDefault("allocBytes", ""), wr.getOrDefault("allocBytes", ""), rd.getOrDefault("msgs", wr.getOrDefault("rts", ""))))
                    .append('\n');
            md.append(String.format(Locale.ROOT, "| %s | %.0f / %.0f | %s | %.1f%% | %.1f%% | %s |%n", c.name(), r.probeBefore(), r.probeAfter(),
                    PlacementProbe.label(r.probeBefore(), r.probeAfter()), r.foreignCpuPct(), r.stealPct(), describe(r)));
        }
        Files.writeString(out.resolve("bench-" + stamp + ".csv"), csv);
        Files.writeString(out.resolve("bench-" + stamp + ".md"), md);
        System.out.println("\nwrote " + out.resolve("bench-" + stamp + ".csv") + " and .md");
    }
}
