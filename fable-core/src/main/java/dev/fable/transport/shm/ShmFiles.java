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
 * The shared memory of pools and rings: sealed memfds, and the per-user directory
 * ({@code /dev/shm/fable-<uid>/}) where Fable versions before them kept files.
 *
 * <p>Each pool and ring is a memfd named {@code fable-<pid>-<n>.pool|ring}, its space reserved with
 * {@code fallocate} (too little memory fails at connect, never with SIGBUS later) and sealed with
 * {@code F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL}: nobody, its creator included, can shrink it, so a
 * peer that tries cannot make our accesses fault. The peer opens it through
 * {@code /proc/<creator pid>/fd/<fd>} and checks the seals before it maps it. The creator closes its
 * descriptor once the peer has mapped it; the memory then lives exactly as long as a mapping of it, and a
 * crashed process leaves nothing behind (there is no file to unlink).
 *
 * <p>The directory ({@code -Dfable.shm.dir=/path}) is no longer written; files of dead processes that an
 * earlier version left there are still removed when a set-up first creates a pool, and by the name daemon;
 * only Fable's own files are touched (names {@code <pid>-<n>.pool|ring}, regular files of this uid), and
 * the directory is used only when this uid owns it and nobody else can write in it ({@link OwnedDirectory}).
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

    private volatile boolean swept;

    /**
     * Once per set-up, when it first creates a pool: removes files of dead processes that an earlier Fable version
     * left in the directory, if the directory exists (it is never created now).
     */
    void sweepOnce() {
        if (swept) return;
        swept = true;
        if (Files.isDirectory(configured)) removeStaleFiles(configured);
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

    /** Seals every pool and ring carries: no shrinking (a shorter file would SIGBUS the peer), no growing, no more seals. */
    public static final int SEALS = Libc.F_SEAL_SHRINK | Libc.F_SEAL_GROW | Libc.F_SEAL_SEAL;
    /** The name prefix of Fable's memfds, as {@code /proc/<pid>/fd} and {@code /proc/<pid>/maps} show it ({@code /memfd:fable-...}). */
    public static final String MEMFD_PREFIX = "fable-";

    /** One of this side's sealed memfds, mapped read-write; {@link #fd} stays open until the peer has opened it. */
    public static final class Sealed {
        final int fd;
        final MemorySegment segment;
        private final java.util.concurrent.atomic.AtomicBoolean closed = new java.util.concurrent.atomic.AtomicBoolean();

        Sealed(int fd, MemorySegment segment) {
            this.fd = fd;
            this.segment = segment;
        }

        public int fd() {
            return fd;
        }

        public MemorySegment segment() {
            return segment;
        }

        /** Closes the descriptor once (the mapping stays); safe to call again. */
        void closeFd() {
            if (closed.compareAndSet(false, true)) Libc.close(fd);
        }
    }

    /** A fresh memfd name of this process: {@code fable-<pid>-<n>.<suffix>}. */
    static String newName(String suffix) {
        return MEMFD_PREFIX + ProcessHandle.current().pid() + "-" + COUNTER.incrementAndGet() + "." + suffix;
    }

    /**
     * Creates a memfd named {@code name}, reserves {@code size} bytes ({@code fallocate}: too little memory fails
     * here, never with SIGBUS later), seals it with {@link #SEALS}, maps it read-write into {@code arena} and
     * faults every page in so the first lap of the ring pays no page faults. The descriptor stays open: the
     * peer opens the memfd through {@code /proc/<our pid>/fd/<fd>}.
     */
    public static Sealed createSealed(String name, long size, Arena arena, String what) {
        int fd = Libc.memfdReserved(name, size);
        if (fd < 0) {
            int err = -fd;
            if (err == Libc.ENOSPC || err == Libc.ENOMEM) {
                throw new SharedMemoryException("not enough memory for the " + what + ": it needs " + size + " bytes of shared memory ("
                        + Libc.strerror(err) + "); give the process more memory (a container's or cgroup's memory limit counts it) "
                        + "or use fewer/smaller slots (ConnectOptions.slotCount/slotSize)");
            }
            throw new SharedMemoryException("cannot create the " + what + " (memfd_create + fallocate of " + size + " bytes): " + Libc.strerror(err));
        }
        try {
            int rc = Libc.fcntl(fd, Libc.F_ADD_SEALS, SEALS);
            if (rc < 0) throw new SharedMemoryException("cannot seal the " + what + ": " + Libc.strerror(-rc) + " (Linux 3.17+ and a tmpfs-backed memfd are needed)");
            MemorySegment m = mapFd(fd, size, false, arena, what);
            populate(m);
            return new Sealed(fd, m);
        } catch (RuntimeException e) {
            Libc.close(fd);
            throw e;
        }
    }

    /** Maps {@code size} bytes of our descriptor {@code fd} (through {@code /proc/self/fd}: NIO opens the same file anew). */
    private static MemorySegment mapFd(int fd, long size, boolean readOnly, Arena arena, String what) {
        StandardOpenOption[] opts = readOnly
                ? new StandardOpenOption[] {StandardOpenOption.READ}
                : new StandardOpenOption[] {StandardOpenOption.READ, StandardOpenOption.WRITE};
        try (FileChannel ch = FileChannel.open(Path.of("/proc/self/fd/" + fd), opts)) {
            return ch.map(readOnly ? FileChannel.MapMode.READ_ONLY : FileChannel.MapMode.READ_WRITE, 0, size, arena);
        } catch (IOException e) {
            throw new SharedMemoryException("cannot map the " + what + ": " + e, e);
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
     * Maps a peer's memfd: descriptor {@code fd} of process {@code pid}, opened through {@code /proc/<pid>/fd/<fd>}
     * (same user; the kernel checks that we may look into that process). Before anything is mapped it must be
     * a Fable memfd (its name starts with {@code /memfd:fable-}), carry at least {@link #SEALS} (so the peer can
     * never shrink it under us: no SIGBUS), and hold at least {@code size} bytes. {@code readOnly} maps it so the
     * OS refuses our writes.
     */
    public static MemorySegment mapPeer(long pid, int fd, long size, boolean readOnly, Arena arena, String what) {
        Mapped m = mapPeer(pid, fd, size, readOnly, arena, what, false);
        return m.segment();
    }

    /** A peer's memfd as {@link #mapPeer(long, int, long, boolean, Arena, String)} maps it, and our descriptor of it if kept, else -1. */
    public record Mapped(MemorySegment segment, int fd) {}

    /**
     * As {@link #mapPeer(long, int, long, boolean, Arena, String)}; with {@code keepFd} the descriptor this side opened
     * stays open (the caller closes it with {@link Libc#close}): a third process can then open the same memfd through
     * {@code /proc/<our pid>/fd/<fd>} (forwarding a read buffer in place) after the peer closed its own.
     */
    public static Mapped mapPeer(long pid, int fd, long size, boolean readOnly, Arena arena, String what, boolean keepFd) {
        if (pid <= 0 || fd < 0) throw new SharedMemoryException("peer named its " + what + " as descriptor " + fd + " of pid " + pid);
        Path link = Path.of("/proc", Long.toString(pid), "fd", Integer.toString(fd));
        String target;
        try {
            target = Files.readSymbolicLink(link).toString();
        } catch (IOException e) {
            throw new SharedMemoryException("cannot open the peer's " + what + " " + link + ": " + e
                    + "; both sides must run as the same user in the same PID namespace", e);
        }
        if (!target.startsWith("/memfd:" + MEMFD_PREFIX)) {
            throw new SharedMemoryException("the peer's " + what + " " + link + " is " + target + ", not a Fable memfd");
        }
        int my = Libc.open(link.toString(), readOnly ? Libc.O_RDONLY : Libc.O_RDWR);
        if (my < 0) throw new SharedMemoryException("cannot open the peer's " + what + " " + link + ": " + Libc.strerror(-my));
        boolean kept = false;
        try {
            int seals = Libc.fcntl(my, Libc.F_GET_SEALS, 0);
            if (seals < 0 || (seals & SEALS) != SEALS) {
                throw new SharedMemoryException("the peer's " + what + " " + link + " is not sealed against shrinking (seals "
                        + (seals < 0 ? Libc.strerror(-seals) : "0x" + Integer.toHexString(seals)) + ", need 0x" + Integer.toHexString(SEALS)
                        + "): it could truncate it and crash this process; refused");
            }
            long actual = Libc.fileSize(my);
            if (actual < size) {
                throw new SharedMemoryException("peer's " + what + " " + link + " has " + actual + " bytes, expected " + size);
            }
            // Not populated: faulting the whole pool in here would add milliseconds to the rendezvous; the first lap
            // pays minor faults instead (the pages exist already: the creator faulted them in).
            MemorySegment m = mapFd(my, size, readOnly, arena, "peer's " + what + " " + link);
            kept = keepFd;
            return new Mapped(m, keepFd ? my : -1);
        } finally {
            if (!kept) Libc.close(my);
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
