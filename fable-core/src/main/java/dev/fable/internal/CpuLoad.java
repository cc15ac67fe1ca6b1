package dev.fable.internal;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * How busy a CPU was and how much of that was the calling thread, read from {@code /proc/stat} and
 * the thread's CPU clock with raw system calls into a buffer of this object's (no
 * allocation after construction). One object per thread ({@link #forThisThread()}): each read costs
 * a few system calls (about 10-30 µs), so callers read at most every 100 ms, and only while they wait.
 */
public final class CpuLoad {
    private static final long SYS_READ = 0, SYS_CLOSE = 3, SYS_OPENAT = 257, SYS_CLOCK_GETTIME = 228;
    private static final long CLOCK_THREAD_CPUTIME_ID = 3;
    private static final long AT_FDCWD = -100;
    /** {@code /proc/stat} counts in USER_HZ ticks, which the Linux ABI fixes at 100 per second on every architecture we run on. */
    private static final long NANOS_PER_TICK = 10_000_000L;
    /** The cpu lines come first in /proc/stat: 64 KiB holds them for about 600 CPUs. */
    private static final int BUFFER = 64 * 1024;

    private static final MemorySegment PROC_STAT = Arena.global().allocateFrom("/proc/stat");
    private static final ThreadLocal<CpuLoad> PER_THREAD = ThreadLocal.withInitial(CpuLoad::new);

    private final MemorySegment buffer = Arena.ofAuto().allocate(BUFFER);
    private final MemorySegment path = Arena.ofAuto().allocate(64);   // "/proc/<pid>/task/<tid>/schedstat", NUL-terminated

    private CpuLoad() {}

    /** The calling thread's reader (made at its first call). */
    public static CpuLoad forThisThread() {
        return PER_THREAD.get();
    }

    /** Time CPU {@code cpu} spent running anything (user, nice, system, irq, softirq, steal) since boot, in ns; -1 if unreadable. */
    public long cpuBusyNanos(int cpu) {
        int n = readFile(PROC_STAT);
        if (n <= 0 || cpu < 0) return -1;
        // find the line "cpu<N> " at the start of a line
        int i = 0;
        while (i < n) {
            if (byteAt(i) == 'c' && i + 3 < n && byteAt(i + 1) == 'p' && byteAt(i + 2) == 'u' && isDigit(byteAt(i + 3))) {
                int j = i + 3;
                long id = 0;
                while (j < n && isDigit(byteAt(j))) id = id * 10 + (byteAt(j++) - '0');
                if (id == cpu) return busyOfLine(j, n);
            }
            while (i < n && byteAt(i) != '\n') i++;
            i++;
        }
        return -1;
    }

    /**
     * Run time of thread {@code tid} of process {@code pid} since it started, in ns (the first field of
     * {@code /proc/<pid>/task/<tid>/schedstat}, brought up to date at each of its context switches: a
     * thread that keeps the CPU is under-counted until it lets go); -1 if unreadable (no such thread,
     * another user's process). Both numbers are validated here, as they may come from a peer.
     */
    public long threadRunNanos(long pid, int tid) {
        if (pid <= 0 || pid > Integer.MAX_VALUE || tid <= 0) return -1;
        int at = put(0, "/proc/");
        at = putNumber(at, pid);
        at = put(at, "/task/");
        at = putNumber(at, tid);
        at = put(at, "/schedstat");
        path.set(JAVA_BYTE, at, (byte) 0);
        int n = readFile(path);
        long v = 0;
        int i = 0;
        while (i < n && isDigit(byteAt(i))) v = v * 10 + (byteAt(i++) - '0');
        return i == 0 ? -1 : v;
    }

    private int put(int at, String ascii) {
        for (int i = 0; i < ascii.length(); i++) path.set(JAVA_BYTE, at++, (byte) ascii.charAt(i));
        return at;
    }

    private int putNumber(int at, long v) {
        int digits = 1;
        for (long x = v; x >= 10; x /= 10) digits++;
        for (int i = digits - 1; i >= 0; i--, v /= 10) path.set(JAVA_BYTE, at + i, (byte) ('0' + v % 10));
        return at + digits;
    }

    /**
     * Run time of the calling thread since it started, in ns ({@code clock_gettime(CLOCK_THREAD_CPUTIME_ID)},
     * which brings a running thread's account up to date; {@code /proc/thread-self/schedstat} does not, and
     * under-counts a thread that spins without a break); -1 if unreadable.
     */
    public long threadRunNanos() {
        if (Libc.syscall6(SYS_CLOCK_GETTIME, CLOCK_THREAD_CPUTIME_ID, buffer.address(), 0, 0, 0, 0) != 0) return -1;
        return buffer.get(JAVA_LONG, 0) * 1_000_000_000L + buffer.get(JAVA_LONG, 8);
    }

    /** Fields after "cpuN": user nice system idle iowait irq softirq steal …; busy = all but idle and iowait. */
    private long busyOfLine(int from, int n) {
        long busy = 0;
        int field = 0, i = from;
        while (i < n && byteAt(i) != '\n' && field < 8) {
            while (i < n && byteAt(i) == ' ') i++;
            long v = 0;
            boolean any = false;
            while (i < n && isDigit(byteAt(i))) {
                v = v * 10 + (byteAt(i++) - '0');
                any = true;
            }
            if (!any) break;
            if (field != 3 && field != 4) busy += v;   // 3 idle, 4 iowait
            field++;
        }
        return field < 4 ? -1 : busy * NANOS_PER_TICK;
    }

    private int readFile(MemorySegment path) {
        int fd = (int) Libc.syscall6(SYS_OPENAT, AT_FDCWD, path.address(), Libc.O_RDONLY | Libc.O_CLOEXEC, 0, 0, 0);
        if (fd < 0) return -1;
        try {
            long total = 0;
            while (total < BUFFER) {
                long r = Libc.syscall6(SYS_READ, fd, buffer.address() + total, BUFFER - total, 0, 0, 0);
                if (r <= 0) break;
                total += r;
            }
            return (int) total;
        } finally {
            Libc.syscall6(SYS_CLOSE, fd, 0, 0, 0, 0, 0);
        }
    }

    private byte byteAt(int i) {
        return buffer.get(JAVA_BYTE, i);
    }

    private static boolean isDigit(byte b) {
        return b >= '0' && b <= '9';
    }
}
