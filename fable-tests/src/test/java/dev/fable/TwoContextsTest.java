package dev.fable;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Two {@link Fable.Context}s in one JVM are two set-ups: each talks to its own daemon (its own
 * runtime directory; its own state directory, so its own host identity), holds its own names,
 * carries its own connections and keeps its shared memory in its own directory.
 */
class TwoContextsTest {
    private static final Duration LIMIT = Duration.ofSeconds(20);

    @Test
    void twoContextsTalkToTwoDaemonsAndShareNoNames(@TempDir Path dir) throws Exception {
        Path shmA = dir.resolve("shm-a"), shmB = dir.resolve("shm-b");
        Fable.Context a = new Fable.Context().runtimeDir(dir.resolve("run-a")).stateDir(dir.resolve("state-a")).shmDir(shmA);
        Fable.Context b = new Fable.Context().runtimeDir(dir.resolve("run-b")).stateDir(dir.resolve("state-b")).shmDir(shmB);
        java.util.Set<Thread> before = monitorThreads();
        java.util.Set<Thread> mine;
        try (Fable fa = Fable.launch(a); Fable fb = Fable.launch(b)) {
            assertNotEquals(fa.nameService().host().hostId(), fb.nameService().host().hostId(),
                    "two daemons, each with the host identity of its own state directory");
            try (Endpoint ea = fa.endpoint("svc").listen(ConnectOptions.trusted());
                 Endpoint eb = fb.endpoint("svc").listen(ConnectOptions.trusted())) {   // the same name twice: two registries
                assertTrue(fa.nameService().names().stream().anyMatch(n -> n.name().equals("svc")));
                assertEquals(1, fa.nameService().names().stream().filter(n -> n.name().equals("svc")).count(), "A sees only its own 'svc'");
                assertEquals(1, fb.nameService().names().stream().filter(n -> n.name().equals("svc")).count(), "B sees only its own 'svc'");
                roundTrip(fa, ea, 1);
                roundTrip(fb, eb, 2);
                // pools, rings and the pools prepared ahead are sealed memfds: neither set-up writes its shm directory
                assertFalse(hasPool(shmA) || hasPool(shmB), "no pool files in " + shmA + " or " + shmB);
                // each set-up watches its own legs' control sockets: two monitor threads, not one for the process
                mine = monitorThreads();
                mine.removeAll(before);
                assertEquals(2, mine.size(), "one control monitor per context: " + mine);
            }
            assertTrue(fa.nameService().names().stream().noneMatch(n -> n.name().equals("svc")), "closing A's endpoint dropped A's name");
        }
        for (Thread t : mine) assertFalse(t.isAlive(), "closing its context ended " + t.getName());
    }

    private static java.util.Set<Thread> monitorThreads() {
        java.util.Set<Thread> s = new java.util.HashSet<>(Thread.getAllStackTraces().keySet());
        s.removeIf(t -> !t.getName().startsWith("fable-control-monitor-"));
        return s;
    }

    private static boolean hasPool(Path shm) {
        try (var files = java.nio.file.Files.list(shm)) {
            return files.anyMatch(f -> f.getFileName().toString().endsWith(".pool"));
        } catch (java.io.IOException e) {
            return false;   // not created yet
        }
    }

    private static void roundTrip(Fable f, Endpoint ep, long value) throws Exception {
        CompletableFuture<Connection> accepted = CompletableFuture.supplyAsync(ep::accept);
        try (Connection c = f.open("xio+shm://svc", ConnectOptions.trusted()); Connection s = accepted.get()) {
            Buffer b = c.claim(8, LIMIT);
            assertNotNull(b);
            b.putLong(0, value);
            b.commit();
            Buffer r = s.receive(LIMIT);
            assertNotNull(r);
            assertEquals(value, r.getLong(0), "the message went to this context's own endpoint");
            r.release();
        }
    }
}
