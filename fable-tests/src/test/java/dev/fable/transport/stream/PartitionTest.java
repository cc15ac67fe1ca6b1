package dev.fable.transport.stream;

import dev.fable.ConnectOptions;
import dev.fable.Connection;
import dev.fable.Fable;
import dev.fable.PeerGoneException;
import dev.fable.daemon.NameDaemon;
import dev.fable.testing.Netns;
import dev.fable.testing.PeerProcess;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A network cut between two hosts ends a tcp and a tls connection within the liveness bound, with
 * {@link PeerGoneException} in the receivers blocked on them and in a sender blocked on back-pressure.
 *
 * <p>The two hosts are two fresh network namespaces joined by a veth pair, each with its own name
 * daemon (both in one ZooKeeper server run in A, so each knows the other's tls certificate) and one endpoint JVM:
 * B listens and echoes, A connects over {@code xio+tcp} twice and {@code xio+tls} once with
 * {@code Fable.Context.peerTimeout} = 3 s, checks echoes on all three, then blocks a receiving thread
 * on the first tcp and the tls connection. The test takes B's end of the link down
 * ({@code ip link set … down}: A's packets go nowhere, nothing comes back, no RST, no ICMP) and tells
 * A, which then sends one message on the tls connection and sends on the second tcp connection until
 * it blocks. So the first tcp connection is idle at the cut (keepalive probes find the silence), the
 * tls one has data in flight that is never acknowledged, and the second tcp one a full socket
 * ({@code TCP_USER_TIMEOUT} for both). All three blocked calls must throw {@link PeerGoneException}
 * saying the peer gave no sign of life, after the cut and within the bound plus scheduling slack;
 * with the kernel's defaults the idle receiver would wait forever and the others about 15 minutes.
 *
 * <p>Needs root (network namespaces) and {@code ip} (iproute2); skipped otherwise. Namespaces and
 * links have names unique to the run and are removed afterwards, also when the test fails.
 */
@Timeout(value = 180, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class PartitionTest {
    private static final Duration BOUND = Duration.ofSeconds(3);
    /** JVM scheduling on a loaded machine, the peer's stdout line: on top of the bound, never instead of it. */
    private static final Duration SLACK = Duration.ofSeconds(2);
    private static final Duration WAIT = Duration.ofSeconds(60);
    private static final String A_ADDRESS = "10.77.0.1";
    private static final String B_ADDRESS = "10.77.0.2";
    private static final int ZK_PORT = 2181;   // inside namespace a: no clash with anything

    /** Host B's endpoint: listens as args[0], echoes every message on every connection until it breaks. */
    public static final class Listener {
        public static void main(String[] args) {
            PeerProcess.listenAndEchoEveryConnection(args[0], WAIT);
        }
    }

    /**
     * Host A's endpoint: connects to args[0] over tcp, tls and tcp again with a liveness bound of args[1]
     * ms, checks echoes, blocks a receiver on the first two, then on "CUT" (stdin) sends one message on
     * tls and sends on the third until it blocks; prints "GONE label ms message" (ms since the CUT line)
     * for each blocked call that ends (labels tcp, tls, tcp-send).
     */
    public static final class Receiver {
        public static void main(String[] args) throws Exception {
            Duration bound = Duration.ofMillis(Long.parseLong(args[1]));
            ConnectOptions o = ConnectOptions.trusted().connectTimeout(WAIT);
            try (Fable f = Fable.launch(new Fable.Context().peerTimeout(bound));
                 Connection tcp = f.open("xio+tcp://" + args[0], o);
                 Connection tls = f.open("xio+tls://" + args[0], o);
                 Connection sending = f.open("xio+tcp://" + args[0], o)) {
                Random r = new Random(11);
                for (Connection c : List.of(tcp, tls, sending)) {
                    for (int size : new int[] {1, 100, 64 * 1024 + 1, 1 << 20}) {
                        byte[] m = new byte[size];
                        r.nextBytes(m);
                        c.send(m);
                        if (!Arrays.equals(m, c.receiveMessage(WAIT))) throw new AssertionError("echo of " + size + " B over " + c.transport() + " differs");
                    }
                }
                long[] cutAt = {0};
                List<Thread> receivers = new ArrayList<>();
                for (Connection c : List.of(tcp, tls)) {
                    receivers.add(Thread.ofPlatform().start(() -> report(c.transport(), cutAt, () -> {
                        byte[] m = c.receiveMessage(WAIT);
                        return m == null ? "TIMEOUT" : "RECEIVED " + m.length + " B";
                    })));
                }
                System.out.println("READY " + tcp.transport() + " " + tls.transport() + " " + sending.transport());
                String line = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8)).readLine();
                if (!"CUT".equals(line)) return;
                cutAt[0] = System.nanoTime();   // before the send: a racy read by a receiver only shows as -1 in its line
                tls.send(new byte[100]);         // in the socket, never acknowledged
                receivers.add(Thread.ofPlatform().start(() -> report("tcp-send", cutAt, () -> {
                    byte[] m = new byte[1 << 20];
                    for (int i = 0; i < 1000; i++) sending.send(m);   // fills the socket and the staging slots, then blocks
                    return "SENT 1000 MiB";
                })));
                for (Thread t : receivers) t.join();
            } catch (RuntimeException e) {
                System.out.println("FAILED " + e.getClass().getSimpleName() + ": " + e.getMessage().replace('\n', ' '));
            }
        }
    }

    /** Runs {@code blocking} and prints how it ended: "GONE label ms message" for a PeerGoneException. */
    private static void report(String label, long[] cutAt, java.util.function.Supplier<String> blocking) {
        String outcome;
        try {
            outcome = blocking.get() + " " + label;
        } catch (PeerGoneException e) {
            long ms = cutAt[0] == 0 ? -1 : TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - cutAt[0]);
            outcome = "GONE " + label + " " + ms + " " + e.getMessage().replace('\n', ' ');
        } catch (RuntimeException e) {
            outcome = "OTHER " + label + " " + e.getClass().getSimpleName() + ": " + e.getMessage().replace('\n', ' ');
        }
        synchronized (System.out) {
            System.out.println(outcome);
        }
    }

    @Test
    void aCutNetworkEndsBlockedTcpAndTlsReceiversWithPeerGoneWithinTheBound() throws Exception {
        try (Netns net = Netns.create("the partition test", A_ADDRESS, B_ADDRESS)) {
            Path rtA = fresh("pa"), rtB = fresh("pb");
            Path stA = Files.createDirectories(rtA.resolve("state")), stB = Files.createDirectories(rtB.resolve("state"));
            String name = "partition-" + net.tag;
            List<PeerProcess> all = new ArrayList<>();
            try {
                net.start(all, net.a, org.apache.zookeeper.server.ZooKeeperServerMain.class,
                        List.of("-Dzookeeper.admin.enableServer=false", "-Xmx128m"), Integer.toString(ZK_PORT), fresh("pz").toString());
                PeerProcess daemonB = net.start(all, net.b, NameDaemon.class, daemonArgs(rtB, stB, B_ADDRESS));
                PeerProcess daemonA = net.start(all, net.a, NameDaemon.class, daemonArgs(rtA, stA, A_ADDRESS));
                daemonB.expectLine("fabled ready");
                daemonA.expectLine("fabled ready");
                PeerProcess listener = net.start(all, net.b, Listener.class, endpointArgs(rtB, stB), name);
                listener.expectLine("LISTENING");
                PeerProcess receiver = net.start(all, net.a, Receiver.class, endpointArgs(rtA, stA), name, Long.toString(BOUND.toMillis()));
                assertEquals("READY tcp tls tcp", receiver.expectLine("", WAIT), () -> "A's connections\n" + receiver.stderr());

                long cut = System.nanoTime();   // before the cut: the measured time only grows
                net.ip("-n", net.b, "link", "set", net.linkB, "down");
                receiver.send("CUT");
                Map<String, String> gone = new HashMap<>();
                Map<String, Long> after = new HashMap<>();
                for (int i = 0; i < 3; i++) {
                    String l = receiver.expectLine("", BOUND.plus(SLACK).plus(Duration.ofSeconds(30)));
                    long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - cut);
                    assertTrue(l.startsWith("GONE "), "a receiver on a cut network must end with PeerGoneException, not: " + l
                            + "\nreceiver stderr:\n" + receiver.stderr());
                    String[] f = l.split(" ", 4);
                    String transport = f[1];   // tcp, tls, or tcp-send
                    assertTrue(Long.parseLong(f[2]) >= 0, "the receiver ended before it was told of the cut: " + l);
                    gone.put(transport, l);
                    after.put(transport, ms);
                }
                for (String transport : List.of("tcp", "tls", "tcp-send")) {
                    String l = gone.get(transport);
                    assertTrue(l != null, "no end reported for " + transport + ": " + gone);
                    long ms = after.get(transport);
                    assertTrue(ms >= 500, transport + ": ended " + ms + " ms after the cut; the kernel must first have heard nothing for "
                            + "a while (the user timeout is 2 s, keepalive probes come every second): " + l);
                    assertTrue(ms <= BOUND.plus(SLACK).toMillis(), transport + ": PeerGoneException " + ms + " ms after the cut; the bound is "
                            + BOUND.toMillis() + " ms (+" + SLACK.toMillis() + " ms slack): " + l);
                    assertTrue(l.contains("gave no sign of life for 3 s; the host may be down or the network cut"), l);
                    assertTrue(l.contains(transport.replace("-send", "") + " connection '") && l.contains("-> '" + name + "'"),
                            "the message names the transport and the endpoints: " + l);
                }
                System.out.println("partition: tcp ended " + after.get("tcp") + " ms, tls " + after.get("tls") + " ms, the blocked tcp sender "
                        + after.get("tcp-send") + " ms after the cut (bound " + BOUND.toMillis() + " ms)\n  " + String.join("\n  ", gone.values()));
            } finally {
                for (PeerProcess p : all) p.close();
            }
        }
    }

    private static List<String> daemonArgs(Path rt, Path st, String self) {
        return List.of("-Dfable.runtime.dir=" + rt, "-Dfable.state.dir=" + st, "-Dfable.host.address=" + self,
                "-Dfable.zookeeper=" + A_ADDRESS + ":" + ZK_PORT,
                "-Dfable.trusted.networks=10.77.0.0/24");
    }

    private static List<String> endpointArgs(Path rt, Path st) {
        return List.of("-Dfable.runtime.dir=" + rt, "-Dfable.state.dir=" + st, "-Dfable.daemon.autostart=false");
    }

    /** A fresh, short runtime directory under target/ (Unix socket paths are limited to 107 bytes). */
    private static Path fresh(String tag) throws IOException {
        Path d = Path.of("target", "nd", tag + Long.toString(System.nanoTime() % 1_000_000_000L, 36)).toAbsolutePath();
        return Files.createDirectories(d);
    }

}
