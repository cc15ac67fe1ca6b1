package dev.fable.flow;

import dev.fable.Buffer;
import dev.fable.ConnectionEvent;
import dev.fable.ConnectionState;
import dev.fable.FableException;
import dev.fable.PeerGoneException;
import dev.fable.TransportName;
import dev.fable.buffer.Messages;
import dev.fable.WaitMode;
import dev.fable.internal.FieldHandles;
import dev.fable.sync.CpuSample;
import dev.fable.sync.AsymmetricFence;
import dev.fable.sync.Tripwire;
import dev.fable.sync.Waiter;
import dev.fable.transport.AbstractConnection;
import dev.fable.transport.Pollable;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import dev.fable.buffer.MessageAssembler;

/**
 * The {@link dev.fable.Connection} an application holds for a named peer: a chain of transport
 * <em>legs</em>, one per epoch, and the make-before-break switch between them (DESIGN.md,
 * Reconfiguration; paper §3.1.4).
 *
 * <h2>The switch</h2>
 * <ol>
 * <li><b>Make.</b> The connecting side opens a new leg to the peer's endpoint (a normal transport
 * handshake, tagged with this connection's id and epoch e+1); the peer's endpoint hands it to its
 * side of this connection ({@link #adopt}). Both sides append it to the chain. Data keeps flowing
 * over leg e meanwhile.</li>
 * <li><b>Sending direction.</b> At its next claim (or at once, by the switcher, if the sending
 * thread is idle) a side ends leg e's output with the transport's end-of-epoch marker, behind
 * everything it committed there, and claims from leg e+1 from then on.</li>
 * <li><b>Receiving direction.</b> A side reads leg e until it meets the peer's marker, then leg
 * e+1: every message of epoch e is delivered before any of e+1, none twice, none lost.</li>
 * <li><b>Break.</b> Leg e is closed once both directions left it and the application released
 * every read buffer it holds from it.</li>
 * </ol>
 *
 * <h2>Threads and roles</h2>
 * The <em>sending role</em> (claim/commit, the {@code out} leg) belongs to the application's sending
 * thread; the <em>receiving role</em> (poll/receive/release, the {@code in} leg) to its receiving
 * thread. A switcher (the thread in {@link #reconfigure}, or the endpoint's accept dispatcher in
 * {@link #adopt}) takes a role only while its thread is idle, through an asymmetric Dekker handshake
 * ({@link AsymmetricFence}): the application thread writes its busy counter and then loads the
 * role's gate, paying nothing but a compiler barrier; the switcher closes the gate, runs the heavy
 * fence, then loads the counter. Either the switcher sees the thread busy and leaves the move to it,
 * or the thread sees the gate closed and waits on the role's lock for the switcher to finish. The
 * data path takes no lock and makes no system call.
 */
public final class LiveConnection implements dev.fable.Connection, Pollable {
    private static final VarHandle SEND_GATE = FieldHandles.of(MethodHandles.lookup(), "sendGate", int.class);
    private static final VarHandle RECV_GATE = FieldHandles.of(MethodHandles.lookup(), "recvGate", int.class);
    private static final int OPEN = 0;
    private static final int CLOSED_GATE = 1;
    /** How long a retiring leg may take to carry its end-of-epoch marker, and a new switch to wait for the previous one. */
    private static final long SWITCH_NANOS = TimeUnit.SECONDS.toNanos(10);

    /** Opens the next leg to the peer (the connecting side's naming layer). */
    @FunctionalInterface
    public interface LegOpener {
        /** {@code waitMode}: both sides' wait mode on the new leg, or null for each side's own (its options). */
        AbstractConnection open(String transport, long epoch, long connectionId, String reason, WaitMode waitMode);
    }

    /** What the transport policy chooses for this connection now: a transport and why. */
    public record Choice(String transport, String reason) {}

    /** One transport instance of the chain. */
    private static final class Leg {
        final AbstractConnection c;
        volatile Leg next;             // the next epoch's leg, once established (written by the switcher)
        volatile boolean outputDone;   // its output carries the end-of-epoch marker (sending role)
        boolean closed;                // receiving role, or close()
        long retiredAt;                // when the input left it (receiving role)
        final String why;              // why the switch set it up (null for epoch 0): RECONFIGURED carries it

        Leg(AbstractConnection c, String why) {
            this.c = c;
            this.why = why;
        }
    }

    private final long id;            // the same on both sides: the next leg's REJOIN names it
    private final LegOpener opener;   // null on the accepting side
    private final Runnable onClose;
    private final Object sendLock = new Object();
    private final Object recvLock = new Object();

    // sending role
    private volatile Leg out;          // volatile: a plain load on x86; written only when the output moves
    private long claims;              // sending thread's claims, successful or in progress; plain, single writer
    private long sentBefore;          // fragments committed on legs the output left
    private long sentBytesBefore;
    private volatile int sendGate;

    // receiving role
    private volatile Leg in;           // as `out`
    private int receiving;            // 1 while the receiving thread is inside poll/receive; plain, single writer
    private long receivedBefore;
    private long receivedBytesBefore;
    private volatile int recvGate;
    private final List<Leg> retired = new ArrayList<>();   // left by the input, not yet closed; receiving role
    private long orphaned;                                  // when the receiver first found its leg finished and no next one; receiving role
    private int reapTick;                                   // receiving role: look at retired legs now and then while data flows
    /** How long the application may hold read buffers of an old transport before they are copied: -Dfable.drainTimeoutMillis, default 5000. */
    private final long drainNanos = TimeUnit.MILLISECONDS.toNanos(Long.getLong("fable.drainTimeoutMillis", 5000));

    // switches
    private volatile Leg newest;
    /**
     * The switch under way: 0 none; {@link #MAKING} while the connector sets the new leg up; else the
     * epoch of the installed leg whose break is not complete. Completion is a compare-and-set from
     * that epoch, so a thread that sees an earlier switch complete cannot end a later one.
     */
    private final java.util.concurrent.atomic.AtomicLong switching = new java.util.concurrent.atomic.AtomicLong();
    private static final long MAKING = -1;
    private final List<Leg> all = new ArrayList<>();       // every leg not yet closed; guarded by itself
    private final ConcurrentLinkedQueue<ConnectionEvent> events = new ConcurrentLinkedQueue<>();
    private volatile boolean closed;
    private volatile String switchReason;   // why the newest leg was set up (null for epoch 0)
    private volatile java.util.function.Supplier<Choice> policy;   // connector side of an xio:// connection: asks the daemon
    private volatile WaitMode waitOverride;   // both sides' wait mode set by a switch (the contention policy), null: each side's own
    private final CpuSample sendCpu = new CpuSample();   // where the sending thread last waited (every leg writes it)
    private final CpuSample recvCpu = new CpuSample();   // where the receiving thread last waited

    /**
     * @param first   the epoch-0 leg
     * @param id      this connection's id, the same on both sides (the connector picks it)
     * @param opener  opens the next leg (connecting side); null on the accepting side
     * @param onClose run once when the application closes the connection
     */
    public LiveConnection(AbstractConnection first, long id, LegOpener opener, Runnable onClose) {
        first.face(this);
        first.cpuSamples(sendCpu, recvCpu);
        Leg l = new Leg(first, null);
        this.out = l;
        this.in = l;
        this.newest = l;
        this.all.add(l);
        this.id = id;
        this.opener = opener;
        this.onClose = onClose;
    }

    /** The newest leg (the transport instance of the current epoch): for diagnostics and transport tests. */
    public AbstractConnection leg() {
        return newest.c;
    }

    // ---- sending ----

    @Override
    public Buffer claim(int maxBytes) {
        claims++;                   // plain: sending thread only; a switcher reads it after AsymmetricFence.heavy()
        AsymmetricFence.light();    // the store above before the gate load below (the switcher's heavy fence orders its side)
        if ((int) SEND_GATE.getAcquire(this) != OPEN) return claimSlow(maxBytes);   // acquire: `out` as a switcher left it
        return claimFrom(out, maxBytes);
    }

    private Buffer claimFrom(Leg o, int maxBytes) {
        Buffer b;
        try {
            b = o.c.claim(maxBytes);
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
        sendCpu.tick();
    }

    private Buffer claimSlow(int maxBytes) {
        synchronized (sendLock) {
            moveOutput(1);
        }
        maybeComplete();
        return claimFrom(out, maxBytes);
    }

    /**
     * Sending role, under {@link #sendLock}: ends the output of every leg with a successor (marker
     * behind its last commit) and moves on, unless a buffer claimed from the current leg is still
     * out ({@code mine}: claims of the caller's own call in progress). Reopens the gate when the
     * output reached the newest leg.
     */
    private void moveOutput(int mine) {
        while (true) {
            Leg o = out;
            Leg n = o.next;
            if (n == null) {
                SEND_GATE.setRelease(this, OPEN);   // release: `out` before the gate, for the fast path's acquire
                return;
            }
            // A claimed buffer of o is out: its thread moves later. A leg counts a commit only after the commit's last
            // access to the leg (RingWriter publishes the count last; StreamWriter commits under the lock close() takes),
            // so when the counts agree the sending thread is done with o and o may be retired and unmapped.
            if (claims - mine != sentBefore + o.c.messagesSent()) return;
            if (!o.c.finishOutput(System.nanoTime() + SWITCH_NANOS) && o.c.state() == ConnectionState.OPEN) {
                throw new FableException(this + ": the old " + o.c.transport() + " transport did not take its end-of-epoch marker within "
                        + TimeUnit.NANOSECONDS.toSeconds(SWITCH_NANOS) + " s (is the peer reading?); the switch to " + n.c.transport()
                        + " cannot finish");
            }
            sentBefore += o.c.messagesSent();
            sentBytesBefore += o.c.bytesSent();
            o.outputDone = true;
            out = n;
        }
    }

    @Override
    public Buffer claim(int maxBytes, Duration timeout) {
        Buffer b = claim(maxBytes);
        if (b != null) return b;
        long deadline = Waiter.deadline(timeout.toNanos());
        while (true) {
            // One claim count, taken before the gate check and held through the wait, keeps a switcher from
            // moving `out` (or closing it) under us; a slice of at most 1 ms lets a pending switch happen
            // between slices, off the full old leg.
            claims++;
            AsymmetricFence.light();
            if ((int) SEND_GATE.getAcquire(this) != OPEN) {   // acquire: as in claim()
                synchronized (sendLock) {
                    moveOutput(1);
                }
            }
            Leg o = out;
            try {
                b = o.c.claim(maxBytes);
                if (b != null) return b;   // the count stays: it is this buffer's until its commit
                o.c.awaitSpaceLeg(slice(deadline));
            } finally {
                if (b == null) claims--;
            }
            if (expired(deadline)) return claim(maxBytes);
        }
    }

    private static long slice(long deadline) {
        long s = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(1);
        return deadline == Waiter.FOREVER || s - deadline < 0 ? s : deadline;
    }

    private static boolean expired(long deadline) {
        return deadline != Waiter.FOREVER && System.nanoTime() - deadline >= 0;
    }

    @Override
    public void send(byte[] data, int offset, int length) {
        Messages.send(this, data, offset, length);
    }

    // ---- receiving ----

    @Override
    public Buffer poll() {
        enterReceiving();
        try {
            return pollIn();
        } finally {
            receiving = 0;          // plain: the switcher's heavy fence makes it (and our work) visible before it acts
        }
    }

    /** The receiving thread takes its role; every call pairs it with {@code receiving = 0} in a finally. */
    private void enterReceiving() {
        receiving = 1;              // plain: receiving thread only; a switcher reads it after AsymmetricFence.heavy()
        AsymmetricFence.light();    // the store above before the gate load below
        if ((int) RECV_GATE.getAcquire(this) != OPEN) {   // acquire: `in` as a switcher left it
            synchronized (recvLock) {
                // the switcher that closed the gate is done when we hold its lock
            }
        }
    }

    /** Receiving role: the next buffer, following the chain past every leg whose marker was read. */
    private Buffer pollIn() {
        while (true) {
            Leg l = in;
            Buffer b = l.c.poll();
            if (b != null) {
                if (!retired.isEmpty() && (++reapTick & 1023) == 0) reap(true);   // the drain timeout also runs out while data flows
                return b;
            }
            if (!l.c.inputFinished()) return pollMissed();
            Leg n = l.next;
            if (n == null) return null;   // the marker came before this side installed the next leg: a moment
            moveInput(l, n, true);
        }
    }

    /** Out of line, to keep the poll path short: nothing to read, so this thread waits (in its own loop or in ours). */
    private Buffer pollMissed() {
        if (!retired.isEmpty()) reap(true);
        recvCpu.tick();
        return null;
    }

    /** {@code onReceivingThread}: see {@link #reap}. */
    private void moveInput(Leg l, Leg n, boolean onReceivingThread) {
        receivedBefore += l.c.messagesReceived();
        receivedBytesBefore += l.c.bytesReceived();
        l.retiredAt = System.nanoTime();
        in = n;
        retired.add(l);
        reap(onReceivingThread);
        maybeComplete();
    }

    /**
     * Receiving role: closes retired legs that both directions left and whose read buffers all came
     * back; after the drain timeout, on the receiving thread itself, buffers still held are copied off
     * the leg first (proxied by copy).
     */
    private void reap(boolean onReceivingThread) {
        for (int i = retired.size() - 1; i >= 0; i--) {
            Leg l = retired.get(i);
            if (!l.outputDone) continue;
            if (l.c.readBuffersHeld() > 0) {
                // Copying held buffers is for the receiving thread only: a switcher acting while that thread is
                // merely outside poll() could swap memory under a read of a held buffer.
                if (!onReceivingThread || System.nanoTime() - l.retiredAt < drainNanos) continue;
                int n = l.c.detachHeldBuffers();
                event(new ConnectionEvent(ConnectionEvent.Type.OLD_BUFFERS_COPIED, l.c.epoch(), l.c.transport(),
                        n + " read buffer(s) of epoch " + l.c.epoch() + " still held after the drain timeout of "
                                + TimeUnit.NANOSECONDS.toMillis(drainNanos) + " ms were copied; " + l.c.transport() + " closed"));
            }
            retired.remove(i);
            if (onReceivingThread) closeLater(l); else closeLeg(l);
        }
    }

    /**
     * Closes {@code l} on a virtual thread: closing a transport takes 0.3–1 ms here (unmapping a shared
     * arena is a handshake with every thread of the JVM; a socket transport frees its selector and
     * direct memory), which on the receiving thread would stall the very stream the switch keeps
     * flowing. Nothing touches {@code l} any more: both directions left it and no read buffer of it is
     * held. Once per switch, so not on the steady-state data path.
     */
    private void closeLater(Leg l) {
        Thread.ofVirtual().name("fable-close-" + l.c.transport()).start(() -> closeLeg(l));
    }

    private void closeLeg(Leg l) {
        synchronized (all) {
            if (l.closed) return;
            l.closed = true;
            all.remove(l);
        }
        l.c.close();
    }

    @Override
    public Buffer receive(Duration timeout) {
        Buffer b = poll();
        if (b != null) return b;
        return receiveUntil(Waiter.deadline(timeout.toNanos()));
    }

    private Buffer receiveUntil(long deadline) {
        while (true) {
            Buffer b;
            enterReceiving();
            try {
                b = pollIn();
                if (b != null) return b;
                Leg l = in;
                if (l.c.inputFinished()) {   // the peer moved on, and this side has not installed the next leg yet
                    if (orphaned == 0) orphaned = System.nanoTime();
                    if (System.nanoTime() - orphaned > SWITCH_NANOS) {
                        throw new PeerGoneException(this + ": the peer ended its " + l.c.transport() + " transport for a switch, but the new "
                                + "transport did not arrive within " + TimeUnit.NANOSECONDS.toSeconds(SWITCH_NANOS) + " s (the peer died "
                                + "mid-switch?); everything it sent before was delivered");
                    }
                    LockSupport.parkNanos(20_000);   // the dispatcher is installing it (setup path, not data path)
                } else {
                    orphaned = 0;
                    b = l.c.receiveLeg(deadline);     // data, the marker, the end (throws after the last buffer) or the deadline
                    if (b != null) return b;
                }
            } finally {
                receiving = 0;
            }
            if (expired(deadline)) return null;
        }
    }

    @Override
    public byte[] receiveMessage(Duration timeout) {
        AbstractConnection c = in.c;
        return assembler.next(fragments, Waiter.deadline(timeout.toNanos()), c.maxFragment(), c.options().maxMessageSize(), corrupt);
    }

    private final MessageAssembler assembler = new MessageAssembler();   // receiving thread only
    private final MessageAssembler.Source fragments = this::receiveUntil;   // made once: receiveMessage allocates only its result
    private final java.util.function.Function<String, RuntimeException> corrupt = detail -> in.c.corrupt(detail);

    /** For a Poller: data to poll, the connection's end, or an event to take with {@link #pollEvent()}. */
    @Override
    public boolean readReady() {
        if (!events.isEmpty()) return true;
        Leg l = in;
        if (l.c.inputFinished()) return l.next != null;
        return pollable(l).readReady();
    }

    @Override
    public Tripwire readWire() {
        return pollable(in).readWire();
    }

    private Pollable pollable(Leg l) {
        if (l.c instanceof Pollable p) return p;
        throw new UnsupportedOperationException("a Poller waits on shared-memory connections only; " + this + " now runs over "
                + l.c.transport() + "; receive() from it on its own thread");
    }

    // ---- switching ----

    @Override
    public long reconfigure(String transport, String reason) {
        return reconfigure(transport, waitOverride, reason);
    }

    /**
     * As {@link #reconfigure(String, String)}, and sets both sides' wait mode on the new transport:
     * {@code waitMode}, or each side's own (its {@link dev.fable.ConnectOptions}) when null. The
     * contention policy switches a spinning shm connection to {@link WaitMode#BLOCK} this way, and back.
     */
    @Override
    public long reconfigure(String transport, WaitMode waitMode, String reason) {
        Objects.requireNonNull(transport, "transport");
        TransportName.check(transport, "reconfigure of " + this);
        if (opener == null) {
            throw new UnsupportedOperationException(this + " was accepted: only the side that connected can switch it (it opens the "
                    + "new transport to this side's endpoint); ask the peer, or use 'fable reconfigure' on its connection");
        }
        if (closed || state() != ConnectionState.OPEN) throw new IllegalStateException(this + " is " + state() + "; it cannot switch");
        if (!switching.compareAndSet(0, MAKING) && !awaitPrevious()) {
            throw new IllegalStateException("a switch of " + this + " to " + newest.c.transport() + " (epoch " + newest.c.epoch()
                    + ") is still under way; it completes when both sides have sent and read the old transport's last message");
        }
        Leg last = newest;
        long epoch = last.c.epoch() + 1;
        String why = reason == null || reason.isBlank() ? "on command" : reason;
        event(new ConnectionEvent(ConnectionEvent.Type.RECONFIGURING, epoch, transport, why));
        AbstractConnection leg;
        try {
            leg = opener.open(transport, epoch, id, why, waitMode);
        } catch (RuntimeException e) {
            switching.set(0);
            event(new ConnectionEvent(ConnectionEvent.Type.RECONFIGURATION_FAILED, epoch, transport, String.valueOf(e.getMessage())));
            throw new FableException("cannot switch " + this + " to " + transport + ": " + e.getMessage() + "; it stays on "
                    + last.c.transport() + " (epoch " + last.c.epoch() + ") and keeps flowing", e);
        }
        switchReason = why + " (epoch " + epoch + ", " + transport + waitNote(waitMode) + ")";
        waitOverride = waitMode;
        install(leg, why);
        return epoch;
    }

    /** Lets the transport policy move this connection ({@link #followPolicy}): the connecting side of an {@code xio://} connect. */
    public void policy(java.util.function.Supplier<Choice> chooser) {
        this.policy = chooser;
    }

    /**
     * Asks the policy again ({@code what} changed: the daemon's trusted networks, where the peer lives)
     * and switches if it now chooses another transport. Returns what was done, or null if nothing
     * changed or the policy does not steer this connection.
     */
    public String followPolicy(String what) {
        java.util.function.Supplier<Choice> p = policy;
        if (p == null || closed || state() != ConnectionState.OPEN) return null;
        Choice c = p.get();
        if (c.transport().equals(transport())) return null;
        String from = transport();
        reconfigure(c.transport(), "policy: " + c.reason() + (what == null ? "" : "; " + what));
        return this + ": " + from + " -> " + c.transport() + " (" + c.reason() + ")";
    }

    /** Why the current transport was switched to, with its epoch; null while the connection is on its first transport. */
    public String switchReason() {
        return switchReason;
    }

    /** A previous switch's break may still be running: helps it along (idle roles) for up to {@link #SWITCH_NANOS}. */
    private boolean awaitPrevious() {
        long deadline = System.nanoTime() + SWITCH_NANOS;
        while (System.nanoTime() - deadline < 0) {
            if (closed) return false;
            helpIdleRoles();
            if (switching.compareAndSet(0, MAKING)) return true;
            LockSupport.parkNanos(50_000);   // setup path: the peer's marker is on its way
        }
        return false;
    }

    /** Accepting side: the endpoint accepted the connector's next leg for this connection, with wait mode {@code waitMode} (null: its own). */
    public void adopt(AbstractConnection leg, String reason, WaitMode waitMode) {
        event(new ConnectionEvent(ConnectionEvent.Type.RECONFIGURING, leg.epoch(), leg.transport(), reason));
        switchReason = reason + " (epoch " + leg.epoch() + ", " + leg.transport() + waitNote(waitMode) + ")";
        waitOverride = waitMode;
        install(leg, reason);
    }

    private static String waitNote(WaitMode m) {
        return m == null ? "" : ", " + m.name().toLowerCase(java.util.Locale.ROOT) + " waits";
    }

    /** Transport instances this connection holds open: the newest and the old ones not yet drained and closed. */
    public int openLegs() {
        synchronized (all) {
            return all.size();
        }
    }

    /** This connection's id, the same on both sides (the daemon pairs the two ends by it). */
    public long id() {
        return id;
    }

    /** True when the wait mode of the current transport was set by a switch (the contention policy) rather than this side's options. */
    public boolean waitOverridden() {
        return waitOverride != null;
    }

    /** The CPU the sending thread last waited on within the last {@link CpuSample#FRESH_NANOS}, else -1. */
    public int sendCpu() {
        return sendCpu.cpu(CpuSample.FRESH_NANOS);
    }

    /** The CPU the receiving thread last waited on within the last {@link CpuSample#FRESH_NANOS}, else -1. */
    public int recvCpu() {
        return recvCpu.cpu(CpuSample.FRESH_NANOS);
    }

    private void install(AbstractConnection c, String why) {
        c.face(this);
        c.cpuSamples(sendCpu, recvCpu);
        Leg n = new Leg(c, why);
        synchronized (all) {
            if (closed) {
                c.close();
                return;
            }
            all.add(n);
        }
        Leg last = newest;
        switching.set(c.epoch());   // before the leg is linked: a role that reaches it can complete this switch, and only this one
        last.next = n;   // volatile: the roles follow `next` when they move
        newest = n;
        if (opener == null) c.installed();   // accepting side: the connector's sender may move now (shm waits for this)
        // A busy thread moves itself within microseconds (the sender at its next claim, the receiver at the
        // peer's marker), without the role's lock. Only a role that has not moved after a short wait is moved
        // here: taking the lock at once would make a busy thread wait for this one, which two hot threads on
        // two CPUs may keep off the CPU for milliseconds (lock-holder preemption).
        SEND_GATE.setVolatile(this, CLOSED_GATE);   // the busy sender's next claim takes the slow path and moves
        awaitMoved(n, HELP_AFTER_NANOS);
        helpIdleRoles();
        maybeComplete();
        if (switching.get() != 0 && !closed) finishLater();
    }

    /**
     * A role did not move yet: its thread was busy (a claimed buffer, a receive under way) and may go
     * quiet without calling again, or the peer's end marker has not arrived. A virtual thread keeps
     * acting for idle roles, backing off from 0.2 to 50 ms, until the switch completes, the
     * connection closes, or {@link #SWITCH_NANOS} pass. Without it a side that stopped sending or
     * never receives kept the old transport (and {@link #reconfiguring()}) until its next switch.
     */
    private void finishLater() {
        Thread.ofVirtual().name("fable-switch-finisher").start(() -> {
            long deadline = System.nanoTime() + SWITCH_NANOS;
            long pause = FINISH_FIRST_PAUSE_NANOS;
            while (switching.get() != 0 && !closed && System.nanoTime() - deadline < 0) {
                LockSupport.parkNanos(pause);
                pause = Math.min(2 * pause, FINISH_MAX_PAUSE_NANOS);
                // a racy look first (plain read): a receiving thread inside poll/receive moves itself; spare it the heavy fence
                if (out == newest && receiving != 0) continue;
                helpIdleRoles();
            }
        });
    }

    private static final long FINISH_FIRST_PAUSE_NANOS = TimeUnit.MICROSECONDS.toNanos(200);
    private static final long FINISH_MAX_PAUSE_NANOS = TimeUnit.MILLISECONDS.toNanos(50);

    /** How long a switcher lets busy threads move themselves before it acts for idle ones. */
    private static final long HELP_AFTER_NANOS = TimeUnit.MILLISECONDS.toNanos(2);

    /** Waits (off the CPU, in short sleeps) up to {@code nanos} until both roles reached leg {@code n}. */
    private void awaitMoved(Leg n, long nanos) {
        long until = System.nanoTime() + nanos;
        while ((out != n || in != n) && System.nanoTime() - until < 0 && !closed) {
            LockSupport.parkNanos(50_000);   // setup path: give the CPU to the hot threads meanwhile
        }
    }

    /** Moves whichever role's thread is idle now; a busy one moves itself at its next call. */
    private void helpIdleRoles() {
        if (out != newest) {
            synchronized (sendLock) {
                SEND_GATE.setVolatile(this, CLOSED_GATE);
                AsymmetricFence.heavy();    // now either we see the sending thread's claim count, or it sees the gate closed
                moveOutput(0);              // reopens the gate when it moved; else the sending thread moves at its next claim
            }
        }
        if (in == newest) {
            maybeComplete();
            return;
        }
        synchronized (recvLock) {
            RECV_GATE.setVolatile(this, CLOSED_GATE);
            AsymmetricFence.heavy();    // now either we see `receiving`, or the receiving thread sees the gate closed
            try {
                if (receiving == 0) {
                    while (true) {
                        Leg l = in;
                        Leg n = l.next;
                        if (n == null || !l.c.skipEndOfEpoch()) break;   // old-epoch data waits for the application
                        moveInput(l, n, false);
                    }
                    reap(false);
                }
            } finally {
                RECV_GATE.setRelease(this, OPEN);   // release: our moves before the receiving thread's acquire
            }
        }
        maybeComplete();
    }

    private void maybeComplete() {
        Leg n = newest;
        if (out == n && in == n && switching.compareAndSet(n.c.epoch(), 0)) {   // once per switch, by whichever thread sees it first
            event(new ConnectionEvent(ConnectionEvent.Type.RECONFIGURED, n.c.epoch(), n.c.transport(), n.why));
        }
    }

    /** Queues an event and wakes a Poller sleeping on this connection (events count as readiness there). */
    private void event(ConnectionEvent e) {
        events.add(e);
        try {
            if (in.c instanceof Pollable p) p.readWire().wakeAll();
        } catch (IllegalStateException closedMeanwhile) {
            // the receiving thread moved on and closed that leg: it is awake anyway
        }
    }

    @Override
    public boolean reconfiguring() {
        return switching.get() != 0;
    }

    @Override
    public ConnectionEvent pollEvent() {
        return events.poll();
    }

    // ---- the rest of Connection ----

    @Override public String localName() { return newest.c.localName(); }
    @Override public String peerName() { return newest.c.peerName(); }
    @Override public String transport() { return newest.c.transport(); }
    @Override public long epoch() { return newest.c.epoch(); }
    @Override public WaitMode waitMode() { return newest.c.waitMode(); }
    @Override public int maxFragment() { return out.c.maxFragment(); }
    @Override public long messagesSent() { return sentBefore + out.c.messagesSent(); }
    @Override public long messagesReceived() { return receivedBefore + in.c.messagesReceived(); }
    @Override public long bytesSent() { return sentBytesBefore + out.c.bytesSent(); }
    @Override public long bytesReceived() { return receivedBytesBefore + in.c.bytesReceived(); }

    @Override
    public ConnectionState state() {
        return closed ? ConnectionState.CLOSED : newest.c.state();   // an old leg the peer closed after its marker is no news
    }

    @Override
    public FableException failure() {
        return newest.c.failure();
    }

    @Override
    public void close() {
        List<Leg> legs;
        synchronized (all) {
            if (closed) return;
            closed = true;
            legs = new ArrayList<>(all);
            for (Leg l : legs) l.closed = true;
            all.clear();
        }
        for (int i = legs.size() - 1; i >= 0; i--) legs.get(i).c.close();   // newest first: the peer sees the end on every leg
        onClose.run();
    }

    @Override
    public String toString() {
        AbstractConnection c = newest.c;
        return c.epoch() == 0 ? c.toString() : c + " (epoch " + c.epoch() + ")";   // e.g. "shm connection 'a' -> 'b'", as its buffers' labels say
    }
}
