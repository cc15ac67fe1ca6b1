package dev.fable.sync;

import dev.fable.WaitMode;

/**
 * Spin-then-park on a {@link Tripwire} until a condition holds: the blocking conveniences of the
 * API are built on this, never the other way round. Allocation-free; time is read every 64 spins
 * (a {@code System.nanoTime()} costs as much as a spin here).
 */
public final class Waiter {
    private Waiter() {}

    /** Deadline meaning "wait without limit". */
    public static final long FOREVER = Long.MAX_VALUE;

    /** The thing waited for; implementations must be cheap, side-effect free and allocation-free. */
    @FunctionalInterface
    public interface Condition {
        boolean met();
    }

    /**
     * The spinning phase of a wait: polls {@code c} (every {@code spinsPerCheck} spins, a power of two)
     * until it holds, the spin budget of {@code mode} is spent, or {@code deadline} passes. SPIN spins
     * until the deadline; BLOCK does not spin. Returns true when the condition holds.
     */
    public static boolean spin(Condition c, WaitMode mode, long spinNanos, long deadline, int spinsPerCheck) {
        return spin(c, mode, spinNanos, deadline, spinsPerCheck, null);
    }

    /** As {@link #spin(Condition, WaitMode, long, long, int)}, recording the waiting thread's CPU in {@code sample} (may be null) now and then. */
    public static boolean spin(Condition c, WaitMode mode, long spinNanos, long deadline, int spinsPerCheck, CpuSample sample) {
        if (c.met()) return true;
        if (mode == WaitMode.BLOCK) return false;
        int checkMask = spinsPerCheck - 1;
        long spinEnd = mode == WaitMode.SPIN ? deadline : Math.min(deadline, System.nanoTime() + spinNanos);
        for (int i = 1; ; i++) {
            if ((i & checkMask) == 0 && c.met()) return true;
            Thread.onSpinWait();
            if ((i & (CpuSample.SPINS_PER_SAMPLE - 1)) == 0 && sample != null) sample.take();
            if ((i & 63) == 0 && spinEnd != FOREVER && System.nanoTime() - spinEnd >= 0) return c.met();
        }
    }

    /** True once {@code deadline} ({@link #deadline}) has passed; never for {@link #FOREVER}. */
    public static boolean expired(long deadline) {
        return deadline != FOREVER && System.nanoTime() - deadline >= 0;
    }

    /** Converts a timeout to a deadline for {@link #await}. */
    public static long deadline(long timeoutNanos) {
        if (timeoutNanos < 0) return FOREVER;
        long now = System.nanoTime();
        long d = now + timeoutNanos;
        return d - now < 0 ? FOREVER : d;   // overflow: treat as forever
    }

    /**
     * Waits until {@code c} holds or {@code deadline} passes.
     *
     * @return true when the condition holds
     */
    public static boolean await(Tripwire wire, Condition c, WaitMode mode, long spinNanos, long deadline) {
        return await(wire, c, mode, spinNanos, deadline, 1);
    }

    /**
     * As {@link #await(Tripwire, Condition, WaitMode, long, long)}, but while spinning the condition is
     * evaluated only every {@code spinsPerCheck} spins (a power of two). Waiting for the peer to
     * release space uses 32: re-reading the peer's register on every spin would pull its cache line
     * away once per message and slow the very peer we wait for; checking every ~1 µs lets it release
     * a batch in the meantime.
     */
    public static boolean await(Tripwire wire, Condition c, WaitMode mode, long spinNanos, long deadline, int spinsPerCheck) {
        return await(wire, c, mode, spinNanos, deadline, spinsPerCheck, null);
    }

    /**
     * As {@link #await(Tripwire, Condition, WaitMode, long, long, int)}, recording the waiting thread's
     * CPU in {@code sample} (may be null) while it spins and after every sleep: the contention policy's input.
     */
    public static boolean await(Tripwire wire, Condition c, WaitMode mode, long spinNanos, long deadline, int spinsPerCheck,
                                CpuSample sample) {
        if (spin(c, mode, spinNanos, deadline, spinsPerCheck, sample)) return true;
        if (mode == WaitMode.SPIN) return false;
        return sleep(wire, c, deadline, sample, mode == WaitMode.BLOCK);
    }

    /**
     * As {@link #await(Tripwire, Condition, WaitMode, long, long, int, CpuSample)}; an {@code ADAPTIVE}
     * wait takes its spin budget from {@code adaptive} (which may say: sleep at once) and tells it how
     * the spin went. Other modes ignore {@code adaptive}.
     */
    public static boolean await(Tripwire wire, Condition c, WaitMode mode, long spinNanos, long deadline, int spinsPerCheck,
                                CpuSample sample, AdaptiveSpin adaptive) {
        if (mode != WaitMode.ADAPTIVE || adaptive == null) return await(wire, c, mode, spinNanos, deadline, spinsPerCheck, sample);
        if (c.met()) return true;
        long budget = adaptive.beforeWait();
        if (budget > 0) {
            int how = spinFor(c, budget, deadline, spinsPerCheck, sample);
            adaptive.afterSpin(how == MET, how == PREEMPTED);
            if (how == MET || c.met()) return true;
        } else {
            long yield = adaptive.yieldBudget();
            if (yield > 0) {
                int how = yieldFor(c, yield, deadline);
                adaptive.afterYield(how == PREEMPTED);
                if (how == MET) return true;
            }
        }
        return sleep(wire, c, deadline, sample, budget == 0);
    }

    private static final int MET = 0, RAN_OUT = 1, PREEMPTED = 2;

    /**
     * Hands the CPU to a peer that runs on it ({@code sched_yield}) until {@code c} holds (MET), the
     * budget or the deadline is spent (RAN_OUT), or a yield comes back late with nothing to show
     * (PREEMPTED: a third thread had the CPU for a time slice; behind such a thread a yield waits out
     * its slice, while a futex wake-up preempts it).
     */
    private static int yieldFor(Condition c, long budget, long deadline) {
        long last = System.nanoTime();
        long end = deadline == FOREVER ? last + budget : Math.min(deadline, last + budget);
        while (true) {
            Thread.yield();
            if (c.met()) return MET;
            long now = System.nanoTime();
            if (AdaptiveSpin.preempted(last, now)) return PREEMPTED;
            if (now - end >= 0) return RAN_OUT;
            last = now;
        }
    }

    /** An adaptive spin: MET, RAN_OUT (budget or deadline spent) or PREEMPTED (the clock jumped between two looks). */
    private static int spinFor(Condition c, long budget, long deadline, int spinsPerCheck, CpuSample sample) {
        int checkMask = spinsPerCheck - 1;
        long last = System.nanoTime();
        long spinEnd = deadline == FOREVER ? last + budget : Math.min(deadline, last + budget);
        for (int i = 1; ; i++) {
            if ((i & checkMask) == 0 && c.met()) return MET;
            Thread.onSpinWait();
            if ((i & (CpuSample.SPINS_PER_SAMPLE - 1)) == 0 && sample != null) sample.take();
            if ((i & 63) == 0) {
                long now = System.nanoTime();
                if (AdaptiveSpin.preempted(last, now)) return PREEMPTED;
                if (now - spinEnd >= 0) return c.met() ? MET : RAN_OUT;
                last = now;
            }
        }
    }

    /**
     * The sleeping phase: arm, re-check, sleep on the futex until the condition holds or the deadline
     * passes. {@code everyWait}: this side sleeps at every wait now (blocking mode, or an adaptive
     * decision to sleep at once), so it asks the signaller to fence its signals and spares itself the
     * heavy fence ({@link Tripwire}, "fenced signals"); otherwise it withdraws that request.
     */
    private static boolean sleep(Tripwire wire, Condition c, long deadline, CpuSample sample, boolean everyWait) {
        wire.requestFencedSignals(everyWait);
        while (true) {
            long remaining = -1;
            if (deadline != FOREVER) {
                remaining = deadline - System.nanoTime();
                if (remaining <= 0) return c.met();
            }
            wire.arm();
            if (c.met()) {
                wire.disarm();
                return true;
            }
            wire.sleep(remaining);
            wire.disarm();
            if (sample != null) sample.take();   // after a system call anyway: where the scheduler woke us
            if (c.met()) return true;
        }
    }
}
