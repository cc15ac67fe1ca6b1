package dev.fable.transport.shm;

import dev.fable.SharedMemoryException;
import dev.fable.internal.Libc;
import dev.fable.internal.OwnedDirectory;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.LinkOption;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The per-user shared-memory directory ({@code /dev/shm/fable-<uid>/}, mode 0700) and its files.
 * The directory is created 0700 or, if it exists, used only when this uid owns it and nobody else
 * can write in it ({@link OwnedDirectory}); so files of different users never share a directory.
 *
 * <p>Files are named {@code <pid>-<n>.pool|ring}, created 0600 with {@code O_EXCL}, and their space
 * is reserved with {@code fallocate} so a too-small {@code /dev/shm} fails at connect, never with
 * SIGBUS later. A file is unlinked as soon as the peer has mapped it, so a crash leaves files only
 * during a handshake; those are removed by the next process that starts (their pid is dead), which
 * touches only Fable's own files (the name pattern above, regular files of this uid).
 * {@code -Dfable.shm.dir=/path} moves the directory (tests; hosts with another tmpfs).
 */
public final class ShmFiles {
    /** Numbers this process's files, in every directory (one file name never serves two set-ups). */
    private static final AtomicLong COUNTER = new AtomicLong();
    private static final long PAGE = 4096;

    private final Path configured;
    private volatile Path directory;

    /** The files of one set-up, in {@code dir} (created 0700 on first use). */
    public ShmFiles(Path dir) {
        this.configured = dir;
    }

    /** The default directory ({@code fable.shm.dir}, else {@code /dev/shm/fable-<uid>}); not created here. */
    public static Path defaultDirectory() {
        String base = dev.fable.internal.Settings.get("fable.shm.dir");
        return base != null ? Path.of(base) : Path.of("/dev/shm", "fable-" + Libc.getuid());
    }

    /** The directory, created 0700 on first use; files of dead processes are removed then. */
    public Path directory() {
        Path d = directory;
        if (d == null) {
            synchronized (this) {
                d = directory;
                if (d == null) {
                    d = configured;
                    try {
                        OwnedDirectory.ensure(d, "Fable shared-memory directory", "fable.shm.dir");
                    } catch (OwnedDirectory.RefusedException e) {
                        throw new SharedMemoryException(e.getMessage(), e);
                    } catch (IOException e) {
                        throw new SharedMemoryException("cannot create the shared-memory directory " + d + ": " + e
                                + "; check that /dev/shm is mounted and writable (or set -Dfable.shm.dir)", e);
                    }
                    removeStaleFiles(d);
                    directory = d;
                }
            }
        }
        return d;
    }

    /** Fable's own file names in this directory: {@code <pid>-<n>.pool} or {@code <pid>-<n>.ring}. */
    private static final Pattern OWN_NAME = Pattern.compile("([1-9][0-9]{0,18})-[1-9][0-9]{0,18}\\.(pool|ring)");

    /**
     * Deletes the files of processes that are no longer alive. Only Fable's own files are touched:
     * names {@code <pid>-<n>.pool|ring}, regular files (not links) owned by this process's uid.
     * Returns how many were removed.
     */
    public static int removeStaleFiles(Path dir) {
        int removed = 0;
        int me = Libc.geteuid();
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir)) {
            for (Path f : files) {
                long pid = creatorPid(f, me);
                if (pid < 0 || ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)) continue;
                if (Files.deleteIfExists(f)) removed++;
            }
        } catch (IOException e) {
            System.getLogger("dev.fable.shm").log(System.Logger.Level.WARNING, "could not scan " + dir + " for stale files", e);
        }
        return removed;
    }

    /** The pid in {@code f}'s name if it is one of Fable's own files (name, regular file, owner {@code uid}), else -1. */
    private static long creatorPid(Path f, int uid) {
        Matcher m = OWN_NAME.matcher(f.getFileName().toString());
        if (!m.matches()) return -1;
        try {
            Map<String, Object> a = Files.readAttributes(f, "unix:uid,mode", LinkOption.NOFOLLOW_LINKS);
            if ((Integer) a.get("uid") != uid || ((Integer) a.get("mode") & S_IFMT) != S_IFREG) return -1;
        } catch (IOException gone) {
            return -1;
        }
        return Long.parseLong(m.group(1));
    }

    private static final int S_IFMT = 0170000;
    private static final int S_IFREG = 0100000;

    /**
     * Deletes the pool and ring files {@code pid} created in {@code dir}, if that process is gone (the
     * name daemon calls this when a client dies, with the directory the client named in its HELLO).
     * Only Fable's own files are touched: names {@code <pid>-<n>.pool|ring}, regular files owned by
     * this process's uid, in a directory this uid owns.
     */
    public static int removeFilesOf(Path dir, long pid) {
        if (ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)) return 0;
        if (!dir.isAbsolute() || !Files.isDirectory(dir)) return 0;
        try {
            OwnedDirectory.check(dir, "Fable shared-memory directory", "fable.shm.dir");
        } catch (IOException e) {
            System.getLogger("dev.fable.shm").log(System.Logger.Level.WARNING, "not sweeping the files of dead pid " + pid + ": " + e.getMessage());
            return 0;
        }
        int removed = 0;
        int me = Libc.geteuid();
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir, pid + "-*.{pool,ring}")) {
            for (Path f : files) {
                if (creatorPid(f, me) == pid && Files.deleteIfExists(f)) removed++;
            }
        } catch (IOException e) {
            System.getLogger("dev.fable.shm").log(System.Logger.Level.WARNING, "could not remove the files of dead pid " + pid, e);
        }
        return removed;
    }

    /** A fresh, unique path for a file of this process. */
    public Path newPath(String suffix) {
        return directory().resolve(ProcessHandle.current().pid() + "-" + COUNTER.incrementAndGet() + "." + suffix);
    }

    /**
     * Creates {@code path} (0600, exclusive), reserves {@code size} bytes, maps it read-write into
     * {@code arena} and faults every page in so the first lap of the ring pays no page faults.
     */
    public static MemorySegment createAndMap(Path path, long size, Arena arena, String what) {
        int err = Libc.createReserved(path.toString(), size);
        if (err != 0) {
            try {
                Files.deleteIfExists(path);
            } catch (IOException ignored) {
                // best effort: the next start removes it anyway
            }
            if (err == Libc.ENOSPC) {
                long free = -1;
                try {
                    free = Files.getFileStore(path.getParent()).getUsableSpace();
                } catch (IOException ignored) {
                    // message below still names the size needed
                }
                throw new SharedMemoryException("not enough shared memory for the " + what + ": it needs " + size
                        + " bytes in " + path.getParent() + (free >= 0 ? " but only " + free + " are free" : "")
                        + "; enlarge /dev/shm (docker: --shm-size, Kubernetes: an emptyDir with medium Memory) "
                        + "or use fewer/smaller slots (ConnectOptions.slotCount/slotSize)");
            }
            throw new SharedMemoryException("cannot create the " + what + " at " + path + ": " + Libc.strerror(err));
        }
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            MemorySegment m = ch.map(FileChannel.MapMode.READ_WRITE, 0, size, arena);
            populate(m);
            return m;
        } catch (IOException e) {
            throw new SharedMemoryException("cannot map the " + what + " at " + path + ": " + e, e);
        }
    }

    /**
     * Faults every page of {@code m} in with one {@code madvise} (far cheaper than a fault per page in
     * a VM); on a kernel without it, writes a zero byte per page (plain: the memory is still private).
     */
    private static void populate(MemorySegment m) {
        long r = Libc.syscall6(Libc.SYS_MADVISE, m.address(), m.byteSize(), Libc.MADV_POPULATE_WRITE, 0, 0, 0);
        if (r == 0) return;
        for (long off = 0; off < m.byteSize(); off += PAGE) {
            m.set(java.lang.foreign.ValueLayout.JAVA_BYTE, off, (byte) 0);
        }
    }

    /**
     * Maps a peer's file. {@code readOnly} maps it so the OS refuses our writes. The file must be at
     * least {@code size} bytes (checked here, so a short file cannot SIGBUS us later).
     */
    public MemorySegment mapPeer(Path path, long size, boolean readOnly, Arena arena, String what) {
        if (!directory().equals(path.getParent())) {   // a relative or empty path has no parent: refused as well
            throw new SharedMemoryException("peer named a " + what + " outside " + directory() + ": " + path);
        }
        StandardOpenOption[] opts = readOnly
                ? new StandardOpenOption[] {StandardOpenOption.READ}
                : new StandardOpenOption[] {StandardOpenOption.READ, StandardOpenOption.WRITE};
        try (FileChannel ch = FileChannel.open(path, opts)) {
            long actual = ch.size();
            if (actual < size) {
                throw new SharedMemoryException("peer's " + what + " " + path + " has " + actual + " bytes, expected " + size);
            }
            // Not populated: faulting the whole pool in here would add milliseconds to the rendezvous; the first lap
            // pays minor faults instead (the pages exist already: the creator faulted them in).
            return ch.map(readOnly ? FileChannel.MapMode.READ_ONLY : FileChannel.MapMode.READ_WRITE, 0, size, arena);
        } catch (IOException e) {
            throw new SharedMemoryException("cannot map the peer's " + what + " " + path + ": " + e, e);
        }
    }

    public static void unlink(Path path) {
        try {
            Files.deleteIfExists(path);
        } catch (IOException e) {
            System.getLogger("dev.fable.shm").log(System.Logger.Level.WARNING, "could not remove " + path, e);
        }
    }
}
