package dev.fable.flow;

import dev.fable.Buffer;
import dev.fable.ConnectionState;
import dev.fable.internal.FieldHandles;
import dev.fable.sync.AsymmetricFence;
import dev.fable.sync.CpuSample;
import dev.fable.sync.Waiter;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/** Keeps the sending thread's fields off the cache lines of whatever the JVM places before this object. */
abstract class SendRolePad {
    int p0i;   // fills the gap after the object header, so that no field of the subclasses lands before the pad
    long p00, p01, p02, p03, p04, p05, p06, p07;
}

/** The sending role's state; see {@link SendRole}. */
abstract class SendRoleFields extends SendRolePad {
    static final VarHandle GATE = FieldHandles.of(MethodHandles.lookup(), "gate", int.class);
    /** No switch pending: the sending thread claims from {@link #out} at once. */
    static final int OPEN = 0;
    /** A newer leg is installed: the sending thread moves its output at its next claim, or a switcher does for an idle one. */
    static final int MOVE = 1;
    /** A thread is moving the output now (the sending thread itself or a switcher); claims return null meanwhile. */
    static final int HELD = 2;

    /** The leg claims come from. Volatile (a plain load on x86); written only by the holder of {@link #HELD}. */
    volatile Link out;
    /** The sending thread's claims, successful or in progress. Plain: sending thread only; a switcher reads it after its heavy fence. */
    long claims;
    /** Fragments, bytes and whole messages committed on legs the output left. Written by the holder of {@link #HELD}. */
    long sentBefore;
    long sentBytesBefore;
    long sentMessagesBefore;
    /** {@link #OPEN}, {@link #MOVE} or {@link #HELD}. */
    volatile int gate;
}

/**
 * The sending direction of a {@link LiveConnection}: claim from the current leg and, during a
 * switch, end the old leg's output with its end-of-epoch marker and move to the next.
 *
 * <h2>The gate</h2>
 * The sending thread takes no lock and never waits for a switch in {@link #claim(int)}: it counts
 * its claim, then reads the gate (an asymmetric Dekker handshake with the switcher, see
 * {@link AsymmetricFence}). {@code OPEN}: claim. {@code MOVE}: it takes the role with one
 * compare-and-set and moves itself if it can do so now (no buffer of the old leg is out and the
 * marker fits), else the claim comes from the old leg or returns null ("nothing now, retry", as for
 * back-pressure). {@code HELD}: a switcher is moving the output for an idle sending thread; the
 * claim returns null. Only {@link #claim(int, Duration)} waits, for space or for the switch.
 */
final class SendRole extends SendRoleFields {
    long p10, p11, p12, p13, p14, p15, p16, p17;   // and off the lines of what follows

    private final Switcher switcher;
    private final CpuSample cpu;

    SendRole(Link first, Switcher switcher, CpuSample cpu) {
        this.out = first;
        this.switcher = switcher;
        this.cpu = cpu;
    }

    Buffer claim(int maxBytes) {
        if (maxBytes <= 0) throw new IllegalArgumentException("claim(" + maxBytes + "): ask for at least 1 byte (a buffer grants "
                + "min(maxBytes, maxFragment()) and length() says how many)");
        claims++;                   // plain: sending thread only; a switcher reads it after AsymmetricFence.heavy()
        AsymmetricFence.light();    // the store above before the gate load below (the switcher's heavy fence orders its side)
        if ((int) GATE.getAcquire(this) != OPEN) return claimDuringSwitch(maxBytes);   // acquire: `out` as its mover left it
        return claimFrom(out, maxBytes);
    }

    private Buffer claimFrom(Link o, int maxBytes) {
        Buffer b;
        try {
            b = o.leg.claim(maxBytes);
        } catch (RuntimeException e) {
            claims--;
            throw e;
        }
        if (b == null) claimMissed();
        return b;
    }

    /** Out of line, to keep the claim path short: the claim is dropped, and a full ring means this thread may be about to wait. */
    private void claimMissed() {
        claims--;
        cpu.tick();
    }

    /** The gate is not open: move now if that needs no waiting, else null. Never locks, never enters the kernel for the switch. */
    private Buffer claimDuringSwitch(int maxBytes) {
        return moveNow() ? claimFrom(out, maxBytes) : null;
    }

    /**
     * The gate is not open: moves the output to the newest leg now if that needs no waiting. False, with the claim
     * in progress dropped, when a switcher holds the role or the old leg is full up to its marker.
     */
    private boolean moveNow() {
        if (!GATE.compareAndSet(this, MOVE, HELD)) {   // a switcher holds the role (or it just reopened: retry is cheap)
            claimMissed();
            return false;
        }
        boolean stuck;
        try {
            stuck = moveOutput(1, 0) == Move.MARKER_DID_NOT_FIT;
        } finally {
            release();
        }
        switcher.maybeComplete();
        if (stuck) {   // the old leg is full up to its marker: nothing can be claimed now
            claimMissed();
            return false;
        }
        return true;
    }

    /**
     * A publisher's reference to a shared slot ({@link dev.fable.transport.Leg#offerShared}), claimed and
     * committed in one step under the same gate as {@link #claim(int)}: never waits. While a switcher holds
     * the role it returns {@link dev.fable.transport.Leg#FULL} (the publisher counts a drop, as for a full queue).
     */
    int offerShared(dev.fable.transport.FanoutSlots pool, int slot, int length, long dropped) {
        claims++;                   // plain: as in claim(int)
        AsymmetricFence.light();
        if ((int) GATE.getAcquire(this) != OPEN && !moveNow()) return dev.fable.transport.Leg.FULL;   // acquire: as in claim(int)
        int r;
        try {
            r = out.leg.offerShared(pool, slot, length, dropped);
        } catch (RuntimeException e) {
            claims--;
            throw e;
        }
        if (r != dev.fable.transport.Leg.OFFERED) claims--;   // nothing was published: the leg counted no fragment
        return r;
    }

    /** A lent read buffer's reference ({@link dev.fable.transport.Leg#offerLent}), under the gate as {@link #offerShared}. */
    int offerLent(dev.fable.buffer.SlotBuffer b, dev.fable.buffer.Lender lender, dev.fable.buffer.Lender.LentPool pool, int slot, int length, boolean more) {
        claims++;
        AsymmetricFence.light();
        if ((int) GATE.getAcquire(this) != OPEN) {   // acquire: as in claim(int); during a switch the bytes are copied instead
            claims--;
            return dev.fable.transport.Leg.COPY;
        }
        int r;
        try {
            r = out.leg.offerLent(b, lender, pool, slot, length, more);
        } catch (RuntimeException e) {
            claims--;
            throw e;
        }
        if (r != dev.fable.transport.Leg.OFFERED) claims--;
        return r;
    }

    /** {@link dev.fable.transport.Leg#reclaimShared} on the current leg, under the gate; nothing while a switch is under way. */
    void reclaimShared() {
        claims++;
        AsymmetricFence.light();
        try {
            if ((int) GATE.getAcquire(this) == OPEN) out.leg.reclaimShared();
        } finally {
            claims--;
        }
    }

    Buffer claim(int maxBytes, Duration timeout) {
        Buffer b = claim(maxBytes);
        if (b != null) return b;
        long deadline = Waiter.deadline(timeout.toNanos());
        while (true) {
            int g = (int) GATE.getAcquire(this);
            if (g == MOVE && GATE.compareAndSet(this, MOVE, HELD)) {
                try {
                    moveOutput(0, slice(deadline));   // the blocking form may wait for the old leg to take its marker
                } finally {
                    release();
                }
                switcher.maybeComplete();
            } else if (g == HELD) {
                LockSupport.parkNanos(SWITCH_POLL_NANOS);   // a switcher is moving this role: a moment
            } else {
                // One claim count, taken before the gate check and held through the wait, keeps a switcher from
                // moving `out` (or closing it) under us; a slice of at most 1 ms lets a switch happen between slices.
                claims++;
                AsymmetricFence.light();
                try {
                    if ((int) GATE.getAcquire(this) == OPEN) out.leg.awaitSpace(slice(deadline));
                } finally {
                    claims--;
                }
            }
            b = claim(maxBytes);
            if (b != null || Waiter.expired(deadline)) return b;
        }
    }

    /** How long a blocked claim sleeps while a switcher holds the sending role. */
    private static final long SWITCH_POLL_NANOS = TimeUnit.MICROSECONDS.toNanos(50);

    private static long slice(long deadline) {
        long s = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(1);
        return deadline == Waiter.FOREVER || s - deadline < 0 ? s : deadline;
    }

    enum Move { DONE, BUFFER_OUT, MARKER_DID_NOT_FIT }

    /**
     * Holder of {@link #HELD} only: ends the output of every leg that has a successor (its marker
     * behind its last commit) and moves on, unless a buffer claimed from the current leg is still out
     * ({@code mine}: claims of the caller's own call in progress). {@code waitUntil}: 0 to try the
     * marker once ({@link dev.fable.transport.Leg#tryFinishOutput}), else a deadline to wait for it.
     */
    Move moveOutput(int mine, long waitUntil) {
        while (true) {
            Link o = out;
            Link n = o.next;
            if (n == null) return Move.DONE;
            // A claimed buffer of o is out: its thread moves later. A leg counts a commit only after the commit's last
            // access to the leg (RingWriter publishes the count last; StreamWriter commits under the lock close() takes),
            // so when the counts agree the sending thread is done with o and o may be retired and unmapped.
            if (claims - mine != sentBefore + o.leg.fragmentsSent()) return Move.BUFFER_OUT;
            boolean queued = waitUntil == 0 ? o.leg.tryFinishOutput() : o.leg.finishOutput(waitUntil);
            if (!queued && o.leg.state() == ConnectionState.OPEN) return Move.MARKER_DID_NOT_FIT;
            sentBefore += o.leg.fragmentsSent();
            sentMessagesBefore += o.leg.messagesSent();
            sentBytesBefore += o.leg.bytesSent();
            o.outputDone = true;
            out = n;   // volatile: the receiving role and the switcher follow it
        }
    }

    /** Gives the role back: OPEN when the output reached the newest leg, else MOVE (a later switch, or a move still to make). */
    private void release() {
        GATE.setVolatile(this, out.next == null ? OPEN : MOVE);
        // a switch installed between our look at `next` and the store above set no MOVE (it saw HELD): look again
        if (out.next != null) GATE.compareAndSet(this, OPEN, MOVE);
    }

    /** Switcher: a newer leg is linked; the sending thread moves at its next claim. */
    void switchPending() {
        GATE.compareAndSet(this, OPEN, MOVE);   // HELD: the holder sees the new leg when it gives the role back
    }

    /**
     * Switcher: moves the output if the sending thread is idle (no claim in progress, no buffer out)
     * and the marker fits now; a busy thread moves itself at its next claim. Never waits.
     */
    void helpIfIdle() {
        if (out.next == null || !GATE.compareAndSet(this, MOVE, HELD)) return;
        try {
            AsymmetricFence.heavy();   // now either we see the sending thread's claim count, or it sees the gate held
            moveOutput(0, 0);
        } finally {
            release();
        }
    }

    Link out() {
        return out;
    }

    long fragmentsSent() {
        return sentBefore + out.leg.fragmentsSent();
    }

    long messagesSent() {
        return sentMessagesBefore + out.leg.messagesSent();
    }

    long bytesSent() {
        return sentBytesBefore + out.leg.bytesSent();
    }
}
