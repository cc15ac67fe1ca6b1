package dev.fable.security;

import dev.fable.Endpoint;
import dev.fable.Fable;
import dev.fable.FableException;
import dev.fable.SharedMemoryException;
import dev.fable.internal.OwnedDirectory;
import dev.fable.naming.DaemonNameService;
import dev.fable.naming.NamingConfig;
import dev.fable.testing.Await;
import dev.fable.testing.PeerProcess;
import dev.fable.testing.ProcFs;
import dev.fable.testing.Stranger;
import dev.fable.transport.ControlChannel;
import dev.fable.transport.EndpointListener;
import dev.fable.transport.shm.ShmFiles;
import dev.fable.transport.tls.HostIdentity;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.stream.Stream;

import static dev.fable.testing.Names.unique;
import static org.junit.jupiter.api.Assertions.*;

/**
 * Issue 16, point 4: Fable's runtime, state and shared-memory directories are created 0700 and, when
 * they exist, used only if this uid owns them and nobody else can write in them; a daemon socket, an
 * endpoint socket and the daemon itself accept only peers of the same numeric uid (SO_PEERCRED),
 * also for a uid without a passwd entry; the stale-file sweep removes only Fable's own files.
 *
 * <p>Tests that need another real user create one ({@link Stranger}: useradd, removed afterwards)
 * and are skipped, naming why, when this JVM is not root. Since root may read anything, every
 * "cannot" is tried as the stranger.
 */
class OwnedDirectoriesTest {
    private static final Duration WAIT = Duration.ofSeconds(30);
    /** A uid that no test machine gives a name (checked), as OpenShift's arbitrary uids. */
    private static final int NAMELESS_UID = 1_000_680_017;

    private static Path fresh(String tag) throws IOException {
        Path d = Path.of("target", "sec", tag + Long.toString(System.nanoTime() % 1_000_000_000L, 36)).toAbsolutePath();
        Files.createDirectories(d.getParent());
        return Files.createDirectory(d, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwxr-xr-x")));
    }

    private static void chmod(Path p, String mode) throws IOException {
        Files.setPosixFilePermissions(p, PosixFilePermissions.fromString(mode));
    }

    private static List<String> entries(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    private static int myUid() throws IOException {
        return (Integer) Files.getAttribute(Path.of("/proc/self"), "unix:uid");
    }

    private static String refusal(Path dir, String what, String why, String setting) {
        return "refusing the " + what + " " + dir + ": " + why + ", or set " + setting + " to a directory of your own";
    }

    // ---- (1) directories that exist but are not ours ----

    @Test
    void aRuntimeDirectoryOthersMayWriteInIsRefusedNoDaemonIsStartedAndNothingIsWritten() throws Exception {
        Path dir = fresh("open");
        chmod(dir, "rwxrwxrwx");
        FableException e = assertThrows(FableException.class, () -> DaemonNameService.open(dir, true).close());
        assertEquals(refusal(dir, "Fable runtime directory", "its mode 0777 lets group or others write in it; chmod 700 " + dir,
                "fable.runtime.dir"), e.getMessage());
        assertEquals(List.of(), entries(dir), "no daemon socket, lock or log, no ep directory");
    }

    @Test
    void aRuntimeDirectoryOfAnotherUidIsRefusedByTheClientAndByTheDaemon() throws Exception {
        Stranger.assumeCanSwitchUids();
        Path dir = fresh("theirs");
        chmod(dir, "rwx------");
        Files.setAttribute(dir, "unix:uid", NAMELESS_UID);
        String line = refusal(dir, "Fable runtime directory", "it is owned by uid " + NAMELESS_UID + " (mode 0700), not by this process's uid "
                + myUid() + " (someone else may have created it); remove it", "fable.runtime.dir");
        FableException e = assertThrows(FableException.class, () -> DaemonNameService.open(dir, true).close());
        assertEquals(line, e.getMessage());
        // the daemon, started by hand on it, refuses it as well and exits
        try (PeerProcess daemon = PeerProcess.start(dev.fable.daemon.NameDaemon.class, List.of("-Dfable.runtime.dir=" + dir))) {
            assertEquals(2, daemon.waitFor(60));
            assertTrue(daemon.stderr().contains("cannot start: " + line), daemon.stderr());
        }
        assertEquals(List.of(), entries(dir), "nothing was written there");
    }

    @Test
    void aSymbolicLinkPlantedByAnotherUidIsNotFollowedButOurOwnIs() throws Exception {
        Stranger.assumeCanSwitchUids();
        Path target = fresh("target");
        chmod(target, "rwx------");   // a directory that would pass
        Path link = fresh("links").resolve("rt");
        Files.createSymbolicLink(link, target);
        assertEquals(link, OwnedDirectory.ensure(link, "Fable runtime directory", "fable.runtime.dir"), "our own link to our own directory");

        Files.setAttribute(link, "unix:uid", NAMELESS_UID, LinkOption.NOFOLLOW_LINKS);   // lchown: as if someone else planted it
        FableException e = assertThrows(FableException.class, () -> DaemonNameService.open(link, true).close());
        assertEquals(refusal(link, "Fable runtime directory", "it is a symbolic link owned by uid " + NAMELESS_UID + ", not by this process's uid "
                + myUid() + " (someone else may have created it); remove it", "fable.runtime.dir"), e.getMessage());
        assertEquals(List.of(), entries(target), "nothing was written where the link leads");
    }

    @Test
    void theStateAndSharedMemoryDirectoriesAreCheckedTheSameWayAndCreated0700() throws Exception {
        Path state = fresh("state");
        chmod(state, "rwxrwx---");
        FableException e = assertThrows(FableException.class, () -> dev.fable.daemon.HostKeys.loadOrCreate(state));
        assertEquals(refusal(state, "Fable state directory", "its mode 0770 lets group or others write in it; chmod 700 " + state,
                "fable.state.dir"), e.getMessage());
        assertThrows(FableException.class, () -> HostIdentity.load(state), "a library process does not read a key from it either");
        assertEquals(List.of(), entries(state));

        Path shm = fresh("shm");
        chmod(shm, "rwx-w--w-");
        SharedMemoryException s = assertThrows(SharedMemoryException.class, () -> new ShmFiles(shm).directory());
        assertEquals(refusal(shm, "Fable shared-memory directory", "its mode 0722 lets group or others write in it; chmod 700 " + shm,
                "fable.shm.dir"), s.getMessage());
        // /dev/shm itself (1777, root's) is never the directory: files of different users must not share one
        s = assertThrows(SharedMemoryException.class, () -> new ShmFiles(Path.of("/dev/shm")).directory());
        assertTrue(s.getMessage().startsWith("refusing the Fable shared-memory directory /dev/shm: "), s.getMessage());

        Path created = fresh("parent").resolve("a").resolve("b");
        new ShmFiles(created).directory();
        assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(created)));
        assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(created.getParent())), "missing parents too");
        dev.fable.daemon.HostKeys.loadOrCreate(fresh("parent").resolve("st"));   // a fresh one works
    }

    // ---- (2) a stranger squats the runtime directory, or serves a daemon socket ----

    @Test
    void aRuntimeDirectoryAStrangerCreatedFirstIsRefused() throws Exception {
        try (Stranger s = Stranger.create()) {
            Path tmp = fresh("tmp");
            Files.setAttribute(tmp, "unix:mode", 01777);   // like /tmp
            for (String mode : new String[] {"0755", "0700"}) {
                Path squat = tmp.resolve("fable-" + mode);
                Stranger.Result r = s.run("/bin/mkdir", "-m", mode, squat.toString());
                assertEquals(0, r.status(), r.output());
                FableException e = assertThrows(FableException.class, () -> DaemonNameService.open(squat, true).close());
                assertEquals(refusal(squat, "Fable runtime directory", "it is owned by uid " + s.uid() + " (mode " + mode
                        + "), not by this process's uid " + myUid() + " (someone else may have created it); remove it", "fable.runtime.dir"),
                        e.getMessage());
                assertEquals(List.of(), entries(squat), "nothing of ours went into the stranger's directory");
            }
            Path shm = tmp.resolve("shm");
            assertEquals(0, s.run("/bin/mkdir", "-m", "0700", shm.toString()).status());
            SharedMemoryException e = assertThrows(SharedMemoryException.class, () -> new ShmFiles(shm).directory());
            assertTrue(e.getMessage().startsWith("refusing the Fable shared-memory directory " + shm + ": it is owned by uid " + s.uid()),
                    e.getMessage());
        }
    }

    @Test
    void aDaemonSocketServedByAStrangerIsRefusedByUidBeforeAnythingIsSentToIt() throws Exception {
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/socat")), "needs socat to serve a socket as the stranger");
        try (Stranger s = Stranger.create()) {
            Path theirs = fresh("fake");
            Files.setAttribute(theirs, "unix:uid", s.uid());
            Path listening = theirs.resolve("fabled.sock");
            // the stranger's "daemon": accepts one connection and prints whatever it receives
            Process fake = new ProcessBuilder(s.as("/usr/bin/socat", "-u", "UNIX-LISTEN:" + listening, "STDOUT"))
                    .redirectErrorStream(true).start();
            try {
                // listening, not only bound: a connect between bind() and listen() is refused, and a refused connect
                // rightly makes the client try to start a daemon (found under a CPU hog: a fabled.log appeared)
                Await.until(() -> ProcFs.unixSocketListening(listening), WAIT, () -> "the stranger's socat did not listen on " + listening);
                // Our runtime directory passes every check; its socket file, though, is the stranger's (moved in, as
                // if it had been created there while the directory was open): connecting reaches the stranger.
                Path ours = fresh("ours");
                chmod(ours, "rwx------");
                Path socket = NamingConfig.daemonSocket(ours);
                Files.move(listening, socket, StandardCopyOption.ATOMIC_MOVE);

                FableException e = assertThrows(FableException.class, () -> DaemonNameService.open(ours, true).close());
                assertEquals("the name daemon at " + socket + " runs as uid " + s.uid() + ", this process as uid " + myUid()
                        + "; refusing it (someone else may have created " + socket + ")", e.getMessage());
                assertTrue(fake.waitFor(30, TimeUnit.SECONDS), "our client closed the connection");
                assertEquals("", new String(fake.getInputStream().readAllBytes(), StandardCharsets.UTF_8),
                        "not a byte (no HELLO with our pid and command) was sent to it");
                assertEquals(List.of("ep", "fabled.sock"), entries(ours), "no daemon was started instead (no lock, no log)");
            } finally {
                fake.destroyForcibly();
                fake.waitFor();
            }
        }
    }

    // ---- (3) a stranger connects to our endpoint ----

    @Test
    void aStrangerConnectingToAnEndpointIsClosedAndTheRefusalLoggedByUid() throws Exception {
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/socat")), "needs socat to connect as the stranger");
        try (Stranger s = Stranger.create()) {
            List<String> log = new CopyOnWriteArrayList<>();
            Logger jul = Logger.getLogger("dev.fable.transport");
            Handler h = new Handler() {
                @Override public void publish(LogRecord r) { log.add(r.getMessage()); }
                @Override public void flush() { }
                @Override public void close() { }
            };
            jul.addHandler(h);
            String name = unique("guarded");
            Path runtime = NamingConfig.runtimeDir();
            try (Endpoint ep = Fable.register(name).listen()) {
                runtime = runtime.toRealPath();
                Path socket = NamingConfig.endpointSocket(name).toRealPath();
                // Open the way for the test only (no write for others: the directories still pass); Fable's own are 0700.
                chmod(runtime, "rwx--x--x");
                chmod(socket.getParent(), "rwx--x--x");
                chmod(socket, "rwxrwxrwx");
                Stranger.Result r = s.run("/usr/bin/socat", "-u", "UNIX-CONNECT:" + socket, "STDOUT");
                assertEquals(0, r.status(), "socat ended at the endpoint's close: " + r.output());
                assertEquals("", r.output(), "the endpoint closed the connection without a byte");
                String line = "a process connecting to '" + name + "' runs as uid " + s.uid() + ", this process as uid " + myUid()
                        + "; Fable connects only processes of the same uid";
                Await.until(() -> log.contains(line), WAIT, () -> "no refusal logged: " + log);
                assertNull(ep.tryAccept(), "nothing was queued for accept");
            } finally {
                jul.removeHandler(h);
                if (Files.isDirectory(runtime.resolve("ep"))) {
                    chmod(runtime, "rwx------");
                    chmod(runtime.resolve("ep"), "rwx------");
                }
            }
        }
    }

    // ---- (4) shared-memory files ----

    @Test
    void aStrangerCannotOpenOurSharedMemory() throws Exception {
        try (Stranger s = Stranger.create(); Arena arena = Arena.ofShared()) {
            // pools and rings are sealed memfds: the only way in is /proc/<our pid>/fd/<n>, which the kernel opens
            // only for a process allowed to ptrace us (same uid, or root)
            ShmFiles.Sealed pool = ShmFiles.createSealed(ShmFiles.MEMFD_PREFIX + "sectest.pool", 4096, arena, "test pool");
            pool.segment().set(java.lang.foreign.ValueLayout.JAVA_LONG, 0, 0x5ec2e7L);
            String path = "/proc/" + ProcessHandle.current().pid() + "/fd/" + pool.fd();
            assertTrue(Files.readSymbolicLink(Path.of(path)).toString().startsWith("/memfd:"), "the descriptor is the memfd");
            assertDenied(s.run("/bin/cat", path));
            assertDenied(s.run("/bin/sh", "-c", "echo x >> " + path));
            assertDenied(s.run("/bin/ls", "/proc/" + ProcessHandle.current().pid() + "/fd"));
            assertEquals(0x5ec2e7L, pool.segment().get(java.lang.foreign.ValueLayout.JAVA_LONG, 0), "untouched");
        }
    }

    private static void assertDenied(Stranger.Result r) {
        assertNotEquals(0, r.status(), r.output());
        assertTrue(r.output().contains("Permission denied"), r.output());
    }

    @Test
    void theStaleFileSweepRemovesOnlyFablesOwnFilesOfDeadProcesses() throws Exception {
        Path dir = fresh("sweep");
        chmod(dir, "rwx------");
        long dead = 999_999_999L;   // above any pid_max: never alive
        long alive = ProcessHandle.current().pid();
        Path stale = Files.createFile(dir.resolve(dead + "-1.pool"));
        Path staleRing = Files.createFile(dir.resolve(dead + "-7.ring"));
        List<Path> kept = new ArrayList<>(List.of(
                Files.createFile(dir.resolve(alive + "-1.pool")),             // a live process's
                Files.createFile(dir.resolve(dead + "-notes.txt")),           // not Fable's name
                Files.createFile(dir.resolve(dead + "-1.pool.bak")),
                Files.createFile(dir.resolve(dead + "-x.ring")),
                Files.createSymbolicLink(dir.resolve(dead + "-2.pool"), stale), // a link, not a file
                Files.createDirectory(dir.resolve(dead + "-3.ring"))));
        if (Stranger.canSwitchUids()) {
            Path theirs = Files.createFile(dir.resolve(dead + "-4.pool"));
            Files.setAttribute(theirs, "unix:uid", NAMELESS_UID);       // not this uid's
            kept.add(theirs);
        }
        assertEquals(2, ShmFiles.removeStaleFiles(dir));
        assertFalse(Files.exists(stale, LinkOption.NOFOLLOW_LINKS));
        assertFalse(Files.exists(staleRing));
        for (Path p : kept) assertTrue(Files.exists(p, LinkOption.NOFOLLOW_LINKS), "kept: " + p);

        // the daemon's per-client sweep likewise
        Path more = Files.createFile(dir.resolve(dead + "-9.ring"));
        assertEquals(1, ShmFiles.removeFilesOf(dir, dead));
        assertFalse(Files.exists(more));
        for (Path p : kept) assertTrue(Files.exists(p, LinkOption.NOFOLLOW_LINKS), "kept: " + p);
    }

    // ---- (5) a uid without a passwd entry ----

    /**
     * Child run as a bare uid: listens on {@code <args[0]>/ep/probe.sock} (the real EndpointListener),
     * opens the socket to other uids (so their refusal is by uid, not by permissions), prints
     * "LISTENING path", then "ACCEPTED" for each connection it accepts (and closes it).
     */
    public static final class SameUidListener {
        public static void main(String[] args) throws Exception {
            Path sock = Path.of(args[0], "ep", "probe.sock");
            try (EndpointListener l = new EndpointListener("probe", sock, "127.0.0.1", dev.fable.transport.Liveness.OFF)) {
                Files.setPosixFilePermissions(sock.getParent(), PosixFilePermissions.fromString("rwx--x--x"));
                Files.setPosixFilePermissions(l.unixPath(), PosixFilePermissions.fromString("rwxrwxrwx"));
                System.out.println("LISTENING " + l.unixPath());
                while (true) {
                    ControlChannel c = l.accept(-1);
                    System.out.println("ACCEPTED");
                    c.close();
                }
            }
        }
    }

    @Test
    void processesOfOneUidWithoutAPasswdEntryConnectAndOtherUidsAreRefused() throws Exception {
        Stranger.assumeCanSwitchUids();
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/socat")), "needs socat for the second process");
        int uid = NAMELESS_UID;
        int other = NAMELESS_UID + 1;
        for (int u : new int[] {uid, other}) {
            Stranger.Result r = Stranger.run(List.of("/usr/bin/getent", "passwd", Integer.toString(u)));
            Assumptions.assumeTrue(r.status() != 0, "uid " + u + " has a passwd entry here: " + r.output());
        }
        Path dir = fresh("nameless");
        Files.setAttribute(dir, "unix:uid", uid);
        // the class path the bare uid can read: fable-core (copied if it is a jar in root's repository) and the test classes
        Path core = Path.of(EndpointListener.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        if (Files.isRegularFile(core)) {
            Path copy = fresh("cp").resolve(core.getFileName());
            core = Files.copy(core, copy);
            chmod(copy, "rw-r--r--");
        }
        String cp = core + ":" + Path.of("target", "test-classes").toAbsolutePath();
        try (PeerProcess listener = PeerProcess.startAs(Stranger.asUid(uid, uid), cp, SameUidListener.class,
                List.of("-XX:-UsePerfData", "-Xshare:off", "-Duser.home=/tmp", "-Djava.io.tmpdir=/tmp"), dir.toString())) {
            String sock = listener.expectLine("LISTENING ").substring("LISTENING ".length());

            Stranger.Result same = Stranger.run(Stranger.asUid(uid, uid, "/usr/bin/socat", "-u", "UNIX-CONNECT:" + sock, "STDOUT"));
            assertEquals(0, same.status(), same.output());
            listener.expectLine("ACCEPTED");   // a second process of the same nameless uid is accepted

            Stranger.Result stranger = Stranger.run(Stranger.asUid(other, other, "/usr/bin/socat", "-u", "UNIX-CONNECT:" + sock, "STDOUT"));
            assertEquals(0, stranger.status(), stranger.output());
            String line = "a process connecting to 'probe' runs as uid " + other + ", this process as uid " + uid
                    + "; Fable connects only processes of the same uid";
            Await.until(() -> listener.stderr().contains(line), WAIT, () -> "no refusal in the listener's log: " + listener.stderr());

            Stranger.Result again = Stranger.run(Stranger.asUid(uid, uid, "/usr/bin/socat", "-u", "UNIX-CONNECT:" + sock, "STDOUT"));
            assertEquals(0, again.status(), again.output());
            listener.expectLine("ACCEPTED");
        }
    }
}
