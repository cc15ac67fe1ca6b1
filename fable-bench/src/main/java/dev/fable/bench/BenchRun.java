package dev.fable.bench;

import dev.fable.transport.shm.ShmFiles;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.stream.Stream;

/**
 * One run of the matrix: starts every row's peers, warms them up, then measures cell after cell
 * (placement → size → kind → round → row), each round framed by a placement probe and a
 * quiet-machine check. Owns every process it starts: {@link #close} ends them, {@link #abort}
 * (the Ctrl-C hook) kills them and removes what they left in shared memory.
 */
final class BenchRun implements AutoCloseable {
    private final IpcBench.Plan plan;
    private final Path errDir;
    private final boolean verify;
    private final long timeoutMs;
    private final String name = "bench-" + ProcessHandle.current().pid() + "-" + Long.toHexString(System.nanoTime() & 0xFFFFFF);
    private final List<RowPeers> peers = new CopyOnWriteArrayList<>();
    private final List<Process> extra = new CopyOnWriteArrayList<>();   // harness-cost loops
    private final List<Sample> samples = new CopyOnWriteArrayList<>();
    private final Map<String, List<GridCell>> grid = new LinkedHashMap<>();
    private double[] harness;   // hand-written loop and harness, msg/s medians
    private final Progress progress = new Progress();
    private volatile boolean aborted;

    BenchRun(IpcBench.Plan plan, Path dir, boolean verify, long timeoutMs) {
        this.plan = plan;
        this.errDir = dir.resolve("peer-logs");
        this.verify = verify;
        this.timeoutMs = timeoutMs;
    }

    List<Sample> samples() {
        return List.copyOf(samples);
    }

    Map<String, List<GridCell>> gridCells() {
        return grid;
    }

    double[] harnessCost() {
        return harness;
    }

    long failures() {
        return samples.stream().filter(Sample::failed).count();
    }

    // ------------------------------------------------------------------ the matrix

    void matrix() throws IOException {
        List<String> measured = plan.kinds().stream().filter(k -> !k.equals("rdv")).toList();
        List<Row> rdvRows = plan.rdv() ? plan.rows().stream().filter(r -> r.fable() && RDV_ROWS.contains(r.id())).toList() : List.of();
        int rounds = plan.placements().size() * plan.sizes().size() * measured.size() * plan.repeat();
        progress.start(plan.rows().size() * (1 + rounds) + rdvRows.size() + (plan.harnessCost() ? 2 * plan.repeat() : 0));
        startAll();
        warmUp();
        for (String placement : plan.placements()) {
            int a = plan.cpuA(), b = placement.equals("diff") ? plan.cpuB() : plan.cpuA();
            for (int size : plan.sizes()) {
                openAll(size);
                for (String kind : measured) {
                    for (int rep = 1; rep <= plan.repeat() && !aborted; rep++) round(kind, size, placement, a, b, rep, plan.rows());
                }
            }
        }
        for (Row r : rdvRows) rendezvous(r);
        if (plan.harnessCost()) measureHarnessCost();
        progress.end();
    }

    /** Rows whose rendezvous is measured (the transports; the other shm wait modes connect the same way). */
    static final List<String> RDV_ROWS = List.of("fable-auto", "fable-shm-adaptive", "fable-unix", "fable-tcp", "fable-tls");

    /** Every row of one cell, in an order rotated by the round so that no row always goes first. */
    private void round(String kind, int size, String placement, int a, int b, int rep, List<Row> rows) {
        double before = a == b ? Double.NaN : PlacementProbe.roundTripNanos(a, b, 10);
        long busy0 = Proc.busyJiffies(), steal0 = Proc.stealJiffies(), ours0 = ourCpuNanos(), t0 = System.nanoTime();
        List<Process> hogs = plan.hog() ? startHogs(a == b ? List.of(a) : List.of(a, b)) : List.of();
        try {
            measureRound(kind, size, placement, a, b, rep, rows, hogs, before, busy0, steal0, ours0, t0);
        } finally {
            stopHogs(hogs);
        }
    }

    /** --load hog: one CPU-bound process ({@code yes > /dev/null}) pinned to each of {@code cpus}, started before a round. */
    private List<Process> startHogs(List<Integer> cpus) {
        List<Process> hogs = new ArrayList<>();
        try {
            for (int cpu : cpus) {
                Process h = startHog(cpu);
                hogs.add(h);
                extra.add(h);   // ended with the run if it is aborted
            }
            return hogs;
        } catch (IOException e) {
            stopHogs(hogs);
            throw new BenchFailure("--load hog needs taskset and yes (util-linux, coreutils): " + e.getMessage());
        }
    }

    private void stopHogs(List<Process> hogs) {
        for (Process h : hogs) {
            stopHog(h);
            extra.remove(h);
        }
    }

    /** A CPU hog: {@code yes > /dev/null} pinned to {@code cpu} with taskset (also {@code --relay}'s). */
    static Process startHog(int cpu) throws IOException {
        return new ProcessBuilder("taskset", "-c", Integer.toString(cpu), "yes").redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .redirectError(ProcessBuilder.Redirect.DISCARD).start();
    }

    /** Kills a hog of {@link #startHog} and waits until it is gone. */
    static void stopHog(Process h) {
        h.destroyForcibly();
        try {
            h.waitFor();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void measureRound(String kind, int size, String placement, int a, int b, int rep, List<Row> rows, List<Process> hogs,
                              double before, long busy0, long steal0, long ours0, long t0) {
        List<Sample> got = new ArrayList<>();
        List<RowPeers> order = new ArrayList<>(live(rows));
        if (!order.isEmpty()) Collections.rotate(order, rep - 1);
        for (RowPeers p : order) {
            progress.step(placement + " " + IpcBench.human(size) + " " + kind + " round " + rep + "/" + plan.repeat() + "  " + p.row.id());
            long[] w = kind.equals("lat") ? plan.latMs() : plan.tputMs();
            String cmd = kind.equals("lat")
                    ? String.join(" ", "LAT", str(size), str(a), str(b), str(w[0]), str(w[1]), "2000000", verify ? "1" : "0")
                    : String.join(" ", "TPUT", str(size), str(a), str(b), str(w[0]), str(w[1]), verify ? "1" : "0");
            String r = p.command(cmd, timeoutMs + w[0] + w[1]);
            got.add(new Sample(p.row.id(), placement, kind, size, rep, a, b, 0, 0, 0, 0, r == null ? Map.of() : parse(r), r == null ? p.failure : null));
        }
        for (Row r : rows) {   // rows that were dead before this round still get a failed sample per round
            if (order.stream().noneMatch(p -> p.row == r)) {
                got.add(new Sample(r.id(), placement, kind, size, rep, a, b, 0, 0, 0, 0, Map.of(), peersOf(r).failure));
            }
        }
        long wall = System.nanoTime() - t0;
        long busy1 = Proc.busyJiffies(), steal1 = Proc.stealJiffies(), ours1 = ourCpuNanos();
        stopHogs(hogs);   // before the probe, which a hog would slow
        double after = a == b ? Double.NaN : PlacementProbe.roundTripNanos(a, b, 10);
        double foreign = Math.max(0, (busy1 - busy0) * 10_000_000.0 - (ours1 - ours0)) * 100.0 / wall;   // with --load hog: the hogs too
        double steal = (steal1 - steal0) * 10_000_000.0 * 100.0 / wall;
        for (Sample s : got) {
            samples.add(new Sample(s.row(), s.placement(), s.kind(), s.size(), s.rep(), a, b, before, after, foreign, steal, s.values(), s.error()));
        }
        progress.round(String.format(Locale.ROOT, "%s %s %s round %d/%d: probe %s, foreign CPU %.1f%%, steal %.1f%%", placement,
                IpcBench.human(size), kind, rep, plan.repeat(), a == b ? "(same CPU)" : String.format(Locale.ROOT, "%.0f/%.0f ns (%s)", before,
                        after, PlacementProbe.label(before, after)), foreign, steal));
    }

    private void rendezvous(Row r) {
        RowPeers p = peersOf(r);
        progress.step("rendezvous " + r.id());
        long[] n = plan.latMs()[1] >= 1000 ? new long[] {100, 500} : new long[] {50, 200};
        String res = p.command("RDV " + n[0] + " " + n[1] + " 20", timeoutMs + (n[0] + n[1]) * 60);
        samples.add(new Sample(r.id(), "diff", "rdv", 0, 1, plan.cpuA(), plan.cpuB(), Double.NaN, Double.NaN, Double.NaN, Double.NaN,
                res == null ? Map.of() : parse(res), res == null ? p.failure : null));
    }

    // ------------------------------------------------------------------ the grid

    /** p50 RTT at the first size for every ordered pair of CPUs, every row, median over rounds. */
    void grid() throws IOException {
        int n = Runtime.getRuntime().availableProcessors(), size = plan.sizes().getFirst();
        progress.start(plan.rows().size() * (1 + n * n * plan.repeat()));
        startAll();
        warmUp();
        openAll(size);
        for (int a = 0; a < n; a++) {
            for (int b = 0; b < n; b++) {
                for (int rep = 1; rep <= plan.repeat() && !aborted; rep++) {
                    round("lat", size, "cpu" + a + "-cpu" + b, a, b, rep, plan.rows());
                }
            }
        }
        for (Row r : plan.rows()) {
            List<GridCell> cells = new ArrayList<>();
            for (int a = 0; a < n; a++) {
                for (int b = 0; b < n; b++) {
                    String pl = "cpu" + a + "-cpu" + b;
                    double[] v = samples.stream().filter(s -> !s.failed() && s.row().equals(r.id()) && s.placement().equals(pl))
                            .mapToDouble(s -> s.value("p50")).sorted().toArray();
                    cells.add(new GridCell(a, b, v.length == 0 ? Double.NaN : BenchReport.median(v)));
                }
            }
            grid.put(r.id(), cells);
        }
        progress.end();
    }

    // ------------------------------------------------------------------ harness cost

    /**
     * The harness against a hand-written loop ({@link HandLoop}: the Fable API and nothing else) at
     * 64 B over shm with spin waits, different CPUs, interleaved round by round.
     */
    private void measureHarnessCost() throws IOException {
        Row row = Row.ALL.get("fable-shm-spin");
        RowPeers p = peersOf(row);
        if (p == null) {
            p = new RowPeers(row, errDir);
            peers.add(p);
            p.start(name, sizesForPeers(), timeoutMs);
            p.command("OPEN 64", timeoutMs);
            p.command("TPUT 64 " + plan.cpuA() + " " + plan.cpuB() + " " + plan.firstWarmMs() + " 10 0", timeoutMs + plan.firstWarmMs());
        } else {
            p.command("OPEN 64", timeoutMs);
        }
        long[] w = plan.tputMs();
        List<Double> hand = new ArrayList<>(), ours = new ArrayList<>();
        for (int rep = 1; rep <= plan.repeat() && !aborted; rep++) {
            progress.step("harness cost round " + rep + ": hand-written loop");
            double h = HandLoop.run(name + "-hand" + rep, plan.cpuA(), plan.cpuB(), Math.max(w[0], 1000), w[1], extra, timeoutMs);
            if (!Double.isNaN(h)) hand.add(h);
            progress.step("harness cost round " + rep + ": the harness's fable-shm-spin");
            String r = p.command("TPUT 64 " + plan.cpuA() + " " + plan.cpuB() + " " + w[0] + " " + w[1] + " 0", timeoutMs + w[0] + w[1]);
            if (r != null) ours.add(Double.parseDouble(parse(r).get("msgPerSec")));
        }
        if (!hand.isEmpty() && !ours.isEmpty()) {
            harness = new double[] {BenchReport.median(hand.stream().mapToDouble(d -> d).sorted().toArray()),
                    BenchReport.median(ours.stream().mapToDouble(d -> d).sorted().toArray())};
        }
    }

    // ------------------------------------------------------------------ peers

    private List<Integer> sizesForPeers() {
        List<Integer> s = new ArrayList<>(plan.sizes());
        if (!s.contains(64)) s.add(64);   // the harness-cost cell runs at 64 B
        return s;
    }

    private void startAll() throws IOException {
        Files.createDirectories(errDir);
        for (Row r : plan.rows()) {
            if (aborted) return;
            progress.status("starting " + r.id());
            RowPeers p = new RowPeers(r, errDir);
            peers.add(p);
            p.start(name + "-" + r.id(), sizesForPeers(), timeoutMs);
        }
    }

    /** JIT warm-up of every row (ping-pong, then one-way, at the first size), not recorded; tls needs 3 s for JSSE's intrinsics. */
    private void warmUp() {
        int size = plan.sizes().getFirst();
        openAll(size);
        for (RowPeers p : live(plan.rows())) {
            progress.step("warming up " + p.row.id());
            long w = p.row.transport().equals("tls") ? Math.max(plan.firstWarmMs(), 3000) : plan.firstWarmMs();
            if (plan.kinds().contains("lat")) p.command(String.join(" ", "LAT", str(size), str(plan.cpuA()), str(plan.cpuB()), str(w), "10", "1000000", "0"), timeoutMs + w);
            if (plan.kinds().contains("tput")) p.command(String.join(" ", "TPUT", str(size), str(plan.cpuA()), str(plan.cpuB()), str(w), "10", "0"), timeoutMs + w);
        }
    }

    private void openAll(int size) {
        for (RowPeers p : live(plan.rows())) p.command("OPEN " + size, timeoutMs);
    }

    private List<RowPeers> live(List<Row> rows) {
        List<RowPeers> l = new ArrayList<>();
        for (Row r : rows) {
            RowPeers p = peersOf(r);
            if (p != null && p.failure == null) l.add(p);
        }
        return l;
    }

    private RowPeers peersOf(Row r) {
        return peers.stream().filter(p -> p.row == r).findFirst().orElse(null);
    }

    private long ourCpuNanos() {
        long n = Proc.cpuNanos(ProcessHandle.current().pid());
        for (RowPeers p : peers) for (ProcessHandle h : p.handles()) n += Proc.cpuNanos(h.pid());
        return n;
    }

    static Map<String, String> parse(String line) {
        Map<String, String> m = new LinkedHashMap<>();
        for (String kv : line.substring(line.indexOf(' ') + 1).trim().split(" ")) {
            int eq = kv.indexOf('=');
            if (eq > 0) m.put(kv.substring(0, eq), kv.substring(eq + 1));
        }
        return m;
    }

    private static String str(long v) {
        return Long.toString(v);
    }

    // ------------------------------------------------------------------ ending

    @Override
    public void close() {
        for (RowPeers p : peers) p.close();
        removeLeftovers(List.of());
    }

    /** Ctrl-C: stop every peer (SIGTERM, so Fable's own exit hooks run; SIGKILL after 3 s) and remove their files. */
    void abort() {
        aborted = true;
        progress.interrupted();
        List<ProcessHandle> all = new ArrayList<>();
        for (RowPeers p : peers) all.addAll(p.handles());
        all.addAll(handles(extra));
        stop(all);
        removeLeftovers(all);
        System.err.println("fable bench: interrupted; " + all.size() + " peer processes stopped and their shared-memory files removed");
    }

    /** The processes and their descendants. */
    static List<ProcessHandle> handles(List<Process> processes) {
        List<ProcessHandle> all = new ArrayList<>();
        for (Process x : processes) {
            all.add(x.toHandle());
            x.descendants().forEach(all::add);
        }
        return all;
    }

    /** Stops every process: SIGTERM, so Fable's own exit hooks run; SIGKILL after 3 s. */
    static void stop(List<ProcessHandle> all) {
        all.forEach(ProcessHandle::destroy);
        long deadline = System.nanoTime() + 3_000_000_000L;
        for (ProcessHandle h : all) {
            try {
                h.onExit().get(Math.max(1, deadline - System.nanoTime()), java.util.concurrent.TimeUnit.NANOSECONDS);
            } catch (Exception stillAlive) {
                h.destroyForcibly();
                h.onExit().join();
            }
        }
    }

    /** Removes the Fable pools of processes that died without their exit hooks. */
    static void removeFilesOf(List<ProcessHandle> dead) {
        for (ProcessHandle h : dead) ShmFiles.removeFilesOf(ShmFiles.defaultDirectory(), h.pid());
    }

    /** Aeron's directories and the raw rings' files of this run, and the Fable pools of peers that died without their exit hooks. */
    private void removeLeftovers(List<ProcessHandle> dead) {
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(PeerJvm.shmDir(), name + "*-{aeron,raw}")) {
            for (Path d : ds) deleteTree(d);
        } catch (IOException ignored) {
            // nothing there
        }
        removeFilesOf(dead);
    }

    private static void deleteTree(Path d) throws IOException {
        try (Stream<Path> s = Files.walk(d)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        }
    }
}
