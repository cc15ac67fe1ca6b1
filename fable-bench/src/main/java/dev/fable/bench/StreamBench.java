package dev.fable.bench;

import dev.fable.Buffer;
import dev.fable.ConnectOptions;
import dev.fable.Connection;
import dev.fable.ConnectionClosedException;
import dev.fable.Endpoint;
import dev.fable.Fable;
import dev.fable.WaitMode;
import dev.fable.sync.ThreadAffinity;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * {@code ./fable bench --streams}: what the byte-stream views ({@link Connection#inputStream()},
 * {@link Connection#outputStream()}) cost against the raw API, one-way at 64 KiB, over shm and tcp. Two JVMs
 * with their hot threads pinned to different CPUs; for each transport, rounds alternate between the two ways
 * of moving the same bytes:
 * <ul>
 *   <li><b>raw</b>: the source claims a 64 KiB buffer, copies a 64 KiB array into it ({@link Buffer#put}) and
 *       commits; the sink receives, copies the buffer out into a 64 KiB array ({@link Buffer#get}) and releases.
 *       That is what {@link Connection#send(byte[])} and a copying reader do: one copy at each end, as a stream
 *       has.</li>
 *   <li><b>stream</b>: the source writes the 64 KiB array with {@code OutputStream.write(byte[])}, the sink reads
 *       with {@code InputStream.read(byte[64 KiB])} until end of stream.</li>
 * </ul>
 * A first round per transport warms up and is not counted. Each round is a fresh connection that streams for the round's duration; the sink times from its first byte
 * to its last and reports bytes per second. The target (issue 19): stream ≥ 0.9× raw.
 *
 * <p>Roles: {@code StreamBench sink <name> <cpu> <connections>} and
 * {@code StreamBench source <name> <cpu> <roundMs> <rounds> <transports,...>}; {@link #run} starts both.
 */
public final class StreamBench {
    static final int SIZE = 64 * 1024;
    private static final Duration WAIT = Duration.ofSeconds(30);
    private static final Duration FOREVER = Duration.ofNanos(-1);
    static final List<String> TRANSPORTS = List.of("shm", "tcp");
    static final List<String> MODES = List.of("raw", "stream");

    private StreamBench() {}

    /** Slots of 64 KiB (2 MiB of pool), spinning waits: the options of the matrix's 64 KiB spin rows. */
    static ConnectOptions options() {
        return FableLink.options(SIZE, WaitMode.SPIN, true).connectTimeout(WAIT);
    }

    public static void main(String[] a) throws Exception {
        if (a[0].equals("sink")) {
            sink(a[1], Integer.parseInt(a[2]), Integer.parseInt(a[3]));
        } else {
            source(a[1], Integer.parseInt(a[2]), Long.parseLong(a[3]), Integer.parseInt(a[4]), List.of(a[5].split(",")));
        }
        System.out.flush();
        System.exit(0);
    }

    // ---- the source: connects once per round, names the mode in its endpoint's name ----

    static void source(String name, int cpu, long roundMs, int rounds, List<String> transports) throws Exception {
        ThreadAffinity.pin(cpu);
        byte[] data = new byte[SIZE];
        new java.util.Random(1).nextBytes(data);
        int n = 0;
        for (String t : transports) {
            for (int r = 0; r <= rounds; r++) {   // round 0 warms up (JIT, the transport's first connections): not counted
                for (int m = 0; m < MODES.size(); m++) {
                    String mode = MODES.get((m + r) % MODES.size());   // alternate which goes first
                    try (Endpoint ep = Fable.register(name + "-src-" + mode + (r == 0 ? "-warm-" : "-") + n++);
                         Connection c = ep.connect("xio+" + t + "://" + name, options())) {
                        long end = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(roundMs);
                        if (mode.equals("raw")) {
                            while (System.nanoTime() - end < 0) {
                                for (int i = 0; i < 64; i++) {
                                    Buffer b = c.claim(SIZE, FOREVER);
                                    b.put(0, data, 0, SIZE);
                                    b.length(SIZE);
                                    b.commit();
                                }
                            }
                        } else {
                            OutputStream out = c.outputStream();
                            while (System.nanoTime() - end < 0) {
                                for (int i = 0; i < 64; i++) out.write(data, 0, SIZE);
                            }
                            out.flush();
                        }
                    }
                }
            }
        }
        System.out.println("SENT " + n);
    }

    // ---- the sink: accepts each round's connection, reads to its end ----

    static void sink(String name, int cpu, int connections) throws IOException {
        try (Endpoint ep = Fable.register(name).listen(options())) {
            System.out.println("READY");
            System.out.flush();
            ThreadAffinity.pin(cpu);
            byte[] into = new byte[SIZE];
            for (int i = 0; i < connections; i++) {
                try (Connection c = ep.accept(WAIT)) {
                    if (c == null) throw new BenchFailure("no connection within " + WAIT + " (round " + i + ")");
                    String mode = c.peerName().contains("-src-raw-") ? "raw" : "stream";
                    boolean warm = c.peerName().contains("-warm-");
                    long bytes = 0, first = 0, last = 0;
                    if (mode.equals("raw")) {
                        while (true) {
                            Buffer b;
                            try {
                                b = c.receive(FOREVER);
                            } catch (ConnectionClosedException end) {
                                break;
                            }
                            int len = b.length();
                            b.get(0, into, 0, len);
                            b.release();
                            if (bytes == 0) first = System.nanoTime();
                            bytes += len;
                        }
                    } else {
                        InputStream in = c.inputStream();
                        for (int k; (k = in.read(into, 0, SIZE)) >= 0; ) {
                            if (bytes == 0) first = System.nanoTime();
                            bytes += k;
                        }
                    }
                    last = System.nanoTime();
                    System.out.printf(Locale.ROOT, "%s %s %s %d %d%n", warm ? "WARM" : "RESULT", c.transport(), mode, bytes, last - first);
                    System.out.flush();
                }
            }
            System.out.println("DONE");
        }
    }

    // ---- the orchestrator ----

    /**
     * Runs the sink on {@code cpuB} and the source on {@code cpuA}: {@code rounds} rounds of {@code roundMs} per
     * mode and transport. Returns the report (Markdown), also written to {@code dir}/streams.md.
     */
    static String run(Path dir, int cpuA, int cpuB, long roundMs, int rounds, long timeoutMs, List<Process> owned) throws IOException {
        String name = "stream-bench-" + ProcessHandle.current().pid();
        int connections = TRANSPORTS.size() * (rounds + 1) * MODES.size();
        List<String> sink = PeerJvm.command(StreamBench.class, List.of("sink", name, Integer.toString(cpuB), Integer.toString(connections)));
        List<String> source = PeerJvm.command(StreamBench.class, List.of("source", name, Integer.toString(cpuA), Long.toString(roundMs),
                Integer.toString(rounds), String.join(",", TRANSPORTS)));
        Map<String, List<Double>> rates = new LinkedHashMap<>();   // "shm raw" -> GB/s per round
        List<String> errors = new ArrayList<>();
        try (PeerPair p = PeerPair.start(sink, source, ProcessBuilder.Redirect.to(dir.resolve("streams-sink.err").toFile()),
                ProcessBuilder.Redirect.to(dir.resolve("streams-source.err").toFile()), owned, timeoutMs)) {
            for (String l; (l = p.firstOut.readLine()) != null; ) {
                if (l.startsWith("DONE")) break;
                if (l.startsWith("RESULT ") || l.startsWith("WARM ")) {
                    String[] f = l.split(" ");
                    double gbps = Long.parseLong(f[3]) / (double) Math.max(1, Long.parseLong(f[4]));   // bytes per ns = GB/s
                    boolean warm = f[0].equals("WARM");
                    if (!warm) rates.computeIfAbsent(f[1] + " " + f[2], k -> new ArrayList<>()).add(gbps);
                    System.out.printf(Locale.ROOT, "  %-4s %-6s %6.2f GB/s%s%n", f[1], f[2], gbps, warm ? " (warm-up, not counted)" : "");
                } else {
                    errors.add(l);
                }
            }
        }
        String report = report(rates, errors, roundMs, rounds, cpuA, cpuB);
        Files.writeString(dir.resolve("streams.md"), report);
        return report;
    }

    static String report(Map<String, List<Double>> rates, List<String> errors, long roundMs, int rounds, int cpuA, int cpuB) {
        StringBuilder r = new StringBuilder("## Byte streams against the raw API (64 KiB, one-way)\n\n");
        r.append(String.format(Locale.ROOT, "Source on CPU %d, sink on CPU %d; after a warm-up round, %d rounds of %d ms per cell, raw and stream "
                + "alternating; median (min-max) of the rounds.%n%n", cpuA, cpuB, rounds, roundMs));
        r.append("| transport | raw (claim/put/commit, receive/get/release) | stream (write/read of 64 KiB) | stream / raw | target ≥ 0.9 |\n");
        r.append("|---|---:|---:|---:|---|\n");
        boolean failed = false;
        for (String t : TRANSPORTS) {
            List<Double> raw = rates.get(t + " raw"), st = rates.get(t + " stream");
            if (raw == null || st == null) {
                r.append("| ").append(t).append(" | FAILED: no result | | | |\n");
                failed = true;
                continue;
            }
            double ratio = median(st) / median(raw);
            r.append(String.format(Locale.ROOT, "| %s | %s | %s | %.2f | %s |%n", t, cell(raw), cell(st), ratio, ratio >= 0.9 ? "met" : "**missed**"));
        }
        if (!errors.isEmpty()) r.append("\nThe sink also said: ").append(String.join(" / ", errors)).append('\n');
        if (failed) r.append("\nFAILED: see streams-sink.err and streams-source.err in the results folder\n");
        return r.toString();
    }

    private static String cell(List<Double> v) {
        return String.format(Locale.ROOT, "%.2f GB/s (%.2f-%.2f)", median(v), v.stream().mapToDouble(d -> d).min().orElse(0),
                v.stream().mapToDouble(d -> d).max().orElse(0));
    }

    private static double median(List<Double> v) {
        double[] a = v.stream().mapToDouble(d -> d).toArray();
        Arrays.sort(a);
        return a.length % 2 == 1 ? a[a.length / 2] : (a[a.length / 2 - 1] + a[a.length / 2]) / 2;
    }
}
