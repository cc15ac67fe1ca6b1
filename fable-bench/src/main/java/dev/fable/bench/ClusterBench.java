package dev.fable.bench;

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * {@code fable bench --cluster}: the rendezvous of a cross-host {@code xio://} connect, between two hosts that are
 * network namespaces ("a" {@value #A}, "b" {@value #B}, joined by a veth pair; root only), each with its own daemon,
 * runtime and state directory, names in a standalone ZooKeeper server in "a" (from {@code fable.zookeeper.lib}).
 * A listener on b holds K names; a client on a times connect → first byte ({@link RendezvousPeer}): the first connect
 * to each name, then repeated connects to one name, once over tls (the veth network untrusted) and once over tcp
 * (both daemons trust it). The namespaces separate the network only (one file system, one /dev/shm).
 */
final class ClusterBench {
    static final String A = "10.83.0.1";
    static final String B = "10.83.0.2";
    private static final int ZK_PORT = 2181;   // inside namespace a
    private static final long STEP_MS = 90_000;

    private ClusterBench() {
    }

    /** Runs it into {@code dir} ({@code cluster.md}); returns the report. {@code owned} gets every child process. */
    static String run(Path dir, int names, int repeats, List<Process> owned) throws Exception {
        String ip = ip();
        if (!"0".equals(uid())) throw new BenchFailure("--cluster makes network namespaces: run it as root (uid " + uid() + ")");
        String lib = System.getProperty("fable.zookeeper.lib");
        if (lib == null || !Files.isDirectory(Path.of(lib))) {
            throw new BenchFailure("--cluster needs the fable-zookeeper libraries: fable.zookeeper.lib (./fable sets it) is "
                    + (lib == null ? "unset" : "not a directory: " + lib));
        }
        String tag = Long.toString(ProcessHandle.current().pid(), 36);
        String nsA = "fbench-" + tag + "-a", nsB = "fbench-" + tag + "-b", linkA = "fbv" + tag + "a", linkB = "fbv" + tag + "b";
        List<String> made = new ArrayList<>();
        StringBuilder report = new StringBuilder("# Cross-host rendezvous (network namespaces)\n\n");
        try {
            for (String ns : List.of(nsA, nsB)) {
                sh(ip, "netns", "add", ns);
                made.add(ns);
                sh(ip, "-n", ns, "link", "set", "lo", "up");
            }
            sh(ip, "link", "add", linkA, "netns", nsA, "type", "veth", "peer", "name", linkB, "netns", nsB);
            sh(ip, "-n", nsA, "addr", "add", A + "/24", "dev", linkA);
            sh(ip, "-n", nsB, "addr", "add", B + "/24", "dev", linkB);
            sh(ip, "-n", nsA, "link", "set", linkA, "up");
            sh(ip, "-n", nsB, "link", "set", linkB, "up");

            Path zkData = Files.createDirectories(dir.toAbsolutePath().resolve("zookeeper"));
            Line zk = start(owned, dir, "zookeeper", List.of(ip, "netns", "exec", nsA, PeerJvm.java(), "-Xmx128m", "-Dzookeeper.admin.enableServer=false",
                    "-cp", lib + File.separator + "*", "org.apache.zookeeper.server.ZooKeeperServerMain", Integer.toString(ZK_PORT), zkData.toString()));
            report.append("Hosts: namespaces a (").append(A).append(") and b (").append(B).append("), veth pair; ZooKeeper 1 server in a; ")
                    .append(names).append(" names, first connect to each, then ").append(repeats)
                    .append(" connects to one; after ").append(RendezvousPeer.WARM_UP).append(" untimed connects. Connect → first byte.\n\n")
                    .append("| transport | connect | n | p50 | p90 | p99 | max |\n|---|---|---|---|---|---|---|\n");
            for (boolean trusted : new boolean[] {false, true}) {
                String phase = trusted ? "tcp" : "tls";
                String trust = trusted ? "127.0.0.0/8,10.83.0.0/24" : "127.0.0.0/8";
                Path rtA = Files.createDirectories(dir.toAbsolutePath().resolve(phase + "-a")), rtB = Files.createDirectories(dir.toAbsolutePath().resolve(phase + "-b"));
                List<Process> phaseProcs = new ArrayList<>();
                try {
                    Line daemonA = start(phaseProcs, dir, phase + "-daemon-a", inNs(ip, nsA, daemon(rtA, A, trust, lib)));
                    Line daemonB = start(phaseProcs, dir, phase + "-daemon-b", inNs(ip, nsB, daemon(rtB, B, trust, lib)));
                    daemonA.await("fabled ready");
                    daemonB.await("fabled ready");
                    if (!zk.p().isAlive()) throw new BenchFailure("the ZooKeeper server exited; its stderr:\n" + tail(zk.err()));
                    String prefix = "rdv-" + phase;
                    Line listener = start(phaseProcs, dir, phase + "-listener", inNs(ip, nsB,
                            PeerJvm.command(RendezvousPeer.class, endpoint(rtB), List.of("listen", prefix, Integer.toString(names)))));
                    listener.await("READY");
                    Line client = start(phaseProcs, dir, phase + "-client", inNs(ip, nsA,
                            PeerJvm.command(RendezvousPeer.class, endpoint(rtA), List.of("connect", prefix, Integer.toString(names), Integer.toString(repeats)))));
                    String first = client.await("FIRST"), again = client.await("AGAIN");
                    client.await("DONE");
                    row(report, first);
                    row(report, again);
                } finally {
                    for (Process p : phaseProcs) p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
                    owned.removeAll(phaseProcs);
                }
            }
            report.append("\nFIRST: the first connect of host a to that name (its daemon finds it in its ZooKeeper cache or asks the "
                    + "ensemble); AGAIN: later connects to one name. Each is a new connection: resolve at the daemon, TCP connect, "
                    + "the door's proof, and for tls a full handshake.\n");
            Files.writeString(dir.resolve("cluster.md"), report);
            return report.toString();
        } finally {
            for (Process p : owned) p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            owned.clear();
            for (String ns : made) {
                try {
                    sh(ip, "netns", "del", ns);
                } catch (BenchFailure e) {
                    System.err.println("fable bench: could not remove network namespace " + ns + ": " + e.getMessage());
                }
            }
        }
    }

    private static void row(StringBuilder report, String line) {
        String[] f = line.split(" ");
        long[] ns = Arrays.stream(f, 2, f.length).mapToLong(Long::parseLong).sorted().toArray();
        if (ns.length == 0) throw new BenchFailure("the client measured nothing: " + line);
        report.append("| ").append(f[1]).append(" | ").append(f[0].equals("FIRST") ? "first to each name" : "again, one name").append(" | ")
                .append(ns.length);
        for (double p : new double[] {50, 90, 99, 100}) {
            report.append(" | ").append(RelayBench.us(ConnBench.pct(ns, p)));
        }
        report.append(" |\n");
    }

    private static List<String> daemon(Path rt, String self, String trusted, String lib) {
        return PeerJvm.command(dev.fable.daemon.NameDaemon.class, List.of("-Dfable.runtime.dir=" + rt, "-Dfable.state.dir=" + rt.resolve("state"),
                "-Dfable.host.address=" + self, "-Dfable.zookeeper=" + A + ":" + ZK_PORT, "-Dfable.zookeeper.lib=" + lib,
                "-Dfable.trusted.networks=" + trusted, "-Dfable.daemon.idleExitSeconds=0"), List.of());
    }

    private static List<String> endpoint(Path rt) {
        return List.of("-Dfable.runtime.dir=" + rt, "-Dfable.state.dir=" + rt.resolve("state"), "-Dfable.daemon.autostart=false");
    }

    private static List<String> inNs(String ip, String ns, List<String> cmd) {
        List<String> all = new ArrayList<>(List.of(ip, "netns", "exec", ns));
        all.addAll(cmd);
        return all;
    }

    /** A child whose stdout lines are read into a queue (its stderr into {@code <role>.err} in {@code dir}). */
    private record Line(String role, Process p, BlockingQueue<String> lines, Path err) {
        /** The next line starting with {@code prefix} (others skipped), within {@link #STEP_MS}; fails naming the child's stderr. */
        String await(String prefix) throws Exception {
            long end = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(STEP_MS);
            while (true) {
                String l = lines.poll(Math.max(0, end - System.nanoTime()), TimeUnit.NANOSECONDS);
                if (l == null || l.equals("\0")) {
                    throw new BenchFailure("the " + role + " did not say '" + prefix + "' (" + (p.isAlive() ? "no answer in " + STEP_MS / 1000 + " s"
                            : "exited " + p.exitValue()) + "); its stderr, " + err + ":\n" + tail(err));
                }
                if (l.startsWith(prefix)) return l;
            }
        }
    }

    private static Line start(List<Process> owned, Path dir, String role, List<String> cmd) throws IOException {
        Path err = dir.resolve(role + ".err");
        Files.writeString(dir.resolve(role + ".cmd"), String.join(" ", cmd) + "\n");   // to rerun it by hand
        Process p = new ProcessBuilder(cmd).redirectError(err.toFile()).start();
        owned.add(p);
        BlockingQueue<String> q = new LinkedBlockingQueue<>();
        Thread.ofVirtual().start(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                for (String l; (l = r.readLine()) != null; ) q.add(l);
            } catch (IOException ended) {
                // the child is gone
            }
            q.add("\0");
        });
        return new Line(role, p, q, err);
    }

    private static String tail(Path f) {
        try {
            List<String> l = Files.readAllLines(f);
            return String.join("\n", l.subList(Math.max(0, l.size() - 15), l.size()));
        } catch (IOException e) {
            return "(unreadable: " + e.getMessage() + ")";
        }
    }

    private static String ip() {
        for (String d : (System.getenv("PATH") + File.pathSeparator + "/usr/sbin:/sbin").split(File.pathSeparator)) {
            Path p = Path.of(d.isEmpty() ? "." : d, "ip");
            if (Files.isExecutable(p)) return p.toString();
        }
        throw new BenchFailure("--cluster needs iproute2's 'ip' (apt-get install iproute2)");
    }

    private static String uid() {
        try {
            return Files.getAttribute(Path.of("/proc/self"), "unix:uid").toString();
        } catch (IOException | UnsupportedOperationException e) {
            return "?";
        }
    }

    private static void sh(String... cmd) {
        try {
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
            if (!p.waitFor(30, TimeUnit.SECONDS) || p.exitValue() != 0) {
                throw new BenchFailure(String.join(" ", cmd) + " failed: " + out);
            }
        } catch (IOException e) {
            throw new BenchFailure(String.join(" ", cmd) + ": " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new BenchFailure("interrupted: " + String.join(" ", cmd));
        }
    }
}
