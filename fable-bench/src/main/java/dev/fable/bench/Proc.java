package dev.fable.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** What /proc says about the machine (busy and steal jiffies, 100 per second) and about a process (its CPU time). */
final class Proc {
    private Proc() {}

    /** Busy jiffies of all CPUs: user, nice, system, irq, softirq. */
    static long busyJiffies() {
        long[] f = cpuLine();
        return f[1] + f[2] + f[3] + f[6] + f[7];
    }

    /** Steal jiffies of all CPUs: time our vCPUs wanted to run but the host ran someone else. */
    static long stealJiffies() {
        return cpuLine()[8];
    }

    private static long[] cpuLine() {
        long[] v = new long[11];
        try {
            String[] f = Files.readAllLines(Path.of("/proc/stat")).getFirst().trim().split("\\s+");
            for (int i = 1; i < Math.min(f.length, v.length); i++) v[i] = Long.parseLong(f[i]);
        } catch (IOException | RuntimeException e) {
            // no /proc: the quiet check reads zero
        }
        return v;
    }

    /** utime + stime of a live process (ns, in ticks of 10 ms); 0 if it is gone. */
    static long cpuNanos(long pid) {
        try {
            String st = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
            String[] f = st.substring(st.lastIndexOf(')') + 2).split(" ");
            return (Long.parseLong(f[11]) + Long.parseLong(f[12])) * 10_000_000L;
        } catch (IOException | RuntimeException e) {
            return 0;
        }
    }
}
