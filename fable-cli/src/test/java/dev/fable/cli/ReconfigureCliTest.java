package dev.fable.cli;

import dev.fable.Buffer;
import dev.fable.ConnectOptions;
import dev.fable.Connection;
import dev.fable.ConnectionEvent;
import dev.fable.Endpoint;
import dev.fable.Fable;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;

import static org.junit.jupiter.api.Assertions.*;

/**
 * {@code fable reconfigure} as a real process: it asks this host's daemon, which orders this test's
 * JVM (a client of the same daemon) to switch its connection; the connection then runs over the
 * new transport with epoch 1, {@code fable flows} shows it with the operator's reason, and bad
 * input gets a one-line error and a non-zero exit.
 */
class ReconfigureCliTest {
    private static final Duration WAIT = Duration.ofSeconds(30);

    private static String[] run(String... args) throws Exception {
        Process p = SendRecvTest.fable(args).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        return new String[] {Integer.toString(SendRecvTest.exit(p)), out, err};
    }

    @Test
    void anOperatorSwitchesALiveConnectionThroughTheDaemon() throws Exception {
        String name = SendRecvTest.name();
        try (Endpoint ep = Fable.register(name).listen(ConnectOptions.trusted())) {
            CompletableFuture<Connection> accepted = CompletableFuture.supplyAsync(() -> ep.accept(WAIT));
            try (Connection c = Fable.connect("xio://" + name, ConnectOptions.trusted());
                 Connection s = accepted.get()) {
                assertEquals("shm", c.transport());
                String id = ProcessHandle.current().pid() + "/" + c.localName();

                String[] r = run("reconfigure", id, "--to", "tcp", "--reason", "operator test");
                assertEquals("0", r[0], r[1] + r[2]);
                assertTrue(r[1].contains("switched " + id + " to tcp"), r[1]);
                roundTrip(c, s, 7);   // both directions move at their next message
                assertEquals("tcp", c.transport());
                assertEquals("tcp", s.transport());
                assertEquals(1, c.epoch());
                ConnectionEvent first = c.pollEvent();
                assertEquals(ConnectionEvent.Type.RECONFIGURING, first.type(), String.valueOf(first));
                assertEquals("operator test", first.reason());

                String[] flows = run("flows");
                assertEquals("0", flows[0], flows[2]);
                String row = flows[1].lines().filter(l -> l.split("\\s+").length > 1 && l.split("\\s+")[1].equals(c.localName())).findFirst().orElse("");
                assertTrue(row.contains("tcp") && row.contains("operator test (epoch 1, tcp)"), "flows row: " + row + "\n" + flows[1]);
                String acceptorRow = flows[1].lines().filter(l -> l.split("\\s+").length > 1 && l.split("\\s+")[1].equals(name))
                        .findFirst().orElse("");
                assertTrue(acceptorRow.contains("operator test (epoch 1, tcp)"), "the accepting side shows the reason too: " + acceptorRow);

                String[] acceptor = run("reconfigure", ProcessHandle.current().pid() + "/" + name, "--to", "unix");
                assertNotEquals("0", acceptor[0]);
                assertTrue(acceptor[2].contains("only the side that connected"), acceptor[2]);
                String[] unknown = run("reconfigure", id, "--to", "pigeon");
                assertEquals("1", unknown[0]);
                assertEquals(1, unknown[2].strip().lines().count(), unknown[2]);
                String[] noPid = run("reconfigure", "999999999/x", "--to", "tcp");
                assertNotEquals("0", noPid[0]);
                assertTrue(noPid[2].contains("no process with pid 999999999"), noPid[2]);
                String[] noConn = run("reconfigure", ProcessHandle.current().pid() + "/no-such-connection", "--to", "tcp");
                assertNotEquals("0", noConn[0]);
                assertTrue(noConn[2].contains("no open connection 'no-such-connection'"), noConn[2]);

                roundTrip(c, s, 8);   // the refused orders left it flowing on tcp
                assertEquals("tcp", c.transport());
            }
        }
    }

    @Test
    void trustChangesTheDaemonsNetworksAndRefusesGarbage() throws Exception {
        String[] ok = run("trust", "add", "10.9.0.0/16");
        assertEquals("0", ok[0], ok[2]);
        assertTrue(ok[1].contains("trusted: 10.9.0.0/16"), ok[1]);
        String[] back = run("trust", "remove", "10.9.0.0/16");
        assertEquals("0", back[0], back[2]);
        String[] bad = run("trust", "add", "ten-dot-nine");
        assertNotEquals("0", bad[0]);
        assertTrue(bad[2].contains("ten-dot-nine") && bad[2].strip().lines().count() == 1, bad[2]);
        String[] verb = run("trust", "maybe", "10.9.0.0/16");
        assertEquals("1", verb[0], verb[2]);
    }

    static void roundTrip(Connection c, Connection s, long v) {
        Buffer b = c.claim(8, WAIT);
        b.putLong(0, v);
        b.commit();
        Buffer r = s.receive(WAIT);
        assertEquals(v, r.getLong(0));
        r.release();
        b = s.claim(8, WAIT);
        b.putLong(0, -v);
        b.commit();
        r = c.receive(WAIT);
        assertEquals(-v, r.getLong(0));
        r.release();
    }
}
