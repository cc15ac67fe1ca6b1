package dev.fable;

import dev.fable.testing.Await;
import dev.fable.testing.PeerProcess;
import dev.fable.testing.ProcFs;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static dev.fable.testing.Names.unique;
import static org.junit.jupiter.api.Assertions.*;

/**
 * Shared memory never outlives its use: pools and rings are sealed memfds, never files in the
 * shared-memory directory; each side closes its descriptors once the peer mapped them, the mappings
 * go away on close, and a process that dies takes its memfds with it. Files an earlier version left
 * by a process that died are removed by the next one. Every process here runs with a private
 * {@code -Dfable.shm.dir} so the directory can be checked exactly.
 */
class CleanupTest {
    private Path shmDir;

    @BeforeEach
    void privateShmDir() throws IOException {
        Path base = Path.of("/dev/shm");
        shmDir = Files.createTempDirectory(Files.isDirectory(base) ? base : Path.of(System.getProperty("java.io.tmpdir")), "fable-cleanup-");
    }

    @AfterEach
    void removeShmDir() throws IOException {
        try (Stream<Path> s = Files.walk(shmDir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        }
    }

    /** A private shm directory, and no prepared pool (the reserve has its own test below): only connection files appear. */
    private List<String> jvmArgs() {
        return List.of("-Dfable.shm.dir=" + shmDir, "-Dfable.shm.reserve=false");
    }

    private Set<String> files() throws IOException {
        try (Stream<Path> s = Files.list(shmDir)) {
            return s.map(p -> p.getFileName().toString()).collect(Collectors.toCollection(TreeSet::new));
        }
    }

    /** The distinct Fable memfds {@code pid} has mapped, by name ({@code fable-<creator pid>-<n>.pool|ring}). */
    private Set<String> mappedFiles(long pid) {
        assertEquals(List.of(), ProcFs.mappingsUnder(pid, shmDir), "nothing of the shared-memory directory is mapped");
        return ProcFs.memfdMappings(pid);
    }

    // ---- child processes ----

    private static String readLine(BufferedReader in) throws IOException {
        String l = in.readLine();
        if (l == null) System.exit(0);   // the parent went away
        return l;
    }

    /** Listens as {@code args[0]}, accepts, prints "GOT v" for one message, closes on "CLOSE", then waits. */
    public static final class ListenSide {
        public static void main(String[] args) throws Exception {
            BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
            Endpoint ep = Fable.register(args[0]).listen();
            System.out.println("READY");
            Connection c = ep.accept(Duration.ofSeconds(30));
            Buffer b = c.receive(Duration.ofSeconds(30));
            System.out.println("GOT " + b.getLong(0));
            b.release();
            readLine(in);
            c.close();
            ep.close();
            System.out.println("CLOSED");
            readLine(in);
        }
    }

    /** Connects to {@code args[0]}, sends 42, prints "SENT", closes on "CLOSE", then waits. */
    public static final class ConnectSide {
        public static void main(String[] args) throws Exception {
            BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
            Connection c = Fable.connect("xio+shm://" + args[0], ConnectOptions.trusted().connectTimeout(Duration.ofSeconds(30)));
            Buffer b = c.claim(8);
            b.putLong(0, 42);
            b.commit();
            System.out.println("SENT");
            readLine(in);
            c.close();
            System.out.println("CLOSED");
            readLine(in);
        }
    }

    /** Listens as {@code args[0]} and connects to itself, exchanges one message, closes, prints "DONE". */
    public static final class SelfConnect {
        public static void main(String[] args) throws Exception {
            try (Endpoint ep = Fable.register(args[0]).listen()) {
                CompletableFuture<Connection> accepted = CompletableFuture.supplyAsync(() -> ep.accept(Duration.ofSeconds(30)));
                try (Connection client = Fable.connect("xio+shm://" + args[0], ConnectOptions.trusted());
                     Connection server = accepted.get()) {
                    Buffer b = client.claim(8);
                    b.putLong(0, 7);
                    b.commit();
                    Buffer r = server.receive(Duration.ofSeconds(10));
                    if (r == null || r.getLong(0) != 7) throw new AssertionError("message lost: " + r);
                    r.release();
                }
            }
            System.out.println("DONE");
        }
    }

    /** Listens as {@code args[0]} (which prepares a pool in the reserve), prints "READY", exits on "EXIT". */
    public static final class ReserveHolder {
        public static void main(String[] args) throws Exception {
            BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
            Endpoint ep = Fable.register(args[0]).listen();
            System.out.println("READY");
            readLine(in);
            ep.close();
            System.exit(0);   // a normal exit: the shutdown hook removes the prepared pool
        }
    }

    /** The files in the daemon's shared-memory directory (the default one) created by {@code pid}. */
    private static Set<String> defaultDirFilesOf(long pid) throws IOException {
        Path dir = Path.of("/dev/shm", "fable-" + dev.fable.internal.Libc.getuid());
        if (!Files.isDirectory(dir)) return Set.of();
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).filter(f -> f.startsWith(pid + "-"))
                    .collect(Collectors.toCollection(TreeSet::new));
        }
    }

    private static void awaitReserve(PeerProcess holder) {
        Await.until(() -> ProcFs.memfdDescriptors(holder.pid()).size() == 2, Duration.ofSeconds(20),
                () -> "the listener's prepared pool (pool + ring memfds) never appeared: " + ProcFs.memfdDescriptors(holder.pid()));
    }

    private static Set<String> uncheckedFiles(long pid) {
        try {
            return defaultDirFilesOf(pid);
        } catch (IOException e) {
            return Set.of("?" + e);
        }
    }

    /** A prepared pool is a pair of memfds the process holds open: it is never a file, so no exit, not even kill -9, leaves one. */
    @Test
    void aPreparedPoolIsNoFileAndGoesWithItsProcessOnNormalExitAndKill9() throws Exception {
        try (PeerProcess holder = PeerProcess.start(ReserveHolder.class, unique("reserve-exit"))) {
            holder.expectLine("READY");
            awaitReserve(holder);
            assertEquals(Set.of(), defaultDirFilesOf(holder.pid()), "the prepared pool is no file in the shared-memory directory");
            holder.send("EXIT");
            assertEquals(0, holder.waitFor(30), holder.stderr());
            assertEquals(Set.of(), defaultDirFilesOf(holder.pid()), "a normal exit leaves no prepared pool behind");
        }
        try (PeerProcess holder = PeerProcess.start(ReserveHolder.class, unique("reserve-kill"))) {
            holder.expectLine("READY");
            awaitReserve(holder);
            holder.kill9();
            assertEquals(Set.of(), uncheckedFiles(holder.pid()), "a killed process leaves no prepared pool behind");
        }
    }

    // ---- tests ----

    @Test
    void filesAreUnlinkedOnceMappedAndNothingStaysMappedAfterBothSidesClose() throws Exception {
        String name = unique("cleanup");
        try (PeerProcess listener = PeerProcess.start(ListenSide.class, jvmArgs(), name)) {
            listener.expectLine("READY");
            try (PeerProcess connector = PeerProcess.start(ConnectSide.class, jvmArgs(), name)) {
                connector.expectLine("SENT");
                listener.expectLine("GOT 42");
                long l = listener.pid();
                long c = connector.pid();

                // Open connection: each side maps its own pool+ring and the peer's, yet no name is left on disk.
                Set<String> lMaps = mappedFiles(l);
                Set<String> cMaps = mappedFiles(c);
                assertEquals(4, lMaps.size(), "listener maps " + lMaps);
                assertEquals(lMaps, cMaps, "both sides map the same four files");
                assertEquals(2, lMaps.stream().filter(f -> f.startsWith("fable-" + l + "-")).count(), lMaps.toString());
                assertEquals(2, lMaps.stream().filter(f -> f.startsWith("fable-" + c + "-")).count(), lMaps.toString());
                assertEquals(Set.of(), files(), "no file in the shared-memory directory");
                // Each side closes the descriptors of its own memfds once the peer mapped them; a trusted reader keeps one of its
                // own to the peer's pool (so it can forward read buffers in place), until the connection closes.
                Await.until(() -> ProcFs.memfdDescriptors(l).stream().allMatch(f -> f.startsWith("fable-" + c + "-") && f.endsWith(".pool"))
                                && ProcFs.memfdDescriptors(c).stream().allMatch(f -> f.startsWith("fable-" + l + "-") && f.endsWith(".pool"))
                                && ProcFs.memfdDescriptors(l).size() <= 1 && ProcFs.memfdDescriptors(c).size() <= 1, Duration.ofSeconds(5),
                        () -> "each side closes its own memfd descriptors once the peer mapped them, keeping at most one to the peer's pool: "
                                + "listener " + ProcFs.memfdDescriptors(l) + ", connector " + ProcFs.memfdDescriptors(c));

                connector.send("CLOSE");
                connector.expectLine("CLOSED");
                assertEquals(Set.of(), mappedFiles(c), "the connector unmapped everything on close");
                assertEquals(Set.of(), ProcFs.memfdDescriptors(c), "and closed every descriptor");
                listener.send("CLOSE");
                listener.expectLine("CLOSED");
                assertEquals(Set.of(), mappedFiles(l), "the listener unmapped everything on close");
                assertEquals(Set.of(), ProcFs.memfdDescriptors(l), "and closed every descriptor");
                assertEquals(Set.of(), files());
            }
        }
    }

    @Test
    void staleFilesOfDeadProcessesAreRemovedAndLiveOnesAreKept() throws Exception {
        Process gone = new ProcessBuilder("true").start();
        gone.waitFor();
        long dead = gone.pid();
        assertTrue(ProcessHandle.of(dead).isEmpty(), "pid " + dead + " was reused already");
        long live = ProcessHandle.current().pid();
        Set<String> deadFiles = Set.of(dead + "-1.pool", dead + "-1.ring", dead + "-17.pool");
        Set<String> kept = Set.of(live + "-999.pool", live + "-999.ring", "notes.txt", "abc-1.pool");
        for (String f : deadFiles) Files.writeString(shmDir.resolve(f), "stale");
        for (String f : kept) Files.writeString(shmDir.resolve(f), "keep");

        try (PeerProcess child = PeerProcess.start(SelfConnect.class, jvmArgs(), unique("stale"))) {
            child.expectLine("DONE");
            assertEquals(0, child.waitFor(30), child.stderr());
        }
        assertEquals(new TreeSet<>(kept), files(),
                "dead pid " + dead + "'s files removed; files of live pid " + live + " and foreign names untouched; none of the child's left");
        for (String f : kept) assertEquals("keep", Files.readString(shmDir.resolve(f)));
    }

    /**
     * A connector killed while its handshake waits holds its pool and ring as memfd descriptors only: the kernel
     * frees them with the process, nothing is left in the directory, and the next process works.
     */
    @Test
    void aProcessKilledDuringTheHandshakeLeavesNothingBehind() throws Exception {
        String name = unique("half");
        // This listener never accepts: the connector creates its memfds, sends HELLO and waits for the answer.
        try (Endpoint ep = Fable.register(name).listen();
             PeerProcess victim = PeerProcess.start(ConnectSide.class, jvmArgs(), name)) {
            String prefix = "fable-" + victim.pid() + "-";
            Await.until(() -> ProcFs.memfdDescriptors(victim.pid()).stream().filter(f -> f.startsWith(prefix)).count() == 2,
                    Duration.ofSeconds(30), () -> "the connector never created its pool and ring; stderr:\n" + victim.stderr());
            assertEquals(Set.of(), files(), "the handshake's pool and ring are no files");
            victim.kill9();

            try (PeerProcess next = PeerProcess.start(SelfConnect.class, jvmArgs(), unique("next"))) {
                next.expectLine("DONE");
                assertEquals(0, next.waitFor(30), next.stderr());
            }
            assertEquals(Set.of(), files(), "nothing left in the directory");
        }
    }
}
