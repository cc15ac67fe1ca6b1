package dev.fable.bench;

import dev.fable.ConnectOptions;
import dev.fable.Connection;
import dev.fable.ConnectionClosedException;
import dev.fable.Endpoint;
import dev.fable.Fable;
import dev.fable.Relay;
import dev.fable.WaitMode;
import dev.fable.sync.ThreadAffinity;
import org.HdrHistogram.Histogram;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.io.Writer;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.zip.DataFormatException;

/**
 * {@code ./fable bench --relay}: what a relay in the middle adds to a ping-pong, idle and with a CPU hog on the relay's
 * CPU, beside the same path without it, in the same run. Three JVMs:
 * <ul>
 *   <li>the <b>client</b> ({@code client <cpu>}): its hot thread pinned to CPU A; takes {@code CELL <uri> <size> <warmMs>
 *       <measureMs>} lines on stdin, connects to the URI, ping-pongs (every message carries its sequence number, checked
 *       on the way back), answers {@code RESULT <round trips> <p50> <p99> <p99.9> <max> <histogram>} (ns; the
 *       HdrHistogram, compressed, Base64) or {@code ERROR <why>}, and closes the connection;</li>
 *   <li>the <b>server</b> ({@code server <name> <cpu>}): its hot thread pinned to CPU B; echoes each accepted connection
 *       until the client closes it;</li>
 *   <li>the <b>relay</b> ({@code relay <name> <server>}), the whole JVM started under {@code taskset -c <relay CPU>}:
 *       accepts a connection, connects to the server over the same transport, {@link Fable#relay splices} the two and
 *       prints {@code RELAYED <in transport> <out transport> <in place> <copied> <failure>} when the client closes.</li>
 * </ul>
 * Paths: {@code direct-T} (client to server) and {@code relay-T} (client to relay to server), T = shm or tcp, every
 * connection with the bench's 4 KiB slots and {@link WaitMode#ADAPTIVE} waits (the library's default: it sleeps rather
 * than spin on a CPU it shares). Loads: idle, or a hog ({@code taskset -c N yes}, as {@code --load hog}) on the relay's
 * CPU for relay paths and on the server's CPU for direct paths, started before the cell and stopped after it. After an
 * uncounted warm-up round, each round measures every path, load and size, in an order rotated by the round. The
 * server and the relay exit when their stdin closes. No sleep synchronises anything: each peer says READY when it
 * listens, and the client answers each cell.
 */
public final class RelayBench {
    private static final Duration WAIT = Duration.ofSeconds(30);
    static final List<String> LOADS = List.of("idle", "hog");

    private RelayBench() {}

    /** Every connection of the bench: 4 KiB slots (the largest size), about 2 MiB of pool, adaptive waits, trusted. */
    static ConnectOptions options() {
        return FableLink.options(4096, WaitMode.ADAPTIVE, true).connectTimeout(WAIT);
    }

    public static void main(String[] a) throws Exception {
        try {
            switch (a[0]) {
                case "server" -> server(a[1], Integer.parseInt(a[2]));
                case "relay" -> relay(a[1], a[2]);
                case "client" -> client(Integer.parseInt(a[1]));
                default -> throw new IllegalArgumentException("unknown role " + a[0]);
            }
        } catch (Throwable t) {
            System.out.println("ERROR " + oneLine(t));
            System.out.flush();
            t.printStackTrace();
            System.exit(1);
        }
        System.out.flush();
        System.exit(0);
    }

    private static String oneLine(Throwable t) {
        return (t.getClass().getSimpleName() + ": " + t.getMessage()).replace('\n', ' ');
    }

    /** The orchestrator closes our stdin to end us (the main thread is blocked in accept). */
    private static void exitAtEndOfStdin() {
        Thread.ofPlatform().daemon().start(() -> {
            try {
                while (System.in.read() >= 0) {
                    // nothing is said on stdin; its end is the cue
                }
            } catch (IOException gone) {
                // the same
            }
            System.out.flush();
            System.exit(0);
        });
    }

    // ---- the server: echoes each connection until the client closes it ----

    static void server(String name, int cpu) {
        try (Endpoint ep = Fable.register(name).listen(options())) {
            ThreadAffinity.pin(cpu);
            exitAtEndOfStdin();
            System.out.println("READY");
            System.out.flush();
            while (true) {
                try (FableLink l = new FableLink(ep.accept())) {
                    for (long expect = 0; ; expect++) {
                        long got;
                        try {
                            got = l.receive(false);
                        } catch (ConnectionClosedException end) {
                            break;
                        }
                        if (got != expect) throw Loops.mismatch(l, got, expect, l.length);
                        l.send(got, l.length);
                    }
                }
            }
        }
    }

    // ---- the relay: one spliced pair at a time ----

    static void relay(String name, String server) {
        try (Endpoint ep = Fable.register(name).listen(options())) {
            exitAtEndOfStdin();
            System.out.println("READY");
            System.out.flush();
            while (true) {
                Connection in = ep.accept();
                Connection out;
                try {
                    out = ep.connect("xio+" + in.transport() + "://" + server, options());
                } catch (RuntimeException e) {
                    in.close();
                    System.out.println("RELAYED " + in.transport() + " - 0 0 cannot-reach-the-server:" + oneLine(e).replace(' ', '_'));
                    System.out.flush();
                    continue;
                }
                String tin = in.transport(), tout = out.transport();
                Relay r = Fable.relay(in, out);
                try {
                    r.awaitEnd(Duration.ofSeconds(-1));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return;
                }
                String why = r.failure() == null ? "-" : oneLine(r.failure()).replace(' ', '_');
                System.out.printf(Locale.ROOT, "RELAYED %s %s %d %d %s%n", tin, tout, r.zeroCopyForwards(), r.copiedForwards(), why);
                System.out.flush();
            }
        }
    }

    // ---- the client: one cell per line on stdin ----

    static void client(int cpu) throws IOException {
        ThreadAffinity.pin(cpu);
        BufferedReader cmd = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        try (Endpoint ep = Fable.register("relay-bench-client-" + ProcessHandle.current().pid())) {
            System.out.println("READY");
            System.out.flush();
            for (String line; (line = cmd.readLine()) != null; ) {
                String[] f = line.trim().split(" ");
                if (!f[0].equals("CELL")) continue;
                String uri = f[1];
                int size = Integer.parseInt(f[2]);
                long warmNs = TimeUnit.MILLISECONDS.toNanos(Long.parseLong(f[3])), measureNs = TimeUnit.MILLISECONDS.toNanos(Long.parseLong(f[4]));
                try (FableLink l = new FableLink(ep.connect(uri, options()))) {
                    Histogram h = ping(l, size, warmNs, measureNs);
                    ByteBuffer buf = ByteBuffer.allocate(h.getNeededByteBufferCapacity());
                    int n = h.encodeIntoCompressedByteBuffer(buf);
                    System.out.printf(Locale.ROOT, "RESULT %d %d %d %d %d %s%n", h.getTotalCount(), h.getValueAtPercentile(50),
                            h.getValueAtPercentile(99), h.getValueAtPercentile(99.9), h.getMaxValue(),
                            Base64.getEncoder().encodeToString(java.util.Arrays.copyOf(buf.array(), n)));
                } catch (RuntimeException e) {
                    System.out.println("ERROR " + uri + ": " + oneLine(e));
                    e.printStackTrace();
                }
                System.out.flush();
            }
        }
    }

    /** Round trips for {@code warmNs} unmeasured, then for {@code measureNs} measured; each echo's sequence number and length checked. */
    static Histogram ping(FableLink l, int size, long warmNs, long measureNs) {
        Histogram h = new Histogram(3_600_000_000_000L, 3);
        long warmEnd = System.nanoTime() + warmNs, end = warmEnd + measureNs;
        for (long i = 0; ; i++) {
            long t0 = System.nanoTime();
            if (t0 >= end) break;
            l.send(i, size);
            long got = l.receive(false);
            long t1 = System.nanoTime();
            if (got != i || l.length != size) throw Loops.mismatch(l, got, i, size);
            if (t0 >= warmEnd) h.recordValue(t1 - t0);
        }
        return h;
    }

    // ---- the orchestrator ----

    /** One measured cell of one round. */
    record Cell(int round, String path, String load, int size, long count, long p50, long p99, long p999, long max, double probeBefore,
                double probeAfter, String loadavg, long inPlace, long copied, Histogram h) {}

    /** A peer JVM and its stdout. */
    private record Peer(String role, Process p, BufferedReader out) {}

    /**
     * Runs the bench and returns its report (Markdown), also written to {@code dir}/relay.md with relay.csv (every
     * round) and relay-summary.csv (the rounds merged).
     *
     * @param transports shm and/or tcp: each gives a direct and a relay path
     * @param cpuA       the client's CPU
     * @param cpuB       the server's CPU
     * @param relayCpu   the relay JVM's CPU (all its threads)
     */
    static String run(Path dir, List<String> transports, List<Integer> sizes, int cpuA, int cpuB, int relayCpu, long warmMs, long measureMs,
                      int rounds, long answerTimeoutMs, List<Process> owned) throws IOException {
        String base = "relay-bench-" + ProcessHandle.current().pid();
        String server = base + "-server", relay = base + "-relay";
        List<String> paths = new ArrayList<>();
        for (String t : transports) {
            paths.add("direct-" + t);
            paths.add("relay-" + t);
        }
        List<Cell> cells = new ArrayList<>();
        List<String> notes = new ArrayList<>();
        String load0 = loadavg();
        Peer srv = null, rel = null, cli = null;
        try {
            srv = start("server", PeerJvm.command(RelayBench.class, List.of("server", server, Integer.toString(cpuB))), dir, owned, answerTimeoutMs);
            List<String> relayCmd = new ArrayList<>(List.of("taskset", "-c", Integer.toString(relayCpu)));
            relayCmd.addAll(PeerJvm.command(RelayBench.class, List.of("relay", relay, server)));
            rel = start("relay", relayCmd, dir, owned, answerTimeoutMs);
            cli = start("client", PeerJvm.command(RelayBench.class, List.of("client", Integer.toString(cpuA))), dir, owned, answerTimeoutMs);
            PrintWriter toClient = new PrintWriter(cli.p().getOutputStream(), true, StandardCharsets.UTF_8);
            for (int r = 0; r <= rounds; r++) {   // round 0 warms up (JIT, first connections), idle, not counted
                double before = cpuA == cpuB ? Double.NaN : PlacementProbe.roundTripNanos(cpuA, cpuB, 10);
                String la = loadavg();
                List<Cell> round = new ArrayList<>();
                List<String> loads = r == 0 ? List.of("idle") : r % 2 == 1 ? LOADS : LOADS.reversed();
                for (String load : loads) {
                    for (int size : sizes) {
                        for (int k = 0; k < paths.size(); k++) {
                            String path = paths.get((k + r) % paths.size());   // rotated: no path always goes first
                            boolean viaRelay = path.startsWith("relay-");
                            String t = path.substring(path.indexOf('-') + 1);
                            int hogCpu = viaRelay ? relayCpu : cpuB;
                            Process hog = load.equals("hog") ? hog(hogCpu) : null;
                            if (hog != null) owned.add(hog);
                            String answer;
                            try {
                                toClient.println("CELL xio+" + t + "://" + (viaRelay ? relay : server) + " " + size + " " + (r == 0 ? 200 : warmMs)
                                        + " " + (r == 0 ? 300 : measureMs));
                                answer = readLine(cli, answerTimeoutMs, srv, rel);
                            } finally {
                                if (hog != null) {
                                    BenchRun.stopHog(hog);
                                    owned.remove(hog);
                                }
                            }
                            if (answer == null || !answer.startsWith("RESULT ")) {
                                throw new BenchFailure(path + " " + load + " " + IpcBench.human(size) + ": the client said " + answer
                                        + " (see relay-client.err, relay-server.err, relay-relay.err in " + dir + ")");
                            }
                            long inPlace = -1, copied = -1;
                            if (viaRelay) {   // the relay reports each spliced pair when the client has closed it
                                String rl = readLine(rel, answerTimeoutMs, srv, cli);
                                String[] f = rl == null ? new String[0] : rl.split(" ");
                                if (f.length < 6 || !f[0].equals("RELAYED")) {
                                    throw new BenchFailure(path + ": the relay said " + rl + " (see relay-relay.err in " + dir + ")");
                                }
                                if (!f[5].equals("-")) notes.add(path + " " + load + " " + IpcBench.human(size) + ": the relay ended with " + f[5]);
                                inPlace = Long.parseLong(f[3]);
                                copied = Long.parseLong(f[4]);
                            }
                            String[] f = answer.split(" ");
                            Histogram h;
                            try {
                                h = Histogram.decodeFromCompressedByteBuffer(ByteBuffer.wrap(Base64.getDecoder().decode(f[6])), 0);
                            } catch (DataFormatException e) {
                                throw new BenchFailure("the client's histogram does not decode: " + e.getMessage());
                            }
                            round.add(new Cell(r, path, load, size, Long.parseLong(f[1]), Long.parseLong(f[2]), Long.parseLong(f[3]),
                                    Long.parseLong(f[4]), Long.parseLong(f[5]), before, Double.NaN, la, inPlace, copied, h));
                            System.out.printf(Locale.ROOT, "  %s %-10s %-4s %6s  p50 %8s  p99 %8s  p99.9 %8s%s%n", r == 0 ? "warm-up" : "round " + r,
                                    path, load, IpcBench.human(size), us(Long.parseLong(f[2])), us(Long.parseLong(f[3])), us(Long.parseLong(f[4])),
                                    viaRelay ? String.format(Locale.ROOT, "  (relay: %d in place, %d copied)", inPlace, copied) : "");
                        }
                    }
                }
                double after = cpuA == cpuB ? Double.NaN : PlacementProbe.roundTripNanos(cpuA, cpuB, 10);
                if (r > 0) for (Cell c : round) cells.add(new Cell(c.round(), c.path(), c.load(), c.size(), c.count(), c.p50(), c.p99(), c.p999(),
                        c.max(), c.probeBefore(), after, c.loadavg(), c.inPlace(), c.copied(), c.h()));
            }
        } finally {
            for (Peer p : new Peer[] {cli, rel, srv}) {
                if (p == null) continue;
                try {
                    p.p().getOutputStream().close();   // the end of stdin: each peer exits
                } catch (IOException gone) {
                    // exited already
                }
            }
            for (Peer p : new Peer[] {cli, rel, srv}) {
                if (p == null) continue;
                try {
                    if (!p.p().waitFor(10, TimeUnit.SECONDS)) {
                        List<ProcessHandle> hs = BenchRun.handles(List.of(p.p()));
                        BenchRun.stop(hs);
                        BenchRun.removeFilesOf(hs);
                    }
                } catch (InterruptedException e) {
                    p.p().destroyForcibly();
                    Thread.currentThread().interrupt();
                }
                owned.remove(p.p());
            }
        }
        String report = report(cells, notes, transports, sizes, cpuA, cpuB, relayCpu, warmMs, measureMs, rounds, load0, loadavg());
        Files.writeString(dir.resolve("relay.md"), report);
        writeCsv(dir, cells, paths, sizes);
        return report;
    }

    private static Process hog(int cpu) {
        try {
            return BenchRun.startHog(cpu);
        } catch (IOException e) {
            throw new BenchFailure("the hog needs taskset and yes (util-linux, coreutils): " + e.getMessage());
        }
    }

    /** Starts a peer with stderr to {@code relay-<role>.err} and waits for its READY. */
    private static Peer start(String role, List<String> cmd, Path dir, List<Process> owned, long timeoutMs) throws IOException {
        Process p;
        try {
            p = new ProcessBuilder(cmd).redirectError(dir.resolve("relay-" + role + ".err").toFile()).start();
        } catch (IOException e) {
            throw new BenchFailure("cannot start the " + role + (cmd.getFirst().equals("taskset") ? " (it needs taskset, util-linux)" : "")
                    + ": " + e.getMessage());
        }
        owned.add(p);
        Peer peer = new Peer(role, p, new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8)));
        String ready = readLine(peer, timeoutMs);
        if (!"READY".equals(ready)) {
            p.destroyForcibly();
            throw new BenchFailure("the " + role + " did not start: it said " + ready + " (see relay-" + role + ".err in " + dir + ")");
        }
        return peer;
    }

    /**
     * The next line of {@code from}, or null if it ended or did not answer within {@code timeoutMs} (then it is killed)
     * or one of {@code others} died meanwhile (then {@code from} is killed too: it would wait for the dead one).
     */
    private static String readLine(Peer from, long timeoutMs, Peer... others) throws IOException {
        java.util.concurrent.CompletableFuture<?>[] deaths = java.util.Arrays.stream(others).filter(o -> o != null)
                .map(o -> o.p().onExit()).toArray(java.util.concurrent.CompletableFuture<?>[]::new);
        java.util.concurrent.CompletableFuture<Object> anyDeath = java.util.concurrent.CompletableFuture.anyOf(deaths);
        Thread guard = Thread.ofVirtual().start(() -> {
            try {
                anyDeath.get(timeoutMs, TimeUnit.MILLISECONDS);
            } catch (InterruptedException answered) {
                return;   // in time
            } catch (java.util.concurrent.TimeoutException | java.util.concurrent.ExecutionException late) {
                // no answer in time: stop waiting for it
            }
            from.p().destroyForcibly();   // ends the read below with null
        });
        try {
            return from.out().readLine();
        } finally {
            guard.interrupt();
        }
    }

    private static String loadavg() {
        try {
            String[] f = Files.readString(Path.of("/proc/loadavg")).trim().split(" ");
            return f[0] + " " + f[1] + " " + f[2];
        } catch (IOException | RuntimeException e) {
            return "?";
        }
    }

    static String us(long ns) {
        if (ns >= 1_000_000) return String.format(Locale.ROOT, ns >= 10_000_000 ? "%.1f ms" : "%.2f ms", ns / 1e6);
        return ns >= 100_000 ? String.format(Locale.ROOT, "%.0f µs", ns / 1000.0)
                : String.format(Locale.ROOT, ns >= 10_000 ? "%.1f µs" : "%.2f µs", ns / 1000.0);
    }

    private static String signedUs(long ns) {
        return (ns >= 0 ? "+" : "−") + us(Math.abs(ns));
    }

    /** The rounds of each (path, load, size), merged. */
    private static Map<String, Histogram> merged(List<Cell> cells) {
        Map<String, Histogram> m = new LinkedHashMap<>();
        for (Cell c : cells) m.computeIfAbsent(key(c.path(), c.load(), c.size()), k -> new Histogram(3_600_000_000_000L, 3)).add(c.h());
        return m;
    }

    private static String key(String path, String load, int size) {
        return path + " " + load + " " + size;
    }

    static String report(List<Cell> cells, List<String> notes, List<String> transports, List<Integer> sizes, int cpuA, int cpuB, int relayCpu,
                         long warmMs, long measureMs, int rounds, String loadBefore, String loadAfter) {
        Map<String, Histogram> m = merged(cells);
        StringBuilder r = new StringBuilder("## Relay latency: ping-pong through a relay, idle and under a CPU hog\n\n");
        r.append("- Machine: ").append(Machine.describe()).append('\n');
        r.append(String.format(Locale.ROOT, "- Placement: client JVM's hot thread on CPU %d; server JVM's hot thread on CPU %d; relay JVM (all its "
                + "threads, `taskset -c %d`) on CPU %d; hog (`taskset -c N yes`) on CPU %d for relay paths (the relay's CPU) and on CPU %d for "
                + "direct paths (the server's CPU), during hog cells only. Other threads of the client and server JVMs are not pinned.%n",
                cpuA, cpuB, relayCpu, relayCpu, relayCpu, cpuB));
        r.append("- Connections: Fable over ").append(String.join(" and ", transports)).append(" (`xio+T://`), adaptive waits (the library's "
                + "default), 4 KiB slots, trusted; the relay is `Fable.relay(a, b)`, one spliced pair per client connection.\n");
        r.append(String.format(Locale.ROOT, "- Rounds: a warm-up round (not counted), then %d rounds; in each, every path × load × size once "
                + "(paths rotated, load order alternating), %d ms warm-up + %d ms measured per cell, a fresh connection per cell. "
                + "Figures: percentiles of all measured round trips of the rounds merged; p50 range = the rounds' p50s.%n", rounds, warmMs, measureMs));
        r.append("- Load average (1/5/15 min) before: ").append(loadBefore).append("; after: ").append(loadAfter).append('\n');
        if (!cells.isEmpty()) {
            double lo = cells.stream().mapToDouble(c -> Math.min(c.probeBefore(), c.probeAfter())).min().orElse(Double.NaN);
            double hi = cells.stream().mapToDouble(c -> Math.max(c.probeBefore(), c.probeAfter())).max().orElse(Double.NaN);
            r.append(String.format(Locale.ROOT, "- Placement probe (cache-line RTT between CPUs %d and %d, before and after each round): %.0f-%.0f ns "
                    + "(near < %.0f ns)%n", cpuA, cpuB, lo, hi, PlacementProbe.NEAR_LIMIT_NS));
        }
        r.append("\n| path | load | size | round trips | p50 | p50 range | p99 | p99.9 | max | relay − direct: p50 | p99 | p99.9 | relay copies |\n");
        r.append("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
        for (String t : transports) {
            for (String load : LOADS) {
                for (int size : sizes) {
                    for (String path : List.of("direct-" + t, "relay-" + t)) {
                        Histogram h = m.get(key(path, load, size));
                        if (h == null || h.getTotalCount() == 0) {
                            r.append("| ").append(path).append(" | ").append(load).append(" | ").append(IpcBench.human(size))
                                    .append(h == null ? " | FAILED: no result" : " | 0: no round trip ended in the measured time (a stall as long)")
                                    .append(" | | | | | | | | | |\n");
                            continue;
                        }
                        List<Cell> cs = cells.stream().filter(c -> c.path().equals(path) && c.load().equals(load) && c.size() == size).toList();
                        long p50lo = cs.stream().mapToLong(Cell::p50).min().orElse(0), p50hi = cs.stream().mapToLong(Cell::p50).max().orElse(0);
                        r.append(String.format(Locale.ROOT, "| %s | %s | %s | %,d | %s | %s–%s | %s | %s | %s |", path, load, IpcBench.human(size),
                                h.getTotalCount(), us(h.getValueAtPercentile(50)), us(p50lo), us(p50hi), us(h.getValueAtPercentile(99)),
                                us(h.getValueAtPercentile(99.9)), us(h.getMaxValue())));
                        Histogram d = m.get(key("direct-" + t, load, size));
                        if (path.startsWith("relay-") && d != null && d.getTotalCount() > 0) {
                            long ip = cs.stream().mapToLong(Cell::inPlace).sum(), cp = cs.stream().mapToLong(Cell::copied).sum();
                            r.append(String.format(Locale.ROOT, " %s | %s | %s | %s |", signedUs(h.getValueAtPercentile(50) - d.getValueAtPercentile(50)),
                                    signedUs(h.getValueAtPercentile(99) - d.getValueAtPercentile(99)),
                                    signedUs(h.getValueAtPercentile(99.9) - d.getValueAtPercentile(99.9)),
                                    ip + cp == 0 ? "-" : String.format(Locale.ROOT, "%.0f %% in place", 100.0 * ip / (ip + cp))));
                        } else {
                            r.append(" | | | |");
                        }
                        r.append('\n');
                    }
                }
            }
        }
        r.append("\n\"relay copies\": of the buffers the relay forwarded (both ways, all rounds), the share lent in place (zero copy) rather than "
                + "copied once; messages up to 512 B travel inline in the shared-memory log and are always copied.\n");
        if (!notes.isEmpty()) r.append("\nNotes: ").append(String.join("; ", notes)).append('\n');
        return r.toString();
    }

    private static void writeCsv(Path dir, List<Cell> cells, List<String> paths, List<Integer> sizes) throws IOException {
        try (Writer w = Files.newBufferedWriter(dir.resolve("relay.csv"))) {
            w.write("round,path,load,size,round_trips,p50_ns,p99_ns,p999_ns,max_ns,probe_before_ns,probe_after_ns,loadavg_1m,relay_in_place,relay_copied\n");
            for (Cell c : cells) {
                w.write(String.format(Locale.ROOT, "%d,%s,%s,%d,%d,%d,%d,%d,%d,%.0f,%.0f,%s,%d,%d%n", c.round(), c.path(), c.load(), c.size(), c.count(),
                        c.p50(), c.p99(), c.p999(), c.max(), c.probeBefore(), c.probeAfter(), c.loadavg().split(" ")[0], c.inPlace(), c.copied()));
            }
        }
        Map<String, Histogram> m = merged(cells);
        try (Writer w = Files.newBufferedWriter(dir.resolve("relay-summary.csv"))) {
            w.write("path,load,size,round_trips,p50_ns,p90_ns,p99_ns,p999_ns,max_ns,added_p50_ns,added_p99_ns,added_p999_ns\n");
            for (String path : paths) {
                for (String load : LOADS) {
                    for (int size : sizes) {
                        Histogram h = m.get(key(path, load, size));
                        if (h == null) continue;
                        Histogram d = path.startsWith("relay-") ? m.get(key("direct-" + path.substring(6), load, size)) : null;
                        w.write(String.format(Locale.ROOT, "%s,%s,%d,%d,%d,%d,%d,%d,%d,%s,%s,%s%n", path, load, size, h.getTotalCount(),
                                h.getValueAtPercentile(50), h.getValueAtPercentile(90), h.getValueAtPercentile(99), h.getValueAtPercentile(99.9),
                                h.getMaxValue(), d == null ? "" : Long.toString(h.getValueAtPercentile(50) - d.getValueAtPercentile(50)),
                                d == null ? "" : Long.toString(h.getValueAtPercentile(99) - d.getValueAtPercentile(99)),
                                d == null ? "" : Long.toString(h.getValueAtPercentile(99.9) - d.getValueAtPercentile(99.9))));
                    }
                }
            }
        }
    }
}
