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
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

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
    public static final long SYS_SCHED_GETAFFINITY = 204;
    public static final long SYS_GETTID = 186;

    public static final int O_RDONLY = 0;
    public static final int O_RDWR = 2;
    public static final int O_CREAT = 0100;
    public static final int O_EXCL = 0200;
    public static final int O_CLOEXEC = 02000000;

    public static final int ENOSPC = 28;
    public static final int ENOMEM = 12;
    public static final int EPERM = 1;

    /** memfd_create flags: close on exec; allow seals (without it the file is born with F_SEAL_SEAL). */
    public static final int MFD_CLOEXEC = 1;
    public static final int MFD_ALLOW_SEALING = 2;
    /** fcntl commands and seals (linux/fcntl.h). */
    public static final int F_ADD_SEALS = 1033;
    public static final int F_GET_SEALS = 1034;
    public static final int F_SEAL_SEAL = 1;
    public static final int F_SEAL_SHRINK = 2;
    public static final int F_SEAL_GROW = 4;
    public static final int F_SEAL_WRITE = 8;
    private static final int SEEK_END = 2;
    public static final int ETIMEDOUT = 110;
    public static final int ENETUNREACH = 101;
    public static final int EHOSTUNREACH = 113;

    public static final int SOL_SOCKET = 1;
    public static final int SO_TYPE = 3;
    public static final int SOCK_STREAM = 1;
    public static final int IPPROTO_TCP = 6;
    /** Linux {@code TCP_USER_TIMEOUT} (2.6.37+): ms that sent data may stay unacknowledged before the kernel drops the connection. */
    public static final int TCP_USER_TIMEOUT = 18;
    public static final int SO_KEEPALIVE = 9;
    public static final int SO_ACCEPTCONN = 30;
    public static final int TCP_KEEPIDLE = 4;
    public static final int TCP_KEEPINTVL = 5;
    public static final int TCP_KEEPCNT = 6;
    /** Linux {@code TCP_INFO}: {@code struct tcp_info} (see {@link #tcpInfo}). */
    public static final int TCP_INFO = 11;
    /** Offsets in {@code struct tcp_info} (linux/tcp.h; stable ABI, fields only appended): ms since the last ACK came. */
    public static final int TCPI_LAST_ACK_RECV = 56;
    /** u8: how many times the retransmission or probe timer backed off (doubled). */
    public static final int TCPI_BACKOFF = 4;
    /** u32: the retransmission timeout, µs (the probe timer's base, before its backoff). */
    public static final int TCPI_RTO = 8;
    /** Segments sent and not yet acknowledged (zero-window probes are not counted). */
    public static final int TCPI_UNACKED = 24;
    private static final int AF_INET = 2;
    private static final int AF_INET6 = 10;
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
    private static final MethodHandle MEMFD_CREATE = LINKER.downcallHandle(
            LIBC.find("memfd_create").orElseThrow(),
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT),
            Linker.Option.captureCallState("errno"));
    /** {@code int fcntl(int fd, int cmd, ...)} with one int argument (variadic from the third). */
    private static final MethodHandle FCNTL = LINKER.downcallHandle(
            LIBC.find("fcntl").orElseThrow(),
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT),
            Linker.Option.firstVariadicArg(2), Linker.Option.captureCallState("errno"));
    private static final MethodHandle FTRUNCATE = LINKER.downcallHandle(
            LIBC.find("ftruncate").orElseThrow(),
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG),
            Linker.Option.captureCallState("errno"));
    private static final MethodHandle LSEEK = LINKER.downcallHandle(
            LIBC.find("lseek").orElseThrow(),
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, JAVA_LONG, JAVA_INT),
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
    private static final MethodHandle GETSOCKOPT = LINKER.downcallHandle(
            LIBC.find("getsockopt").orElseThrow(),
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS),
            Linker.Option.captureCallState("errno"));
    private static final MethodHandle SETSOCKOPT = LINKER.downcallHandle(
            LIBC.find("setsockopt").orElseThrow(),
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT),
            Linker.Option.captureCallState("errno"));
    /** {@code getsockname} and {@code getpeername} have the same signature. */
    private static final FunctionDescriptor SOCKNAME = FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS);
    private static final MethodHandle GETSOCKNAME = LINKER.downcallHandle(LIBC.find("getsockname").orElseThrow(), SOCKNAME);
    private static final MethodHandle GETPEERNAME = LINKER.downcallHandle(LIBC.find("getpeername").orElseThrow(), SOCKNAME);
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

    /** The calling thread's kernel thread id ({@code gettid}; a system call, about 0.15 µs). */
    public static int currentTid() {
        return (int) syscall6(SYS_GETTID, 0, 0, 0, 0, 0, 0);
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
     * The one CPU the calling thread may run on, or -1 when it may run on several (or the mask is
     * unreadable): {@code sched_getaffinity(0)}, one system call.
     */
    public static int singleAllowedCpu() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment mask = a.allocate(128);
            long rc = syscall6(SYS_SCHED_GETAFFINITY, 0, 128, mask.address(), 0, 0, 0);
            if (rc <= 0) return -1;
            int cpu = -1;
            for (int w = 0; w < rc / 8; w++) {
                long bits = mask.get(JAVA_LONG, w * 8L);
                if (bits == 0) continue;
                if (cpu >= 0 || Long.bitCount(bits) != 1) return -1;
                cpu = w * 64 + Long.numberOfTrailingZeros(bits);
            }
            return cpu;
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

    /**
     * {@code memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING)}, then {@code fallocate(fd, 0, 0, size)}: an
     * anonymous shared-memory file of {@code size} reserved bytes that can be sealed.
     *
     * @return the descriptor (>= 0), or minus the errno of the call that failed (nothing is left open then)
     */
    public static int memfdReserved(String name, long size) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment state = a.allocate(CALL_STATE);
            int fd = (int) MEMFD_CREATE.invokeExact(state, a.allocateFrom(name), MFD_CLOEXEC | MFD_ALLOW_SEALING);
            if (fd < 0) return -(int) ERRNO.get(state, 0L);
            int rc = (int) FALLOCATE.invokeExact(state, fd, 0, 0L, size);
            if (rc == 0) return fd;
            int err = (int) ERRNO.get(state, 0L);
            int ignored = (int) CLOSE.invokeExact(fd);
            return -err;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /**
     * {@code fcntl(fd, cmd, arg)} for the int commands Fable uses ({@code F_ADD_SEALS}, {@code F_GET_SEALS}).
     *
     * @return the call's result (>= 0), or minus its errno
     */
    public static int fcntl(int fd, int cmd, int arg) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment state = a.allocate(CALL_STATE);
            int rc = (int) FCNTL.invokeExact(state, fd, cmd, arg);
            return rc >= 0 ? rc : -(int) ERRNO.get(state, 0L);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** {@code ftruncate(fd, size)}: 0 or the errno of the failure (EPERM on a memfd sealed against it). */
    public static int ftruncate(int fd, long size) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment state = a.allocate(CALL_STATE);
            int rc = (int) FTRUNCATE.invokeExact(state, fd, size);
            return rc == 0 ? 0 : (int) ERRNO.get(state, 0L);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** The size of the file {@code fd} is open on ({@code lseek(fd, 0, SEEK_END)}), or minus the errno. */
    public static long fileSize(int fd) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment state = a.allocate(CALL_STATE);
            long r = (long) LSEEK.invokeExact(state, fd, 0L, SEEK_END);
            return r >= 0 ? r : -(int) ERRNO.get(state, 0L);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /**
     * {@code open(path, flags | O_CLOEXEC)} of an existing file.
     *
     * @return the descriptor, or minus the errno
     */
    public static int open(String path, int flags) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment state = a.allocate(CALL_STATE);
            int fd = (int) OPEN.invokeExact(state, a.allocateFrom(path), flags | O_CLOEXEC, 0);
            return fd >= 0 ? fd : -(int) ERRNO.get(state, 0L);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /**
     * The lowest descriptor number free now (opens and closes {@code /dev/null}), or -1: the
     * descriptor the next socket of this process will probably get, if no other thread opens one first.
     */
    public static int lowestFreeDescriptor() {
        int fd = open("/dev/null", 0);
        if (fd < 0) return -1;
        close(fd);
        return fd;
    }

    /** {@code close(fd)}; errors ignored (there is nothing to do about them). */
    public static void close(int fd) {
        try {
            int ignored = (int) CLOSE.invokeExact(fd);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /**
     * {@code setsockopt(fd, level, name, &value, 4)} for an int option.
     *
     * @return 0 or the errno of the failure
     */
    public static int setIntOption(int fd, int level, int name, int value) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment state = a.allocate(CALL_STATE);
            MemorySegment v = a.allocateFrom(JAVA_INT, value);
            int rc = (int) SETSOCKOPT.invokeExact(state, fd, level, name, v, 4);
            return rc == 0 ? 0 : (int) ERRNO.get(state, 0L);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /**
     * {@code getsockopt(fd, level, name, ...)} for an int option.
     *
     * @return the option's value (all the options Fable reads are non-negative), or minus the errno of the failure
     */
    public static long intOption(int fd, int level, int name) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment state = a.allocate(CALL_STATE);
            MemorySegment v = a.allocate(JAVA_INT);
            MemorySegment len = a.allocateFrom(JAVA_INT, 4);
            int rc = (int) GETSOCKOPT.invokeExact(state, fd, level, name, v, len);
            return rc == 0 ? v.get(JAVA_INT, 0) : -(int) ERRNO.get(state, 0L);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /**
     * {@code getsockopt(fd, IPPROTO_TCP, TCP_INFO, out, &len)} into {@code out} (at most its size).
     *
     * @return the bytes the kernel filled in, or minus the errno of the failure
     */
    public static int tcpInfo(int fd, MemorySegment out) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment state = a.allocate(CALL_STATE);
            MemorySegment len = a.allocateFrom(JAVA_INT, (int) Math.min(Integer.MAX_VALUE, out.byteSize()));
            int rc = (int) GETSOCKOPT.invokeExact(state, fd, IPPROTO_TCP, TCP_INFO, out, len);
            return rc == 0 ? len.get(JAVA_INT, 0) : -(int) ERRNO.get(state, 0L);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /**
     * True if {@code fd} is a stream socket bound to {@code local} and connected to {@code remote}
     * ({@code getsockname}, {@code getpeername}; IPv4-mapped IPv6 addresses count as IPv4, as Java
     * reports them). In one network namespace no other socket of that type has the same pair.
     */
    public static boolean isStreamSocket(int fd, InetSocketAddress local, InetSocketAddress remote) {
        return remote.equals(socketAddress(fd, true)) && local.equals(socketAddress(fd, false))
                && intOption(fd, SOL_SOCKET, SO_TYPE) == SOCK_STREAM;
    }

    /** Bytes of the scratch memory {@link #socketPort} takes. */
    public static final int SOCKET_PORT_SCRATCH = 136;

    /**
     * The port {@code fd} is connected to ({@code peer}: {@code getpeername}) or bound to, or -1 if
     * it is no IPv4/IPv6 socket (or, for {@code peer}, not connected). {@code scratch}
     * ({@link #SOCKET_PORT_SCRATCH} bytes) is the caller's, so that a scan over every descriptor
     * of the process makes no arena per descriptor; the full address is for {@link #isStreamSocket}.
     */
    public static int socketPort(int fd, boolean peer, MemorySegment scratch) {
        try {
            MemorySegment addr = scratch.asSlice(0, 128);
            MemorySegment len = scratch.asSlice(128, 4);
            len.set(JAVA_INT, 0, 128);
            int rc = peer ? (int) GETPEERNAME.invokeExact(fd, addr, len) : (int) GETSOCKNAME.invokeExact(fd, addr, len);
            if (rc != 0) return -1;
            int family = Short.toUnsignedInt(addr.get(JAVA_SHORT, 0));
            if (family != AF_INET && family != AF_INET6) return -1;
            return ((addr.get(JAVA_BYTE, 2) & 0xff) << 8) | (addr.get(JAVA_BYTE, 3) & 0xff);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /**
     * The address {@code fd} is connected to ({@code peer}: {@code getpeername}) or bound to
     * ({@code getsockname}), or null if it is no IPv4/IPv6 socket or not connected.
     */
    public static InetSocketAddress socketAddress(int fd, boolean peer) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment addr = a.allocate(128);   // sockaddr_storage
            MemorySegment len = a.allocateFrom(JAVA_INT, 128);
            int rc = peer ? (int) GETPEERNAME.invokeExact(fd, addr, len) : (int) GETSOCKNAME.invokeExact(fd, addr, len);
            return rc == 0 ? inet(addr) : null;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** A {@code sockaddr_in} or {@code sockaddr_in6} as Java sees it, or null for another family. */
    private static InetSocketAddress inet(MemorySegment sa) throws UnknownHostException {
        int family = Short.toUnsignedInt(sa.get(JAVA_SHORT, 0));
        int port = ((sa.get(JAVA_BYTE, 2) & 0xff) << 8) | (sa.get(JAVA_BYTE, 3) & 0xff);
        byte[] ip;
        if (family == AF_INET) ip = sa.asSlice(4, 4).toArray(JAVA_BYTE);
        else if (family == AF_INET6) ip = sa.asSlice(8, 16).toArray(JAVA_BYTE);
        else return null;
        return new InetSocketAddress(InetAddress.getByAddress(ip), port);   // a v4-mapped v6 address comes back as IPv4
    }

    /** {@code strerror(errno)} alone, as the JDK puts it into an {@code IOException}'s message. */
    public static String strerrorText(int errno) {
        try {
            MemorySegment s = (MemorySegment) STRERROR.invokeExact(errno);
            return s.reinterpret(256).getString(0);
        } catch (Throwable t) {
            return "errno " + errno;
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
