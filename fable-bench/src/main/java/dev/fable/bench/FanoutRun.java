package dev.fable.bench;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
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
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * {@code ./fable bench --fanout}: one producer JVM, N consumer JVMs ({@link FanoutBench} has the
 * roles and what each family is). For each round, each N and each family in turn (rotated per round,
 * so that no family always goes first), a <em>group</em> of fresh JVMs starts — the producer with its
 * sending thread pinned to the first CPU of {@code --cpus}, the consumers with their reading threads
 * pinned to the other CPUs, from the second of {@code --cpus} on, round-robin (on two CPUs: all on
 * the second) — and measures every size: a flat-out cell (aggregate delivered throughput, the
 * fan-out's drops) and a paced cell (per-consumer one-way latency), each with a placement probe
 * and the machine's load around it. Then the group exits, and the next starts.
 */
final class FanoutRun {
    /** What a run does. Phases in ms: {warm-up, measured, tail}. */
    record Settings(List<Integer> consumers, List<Integer> sizes, List<String> families, int cpuA, int cpuB, int rounds, long[] tputMs,
                    long firstWarmMs, long[] latMs, long paceNanos, long poolBytes, int logBytes, int quota, boolean verify, long timeoutMs) {
        /** The CPU of each of {@code n} consumers: every CPU but the producer's, from cpuB on, round-robin. */
        List<Integer> consumerCpus(int n) {
            return consumerCpus(n, cpuA, cpuB, Runtime.getRuntime().availableProcessors());
        }

        static List<Integer> consumerCpus(int n, int cpuA, int cpuB, int ncpu) {
            List<Integer> pool = new ArrayList<>();
            if (cpuB != cpuA) pool.add(cpuB);
            for (int c = 0; c < ncpu; c++) if (c != cpuA && c != cpuB) pool.add(c);
            if (pool.isEmpty()) pool.add(cpuA);
            List<Integer> cpus = new ArrayList<>();
            for (int k = 0; k < n; k++) cpus.add(pool.get(k % pool.size()));
            return cpus;
        }
    }

    /** The N to run: "auto" (a bare {@code --fanout}) is 1,2,4,8, or 1,2 with --quick. */
    static List<Integer> parseConsumers(String spec, boolean quick) {
        if (spec == null || spec.equals("auto") || spec.isBlank()) return quick ? List.of(1, 2) : List.of(1, 2, 4, 8);
        List<Integer> n = new ArrayList<>();
        for (String s : spec.split(",")) {
            int v;
            try {
                v = Integer.parseInt(s.trim());
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("--fanout takes consumer counts, e.g. 1,2,4,8 (got '" + s.trim() + "')");
            }
            if (v < 1 || v > 64) throw new IllegalArgumentException("--fanout: " + v + " consumers is outside 1..64");
            if (!n.contains(v)) n.add(v);
        }
        return n;
    }

    /** The settings of a run from the matrix's plan (CPUs, sizes, rounds) and the fan-out's own knobs (system properties). */
    static Settings settings(IpcBench.Plan plan, List<Integer> consumers, boolean quick, boolean full, boolean verify, int cellTimeoutSecs) {
        for (int size : plan.sizes()) {
            if (size < FanoutBench.MIN_SIZE) {
                throw new IllegalArgumentException("--fanout: size " + size + " B is too small (each message carries a sequence number, a tag "
                        + "and a send time: use ≥ " + FanoutBench.MIN_SIZE + ")");
            }
            if (size > Row.AERON_MAX_SIZE) {
                throw new IllegalArgumentException("--fanout: size " + IpcBench.human(size) + " is above Aeron's limit of " + IpcBench.human(Row.AERON_MAX_SIZE));
            }
        }
        // warm-up: each group's JVMs are fresh, so the first cell of a group warms up longer (the JIT; notes: ≥ 0.5 s)
        long[] tput = quick ? new long[] {50, 100, 20} : full ? new long[] {500, 1000, 50} : new long[] {300, 500, 30};
        long firstWarm = quick ? 500 : full ? 2000 : 1000;
        long[] lat = quick ? new long[] {30, 100, 5} : full ? new long[] {300, 1000, 10} : new long[] {200, 500, 10};
        long pace = Long.getLong("fable.bench.fanout.paceMicros", 200) * 1000;
        long pool = Long.getLong("fable.bench.fanout.poolMiB", 16) << 20;
        int log = (int) Math.min(Integer.MAX_VALUE, Long.getLong("fable.bench.fanout.logKiB", 1024) << 10);
        int quota = Integer.getInteger("fable.bench.fanout.quota", 0);
        dev.fable.ConnectOptions.trusted().logBytes(log).readQuota(quota);   // checks them now, in one line, rather than in every producer
        List<String> families = FanoutBench.FAMILIES;
        String only = System.getProperty("fable.bench.fanout.families");   // for experiments: a subset, e.g. fable-fanout,aeron-fanout
        if (only != null && !only.isBlank()) {
            families = List.of(only.split(",")).stream().map(String::trim).toList();
            for (String f : families) {
                if (!FanoutBench.FAMILIES.contains(f)) throw new IllegalArgumentException("unknown fan-out family '" + f + "' (known: " + FanoutBench.FAMILIES + ")");
            }
        }
        return new Settings(consumers, plan.sizes(), families, plan.cpuA(), plan.cpuB(), plan.repeat(), tput, firstWarm, lat, pace, pool, log,
                quota, verify, cellTimeoutSecs * 1000L);
    }

    /**
     * Runs the fan-out bench into {@code dir} (fanout.md, fanout-samples.csv, fanout-summary.csv,
     * fanout.png), prints the report; 0, or 3 if a cell failed. Ctrl-C stops every peer.
     */
    static int main(Settings s, Path dir) throws IOException {
        Files.createDirectories(dir);
        List<Process> owned = new CopyOnWriteArrayList<>();
        String prefix = "fo" + ProcessHandle.current().pid();
        Thread cleanup = new Thread(() -> {   // Ctrl-C: no child process, no /dev/shm file, no Aeron directory left behind
            List<ProcessHandle> all = BenchRun.handles(owned);
            BenchRun.stop(all);
            BenchRun.removeFilesOf(all);
            removeAeronDirs(prefix);
        }, "fanout-cleanup");
        Runtime.getRuntime().addShutdownHook(cleanup);
        List<FanoutSample> samples;
        try {
            samples = new FanoutRun(s, dir, owned, prefix).run();
        } finally {
            try {
                Runtime.getRuntime().removeShutdownHook(cleanup);
            } catch (IllegalStateException shuttingDown) {
                // the hook runs anyway
            }
        }
        FanoutReport report = new FanoutReport(s, samples);
        String md = report.write(dir);
        System.out.print(md);
        System.out.println("\nresults: " + dir.toAbsolutePath().resolve("fanout.md") + " (fanout-samples.csv, fanout-summary.csv, fanout.png)");
        return samples.stream().anyMatch(FanoutSample::failed) ? 3 : 0;
    }

    private final Settings s;
    private final Path dir;
    private final List<Process> owned;
    private final String prefix;
    private final List<FanoutSample> samples = new ArrayList<>();
    private final Progress progress = new Progress();
    private long cells;

    private FanoutRun(Settings s, Path dir, List<Process> owned, String prefix) {
        this.s = s;
        this.dir = dir;
        this.owned = owned;
        this.prefix = prefix;
    }

    List<FanoutSample> run() {
        int steps = 0;
        for (int n : s.consumers()) steps += s.families().size() * s.sizes().size() * 2;
        steps *= s.rounds();
        System.out.printf(Locale.ROOT, "fan-out: one producer (CPU %d), N = %s consumer JVMs (CPUs %s); %s; sizes %s; %d round(s) ...%n", s.cpuA(),
                s.consumers(), s.consumerCpus(s.consumers().stream().mapToInt(Integer::intValue).max().orElse(1)).stream().distinct().toList(),
                String.join(", ", s.families()), s.sizes().stream().map(IpcBench::human).toList(), s.rounds());
        progress.start(steps);
        for (int round = 1; round <= s.rounds(); round++) {
            for (int n : s.consumers()) {
                List<String> order = new ArrayList<>(s.families());
                Collections.rotate(order, -(round - 1));
                for (String family : order) group(family, n, round);
            }
        }
        progress.end();
        return samples;
    }

    private static String shortName(String family) {
        return switch (family) {
            case FanoutBench.FANOUT -> "fan";
            case FanoutBench.AERON -> "aer";
            default -> "one";
        };
    }

    /** One group of fresh JVMs: every size, flat out then paced; a failure fails the group's remaining cells. */
    private void group(String family, int n, int round) {
        String name = prefix + "-r" + round + "-n" + n + "-" + shortName(family);
        List<Integer> cpus = s.consumerCpus(n);
        Group g = new Group(family, name, cpus);
        try {
            progress.status(family + " N=" + n + " round " + round + ": starting " + (n + 1) + " JVMs");
            g.start();
            for (int i = 0; i < s.sizes().size(); i++) {
                int size = s.sizes().get(i);
                g.open(size, i);
                for (String kind : List.of("tput", "lat")) {
                    progress.step(family + " N=" + n + " " + IpcBench.human(size) + " " + kind + " round " + round + "/" + s.rounds());
                    samples.add(cell(g, kind, size, round, i == 0 && kind.equals("tput")));
                }
                g.closeStream();
            }
        } finally {
            g.close();
        }
    }

    private FanoutSample cell(Group g, String kind, int size, int round, boolean first) {
        long cell = ++cells;
        boolean lat = kind.equals("lat");
        long[] w = (lat ? s.latMs() : s.tputMs()).clone();
        // the group's first cell: its JVMs are fresh, and N of them compile on 2 CPUs beside the producer (with 8, their
        // compiler threads still took 60 % of the producer's CPU a second in), so the warm-up grows with N, for every family
        if (first) w[0] = Math.max(w[0], s.firstWarmMs() * Math.max(1, g.cpus.size() / 2));
        double before = probe();
        long busy0 = Proc.busyJiffies(), steal0 = Proc.stealJiffies(), ours0 = g.cpuNanos(), t0 = System.nanoTime();
        List<String> go = g.consumers(String.join(" ", lat ? "LAT" : "TPUT", str(cell), str(w[0]), str(w[1])), "GO", s.timeoutMs());
        String sent = go == null ? null : g.producer(lat ? String.join(" ", "LAT", str(cell), str(w[0]), str(w[1]), str(w[2]), str(s.paceNanos()))
                : String.join(" ", "TPUT", str(cell), str(w[0]), str(w[1]), str(w[2])), "SENT", s.timeoutMs() + w[0] + w[1] + w[2]);
        List<String> results = sent == null ? null : g.consumers("STOP", "RESULT", s.timeoutMs());
        long wall = Math.max(1, System.nanoTime() - t0);
        long busy1 = Proc.busyJiffies(), steal1 = Proc.stealJiffies(), ours1 = g.cpuNanos();
        double after = probe();
        boolean timed = wall >= 50_000_000;   // /proc counts in ticks of 10 ms: a cell that failed at once has no load figure
        double foreign = timed ? Math.max(0, (busy1 - busy0) * 10_000_000.0 - (ours1 - ours0)) * 100.0 / wall : Double.NaN;
        double steal = timed ? (steal1 - steal0) * 10_000_000.0 * 100.0 / wall : Double.NaN;
        FanoutSample sample = new FanoutSample(g.family, g.cpus.size(), size, kind, round, s.cpuA(), g.cpus, before, after, foreign, steal,
                sent == null ? Map.of() : parse(sent), results == null ? List.of() : results.stream().map(FanoutRun::parse).toList(),
                results == null ? g.failure : null);
        progress.round(String.format(Locale.ROOT, "%s N=%d %s %s round %d/%d: %s, probe %s, foreign CPU %s, steal %s", g.family,
                g.cpus.size(), IpcBench.human(size), kind, round, s.rounds(), sample.failed() ? "FAILED: " + sample.error()
                        : lat ? "p50 " + BenchReport.ns(sample.latency("p50", false)) + ", worst p99 " + BenchReport.ns(sample.latency("p99", true))
                        : BenchReport.both(sample.aggregateBytesPerSec(), size) + " delivered", Double.isNaN(before) ? "(same CPU)"
                        : String.format(Locale.ROOT, "%.0f/%.0f ns (%s)", before, after, PlacementProbe.label(before, after)), pct(foreign), pct(steal)));
        return sample;
    }

    private static String pct(double v) {
        return Double.isNaN(v) ? "-" : String.format(Locale.ROOT, "%.1f%%", v);
    }

    private double probe() {
        return s.cpuA() == s.cpuB() ? Double.NaN : PlacementProbe.roundTripNanos(s.cpuA(), s.cpuB(), 10);
    }

    private static String str(long v) {
        return Long.toString(v);
    }

    /** "SENT a=1 b=2" → {a=1, b=2}. */
    static Map<String, String> parse(String line) {
        Map<String, String> m = new LinkedHashMap<>();
        for (String f : line.trim().split("\\s+")) {
            int eq = f.indexOf('=');
            if (eq > 0) m.put(f.substring(0, eq), f.substring(eq + 1));
        }
        return m;
    }

    static void removeAeronDirs(String prefix) {
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(PeerJvm.shmDir(), prefix + "-*-aeron")) {
            for (Path d : ds) {
                try (Stream<Path> walk = Files.walk(d)) {
                    for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
                }
            }
        } catch (IOException ignored) {
            // nothing there
        }
    }

    // ------------------------------------------------------------------ a group of peers

    /** A peer JVM: its stdin for commands, its stdout for answers, its stderr in the results folder. */
    private static final class Peer {
        final String role;
        final Process p;
        final BufferedReader out;
        final Writer in;
        final Path err;

        Peer(String role, Process p, Path err) {
            this.role = role;
            this.p = p;
            this.err = err;
            this.out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
            this.in = new OutputStreamWriter(p.getOutputStream(), StandardCharsets.UTF_8);
        }

        void send(String line) throws IOException {
            in.write(line + "\n");
            in.flush();
        }

        /**
         * The next protocol line (other lines, e.g. a profiler agent's, are skipped), or null if the
         * peer ended or {@code onTimeout} ran (it kills the group) first.
         */
        String answer(long timeoutMs, Runnable onTimeout) throws IOException {
            Thread watchdog = Thread.ofVirtual().start(() -> {
                try {
                    Thread.sleep(timeoutMs);
                    onTimeout.run();
                } catch (InterruptedException answered) {
                    // in time
                }
            });
            try {
                String line;
                while ((line = out.readLine()) != null && !line.matches("^(READY|OK|GO|SENT|RESULT|ERROR).*")) {
                    // not ours
                }
                return line;
            } finally {
                watchdog.interrupt();
            }
        }

        /** The last line of its stderr that says ERROR or Exception, else its last line; "" if none. */
        String stderrTail() {
            try {
                if (!Files.exists(err)) return "";
                List<String> lines = Files.readAllLines(err).stream().filter(l -> !l.isBlank()).toList();
                if (lines.isEmpty()) return "";
                String pick = lines.stream().filter(l -> l.contains("ERROR") || l.contains("Exception")).reduce((a, b) -> b).orElse(lines.getLast());
                return " [" + role + " stderr: " + pick.strip() + "]";
            } catch (IOException e) {
                return "";
            }
        }
    }

    /** One family's producer and N consumers, started together and ended together. */
    private final class Group implements AutoCloseable {
        final String family, name;
        final List<Integer> cpus;
        final List<Peer> peers = new ArrayList<>();
        Peer producer;
        final List<Peer> consumers = new ArrayList<>();
        String failure;

        Group(String family, String name, List<Integer> cpus) {
            this.family = family;
            this.name = name;
            this.cpus = cpus;
        }

        private String aeronDir() {
            return PeerJvm.shmDir().resolve(name + "-aeron").toString();
        }

        private Peer spawn(String role, List<String> args) throws IOException {
            Path err = dir.resolve("fanout-" + name.substring(prefix.length() + 1) + "-" + role + ".err");
            Process p = new ProcessBuilder(PeerJvm.command(FanoutBench.class, args)).redirectError(err.toFile()).start();
            owned.add(p);
            Peer peer = new Peer(role, p, err);
            peers.add(peer);
            return peer;
        }

        void start() {
            try {
                producer = spawn("producer", List.of("producer", family, name, str(s.cpuA()), str(cpus.size()), aeronDir(), str(s.poolBytes()),
                        str(s.logBytes()), str(s.quota())));
                if (expect(producer, "READY", s.timeoutMs()) == null) return;
                for (int k = 0; k < cpus.size(); k++) {
                    int cpu = cpus.get(k);
                    boolean shared = cpus.stream().filter(c -> c == cpu).count() > 1;
                    consumers.add(spawn("consumer" + k, List.of("consumer", family, name, str(cpu), shared ? "1" : "0", aeronDir(),
                            s.verify() ? "1" : "0")));
                }
                for (Peer c : consumers) if (expect(c, "READY", s.timeoutMs()) == null) return;
            } catch (IOException e) {
                fail("could not start a peer: " + e.getMessage());
            }
        }

        /** Opens the stream of one size: the producer's side first (a publisher, a listener, a publication), then every consumer's. */
        void open(int size, int index) {
            if (producer(String.join(" ", "OPEN", str(size), str(index)), "OK", s.timeoutMs()) != null) {
                consumers(String.join(" ", "OPEN", str(size), str(index)), "OK", s.timeoutMs());
            }
        }

        void closeStream() {
            if (consumers("CLOSE", "OK", s.timeoutMs()) != null) producer("CLOSE", "OK", s.timeoutMs());
        }

        /** Sends a command to the producer; its answer, or null (the group failed). */
        String producer(String command, String expect, long timeoutMs) {
            if (failure != null) return null;
            try {
                producer.send(command);
            } catch (IOException e) {
                fail(producer.role + " is gone (" + e.getMessage() + ")" + producer.stderrTail());
                return null;
            }
            return expect(producer, expect, timeoutMs);
        }

        /** Sends a command to every consumer, then reads each one's answer; null if the group failed. */
        List<String> consumers(String command, String expect, long timeoutMs) {
            if (failure != null) return null;
            for (Peer c : consumers) {
                try {
                    c.send(command);
                } catch (IOException e) {
                    fail(c.role + " is gone (" + e.getMessage() + ")" + c.stderrTail());
                    return null;
                }
            }
            List<String> answers = new ArrayList<>();
            for (Peer c : consumers) {
                String a = expect(c, expect, timeoutMs);
                if (a == null) return null;
                answers.add(a);
            }
            return answers;
        }

        private String expect(Peer p, String expect, long timeoutMs) {
            if (failure != null) return null;
            String a;
            boolean[] timedOut = {false};
            try {
                a = p.answer(timeoutMs, () -> {
                    timedOut[0] = true;
                    destroy();
                });
            } catch (IOException e) {
                a = null;
            }
            if (a == null) {
                waitForExit();
                fail(p.role + (timedOut[0] ? " did not answer within " + timeoutMs / 1000 + " s (expected " + expect + ")" : " died") + p.stderrTail());
                return null;
            }
            if (a.startsWith("ERROR")) {
                fail(p.role + ": " + a.substring(5).trim().replaceFirst("^(producer|consumer): ", ""));
                return null;
            }
            if (!a.startsWith(expect)) {
                fail(p.role + " answered '" + a + "' instead of " + expect);
                return null;
            }
            return a;
        }

        private void fail(String why) {
            if (failure == null) failure = String.valueOf(why).strip().replaceAll("\\s+", " ");
            destroy();
        }

        private void waitForExit() {
            for (Peer p : peers) {
                try {
                    p.p.waitFor(2, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        }

        void destroy() {
            for (Peer p : peers) p.p.destroy();
        }

        /** CPU time of the orchestrator and every peer (ticks of 10 ms). */
        long cpuNanos() {
            long sum = Proc.cpuNanos(ProcessHandle.current().pid());
            for (Peer p : peers) sum += Proc.cpuNanos(p.p.pid());
            return sum;
        }

        /** QUIT to each, then waits; kills what is still there after 5 s, removes the files of what was killed. */
        @Override
        public void close() {
            for (Peer p : peers) {
                try {
                    p.send("QUIT");
                    p.in.close();
                } catch (IOException gone) {
                    // it exited already
                }
            }
            List<ProcessHandle> killed = new ArrayList<>();
            for (Peer p : peers) {
                try {
                    if (!p.p.waitFor(5, TimeUnit.SECONDS)) {
                        killed.add(p.p.toHandle());
                        p.p.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
                    } else if (p.p.exitValue() != 0) {
                        killed.add(p.p.toHandle());
                    }
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    p.p.destroyForcibly();
                }
                owned.remove(p.p);
            }
            BenchRun.removeFilesOf(killed);
            try {
                Path aeron = Path.of(aeronDir());
                if (Files.exists(aeron)) {
                    try (Stream<Path> walk = Files.walk(aeron)) {
                        for (Path f : walk.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(f);
                    }
                }
            } catch (IOException ignored) {
                // best effort
            }
        }
    }
}
