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

    /**
     * Host b's producer: listens as args[0]; on the connection sends {@code MOVE_AT} checked messages, waits for "MOVE" on
     * stdin (its runtime directory then belongs to host a: it re-registers there, {@code rehome}), and sends on without a
     * pause until its connection has switched and {@code AFTER_SWITCH} more went over the new leg, at least
     * {@code MESSAGES} in all; then an end message carrying the count.
     */
    public static final class Producer {
        public static void main(String[] args) throws Exception {
            java.util.concurrent.BlockingQueue<String> commands = new java.util.concurrent.LinkedBlockingQueue<>();
            Thread reader = new Thread(() -> {
                try (var in = new java.io.BufferedReader(new java.io.InputStreamReader(System.in))) {
                    for (String l; (l = in.readLine()) != null; ) commands.add(l);
                } catch (java.io.IOException e) {
                    commands.add("EOF");
                }
            }, "commands");
            reader.setDaemon(true);
            reader.start();
            try (dev.fable.Endpoint ep = Fable.register(args[0]).listen()) {
                System.out.println("LISTENING");
                try (Connection c = ep.accept(WAIT)) {
                    byte[] m = new byte[MESSAGE_BYTES];
                    java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(m).order(java.nio.ByteOrder.nativeOrder());   // as Buffer.getLong reads
                    long seq = 0, switchedAt = -1;
                    for (; seq < MOVE_AT; seq++) c.send(message(b, seq));
                    System.out.println("SENT " + seq + " " + c.transport());
                    String command = commands.poll(WAIT.toSeconds(), TimeUnit.SECONDS);
                    if (!"MOVE".equals(command)) throw new AssertionError("expected MOVE, got " + command);
                    Fable.names().rehome();
                    for (; seq < MESSAGES || switchedAt < 0 || seq < switchedAt + AFTER_SWITCH; seq++) {
                        c.send(message(b, seq));
                        if (switchedAt < 0 && c.epoch() > 0) {
                            switchedAt = seq;
                            System.out.println("SWITCHED at " + seq + " to " + c.transport());
                        }
                        if (seq > 20L * MESSAGES) throw new AssertionError("no switch after " + seq + " messages");
                    }
                    b.putLong(0, -1).putLong(8, seq);
                    c.send(m);
                    System.out.println("SENT " + seq + " " + c.transport());
                    c.receiveMessage(WAIT);   // the consumer's "done": everything arrived before this end closes
                }
            } catch (Exception | AssertionError e) {
                System.out.println("FAILED " + e);
            }
        }

        private static byte[] message(java.nio.ByteBuffer b, long seq) {
            b.putLong(0, seq).putLong(8, seq * 0x9E3779B97F4A7C15L);
            for (int i = 16; i < MESSAGE_BYTES; i++) b.put(i, (byte) (seq + i));
            return b.array();
        }
    }

    /** Host a's consumer: connects to xio://args[0], checks every message's sequence and contents; "OK count transports". */
    public static final class Consumer {
        public static void main(String[] args) {
            try (Connection c = Fable.connect("xio://" + args[0], ConnectOptions.trusted().connectTimeout(WAIT))) {
                System.out.println("CONNECTED " + c.transport());
                StringBuilder transports = new StringBuilder(c.transport());
                long expect = 0;
                while (true) {
                    for (dev.fable.ConnectionEvent e; (e = c.pollEvent()) != null; ) {
                        if (e.type() == dev.fable.ConnectionEvent.Type.RECONFIGURED) transports.append(">").append(e.transport());
                    }
                    dev.fable.Buffer r = c.receive(WAIT);
                    if (r == null) throw new AssertionError("nothing for " + WAIT + " after message " + expect);
                    try {
                        long seq = r.getLong(0);
                        if (seq == -1) {
                            if (r.getLong(8) != expect) throw new AssertionError("end says " + r.getLong(8) + " sent, " + expect + " arrived");
                            break;
                        }
                        if (seq != expect) throw new AssertionError("message " + seq + " where " + expect + " was due (over " + transports + ")");
                        if (r.length() != MESSAGE_BYTES || r.getLong(8) != seq * 0x9E3779B97F4A7C15L) throw new AssertionError("message " + seq + " corrupt");
                        for (int i = 16; i < MESSAGE_BYTES; i++) {
                            if (r.getByte(i) != (byte) (seq + i)) throw new AssertionError("message " + seq + " corrupt at byte " + i);
                        }
                        expect++;
                    } finally {
                        r.release();
                    }
                }
                c.send(new byte[] {1});
                System.out.println("OK " + expect + " " + transports);
            } catch (Exception | AssertionError e) {
                System.out.println("FAILED " + e);
            }
        }
    }

    /** Host a's long-lived client: connects to xio://args[0]; each "ECHO n" on stdin: n checked echoes, then "OK n transport". */
    public static final class Echoer {
        public static void main(String[] args) {
            try (Connection c = Fable.connect("xio://" + args[0], ConnectOptions.trusted().connectTimeout(WAIT));
                 var in = new java.io.BufferedReader(new java.io.InputStreamReader(System.in))) {
                System.out.println("CONNECTED " + c.transport());
                Random r = new Random(7);
                for (String l; (l = in.readLine()) != null && l.startsWith("ECHO "); ) {
                    int n = Integer.parseInt(l.substring(5));
                    for (int i = 0; i < n; i++) {
                        byte[] m = new byte[1 + r.nextInt(64 * 1024)];
                        r.nextBytes(m);
                        c.send(m);
                        if (!Arrays.equals(m, c.receiveMessage(WAIT))) throw new AssertionError("echo " + i + " differs");
                    }
                    System.out.println("OK " + n + " " + c.transport());
                }
            } catch (Exception | AssertionError e) {
                System.out.println("FAILED " + e.getClass().getSimpleName() + ": " + String.valueOf(e.getMessage()).replace('\n', ' '));
            }
        }
    }

    /** Host a's one-shot client: connects to xio://args[0] within args[1] ms; "OK transport" or "FAILED why". */
    public static final class Once {
        public static void main(String[] args) {
            try (Connection c = Fable.connect("xio://" + args[0], ConnectOptions.trusted().connectTimeout(Duration.ofMillis(Long.parseLong(args[1]))))) {
                c.send(new byte[] {42});
                if (!Arrays.equals(new byte[] {42}, c.receiveMessage(WAIT))) throw new AssertionError("echo differs");
                System.out.println("OK " + c.transport());
            } catch (Exception | AssertionError e) {
                System.out.println("FAILED " + e.getClass().getSimpleName() + ": " + String.valueOf(e.getMessage()).replace('\n', ' '));
            }
        }
    }

    /**
     * The whole ensemble stops (its one server killed -9) while a connection from host a to host b flows: the
     * connection flows on (it never touches ZooKeeper), a new cross-host connect fails with one line naming the
     * ensemble, and once the server is back (same data, same port) a new connect succeeds by itself.
     */
    @Test
    void aConnectionFlowsOnWhileTheEnsembleIsDownAndNewConnectsResumeWhenItIsBack() throws Exception {
        try (Netns net = Netns.create("the ensemble outage across namespaces test", A, B)) {
            String name = "zkdown-" + Long.toString(ProcessHandle.current().pid(), 36);
            List<PeerProcess> all = new ArrayList<>();
            try {
                Hosts h = Hosts.start(net, all, "127.0.0.0/8,10.79.0.0/24");
                Path rtA = h.rtA(), stA = h.stA(), rtB = h.rtB(), stB = h.stB();
                net.start(all, net.b, Listener.class, endpointArgs(rtB, stB), name).expectLine("LISTENING");
                PeerProcess flowing = net.start(all, net.a, Echoer.class, endpointArgs(rtA, stA), name);
                assertEquals("CONNECTED tcp", flowing.expectLine("", WAIT), flowing::stderr);
                flowing.send("ECHO 50");
                assertEquals("OK 50 tcp", flowing.expectLine("", WAIT));

                h.zk().kill9();   // the whole ensemble
                flowing.send("ECHO 200");
                assertEquals("OK 200 tcp", flowing.expectLine("", WAIT), "the open connection flows on");
                PeerProcess refused = net.start(all, net.a, Once.class, endpointArgs(rtA, stA), name, "3000");
                String line = refused.expectLine("FAILED", WAIT);
                assertTrue(line.contains("ZooKeeper at " + A + ":" + ZK_PORT + " is unreachable"), "one clear line: " + line);

                h.restartZooKeeper(net, all);
                PeerProcess again = net.start(all, net.a, Once.class, endpointArgs(rtA, stA), name, "40000");
                assertEquals("OK tcp", again.expectLine("", WAIT), () -> "connects again once the ensemble is back\n" + h.daemonA().stderr());
                flowing.send("ECHO 50");
                assertEquals("OK 50 tcp", flowing.expectLine("", WAIT), "and the old connection still flows");
            } finally {
                for (PeerProcess p : all) p.close();
            }
        }
    }

    /**
     * The two hosts' set-up: a ZooKeeper server in a and a daemon on each host trusting {@code trusted}, each with its
     * own runtime and state directory; the daemons serve when this returns. Every process goes into {@code all}.
     */
    private record Hosts(Path rtA, Path stA, Path rtB, Path stB, Path zkData, PeerProcess zk, PeerProcess daemonA, PeerProcess daemonB) {
        static final List<String> ZK_JVM = List.of("-Dzookeeper.admin.enableServer=false", "-Xmx128m");

        static Hosts start(Netns net, List<PeerProcess> all, String trusted) throws Exception {
            Path rtA = TestDaemon.freshDir("za"), rtB = TestDaemon.freshDir("zb"), zkData = TestDaemon.freshDir("zd");
            Path stA = Files.createDirectories(rtA.resolve("state")), stB = Files.createDirectories(rtB.resolve("state"));
            PeerProcess zk = net.start(all, net.a, ZooKeeperServerMain.class, ZK_JVM, Integer.toString(ZK_PORT), zkData.toString());
            PeerProcess daemonA = net.start(all, net.a, NameDaemon.class, daemonArgs(rtA, stA, A, "host-a:a", trusted));
            PeerProcess daemonB = net.start(all, net.b, NameDaemon.class, daemonArgs(rtB, stB, B, "host-b:b", trusted));
            daemonA.expectLine("fabled ready");
            daemonB.expectLine("fabled ready");
            return new Hosts(rtA, stA, rtB, stB, zkData, zk, daemonA, daemonB);
        }

        /** The ZooKeeper server again, on the same data and port. */
        void restartZooKeeper(Netns net, List<PeerProcess> all) {
            net.start(all, net.a, ZooKeeperServerMain.class, ZK_JVM, Integer.toString(ZK_PORT), zkData.toString());
        }
    }

    private static final int MESSAGE_BYTES = 64;
    private static final long MESSAGES = 1_000_000;
    private static final long MOVE_AT = 300_000;
    private static final long AFTER_SWITCH = 200_000;

    /**
     * Migration across namespaces: a consumer on host a receives from a producer on host b over tcp (both trust the
     * veth network); the producer's host changes to a mid-stream (its runtime directory, and with it its daemon, is
     * a's now: what a migrated container sees; its process stays in b's network namespace, whose listener nobody needs
     * once both ends share a host); the connection switches to shm; at least 1,000,000 messages, every one checked,
     * none lost, duplicated or reordered.
     */
    @Test
    void aConsumerFollowsItsProducerMovingAcrossNamespacesWithAMillionCheckedMessages() throws Exception {
        // the moving process keeps host b's mount namespace: both hosts see one /dev/shm here (a real move brings the
        // process to host a's)
        try (Netns net = Netns.create("the migration across namespaces test", A, B).sharingDevShm()) {
            String name = "zkmove-" + Long.toString(ProcessHandle.current().pid(), 36);
            List<PeerProcess> all = new ArrayList<>();
            try {
                Hosts h = Hosts.start(net, all, "127.0.0.0/8,10.79.0.0/24");   // tcp between the hosts from the start
                Path rtA = h.rtA(), stA = h.stA(), rtB = h.rtB();
                PeerProcess daemonA = h.daemonA();
                Path link = TestDaemon.freshDir("zl").resolve("rt");   // the producer's runtime directory: b's, then a's
                Files.createSymbolicLink(link, rtB);
                // its host key follows the move too: the state directory is inside the linked runtime directory
                PeerProcess producer = net.start(all, net.b, Producer.class, List.of("-Dfable.runtime.dir=" + link,
                        "-Dfable.state.dir=" + link.resolve("state"), "-Dfable.daemon.autostart=false"), name);
                producer.expectLine("LISTENING");
                try (DaemonNameService adminA = DaemonNameService.open(rtA, false)) {
                    assertEquals(B, adminA.resolve(name, new RouteRequest(true, null), TimeUnit.SECONDS.toNanos(40)).tcpHost());
                }
                PeerProcess consumer = net.start(all, net.a, Consumer.class, endpointArgs(rtA, stA), name);
                assertEquals("CONNECTED tcp", consumer.expectLine("CONNECTED", WAIT), consumer::stderr);
                String sent = producer.expectLine("", WAIT);
                assertEquals("SENT " + MOVE_AT + " tcp", sent, () -> "consumer: " + consumer.expectLineOrNull() + "\n" + consumer.stderr());

                TestDaemon.repoint(link, rtA);
                producer.send("MOVE");
                String switched = producer.expectLine("SWITCHED", WAIT);
                assertTrue(switched.endsWith(" to shm"), switched + "\n" + daemonA.stderr());
                String ok = consumer.expectLine("", WAIT);
                assertTrue(ok.startsWith("OK ") && ok.endsWith(" tcp>shm"), () -> ok + "\n" + consumer.stderr());
                long received = Long.parseLong(ok.split(" ")[1]);
                assertTrue(received >= MESSAGES, ok);
                assertEquals("SENT " + received + " shm", producer.expectLine("SENT", WAIT));
            } finally {
                for (PeerProcess p : all) p.close();
            }
        }
    }

    @Test
    void namesCrossNamespacesThroughZooKeeperOverTlsUntrustedAndTcpTrustedAndADeadHostsNamesGo() throws Exception {
        try (Netns net = Netns.create("the ZooKeeper hosts test", A, B)) {
            String name = "zkhost-" + Long.toString(ProcessHandle.current().pid(), 36);
            List<PeerProcess> all = new ArrayList<>();
            try {
                Hosts h = Hosts.start(net, all, "127.0.0.0/8");
                Path rtA = h.rtA(), stA = h.stA(), rtB = h.rtB(), stB = h.stB();
                PeerProcess daemonB = h.daemonB();
                for (PeerProcess d : List.of(h.daemonA(), daemonB)) {   // each host sees a /dev/shm of its own
                    String ns = d == daemonB ? net.b : net.a, root = Netns.devShmRootOf(d.pid());
                    assertTrue(root != null && root.endsWith("netns-shm/" + ns), "/dev/shm of host " + ns + "'s daemon is " + root);
                }
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

    private static List<String> daemonArgs(Path rt, Path st, String self, String auth, String trustedNetworks) {
        return List.of("-Dfable.runtime.dir=" + rt, "-Dfable.state.dir=" + st, "-Dfable.host.address=" + self,
                "-Dfable.zookeeper=" + A + ":" + ZK_PORT, "-Dfable.zookeeper.auth=" + auth, "-Dfable.zookeeper.sessionTimeoutMillis=" + SESSION_MS,
                "-Dfable.trusted.networks=" + trustedNetworks);
    }

    private static List<String> endpointArgs(Path rt, Path st) {
        return List.of("-Dfable.runtime.dir=" + rt, "-Dfable.state.dir=" + st, "-Dfable.daemon.autostart=false");
    }
}
