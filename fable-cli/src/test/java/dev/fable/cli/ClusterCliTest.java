package dev.fable.cli;

import dev.fable.naming.DaemonNameService;
import dev.fable.naming.NameService;
import dev.fable.naming.protocol.ListenAddress;
import dev.fable.naming.protocol.Route;
import dev.fable.naming.protocol.RouteRequest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.BufferedReader;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * End to end with a standalone ZooKeeper server process (ZooKeeperServerMain from the Maven-resolved jar) and two
 * {@code fable daemon --zookeeper} processes as two "hosts" (127.0.0.2 and 127.0.0.3, own runtime and state
 * directories): each finds the other's names, {@code fable hosts} and {@code fable names --cluster} list both.
 */
@Timeout(value = 180, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class ClusterCliTest {
    private static final long WAIT_NANOS = TimeUnit.SECONDS.toNanos(20);

    private static Path fresh(String tag) throws IOException {
        Path d = Path.of("target", "nd", tag + Long.toString(System.nanoTime() % 1_000_000_000L, 36)).toAbsolutePath();
        return Files.createDirectories(d);
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket()) {
            s.bind(new InetSocketAddress("127.0.0.1", 0));
            return s.getLocalPort();
        }
    }

    /** A standalone ZooKeeper server in its own JVM, on {@code port}, data in {@code dir}. */
    private static Process zookeeper(int port, Path dir) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx128m",
                "-Dzookeeper.admin.enableServer=false", "-cp", System.getProperty("java.class.path"),
                "org.apache.zookeeper.server.ZooKeeperServerMain", Integer.toString(port), dir.toString()));
        return new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(dir.resolve("zookeeper.log").toFile()).start();
    }

    /** {@code fable daemon --zookeeper connect} as host {@code address}; returns once it serves. */
    private static Process daemon(Path runtime, String address, String connect, String auth) throws Exception {
        ProcessBuilder pb = SendRecvTest.fable("daemon", "--zookeeper", connect);
        // its own directories, and no idle exit: the suite's 2 s would end it while the other host's daemon starts on a busy machine
        pb.command().removeIf(a -> a.startsWith("-Dfable.runtime.dir=") || a.startsWith("-Dfable.state.dir=")
                || a.startsWith("-Dfable.daemon.idleExitSeconds="));
        int at = pb.command().indexOf("-cp");
        for (String p : List.of("-Dfable.runtime.dir=" + runtime, "-Dfable.state.dir=" + runtime.resolve("state"), "-Dfable.host.address=" + address,
                "-Dfable.zookeeper.auth=" + auth, "-Dfable.daemon.autostart=false", "-Dfable.daemon.idleExitSeconds=0")) {
            pb.command().add(at++, p);
        }
        Process p = pb.redirectErrorStream(true).start();
        BufferedReader log = p.inputReader(StandardCharsets.UTF_8);
        StringBuilder seen = new StringBuilder();
        for (String line; (line = log.readLine()) != null; ) {
            seen.append(line).append('\n');
            if (line.contains("fable daemon: serving")) {
                Thread.ofVirtual().start(() -> {
                    try {
                        log.transferTo(java.io.Writer.nullWriter());
                    } catch (IOException ignored) {
                        // it ended
                    }
                });
                return p;
            }
        }
        fail("fable daemon --zookeeper exited before serving:\n" + seen);
        return null;
    }

    /** What a {@code fable} command printed (stdout and stderr) and its exit status. */
    private record Ran(int exit, String out) {}

    private static Ran ran(String... args) throws Exception {
        Process p = SendRecvTest.fable(args).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        return new Ran(SendRecvTest.exit(p), out);
    }

    private static String run(String... args) throws Exception {
        Ran r = ran(args);
        assertEquals(0, r.exit(), r.out());
        return r.out();
    }

    @Test
    void twoDaemonsShareNamesThroughAStandaloneZooKeeperAndTheCliListsThem() throws Exception {
        int port = freePort();
        String connect = "127.0.0.1:" + port;
        Path zkDir = fresh("zk");
        Process zk = zookeeper(port, zkDir);
        Process a = null, b = null;
        try {
            long deadline = System.nanoTime() + WAIT_NANOS;
            while (true) {   // the server is up once 'fable hosts' can read the (empty) tree
                Ran probe = ran("hosts", "--zookeeper", connect);
                if (probe.exit() == 0) break;
                if (System.nanoTime() - deadline > 0 || !zk.isAlive()) {
                    fail("ZooKeeper did not start: " + probe.out() + "\n" + Files.readString(zkDir.resolve("zookeeper.log")));
                }
            }
            Path ra = fresh("ca"), rb = fresh("cb");
            a = daemon(ra, "127.0.0.2", connect, "host-a:a");
            b = daemon(rb, "127.0.0.3", connect, "host-b:b");
            try (DaemonNameService onA = DaemonNameService.open(ra, false); DaemonNameService onB = DaemonNameService.open(rb, false)) {
                NameService.Registration ledger = onB.register("ledger");
                ledger.listening(new ListenAddress("/run/ledger.sock", "127.0.0.3", 7100));
                NameService.Registration audit = onA.register("audit");
                audit.listening(new ListenAddress("/run/audit.sock", "127.0.0.2", 7200));
                Route r = onA.resolve("ledger", new RouteRequest(true, null), WAIT_NANOS);
                assertEquals(onB.host().hostId(), r.peerHostId());
                assertEquals(7100, r.tcpPort());
                assertEquals(7200, onB.resolve("audit", new RouteRequest(true, null), WAIT_NANOS).tcpPort());

                String hosts = run("hosts", "--zookeeper", connect);
                assertTrue(hosts.contains(onA.host().hostId()) && hosts.contains(onB.host().hostId()), hosts);
                assertTrue(hosts.contains("127.0.0.2") && hosts.contains("127.0.0.3"), hosts);
                assertTrue(hosts.lines().anyMatch(l -> l.startsWith("HOST") && l.contains(" LOAD ")), hosts);
                for (String id : List.of(onA.host().hostId(), onB.host().hostId())) {   // each host's load, as its daemon published it
                    String row = hosts.lines().filter(l -> l.startsWith(id)).findFirst().orElse("");
                    assertTrue(java.util.regex.Pattern.compile("\\s[0-9]+(\\.[0-9]+)?\\s").matcher(row.substring(Math.min(row.length(), id.length()))
                            .replaceAll("127\\.0\\.0\\.[23]", "")).find(), "a load on " + row);
                }
                String names = run("names", "--cluster", "--zookeeper", connect, "--json");
                assertTrue(names.contains("\"name\":\"ledger\"") && names.contains("127.0.0.3:7100"), names);
                assertTrue(names.contains("\"name\":\"audit\"") && names.contains("127.0.0.2:7200"), names);
            }
        } finally {
            for (Process p : new Process[] {a, b, zk}) {
                if (p != null) {
                    p.destroy();
                    p.waitFor(20, TimeUnit.SECONDS);
                }
            }
        }
    }

    @Test
    void withoutAnEnsembleTheClusterCommandsSaySo() throws Exception {
        Ran r = ran("hosts");
        assertEquals(FableCli.SETUP, r.exit(), r.out());
        assertTrue(r.out().contains("no ZooKeeper ensemble"), r.out());
    }
}
