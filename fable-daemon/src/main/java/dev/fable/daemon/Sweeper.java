package dev.fable.daemon;

import dev.fable.transport.shm.ShmFiles;

import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static java.lang.System.Logger.Level.INFO;

/**
 * What the daemon cleans up after others: every {@link #SWEEP_NANOS} it closes clients that stall
 * ({@link ClientSessions#rejectStalled}), closes the sockets of rejected clients that lingered too long
 * ({@link ClientSessions#expireLingering}) and says when the daemon has been idle (no clients, no names)
 * for its idle-exit time; and when a client's connection closes because its process died
 * ({@code kill -9}), it removes the shared-memory files that process created and never unlinked.
 *
 * <p>Loop thread only, except the removal of a dead pid's shared-memory files: it runs on a virtual thread
 * of its own and touches nothing of the daemon's (only its directory and pid).
 */
final class Sweeper {
    private static final System.Logger LOG = System.getLogger(Sweeper.class.getName());

    static final long SWEEP_NANOS = TimeUnit.MILLISECONDS.toNanos(250);

    private final ClientSessions sessions;
    private final Registry registry;
    private final long idleExitNanos;
    private long idleSinceNanos = System.nanoTime();
    private long lastSweepNanos = System.nanoTime();

    /** @param idleExitNanos the daemon exits after this long without clients and names; 0: never */
    Sweeper(ClientSessions sessions, Registry registry, long idleExitNanos) {
        this.sessions = sessions;
        this.registry = registry;
        this.idleExitNanos = idleExitNanos;
    }

    /** Coarse checks, at most every {@link #SWEEP_NANOS}: stalled clients, lingering sockets and the idle exit. True: time to exit. */
    boolean sweep(long now) {
        if (now - lastSweepNanos < SWEEP_NANOS) return false;
        lastSweepNanos = now;
        sessions.rejectStalled(now);
        sessions.expireLingering(now);
        boolean idle = registry.size() == 0 && sessions.isEmpty();
        if (!idle) {
            idleSinceNanos = now;
        } else if (idleExitNanos > 0 && now - idleSinceNanos > idleExitNanos) {
            LOG.log(INFO, "no clients and no names for " + TimeUnit.NANOSECONDS.toSeconds(idleExitNanos) + " s: exiting");
            return true;
        }
        return false;
    }

    /** A connection closed: if it was a client that told where its shared-memory files live, sweep them once its process is dead. */
    void closed(Session s) {
        if (s.pid <= 0 || s.shmDir.isEmpty()) return;
        Path dir;
        try {
            dir = Path.of(s.shmDir);
        } catch (java.nio.file.InvalidPathException e) {   // the client's HELLO named no path (a NUL byte, say): nothing to sweep
            return;
        }
        sweepSharedMemoryOf(dir, s.pid);
    }

    /**
     * If the process died ({@code kill -9}), removes the shared-memory files it created and never
     * unlinked (a prepared pool, a handshake in flight). The socket closes while the process exits,
     * before it is reaped, so look again for a second.
     */
    private static void sweepSharedMemoryOf(Path dir, long pid) {
        Thread.ofVirtual().name("fabled-shm-sweep-" + pid).start(() -> {
            for (int i = 0; i < 20; i++) {
                if (ProcessHandle.of(pid).map(p -> !p.isAlive()).orElse(true)) {
                    int n = ShmFiles.removeFilesOf(dir, pid);
                    if (n > 0) LOG.log(INFO, "removed " + n + " shared-memory file(s) of dead pid " + pid);
                    return;
                }
                try {
                    Thread.sleep(50);   // a retry interval, not synchronisation: the process is still exiting
                } catch (InterruptedException e) {
                    return;
                }
            }
        });
    }
}
