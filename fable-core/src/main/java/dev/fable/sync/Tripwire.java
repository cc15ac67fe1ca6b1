package dev.fable.sync;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.VarHandle;

import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * A software tripwire: a 32-bit word in shared memory that one side (the signaller) advances and
 * the other (the waiter) may sleep on, plus the waiter's "parked" flag on a cache line of its own.
 *
 * <p>Ownership: the signaller is the only writer of the word; the waiter is the only writer of the
 * flag except for the signaller's compare-and-set {@code g → 0} when it wakes the waiter. One
 * tripwire has at most one waiting thread. A signaller whose peer never parks (spin mode) skips the
 * flag entirely.
 *
 * <p>The flag holds a <em>generation</em>, new for every arming (never 0), not just 1. A signaller
 * delayed between reading the flag and clearing it could otherwise clear a later arming and spend
 * its wake-up before the waiter slept; the next signal would then see no sleeper and the waiter
 * would sleep forever (found by the benchmark: both ends of a blocking ping-pong asleep). With
 * generations the late compare-and-set fails, and the later arming stays advertised.
 */
public final class Tripwire {
    private static final VarHandle INT = JAVA_INT.varHandle();
    private static final java.util.concurrent.atomic.LongAdder SLEEPS = new java.util.concurrent.atomic.LongAdder();
    private static final java.util.concurrent.atomic.LongAdder WAKES = new java.util.concurrent.atomic.LongAdder();

    /** Futex sleeps taken by this process's waiters so far (a busy channel should show none). */
    public static long sleeps() {
        return SLEEPS.sum();
    }

    /** Futex wake-ups issued by this process's signallers so far. */
    public static long wakes() {
        return WAKES.sum();
    }

    private final MemorySegment shared;
    private final long wordOffset;
    private final long parkedOffset;
    private final long wordAddress;
    private final MemorySegment timespec = Arena.ofAuto().allocate(16, 8);
    private int generation;   // waiter side only: the value of the last arming

    /** @param shared a read-write mapping; both offsets 8-byte aligned and on separate cache lines */
    public Tripwire(MemorySegment shared, long wordOffset, long parkedOffset) {
        this.shared = shared;
        this.wordOffset = wordOffset;
        this.parkedOffset = parkedOffset;
        this.wordAddress = shared.address() + wordOffset;
    }

    // ---- waiter side ----

    /** The word's value before arming: pass it to {@link #sleep}. Acquire: pairs with the signaller's release. */
    public int observe() {
        return (int) INT.getAcquire(shared, wordOffset);
    }

    /** Advertises the sleeper, then fences so the caller's re-check cannot miss a concurrent signal. */
    public void arm() {
        armWithoutFence();
        AsymmetricFence.heavy();
    }

    /** Advertises the sleeper without the fence: for waiting on many tripwires, then one {@link AsymmetricFence#heavy()}. */
    public void armWithoutFence() {
        int g = generation + 1;
        generation = g == 0 ? 1 : g;
        INT.setVolatile(shared, parkedOffset, generation);   // volatile: must be visible before the re-check reads
    }

    /** Address of the 32-bit word (for {@code futex_waitv} over many tripwires). */
    public long wordAddress() {
        return wordAddress;
    }

    /** Sleeps while the word still equals {@code observed}; returns on signal, timeout or spuriously. */
    public void sleep(int observed, long timeoutNanos) {
        SLEEPS.increment();
        Futex.await(wordAddress, observed, timeoutNanos, timespec);
    }

    /** Withdraws the advertisement. Opaque: a late signal costs one spare wake-up, never a lost one. */
    public void disarm() {
        INT.setOpaque(shared, parkedOffset, 0);
    }

    // ---- signaller side (call after publishing the word with a release store) ----

    /** Wakes the waiter if it advertised that it sleeps; costs a compiler barrier and a load otherwise. */
    public void signal() {
        AsymmetricFence.light();
        int seen = parkedGeneration();
        if (seen != 0) wake(seen);
    }

    /** First half of {@link #signal()}: the advertised generation, 0 if nobody sleeps. */
    int parkedGeneration() {
        // volatile read: ordered after the publication by the caller's fence (see AsymmetricFence).
        return (int) INT.getVolatile(shared, parkedOffset);
    }

    /** Second half of {@link #signal()}: wakes the sleeper of arming {@code seen} if it is still the current one. */
    void wake(int seen) {
        if (INT.compareAndSet(shared, parkedOffset, seen, 0)) {   // CAS: only one waker pays the syscall; a stale one fails
            WAKES.increment();
            Futex.wake(wordAddress, 1);
        }
    }

    /** Wakes any sleeper unconditionally (peer gone, close): not on the data path. */
    public void wakeAll() {
        Futex.wake(wordAddress, Integer.MAX_VALUE);
    }
}
