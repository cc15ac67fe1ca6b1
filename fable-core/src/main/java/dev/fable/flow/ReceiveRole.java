package dev.fable.flow;

import dev.fable.Buffer;
import dev.fable.ConnectionEvent;
import dev.fable.PeerGoneException;
import dev.fable.buffer.MessageAssembler;
import dev.fable.internal.FieldHandles;
import dev.fable.sync.AsymmetricFence;
import dev.fable.sync.CpuSample;
import dev.fable.sync.Waiter;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/** Keeps the receiving thread's fields off the cache lines of whatever the JVM places before this object. */
abstract class ReceiveRolePad {
    int p0i;   // fills the gap after the object header, so that no field of the subclasses lands before the pad
    long p00, p01, p02, p03, p04, p05, p06, p07;
}

/** The receiving role's state; see {@link ReceiveRole}. */
abstract class ReceiveRoleFields extends ReceiveRolePad {
    static final VarHandle GATE = FieldHandles.of(MethodHandles.lookup(), "gate", int.class);
    static final int OPEN = 0;
    /** A switcher is moving the input for an idle receiving thread; poll returns null meanwhile. */
    static final int HELD = 1;

    /** The leg polls read from. Volatile (a plain load on x86); written by the receiving thread or a switcher holding the gate. */
    volatile Link in;
    /** 1 while the receiving thread is inside poll/receive. Plain: receiving thread only; a switcher reads it after its heavy fence. */
    int receiving;
    /** {@link #OPEN} or {@link #HELD}. */
    volatile int gate;
    /** Fragments, bytes and whole messages polled from legs the input left. Written by the receiving thread or a switcher holding the gate. */
    long receivedBefore;
    long receivedBytesBefore;
    long receivedMessagesBefore;
    /** When the receiving thread first found its leg finished and no next one (0: not now). Receiving thread. */
    long orphaned;
    /** Look at retired legs now and then while data flows (the drain timeout runs out then too). Receiving thread. */
    int reapTick;
}

/**
 * The receiving direction of a {@link LiveConnection}: poll the current leg and, at the peer's
 * end-of-epoch marker, move to the next; retire old legs and hand them to the switcher's closer once
 * both directions left them and the application gave back their buffers.
 *
 * <p>{@link #poll()} never waits for a switch: while a switcher holds the role (its thread was idle)
 * it returns null, and when the peer's marker came before this side installed the next leg it
 * returns null too ("nothing now"). It closes no leg itself: closing unmaps memory or frees a
 * socket (a system call); the switcher's closer does it.
 */
final class ReceiveRole extends ReceiveRoleFields {
    long p10, p11, p12, p13, p14, p15, p16, p17;   // and off the lines of what follows

    private final Switcher switcher;
    private final CpuSample cpu;
    /** Legs the input left, not yet handed to the closer. Receiving role only. */
    private final List<Link> retired = new ArrayList<>();
    private final MessageAssembler assembler = new MessageAssembler();
    private final MessageAssembler.Source fragments = this::receiveUntil;   // made once: receiveMessage allocates only its result
    private final java.util.function.Function<String, RuntimeException> corrupt = detail -> in.leg.corrupt(detail);

    ReceiveRole(Link first, Switcher switcher, CpuSample cpu) {
        this.in = first;
        this.switcher = switcher;
        this.cpu = cpu;
    }

    Buffer poll() {
        receiving = 1;              // plain: receiving thread only; a switcher reads it after AsymmetricFence.heavy()
        AsymmetricFence.light();    // the store above before the gate load below
        try {
            if ((int) GATE.getAcquire(this) != OPEN) return null;   // acquire: `in` as a switcher left it
            return pollIn();
        } finally {
            receiving = 0;          // plain: the switcher's heavy fence makes it (and our work) visible before it acts
        }
    }

    /** {@link dev.fable.Connection#poll(dev.fable.MessageHandler, int)}: the current leg's batch, else one buffer as poll() finds it. */
    int poll(dev.fable.MessageHandler handler, int limit) {
        receiving = 1;              // as in poll()
        AsymmetricFence.light();
        try {
            if ((int) GATE.getAcquire(this) != OPEN) return 0;   // acquire: as in poll()
            int n = in.leg.poll(handler, limit);
            if (n > 0) return n;
            if (!in.leg.inputFinished()) {   // nothing yet (a second look would only read the same lines again)
                pollMissed();
                return 0;
            }
            Buffer b = pollIn();   // the leg's end-of-epoch marker was read: follow the chain as poll() does
            if (b == null) return 0;
            handler.take(b);
            return 1;
        } finally {
            receiving = 0;
        }
    }

    /** The next buffer, following the chain past every leg whose marker was read. Inside the role. */
    private Buffer pollIn() {
        while (true) {
            Link l = in;
            Buffer b = l.leg.poll();
            if (b != null) {
                if (!retired.isEmpty() && (++reapTick & 1023) == 0) reap(true);
                return b;
            }
            if (!l.leg.inputFinished()) return pollMissed();
            Link n = l.next;
            if (n == null) return null;   // the marker came before this side installed the next leg: a moment
            moveInput(l, n);
        }
    }

    /** Out of line, to keep the poll path short: nothing to read, so this thread waits (in its own loop or in ours). */
    private Buffer pollMissed() {
        if (!retired.isEmpty()) reap(true);
        cpu.tick();
        return null;
    }

    /** Inside the role (the receiving thread, or a switcher holding the gate). */
    private void moveInput(Link l, Link n) {
        receivedBefore += l.leg.fragmentsReceived();
        receivedMessagesBefore += l.leg.messagesReceived();
        receivedBytesBefore += l.leg.bytesReceived();
        l.retiredAt = System.nanoTime();
        in = n;
        retired.add(l);
        switcher.maybeComplete();
    }

    /**
     * Inside the role: hands to the closer every retired leg that both directions left and whose
     * read buffers all came back. After the drain timeout, on the receiving thread only, buffers still
     * held are copied off the leg first (a switcher acting while that thread is merely outside poll()
     * could swap memory under a read of a held buffer).
     */
    private void reap(boolean onReceivingThread) {
        for (int i = retired.size() - 1; i >= 0; i--) {
            Link l = retired.get(i);
            if (!l.outputDone) continue;
            if (l.leg.readBuffersHeld() > 0) {
                if (!onReceivingThread || System.nanoTime() - l.retiredAt < switcher.drainNanos) continue;
                int n = l.leg.detachHeldBuffers();
                switcher.event(new ConnectionEvent(ConnectionEvent.Type.OLD_BUFFERS_COPIED, l.leg.epoch(), l.leg.transport(),
                        n + " read buffer(s) of epoch " + l.leg.epoch() + " still held after the drain timeout of "
                                + TimeUnit.NANOSECONDS.toMillis(switcher.drainNanos) + " ms were copied; " + l.leg.transport() + " closed"));
            }
            retired.remove(i);
            switcher.closeLater(l);
        }
        switcher.retiredPending(!retired.isEmpty());
    }

    Buffer receive(Duration timeout) {
        Buffer b = poll();
        if (b != null) return b;
        return receiveUntil(Waiter.deadline(timeout.toNanos()));
    }

    private Buffer receiveUntil(long deadline) {
        while (true) {
            receiving = 1;
            AsymmetricFence.light();
            try {
                if ((int) GATE.getAcquire(this) != OPEN) {
                    receiving = 0;   // the switcher holding the role may act for us meanwhile
                    LockSupport.parkNanos(SWITCH_POLL_NANOS);   // the blocking form waits for the switcher holding the role
                } else {
                    Buffer b = pollIn();
                    if (b != null) return b;
                    Link l = in;
                    if (l.leg.inputFinished()) {   // the peer moved on, and this side has not installed the next leg yet
                        if (orphaned == 0) orphaned = System.nanoTime();
                        if (System.nanoTime() - orphaned > Switcher.SWITCH_NANOS) {
                            throw new PeerGoneException(switcher.owner() + ": the peer ended its " + l.leg.transport()
                                    + " transport for a switch, but the new transport did not arrive within "
                                    + TimeUnit.NANOSECONDS.toSeconds(Switcher.SWITCH_NANOS)
                                    + " s (the peer died mid-switch?); every message it sent before that reaches this side");
                        }
                        LockSupport.parkNanos(SWITCH_POLL_NANOS);   // the endpoint is installing it (setup path, not data path)
                    } else {
                        orphaned = 0;
                        b = l.leg.receive(deadline);   // data, the marker, the end (throws after the last buffer) or the deadline
                        if (b != null) return b;
                    }
                }
            } finally {
                receiving = 0;
            }
            if (Waiter.expired(deadline)) return null;
        }
    }

    /** How long a blocked receive sleeps while a switch holds it up. */
    private static final long SWITCH_POLL_NANOS = TimeUnit.MICROSECONDS.toNanos(20);

    byte[] receiveMessage(Duration timeout) {
        Link l = in;
        return assembler.next(fragments, Waiter.deadline(timeout.toNanos()), l.leg.maxFragment(), l.leg.options().maxMessageSize(), corrupt);
    }

    /**
     * Switcher: if the receiving thread is idle, skips end-of-epoch markers (old-epoch data waits for
     * the application) and retires the legs it passes. Never waits.
     */
    void helpIfIdle() {
        if (!GATE.compareAndSet(this, OPEN, HELD)) return;   // another switcher is at it
        try {
            AsymmetricFence.heavy();    // now either we see `receiving`, or the receiving thread sees the gate held
            if (receiving != 0) return;
            while (true) {
                Link l = in;
                Link n = l.next;
                if (n == null || !l.leg.skipEndOfEpoch()) break;
                moveInput(l, n);
            }
            reap(false);
        } finally {
            GATE.setRelease(this, OPEN);   // release: our moves before the receiving thread's acquire
        }
    }

    Link in() {
        return in;
    }

    long fragmentsReceived() {
        return receivedBefore + in.leg.fragmentsReceived();
    }

    long messagesReceived() {
        return receivedMessagesBefore + in.leg.messagesReceived();
    }

    long bytesReceived() {
        return receivedBytesBefore + in.leg.bytesReceived();
    }
}
