package dev.fable.naming;

import dev.fable.FableException;
import dev.fable.NameInUseException;
import dev.fable.NameNotFoundException;
import dev.fable.naming.protocol.ListenAddress;
import dev.fable.naming.protocol.NameEntry;
import dev.fable.naming.protocol.Route;
import dev.fable.naming.protocol.RouteRequest;
import dev.fable.testing.Await;
import dev.fable.testing.PeerProcess;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/** Names live as long as their process's daemon connection; resolves fail at once or are woken by the registration. */
class DaemonLifecycleTest {
    private static final RouteRequest TRUSTED = new RouteRequest(true, null);

    private static boolean holds(DaemonNameService ns, String name) {
        return ns.names().stream().map(NameEntry::name).anyMatch(name::equals);
    }

    @Test
    void namesOfAKilledProcessAreGoneWithinOneSecond() throws Exception {
        Path dir = TestDaemon.freshDir("k");
        try (TestDaemon d = TestDaemon.start(dir);
             DaemonNameService ns = d.client();
             PeerProcess holder = PeerProcess.start(NameHolder.class, dir.toString(), "doomed-a", "doomed-b")) {
            holder.expectLine("REGISTERED");
            assertTrue(holds(ns, "doomed-a") && holds(ns, "doomed-b"));
            NameEntry e = ns.names().stream().filter(n -> n.name().equals("doomed-a")).findFirst().orElseThrow();
            assertEquals(holder.pid(), e.pid());
            assertEquals(ns.host().hostId(), e.hostId());
            long start = System.nanoTime();
            holder.kill9();
            long took = Await.until(() -> !holds(ns, "doomed-a") && !holds(ns, "doomed-b"), Duration.ofSeconds(1),
                    () -> "names of the killed pid still held: " + ns.names()) + (System.nanoTime() - start) * 0;
            long total = System.nanoTime() - start;
            System.out.println("names released " + TimeUnit.NANOSECONDS.toMillis(total) + " ms after kill -9 (after exit: "
                    + TimeUnit.NANOSECONDS.toMicros(took) + " us)");
            assertTrue(total < TimeUnit.SECONDS.toNanos(1), "took " + total / 1_000_000 + " ms");
            assertTrue(d.log().contains("client pid " + holder.pid()), d.log());
        }
    }

    @Test
    void duplicateNameNamesTheHolderPid() throws Exception {
        Path dir = TestDaemon.freshDir("u");
        try (TestDaemon d = TestDaemon.start(dir);
             DaemonNameService ns = d.client();
             PeerProcess holder = PeerProcess.start(NameHolder.class, dir.toString(), "taken")) {
            holder.expectLine("REGISTERED");
            NameInUseException e = assertThrows(NameInUseException.class, () -> ns.register("taken"));
            assertTrue(e.getMessage().contains("'taken'") && e.getMessage().contains("pid " + holder.pid())
                    && e.getMessage().contains(ns.socket().toString()), e.getMessage());
            try (NameService.Registration mine = ns.register("mine")) {
                NameInUseException again = assertThrows(NameInUseException.class, () -> ns.register("mine"));
                assertTrue(again.getMessage().contains("this process"), again.getMessage());
            }
            ns.register("mine").close();   // released by close: free again
        }
    }

    @Test
    void missingNameFailsAtOnceAndAWaitingResolveIsWokenByTheRegistration() throws Exception {
        Path dir = TestDaemon.freshDir("r");
        try (TestDaemon d = TestDaemon.start(dir);
             DaemonNameService ns = d.client()) {
            long t0 = System.nanoTime();
            NameNotFoundException e = assertThrows(NameNotFoundException.class, () -> ns.resolve("nobody-here", TRUSTED, 0));
            long failMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
            assertTrue(failMs < 500, "not at once: " + failMs + " ms");
            assertTrue(e.getMessage().contains("'nobody-here'") && e.getMessage().contains(ns.socket().toString())
                    && e.getMessage().contains("connect timeout"), e.getMessage());

            CompletableFuture<Route> waiting = CompletableFuture.supplyAsync(() -> ns.resolve("later", new RouteRequest(false, null),
                    TimeUnit.SECONDS.toNanos(30)));
            try (NameService.Registration r = ns.register("later")) {
                assertFalse(waiting.isDone(), "registered but not listening: still waiting");
                Await.until(() -> ns.stats().waiters() == 1, Duration.ofSeconds(10), () -> "the resolve is not waiting in the daemon");
                long published = System.nanoTime();
                r.listening(new ListenAddress("/run/later.sock", "127.0.0.1", 4242));
                Route route = waiting.get(5, TimeUnit.SECONDS);
                long wokenMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - published);
                System.out.println("waiting resolve answered " + wokenMs + " ms after LISTENING");
                assertTrue(wokenMs < 1000, "woken late: " + wokenMs + " ms");
                assertEquals("shm", route.transport());
                assertTrue(route.reason().contains("private copies"), route.reason());
                assertTrue(route.sameHost());
                assertEquals("/run/later.sock", route.unixPath());
                assertEquals(4242, route.tcpPort());
                assertEquals(ProcessHandle.current().pid(), route.peerPid());
                assertEquals(ns.host().certFingerprint(), route.peerCertFingerprint());
                assertTrue(ns.isKnownHost(ns.host().certFingerprint()));
                assertFalse(ns.isKnownHost("00".repeat(32)));
                assertEquals("unix", ns.resolve("later", new RouteRequest(true, "unix"), 0).transport());
            }
            NameNotFoundException late = assertThrows(NameNotFoundException.class,
                    () -> ns.resolve("never", TRUSTED, TimeUnit.MILLISECONDS.toNanos(200)));
            assertTrue(late.getMessage().contains("within 200 ms"), late.getMessage());
        }
    }

    @Test
    void aLiveClientRegistersAgainAfterTheDaemonIsKilledAndRestarted() throws Exception {
        Path dir = TestDaemon.freshDir("s");
        TestDaemon first = TestDaemon.start(dir);
        try (DaemonNameService ns = first.client()) {
            long firstPid = ns.daemonPid();
            assertEquals(first.pid(), firstPid);
            NameService.Registration r = ns.register("survivor");
            r.listening(new ListenAddress("/run/survivor.sock", null, 0));
            ns.register("unpublished");
            first.kill9();
            try (TestDaemon second = TestDaemon.start(dir);
                 DaemonNameService observer = second.client()) {
                long took = Await.until(() -> holds(observer, "survivor") && holds(observer, "unpublished"), Duration.ofSeconds(10),
                        () -> "not registered again: " + observer.names());
                System.out.println("re-registered " + TimeUnit.NANOSECONDS.toMillis(took) + " ms after the new daemon answered");
                assertEquals(second.pid(), ns.daemonPid());
                // Names come back in the order of the client's live set (a hash set): both may be registered
                // while survivor's LISTENING is still on its way, so the resolve waits for it.
                Route route = observer.resolve("survivor", TRUSTED, TimeUnit.SECONDS.toNanos(10));
                assertEquals("/run/survivor.sock", route.unixPath());
                assertEquals(ProcessHandle.current().pid(), route.peerPid());
                assertTrue(second.log().contains("removed the stale socket"), second.log());
                r.close();
                assertFalse(holds(observer, "survivor"));
            }
        } finally {
            first.close();
        }
    }

    @Test
    void aSecondDaemonOnTheSameSocketIsRefused() throws Exception {
        Path dir = TestDaemon.freshDir("d");
        try (TestDaemon d = TestDaemon.start(dir);
             PeerProcess second = PeerProcess.start(dev.fable.daemon.NameDaemon.class, List.of("-Dfable.runtime.dir=" + dir))) {
            assertEquals(2, second.waitFor(30));
            assertTrue(second.stderr().contains("another fabled (pid " + d.pid() + ")"), second.stderr());
            try (DaemonNameService ns = d.client()) {
                assertEquals(d.pid(), ns.daemonPid(), "the first daemon still serves");
            }
        }
    }

    @Test
    void autostartStartsADaemonAndCanBeTurnedOff() throws Exception {
        Path off = TestDaemon.freshDir("o");
        FableException e = assertThrows(FableException.class, () -> DaemonNameService.open(off, false));
        assertTrue(e.getMessage().contains("auto-start is off") && e.getMessage().contains("fable daemon")
                && e.getMessage().contains(off.toString()), e.getMessage());

        String before = System.getProperty("fable.daemon.autostart");
        System.setProperty("fable.daemon.autostart", "false");
        try {
            assertFalse(NamingConfig.autostart());
        } finally {
            if (before == null) System.clearProperty("fable.daemon.autostart");
            else System.setProperty("fable.daemon.autostart", before);
        }

        Path on = TestDaemon.freshDir("a");
        ProcessHandle daemon = null;
        try (DaemonNameService ns = DaemonNameService.open(on, true)) {
            daemon = ProcessHandle.of(ns.daemonPid()).orElseThrow();
            assertNotEquals(ProcessHandle.current().pid(), daemon.pid());
            assertTrue(daemon.info().commandLine().orElse("").contains("--autostarted"), daemon.info().commandLine().orElse("?"));
            ns.register("auto").close();
        } finally {
            if (daemon != null) {
                daemon.destroyForcibly();
                daemon.onExit().get(10, TimeUnit.SECONDS);
            }
        }
    }
}
