package dev.fable.internal;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The handful of Linux calls Fable makes through the FFM linker, and nothing else.
 *
 * <p>Every binding here is a restricted method: the JVM must run with
 * {@code --enable-native-access=ALL-UNNAMED} (or the module's name). All calls are made from setup
 * paths or from a thread that is about to sleep; the data path never calls into this class except
 * {@link #syscall6} for {@code FUTEX_WAKE} when a peer has advertised that it sleeps.
 */
public final class Libc {
    private Libc() {}

    public static final long SYS_MADVISE = 28;
    public static final long SYS_FUTEX = 202;
    public static final long SYS_MEMBARRIER = 324;
    public static final long SYS_FUTEX_WAITV = 449;

    public static final int O_RDWR = 2;
    public static final int O_CREAT = 0100;
    public static final int O_EXCL = 0200;
    public static final int O_CLOEXEC = 02000000;

    public static final int ENOSPC = 28;
    /** madvise: fault every page of the range in, writable, without changing its contents (Linux 5.14+). */
    public static final int MADV_POPULATE_WRITE = 23;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final SymbolLookup LIBC = LINKER.defaultLookup();
    private static final StructLayout CALL_STATE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO =
            CALL_STATE.varHandle(MemoryLayout.PathElement.groupElement("errno"));

    /** {@code long syscall(long n, ...)} with six long arguments (variadic from the second). */
    private static final MethodHandle SYSCALL = LINKER.downcallHandle(
            LIBC.find("syscall").orElseThrow(),
            FunctionDescriptor.of(JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG),
            Linker.Option.firstVariadicArg(1));

    private static final MethodHandle OPEN = LINKER.downcallHandle(
            LIBC.find("open").orElseThrow(),
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT),
            Linker.Option.firstVariadicArg(2), Linker.Option.captureCallState("errno"));
    private static final MethodHandle FALLOCATE = LINKER.downcallHandle(
            LIBC.find("fallocate").orElseThrow(),
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_LONG),
            Linker.Option.captureCallState("errno"));
    private static final MethodHandle CLOSE = LINKER.downcallHandle(
            LIBC.find("close").orElseThrow(), FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    private static final MethodHandle GETUID = LINKER.downcallHandle(
            LIBC.find("getuid").orElseThrow(), FunctionDescriptor.of(JAVA_INT));
    private static final MethodHandle GETEUID = LINKER.downcallHandle(
            LIBC.find("geteuid").orElseThrow(), FunctionDescriptor.of(JAVA_INT));
    private static final MethodHandle SCHED_SETAFFINITY = LINKER.downcallHandle(
            LIBC.find("sched_setaffinity").orElseThrow(),
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, ADDRESS),
            Linker.Option.captureCallState("errno"));
    /** {@code int sched_getcpu(void)}: glibc reads it from rseq or the vDSO, no system call; critical: no thread-state transition. */
    private static final MethodHandle SCHED_GETCPU = LINKER.downcallHandle(
            LIBC.find("sched_getcpu").orElseThrow(), FunctionDescriptor.of(JAVA_INT), Linker.Option.critical(false));
    private static final MethodHandle STRERROR = LINKER.downcallHandle(
            LIBC.find("strerror").orElseThrow(), FunctionDescriptor.of(ADDRESS, JAVA_INT));

    /** Raw {@code syscall(n, a..f)}; returns the kernel's result or -1 (errno not captured). */
    public static long syscall6(long n, long a, long b, long c, long d, long e, long f) {
        try {
            return (long) SYSCALL.invokeExact(n, a, b, c, d, e, f);
        } catch (Throwable t) {
            throw new AssertionError("syscall downcall failed", t);
        }
    }

    /** {@code getuid()}. */
    public static int getuid() {
        try {
            return (int) GETUID.invokeExact();
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** {@code geteuid()}: the uid that owns the files and sockets this process creates, and that peers see. */
    public static int geteuid() {
        try {
            return (int) GETEUID.invokeExact();
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** The CPU the calling thread runs on now ({@code sched_getcpu}), or -1 if the kernel cannot say. */
    public static int currentCpu() {
        try {
            return (int) SCHED_GETCPU.invokeExact();
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /**
     * Pins the calling thread (not the process) to one CPU, so the JVM's ergonomics are left alone.
     *
     * @return 0 or the errno of the failure
     */
    public static int pinCurrentThread(int cpu) {
        if (cpu < 0 || cpu >= 1024) throw new IllegalArgumentException("cpu out of range: " + cpu);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment mask = a.allocate(128);
            mask.set(JAVA_LONG, (cpu / 64) * 8L, 1L << (cpu % 64));
            MemorySegment state = a.allocate(CALL_STATE);
            int rc = (int) SCHED_SETAFFINITY.invokeExact(state, 0, 128L, mask);
            return rc == 0 ? 0 : (int) ERRNO.get(state, 0L);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /**
     * Creates {@code path} exclusively with mode 0600 and reserves {@code size} bytes with
     * {@code fallocate}, so that a too-small file system fails here and not with SIGBUS later.
     *
     * @return 0, or the errno of the call that failed (the file is removed again by the caller)
     */
    public static int createReserved(String path, long size) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment state = a.allocate(CALL_STATE);
            int fd = (int) OPEN.invokeExact(state, a.allocateFrom(path), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
            if (fd < 0) return (int) ERRNO.get(state, 0L);
            try {
                int rc = (int) FALLOCATE.invokeExact(state, fd, 0, 0L, size);
                return rc == 0 ? 0 : (int) ERRNO.get(state, 0L);
            } finally {
                int ignored = (int) CLOSE.invokeExact(fd);
            }
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** {@code strerror(errno)} for messages. */
    public static String strerror(int errno) {
        try {
            MemorySegment s = (MemorySegment) STRERROR.invokeExact(errno);
            return s.reinterpret(256).getString(0) + " (errno " + errno + ")";
        } catch (Throwable t) {
            return "errno " + errno;
        }
    }
}
