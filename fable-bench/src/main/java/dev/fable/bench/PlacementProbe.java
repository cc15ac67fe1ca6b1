package dev.fable.bench;

import dev.fable.sync.ThreadAffinity;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.VarHandle;
import java.util.Arrays;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * Measures where the host put our two vCPUs: two threads pinned to the two CPUs bounce one cache
 * line (each waits for the other's value, then writes its own), for about 20 ms. The round-trip
 * time is about 110-200 ns when the vCPUs are near, 350-600+ ns when far; every cross-core result
 * is printed next to it, because it moves every such figure 3-4x.
 */
public final class PlacementProbe {
    private PlacementProbe() {}

    private static final VarHandle LONG = JAVA_LONG.varHandle();
    public static final double NEAR_LIMIT_NS = 250;

    /** Median round trip (ns) over batches of 2,000 round trips, for about {@code millis} ms. */
    public static double roundTripNanos(int cpuA, int cpuB, long millis) {
        double[] result = new double[1];
        Thread t = Thread.ofPlatform().start(() -> result[0] = measure(cpuA, cpuB, millis));   // the caller stays unpinned
        try {
            t.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return result[0];
    }

    private static double measure(int cpuA, int cpuB, long millis) {
        try (Arena arena = Arena.ofShared()) {
            MemorySegment line = arena.allocate(128, 128);
            int batches = 0;
            double[] samples = new double[4096];
            long end = System.nanoTime() + millis * 1_000_000L;
            Thread echo = Thread.ofPlatform().daemon().start(() -> {
                ThreadAffinity.pin(cpuB);
                long v = 0;
                while (v >= 0) {
                    long seen;
                    while (((seen = (long) LONG.getAcquire(line, 0L)) & 1) == 0) Thread.onSpinWait();   // acquire: the ping
                    v = seen < 0 ? -1 : seen + 1;
                    LONG.setRelease(line, 0L, seen < 0 ? -2 : v);   // release: the pong
                }
            });
            ThreadAffinity.pin(cpuA);
            long v = 0;
            while ((batches < 3 || System.nanoTime() < end) && batches < samples.length) {   // at least 3 batches
                long t0 = System.nanoTime();
                for (int i = 0; i < 2000; i++) {
                    LONG.setRelease(line, 0L, v + 1);                       // release: ping
                    while ((long) LONG.getAcquire(line, 0L) != v + 2) Thread.onSpinWait();   // acquire: pong
                    v += 2;
                }
                samples[batches++] = (System.nanoTime() - t0) / 2000.0;
            }
            LONG.setRelease(line, 0L, -1L);   // odd and negative: tells the echo thread to stop
            try {
                echo.join(1000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            double[] s = Arrays.copyOf(samples, batches);
            Arrays.sort(s);
            return s[s.length / 2];
        }
    }

    public static String label(double before, double after) {
        boolean nb = before < NEAR_LIMIT_NS, na = after < NEAR_LIMIT_NS;
        return nb && na ? "near" : !nb && !na ? "far" : "mixed";
    }
}
