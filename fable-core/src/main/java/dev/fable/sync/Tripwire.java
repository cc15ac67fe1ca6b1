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
 * <h2>Fenced signals (a waiter that sleeps at every wait)</h2>
 * The heavy fence is a system call ({@code membarrier}, about 1-2 µs here, and an interrupt to the
 * other CPUs), paid at every sleep, while the signaller pays nothing. For a waiter that sleeps at
 * every wait (blocking mode, or an adaptive wait that decided to sleep at once: peer on the same
 * CPU, contended CPU) that is the wrong way round, so it can ask the signaller to fence instead:
 * <pre>
 * waiter:     request = 1 (the word after the parked word; 0 to withdraw)
 * signaller:  at its next signal, sees request == 1: fenced = true; ack = 1 (volatile store);
 *             from then on every signal is: publish; FULL fence; v = word ...
 *             sees request != 1 while fenced: ack = 0 (volatile store); fenced = false
 * waiter:     word = g (volatile store); if it requested and ack == 1 (volatile load): full fence
 *             only, else the heavy fence; re-check; futex_wait ...
 * </pre>
 * While the signaller fences, both sides have a full fence between their store and their load: a
 * plain Dekker. The ack is read after arming, so a waiter that saw ack == 1 either met the
 * signaller while it still fenced, or, if the signaller revoked it since, the revocation's
 * {@code ack = 0; fence} and the waiter's {@code word = g; fence; read ack} are themselves a
 * Dekker pair: the waiter read 1, so every later unfenced signal reads {@code word = g} and wakes
 * it. A peer that never answers (an older Fable) leaves the heavy fence in place; a hostile one
 * that acks without fencing can only delay its own peer's wake-ups, as writing the word can.
 *
 * <p>Ownership: the waiter writes {@code g} and 0 and the request; a signaller only compare-and-sets
 * {@code v → 0} and writes the ack.
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
    private int requested;    // waiter side only: the fenced-signal request last written (0/1)
    private boolean fencedSignals;   // signaller side only: this side acked a request and fences every signal

    /** Offset from the parked word of the waiter's request for fenced signals (int, same cache line). */
    public static final long REQUEST = 4;
    /** Offset from the parked word of the signaller's ack (int, the next cache line: only the signaller writes it). */
    public static final long ACK = 64;

    /**
     * @param shared a read-write mapping; {@code parkedOffset} 4-byte aligned, the start of a 128-byte
     *               block that is the tripwire's alone: the parked word, the request ({@link #REQUEST}) and the ack ({@link #ACK})
     */
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

    /**
     * Advertises the sleeper, then fences so the caller's re-check cannot miss a concurrent signal:
     * a full fence if the signaller acked fenced signals, else the heavy fence (class comment).
     */
    public void arm() {
        armWithoutFence();
        if (requested == 1 && (int) INT.getVolatile(shared, offset + ACK) == 1) {   // volatile: read after the arming's store
            VarHandle.fullFence();
        } else {
            AsymmetricFence.heavy();
        }
    }

    /**
     * Asks the signaller to fence its signals ({@code true}: this side is about to sleep at every
     * wait) or withdraws the request. Cheap when nothing changes; the signaller answers at its next signal.
     */
    public void requestFencedSignals(boolean fenced) {
        int v = fenced ? 1 : 0;
        if (requested != v) {
            requested = v;
            INT.setOpaque(shared, offset + REQUEST, v);   // opaque: a request; the waiter relies only on the signaller's ack
        }
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

    /**
     * Wakes the waiter if it advertised that it sleeps; costs a compiler barrier and two loads of the
     * waiter's line otherwise (a full fence instead while the waiter asked for fenced signals).
     */
    public void signal() {
        boolean asked = (int) INT.getOpaque(shared, offset + REQUEST) == 1;   // opaque: answered below, ordered by the fences there
        if (asked != fencedSignals) answer(asked);
        if (fencedSignals) {
            VarHandle.fullFence();
        } else {
            AsymmetricFence.light();
        }
        int seen = parkedGeneration();
        if (seen != 0) wake(seen);
    }

    /** Starts or stops fencing every signal, acking it to the waiter (class comment). Out of line: rare. */
    private void answer(boolean fence) {
        if (fence) {
            fencedSignals = true;
            INT.setVolatile(shared, offset + ACK, 1);   // volatile: every signal from here on fences
        } else {
            INT.setVolatile(shared, offset + ACK, 0);   // volatile: visible before the first unfenced signal
            fencedSignals = false;
        }
    }

    /** True while this signaller fences its signals at the waiter's request (tests, diagnostics). */
    public boolean signalsFenced() {
        return fencedSignals;
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
