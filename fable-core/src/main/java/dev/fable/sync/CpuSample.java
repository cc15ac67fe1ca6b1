package dev.fable.sync;

import dev.fable.internal.FieldHandles;
import dev.fable.internal.Libc;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.TimeUnit;

/**
 * Where one role of a connection (its sending or its receiving thread) last waited: the CPU
 * ({@code sched_getcpu}, no system call) and when. The daemon's contention policy compares the two
 * ends of a spinning shared-memory connection with it (docs/reconfiguration.md, Contention).
 *
 * <p>Written only while the role's thread waits, and then rarely: on every {@value #TICKS_PER_SAMPLE}th
 * {@link #tick()} (an empty poll, a full ring), every {@value #SPINS_PER_SAMPLE}th spin of a {@link Waiter}, and after
 * every futex sleep. A busy channel never reaches it.
 *
 * <p>Ownership: the role's thread writes; any thread reads ({@link #cpu}). Two application threads
 * sharing one role (which the API forbids) would at worst lose samples: each store is one opaque
 * 64-bit write of a whole sample, never torn.
 */
public final class CpuSample {
    /** Empty polls or full-ring claims between two samples. */
    public static final int TICKS_PER_SAMPLE = 1024;
    /** Spins of a waiting thread between two samples (a spin is one PAUSE: about 0.5-1 ms in all). */
    public static final int SPINS_PER_SAMPLE = 1 << 14;

    private static final VarHandle WORD = FieldHandles.of(MethodHandles.lookup(), "word", long.class);

    /** Time in units of 2^20 ns (about a millisecond), modulo 2^47, so that it fits above the CPU. */
    private static final long TIME_MASK = (1L << 47) - 1;

    /** time << 16 | cpu + 1; 0: never sampled. */
    private long word;
    private int ticks;   // plain: the role's thread only (a lost increment only delays a sample)

    /** One empty poll or full-ring claim: samples every {@value #TICKS_PER_SAMPLE}th time. */
    public void tick() {
        if ((++ticks & (TICKS_PER_SAMPLE - 1)) == 0) take();
    }

    /** Samples now: the role's thread is waiting, so the cost (about 10 ns) is spent in a wait. */
    public void take() {
        int cpu = Libc.currentCpu();
        if (cpu < 0 || cpu > 0xFFFE) return;
        WORD.setOpaque(this, ((System.nanoTime() >> 20) & TIME_MASK) << 16 | (cpu + 1));   // opaque: a whole sample for the reporting thread, no ordering needed
    }

    /** The CPU of the last sample if it was taken within {@code maxAgeNanos}, else -1 (the role did not wait lately). */
    public int cpu(long maxAgeNanos) {
        long w = (long) WORD.getOpaque(this);   // opaque: a whole sample written by the role's thread
        if (w == 0) return -1;
        long ageTicks = (((System.nanoTime() >> 20) & TIME_MASK) - (w >>> 16)) & TIME_MASK;   // modular: wraps with the mask
        if (ageTicks > (maxAgeNanos >> 20)) return -1;
        return (int) (w & 0xFFFF) - 1;
    }

    /** How recent a sample {@link #cpu(long)} reports by default: a little more than two policy periods. */
    public static final long FRESH_NANOS = TimeUnit.MILLISECONDS.toNanos(500);
}
