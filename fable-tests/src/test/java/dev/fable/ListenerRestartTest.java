package dev.fable;

import dev.fable.naming.NamingConfig;
import dev.fable.testing.PeerProcess;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.time.Duration;

import static dev.fable.testing.Names.unique;
import static org.junit.jupiter.api.Assertions.*;

/**
 * Names belong to live processes only: a listener killed with {@code kill -9} can be restarted under
 * its name at once, and a name held by a live process is refused with the holder's pid.
 */
class ListenerRestartTest {

    /**
     * Registers and listens as {@code args[0]} (or prints "ERROR class message" and exits 1), prints
     * "READY pid", then for each accepted connection answers one message with "echo:" + message.
     */
    public static final class EchoListener {
        public static void main(String[] args) throws Exception {
            Endpoint ep;
            try {
                ep = Fable.register(args[0]).listen();
            } catch (FableException e) {
                System.out.println("ERROR " + e.getClass().getName() + " " + e.getMessage());
                System.exit(1);
                return;
            }
            System.out.println("READY " + ProcessHandle.current().pid());
            while (true) {
                try (Connection c = ep.accept()) {
                    byte[] m = c.receiveMessage(Duration.ofSeconds(30));
                    c.send(("echo:" + new String(m, StandardCharsets.UTF_8)).getBytes(StandardCharsets.UTF_8));
                    System.out.println("ECHOED");
                    // wait until the parent closed, so that our close cannot race its receive
                    try {
                        c.receive(Duration.ofSeconds(30));
                    } catch (ConnectionClosedException expected) {
                        // the parent closed
                    }
                }
            }
        }
    }

    private static String roundTrip(String name, String text) {
        try (Connection c = Fable.connect("xio+shm://" + name, ConnectOptions.trusted())) {
            c.send(text.getBytes(StandardCharsets.UTF_8));
            byte[] r = c.receiveMessage(Duration.ofSeconds(10));
            assertNotNull(r, "no answer from '" + name + "'");
            return new String(r, StandardCharsets.UTF_8);
        }
    }

    @Test
    void listenerKilledWithSigkillCanBeRestartedUnderItsNameAtOnce() throws Exception {
        String name = unique("restart");
        try (PeerProcess first = PeerProcess.start(EchoListener.class, name)) {
            first.expectLine("READY " + first.pid());
            assertEquals("echo:one", roundTrip(name, "one"));
            first.expectLine("ECHOED");
            first.kill9();
        }
        // The dead listener left its socket file behind; connecting to it fails at once, clearly.
        assertTrue(Files.exists(NamingConfig.endpointSocket(name)), "precondition: kill -9 leaves the socket file");
        NameNotFoundException nf = assertThrows(NameNotFoundException.class,
                () -> Fable.connect("xio+shm://" + name, ConnectOptions.trusted()));
        assertTrue(nf.getMessage().contains(name), nf.getMessage());

        // No sleep, no cleanup step: a new process takes the name over immediately.
        try (PeerProcess second = PeerProcess.start(EchoListener.class, name)) {
            second.expectLine("READY " + second.pid());
            assertEquals("echo:two", roundTrip(name, "two"));
            second.expectLine("ECHOED");
            assertEquals("echo:three", roundTrip(name, "three"), "the restarted listener keeps accepting");
            second.expectLine("ECHOED");
        }
    }

    @Test
    void aNameHeldByALiveProcessIsRefusedNamingItsPid() throws Exception {
        String name = unique("held");
        try (PeerProcess holder = PeerProcess.start(EchoListener.class, name)) {
            holder.expectLine("READY " + holder.pid());

            NameInUseException e = assertThrows(NameInUseException.class, () -> Fable.register(name));
            assertTrue(e.getMessage().contains("pid " + holder.pid()), e.getMessage());
            assertTrue(e.getMessage().contains(name), e.getMessage());

            // A third process is refused the same way.
            try (PeerProcess rival = PeerProcess.start(EchoListener.class, name)) {
                String line = rival.expectLine("ERROR ");
                assertTrue(line.startsWith("ERROR " + NameInUseException.class.getName()), line);
                assertTrue(line.contains("pid " + holder.pid()), line);
                assertEquals(1, rival.waitFor(30));
            }

            // The refusals did not disturb the holder: it still owns the name and answers.
            assertEquals("echo:still-mine", roundTrip(name, "still-mine"));
            holder.expectLine("ECHOED");
            assertThrows(NameInUseException.class, () -> Fable.register(name));
        }
    }

    @Test
    void aNameHeldInThisProcessIsRefusedAndTheHolderKeepsIt() throws Exception {
        String name = unique("held-local");
        try (Endpoint ep = Fable.register(name).listen()) {
            NameInUseException e = assertThrows(NameInUseException.class, () -> Fable.register(name));
            assertTrue(e.getMessage().contains("pid " + ProcessHandle.current().pid()), e.getMessage());
            // The failed attempt must not have released the holder's lock: another process is still refused.
            try (PeerProcess rival = PeerProcess.start(EchoListener.class, name)) {
                String line = rival.expectLine("ERROR ");
                assertTrue(line.startsWith("ERROR " + NameInUseException.class.getName()), line);
            }
        }
    }

    @Test
    void aClosedEndpointFreesItsNameAndClosingItAgainLeavesTheNewOwnerAlone() throws Exception {
        String name = unique("released");
        Endpoint ep = Fable.register(name).listen();
        ep.close();
        try (PeerProcess next = PeerProcess.start(EchoListener.class, name)) {
            next.expectLine("READY " + next.pid());
            ep.close();   // a second close must not remove the new owner's socket or lock
            assertEquals("echo:x", roundTrip(name, "x"));
            next.expectLine("ECHOED");
            NameInUseException e = assertThrows(NameInUseException.class, () -> Fable.register(name));
            assertTrue(e.getMessage().contains("pid " + next.pid()), e.getMessage());
        }
    }

    /** Closing an endpoint from another thread ends a waiting accept with a clear FableException naming it. */
    @Test
    void closingTheEndpointEndsAWaitingAccept() throws Exception {
        String name = unique("closed-while-accepting");
        Endpoint ep = Fable.register(name).listen();
        java.util.concurrent.CompletableFuture<Throwable> ended = new java.util.concurrent.CompletableFuture<>();
        Thread t = Thread.ofPlatform().start(() -> {
            try {
                ep.accept();
                ended.complete(null);
            } catch (Throwable e) {
                ended.complete(e);
            }
        });
        while (t.isAlive() && t.getState() != Thread.State.WAITING) {
            Thread.onSpinWait();   // until accept waits for the endpoint's next connection (the race being tested)
        }
        ep.close();
        Throwable e = ended.get(10, java.util.concurrent.TimeUnit.SECONDS);
        assertInstanceOf(FableException.class, e, "accept on a closed endpoint: " + e);
        assertTrue(e.getMessage().contains(name), e.getMessage());
    }
}
