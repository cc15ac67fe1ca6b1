package dev.fable.endpoint;

import dev.fable.Buffer;
import dev.fable.ConnectOptions;
import dev.fable.Connection;
import dev.fable.ConnectionState;
import dev.fable.Endpoint;
import dev.fable.Fable;
import dev.fable.FableException;
import dev.fable.Poller;
import dev.fable.WaitMode;
import dev.fable.testing.Names;
import dev.fable.testing.PeerProcess;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Ten thousand connections — shared memory and tcp mixed, from four client processes — served by one thread
 * with one {@link Poller} (this test's), every message checked. While it runs, clients close connections,
 * switch them between shm and tcp, and one client is killed with {@code kill -9}. The bound stated and checked:
 * every message is served within {@link #SERVICE_BOUND} of being sent (one host, one clock), on 2 vCPUs.
 */
class PollerScaleTest {
    static final int CLIENTS = 4;
    static final int PER_CLIENT = Integer.getInteger("fable.test.scale.perClient", 2500);
    static final int SHM_PER_CLIENT = PER_CLIENT / 5;   // the rest over tcp
    static final Duration SERVICE_BOUND = Duration.ofSeconds(10);
    /** Small rings and pools: 10,000 connections must fit the machine (each shm connection maps four files). */
    static final ConnectOptions SMALL = ConnectOptions.trusted().slotSize(256).slotCount(4).logBytes(ConnectOptions.MIN_LOG_BYTES)
            .waitMode(WaitMode.BLOCK);
    /** A message: client id, connection index, sequence number, send time (System.nanoTime, CLOCK_MONOTONIC). */
    static final int MESSAGE = 32;

    @Test
    void oneThreadServesTenThousandConnectionsOfEveryKindThroughChurnSwitchesAndAKill() throws Exception {
        // descriptors this JVM holds per connection: shm 2 (its control socket, the peer's pool kept to forward in
        // place), tcp 1; plus the JVM's own and the watchers'
        long needed = (long) CLIENTS * (SHM_PER_CLIENT * 2 + (PER_CLIENT - SHM_PER_CLIENT)) + 1500;
        long limit = openFilesLimit();
        if (limit < needed) raiseOpenFiles(needed);
        limit = openFilesLimit();
        Assumptions.assumeTrue(limit >= needed, "needs " + needed + " open descriptors in this JVM (10,000 connections); the limit is "
                + limit + " and could not be raised (run as root, or 'ulimit -n " + needed + "' before the tests)");

        String name = Names.unique("scale");
        ConcurrentLinkedQueue<Connection> arrived = new ConcurrentLinkedQueue<>();
        try (Endpoint ep = Fable.register(name).listen(SMALL); Poller p = Fable.poller(WaitMode.ADAPTIVE)) {
            Thread acceptor = Thread.ofPlatform().daemon().name("scale-accept").start(() -> {
                try {
                    while (true) {
                        Connection c = ep.accept(Duration.ofSeconds(1));
                        if (c != null) arrived.add(c);
                    }
                } catch (FableException | IllegalStateException closed) {
                    // the endpoint closed: the test is over
                }
            });
            List<PeerProcess> clients = new ArrayList<>();
            try {
                for (int i = 0; i < CLIENTS; i++) {
                    clients.add(PeerProcess.start(ScaleClient.class, List.of("-Xmx512m"), name, String.valueOf(i), String.valueOf(PER_CLIENT),
                            String.valueOf(SHM_PER_CLIENT)));
                }
                Server server = new Server(p, arrived);
                // phase 1: every connection opens and does one round trip
                server.serveUntil(() -> allPrinted(clients, "PHASE1"), Duration.ofMinutes(8), clients);
                assertEquals(CLIENTS * PER_CLIENT, server.opened, "connections accepted and served");
                try (var fds = Files.list(Path.of("/proc/self/fd"))) {
                    System.out.println("PollerScaleTest: " + fds.count() + " descriptors open with " + server.opened + " connections");
                }
                assertTrue(p.size() >= CLIENTS * PER_CLIENT, "all in one poller: " + p.size());
                for (PeerProcess c : clients) c.send("GO");
                // phase 2: churn, switches, 1 % busy; client 3 is killed in the middle of it
                server.serveUntil(() -> allPrinted(clients.subList(0, 3), "MIDWAY") && printed(clients.get(3), "MIDWAY"), Duration.ofMinutes(5), clients);
                long before = server.ended;
                clients.get(3).kill9();
                server.serveUntil(() -> allPrinted(clients.subList(0, 3), "DONE"), Duration.ofMinutes(5), clients.subList(0, 3));
                for (int i = 0; i < 3; i++) {
                    String ok = clients.get(i).awaitLine("OK", Duration.ofMinutes(2));
                    assertTrue(ok.startsWith("OK "), ok);
                    assertTrue(clients.get(i).seenLine("DONE").contains("switched"), clients.get(i).seenLine("DONE"));
                }
                // every connection ends: the three clients close theirs, the killed one's die with it
                server.serveUntil(() -> p.size() == 0 && arrived.isEmpty(), Duration.ofMinutes(3), List.of());
                assertTrue(server.ended - before >= PER_CLIENT - ScaleClient.CLOSED_EACH, "the killed client's connections ended");
                assertEquals(server.opened, server.ended, "every connection ended and left the poller");
                assertEquals(0, server.failures.size(), "server-side checks: " + server.failures.stream().limit(5).toList());
                assertTrue(server.maxDelayNanos < SERVICE_BOUND.toNanos(), "a message waited " + server.maxDelayNanos / 1_000_000 + " ms for service");
                assertTrue(server.transports.containsAll(List.of("shm", "tcp")), "served over " + server.transports);
                System.out.printf("PollerScaleTest: %,d connections opened, %,d messages checked, %,d ended (closed or killed), "
                        + "largest service delay %.1f ms, served over %s%n", server.opened, server.messages, server.ended,
                        server.maxDelayNanos / 1e6, server.transports);
            } finally {
                for (PeerProcess c : clients) c.close();
                acceptor.interrupt();
            }
        }
    }

    private static boolean printed(PeerProcess c, String line) {
        return c.stdoutSeen(line);
    }

    private static boolean allPrinted(List<PeerProcess> cs, String line) {
        for (PeerProcess c : cs) if (!c.stdoutSeen(line)) return false;
        return true;
    }

    /** The poller's one thread: echoes every message after checking it. */
    static final class Server {
        final Poller p;
        final ConcurrentLinkedQueue<Connection> arrived;
        final Map<Connection, long[]> expected = new IdentityHashMap<>();   // per connection: {client, index, next seq}
        final List<String> failures = new ArrayList<>();
        final java.util.Set<String> transports = new java.util.TreeSet<>();
        long opened, messages, ended, maxDelayNanos;

        Server(Poller p, ConcurrentLinkedQueue<Connection> arrived) {
            this.p = p;
            this.arrived = arrived;
        }

        void serveUntil(java.util.function.BooleanSupplier done, Duration limit, List<PeerProcess> alive) {
            long deadline = System.nanoTime() + limit.toNanos();
            while (!done.getAsBoolean()) {
                for (PeerProcess c : alive) {   // a client that printed OK may have exited: it is done
                    assertTrue(c.process().isAlive() || c.stdoutSeen("OK"), "a client died: " + c.stderr());
                }
                assertTrue(System.nanoTime() < deadline, "not done within " + limit + " (" + opened + " opened, " + messages + " messages)");
                for (Connection c; (c = arrived.poll()) != null; ) {
                    p.add(c);
                    expected.put(c, new long[] {-1, -1, 0});
                    opened++;
                }
                for (int i = 0; i < 1000; i++) {
                    Connection c = p.await(Duration.ofMillis(20));
                    if (c == null) break;
                    serve(c);
                }
            }
        }

        private void serve(Connection c) {
            while (c.pollEvent() != null) {
                // switches: the connection goes on on its new transport
            }
            try {
                for (Buffer b; (b = c.poll()) != null; ) {
                    check(c, b);
                    Buffer w = c.claim(MESSAGE, Duration.ofSeconds(10));
                    assertNotNull(w, "no room to echo on " + c);
                    w.segment().copyFrom(b.segment().asSlice(0, MESSAGE));
                    w.length(MESSAGE);
                    b.release();
                    w.commit();
                    transports.add(c.transport());
                }
                if (c.state() != ConnectionState.OPEN) end(c);
            } catch (FableException gone) {   // a killed client's connections
                end(c);
            }
        }

        private void check(Connection c, Buffer b) {
            messages++;
            long[] e = expected.get(c);
            if (b.length() != MESSAGE) {
                failures.add(c + ": a message of " + b.length() + " B");
                return;
            }
            long client = b.getLong(0), index = b.getLong(8), seq = b.getLong(16), sent = b.getLong(24);
            if (e[0] < 0) {
                e[0] = client;
                e[1] = index;
            } else if (e[0] != client || e[1] != index) {
                failures.add(c + ": message of connection " + client + "/" + index + " on the connection of " + e[0] + "/" + e[1]);
            }
            if (seq != e[2]) failures.add(c + " (" + client + "/" + index + "): message " + seq + ", expected " + e[2]);
            e[2] = seq + 1;
            maxDelayNanos = Math.max(maxDelayNanos, System.nanoTime() - sent);
        }

        private void end(Connection c) {
            if (p.remove(c)) {
                ended++;
                c.close();
            }
        }
    }

    private static long openFilesLimit() throws Exception {
        for (String l : Files.readAllLines(Path.of("/proc/self/limits"))) {
            if (l.startsWith("Max open files")) {
                String v = l.substring("Max open files".length()).trim().split("\\s+")[0];
                return v.equals("unlimited") ? Long.MAX_VALUE : Long.parseLong(v);
            }
        }
        return 0;
    }

    /** Raises this JVM's descriptor limit with prlimit(1) (root may raise the hard limit too). */
    private static void raiseOpenFiles(long n) {
        try {
            Process pr = new ProcessBuilder("prlimit", "--pid", String.valueOf(ProcessHandle.current().pid()), "--nofile=" + n + ":" + n)
                    .redirectErrorStream(true).start();
            pr.getInputStream().readAllBytes();
            pr.waitFor(10, TimeUnit.SECONDS);
        } catch (Exception e) {
            // the assumption below reports the limit
        }
    }

    /**
     * A client process: {@code name id count shmCount}. Opens {@code count} connections (the first {@code shmCount}
     * over shm, the rest over tcp), one round trip on each (PHASE1), waits for GO, then: closes
     * {@link #CLOSED_EACH} of them, switches {@link #SWITCHED_EACH} (shm → tcp and tcp → shm), and runs rounds in
     * which a random 1 % are busy (ten round trips each) and every other connection does one; MIDWAY after the
     * first round, DONE and OK at the end. Every echo is checked.
     */
    public static final class ScaleClient {
        static final int CLOSED_EACH = 100;
        static final int SWITCHED_EACH = 50;

        public static void main(String[] a) throws Exception {
            String name = a[0];
            int id = Integer.parseInt(a[1]), count = Integer.parseInt(a[2]), shm = Integer.parseInt(a[3]);
            BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
            List<Connection> cs = new ArrayList<>();
            long[] seq = new long[count];
            for (int i = 0; i < count; i++) {
                cs.add(Fable.connect(Names.uri(i < shm ? "shm" : "tcp", name), SMALL.connectTimeout(Duration.ofSeconds(60))));
            }
            for (int i = 0; i < count; i++) send(cs.get(i), id, i, seq[i]++);
            for (int i = 0; i < count; i++) expect(cs.get(i), id, i, seq[i] - 1);
            System.out.println("PHASE1");
            if (!"GO".equals(in.readLine())) return;
            Random r = new Random(id);
            for (int i = count - CLOSED_EACH; i < count; i++) cs.get(i).close();   // the server sees them end
            int live = count - CLOSED_EACH;
            int switched = 0;
            for (int k = 0; k < SWITCHED_EACH; k++) {   // half shm → tcp, half tcp → shm
                int i = k % 2 == 0 ? r.nextInt(shm) : shm + r.nextInt(live - shm);
                String to = i < shm ? "tcp" : "shm";
                if (cs.get(i).transport().equals(to)) continue;
                cs.get(i).reconfigure(to, "test: poller scale");
                switched++;
            }
            for (int round = 0; round < 4; round++) {
                for (int busy = 0; busy < live / 100; busy++) {   // 1 % busy: ten round trips each
                    int i = r.nextInt(live);
                    for (int t = 0; t < 10; t++) {
                        send(cs.get(i), id, i, seq[i]++);
                        expect(cs.get(i), id, i, seq[i] - 1);
                    }
                }
                for (int i = 0; i < live; i++) send(cs.get(i), id, i, seq[i]++);
                for (int i = 0; i < live; i++) expect(cs.get(i), id, i, seq[i] - 1);
                if (round == 0) System.out.println("MIDWAY");
            }
            long transports = cs.subList(0, live).stream().filter(c -> c.transport().equals("shm")).count();
            System.out.println("DONE switched " + switched + ", " + transports + " on shm now");
            long total = 0;
            for (int i = 0; i < live; i++) total += seq[i];
            System.out.println("OK " + total);
            for (Connection c : cs) c.close();
        }

        private static void send(Connection c, long id, long index, long seq) {
            Buffer b = c.claim(MESSAGE, Duration.ofSeconds(60));
            if (b == null) throw new AssertionError("no room on " + c);
            b.putLong(0, id);
            b.putLong(8, index);
            b.putLong(16, seq);
            b.putLong(24, System.nanoTime());
            b.length(MESSAGE);
            b.commit();
        }

        private static void expect(Connection c, long id, long index, long seq) {
            Buffer b = c.receive(Duration.ofSeconds(120));
            if (b == null) throw new AssertionError("no echo of message " + seq + " on " + id + "/" + index + " " + c);
            try {
                if (b.length() != MESSAGE || b.getLong(0) != id || b.getLong(8) != index || b.getLong(16) != seq) {
                    throw new AssertionError("a wrong echo on " + id + "/" + index + ": seq " + b.getLong(16) + ", expected " + seq);
                }
            } finally {
                b.release();
            }
        }
    }
}
