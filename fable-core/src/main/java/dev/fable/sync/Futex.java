package dev.fable.sync;

import dev.fable.internal.Libc;

import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * {@code futex(2)} on a 32-bit word in memory shared between processes.
 *
 * <p>The futexes are <em>non-private</em> (no {@code FUTEX_PRIVATE_FLAG}): the word lives in a
 * {@code /dev/shm} mapping and the waker is another process. Wait and wake are system calls (about
 * measured in docs/BENCHMARKS.md), so callers only make them when a peer has advertised that it sleeps.
 */
public final class Futex {
    private Futex() {}

    private static final long FUTEX_WAIT = 0;
    private static final long FUTEX_WAKE = 1;

    /**
     * Sleeps while the word at {@code address} still holds {@code expected}.
     *
     * @param timeoutNanos relative timeout, or a negative value to wait without limit
     * @param timespec     16 writable bytes owned by the calling thread (for the timeout)
     * @return the raw result; the caller re-checks its condition in every case (woken, EAGAIN,
     * ETIMEDOUT, EINTR and spurious wake-ups all look alike to it)
     */
    public static long await(long address, int expected, long timeoutNanos, MemorySegment timespec) {
        long ts = 0;
        if (timeoutNanos >= 0) {
            timespec.set(JAVA_LONG, 0L, timeoutNanos / 1_000_000_000L);   // plain: private scratch
            timespec.set(JAVA_LONG, 8L, timeoutNanos % 1_000_000_000L);   // plain: private scratch
            ts = timespec.address();
        }
        return Libc.syscall6(Libc.SYS_FUTEX, address, FUTEX_WAIT, expected & 0xFFFF_FFFFL, ts, 0, 0);
    }

    /** Wakes up to {@code count} sleepers on the word at {@code address}. */
    public static long wake(long address, int count) {
        return Libc.syscall6(Libc.SYS_FUTEX, address, FUTEX_WAKE, count, 0, 0, 0);
    }
}
