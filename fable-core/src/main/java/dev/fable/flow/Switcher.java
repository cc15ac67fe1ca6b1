package dev.fable.flow;

import dev.fable.ConnectionEvent;
import dev.fable.ConnectionState;
import dev.fable.FableException;
import dev.fable.TransportName;
import dev.fable.WaitMode;
import dev.fable.transport.Leg;
import dev.fable.transport.Pollable;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * The make-before-break switch of one {@link LiveConnection}, on threads that are not the roles':
 * the thread in {@code reconfigure} (connecting side) or the endpoint's session thread in
 * {@code adopt} (accepting side) makes and installs the next leg, and a virtual thread per switch,
 * the <em>finisher</em>, acts for idle roles and closes the legs both directions left.
 *
 * <ol>
 * <li><b>Make.</b> The connecting side opens a new leg to the peer's endpoint (a transport handshake
 * tagged with the connection's id and epoch e+1); the peer's endpoint adopts it. Both sides link it
 * behind the newest leg. Data keeps flowing over leg e meanwhile.</li>
 * <li><b>Sending direction.</b> At its next claim (or by the finisher, if the sending thread is
 * idle) a side ends leg e's output with the end-of-epoch marker, behind everything it committed
 * there, and claims from leg e+1 from then on ({@link SendRole}).</li>
 * <li><b>Receiving direction.</b> A side reads leg e until the peer's marker, then leg e+1: every
 * message of epoch e before any of e+1, none twice, none lost ({@link ReceiveRole}).</li>
 * <li><b>Break.</b> Leg e is closed, by the finisher, once both directions left it and the
 * application released every read buffer it holds from it.</li>
 * </ol>
 */
final class Switcher {
    /** How long a new switch waits for the previous one, and a receiver for the next leg after the peer's marker. */
    static final long SWITCH_NANOS = TimeUnit.SECONDS.toNanos(10);
    /** How long a switcher lets busy threads move themselves before it acts for idle ones. */
    private static final long HELP_AFTER_NANOS = TimeUnit.MILLISECONDS.toNanos(2);
    private static final long FINISH_FIRST_PAUSE_NANOS = TimeUnit.MICROSECONDS.toNanos(200);
    private static final long FINISH_MAX_PAUSE_NANOS = TimeUnit.MILLISECONDS.toNanos(50);
    /** {@link #switching} while the connector makes the new leg. */
    private static final long MAKING = -1;

    private final LiveConnection owner;
    private final long id;
    private final LiveConnection.LegOpener opener;   // null on the accepting side
    /** How long the application may hold read buffers of an old transport before they are copied. */
    final long drainNanos;
    SendRole send;
    ReceiveRole recv;

    private volatile Link newest;
    /**
     * The switch under way: 0 none; {@link #MAKING} while the connector sets the new leg up; else the
     * epoch of the installed leg whose break is not complete. Completion is a compare-and-set from
     * that epoch, so a thread that sees an earlier switch complete cannot end a later one.
     */
    private final AtomicLong switching = new AtomicLong();
    private final List<Link> all = new ArrayList<>();   // every leg not yet closed; guarded by itself
    private final ConcurrentLinkedQueue<ConnectionEvent> events = new ConcurrentLinkedQueue<>();
    /** Legs the receiving role retired and released: the finisher closes them. */
    private final ConcurrentLinkedQueue<Link> toClose = new ConcurrentLinkedQueue<>();
    private final AtomicBoolean finisherRunning = new AtomicBoolean();
    private volatile boolean retiredPending;   // the receiving role still holds retired legs (buffers out)
    volatile boolean closed;
    volatile String switchReason;   // why the newest leg was set up (null for epoch 0)
    volatile WaitMode waitOverride;   // both sides' wait mode set by a switch (the contention policy), null: each side's own

    Switcher(LiveConnection owner, Link first, long id, LiveConnection.LegOpener opener, long drainNanos) {
        this.owner = owner;
        this.id = id;
        this.opener = opener;
        this.drainNanos = drainNanos;
        this.newest = first;
        this.all.add(first);
    }

    LiveConnection owner() {
        return owner;
    }

    Link newest() {
        return newest;
    }

    long reconfigure(String transport, WaitMode waitMode, String reason) {
        Objects.requireNonNull(transport, "transport");
        TransportName.check(transport, "reconfigure of " + owner);
        if (opener == null) throw new UnsupportedOperationException(owner + owner.cannotSwitchBecause());
        if (closed || owner.state() != ConnectionState.OPEN) throw new IllegalStateException(owner + " is " + owner.state() + "; it cannot switch");
        if (!switching.compareAndSet(0, MAKING) && !awaitPrevious()) {
            throw new IllegalStateException("a switch of " + owner + " to " + newest.leg.transport() + " (epoch " + newest.leg.epoch()
                    + ") is still under way; it completes when both sides have sent and read the old transport's last message");
        }
        Link last = newest;
        long epoch = last.leg.epoch() + 1;
        String why = reason == null || reason.isBlank() ? "on command" : reason;
        event(new ConnectionEvent(ConnectionEvent.Type.RECONFIGURING, epoch, transport, why));
        Leg leg;
        try {
            leg = opener.open(transport, epoch, id, why, waitMode);
        } catch (RuntimeException e) {
            switching.set(0);
            event(new ConnectionEvent(ConnectionEvent.Type.RECONFIGURATION_FAILED, epoch, transport, String.valueOf(e.getMessage())));
            throw new FableException("cannot switch " + owner + " to " + transport + ": " + e.getMessage() + "; it stays on "
                    + last.leg.transport() + " (epoch " + last.leg.epoch() + ") and keeps flowing", e);
        }
        switchReason = why + " (epoch " + epoch + ", " + transport + waitNote(waitMode) + ")";
        waitOverride = waitMode;
        install(leg, why);
        return epoch;
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

    void adopt(Leg leg, String reason, WaitMode waitMode) {
        event(new ConnectionEvent(ConnectionEvent.Type.RECONFIGURING, leg.epoch(), leg.transport(), reason));
        switchReason = reason + " (epoch " + leg.epoch() + ", " + leg.transport() + waitNote(waitMode) + ")";
        waitOverride = waitMode;
        install(leg, reason);
    }

    private static String waitNote(WaitMode m) {
        return m == null ? "" : ", " + m.name().toLowerCase(Locale.ROOT) + " waits";
    }

    private void install(Leg leg, String why) {
        owner.bind(leg);
        Link n = new Link(leg, why);
        synchronized (all) {
            if (closed) {
                leg.close();
                return;
            }
            all.add(n);
        }
        // Accepting side: tell the connector, whose sender may move now (shm waits for this), before the leg is linked: once
        // it is, this side's sender may move onto it at its next claim, and on a stream leg INSTALLED must be the first frame.
        // The connector's marker may then reach this side's receiver before the link below: it waits for it (a moment).
        if (opener == null) leg.installed();
        Link last = newest;
        switching.set(leg.epoch());   // before the leg is linked: a role that reaches it can complete this switch, and only this one
        last.next = n;                // volatile: the roles follow `next` when they move
        owner.readinessChanged();     // a poller that found the old leg finished and nothing after it looks again
        send.switchPending();         // the sender's next claim moves it; before `newest`: a claim that follows epoch() == e+1 comes from e+1
        newest = n;
        // A busy thread moves itself within microseconds (the sender at its next claim, the receiver at the peer's
        // marker). Only a role that has not moved after a short wait is moved here, and only if its thread is idle.
        awaitMoved(n, HELP_AFTER_NANOS);
        helpIdleRoles();
        maybeComplete();
        startFinisher();
    }

    /** Waits (off the CPU, in short sleeps) up to {@code nanos} until both roles reached {@code n}. */
    private void awaitMoved(Link n, long nanos) {
        long until = System.nanoTime() + nanos;
        while ((send.out() != n || recv.in() != n) && System.nanoTime() - until < 0 && !closed) {
            LockSupport.parkNanos(50_000);   // setup path: give the CPU to the hot threads meanwhile
        }
    }

    /** Moves whichever role's thread is idle now; a busy one moves itself at its next call. Never waits. */
    void helpIdleRoles() {
        if (send.out() != newest) send.helpIfIdle();
        if (recv.in() != newest) recv.helpIfIdle();
        maybeComplete();
    }

    void maybeComplete() {
        Link n = newest;
        if (send.out() == n && recv.in() == n && switching.compareAndSet(n.leg.epoch(), 0)) {   // once per switch
            event(new ConnectionEvent(ConnectionEvent.Type.RECONFIGURED, n.leg.epoch(), n.leg.transport(), n.why));
        }
    }

    boolean reconfiguring() {
        return switching.get() != 0;
    }

    /** Queues an event and wakes a Poller sleeping on this connection (events count as readiness there); no system call unless one sleeps. */
    void event(ConnectionEvent e) {
        events.add(e);
        try {
            if (recv.in().leg instanceof Pollable p) p.readWire().signal();
        } catch (IllegalStateException closedMeanwhile) {
            // the leg was closed: its readers are awake anyway
        }
        owner.readinessChanged();   // a poller watching a socket leg learns it too
    }

    ConnectionEvent pollEvent() {
        return events.poll();
    }

    boolean hasEvents() {
        return !events.isEmpty();
    }

    /** Receiving role: {@code l} may close now; the finisher closes it (off the roles' threads). */
    void closeLater(Link l) {
        toClose.add(l);
        if (!finisherRunning.get()) startFinisher();   // only long after a switch (a drain timeout): the finisher has ended
    }

    /** Receiving role: whether it still holds legs it retired (buffers of them out). */
    void retiredPending(boolean pending) {
        if (retiredPending != pending) retiredPending = pending;
    }

    /**
     * The finisher: until the switch completes and every old leg is closed (or the connection closes,
     * or {@link #SWITCH_NANOS} plus the drain timeout pass), acts for idle roles and closes the legs
     * handed to it, backing off from 0.2 to 50 ms. Without it a side that stopped sending or never
     * receives kept the old transport (and {@code reconfiguring()}) until its next switch.
     */
    private void startFinisher() {
        if (!finisherRunning.compareAndSet(false, true)) return;
        Thread.ofVirtual().name("fable-switch-finisher").start(() -> {
            long deadline = System.nanoTime() + SWITCH_NANOS + drainNanos;
            long pause = FINISH_FIRST_PAUSE_NANOS;
            while (true) {
                closeHandedLegs();
                boolean done = switching.get() == 0 && !retiredPending;
                if (closed || (done && toClose.isEmpty()) || System.nanoTime() - deadline > 0) {
                    finisherRunning.set(false);
                    if (toClose.isEmpty() || !finisherRunning.compareAndSet(false, true)) return;   // a late hand-off: go on
                }
                LockSupport.parkNanos(pause);
                pause = Math.min(2 * pause, FINISH_MAX_PAUSE_NANOS);
                if (switching.get() != 0 && !closed) helpIdleRoles();
            }
        });
    }

    private void closeHandedLegs() {
        for (Link l; (l = toClose.poll()) != null; ) closeLeg(l);
    }

    private void closeLeg(Link l) {
        synchronized (all) {
            if (l.closed) return;
            l.closed = true;
            all.remove(l);
        }
        l.leg.closeRetired(drainNanos + RETIRE_MARGIN_NANOS);   // waits for a live peer to release what this side lent it
    }

    /** Beyond the drain timeout, how long a retired leg waits for its peer's releases before it closes anyway. */
    private static final long RETIRE_MARGIN_NANOS = java.util.concurrent.TimeUnit.MILLISECONDS.toNanos(500);

    int openLegs() {
        synchronized (all) {
            return all.size();
        }
    }

    /** Closes every leg, newest first (the peer sees the end on every leg); false if closed already. */
    boolean close() {
        List<Link> legs;
        synchronized (all) {
            if (closed) return false;
            closed = true;
            legs = new ArrayList<>(all);
            for (Link l : legs) l.closed = true;
            all.clear();
        }
        for (int i = legs.size() - 1; i >= 0; i--) legs.get(i).leg.close();
        return true;
    }
}
