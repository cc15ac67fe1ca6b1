package dev.fable.sync;

import dev.fable.internal.Libc;

import java.lang.invoke.VarHandle;

/**
 * The store-load ordering a spin-then-park handshake needs, paid by the side that is about to
 * sleep instead of on every message (asymmetric Dekker, as in user-space RCU and io_uring's SQPOLL).
 *
 * <p>The handshake: a waiter raises its parked flag, then re-reads the shared word it waits for; a
 * signaller publishes the word, then reads the parked flag. Each side needs StoreLoad ordering, or
 * both may read stale values and the waiter sleeps through the signal. A full fence on every commit
 * would serialise the producer's stores on their cache misses (measured: 64 B throughput falls by
 * more than half), so the waiter calls {@code membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED)}, which
 * forces a full barrier on every CPU running a thread of a registered process, and the signaller's
 * {@link #light()} is only a compiler barrier. Processes register once, at class initialisation.
 * Where membarrier is unavailable (old kernel, seccomp) {@link #light()} becomes a real full fence;
 * each process knows whether it registered, and only its own registration matters for its signals.
 */
public final class AsymmetricFence {
    private AsymmetricFence() {}

    private static final long MEMBARRIER_CMD_QUERY = 0;
    private static final long MEMBARRIER_CMD_GLOBAL_EXPEDITED = 1 << 1;
    private static final long MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED = 1 << 2;

    /** True when this process is registered, so peers' {@link #heavy()} fences our threads. */
    public static final boolean REGISTERED;
    /** True when {@link #heavy()} can fence other processes' CPUs. */
    private static final boolean EXPEDITED;

    static {
        boolean registered = false, expedited = false;
        if (!dev.fable.internal.Settings.getBoolean("fable.noMembarrier", false)) {
            long mask = Libc.syscall6(Libc.SYS_MEMBARRIER, MEMBARRIER_CMD_QUERY, 0, 0, 0, 0, 0);
            if (mask > 0 && (mask & MEMBARRIER_CMD_GLOBAL_EXPEDITED) != 0
                    && (mask & MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED) != 0) {
                expedited = true;
                registered = Libc.syscall6(Libc.SYS_MEMBARRIER, MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED, 0, 0, 0, 0, 0) == 0;
            }
        }
        REGISTERED = registered;
        EXPEDITED = expedited;
    }

    /**
     * Signaller side, between publishing a word and reading the peer's parked flag. With
     * membarrier this emits no instruction on x86-64 but keeps the JIT from hoisting the load above
     * the store (every fence is a full compiler barrier in HotSpot); without it, a full fence.
     */
    public static void light() {
        if (REGISTERED) {
            VarHandle.acquireFence();
        } else {
            VarHandle.fullFence();
        }
    }

    private static final java.util.concurrent.atomic.LongAdder HEAVY = new java.util.concurrent.atomic.LongAdder();

    /** Heavy fences this process issued so far (each a system call where membarrier is available). */
    public static long heavyFences() {
        return HEAVY.sum();
    }

    /** Waiter side, between raising the parked flag and re-reading the word. Costs a system call. */
    public static void heavy() {
        HEAVY.increment();
        VarHandle.fullFence();
        if (EXPEDITED) {
            Libc.syscall6(Libc.SYS_MEMBARRIER, MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0, 0, 0, 0, 0);
        }
    }
}
