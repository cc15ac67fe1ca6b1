package dev.fable.daemon;

import dev.fable.internal.OwnedDirectory;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * One daemon per runtime directory: {@code fabled.lock} there, locked while this daemon serves, with its
 * pid inside (a second daemon's error names it). The lock goes with the process, so a socket left by a
 * killed daemon is stale once the lock is taken.
 *
 * <p>Taken by the constructing thread, released by the loop thread as it stops (or by the constructor that failed).
 */
final class DaemonLock {
    private final FileChannel file;
    private final FileLock lock;

    private DaemonLock(FileChannel file, FileLock lock) {
        this.file = file;
        this.lock = lock;
    }

    /**
     * Creates {@code runtimeDir} (0700), or checks that this uid owns it and nobody else can write in it
     * ({@link OwnedDirectory}), and takes its lock; fails naming the holder's pid if another daemon has it.
     */
    static DaemonLock take(Path runtimeDir, Path socketPath) throws IOException {
        OwnedDirectory.ensure(runtimeDir, "Fable runtime directory", "fable.runtime.dir");
        Path lockPath = runtimeDir.resolve("fabled.lock");
        FileChannel file = FileChannel.open(lockPath, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE);
        FileLock lock = file.tryLock();
        if (lock == null) {
            String holder = new String(Files.readAllBytes(lockPath), StandardCharsets.US_ASCII).trim();
            file.close();
            throw new IllegalStateException("another fabled (pid " + (holder.isEmpty() ? "?" : holder) + ") already serves " + socketPath
                    + " (lock " + lockPath + "); stop it first, or use another -Dfable.runtime.dir");
        }
        file.truncate(0).write(ByteBuffer.wrap((ProcessHandle.current().pid() + "\n").getBytes(StandardCharsets.US_ASCII)), 0);
        return new DaemonLock(file, lock);
    }

    void release() throws IOException {
        lock.release();
        file.close();
    }
}
