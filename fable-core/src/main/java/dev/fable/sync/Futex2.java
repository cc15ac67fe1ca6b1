package dev.fable.sync;

import dev.fable.internal.Libc;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * {@code futex_waitv(2)} (Linux 5.16+): sleep until any of up to 128 shared 32-bit words changes.
 * One instance per waiting thread; not thread-safe.
 */
public final class Futex2 {
    public static final int MAX_WORDS = 128;
    private static final long FUTEX2_SIZE_U32 = 0x02;
    private static final long CLOCK_MONOTONIC = 1;
    private static final long ENTRY = 24;   // struct futex_waitv { u64 val; u64 uaddr; u32 flags; u32 reserved; }

    private final MemorySegment waiters = Arena.ofAuto().allocate(ENTRY * MAX_WORDS, 8);
    private final MemorySegment timespec = Arena.ofAuto().allocate(16, 8);
    private int count;

    public void clear() {
        count = 0;
    }

    /** Adds a word and the value it must still hold for the sleep to begin. */
    public void add(long address, int expected) {
        if (count == MAX_WORDS) throw new IllegalStateException("futex_waitv waits on at most " + MAX_WORDS + " words");
        long e = count++ * ENTRY;
        waiters.set(JAVA_LONG, e, expected & 0xFFFF_FFFFL);   // plain: private argument block
        waiters.set(JAVA_LONG, e + 8, address);
        waiters.set(JAVA_INT, e + 16, (int) FUTEX2_SIZE_U32);   // shared (non-private) futex
        waiters.set(JAVA_INT, e + 20, 0);
    }

    /**
     * Sleeps until one word changes or is woken, or until {@code deadlineNanos} ({@link System#nanoTime()}
     * scale, which is CLOCK_MONOTONIC on Linux; {@link Waiter#FOREVER} for none). Callers re-check.
     */
    public long await(long deadlineNanos) {
        long ts = 0;
        if (deadlineNanos != Waiter.FOREVER) {
            timespec.set(JAVA_LONG, 0L, deadlineNanos / 1_000_000_000L);
            timespec.set(JAVA_LONG, 8L, deadlineNanos % 1_000_000_000L);
            ts = timespec.address();
        }
        return Libc.syscall6(Libc.SYS_FUTEX_WAITV, waiters.address(), count, 0, ts, CLOCK_MONOTONIC, 0);
    }
}
