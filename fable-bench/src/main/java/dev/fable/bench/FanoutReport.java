package dev.fable.bench;

import org.apache.commons.csv.CSVPrinter;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.ToDoubleFunction;

/**
 * The report of {@code --fanout}: per size and N, the aggregate delivered throughput of each family
 * (median of the rounds that count, with its spread and placement), the fan-out's drops, the
 * fan-out against Aeron with the target, and per-consumer latency; the files
 * {@code fanout.md}, {@code fanout-samples.csv} (one line per consumer per cell and round),
 * {@code fanout-summary.csv} and {@code fanout.png}.
 */
final class FanoutReport {
    private final FanoutRun.Settings s;
    private final List<FanoutSample> samples;

    FanoutReport(FanoutRun.Settings s, List<FanoutSample> samples) {
        this.s = s;
        this.samples = samples;
    }

    /** Target of the issue: fable-fanout's aggregate ≥ this × Aeron's (2 at 4 KiB and above, 1 below). */
    static double target(int size) {
        return size >= 4096 ? 2 : 1;
    }

    // ------------------------------------------------------------------ figures

    private List<FanoutSample> of(String family, int n, int size, String kind) {
        return samples.stream().filter(x -> x.family().equals(family) && x.consumers() == n && x.size() == size && x.kind().equals(kind)).toList();
    }

    /**
     * The rounds a cell's figure is the median of, as the matrix ({@link BenchReport#rounds}): of the
     * rounds that did not fail, the near ones (the quiet ones among them if any), else the far ones,
     * else all (mixed). A median over near and far rounds would describe neither.
     */
    List<FanoutSample> used(String family, int n, int size, String kind) {
        List<FanoutSample> ok = of(family, n, size, kind).stream().filter(x -> !x.failed()).toList();
        for (String label : new String[] {"same", "near", "far"}) {
            List<FanoutSample> l = ok.stream().filter(x -> x.placementLabel().equals(label)).toList();
            List<FanoutSample> quiet = l.stream().filter(FanoutSample::quiet).toList();
            if (!quiet.isEmpty()) return quiet;
            if (!l.isEmpty()) return l;
        }
        return ok;
    }

    Stat stat(String family, int n, int size, String kind, ToDoubleFunction<FanoutSample> f) {
        double[] v = used(family, n, size, kind).stream().mapToDouble(f).filter(d -> !Double.isNaN(d)).sorted().toArray();
        return v.length == 0 ? null : new Stat(BenchReport.median(v), v[0], v[v.length - 1], v.length);
    }

    Stat throughput(String family, int n, int size) {
        return stat(family, n, size, "tput", FanoutSample::aggregateBytesPerSec);
    }

    /** "near", "far 2/3", "mixed": where a cell's figure comes from. */
    String placementOf(String family, int n, int size, String kind) {
        List<FanoutSample> all = of(family, n, size, kind), use = used(family, n, size, kind);
        if (use.isEmpty()) return "";
        String label = use.stream().map(FanoutSample::placementLabel).distinct().count() == 1 ? use.getFirst().placementLabel() : "mixed";
        return use.size() == all.size() ? label : label + " " + use.size() + "/" + all.size();
    }

    /** The first failure of a cell whose every round failed, else null. */
    String failure(String family, int n, int size, String kind) {
        List<FanoutSample> l = of(family, n, size, kind);
        return !l.isEmpty() && l.stream().allMatch(FanoutSample::failed) ? l.getFirst().error() : null;
    }

    private static String rate(double bytesPerSec, int size) {
        String bytes = bytesPerSec >= 1e9 ? String.format(Locale.ROOT, "%.2f GB/s", bytesPerSec / 1e9)
                : String.format(Locale.ROOT, "%.0f MB/s", bytesPerSec / 1e6);
        return size < 1024 ? String.format(Locale.ROOT, "%.2f M msg/s (%s)", bytesPerSec / size / 1e6, bytes) : bytes;
    }

    private String tputCell(String family, int n, int size) {
        Stat st = throughput(family, n, size);
        if (st == null) return failure(family, n, size, "tput") != null ? "FAILED" : "-";
        return rate(st.median(), size) + (st.n() > 1 ? String.format(Locale.ROOT, " ±%.0f%%", BenchReport.spreadPct(st)) : "")
                + " " + placementOf(family, n, size, "tput");
    }

    private String latCell(String family, int n, int size, String key, boolean worstToo) {
        Stat med = stat(family, n, size, "lat", x -> x.latency(key, false)), worst = stat(family, n, size, "lat", x -> x.latency(key, true));
        if (med == null) return failure(family, n, size, "lat") != null ? "FAILED" : "-";
        return worstToo ? BenchReport.ns(med.median()) + " / " + BenchReport.ns(worst.median()) : BenchReport.ns(worst.median());
    }

    /** fable-fanout ÷ aeron-fanout aggregate, NaN if either is missing. */
    double ratio(int n, int size) {
        Stat f = throughput(FanoutBench.FANOUT, n, size), a = throughput(FanoutBench.AERON, n, size);
        return f == null || a == null || !(a.median() > 0) ? Double.NaN : f.median() / a.median();
    }

    // ------------------------------------------------------------------ text

    String markdown(boolean chart) {
        StringBuilder sb = new StringBuilder("# fable bench --fanout: one producer, N consumers\n\n");
        int maxN = s.consumers().stream().mapToInt(Integer::intValue).max().orElse(1);
        List<Integer> cpus = s.consumerCpus(maxN);
        sb.append("- Machine: ").append(Machine.describe()).append('\n');
        sb.append("- Placement: the producer's sending thread pinned to CPU ").append(s.cpuA()).append("; consumer k's reading thread to ")
                .append(cpus.stream().distinct().count() == 1 ? "CPU " + cpus.getFirst() + " for every k (with " + maxN + " consumers they share it)"
                        : "CPUs " + cpus + " for k = 0.." + (maxN - 1) + " (round-robin over every CPU but the producer's)")
                .append(". Only those threads are pinned (each JVM's JIT, GC and library threads float). A consumer that finds nothing "
                        + "spins when it has its CPU to itself and calls Thread.yield() when it shares it, in every family.\n");
        sb.append("- Families: **fable-fanout** one `Publisher` (fan-out pool of ").append(IpcBench.human(s.poolBytes()))
                .append(" in slots of the message size, at most ").append(FanoutBench.MAX_FANOUT_SLOTS)
                .append(" slots (").append(IpcBench.human(64L * FanoutBench.MAX_FANOUT_SLOTS)).append(" at 64 B), read quota ").append(s.quota() == 0 ? "a quarter of the pool" : s.quota() + " slots")
                .append(", subscriber log ").append(IpcBench.human(s.logBytes())).append("), each consumer a shm subscriber reading in place; "
                        + "**aeron-fanout** one Aeron IPC exclusive publication (64 MiB term, embedded SHARED media driver in the producer, "
                        + "`tryClaim` up to one frame and `offer` above), N subscriptions, each in its consumer's JVM, polled "
                        + FanoutBench.AERON_POLL_LIMIT + " fragments at a time through a `FragmentAssembler`; **fable-1to1** N one-to-one "
                        + "Fable shm connections (the matrix's fable-shm-spin options), the producer writing every message into each.\n");
        sb.append("- Throughput (flat out, ").append(s.tputMs()[0]).append(" ms warm-up (").append(s.firstWarmMs())
                .append(" ms × N/2 (at least once) in a group's first cell: its N consumer JVMs are fresh), ").append(s.tputMs()[1])
                .append(" ms measured): the producer sends for warm-up + measured time + ").append(s.tputMs()[2]).append(" ms; each consumer "
                        + "counts what it receives while the host's clock is in the measured window (the producer's start time, carried in "
                        + "every message, + warm-up), whatever it is (a consumer running behind is still draining: that is what it delivers); "
                        + "**aggregate delivered** = the sum over consumers of bytes received in the window / its length. The producer writes every byte of every message; each consumer "
                        + "checks every message's length, sequence number and last byte")
                .append(s.verify() ? ", and every byte (--verify)" : ": two cache lines of a message (run with --verify to make every "
                        + "consumer read every byte). A zero-copy reader (both Fable families) therefore leaves the payload where the producer "
                        + "wrote it, while Aeron's `FragmentAssembler` copies every message above one frame (4 KiB, 64 KiB) into its own "
                        + "buffer in every consumer").append(".\n");
        sb.append("- Slow consumers: **fable-fanout never waits for a subscriber** (unless the quota is the whole pool: then the slowest paces "
                + "it, its broadcast log too): a message whose subscriber queue is full is dropped for that subscriber (counted by the "
                + "publisher and told to the subscriber), and a subscriber the broadcast log (messages of at most 512 B, "
                + FanoutBench.BROADCAST_LOG_BYTES / (1 << 20) + " MiB) laps loses what it was lapped by (it counts that itself); each checks "
                + "that its sequence numbers account for exactly the drops it was told of. The *drops* column is the larger of the share of "
                + "(message, subscriber) pairs the publisher dropped in the measured phase and the share the consumers were told they "
                + "lost of the sequence numbers their windows covered; only delivered messages count. **aeron-fanout and fable-1to1 "
                + "back-pressure instead**: the producer waits for the slowest consumer and nothing is lost.\n");
        sb.append("- Latency (paced: one message per ").append(s.paceNanos() / 1000).append(" µs, ").append(s.latMs()[1])
                .append(" ms measured after ").append(s.latMs()[0]).append(" ms): one-way delay from the producer's System.nanoTime() "
                        + "just before sending to the consumer's when it has the message (one host, one clock), per consumer; the table gives "
                        + "p50 of the median consumer / of the worst, and p99 of the worst consumer.\n");
        sb.append("- Rounds: ").append(s.rounds()).append(", each with fresh JVMs per family and N (families rotated between rounds); a figure "
                + "is the median of its near rounds (quiet ones first; else far, else all), ± the largest deviation of a round, and says "
                + "which (e.g. `near 2/3`). Placement probe: a cache-line ping-pong between CPUs ").append(s.cpuA()).append(" and ")
                .append(s.cpuB()).append(" before and after each cell.\n\n");

        sb.append("## Aggregate delivered throughput\n\n");
        List<String> head = new ArrayList<>(List.of("size", "N"));
        head.addAll(List.of("fable-fanout", "fan-out drops", "aeron-fanout", "fable-1to1", "fanout ÷ aeron", "target"));
        List<List<String>> lines = new ArrayList<>();
        for (int size : s.sizes()) {
            for (int n : s.consumers()) {
                Stat drops = stat(FanoutBench.FANOUT, n, size, "tput", FanoutSample::droppedPct);
                double r = ratio(n, size);
                lines.add(List.of(IpcBench.human(size), Integer.toString(n), tputCell(FanoutBench.FANOUT, n, size),
                        drops == null ? "-" : String.format(Locale.ROOT, "%.1f %%", drops.median()), tputCell(FanoutBench.AERON, n, size),
                        tputCell(FanoutBench.ONE_TO_ONE, n, size), Double.isNaN(r) ? "-" : String.format(Locale.ROOT, "%.2f×", r),
                        Double.isNaN(r) ? "-" : String.format(Locale.ROOT, "≥ %.0f×: %s", target(size), r >= target(size) ? "met" : "**not met**")));
            }
        }
        sb.append(Tables.markdown(head, lines)).append('\n');
        sb.append(verdict()).append('\n');
        if (chart) sb.append("![aggregate throughput against N](fanout.png)\n\n");

        sb.append("## Per-consumer one-way latency (paced)\n\n");
        head = new ArrayList<>(List.of("size", "N"));
        for (String f : s.families()) head.addAll(List.of(f + " p50 (median / worst consumer)", f + " p99 (worst consumer)"));
        lines = new ArrayList<>();
        for (int size : s.sizes()) {
            for (int n : s.consumers()) {
                List<String> l = new ArrayList<>(List.of(IpcBench.human(size), Integer.toString(n)));
                for (String f : s.families()) {
                    l.add(latCell(f, n, size, "p50", true) + " " + placementOf(f, n, size, "lat"));
                    l.add(latCell(f, n, size, "p99", false));
                }
                lines.add(l);
            }
        }
        sb.append(Tables.markdown(head, lines)).append('\n');
        sb.append(failures());
        return sb.toString();
    }

    /** One line per size: the fan-out against Aeron for every N, against the target. */
    String verdict() {
        StringBuilder sb = new StringBuilder();
        for (int size : s.sizes()) {
            List<String> r = new ArrayList<>(), miss = new ArrayList<>();
            for (int n : s.consumers()) {
                double x = ratio(n, size);
                r.add(Double.isNaN(x) ? "-" : String.format(Locale.ROOT, "%.2f×", x));
                if (Double.isNaN(x) || x < target(size)) miss.add(Integer.toString(n));
            }
            sb.append(String.format(Locale.ROOT, "- %s: fable-fanout ÷ aeron-fanout = %s for N = %s (target ≥ %.0f×): %s%n", IpcBench.human(size),
                    String.join(", ", r), s.consumers().stream().map(String::valueOf).reduce((a, b) -> a + ", " + b).orElse(""), target(size),
                    miss.isEmpty() ? "**met for every N**" : "not met for N = " + String.join(", ", miss)));
        }
        return sb.toString();
    }

    private String failures() {
        StringBuilder sb = new StringBuilder();
        for (FanoutSample x : samples) {
            if (x.failed()) sb.append("- ").append(x.family()).append(" N=").append(x.consumers()).append(' ').append(IpcBench.human(x.size()))
                    .append(' ').append(x.kind()).append(" round ").append(x.round()).append(": ").append(x.error()).append('\n');
        }
        return sb.isEmpty() ? "" : "## Failed cells\n\n" + sb + "\n";
    }

    // ------------------------------------------------------------------ files

    static final String[] SAMPLE_COLUMNS = {"family", "consumers", "size", "kind", "round", "consumer", "consumer_cpu", "producer_cpu",
            "probe_before_ns", "probe_after_ns", "placement_label", "foreign_cpu_pct", "steal_pct", "messages", "window_ns", "bytes_per_s",
            "drops_told", "p50_ns", "p99_ns", "max_ns", "producer_messages", "producer_ns", "producer_msgs_per_s", "producer_dropped", "error"};
    static final String[] SUMMARY_COLUMNS = {"family", "consumers", "size", "kind", "placement_label", "rounds", "median", "min", "max", "unit",
            "msgs_per_s", "producer_msgs_per_s", "dropped_pct", "p50_worst_ns", "p99_worst_ns", "vs_aeron", "error"};

    /** Writes every file; returns the Markdown report. */
    String write(Path dir) throws IOException {
        writeSamples(dir.resolve("fanout-samples.csv"));
        writeSummary(dir.resolve("fanout-summary.csv"));
        boolean chart = false;
        List<FanoutChart.Point> points = new ArrayList<>();
        for (String f : s.families()) {
            for (int size : s.sizes()) {
                for (int n : s.consumers()) {
                    Stat st = throughput(f, n, size);
                    points.add(new FanoutChart.Point(f, n, size, st == null ? new Stat(Double.NaN, Double.NaN, Double.NaN, 0) : st));
                }
            }
        }
        try {
            FanoutChart.throughputVsConsumers(points, s.cpuA(), s.consumerCpus(s.consumers().stream().mapToInt(Integer::intValue).max().orElse(1)), dir);
            chart = true;
        } catch (RuntimeException | Error e) {   // a chart is not worth the run (headless AWT missing, say)
            System.err.println("fable bench: no fanout.png: " + e);
        }
        String md = markdown(chart);
        Files.writeString(dir.resolve("fanout.md"), md);
        return md;
    }

    private static String num(double d) {
        return Double.isNaN(d) ? "" : String.format(Locale.ROOT, d == Math.rint(d) ? "%.0f" : "%.3f", d);
    }

    void writeSamples(Path file) throws IOException {
        try (CSVPrinter out = BenchReport.CSV.builder().setHeader(SAMPLE_COLUMNS).get().print(file, StandardCharsets.UTF_8)) {
            for (FanoutSample x : samples) {
                Map<String, String> p = x.producer();
                int rows = Math.max(1, x.perConsumer().size());
                for (int k = 0; k < rows; k++) {
                    Map<String, String> c = k < x.perConsumer().size() ? x.perConsumer().get(k) : Map.of();
                    boolean tput = x.kind().equals("tput");
                    out.printRecord(x.family(), x.consumers(), x.size(), x.kind(), x.round(), k, k < x.consumerCpus().size() ? x.consumerCpus().get(k) : "",
                            x.producerCpu(), num(x.probeBefore()), num(x.probeAfter()), x.placementLabel(), num(x.foreignPct()), num(x.stealPct()),
                            c.getOrDefault("msgs", ""), c.getOrDefault("nanos", ""), tput && !c.isEmpty() ? num(x.consumerBytesPerSec(k)) : "",
                            c.getOrDefault("told", ""), c.getOrDefault("p50", ""), c.getOrDefault("p99", ""), c.getOrDefault("max", ""),
                            p.getOrDefault("msgs", ""), p.getOrDefault("nanos", ""), tput && !p.isEmpty() ? num(x.producerMsgsPerSec()) : "",
                            p.getOrDefault("dropped", ""), x.failed() ? x.error() : "");
                }
            }
        }
    }

    void writeSummary(Path file) throws IOException {
        try (CSVPrinter out = BenchReport.CSV.builder().setHeader(SUMMARY_COLUMNS).get().print(file, StandardCharsets.UTF_8)) {
            for (String kind : List.of("tput", "lat")) {
                for (int size : s.sizes()) {
                    for (int n : s.consumers()) {
                        for (String f : s.families()) {
                            boolean tput = kind.equals("tput");
                            Stat main = tput ? throughput(f, n, size) : stat(f, n, size, kind, x -> x.latency("p50", false));
                            Stat prod = tput ? stat(f, n, size, kind, FanoutSample::producerMsgsPerSec) : null;
                            Stat drops = tput && f.equals(FanoutBench.FANOUT) ? stat(f, n, size, kind, FanoutSample::droppedPct) : null;
                            Stat p50w = tput ? null : stat(f, n, size, kind, x -> x.latency("p50", true));
                            Stat p99w = tput ? null : stat(f, n, size, kind, x -> x.latency("p99", true));
                            double r = tput && f.equals(FanoutBench.FANOUT) ? ratio(n, size) : Double.NaN;
                            String fail = failure(f, n, size, kind);
                            out.printRecord(f, n, size, kind, placementOf(f, n, size, kind), main == null ? 0 : main.n(),
                                    main == null ? "" : num(main.median()), main == null ? "" : num(main.min()), main == null ? "" : num(main.max()),
                                    tput ? "bytes/s" : "ns", main == null || !tput ? "" : num(main.median() / size), prod == null ? "" : num(prod.median()),
                                    drops == null ? "" : num(drops.median()), p50w == null ? "" : num(p50w.median()),
                                    p99w == null ? "" : num(p99w.median()), num(r), fail == null ? "" : fail);
                        }
                    }
                }
            }
        }
    }
}
