package dev.fable.bench;

import dev.fable.Fable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * {@code fable bench}: the transport matrix of the FABLE paper (§2, Table 1, Figures 2-4) on this
 * machine. Every row (transport) runs between two JVM processes whose hot threads are pinned: raw
 * baselines (pipe, Unix socket, TCP with and without TCP_NODELAY), Fable over shared memory (spin,
 * adaptive, block; trusted and untrusted), unix, tcp, tls and auto, and Aeron IPC. Each cell (kind ×
 * size × placement) is measured for every row in turn, {@code --repeat} times (rows interleaved, so
 * that a flip of the host's vCPU placement hits every row alike), with a placement probe and a
 * quiet-machine check around each round. Results: a terminal table (best per column marked), a
 * one-line verdict per size, and a folder with CSV, Markdown and PNG charts.
 *
 * <p>Each row's two peer JVMs ({@link RowPeers}) live for the whole run; see {@link Driver} and
 * {@link Responder} for their protocol and {@link Loops} for what is measured.
 */
@Command(name = "bench", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Measure latency and throughput of every transport between two pinned JVMs (the paper's transport matrix), "
                + "beside raw pipe/socket baselines and Aeron IPC.", "Default: about 2-3 minutes; --full: about 25 (15 for the matrix, then the fan-out)."})
public final class IpcBench implements Callable<Integer> {
    @Option(names = "--transports", split = ",", paramLabel = "ROW",
            description = "rows to run (default: the 14 rows --list shows without \"(--full)\"; --full: all 17)")
    List<String> transports;

    @Option(names = "--sizes", split = ",", paramLabel = "SIZE", description = "message sizes, e.g. 64,4k,64KiB,1m (default 64,4KiB,64KiB)")
    List<String> sizes = List.of("64", "4096", "65536");

    @Option(names = "--placements", split = ",", paramLabel = "P",
            description = "diff (the two peers on different CPUs) and/or same (both on one CPU); default both")
    List<String> placements = List.of("diff", "same");

    @Option(names = "--cpus", defaultValue = "0,1", description = "the two CPUs of the 'diff' placement; 'same' uses the first (default ${DEFAULT-VALUE})")
    String cpus;

    @Option(names = "--kinds", split = ",", paramLabel = "K", description = "lat (ping-pong), tput (one-way), rdv (connect to first message, "
            + "Fable rows); default lat,tput (--full adds rdv)")
    List<String> kinds;

    @Option(names = "--repeat", defaultValue = "3", description = "rounds per cell; the median is reported with its spread (default ${DEFAULT-VALUE})")
    int repeat;

    @Option(names = "--load", defaultValue = "none", paramLabel = "L", description = "none, or hog: a CPU-bound process (yes > /dev/null, "
            + "pinned with taskset) on each measured CPU during every round of every cell (default ${DEFAULT-VALUE})")
    String load;

    @Option(names = "--verify", description = "the reader checks every byte of every message (default: its length and sequence number)")
    boolean verify;

    @Option(names = "--full", description = "every row, longer measurements (1 s per cell), rendezvous cells and the harness-cost check; "
            + "then the fan-out bench (--fanout) into the same folder")
    boolean full;

    @Option(names = "--grid", description = "p50 RTT at the first size between every pair of CPUs (the paper's Figures 2-3 heatmap), "
            + "for the rows given (default fable-shm-spin,nio-unix)")
    boolean grid;

    @Option(names = "--harness-cost", description = "measure the harness against a hand-written two-process Fable loop (64 B, shm, spin)")
    boolean harnessCost;

    @Option(names = "--quick", description = "tiny measurements, one round (a smoke test; figures are noise)")
    boolean quick;

    @Option(names = "--out", defaultValue = "bench-results", description = "results folder (a subfolder per run; default ${DEFAULT-VALUE})")
    Path out;

    @Option(names = "--cell-timeout", defaultValue = "60", description = "seconds before a row that does not answer is killed and marked failed")
    int cellTimeoutSecs;

    @Option(names = "--reconfigure", description = "measure live switches instead of the matrix: throughput on shm, on tcp and while "
            + "switching between them every 100 ms, and the pause at each switch (about 10 s; --full: 30 s)")
    boolean reconfigure;

    @Option(names = "--streams", description = "measure the byte-stream views (Connection.inputStream/outputStream) against the raw "
            + "API instead of the matrix: one-way 64 KiB over shm and tcp, rounds alternating (about 30 s; --full: 2 minutes; --quick: 10 s)")
    boolean streams;

    @Option(names = "--relay", arity = "0..1", fallbackValue = "shm,tcp", paramLabel = "T,...", description = "measure what a relay "
            + "(Fable.relay) adds instead of the matrix: ping-pong p50/p99/p99.9 client -> relay JVM -> server beside client -> server, "
            + "over shm and/or tcp (default shm,tcp), idle and with a CPU hog on the relay's CPU (the server's for direct), "
            + "--sizes default 64,4KiB; client on the first of --cpus, server on the second, relay on --relay-cpu (about 2 minutes; "
            + "--full: 5; --quick: 30 s)")
    String relay;

    @Option(names = "--relay-cpu", paramLabel = "CPU", description = "with --relay: the relay JVM's CPU (taskset; default the second of --cpus)")
    Integer relayCpu;
    @Option(names = "--connections", arity = "0..1", fallbackValue = "auto", paramLabel = "N,...", description = "measure ping-pong RTT "
            + "over one of N connections instead of the matrix, the others idle and then 1%% of them busy (default N = 1,100,1000,10000; "
            + "--quick: 1,100,1000): one server thread with a Fable Poller, a thread per connection, and an NIO Selector over Unix sockets "
            + "(about 4 minutes; --quick: under 1)")
    String connections;

    @Option(names = "--fanout", arity = "0..1", fallbackValue = "auto", paramLabel = "N,...", description = "measure one producer to N consumer "
            + "processes instead of the matrix (default N = 1,2,4,8; --quick: 1,2), for --sizes: Fable's fan-out, Aeron IPC with N "
            + "subscriptions and N one-to-one Fable connections (about 6 minutes; --full: 9; --quick: under a minute). --full runs it "
            + "after the matrix too")
    String fanout;

    @Option(names = "--cluster", description = "measure the rendezvous of a cross-host xio:// connect instead of the matrix: two "
            + "network namespaces as hosts, each with its own daemon, names in a ZooKeeper server; first connect to each of 50 names "
            + "and 200 connects to one, over tls (untrusted network) and tcp (trusted); root only (about 1 minute; --quick: 10 and 40)")
    boolean cluster;

    @Option(names = "--list", description = "list the rows and exit")
    boolean list;

    @Option(names = "--compare", arity = "2", paramLabel = "RUN", description = "compare the throughput medians (≥ 4 KiB) of two results "
            + "folders, cell by cell in the same placement, and exit")
    List<Path> compare;

    /** Percentiles reported for latency cells. */
    static final double[] PERCENTILES = {50, 90, 99, 99.9};
    static final String[] PCT_KEYS = {"p50", "p90", "p99", "p999"};

    public static void main(String[] args) {
        System.exit(new CommandLine(new IpcBench()).setExecutionExceptionHandler((e, cmd, parsed) -> {
            System.err.println("fable bench: " + e.getMessage());
            return 2;
        }).execute(args));
    }

    /** What one run does, checked before anything starts. */
    record Plan(List<Row> rows, List<Integer> sizes, List<String> placements, List<String> kinds, int cpuA, int cpuB, int repeat,
                long[] latMs, long[] tputMs, long firstWarmMs, boolean rdv, boolean harnessCost, boolean hog) {}

    Plan plan() {
        int ncpu = Runtime.getRuntime().availableProcessors();
        String[] cp = cpus.split(",");
        if (cp.length != 2) throw new IllegalArgumentException("--cpus takes two CPUs, e.g. 0,1 (got '" + cpus + "')");
        int a = cpu(cp[0], ncpu), b = cpu(cp[1], ncpu);
        if (a == b && placements.contains("diff")) {
            throw new IllegalArgumentException("--cpus " + cpus + " names one CPU twice; the 'diff' placement needs two (use --placements same)");
        }
        List<Row> rows = Row.parse(transports != null ? transports : grid ? List.of("fable-shm-spin", "nio-unix")
                : full ? List.copyOf(Row.ALL.keySet()) : Row.DEFAULT);
        List<Integer> sz = new ArrayList<>();
        for (String s : sizes) {
            int n = parseSize(s);
            for (Row r : rows) {
                if (n > r.maxSize()) {
                    throw new IllegalArgumentException("size " + s + " is above " + r.id() + "'s limit of " + human(r.maxSize())
                            + (r.family().equals("aeron") ? " (1/8 of its 64 MiB term)" : "") + "; drop it from --sizes or the row from --transports");
                }
            }
            if (!sz.contains(n)) sz.add(n);
        }
        for (String p : placements) {
            if (!p.equals("diff") && !p.equals("same")) throw new IllegalArgumentException("unknown placement '" + p + "' (known: diff, same)");
        }
        List<String> k = kinds != null ? kinds : full ? List.of("lat", "tput", "rdv") : List.of("lat", "tput");
        for (String x : k) {
            if (!List.of("lat", "tput", "rdv").contains(x)) throw new IllegalArgumentException("unknown kind '" + x + "' (known: lat, tput, rdv)");
        }
        if (repeat < 1) throw new IllegalArgumentException("--repeat must be at least 1 (got " + repeat + ")");
        int reps = quick && !specified("--repeat") ? 1 : repeat;
        long[] lat = quick ? new long[] {20, 50} : full ? new long[] {200, 1000} : new long[] {50, 150};
        long[] tput = quick ? new long[] {20, 50} : full ? new long[] {200, 1000} : new long[] {50, 150};
        long firstWarm = quick ? 100 : full ? 1000 : 400;
        if (!load.equals("none") && !load.equals("hog")) throw new IllegalArgumentException("unknown --load '" + load + "' (known: none, hog)");
        return new Plan(rows, sz, placements, k, a, b, reps, lat, tput, firstWarm, k.contains("rdv"), harnessCost || full, load.equals("hog"));
    }

    private CommandLine.Model.CommandSpec spec;

    @CommandLine.Spec
    void spec(CommandLine.Model.CommandSpec s) {
        this.spec = s;
    }

    private boolean specified(String option) {
        return spec != null && spec.commandLine() != null && spec.commandLine().getParseResult() != null
                && spec.commandLine().getParseResult().hasMatchedOption(option);
    }

    static int cpu(String s, int ncpu) {
        int c;
        try {
            c = Integer.parseInt(s.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("'" + s.trim() + "' is not a CPU number");
        }
        if (c < 0 || c >= ncpu) {
            throw new IllegalArgumentException("CPU " + c + " does not exist here (this machine has CPUs 0-" + (ncpu - 1) + ")");
        }
        return c;
    }

    /** "64", "4k", "4KiB", "1m", "1MiB" → bytes; at least 8 (the sequence number) and at most 1 GiB. */
    static int parseSize(String s) {
        String t = s.trim().toLowerCase(Locale.ROOT).replace("ib", "").replace("b", "");
        long mul = t.endsWith("k") ? 1024 : t.endsWith("m") ? 1024 * 1024 : 1;
        if (mul > 1) t = t.substring(0, t.length() - 1);
        long n;
        try {
            n = Long.parseLong(t.trim()) * mul;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("'" + s + "' is not a size (e.g. 64, 4k, 64KiB, 1m)");
        }
        if (n < Pattern.MIN_SIZE) {
            throw new IllegalArgumentException("size " + s + " is too small: every bench message carries an 8-byte sequence number (use ≥ 8)");
        }
        if (n > Row.BENCH_MAX_SIZE) throw new IllegalArgumentException("size " + s + " is above the bench's limit of " + human(Row.BENCH_MAX_SIZE));
        return (int) n;
    }

    static String human(long size) {
        if (size >= 1 << 20 && size % (1 << 20) == 0) return (size >> 20) + " MiB";
        return size >= 1024 && size % 1024 == 0 ? (size / 1024) + " KiB" : size + " B";
    }

    @Override
    public Integer call() throws Exception {
        if (list) {
            Row.ALL.values().forEach(r -> System.out.printf(Locale.ROOT, "%-26s %s%s%n", r.id(), r.description(),
                    Row.DEFAULT.contains(r.id()) ? "" : "  (--full)"));
            return 0;
        }
        if (compare != null) {
            System.out.print(RunComparison.compare(compare.get(0), compare.get(1), 4096, 0.10));
            return 0;
        }
        if (reconfigure) return reconfigure();
        if (streams) return streams();
        if (relay != null) return relay();
        if (cluster) return cluster();
        if (connections != null) return connections();
        if (fanout != null) return fanout(fanoutSettings(), null);
        Plan plan = plan();
        FanoutRun.Settings fan = full && transports == null && !grid ? fanoutSettings() : null;   // --full: the fan-out too, after the matrix
        if (plan.rows().stream().anyMatch(Row::fable)) checkDaemon();
        String stamp = LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss"));
        Path dir = out.resolve(stamp);
        Files.createDirectories(dir);
        BenchRun run = new BenchRun(plan, dir, verify, cellTimeoutSecs * 1000L);
        Thread cleanup = new Thread(run::abort, "bench-cleanup");
        Runtime.getRuntime().addShutdownHook(cleanup);   // Ctrl-C: no child process and no /dev/shm file left behind
        try {
            if (grid) run.grid();
            else run.matrix();
        } finally {
            run.close();
            try {
                Runtime.getRuntime().removeShutdownHook(cleanup);
            } catch (IllegalStateException shuttingDown) {
                // the hook runs anyway
            }
        }
        System.out.println();
        BenchReport report = new BenchReport(plan, run.samples(), run.gridCells(), run.harnessCost(), verify);
        System.out.print(report.terminal());
        report.write(dir);
        System.out.println("\nresults: " + dir.toAbsolutePath() + " (samples.csv, summary.csv, summary.md, *.png)");
        int rc = run.failures() == 0 ? 0 : 3;
        if (fan != null) rc = Math.max(rc, fanout(fan, dir));
        return rc;
    }

    /** The fan-out's settings from these options, checked (before a --full matrix, not 15 minutes into it). */
    private FanoutRun.Settings fanoutSettings() {
        return FanoutRun.settings(plan(), FanoutRun.parseConsumers(fanout, quick), quick, full, verify, cellTimeoutSecs);
    }

    /** {@code --fanout} (and the end of {@code --full}): one producer, N consumers ({@link FanoutRun}), into {@code dir} or a new folder. */
    private int fanout(FanoutRun.Settings s, Path dir) throws Exception {
        checkDaemon();
        System.out.println();
        return FanoutRun.main(s, dir != null ? dir : out.resolve(LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss"))));
    }

    /** {@code --reconfigure}: the switch bench ({@link SwitchBench}) on the two CPUs of the diff placement. */
    private int reconfigure() throws Exception {
        Plan plan = plan();   // checks --cpus
        checkDaemon();
        Path dir = out.resolve(LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")));
        Files.createDirectories(dir);
        long phaseMs = quick ? 500 : full ? 10_000 : 3_000;
        System.out.println("live reconfiguration: 3 phases of " + phaseMs + " ms (steady shm, steady tcp, switching every 100 ms) ...");
        String report = owningChildren(owned -> SwitchBench.run(dir, plan.cpuA(), plan.cpuB(), phaseMs, 3 * phaseMs + cellTimeoutSecs * 1000L, owned));
        System.out.print(report);
        System.out.println("\nresults: " + dir.toAbsolutePath().resolve("reconfigure.md"));
        return report.contains("FAILED") ? 3 : 0;
    }

    /** {@code --streams}: the byte-stream views against the raw API ({@link StreamBench}) on the two CPUs of the diff placement. */
    private int streams() throws Exception {
        Plan plan = plan();   // checks --cpus
        checkDaemon();
        Path dir = out.resolve(LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")));
        Files.createDirectories(dir);
        long roundMs = quick ? 500 : full ? 3_000 : 1_000;
        int rounds = quick ? 1 : full ? 5 : 3;
        System.out.println("byte streams against the raw API: 64 KiB one-way over " + String.join(", ", StreamBench.TRANSPORTS) + ", " + rounds
                + " rounds of " + roundMs + " ms per mode ...");
        List<Process> owned = new java.util.concurrent.CopyOnWriteArrayList<>();
        Thread cleanup = new Thread(() -> {   // Ctrl-C: no child process and no /dev/shm file left behind
            List<ProcessHandle> all = BenchRun.handles(owned);
            BenchRun.stop(all);
            BenchRun.removeFilesOf(all);
        }, "bench-cleanup");
        Runtime.getRuntime().addShutdownHook(cleanup);
        String report;
        try {
            long cells = (long) StreamBench.TRANSPORTS.size() * StreamBench.MODES.size() * (rounds + 1);
            report = StreamBench.run(dir, plan.cpuA(), plan.cpuB(), roundMs, rounds, cells * (roundMs + 10_000) + cellTimeoutSecs * 1000L, owned);
        } finally {
            try {
                Runtime.getRuntime().removeShutdownHook(cleanup);
            } catch (IllegalStateException shuttingDown) {
                // the hook runs anyway
            }
        }
        System.out.println();
        System.out.print(report);
        System.out.println("\nresults: " + dir.toAbsolutePath().resolve("streams.md"));
        return report.contains("FAILED") ? 3 : 0;
    }

    /** A bench part that starts child processes into the list it is given and returns its report. */
    private interface WithChildren {
        String run(List<Process> owned) throws Exception;
    }

    /** Runs {@code part}; on Ctrl-C meanwhile its child processes are stopped and their /dev/shm files removed. */
    private static String owningChildren(WithChildren part) throws Exception {
        List<Process> owned = new java.util.concurrent.CopyOnWriteArrayList<>();
        Thread cleanup = new Thread(() -> {
            List<ProcessHandle> all = BenchRun.handles(owned);
            BenchRun.stop(all);
            BenchRun.removeFilesOf(all);
        }, "bench-cleanup");
        Runtime.getRuntime().addShutdownHook(cleanup);
        try {
            return part.run(owned);
        } finally {
            try {
                Runtime.getRuntime().removeShutdownHook(cleanup);
            } catch (IllegalStateException shuttingDown) {
                // the hook runs anyway
            }
        }
    }

    /** {@code --cluster}: connect → first byte between two network namespaces through ZooKeeper naming ({@link ClusterBench}). */
    private int cluster() throws Exception {
        Path dir = out.resolve(LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")));
        Files.createDirectories(dir);
        int names = quick ? 10 : 50, repeats = quick ? 40 : 200;
        System.out.println("cross-host rendezvous: two network namespaces, ZooKeeper naming, " + names + " names + " + repeats
                + " repeats over tls and tcp ...");
        String report = owningChildren(owned -> ClusterBench.run(dir, names, repeats, owned));
        System.out.println();
        System.out.print(report);
        System.out.println("\nresults: " + dir.toAbsolutePath().resolve("cluster.md"));
        return 0;
    }

    /** {@code --relay}: a ping-pong through a relay JVM beside the direct path ({@link RelayBench}), idle and under a hog. */
    private int relay() throws Exception {
        String[] cp = cpus.split(",");
        if (cp.length == 2 && cp[0].trim().equals(cp[1].trim())) {
            throw new IllegalArgumentException("--relay needs two different CPUs in --cpus (client, server; got '" + cpus + "')");
        }
        Plan plan = plan();   // checks --cpus
        List<String> ts = new ArrayList<>();
        for (String t : relay.split(",")) {
            String x = t.trim().toLowerCase(Locale.ROOT);
            if (!x.equals("shm") && !x.equals("tcp")) throw new IllegalArgumentException("--relay takes shm and/or tcp (got '" + t + "')");
            if (!ts.contains(x)) ts.add(x);
        }
        int rc = relayCpu == null ? plan.cpuB() : cpu(Integer.toString(relayCpu), Runtime.getRuntime().availableProcessors());
        List<Integer> sz = specified("--sizes") ? plan.sizes() : List.of(64, 4096);
        for (int s : sz) {
            if (s > 4096) throw new IllegalArgumentException("--relay measures sizes up to 4 KiB (its slots); got " + human(s));
        }
        checkDaemon();
        Path dir = out.resolve(LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")));
        Files.createDirectories(dir);
        long warmMs = quick ? 100 : full ? 500 : 300, measureMs = quick ? 200 : full ? 2_000 : 1_000;
        int rounds = specified("--repeat") ? plan.repeat() : quick ? 1 : full ? 5 : 3;
        System.out.println("relay latency: ping-pong over " + String.join(", ", ts) + ", direct and through a relay, idle and with a hog, "
                + sz.stream().map(IpcBench::human).toList() + "; " + rounds + " rounds of " + warmMs + " + " + measureMs
                + " ms per cell; client on CPU " + plan.cpuA() + ", server on CPU " + plan.cpuB() + ", relay on CPU " + rc + " ...");
        String report = owningChildren(owned -> RelayBench.run(dir, ts, sz, plan.cpuA(), plan.cpuB(), rc, warmMs, measureMs, rounds,
                    warmMs + measureMs + cellTimeoutSecs * 1000L, owned));
        System.out.println();
        System.out.print(report);
        System.out.println("\nresults: " + dir.toAbsolutePath().resolve("relay.md") + " (relay.csv, relay-summary.csv)");
        return report.contains("FAILED") ? 3 : 0;
    }


    /** {@code --connections}: RTT over one of N connections ({@link ConnBench}), server on the first CPU of --cpus, client on the second. */
    private int connections() throws Exception {
        Plan plan = plan();   // checks --cpus
        List<Integer> ns = ConnBench.parseNs(connections, quick);
        checkDaemon();
        Path dir = out.resolve(LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")));
        Files.createDirectories(dir);
        int rounds = quick && !specified("--repeat") ? 1 : repeat;
        ConnBench.Settings s = new ConnBench.Settings(ns, ConnBench.FAMILIES, plan.cpuA(), plan.cpuB(), rounds, quick ? 50 : full ? 300 : 100,
                quick ? 100 : full ? 1000 : 300, quick);
        System.out.println("RTT over one of N connections, N = " + ns + ": " + String.join(", ", ConnBench.FAMILIES) + "; " + rounds + " round"
                + (rounds == 1 ? "" : "s") + " per cell ...");
        String report = owningChildren(owned -> ConnBench.run(s, dir, owned));
        System.out.println();
        System.out.print(report);
        System.out.println("\nresults: " + dir.toAbsolutePath().resolve("connections.md") + " (and connections.csv)");
        return report.contains("FAILED") ? 3 : 0;
    }

    /** Fable rows need the name daemon: fail now, in one line, if there is none and none can be started. */
    static void checkDaemon() {
        try {
            Fable.names().names();
        } catch (RuntimeException e) {
            throw new IllegalStateException("the Fable rows need the name daemon: " + String.valueOf(e.getMessage()).strip()
                    + " (start it with './fable daemon', or run only non-Fable rows with --transports)");
        }
    }
}
