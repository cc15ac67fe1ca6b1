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
 * {@code fable bench}: the ipc-bench matrix between two JVM processes whose hot threads are pinned to
 * different CPUs: Fable over shared memory and over the socket transports (unix, tcp, tls, and
 * {@code xio://} = whatever the naming layer picks), beside same-run baselines that are not Fable
 * (a hand-written shm ring, Aeron IPC, plain NIO over a Unix socket and over TCP), plus rendezvous
 * cells (connect to first message). Each cell runs in fresh JVMs, with a placement probe
 * ({@link PlacementProbe}) just before and just after, printed beside the result. A cell that fails
 * (e.g. a transport this build lacks) is reported as a failed row and the run goes on. Ends with the
 * same-run socket ratios; writes a Markdown table and a CSV under {@code bench-results/}.
 */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Measure latency and throughput of Fable channels between two pinned JVMs (ipc-bench matrix).")
public final class IpcBench implements Callable<Integer> {
    @Option(names = "--quick", description = "shorter runs (for a smoke test; figures are noisier)")
    boolean quick;

    @Option(names = "--cpus", defaultValue = "0,1", description = "the two CPUs to pin the peers to (default ${DEFAULT-VALUE})")
    String cpus;

    @Option(names = "--only", description = "run only cells whose name contains this text (e.g. lat, tput-64B, unix, nio, rdv); "
            + "picks from the --full set if --full is given")
    String only;

    @Option(names = "--repeat", defaultValue = "1", description = "run every cell this many times (default ${DEFAULT-VALUE})")
    int repeat;

    @Option(names = "--out", defaultValue = "bench-results", description = "directory for the CSV and Markdown results")
    Path out;

    @Option(names = "--full", description = "the full socket matrix: every size and wait mode over unix/tcp/tls/auto and the raw NIO "
            + "baselines, longer socket cells, rendezvous over every transport (the default runs 64 B RTT and 64 KiB throughput)")
    boolean full;

    @Option(names = "--cell-timeout", defaultValue = "120", description = "seconds before a hung cell is killed and reported as failed "
            + "(default ${DEFAULT-VALUE})")
    int cellTimeoutSecs;

    /** Fable over a socket transport (forced with xio+<t>://, or auto = xio://, the naming layer's choice). */
    static final List<String> FABLE_SOCKET = List.of("unix", "tcp", "tls", "auto");
    /** Raw NIO baselines (RawSocketPeer), not Fable. */
    static final List<String> NIO = List.of("nio-unix", "nio-tcp");

    /**
     * One cell. {@code trust} is the variant: trusted/untrusted (Fable over shm), raw (hand-written
     * ring), aeron, unix/tcp/tls/auto (Fable over that socket transport; auto = xio://), nio-unix/nio-tcp
     * (plain NIO socket baselines). Kind: lat (64 B ping-pong), tput (one-way), rdv (connect to first message).
     */
    record Cell(String kind, int size, String mode, String trust) {
        String name() {
            return kind + "-" + human(size) + "-" + mode + "-" + trust;
        }

        /** Over a kernel socket (or possibly, for auto, whatever the naming layer picks): microsecond-scale round trips. */
        boolean socket() {
            return FABLE_SOCKET.contains(trust) || NIO.contains(trust);
        }
    }

    record Row(Cell cell, double probeBefore, double probeAfter, Map<String, String> reader, Map<String, String> writer,
               double foreignCpuPct, double stealPct, String error) {
        /** Quiet: other processes used at most 5% of one CPU and the host stole at most 5% during the cell. */
        boolean quiet() {
            return foreignCpuPct <= 5 && stealPct <= 5;
        }

        boolean failed() {
            return error != null;
        }

        /** Both placement probes said near: cross-core figures are comparable only between such rows. */
        boolean near() {
            return PlacementProbe.label(probeBefore, probeAfter).equals("near");
        }

        /** The transport the cell ran over, as the peer reported it (Fable: Connection.transport()). */
        String transport() {
            String t = writer.get("transport");
            return t != null ? t : reader.getOrDefault("transport", "");
        }
    }

    static String human(int size) {
        return size >= 1024 ? (size / 1024) + "KiB" : size + "B";
    }

    @Override
    public Integer call() throws Exception {
        String[] cp = cpus.split(",");
        int cpuA = Integer.parseInt(cp[0].trim()), cpuB = Integer.parseInt(cp[1].trim());
        List<Cell> cells = cells(full);
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
                Row r;
                try {
                    Map<String, String>[] res = runCell(c, cpuA, cpuB, window);
                    long self1 = selfCpuNanos();
                    double after = PlacementProbe.roundTripNanos(cpuA, cpuB, 20);
                    long ours = window[2] + (self1 - self0);
                    double foreignPct = Math.max(0, (window[1] - window[0]) * 10_000_000.0 - ours) * 100.0 / window[3];
                    double stealPct = (window[5] - window[4]) * 10_000_000.0 * 100.0 / window[3];
                    r = new Row(c, before, after, res[0], res[1], foreignPct, stealPct, null);
                } catch (Exception e) {   // one failed cell (e.g. a transport this build lacks) must not end the run
                    double after = PlacementProbe.roundTripNanos(cpuA, cpuB, 20);
                    String why = String.valueOf(e.getMessage()).strip().replaceAll("\\s+", " ");
                    r = new Row(c, before, after, Map.of(), Map.of(), Double.NaN, Double.NaN, why);
                }
                rows.add(r);
                System.out.printf(Locale.ROOT, "%-28s %4.0f/%-4.0f %-7s %5.1f%% %5.1f%%%s %s%n", c.name(), r.probeBefore(), r.probeAfter(),
                        "(" + PlacementProbe.label(r.probeBefore(), r.probeAfter()) + ")", r.foreignCpuPct(), r.stealPct(),
                        r.quiet() ? " " : "!", shorten(describe(r), 240));
            }
        }
        System.out.println("\nforeign = CPU used by other processes during the cell, steal = CPU the host gave to other guests, both in % of "
                + "one CPU; '!' marks a busy machine (either > 5%): rerun such cells before quoting them.");
        String summary = summary(rows);
        System.out.println();
        System.out.print(summary);
        write(rows, summary);
        return 0;
    }

    /** The shared-memory matrix, then the socket rows (each Fable transport beside its raw NIO baseline), then rendezvous. */
    static List<Cell> cells(boolean full) {
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
        // Sockets: the default runs the two figures (64 B RTT, 64 KiB throughput) in the default
        // (adaptive) mode; --full runs every size and mode. Raw NIO spin (non-blocking busy poll) and block.
        String[] fableModes = full ? new String[] {"spin", "adaptive", "block"} : new String[] {"adaptive"};
        String[] nioModes = {"spin", "block"};
        int[] sizes = full ? new int[] {64, 4096, 65536} : new int[] {65536};
        for (String kind : new String[] {"lat", "tput"}) {
            for (int size : kind.equals("lat") ? new int[] {64} : sizes) {
                for (String t : FABLE_SOCKET) {
                    if (!t.equals("auto") && !t.equals("tls")) {
                        for (String m : nioModes) cells.add(new Cell(kind, size, m, "nio-" + t));
                    }
                    for (String m : fableModes) cells.add(new Cell(kind, size, m, t));
                }
            }
        }
        for (String t : full ? new String[] {"auto", "shm", "unix", "tcp", "tls"} : new String[] {"auto", "shm"}) {
            cells.add(new Cell("rdv", 64, "adaptive", t));
        }
        return cells;
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

    static String shorten(String s, int max) {
        return s.length() <= max ? s : s.substring(0, max - 3) + "...";
    }

    static String describe(Row r) {
        if (r.failed()) return "FAILED: " + r.error();
        String via = r.cell().trust().equals("auto") || r.cell().kind().equals("rdv") ? "  via " + r.transport() : "";
        if (r.cell().kind().equals("rdv")) {
            Map<String, String> p = r.writer();
            return String.format(Locale.ROOT, "connect→first message p50 %s  p90 %s  p99 %s  max %s  (%s connects; connect() alone p50 %s)%s",
                    ns(p.get("p50")), ns(p.get("p90")), ns(p.get("p99")), ns(p.get("max")), p.get("rts"), ns(p.getOrDefault("connectP50", "0")), via);
        }
        if (r.cell().kind().equals("lat")) {
            Map<String, String> p = r.writer();
            return String.format(Locale.ROOT, "RTT p50 %s  p90 %s  p99 %s  p99.9 %s  (%s round trips, %s B allocated)%s",
                    ns(p.get("p50")), ns(p.get("p90")), ns(p.get("p99")), ns(p.get("p999")), p.get("rts"), p.get("allocBytes"), via);
        }
        Map<String, String> rd = r.reader(), wr = r.writer();
        double mps = Double.parseDouble(rd.get("msgPerSec"));
        double bps = Double.parseDouble(rd.get("bytesPerSec"));
        long msgs = Long.parseLong(rd.get("msgs"));
        return String.format(Locale.ROOT, "%7.2f M msg/s  %6.2f GB/s  sleeps r/w %s/%s  alloc/msg reader %.4f B, writer %.4f B (over %,d msgs)",
                mps / 1e6, bps / 1e9, rd.getOrDefault("sleeps", "-"), wr.getOrDefault("sleeps", "-"),
                Long.parseLong(rd.get("allocBytes")) / (double) msgs,
                wr.getOrDefault("allocMsgs", "0").equals("0") ? Double.NaN
                        : Long.parseLong(wr.get("allocBytes")) / Double.parseDouble(wr.get("allocMsgs")), msgs) + via
                + (wr.containsKey("writerError") ? "  (writer ended with: " + shorten(wr.get("writerError"), 160) + ")" : "");
    }

    static String ns(String v) {
        return ns(Long.parseLong(v));
    }

    static String ns(double n) {
        if (n >= 10_000_000) return String.format(Locale.ROOT, "%.1f ms", n / 1e6);
        if (n >= 1_000_000) return String.format(Locale.ROOT, "%.2f ms", n / 1e6);
        return n >= 10_000 ? String.format(Locale.ROOT, "%.1f µs", n / 1000.0) : String.format(Locale.ROOT, "%.0f ns", n);
    }

    /** Warm-up and measured amounts of a cell: milliseconds (tput), round trips (lat) or connections (rdv). */
    long[] lengths(Cell c) {
        // the connect path runs once per connection: 20 warm-up connects left it partly interpreted (p50 2.5-3.3 ms vs 1.3 ms)
        if (c.kind().equals("rdv")) return quick ? new long[] {10, 50} : full ? new long[] {100, 1000} : new long[] {100, 300};
        if (c.kind().equals("tput")) {
            if (quick) return new long[] {300, 500};
            // JSSE's AES-GCM runs in Java until C2 compiles its intrinsics: ~0.1 GB/s in the first second, ~1.7 GB/s after three
            if (c.trust().equals("tls")) return new long[] {TLS_WARM_MS, full ? 2000 : 1000};
            return c.socket() && !full ? new long[] {500, 1000} : new long[] {1000, 2000};
        }
        if (c.socket()) return quick ? new long[] {2_000, 5_000} : full ? new long[] {20_000, 200_000} : new long[] {20_000, 100_000};
        if (c.mode().equals("block")) return quick ? new long[] {2_000, 5_000} : new long[] {10_000, 20_000};
        return quick ? new long[] {50_000, 100_000} : new long[] {300_000, 1_000_000};
    }

    /** Warm-up of tls cells (see {@link #lengths}). */
    static final long TLS_WARM_MS = 3000;

    /** Socket latency cells warm up for at least this long too (their round-trip counts are small). */
    long minWarmMs(List<String> common) {
        Cell c = new Cell(common.get(1), Integer.parseInt(common.get(2)), common.get(3), common.get(4));
        if (!c.kind().equals("lat") || !c.socket()) return 0;
        if (c.trust().equals("tls") && !quick) return TLS_WARM_MS;
        return quick ? 300 : 1000;   // Fable's receive path is deeper than the raw loop: 0.5 s left it ~10% short of C2's code
    }

    /** Baselines whose writer cannot report (it spins until killed). */
    static boolean silentWriter(Cell c) {
        return peerClass(c.trust()) != BenchPeer.class;
    }

    @SuppressWarnings("unchecked")
    Map<String, String>[] runCell(Cell c, int cpuA, int cpuB, long[] window) throws Exception {
        String name = "bench-" + ProcessHandle.current().pid() + "-" + System.nanoTime();
        long[] len = lengths(c);
        long warm = len[0], measure = len[1];
        List<String> common = List.of(name, c.kind(), Integer.toString(c.size()), c.mode(), c.trust());
        window[0] = busyJiffies();
        window[4] = stealJiffies();
        long t0 = System.nanoTime();
        List<Process> procs = new java.util.concurrent.CopyOnWriteArrayList<>();
        java.util.concurrent.atomic.AtomicBoolean timedOut = new java.util.concurrent.atomic.AtomicBoolean();
        Thread watchdog = Thread.ofVirtual().start(() -> {   // a hung peer becomes a failed row, not a hung run
            try {
                Thread.sleep(TimeUnit.SECONDS.toMillis(cellTimeoutSecs));
                timedOut.set(true);
                procs.forEach(Process::destroyForcibly);
            } catch (InterruptedException done) {
                // the cell ended in time
            }
        });
        Process server = start("server", common, List.of(), cpuB, warm, measure);
        procs.add(server);
        Process client = null;
        try {
            BufferedReader sout = reader(server);
            String ready = sout.readLine();
            if (ready == null || !ready.startsWith("READY")) {
                throw new IllegalStateException("bench server did not start: " + ready + stderr(server));
            }
            List<String> extra = ready.length() > 5 ? List.of(ready.substring(6).trim()) : List.of();   // e.g. a TCP port
            client = start("client", common, extra, cpuA, warm, measure);
            procs.add(client);
            BufferedReader cout = reader(client);
            Class<?> peer = peerClass(c.trust());
            if (peer == BenchPeer.class || peer == RawSocketPeer.class) {
                // The connect must succeed before we wait on the server (which would otherwise wait in accept forever).
                String l;
                while ((l = cout.readLine()) != null && !l.startsWith("CONNECTED")) {
                    if (l.startsWith("ERROR")) throw new IllegalStateException(l.substring(5).trim());
                }
                if (l == null) throw new IllegalStateException("client exited before connecting" + stderr(client));
            }
            Map<String, String> reader = null, writer = null;
            if (c.kind().equals("tput") && silentWriter(c)) {
                reader = result(sout, server);
                writer = Map.of();   // the baseline writer just writes until killed below
            } else if (c.kind().equals("tput")) {
                reader = result(sout, server);
                try {
                    writer = result(cout, client);
                } catch (RuntimeException | IOException e) {   // the reader's figure stands; say what the writer did
                    writer = Map.of("writerError", String.valueOf(e.getMessage()).strip().replaceAll("\\s+", " "));
                }
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
            if (silentWriter(c)) client.destroyForcibly();
            waitFor(client);
            waitFor(server);
            return new Map[] {reader, writer};
        } catch (IOException | RuntimeException e) {
            if (timedOut.get()) throw new IllegalStateException("cell timed out after " + cellTimeoutSecs + " s (peers killed)", e);
            throw e;
        } finally {
            watchdog.interrupt();
            server.destroyForcibly();
            if (client != null) client.destroyForcibly();
            Files.deleteIfExists(Path.of("/dev/shm", name + ".ab"));   // raw baseline files, if a peer died early
            Files.deleteIfExists(Path.of("/dev/shm", name + ".ba"));
            Files.deleteIfExists(Path.of(System.getProperty("java.io.tmpdir"), name + ".sock"));
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
            case "nio-unix", "nio-tcp" -> RawSocketPeer.class;
            default -> BenchPeer.class;
        };
    }

    /** Settings of this JVM that the peer JVMs get too. */
    static final List<String> PASSED_ON = List.of("fable.runtime.dir", "fable.state.dir", "fable.shm.dir", "fable.daemon.idleExitSeconds",
            "fable.daemon.autostart", "fable.bench.rdvPaceMs");

    Process start(String role, List<String> common, List<String> extra, int cpu, long warm, long measure) throws IOException {
        List<String> cmd = new ArrayList<>();
        cmd.add(ProcessHandle.current().info().command().orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        cmd.addAll(List.of("--enable-native-access=ALL-UNNAMED", "-XX:+UseParallelGC", "-Xms256m", "-Xmx256m",
                "--sun-misc-unsafe-memory-access=allow", "--add-opens=java.base/jdk.internal.misc=ALL-UNNAMED",
                "--add-opens=java.base/java.nio=ALL-UNNAMED", "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
                "-Daeron.print.configuration=false", "-Dagrona.disable.bounds.checks=true",
                "-Dfable.leakDetection=simple", "-Dfable.bench.minWarmMs=" + minWarmMs(common)));
        for (String k : PASSED_ON) {   // peers use the same daemon and host identity as the bench (a test's private ones, say)
            String v = System.getProperty(k);
            if (v != null) cmd.add("-D" + k + "=" + v);
        }
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), peerClass(common.get(4)).getName(), role));
        cmd.addAll(common);
        cmd.addAll(List.of(Integer.toString(cpu), Long.toString(warm), Long.toString(measure)));
        cmd.addAll(extra);
        return new ProcessBuilder(cmd).start();
    }

    void write(List<Row> rows, String summary) throws IOException {
        Files.createDirectories(out);
        String stamp = LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss"));
        StringBuilder csv = new StringBuilder("cell,kind,size,mode,trust,probe_before_ns,probe_after_ns,placement,"
                + "foreign_cpu_pct,steal_pct,sleeps_reader,sleeps_writer,msg_per_s,bytes_per_s,p50_ns,p90_ns,p99_ns,p999_ns,reader_alloc_bytes,"
                + "writer_alloc_bytes,msgs,transport,error\n");
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
                    rd.getOrDefault("allocBytes", ""), wr.getOrDefault("allocBytes", ""), rd.getOrDefault("msgs", wr.getOrDefault("rts", "")),
                    r.transport(), r.failed() ? '"' + r.error().replace('"', '\'') + '"' : ""))
                    .append('\n');
            md.append(String.format(Locale.ROOT, "| %s | %.0f / %.0f | %s | %.1f%% | %.1f%% | %s |%n", c.name(), r.probeBefore(), r.probeAfter(),
                    PlacementProbe.label(r.probeBefore(), r.probeAfter()), r.foreignCpuPct(), r.stealPct(), describe(r).replace("|", "/")));
        }
        md.append('\n').append(summary);
        Files.writeString(out.resolve("bench-" + stamp + ".csv"), csv);
        Files.writeString(out.resolve("bench-" + stamp + ".md"), md);
        System.out.println("\nwrote " + out.resolve("bench-" + stamp + ".csv") + " and .md");
    }

    /**
     * The figure of every cell of this run: the median over its repeats, of the quiet near rows if
     * any, else of the quiet rows (marked "not near"), else of all (marked '!'). Placement flips between
     * repeats cut cross-core figures 3-4x, so a ratio between a near and a far row would say nothing.
     * Throughput in bytes/s, latency and rendezvous as p50 ns.
     */
    record Figure(double value, double p99, int n, boolean quiet, boolean near, String transport) {}

    static Figure figure(List<Row> rows, String cellName) {
        List<Row> ok = rows.stream().filter(r -> !r.failed() && r.cell().name().equals(cellName)).toList();
        if (ok.isEmpty()) return null;
        List<Row> quiet = ok.stream().filter(Row::quiet).toList();
        List<Row> near = quiet.stream().filter(Row::near).toList();
        List<Row> use = !near.isEmpty() ? near : quiet.isEmpty() ? ok : quiet;
        boolean tput = use.getFirst().cell().kind().equals("tput");
        double[] v = use.stream().mapToDouble(r -> tput ? Double.parseDouble(r.reader().get("bytesPerSec"))
                : Double.parseDouble(r.writer().get("p50"))).sorted().toArray();
        double[] p99 = use.stream().mapToDouble(r -> tput ? Double.NaN : Double.parseDouble(r.writer().get("p99"))).sorted().toArray();
        return new Figure(median(v), median(p99), use.size(), !quiet.isEmpty(), !near.isEmpty(), use.getFirst().transport());
    }

    static double median(double[] sorted) {
        int n = sorted.length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }

    static String fmt(Figure f, boolean tput) {
        String v = tput ? String.format(Locale.ROOT, "%.2f GB/s", f.value() / 1e9) : ns(f.value());
        return v + (f.quiet() ? "" : " !") + (f.quiet() && !f.near() ? " (not near)" : "");
    }

    /**
     * Same-run ratios for the socket targets: Fable unix/tcp against the raw NIO baseline over the same
     * socket (the better of its spin and block cells, i.e. the harder bar), tls against tcp, and the
     * rendezvous p50. Only cells that ran (and did not fail) appear.
     */
    static String summary(List<Row> rows) {
        StringBuilder sb = new StringBuilder("## Same-run socket ratios\n\n"
                + "Median over repeats of the quiet rows of each cell with both placement probes near ('not near': no such row, "
                + "median of the quiet ones; '!' = no quiet row, median of all). Raw = plain NIO "
                + "over the same socket, the better of its spin and block cells.\n\n"
                + "| comparison | Fable | baseline | ratio | target | met? |\n|---|---|---|---|---|---|\n");
        int lines = 0;
        String[] modes = {"spin", "adaptive", "block"};
        for (String t : new String[] {"unix", "tcp"}) {
            for (String kind : new String[] {"tput", "lat"}) {
                int size = kind.equals("tput") ? 65536 : 64;
                boolean tput = kind.equals("tput");
                String best = null;
                Figure raw = null;
                for (String m : new String[] {"spin", "block"}) {
                    Figure f = figure(rows, new Cell(kind, size, m, "nio-" + t).name());
                    if (f != null && (raw == null || (tput ? f.value() > raw.value() : f.value() < raw.value()))) {
                        raw = f;
                        best = m;
                    }
                }
                for (String m : modes) {
                    String cell = new Cell(kind, size, m, t).name();
                    Figure fb = figure(rows, cell);
                    String what = t + (tput ? " 64 KiB throughput" : " 64 B RTT p50") + ", Fable " + m;
                    if (fb == null) {
                        if (rows.stream().anyMatch(r -> r.cell().name().equals(cell))) {   // it ran and failed every time
                            sb.append(String.format(Locale.ROOT, "| %s | FAILED | %s | | %s | **no (failed)** |%n", what,
                                    raw == null ? "" : "raw NIO " + best + " " + fmt(raw, tput), tput ? "≥ 0.9× raw" : "≤ 1.1× raw"));
                            lines++;
                        }
                        continue;
                    }
                    if (raw == null) {
                        sb.append(String.format(Locale.ROOT, "| %s | %s | (no raw NIO cell) | | | |%n", what, fmt(fb, tput)));
                    } else {
                        double ratio = fb.value() / raw.value();
                        boolean met = tput ? ratio >= 0.9 : ratio <= 1.1;
                        sb.append(String.format(Locale.ROOT, "| %s | %s | raw NIO %s %s | %.2f× | %s | %s |%n", what, fmt(fb, tput), best,
                                fmt(raw, tput), ratio, tput ? "≥ 0.9× raw" : "≤ 1.1× raw", met ? "yes" : "**no**"));
                    }
                    lines++;
                }
            }
        }
        for (String m : modes) {
            Figure tls = figure(rows, new Cell("tput", 65536, m, "tls").name());
            Figure tcp = figure(rows, new Cell("tput", 65536, m, "tcp").name());
            if (tls == null || tcp == null) {
                String tlsCell = new Cell("tput", 65536, m, "tls").name();
                if (rows.stream().anyMatch(r -> r.cell().name().equals(tlsCell))) {
                    sb.append(String.format(Locale.ROOT, "| tls / tcp 64 KiB throughput, Fable %s | %s | tcp %s | | ≥ 0.8× tcp | **no (failed)** |%n",
                            m, tls == null ? "FAILED" : fmt(tls, true), tcp == null ? "FAILED" : fmt(tcp, true)));
                    lines++;
                }
                continue;
            }
            double ratio = tls.value() / tcp.value();
            sb.append(String.format(Locale.ROOT, "| tls / tcp 64 KiB throughput, Fable %s | %s | tcp %s | %.2f× | ≥ 0.8× tcp | %s |%n", m,
                    fmt(tls, true), fmt(tcp, true), ratio, ratio >= 0.8 ? "yes" : "**no**"));
            lines++;
        }
        for (String t : new String[] {"auto", "shm", "unix", "tcp", "tls"}) {
            String cell = new Cell("rdv", 64, "adaptive", t).name();
            Figure f = figure(rows, cell);
            if (f == null) {
                if (rows.stream().anyMatch(r -> r.cell().name().equals(cell))) {
                    sb.append("| rendezvous ").append(t).append(": connect → first message p50 | FAILED | | | p50 ≤ 2 ms | **no (failed)** |\n");
                    lines++;
                }
                continue;
            }
            sb.append(String.format(Locale.ROOT, "| rendezvous %s (via %s): connect → first message p50 (p99 %s) | %s | | | p50 ≤ 2 ms | %s |%n",
                    t, f.transport(), ns(f.p99()), fmt(f, false), f.value() <= 2_000_000 ? "yes" : "**no**"));
            lines++;
        }
        List<String> failed = rows.stream().filter(Row::failed).map(r -> r.cell().name()).distinct().toList();
        if (lines == 0) sb.append("| (no socket cells ran) | | | | | |\n");
        if (!failed.isEmpty()) sb.append("\nFailed cells (see their rows): ").append(String.join(", ", failed)).append('\n');
        return sb.toString();
    }
}
