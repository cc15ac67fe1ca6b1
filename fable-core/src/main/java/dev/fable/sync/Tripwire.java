package dev.fable.sync;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.VarHandle;
import java.util.concurrent.atomic.LongAdder;

import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * A software tripwire: the waiter's <em>parked word</em>, a 32-bit word in shared memory on a cache
 * line of its own, which is both the advertisement "I sleep" and the futex the waiter sleeps on.
 *
 * <h2>Protocol</h2>
 * <pre>
 * waiter:     word = g (a new generation, never 0); heavy fence; re-check the condition;
 *             futex_wait(word, g); word = 0
 * signaller:  publish (release store); light fence; v = word;
 *             if v != 0 and CAS(word, v, 0): futex_wake(word)
 * </pre>
 * The fences make the pair a Dekker handshake (see {@link AsymmetricFence}): either the waiter's
 * re-check sees the publication, or the signaller sees {@code g}. A waker clears the word before it
 * wakes, so a waiter that has not reached {@code futex_wait} yet finds {@code word != g} there and
 * returns at once: a wake-up can never be spent before the sleep. (Two earlier versions slept on
 * the data word instead; a signaller that read the flag late could clear it and spend its wake-up
 * early, and the next signal saw nobody asleep. The benchmark found both as deadlocks.)
 *
 * <p>Ownership: the waiter writes {@code g} and 0; a signaller only compare-and-sets {@code v → 0}.
 * One tripwire has at most one waiting thread. A signaller whose peer never parks (spin mode) skips
 * the word entirely. A hostile peer can write the word: the waiter then wakes early (and re-checks)
 * or sleeps until the control connection reports the peer gone.
 */
public final class Tripwire {
    private static final VarHandle INT = JAVA_INT.varHandle();
    private static final LongAdder SLEEPS = new LongAdder();
    private static final LongAdder WAKES = new LongAdder();

    private final MemorySegment shared;
    private final long offset;
    private final long address;
    private final MemorySegment timespec = Arena.ofAuto().allocate(16, 8);
    private int generation;   // waiter side only: the value of the current arming

    /** @param shared a read-write mapping; {@code parkedOffset} 4-byte aligned, alone on its cache line */
    public Tripwire(MemorySegment shared, long parkedOffset) {
        this.shared = shared;
        this.offset = parkedOffset;
        this.address = shared.address() + parkedOffset;
    }

    /** Futex sleeps taken by this process's waiters so far (a busy channel should show none). */
    public static long sleeps() {
        return SLEEPS.sum();
    }

    /** Futex wake-ups issued by this process's signallers so far. */
    public static long wakes() {
        return WAKES.sum();
    }

    // ---- waiter side ----

    /** Advertises the sleeper, then fences so the caller's re-check cannot miss a concurrent signal. */
    public void arm() {
        armWithoutFence();
        AsymmetricFence.heavy();
    }

    /** Advertises the sleeper without the fence: for waiting on many tripwires, then one {@link AsymmetricFence#heavy()}. */
    public void armWithoutFence() {
        int g = generation + 1;
        generation = g == 0 ? 1 : g;
        INT.setVolatile(shared, offset, generation);   // volatile: must be visible before the re-check reads
    }

    /** The generation of the current arming (what {@link #sleep} waits on; for {@code futex_waitv}). */
    public int generation() {
        return generation;
    }

    /** Address of the parked word (for {@code futex_waitv} over many tripwires). */
    public long address() {
        return address;
    }

    /** Sleeps while the word still holds this arming's generation; returns on signal, timeout or spuriously. */
    public void sleep(long timeoutNanos) {
        SLEEPS.increment();
        Futex.await(address, generation, timeoutNanos, timespec);
    }

    /** Withdraws the advertisement (after waking, or when the re-check succeeded). */
    public void disarm() {
        INT.setOpaque(shared, offset, 0);   // opaque: a signaller that still sees g only wakes us spuriously
    }

    // ---- signaller side (call after publishing with a release store) ----

    /** Wakes the waiter if it advertised that it sleeps; costs a compiler barrier and a load otherwise. */
    public void signal() {
        AsymmetricFence.light();
        int seen = parkedGeneration();
        if (seen != 0) wake(seen);
    }

    /**
     * A hint for a signaller that publishes in batches: true if the waiter advertises that it sleeps
     * (or is about to), so the batch should be published and {@link #signal()} called now. Opaque: no
     * ordering; correctness still rests on the signaller publishing and signalling before it goes idle.
     */
    public boolean waiterAdvertised() {
        return (int) INT.getOpaque(shared, offset) != 0;   // opaque: a hint, see above
    }

    /** First half of {@link #signal()}: the advertised generation, 0 if nobody sleeps. */
    int parkedGeneration() {
        return (int) INT.getVolatile(shared, offset);   // volatile: after the publication (caller's fence, see AsymmetricFence)
    }

    /** Second half of {@link #signal()}: clears arming {@code seen} if still current, then wakes its sleeper. */
    void wake(int seen) {
        if (INT.compareAndSet(shared, offset, seen, 0)) {   // CAS: one waker per arming; the sleep sees 0 != g
            WAKES.increment();
            Futex.wake(address, 1);
        }
    }

    /** Wakes any sleeper unconditionally (peer gone, close): not on the data path. */
    public void wakeAll() {
        INT.setVolatile(shared, offset, 0);   // volatile: a sleeper about to enter futex_wait sees 0 != g
        Futex.wake(address, Integer.MAX_VALUE);
    }
}
