package dev.fable.bench;

import org.apache.commons.csv.CSVFormat;
import org.apache.commons.csv.CSVPrinter;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Everything a run prints and writes, from its samples: per placement a table (rows × RTT p50 and
 * throughput per size, median of the rounds with its spread, best per column marked), one verdict
 * per size, Fable shm against Aeron, the harness's own cost, rendezvous; and the files
 * ({@code samples.csv}, {@code summary.csv}, {@code summary.md}, PNG charts).
 */
final class BenchReport {
    private final IpcBench.Plan plan;
    private final List<Sample> samples;
    private final Map<String, List<GridCell>> grid;
    private final double[] harness;
    private final boolean verify;

    BenchReport(IpcBench.Plan plan, List<Sample> samples, Map<String, List<GridCell>> grid, double[] harness, boolean verify) {
        this.plan = plan;
        this.samples = samples;
        this.grid = grid;
        this.harness = harness;
        this.verify = verify;
    }

    // ------------------------------------------------------------------ figures

    static double median(double[] sorted) {
        int n = sorted.length;
        return n == 0 ? Double.NaN : n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }

    private List<Sample> of(String row, String placement, String kind, int size) {
        return samples.stream().filter(s -> s.row().equals(row) && s.placement().equals(placement) && s.kind().equals(kind)
                && s.size() == size).toList();
    }

    /** Median and spread of {@code key} over the rounds of a cell that count ({@link #rounds}) and did not fail; null if none. */
    Stat stat(String row, String placement, String kind, int size, String key) {
        List<Integer> use = rounds(placement, kind, size);
        double[] v = of(row, placement, kind, size).stream().filter(s -> !s.failed() && use.contains(s.rep())).mapToDouble(s -> s.value(key))
                .filter(d -> !Double.isNaN(d)).sorted().toArray();
        return v.length == 0 ? null : new Stat(median(v), v[0], v[v.length - 1], v.length);
    }

    /** The failure of a cell whose every round failed, else null. */
    String failure(String row, String placement, String kind, int size) {
        List<Sample> s = of(row, placement, kind, size);
        return !s.isEmpty() && s.stream().allMatch(Sample::failed) ? s.getFirst().error() : null;
    }

    /** The cell's main figure: p50 RTT (ns) for lat, bytes/s for tput. */
    Stat figure(String row, String placement, String kind, int size) {
        return stat(row, placement, kind, size, kind.equals("lat") ? "p50" : "bytesPerSec");
    }

    /** The rounds of a cell (all its rows ran in each), with their placement label and quietness. */
    private Map<Integer, Sample> roundsOf(String placement, String kind, int size) {
        Map<Integer, Sample> m = new LinkedHashMap<>();
        for (Sample s : samples) {
            if (s.placement().equals(placement) && s.kind().equals(kind) && s.size() == size) m.putIfAbsent(s.rep(), s);
        }
        return m;
    }

    /**
     * The rounds a cell's figure is the median of. A cross-core figure moves 3-4x with the host's
     * placement of our vCPUs, so a median over near and far rounds would describe neither: use the
     * near rounds (the quiet ones among them if any), else the far ones, else all (mixed).
     */
    List<Integer> rounds(String placement, String kind, int size) {
        Map<Integer, Sample> r = roundsOf(placement, kind, size);
        for (String label : new String[] {"same", "near", "far"}) {
            List<Integer> l = r.values().stream().filter(s -> s.placementLabel().equals(label)).map(Sample::rep).toList();
            List<Integer> quiet = r.values().stream().filter(s -> s.placementLabel().equals(label) && s.quiet()).map(Sample::rep).toList();
            if (!quiet.isEmpty()) return quiet;
            if (!l.isEmpty()) return l;
        }
        return List.copyOf(r.keySet());
    }

    /** Where a cell's figure comes from: same (one CPU), near/far/mixed, and how many of its rounds, e.g. "near 2/3". */
    String placementOf(String placement, String kind, int size) {
        Map<Integer, Sample> r = roundsOf(placement, kind, size);
        List<Integer> use = rounds(placement, kind, size);
        if (r.isEmpty()) return "";
        String label = use.stream().map(rep -> r.get(rep).placementLabel()).distinct().count() == 1 ? r.get(use.getFirst()).placementLabel() : "mixed";
        return use.size() == r.size() ? label : label + " " + use.size() + "/" + r.size();
    }

    static String ns(double n) {
        if (Double.isNaN(n)) return "-";
        if (n >= 10_000_000) return String.format(Locale.ROOT, "%.1f ms", n / 1e6);
        if (n >= 1_000_000) return String.format(Locale.ROOT, "%.2f ms", n / 1e6);
        if (n >= 10_000) return String.format(Locale.ROOT, "%.1f µs", n / 1000.0);
        return n >= 1000 ? String.format(Locale.ROOT, "%.2f µs", n / 1000.0) : String.format(Locale.ROOT, "%.0f ns", n);
    }

    static String rate(double bytesPerSec, int size) {
        if (size < 1024) return String.format(Locale.ROOT, "%.2f M/s", bytesPerSec / size / 1e6);
        return bytesPerSec >= 1e9 ? String.format(Locale.ROOT, "%.2f GB/s", bytesPerSec / 1e9) : String.format(Locale.ROOT, "%.0f MB/s", bytesPerSec / 1e6);
    }

    static String both(double bytesPerSec, int size) {
        return String.format(Locale.ROOT, "%.2f M msg/s, %s", bytesPerSec / size / 1e6,
                bytesPerSec >= 1e9 ? String.format(Locale.ROOT, "%.2f GB/s", bytesPerSec / 1e9) : String.format(Locale.ROOT, "%.0f MB/s", bytesPerSec / 1e6));
    }

    /** Largest deviation of a round from the median, in % of the median. */
    static double spreadPct(Stat s) {
        return s.median() == 0 ? 0 : 100 * Math.max(s.max() - s.median(), s.median() - s.min()) / s.median();
    }

    private String cell(String row, String placement, String kind, int size, boolean best) {
        Stat s = figure(row, placement, kind, size);
        if (s == null) return failure(row, placement, kind, size) != null ? "FAILED" : "";
        String v = kind.equals("lat") ? ns(s.median()) : rate(s.median(), size);
        return (best ? "*" : "") + v + (s.n() > 1 ? String.format(Locale.ROOT, " ±%.0f%%", spreadPct(s)) : "");
    }

    /** The best row of a column: lowest p50 RTT, highest throughput; yardstick rows ({@link Row#yardstick()}) do not compete. */
    String best(String placement, String kind, int size) {
        String best = null;
        double bv = Double.NaN;
        for (Row r : plan.rows()) {
            Stat s = figure(r.id(), placement, kind, size);
            if (s == null || r.yardstick()) continue;
            if (best == null || (kind.equals("lat") ? s.median() < bv : s.median() > bv)) {
                best = r.id();
                bv = s.median();
            }
        }
        return best;
    }

    private List<String> measuredKinds() {
        return plan.kinds().stream().filter(k -> !k.equals("rdv")).toList();
    }

    // ------------------------------------------------------------------ the text

    private boolean hasTlsRow() {
        return plan.rows().stream().anyMatch(r -> r.id().equals("fable-tls"));
    }

    /** Which engine encrypts the tls rows (the peers are given the same -Dfable.tls.engine). */
    private static String tlsEngine() {
        return "TLS engine: " + dev.fable.transport.tls.TlsTransport.engineName()
                + " (-Dfable.tls.engine=jdk|boringssl; boringssl needs the fable-tls-native module, which ./fable has)";
    }

    /** Header, one table per placement, verdicts and comparisons: what the terminal shows, also the body of summary.md. */
    String terminal() {
        StringBuilder sb = new StringBuilder();
        if (!grid.isEmpty()) return gridText();
        if (hasTlsRow()) sb.append(tlsEngine()).append('\n');
        for (String placement : plan.placements()) {
            sb.append(placement.equals("diff") ? "Different cores (CPUs " + plan.cpuA() + " and " + plan.cpuB() + ")"
                    : "Same core (both on CPU " + plan.cpuA() + ")").append(": median of ").append(plan.repeat())
                    .append(plan.repeat() == 1 ? " round" : " rounds").append(", ±max deviation of a round; * = best in column")
                    .append(plan.hog() ? "; LOAD: a CPU hog (yes) pinned to each measured CPU during every round" : "").append('\n');
            sb.append(table(placement, false)).append('\n');
        }
        sb.append(verdicts()).append(aeron()).append(harnessText()).append(rendezvous()).append(failures());
        return sb.toString();
    }

    /** The table of one placement; {@code md} gives a Markdown table. */
    String table(String placement, boolean md) {
        List<String> head = new ArrayList<>(List.of("transport"));
        List<String[]> cols = new ArrayList<>();
        for (String kind : measuredKinds()) {
            for (int size : plan.sizes()) {
                String where = placement.equals("diff") ? " (" + placementOf(placement, kind, size) + ")" : "";
                head.add((kind.equals("lat") ? "RTT p50 " : "one-way ") + IpcBench.human(size) + where);
                cols.add(new String[] {kind, Integer.toString(size)});
            }
        }
        List<List<String>> lines = new ArrayList<>();
        for (Row r : plan.rows()) {
            List<String> l = new ArrayList<>(List.of(r.id()));
            for (String[] c : cols) {
                int size = Integer.parseInt(c[1]);
                l.add(cell(r.id(), placement, c[0], size, r.id().equals(best(placement, c[0], size))));
            }
            lines.add(l);
        }
        return md ? Tables.markdown(head, lines) : Tables.text(head, lines);
    }

    String verdicts() {
        StringBuilder sb = new StringBuilder("Verdict per cell (which row won, yardsticks aside; auto's row against it" + (plan.hog() ? "; under a CPU hog" : "") + "):\n");
        for (String placement : plan.placements()) {
            for (int size : plan.sizes()) {
                sb.append("  ").append(IpcBench.human(size)).append(", ").append(placement.equals("diff") ? "different cores" : "same core").append(": ");
                List<String> parts = new ArrayList<>();
                for (String kind : measuredKinds()) {
                    String b = best(placement, kind, size);
                    if (b == null) continue;
                    Stat s = figure(b, placement, kind, size);
                    boolean lat = kind.equals("lat");
                    String part = lat ? "lowest RTT " + b + " (" + ns(s.median()) + ")" : "highest throughput " + b + " (" + both(s.median(), size) + ")";
                    Stat auto = figure("fable-auto", placement, kind, size);
                    if (auto != null && !b.equals("fable-auto")) {
                        double ratio = lat ? auto.median() / s.median() : s.median() / auto.median();   // > 1: auto is worse by that factor
                        part += String.format(Locale.ROOT, ", auto %s = %.2f× off the best%s", lat ? ns(auto.median()) : both(auto.median(), size), ratio,
                                ratio > 1.10 ? " (**more than 10%**)" : "");
                    } else if (auto != null) {
                        part += ", auto is the best";
                    }
                    for (Row y : plan.rows()) {
                        Stat ys = y.yardstick() ? figure(y.id(), placement, kind, size) : null;
                        if (ys != null) part += "; yardstick " + y.id() + " " + (lat ? ns(ys.median()) : both(ys.median(), size));
                    }
                    parts.add(part);
                }
                String auto = autoPick(placement, size);
                if (auto != null) parts.add("auto picked " + auto);
                sb.append(parts.isEmpty() ? "no figures" : String.join("; ", parts)).append('\n');
            }
        }
        return sb.append('\n').toString();
    }

    private String autoPick(String placement, int size) {
        return samples.stream().filter(s -> s.row().equals("fable-auto") && s.placement().equals(placement) && s.size() == size && !s.failed())
                .map(s -> s.values().get("transport")).filter(t -> t != null).findFirst().orElse(null);
    }

    /** Fable shm (trusted, spin, different cores) against Aeron IPC in this run. */
    String aeron() {
        if (plan.rows().stream().noneMatch(r -> r.id().equals("aeron-ipc")) || plan.rows().stream().noneMatch(r -> r.id().equals("fable-shm-spin"))
                || !plan.placements().contains("diff")) {
            return "";
        }
        StringBuilder sb = new StringBuilder("Fable shm (trusted, spin) against Aeron IPC, different cores, this run:\n");
        for (String kind : measuredKinds()) {
            for (int size : plan.sizes()) {
                Stat f = figure("fable-shm-spin", "diff", kind, size), a = figure("aeron-ipc", "diff", kind, size);
                if (f == null || a == null) continue;
                boolean lat = kind.equals("lat");
                boolean wins = lat ? f.median() < a.median() : f.median() > a.median();
                sb.append(String.format(Locale.ROOT, "  %-8s %-10s Fable %-24s Aeron %-24s %.2f× %s%n", IpcBench.human(size),
                        lat ? "RTT p50" : "one-way", lat ? ns(f.median()) : both(f.median(), size), lat ? ns(a.median()) : both(a.median(), size),
                        f.median() / a.median(), wins ? "Fable better" : "**Aeron better**"));
            }
        }
        return sb.append('\n').toString();
    }

    String harnessText() {
        if (harness == null) return "";
        double cost = 100 * (1 - harness[1] / harness[0]);
        return String.format(Locale.ROOT, "Harness cost at 64 B (fable-shm-spin, different cores, median of %d): hand-written loop %.2f M msg/s, "
                + "harness %.2f M msg/s: the harness costs %.1f%% (target ≤ 5%%)%n%n", plan.repeat(), harness[0] / 1e6, harness[1] / 1e6, cost);
    }

    String rendezvous() {
        List<Sample> rdv = samples.stream().filter(s -> s.kind().equals("rdv")).toList();
        if (rdv.isEmpty()) return "";
        StringBuilder sb = new StringBuilder("Rendezvous (connect → first message, paced 20 ms apart):\n");
        for (Sample s : rdv) {
            if (s.failed()) sb.append("  ").append(s.row()).append(": FAILED ").append(s.error()).append('\n');
            else sb.append(String.format(Locale.ROOT, "  %-20s via %-5s p50 %s  p90 %s  p99 %s  (%s connects)%n", s.row(), s.values().get("transport"),
                    ns(s.value("p50")), ns(s.value("p90")), ns(s.value("p99")), s.values().get("rts")));
        }
        return sb.append('\n').toString();
    }

    String failures() {
        Map<String, String> f = new LinkedHashMap<>();
        for (Sample s : samples) if (s.failed()) f.putIfAbsent(s.row(), s.error());
        if (f.isEmpty()) return "";
        StringBuilder sb = new StringBuilder("Failed rows (their later cells show FAILED):\n");
        f.forEach((row, why) -> sb.append("  ").append(row).append(": ").append(why).append('\n'));
        return sb.append('\n').toString();
    }

    String gridText() {
        StringBuilder sb = new StringBuilder();
        int n = (int) Math.round(Math.sqrt(grid.values().iterator().next().size()));
        for (Map.Entry<String, List<GridCell>> e : grid.entrySet()) {
            sb.append(e.getKey()).append(": p50 RTT at ").append(IpcBench.human(plan.sizes().getFirst())).append(" (rows: pinger CPU, columns: echo CPU)\n");
            List<String> head = new ArrayList<>(List.of("cpu"));
            for (int b = 0; b < n; b++) head.add("cpu" + b);
            List<List<String>> lines = new ArrayList<>();
            for (int a = 0; a < n; a++) {
                List<String> l = new ArrayList<>(List.of("cpu" + a));
                for (int b = 0; b < n; b++) l.add(ns(e.getValue().get(a * n + b).p50Nanos()));
                lines.add(l);
            }
            sb.append(Tables.text(head, lines)).append('\n');
        }
        return sb.append(failures()).toString();
    }

    // ------------------------------------------------------------------ files

    void write(Path dir) throws IOException {
        writeSamples(dir.resolve("samples.csv"));
        writeSummary(dir.resolve("summary.csv"));
        List<String> images = charts(dir);
        Files.writeString(dir.resolve("summary.md"), markdown(images));
    }

    static final String[] SAMPLE_COLUMNS = {"row", "placement", "kind", "size", "round", "cpu_a", "cpu_b", "probe_before_ns",
            "probe_after_ns", "placement_label", "foreign_cpu_pct", "steal_pct", "transport", "count", "p50_ns", "p90_ns", "p99_ns",
            "p999_ns", "max_ns", "msg_per_s", "bytes_per_s", "reader_alloc_per_msg", "writer_alloc_per_msg", "error"};
    static final String[] SUMMARY_COLUMNS = {"row", "placement", "kind", "size", "placement_label", "rounds", "median", "min", "max",
            "unit", "p90_ns", "p99_ns", "p999_ns", "msg_per_s", "error"};
    /** RFC 4180 with '\n' line ends: a field is quoted only when it needs to be (an error text with a comma, quote or newline). */
    static final CSVFormat CSV = CSVFormat.DEFAULT.builder().setRecordSeparator('\n').get();

    void writeSamples(Path file) throws IOException {
        try (CSVPrinter out = CSV.builder().setHeader(SAMPLE_COLUMNS).get().print(file, StandardCharsets.UTF_8)) {
            for (Sample s : samples) {
                Map<String, String> v = s.values();
                out.printRecord(s.row(), s.placement(), s.kind(), s.size(), s.rep(), s.cpuA(), s.cpuB(), num(s.probeBefore()),
                        num(s.probeAfter()), s.placementLabel(), num(s.foreignPct()), num(s.stealPct()), v.getOrDefault("transport", ""),
                        v.getOrDefault("rts", v.getOrDefault("msgs", "")), v.getOrDefault("p50", ""), v.getOrDefault("p90", ""),
                        v.getOrDefault("p99", ""), v.getOrDefault("p999", ""), v.getOrDefault("max", ""), v.getOrDefault("msgPerSec", ""),
                        v.getOrDefault("bytesPerSec", ""), v.getOrDefault("readerAllocPerMsg", v.getOrDefault("allocPerRt", "")),
                        v.getOrDefault("writerAllocPerMsg", ""), s.failed() ? s.error() : "");
            }
        }
    }

    void writeSummary(Path file) throws IOException {
        try (CSVPrinter out = CSV.builder().setHeader(SUMMARY_COLUMNS).get().print(file, StandardCharsets.UTF_8)) {
            for (String placement : plan.placements()) {
                for (String kind : measuredKinds()) {
                    for (int size : plan.sizes()) {
                        for (Row r : plan.rows()) {
                            Stat s = figure(r.id(), placement, kind, size);
                            String fail = failure(r.id(), placement, kind, size);
                            boolean lat = kind.equals("lat");
                            Stat p90 = lat ? stat(r.id(), placement, kind, size, "p90") : null, p99 = lat ? stat(r.id(), placement, kind, size, "p99") : null,
                                    p999 = lat ? stat(r.id(), placement, kind, size, "p999") : null,
                                    mps = lat ? null : stat(r.id(), placement, kind, size, "msgPerSec");
                            out.printRecord(r.id(), placement, kind, size, placementOf(placement, kind, size), s == null ? 0 : s.n(),
                                    s == null ? "" : num(s.median()), s == null ? "" : num(s.min()), s == null ? "" : num(s.max()),
                                    lat ? "ns" : "bytes/s", p90 == null ? "" : num(p90.median()), p99 == null ? "" : num(p99.median()),
                                    p999 == null ? "" : num(p999.median()), mps == null ? "" : num(mps.median()), fail == null ? "" : fail);
                        }
                    }
                }
            }
        }
    }

    private static String num(double d) {
        return Double.isNaN(d) ? "" : String.format(Locale.ROOT, d == Math.rint(d) ? "%.0f" : "%.3f", d);
    }

    String markdown(List<String> images) {
        StringBuilder sb = new StringBuilder("# fable bench results\n\n");
        sb.append("- Machine: ").append(Machine.describe()).append('\n');
        sb.append("- Rows: ").append(String.join(", ", plan.rows().stream().map(Row::id).toList())).append('\n');
        if (hasTlsRow()) sb.append("- ").append(tlsEngine()).append('\n');
        sb.append("- Load: ").append(plan.hog() ? "a CPU hog (yes, pinned with taskset) on each measured CPU during every round (--load hog)" : "none").append('\n');
        sb.append("- Checks: ").append(verify ? "every byte of every message (--verify)" : "length and sequence number of every message").append('\n');
        sb.append("- Rounds per cell: ").append(plan.repeat()).append(" (rows interleaved within a round); lat ").append(plan.latMs()[0]).append("+")
                .append(plan.latMs()[1]).append(" ms, tput ").append(plan.tputMs()[0]).append("+").append(plan.tputMs()[1])
                .append(" ms (warm-up + measured) per row and round\n\n");
        if (!grid.isEmpty()) {
            sb.append("```\n").append(gridText()).append("```\n\n");
        } else {
            for (String placement : plan.placements()) {
                sb.append("## ").append(placement.equals("diff") ? "Different cores" : "Same core").append("\n\n").append(table(placement, true)).append('\n');
            }
            sb.append("```\n").append(verdicts()).append(aeron()).append(harnessText()).append(rendezvous()).append(failures()).append("```\n\n");
        }
        for (String img : images) sb.append("![").append(img).append("](").append(img).append(")\n\n");
        return sb.toString();
    }

    /** PNG charts of the run (see {@link BenchCharts}); their file names. */
    List<String> charts(Path dir) throws IOException {
        List<String> names = new ArrayList<>();
        if (!grid.isEmpty()) {
            for (Map.Entry<String, List<GridCell>> e : grid.entrySet()) {
                names.add(BenchCharts.heatmap(e.getKey(), e.getValue(), dir).getFileName().toString());
            }
            return names;
        }
        List<TputPoint> tput = new ArrayList<>();
        List<LatCurve> lat = new ArrayList<>();
        for (String placement : plan.placements()) {
            for (int size : plan.sizes()) {
                for (Row r : plan.rows()) {
                    Stat b = stat(r.id(), placement, "tput", size, "bytesPerSec");
                    if (b != null) tput.add(new TputPoint(r.id(), placement, size, b, stat(r.id(), placement, "tput", size, "msgPerSec")));
                    double[] p = new double[PCT_COUNT];
                    boolean any = false;
                    for (int i = 0; i < PCT_COUNT; i++) {
                        Stat s = stat(r.id(), placement, "lat", size, IpcBench.PCT_KEYS[i]);
                        p[i] = s == null ? Double.NaN : s.median();
                        any |= s != null;
                    }
                    if (any) lat.add(new LatCurve(r.id(), placement, size, IpcBench.PERCENTILES.clone(), p));
                }
            }
        }
        if (!tput.isEmpty()) names.add(BenchCharts.throughputBars(tput, dir).getFileName().toString());
        if (!lat.isEmpty()) for (Path p : BenchCharts.latencyCurves(lat, dir)) names.add(p.getFileName().toString());
        return names;
    }

    private static final int PCT_COUNT = IpcBench.PERCENTILES.length;
}
