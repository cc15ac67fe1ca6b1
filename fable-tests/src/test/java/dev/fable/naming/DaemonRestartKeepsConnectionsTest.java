package dev.fable.naming;

import dev.fable.Buffer;
import dev.fable.ConnectOptions;
import dev.fable.Connection;
import dev.fable.Endpoint;
import dev.fable.Fable;
import dev.fable.naming.protocol.FlowEntry;
import dev.fable.testing.Await;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Through the public API: the flow table shows a live connection with its transport and reason; a
 * {@code kill -9} of the daemon leaves the connection working (no data goes through the daemon);
 * the library starts a new daemon, registers the endpoint again, and new connects reach it.
 */
class DaemonRestartKeepsConnectionsTest {
    private static void roundTrip(Connection from, Connection to, long value) {
        Buffer b = from.claim(8, Duration.ofSeconds(10));
        b.putLong(0, value);
        b.commit();
        Buffer r = to.receive(Duration.ofSeconds(10));
        assertNotNull(r, "message " + value + " not received");
        assertEquals(value, r.getLong(0));
        r.release();
    }

    @Test
    void connectionsSurviveADaemonKillAndTheEndpointIsRegisteredAgain() throws Exception {
        String name = "restart-" + ProcessHandle.current().pid();
        DaemonNameService ns = (DaemonNameService) Fable.names();
        long firstDaemon = ns.daemonPid();
        try (Endpoint ep = Fable.register(name).listen()) {
            CompletableFuture<Connection> accepted = CompletableFuture.supplyAsync(ep::accept);
            try (Connection client = Fable.connect("xio://" + name, ConnectOptions.trusted().connectTimeout(Duration.ofSeconds(10)));
                 Connection server = accepted.get(30, TimeUnit.SECONDS)) {
                roundTrip(client, server, 1);
                List<FlowEntry> flows = ns.flows();
                assertTrue(flows.stream().anyMatch(f -> name.equals(f.localName()) || name.equals(f.peerName())), "flows: " + flows);
                FlowEntry f = flows.stream().filter(x -> name.equals(x.peerName())).findFirst().orElse(flows.getFirst());
                assertEquals("shm", f.transport(), flows.toString());
                assertTrue(f.reason() != null && f.reason().contains("same host"), flows.toString());

                ProcessHandle d = ProcessHandle.of(firstDaemon).orElseThrow();
                d.destroyForcibly();
                d.onExit().get(10, TimeUnit.SECONDS);
                for (long i = 2; i < 100; i++) roundTrip(client, server, i);   // the data path never touched the daemon

                long took = Await.until(() -> ns.daemonPid() != firstDaemon && ns.names().stream().anyMatch(n -> n.name().equals(name)),
                        Duration.ofSeconds(30), () -> "the endpoint was not registered with a new daemon");
                System.out.println("new daemon pid " + ns.daemonPid() + " holds '" + name + "' " + TimeUnit.NANOSECONDS.toMillis(took) + " ms after the kill");
                roundTrip(server, client, 100);

                CompletableFuture<Connection> second = CompletableFuture.supplyAsync(ep::accept);
                try (Connection again = Fable.connect("xio://" + name, ConnectOptions.trusted().connectTimeout(Duration.ofSeconds(10)));
                     Connection serverAgain = second.get(30, TimeUnit.SECONDS)) {
                    roundTrip(again, serverAgain, 101);
                }
            }
        }
        // The daemon the library started stays for the rest of this JVM (Fable keeps its client); it exits
        // fable.daemon.idleExitSeconds (2 s under surefire, see the root pom) after the JVM ends.
    }
}
