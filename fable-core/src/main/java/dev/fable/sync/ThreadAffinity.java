package dev.fable.sync;

import dev.fable.internal.Libc;

/** Pins the calling thread to a CPU (for benchmarks and latency-critical threads); leaves the rest of the JVM alone. */
public final class ThreadAffinity {
    private ThreadAffinity() {}

    /** Pins the calling thread to {@code cpu}; throws if the kernel refuses. */
    public static void pin(int cpu) {
        int err = Libc.pinCurrentThread(cpu);
        if (err != 0) {
            throw new IllegalStateException("cannot pin thread to CPU " + cpu + ": " + Libc.strerror(err));
        }
    }
}
