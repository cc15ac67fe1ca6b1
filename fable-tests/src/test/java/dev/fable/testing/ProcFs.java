package dev.fable.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What the kernel says about a process or thread ({@code /proc}, Linux only): CPU time, how often a
 * thread was scheduled, the system call a thread sits in, and the files a process has mapped. Used by
 * tests that are about processes.
 */
public final class ProcFs {
    private ProcFs() {}

    /** {@code sysconf(_SC_CLK_TCK)}: 100 on every Linux ABI this project targets. */
    public static final long CLOCK_TICKS_PER_SECOND = 100;

    private static final long SYS_FUTEX = 202;
    private static final long FUTEX_WAIT = 0;   // no FUTEX_PRIVATE_FLAG: Fable's cross-process futexes

    /** The kernel thread id of the calling thread. */
    public static long currentTid() {
        try {
            return Long.parseLong(Files.readSymbolicLink(Path.of("/proc/thread-self")).getFileName().toString());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * True while thread {@code tid} of {@code pid} is asleep in {@code futex(FUTEX_WAIT)} on a shared
     * (non-private) word, which is how Fable's waiters sleep. The JVM's own waits (monitors, parking,
     * VM locks) use private futexes, so they do not match.
     */
    public static boolean inSharedFutexWait(long pid, long tid) {
        String s;
        try {
            s = Files.readString(Path.of("/proc", Long.toString(pid), "task", Long.toString(tid), "syscall")).trim();
        } catch (NoSuchFileException e) {
            return false;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        String[] f = s.split(" ");
        if (f.length < 3 || !f[0].equals(Long.toString(SYS_FUTEX))) return false;
        return Long.decode(f[2]) == FUTEX_WAIT;
    }

    /**
     * The scheduler state of thread {@code tid} of {@code pid} (field 3 of its {@code stat}): 'R' running
     * or waiting for a CPU, 'S' asleep, 'D' in uninterruptible sleep, ...; '?' if the thread is gone.
     */
    public static char threadState(long pid, long tid) {
        String stat;
        try {
            stat = Files.readString(Path.of("/proc", Long.toString(pid), "task", Long.toString(tid), "stat"));
        } catch (NoSuchFileException e) {
            return '?';
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return stat.charAt(stat.lastIndexOf(')') + 2);   // "tid (comm) S ...": comm may contain ')' and spaces
    }

    /** CPU time of thread {@code tid} of {@code pid} in nanoseconds (first field of its {@code schedstat}). */
    public static long threadCpuNanos(long pid, long tid) {
        try {
            return Long.parseLong(Files.readString(Path.of("/proc", Long.toString(pid), "task", Long.toString(tid), "schedstat"))
                    .trim().split(" ")[0]);
        } catch (IOException e) {
            throw new UncheckedIOException("thread " + tid + " of process " + pid, e);
        }
    }

    /** Raw contents of {@code /proc/<pid>/task/<tid>/syscall}, for failure messages. */
    public static String syscall(long pid, long tid) {
        try {
            return Files.readString(Path.of("/proc", Long.toString(pid), "task", Long.toString(tid), "syscall")).trim();
        } catch (IOException e) {
            return e.toString();
        }
    }

    /**
     * User plus system CPU time of the whole process (all threads, dead ones included) from
     * {@code /proc/<pid>/stat}, in nanoseconds; the kernel reports it in clock ticks (10 ms).
     */
    public static long processCpuNanos(long pid) {
        String stat;
        try {
            stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        // "pid (comm) state ppid ...": comm may contain spaces, so split after the last ')'.
        String[] f = stat.substring(stat.lastIndexOf(')') + 2).trim().split(" ");
        long ticks = Long.parseLong(f[11]) + Long.parseLong(f[12]);   // fields 14 (utime) and 15 (stime)
        return ticks * (1_000_000_000L / CLOCK_TICKS_PER_SECOND);
    }

    /**
     * CPU time of the process's live threads in nanoseconds (sum of {@code /proc/<pid>/task/* /schedstat}):
     * exact to the nanosecond, but a thread that exits takes its time with it.
     */
    public static long liveThreadsCpuNanos(long pid) {
        long sum = 0;
        try (DirectoryStream<Path> tasks = Files.newDirectoryStream(Path.of("/proc", Long.toString(pid), "task"))) {
            for (Path t : tasks) {
                try {
                    sum += Long.parseLong(Files.readString(t.resolve("schedstat")).trim().split(" ")[0]);
                } catch (NoSuchFileException gone) {
                    // the thread exited while we listed
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return sum;
    }

    /**
     * CPU time in nanoseconds of the thread of {@code pid} whose kernel name ({@code comm}, the JVM sets
     * it to the first 15 characters of the Java thread name) is {@code comm}; fails if there is none.
     */
    public static long threadCpuNanos(long pid, String comm) {
        String want = comm.length() > 15 ? comm.substring(0, 15) : comm;
        try (DirectoryStream<Path> tasks = Files.newDirectoryStream(Path.of("/proc", Long.toString(pid), "task"))) {
            for (Path t : tasks) {
                if (Files.readString(t.resolve("comm")).trim().equals(want)) {
                    return Long.parseLong(Files.readString(t.resolve("schedstat")).trim().split(" ")[0]);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        throw new AssertionError("process " + pid + " has no thread named '" + want + "'");
    }

    /**
     * How often a thread was put on a CPU, from the scheduler's counters: the context switches of
     * {@code /proc/<pid>/task/<tid>/status} (voluntary: it blocked or yielded; nonvoluntary: it was
     * preempted) and the third field of {@code schedstat} (times it was given a CPU). Unlike CPU time
     * these do not grow with the load of the host while the thread sleeps: a thread blocked in the
     * kernel is not scheduled at all, however busy the other cores are.
     */
    public record RunCounts(long voluntarySwitches, long involuntarySwitches, long timeslices) {
        /** The counts since {@code before} (a sample of the same thread). */
        public RunCounts since(RunCounts before) {
            return new RunCounts(voluntarySwitches - before.voluntarySwitches, involuntarySwitches - before.involuntarySwitches,
                    timeslices - before.timeslices);
        }

        /** Times the thread ran: the larger of the two views (they differ by the slice in progress). */
        public long runs() {
            return Math.max(timeslices, voluntarySwitches + involuntarySwitches);
        }

        @Override
        public String toString() {
            return runs() + " run(s): " + timeslices + " timeslice(s), " + voluntarySwitches + " voluntary and "
                    + involuntarySwitches + " involuntary context switch(es)";
        }
    }

    /** The {@link RunCounts} of thread {@code tid} of {@code pid}; fails if the thread is gone. */
    public static RunCounts runCounts(long pid, long tid) {
        Path task = Path.of("/proc", Long.toString(pid), "task", Long.toString(tid));
        try {
            return runCounts(task);
        } catch (IOException e) {
            throw new UncheckedIOException("thread " + tid + " of process " + pid, e);
        }
    }

    private static RunCounts runCounts(Path task) throws IOException {
        long voluntary = -1, involuntary = -1;
        for (String line : Files.readAllLines(task.resolve("status"))) {
            if (line.startsWith("voluntary_ctxt_switches:")) voluntary = Long.parseLong(line.substring(line.indexOf(':') + 1).trim());
            if (line.startsWith("nonvoluntary_ctxt_switches:")) involuntary = Long.parseLong(line.substring(line.indexOf(':') + 1).trim());
        }
        if (voluntary < 0 || involuntary < 0) throw new IOException(task + "/status has no context switch counts");
        long slices = Long.parseLong(Files.readString(task.resolve("schedstat")).trim().split(" ")[2]);
        return new RunCounts(voluntary, involuntary, slices);
    }

    /** One thread of a process as {@link #threads} sees it: its kernel name ({@code comm}) and counts. */
    public record ThreadSample(long tid, String comm, RunCounts counts) {}

    /** Every live thread of {@code pid} (tid to sample); threads that exit while listed are left out. */
    public static Map<Long, ThreadSample> threads(long pid) {
        Map<Long, ThreadSample> out = new LinkedHashMap<>();
        try (DirectoryStream<Path> tasks = Files.newDirectoryStream(Path.of("/proc", Long.toString(pid), "task"))) {
            for (Path t : tasks) {
                try {
                    long tid = Long.parseLong(t.getFileName().toString());
                    out.put(tid, new ThreadSample(tid, Files.readString(t.resolve("comm")).trim(), runCounts(t)));
                } catch (NoSuchFileException gone) {
                    // the thread exited while we listed
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out;
    }

    /** The lines of {@code /proc/<pid>/maps} that map a file inside {@code dir}. */
    public static List<String> mappingsUnder(long pid, Path dir) {
        String prefix = dir.toAbsolutePath().normalize() + "/";
        List<String> out = new ArrayList<>();
        try {
            for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid), "maps"))) {
                int slash = line.indexOf('/');
                if (slash >= 0 && line.startsWith(prefix, slash)) out.add(line.substring(slash));
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out;
    }

    private static final String MEMFD = "/memfd:fable-";

    /** {@code /memfd:fable-<pid>-<n>.pool (deleted)} → {@code fable-<pid>-<n>.pool}. */
    private static String memfdName(String path) {
        String name = path.substring("/memfd:".length());
        return name.endsWith(" (deleted)") ? name.substring(0, name.length() - " (deleted)".length()) : name;
    }

    /**
     * The distinct Fable memfds {@code pid} has mapped, by name ({@code fable-<pid>-<n>.pool|ring}), from the
     * {@code /memfd:fable-... (deleted)} lines of its {@code maps}.
     */
    public static java.util.Set<String> memfdMappings(long pid) {
        java.util.Set<String> out = new java.util.TreeSet<>();
        try {
            for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid), "maps"))) {
                int at = line.indexOf(MEMFD);
                if (at >= 0) out.add(memfdName(line.substring(at)));
            }
        } catch (NoSuchFileException e) {
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out;
    }

    /** The Fable memfds {@code pid} holds open descriptors of, by name (its prepared pool, a handshake's pool and ring). */
    public static java.util.Set<String> memfdDescriptors(long pid) {
        java.util.Set<String> out = new java.util.TreeSet<>();
        try (DirectoryStream<Path> fds = Files.newDirectoryStream(Path.of("/proc", Long.toString(pid), "fd"))) {
            for (Path fd : fds) {
                String target;
                try {
                    target = Files.readSymbolicLink(fd).toString();
                } catch (IOException gone) {
                    continue;
                }
                if (target.startsWith(MEMFD)) out.add(memfdName(target));
            }
        } catch (NoSuchFileException e) {
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out;
    }

    /**
     * True once a Unix socket bound at {@code path} is listening ({@code /proc/net/unix}: flags
     * {@code __SO_ACCEPTCON}). The socket file appears at bind(), before listen(): a connect in
     * between is refused.
     */
    public static boolean unixSocketListening(Path path) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/net/unix"))) {
                String[] f = line.trim().split("\\s+");
                if (f.length >= 8 && f[7].equals(path.toString()) && (Integer.parseInt(f[3], 16) & 0x10000) != 0) return true;
            }
            return false;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
