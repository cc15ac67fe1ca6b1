package dev.fable.naming;

import dev.fable.naming.protocol.FlowEntry;
import dev.fable.naming.protocol.ListenAddress;
import dev.fable.naming.protocol.Message;
import dev.fable.naming.protocol.Message.*;
import dev.fable.naming.protocol.Messages;
import dev.fable.naming.protocol.NameEntry;
import dev.fable.naming.protocol.RouteRequest;
import dev.fable.testing.Await;
import dev.fable.testing.Fuzz;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Fuzzing a live daemon ({@code fabled} in a child JVM) over its Unix socket: each input is the byte
 * stream of one client connection (mostly a valid HELLO, then well-formed requests of every kind with
 * mutated bytes), sent whole and half-closed; the client reads what comes back until the daemon closes.
 * Whatever the bytes, every reply must decode, the daemon must close the connection, and it must keep
 * serving a well-behaved client, checked every few inputs and at the end; its log must show no error of
 * its event loop (an exception that escaped a request's handling) and it must still be running.
 * Sockets make this slow, so its input count is modest; the in-memory targets cover the decoders in bulk.
 */
class DaemonFuzzTest {
    static final int INPUTS = 2_000;
    private static final Duration LIMIT = Duration.ofSeconds(10);
    private static TestDaemon daemon;
    private static DaemonNameService good;
    private static int sent;

    @BeforeAll
    static void start() throws Exception {
        daemon = TestDaemon.start(TestDaemon.freshDir("fz"), "fable.daemon.maxNamesPerClient=100", "fable.daemon.stallSeconds=1",
                "fable.policy.contention=off");
        good = daemon.client();
        good.register("fuzz-good").listening(new ListenAddress("/run/fuzz-good", null, 0));
    }

    @AfterAll
    static void stop() {
        if (good != null) good.close();
        if (daemon != null) daemon.close();
    }

    private static byte[] bytes(ByteBuffer b) {
        byte[] a = new byte[b.remaining()];
        b.duplicate().get(a);
        return a;
    }

    private static byte[] stream(Message... ms) {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        for (Message m : ms) out.writeBytes(bytes(Messages.encode(m)));
        return out.toByteArray();
    }

    /** A HELLO, then each request a library client sends (and the replies a client owes), one connection each. */
    static List<byte[]> seeds() {
        Hello hello = new Hello(1, 4242, "fuzz", "");
        FlowEntry flow = new FlowEntry(4242, "c", "fuzz-good", "shm", "r", 0, 1, 2, 3, 4, 5);
        List<Message> requests = List.of(new Register(2, "fz-a"), new Listening(3, "fz-a", "/run/fz-a", "127.0.0.1", 0),
                new Unregister(4, "fz-a"), new Resolve(5, "fuzz-good", true, null, 0), new Resolve(6, "fuzz-good", false, "tcp", 0),
                new Resolve(7, "absent", true, null, 50), new NamesRequest(8), new FlowsRequest(9), new StatsRequest(10, false),
                new KnownHost(11, "ab".repeat(32)), new TrustedAddress(12, "127.0.0.1"), new Refused(13, "fz-a", "10.0.0.1", "why", 2),
                new RefusalsRequest(14), new Reconfigure(15, 1, "c", "tcp", "fuzz", 7, null), new Trust(16, "10.99.0.0/16", true),
                new FlowReport(17, true, List.of(flow)), new Ok(18), new Fail(19, 1, "no"),
                new NameList(22, true, List.of(new NameEntry("x", 1, "h", null, null))), new PolicyChanged(23, "x", null));
        List<byte[]> l = new ArrayList<>();
        for (Message r : requests) l.add(stream(hello, r));
        l.add(stream(hello, new Register(2, "fz-b"), new Listening(3, "fz-b", "/run/fz-b", null, 0), new Resolve(4, "fz-b", true, null, 0),
                new Unregister(5, "fz-b")));
        l.add(stream(new Register(1, "no-hello")));
        return l;
    }

    /** One connection: the input, a half-close, then every reply until the daemon closes. */
    static String connection(byte[] input) throws Exception {
        List<String> got = new ArrayList<>();
        try (RawClient c = new RawClient(daemon.runtimeDir)) {
            try {
                c.sendBytes(ByteBuffer.wrap(input));
                c.ch.shutdownOutput();
            } catch (IOException closedEarly) {   // the daemon refused a prefix and closed: what it sent is still readable
                got.add("closed while sending");
            }
            for (Message m : c.readUntilClosed(LIMIT)) got.add(m instanceof Fail f ? "Fail " + f.code() : m.getClass().getSimpleName());
        } catch (IOException reset) {   // closed with our bytes unread: a reset
            got.add("reset");
        }
        if (++sent % 25 == 0) goodClientIsServed();
        return String.join(",", got);
    }

    private static void goodClientIsServed() {
        assertEquals("/run/fuzz-good", good.resolve("fuzz-good", new RouteRequest(true, null), 0).unixPath());
    }

    /** The long run's find: a HELLO whose shm directory holds a NUL byte threw InvalidPathException in the daemon's close of that client. */
    @Test
    void aHelloWithANulInItsShmDirectoryIsClosedCleanly() throws Exception {
        assertEquals("Welcome", connection(stream(new Hello(1, 4243, "nul-dir", "/tmp/a\0b"))));
        Await.until(() -> daemon.log().contains("closed client pid 4243 (nul-dir)"), LIMIT, daemon::log);
        goodClientIsServed();
        assertFalse(daemon.log().contains("event loop error"), daemon.log());
    }

    @Test
    void fuzzedClientsNeverHurtTheDaemon() {
        Fuzz.target("daemon: live, over its Unix socket")
                .seeds(seeds())
                .inputs(INPUTS)
                .maxInputs(10_000)   // through sockets, and each STATS costs the daemon two full GCs: a long run would take hours
                .maxLength(4096)
                .expecting()   // replies that do not decode, a read that times out (the daemon never closed): findings
                .run(DaemonFuzzTest::connection);
        goodClientIsServed();
        assertTrue(daemon.process.process().isAlive(), "the daemon is running");
        assertFalse(daemon.log().contains("event loop error"), "an exception escaped the daemon's handling of a request:\n" + daemon.log());
        // every fuzzed connection is gone from the daemon's table: only the good client is left
        Await.until(() -> good.stats().clients() == 1, LIMIT, () -> "clients: " + good.stats());
    }
}
