package dev.fable.naming;

import dev.fable.ConnectOptions;
import dev.fable.Connection;
import dev.fable.Endpoint;
import dev.fable.Fable;
import dev.fable.FableException;
import dev.fable.testing.PeerProcess;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Whole connections between "hosts" on one machine: each host is a daemon with its own runtime and
 * state directory (so its own TLS identity) on its own 127.0.0.x address, and each endpoint is a
 * separate JVM living on one of them. The connector says only {@code xio://name}: its daemon finds
 * the name in ZooKeeper (one server, Curator's {@code TestingServer}) and picks tcp (trusted network) or tls
 * (untrusted); the data then
 * flows between the two JVMs, with certificates pinned both ways for tls.
 */
class TwoHostConnectTest {
    private static final Duration WAIT = Duration.ofSeconds(30);

    /** Host B's endpoint: listens as args[0], echoes every message back until the peer closes. */
    public static final class EchoListener {
        public static void main(String[] args) throws Exception {
            try (Endpoint ep = Fable.register(args[0]).listen()) {
                System.out.println("LISTENING " + Fable.names().host().advertiseHost());
                while (true) {
                    try (Connection c = ep.accept(WAIT)) {
                        if (c == null) return;
                        System.out.println("ACCEPTED " + c.transport());
                        while (true) {
                            byte[] m;
                            try {
                                m = c.receiveMessage(WAIT);
                            } catch (RuntimeException ended) {
                                break;
                            }
                            if (m == null) break;
                            c.send(m);
                        }
                    } catch (RuntimeException e) {
                        System.out.println("REFUSED " + e.getMessage().replace('\n', ' '));
                    }
                }
            }
        }
    }

    /**
     * Another host's endpoint: connects to xio://args[0] (waiting args[1] ms for the name, default WAIT), sends messages
     * of several sizes, checks the echo.
     */
    public static final class Connector {
        public static void main(String[] args) throws Exception {
            Duration wait = args.length > 1 ? Duration.ofMillis(Long.parseLong(args[1])) : WAIT;
            try (Connection c = Fable.connect("xio://" + args[0], ConnectOptions.trusted().connectTimeout(wait))) {
                Random r = new Random(3);
                for (int size : new int[] {1, 100, 64 * 1024, 64 * 1024 + 1, 3 << 20}) {
                    byte[] m = new byte[size];
                    r.nextBytes(m);
                    c.send(m);
                    byte[] back = c.receiveMessage(WAIT);
                    if (!Arrays.equals(m, back)) throw new AssertionError("echo of " + size + " B differs");
                }
                System.out.println("OK " + c.transport() + " | " + Fable.names().flows().stream()
                        .filter(f -> f.localName().equals(c.localName())).map(f -> f.reason()).findFirst().orElse("?"));
            } catch (RuntimeException e) {
                System.out.println("FAILED " + e.getClass().getSimpleName() + ": " + e.getMessage().replace('\n', ' '));
            }
            new BufferedReader(new InputStreamReader(System.in)).readLine();
        }
    }

    /**
     * Another host's endpoint that switches its live connection: connects to xio://args[0] (tcp on a
     * trusted network), asks for shm (which cannot cross hosts: refused, the connection stays on tcp),
     * then for tls and back to tcp, checking an echo of several sizes on every transport.
     */
    public static final class SwitchingConnector {
        public static void main(String[] args) throws Exception {
            try (Connection c = Fable.connect("xio://" + args[0], ConnectOptions.trusted().connectTimeout(WAIT))) {
                Random r = new Random(5);
                StringBuilder seen = new StringBuilder(c.transport());
                echo(c, r);
                String refusal;
                try {
                    c.reconfigure("shm", "test: shm across hosts");
                    refusal = "NOT REFUSED";
                } catch (FableException e) {
                    refusal = e.getMessage().replace('\n', ' ');
                }
                echo(c, r);
                seen.append(' ').append(c.transport());
                for (String t : new String[] {"tls", "tcp"}) {
                    c.reconfigure(t, "test");
                    echo(c, r);
                    seen.append(' ').append(c.transport()).append('@').append(c.epoch());
                }
                System.out.println("OK " + seen + " | " + refusal);
            } catch (RuntimeException e) {
                System.out.println("FAILED " + e.getClass().getSimpleName() + ": " + e.getMessage().replace('\n', ' '));
            }
            new BufferedReader(new InputStreamReader(System.in)).readLine();
        }

        private static void echo(Connection c, Random r) {
            for (int size : new int[] {1, 100, 64 * 1024 + 1, 1 << 20}) {
                byte[] m = new byte[size];
                r.nextBytes(m);
                c.send(m);
                byte[] back = c.receiveMessage(WAIT);
                if (!Arrays.equals(m, back)) throw new AssertionError("echo of " + size + " B over " + c.transport() + " differs");
            }
        }
    }

    /**
     * Another host's endpoint that follows the transport policy: connects to xio://args[0], echoes
     * messages until stdin says STOP, and prints "NOW transport epoch" whenever the transport changed.
     */
    public static final class PolicyConnector {
        public static void main(String[] args) throws Exception {
            java.util.concurrent.atomic.AtomicBoolean stop = new java.util.concurrent.atomic.AtomicBoolean();
            Thread.ofPlatform().daemon().start(() -> {
                try {
                    new BufferedReader(new InputStreamReader(System.in)).readLine();
                } catch (java.io.IOException ignored) {
                    // the parent went away
                }
                stop.set(true);
            });
            try (Connection c = Fable.connect("xio://" + args[0], ConnectOptions.trusted().connectTimeout(WAIT))) {
                Random r = new Random(9);
                String seen = "";
                long n = 0;
                while (!stop.get()) {
                    byte[] m = new byte[1 + r.nextInt(100_000)];
                    r.nextBytes(m);
                    c.send(m);
                    if (!Arrays.equals(m, c.receiveMessage(WAIT))) throw new AssertionError("echo " + n + " differs over " + c.transport());
                    n++;
                    String now = c.transport() + " " + c.epoch();
                    if (!now.equals(seen)) {
                        System.out.println("NOW " + now);
                        seen = now;
                    }
                }
                System.out.println("OK " + n);
            } catch (RuntimeException e) {
                System.out.println("FAILED " + e.getClass().getSimpleName() + ": " + e.getMessage().replace('\n', ' '));
            }
        }
    }

    private static List<String> on(Path runtime, Path state) {
        return List.of("-Dfable.runtime.dir=" + runtime, "-Dfable.state.dir=" + state, "-Dfable.daemon.autostart=false");
    }

    @Test
    void xioConnectsAcrossHostsOverTcpOnATrustedNetworkAndOverVerifiedTlsOtherwise() throws Exception {
        Path rtA = TestDaemon.freshDir("ca"), rtB = TestDaemon.freshDir("cb"), rtC = TestDaemon.freshDir("cc"), rtD = TestDaemon.freshDir("cd");
        Path stA = Files.createDirectories(rtA.resolve("state"));
        Path stB = Files.createDirectories(rtB.resolve("state")), stC = Files.createDirectories(rtC.resolve("state")),
                stD = Files.createDirectories(rtD.resolve("state"));
        String name = "far-" + ProcessHandle.current().pid();
        // B and C are in the cluster. C trusts only 10/8, so B (127.0.0.3) is across an untrusted network: tls.
        // D is not in the cluster: it never learns where the name is.
        // A (further down) trusts 127/8, the default: plain tcp to B, whose door lets it in because A is a live cluster host (its key known).
        try (org.apache.curator.test.TestingServer zk = new org.apache.curator.test.TestingServer();
             TestDaemon b = TestDaemon.start(rtB, "fable.state.dir=" + stB, "fable.host.address=127.0.0.3", "fable.zookeeper=" + zk.getConnectString());
             TestDaemon c = TestDaemon.start(rtC, "fable.state.dir=" + stC, "fable.host.address=127.0.0.4", "fable.zookeeper=" + zk.getConnectString(),
                     "fable.trusted.networks=10.0.0.0/8");
             TestDaemon d = TestDaemon.start(rtD, "fable.state.dir=" + stD, "fable.host.address=127.0.0.5", "fable.trusted.networks=10.0.0.0/8");
             PeerProcess listener = PeerProcess.start(EchoListener.class, on(rtB, stB), name)) {
            assertEquals("LISTENING 127.0.0.3", listener.expectLine("LISTENING"));

            try (PeerProcess fromC = PeerProcess.start(Connector.class, on(rtC, stC), name)) {
                String ok = fromC.expectLine("");
                assertTrue(ok.startsWith("OK tls | other host over untrusted network"), ok + "\n" + fromC.stderr());
                assertEquals("ACCEPTED tls", listener.expectLine(""));
            }

            // a short wait: its daemon asks again until then, and the listener stops accepting after WAIT without a connection
            try (PeerProcess fromD = PeerProcess.start(Connector.class, on(rtD, stD), name, "2000")) {
                String refused = fromD.expectLine("");
                // a host outside the cluster learns nothing (one that knocks at the door anyway, with a key no live host
                // has, is refused there: DoorAttackTest)
                assertTrue(refused.startsWith("FAILED NameNotFoundException"), "a host outside the cluster finds nothing: " + refused);
            }   // refused before it knocked: the listener's accept() never saw it (its next line is A's connection below)

            try (TestDaemon a = TestDaemon.start(rtA, "fable.state.dir=" + stA, "fable.host.address=127.0.0.2", "fable.zookeeper=" + zk.getConnectString());
                 PeerProcess fromA = PeerProcess.start(Connector.class, on(rtA, stA), name)) {
                String ok = fromA.expectLine("");
                assertTrue(ok.startsWith("OK tcp | other host over trusted network 127.0.0.0/8"), ok + "\n" + fromA.stderr());
                assertEquals("ACCEPTED tcp", listener.expectLine(""));
            }
        }
    }

    /**
     * Hosts A (127.0.0.2) and B (127.0.0.3), whose daemons share one ZooKeeper server (tls needs each to know
     * the other's certificate: live cluster hosts' are), and an echo listener on B. {@code aSettings}: more
     * settings of A's daemon (its trusted networks, say).
     */
    private record PeeredHosts(org.apache.curator.test.TestingServer zk, Path rtA, Path stA, TestDaemon a, TestDaemon b, PeerProcess listener)
            implements AutoCloseable {
        static PeeredHosts start(String tag, String name, String... aSettings) throws Exception {
            Path rtA = TestDaemon.freshDir(tag + "a"), rtB = TestDaemon.freshDir(tag + "b");
            Path stA = Files.createDirectories(rtA.resolve("state")), stB = Files.createDirectories(rtB.resolve("state"));
            org.apache.curator.test.TestingServer zk = new org.apache.curator.test.TestingServer();
            TestDaemon b = null;
            PeerProcess listener = null;
            try {
                b = TestDaemon.start(rtB, "fable.state.dir=" + stB, "fable.host.address=127.0.0.3", "fable.zookeeper=" + zk.getConnectString());
                listener = PeerProcess.start(EchoListener.class, on(rtB, stB), name);
                List<String> settings = new java.util.ArrayList<>(List.of("fable.state.dir=" + stA, "fable.host.address=127.0.0.2",
                        "fable.zookeeper=" + zk.getConnectString()));
                settings.addAll(List.of(aSettings));
                TestDaemon a = TestDaemon.start(rtA, settings.toArray(String[]::new));
                assertEquals("LISTENING 127.0.0.3", listener.expectLine("LISTENING"));
                return new PeeredHosts(zk, rtA, stA, a, b, listener);
            } catch (Exception | AssertionError e) {
                if (listener != null) listener.close();
                if (b != null) b.close();
                zk.close();
                throw e;
            }
        }

        @Override
        public void close() throws java.io.IOException {
            a.close();
            listener.close();
            b.close();
            zk.close();
        }
    }

    @Test
    void aConnectionAcrossHostsSwitchesBetweenTcpAndTlsAndIsRefusedShm() throws Exception {
        String name = "switch-far-" + ProcessHandle.current().pid();
        try (PeeredHosts h = PeeredHosts.start("s", name);   // both trust 127/8: tcp by default
             PeerProcess fromA = PeerProcess.start(SwitchingConnector.class, on(h.rtA(), h.stA()), name)) {
            String ok = fromA.expectLine("", Duration.ofSeconds(90));
            assertTrue(ok.startsWith("OK tcp tcp tls@1 tcp@2 | "), ok + "\n" + fromA.stderr());
            assertTrue(ok.contains("stays on tcp (epoch 0) and keeps flowing"), "shm across hosts is refused, naming the fallback: " + ok);
            assertTrue(ok.contains("reaches only endpoints on this host"), "refused by the policy, for being across hosts: " + ok);
            assertEquals("ACCEPTED tcp", h.listener().expectLine(""));
        }
    }

    @Test
    void anXioConnectionFollowsTheTrustPolicyFromTlsToTcpAndBack() throws Exception {
        String name = "trust-far-" + ProcessHandle.current().pid();
        // A trusts only 10/8, so B (127.0.0.3) starts across an untrusted network: tls
        try (PeeredHosts h = PeeredHosts.start("t", name, "fable.trusted.networks=10.0.0.0/8");
             PeerProcess fromA = PeerProcess.start(PolicyConnector.class, on(h.rtA(), h.stA()), name);
             DaemonNameService admin = DaemonNameService.open(h.rtA(), false)) {
            assertEquals("NOW tls 0", fromA.expectLine("NOW", WAIT), fromA.stderr());
            admin.trust("127.0.0.0/8", true);
            assertEquals("NOW tcp 1", fromA.expectLine("NOW", WAIT), "the operator trusts the network: plain tcp\n" + fromA.stderr());
            String row = admin.flows().stream().filter(f -> f.pid() == fromA.pid()).map(f -> f.reason() + " @" + f.epoch())
                    .findFirst().orElse("none");
            assertTrue(row.startsWith("policy: other host over trusted network 127.0.0.0/8") && row.endsWith("@1"), row);
            admin.trust("127.0.0.0/8", false);
            assertEquals("NOW tls 2", fromA.expectLine("NOW", WAIT), "trust withdrawn: back to tls\n" + fromA.stderr());
            IllegalArgumentException bad = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class, () -> admin.trust("not-a-network", true));   // bad usage, not a failure to set up
            assertTrue(bad.getMessage().contains("not-a-network"), bad.getMessage());
            fromA.send("STOP");
            assertTrue(fromA.expectLine("", WAIT).startsWith("OK "), fromA.stderr());
        }
    }
}
