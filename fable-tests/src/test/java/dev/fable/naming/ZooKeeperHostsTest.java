package dev.fable.naming;

import dev.fable.ConnectOptions;
import dev.fable.Connection;
import dev.fable.Fable;
import dev.fable.NameNotFoundException;
import dev.fable.daemon.NameDaemon;
import dev.fable.naming.protocol.FlowEntry;
import dev.fable.naming.protocol.RouteRequest;
import dev.fable.testing.Await;
import dev.fable.testing.Netns;
import dev.fable.testing.PeerProcess;
import org.apache.zookeeper.server.ZooKeeperServerMain;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Hosts as network namespaces ("a" 10.79.0.1 and "b" 10.79.0.2, joined by a veth pair), each with its own daemon,
 * runtime and state directory, naming through a standalone ZooKeeper server running in "a": an endpoint on b is
 * reached from a by {@code xio://name} over tls while 10.79.0.0/24 is not trusted, and over tcp once both hosts trust it
 * ({@code fable flows} shows each), every echoed byte checked; then b's processes are killed -9 and its name vanishes
 * from a within the session timeout. Root only (network namespaces); skipped with the reason otherwise.
 */
@Timeout(value = 240, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class ZooKeeperHostsTest {
    private static final String A = "10.79.0.1";
    private static final String B = "10.79.0.2";
    private static final int ZK_PORT = 2181;   // inside namespace a: no clash with anything
    private static final int SESSION_MS = 4_000;
    private static final Duration WAIT = Duration.ofSeconds(60);

    /** Host b's endpoint: listens as args[0], echoes every message on every connection. */
    public static final class Listener {
        public static void main(String[] args) {
            PeerProcess.listenAndEchoEveryConnection(args[0], WAIT);
        }
    }

    /** Host a's client: connects to xio://args[0], 200 messages of 1 B to 256 KiB echoed and checked; "OK transport". */
    public static final class Client {
        public static void main(String[] args) {
            try (Connection c = Fable.connect("xio://" + args[0], ConnectOptions.trusted().connectTimeout(WAIT))) {
                Random r = new Random(args[0].hashCode());
                for (int i = 0; i < 200; i++) {
                    byte[] m = new byte[1 + r.nextInt(256 * 1024)];
                    r.nextBytes(m);
                    c.send(m);
                    if (!Arrays.equals(m, c.receiveMessage(WAIT))) throw new AssertionError("echo " + i + " differs");
                }
                System.out.println("OK " + c.transport());
                System.out.flush();
                new java.io.BufferedReader(new java.io.InputStreamReader(System.in)).readLine();   // keeps the connection for the flows check
            } catch (Exception | AssertionError e) {
                System.out.println("FAILED " + e);
            }
        }
    }

    @Test
    void namesCrossNamespacesThroughZooKeeperOverTlsUntrustedAndTcpTrustedAndADeadHostsNamesGo() throws Exception {
        try (Netns net = Netns.create("the ZooKeeper hosts test", A, B)) {
            Path rtA = TestDaemon.freshDir("za"), rtB = TestDaemon.freshDir("zb"), zkData = TestDaemon.freshDir("zd");
            Path stA = Files.createDirectories(rtA.resolve("state")), stB = Files.createDirectories(rtB.resolve("state"));
            String name = "zkhost-" + Long.toString(ProcessHandle.current().pid(), 36);
            List<PeerProcess> all = new ArrayList<>();
            try {
                net.start(all, net.a, ZooKeeperServerMain.class, List.of("-Dzookeeper.admin.enableServer=false", "-Xmx128m"),
                        Integer.toString(ZK_PORT), zkData.toString());
                PeerProcess daemonA = net.start(all, net.a, NameDaemon.class, daemonArgs(rtA, stA, A, "host-a:a"));
                PeerProcess daemonB = net.start(all, net.b, NameDaemon.class, daemonArgs(rtB, stB, B, "host-b:b"));
                daemonA.expectLine("fabled ready");
                daemonB.expectLine("fabled ready");
                PeerProcess listener = net.start(all, net.b, Listener.class, endpointArgs(rtB, stB), name);
                listener.expectLine("LISTENING");

                try (DaemonNameService adminA = DaemonNameService.open(rtA, false)) {   // a Unix socket: reachable from any namespace
                    // b's name reaches a through the ensemble (its daemon retries until ZooKeeper is up)
                    assertEquals(B, adminA.resolve(name, new RouteRequest(true, null), TimeUnit.SECONDS.toNanos(40)).tcpHost());

                    PeerProcess overTls = net.start(all, net.a, Client.class, endpointArgs(rtA, stA), name);
                    assertEquals("OK tls", overTls.expectLine("", WAIT), () -> "untrusted network: tls\n" + overTls.stderr() + "\n" + daemonB.stderr());
                    assertTrue(flowOver(adminA, name, "tls"), () -> "fable flows on a: " + adminA.flows());

                    adminA.trust("10.79.0.0/24", true);   // both ends: b's door refuses plain tcp from a network it does not trust
                    try (DaemonNameService adminB = DaemonNameService.open(rtB, false)) {
                        adminB.trust("10.79.0.0/24", true);
                    }
                    PeerProcess overTcp = net.start(all, net.a, Client.class, endpointArgs(rtA, stA), name);
                    assertEquals("OK tcp", overTcp.expectLine("", WAIT), () -> "trusted network: tcp\n" + overTcp.stderr());
                    assertTrue(flowOver(adminA, name, "tcp"), () -> "fable flows on a: " + adminA.flows());
                    overTls.send("");
                    overTcp.send("");

                    // host b dies: every process in its namespace killed -9
                    listener.kill9();
                    daemonB.kill9();
                    long t0 = System.nanoTime();
                    Await.until(() -> gone(adminA, name), Duration.ofMillis(SESSION_MS * 3L + 20_000), () -> "'" + name + "' of dead host b still resolves");
                    long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
                    assertTrue(ms < SESSION_MS * 3L, "gone " + ms + " ms after the kill; session timeout " + SESSION_MS + " ms");
                }
            } finally {
                for (PeerProcess p : all) p.close();
            }
        }
    }

    private static boolean flowOver(DaemonNameService admin, String name, String transport) {
        return Await.within(() -> admin.flows().stream().anyMatch((FlowEntry f) -> f.peerName().equals(name) && f.transport().equals(transport)),
                Duration.ofSeconds(20));
    }

    private static boolean gone(DaemonNameService admin, String name) {
        try {
            admin.resolve(name, new RouteRequest(true, null), 0);
            return false;
        } catch (NameNotFoundException e) {
            return true;
        }
    }

    private static List<String> daemonArgs(Path rt, Path st, String self, String auth) {
        return List.of("-Dfable.runtime.dir=" + rt, "-Dfable.state.dir=" + st, "-Dfable.host.address=" + self,
                "-Dfable.zookeeper=" + A + ":" + ZK_PORT, "-Dfable.zookeeper.auth=" + auth, "-Dfable.zookeeper.sessionTimeoutMillis=" + SESSION_MS,
                "-Dfable.trusted.networks=127.0.0.0/8");
    }

    private static List<String> endpointArgs(Path rt, Path st) {
        return List.of("-Dfable.runtime.dir=" + rt, "-Dfable.state.dir=" + st, "-Dfable.daemon.autostart=false");
    }
}
