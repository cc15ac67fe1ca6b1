package dev.fable.flow;

import dev.fable.Buffer;
import dev.fable.Connection;
import dev.fable.ConnectionEvent;
import dev.fable.ConnectionState;
import dev.fable.FableException;
import dev.fable.WaitMode;
import dev.fable.buffer.Messages;
import dev.fable.io.ConnectionStreams;
import dev.fable.io.FableSocket;
import dev.fable.sync.CpuSample;
import dev.fable.sync.Tripwire;
import dev.fable.transport.Leg;
import dev.fable.transport.Pollable;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * The {@link Connection} an application holds: a chain of transport {@link Leg legs}, one per
 * epoch, driven by three parts with one duty each:
 * <ul>
 * <li>{@link SendRole}: claim/commit, on the application's sending thread;</li>
 * <li>{@link ReceiveRole}: poll/receive/release, on its receiving thread;</li>
 * <li>{@link Switcher}: the make-before-break switch to a new leg, on threads that are not the roles'.</li>
 * </ul>
 * The roles' fast paths take no lock, allocate nothing and make no system call, during a switch too:
 * a role whose thread is busy moves itself at its next call, a role whose thread is idle is moved
 * by the switcher, and while a switcher holds a role, {@code claim} and {@code poll} return null
 * ("nothing now, retry"). Only the blocking forms wait. Connections to plain external peers
 * ({@code tcp://}, {@code unix://}) are live connections of one leg that cannot switch.
 */
public final class LiveConnection implements Connection, Pollable, dev.fable.transport.LegEvents, dev.fable.buffer.ForwardTarget,
        FableSocket.StreamsHolder {
    /** Opens the next leg to the peer (the connecting side's naming layer). */
    @FunctionalInterface
    public interface LegOpener {
        /** {@code waitMode}: both sides' wait mode on the new leg, or null for each side's own (its options). */
        Leg open(String transport, long epoch, long connectionId, String reason, WaitMode waitMode);
    }

    /** What the transport policy chooses for this connection now: a transport and why. */
    public record Choice(String transport, String reason) {}

    /** How long the application may hold read buffers of an old transport before they are copied: -Dfable.drainTimeoutMillis. */
    public static final long DEFAULT_DRAIN_MILLIS = 5000;

    private final long id;
    private final Runnable onClose;
    private final boolean external;
    private final CpuSample sendCpu = new CpuSample();   // where the sending thread last waited (every leg writes it)
    private final CpuSample recvCpu = new CpuSample();   // where the receiving thread last waited
    private final SendRole send;
    private final ReceiveRole recv;
    private final Switcher switcher;
    private volatile Supplier<Choice> policy;   // connector side of an xio:// connection: asks the daemon
    private boolean subscription;               // the subscriber's side of a subscription: nothing may be sent
    private volatile boolean droppedEventQueued;  // a DROPPED event is queued and not yet polled: later drops only add to the count
    private volatile long dropped;              // a subscription: messages the publisher dropped for us, as told (receiving role writes)

    /**
     * @param first      the epoch-0 leg
     * @param id         this connection's id, the same on both sides (the connector picks it)
     * @param opener     opens the next leg (connecting side); null on the accepting side
     * @param onClose    run once when the application closes the connection
     * @param drainNanos how long read buffers of an old leg may be held before they are copied off it
     */
    public LiveConnection(Leg first, long id, LegOpener opener, Runnable onClose, long drainNanos) {
        this(first, id, opener, onClose, drainNanos, false);
    }

    private LiveConnection(Leg first, long id, LegOpener opener, Runnable onClose, long drainNanos, boolean external) {
        this.id = id;
        this.onClose = onClose;
        this.external = external;
        bind(first);
        Link l = new Link(first, null);
        this.switcher = new Switcher(this, l, id, opener, drainNanos);
        this.send = new SendRole(l, switcher, sendCpu);
        this.recv = new ReceiveRole(l, switcher, recvCpu);
        switcher.send = send;
        switcher.recv = recv;
    }

    /** A connection to a plain external peer: one leg, never switches. */
    public static LiveConnection external(Leg leg) {
        return new LiveConnection(leg, 0, null, () -> { }, TimeUnit.MILLISECONDS.toNanos(DEFAULT_DRAIN_MILLIS), true);
    }

    /** Before a leg is published to the roles: its buffers name this connection, its waits write this connection's samples. */
    void bind(Leg leg) {
        leg.bind(this, sendCpu, recvCpu);
    }

    String cannotSwitchBecause() {
        return external ? " is a connection to a plain external peer: it cannot switch transport"
                : " was accepted: only the side that connected can switch it (it opens the new transport to this side's "
                + "endpoint); ask the peer, or use 'fable reconfigure' on its connection";
    }

    /** The newest leg (the transport instance of the current epoch): for diagnostics and transport tests. */
    public Leg leg() {
        return switcher.newest().leg;
    }

    /**
     * True while the receiving leg has lent buffers to another connection ({@link Buffer#forward}) that have not come
     * back: their return wakes nobody, so a reader that waits for readiness must poll now and then to give them back.
     * Call it on the receiving thread.
     */
    public boolean lending() {
        return recv.in().leg.lending();
    }

    /**
     * True when everything committed so far is where {@link #close()} keeps it deliverable ({@link Leg#outputFlushed()}
     * of the transport in use); also true once the connection has ended. Call it on the sending thread.
     */
    public boolean outputFlushed() {
        return state() != dev.fable.ConnectionState.OPEN || leg().outputFlushed();
    }

    // ---- the roles ----

    @Override public Buffer claim(int maxBytes) { if (subscription) refuseSending(); return send.claim(maxBytes); }
    @Override public Buffer claim(int maxBytes, Duration timeout) { if (subscription) refuseSending(); return send.claim(maxBytes, timeout); }

    private void refuseSending() {
        throw new IllegalStateException(this + " is a subscription: it only receives what the publisher publishes");
    }

    /** Makes this connection a subscription's subscriber side: claims fail. Before the application gets it. */
    public void subscription() {
        this.subscription = true;
    }
    @Override public void send(byte[] data, int offset, int length) { Messages.send(this, data, offset, length); }
    @Override public Buffer poll() { return recv.poll(); }

    @Override
    public int poll(dev.fable.MessageHandler handler, int limit) {
        if (limit < 1) throw new IllegalArgumentException("poll(handler, " + limit + "): a limit of at least 1");
        java.util.Objects.requireNonNull(handler, "handler");
        return recv.poll(handler, limit);
    }
    @Override public Buffer receive(Duration timeout) { return recv.receive(timeout); }
    @Override public byte[] receiveMessage(Duration timeout) { return recv.receiveMessage(timeout); }

    /**
     * For a Poller, on its thread: data to poll, the connection's end, or an event to take with {@link #pollEvent()}.
     * Over a socket it may read the socket once (the receiving role's work, hence the poller's thread only).
     */
    @Override
    public boolean readReady() {
        if (switcher.hasEvents()) return true;
        Link l = recv.in();
        if (l.leg.inputFinished()) return l.next != null;
        if (l.leg instanceof Pollable p) return p.readReady();
        return l.leg.readable();
    }

    @Override
    public boolean dataOrEndSeen() {
        Pollable p = watchable();
        return switcher.hasEvents() || p == null || p.dataOrEndSeen();
    }

    @Override
    public Tripwire readWire() {
        return pollable(recv.in()).readWire();
    }

    /** True when the current leg can sleep in a Poller (shared memory). */
    public boolean pollable() {
        return recv.in().leg instanceof Pollable;
    }

    /**
     * The receiving leg's shared-memory readiness (its tripwire and ring), for a watcher thread that sleeps on it
     * while the poller's thread does not read this connection; null when the receiving leg is a socket's.
     */
    public Pollable watchable() {
        return recv.in().leg instanceof Pollable p ? p : null;
    }

    /** The receiving leg's socket channel, for a Poller's selector thread; null over shared memory. */
    public java.nio.channels.SelectableChannel selectable() {
        return recv.in().leg.selectable();
    }

    private volatile Runnable readinessHook;   // a Poller's, while this connection is in one

    /**
     * A Poller: {@code hook} runs (on any thread, without blocking) when this connection's readiness may have changed
     * in a way no transport signals: a reconfiguration event, or a new leg linked after the old one's end. Null: none.
     */
    public void readinessHook(Runnable hook) {
        this.readinessHook = hook;
    }

    /** The switcher: see {@link #readinessHook}. */
    void readinessChanged() {
        Runnable r = readinessHook;
        if (r != null) r.run();
    }

    /** True while a reconfiguration event waits to be taken (any thread: a hint). */
    public boolean eventsPending() {
        return switcher.hasEvents();
    }

    private Pollable pollable(Link l) {
        if (l.leg instanceof Pollable p) return p;
        throw new UnsupportedOperationException("a Poller waits on shared-memory connections only; " + this + " now runs over "
                + l.leg.transport() + "; receive() from it on its own thread");
    }

    // ---- one producer, many consumers ----

    /** The publisher's sending thread, once as the subscriber joins: see {@link dev.fable.transport.Leg#joinBroadcast}. */
    public boolean joinBroadcast(dev.fable.transport.BroadcastSource log) {
        return send.out().leg.joinBroadcast(log);   // a subscription's leg never switches: its first leg
    }

    /** The publisher's sending thread: see {@link dev.fable.transport.Leg#broadcastRead}. */
    public long broadcastRead() {
        return send.out().leg.broadcastRead();
    }

    /** The publisher's sending thread: see {@link dev.fable.transport.Leg#wakeReader}. */
    public void wakeReader() {
        send.out().leg.wakeReader();
    }

    /** The publisher's sending thread: a reference to shared slot {@code slot} (see {@link SendRole#offerShared}). */
    public int offerShared(dev.fable.transport.FanoutSlots pool, int slot, int length, long droppedSince) {
        return send.offerShared(pool, slot, length, droppedSince);
    }

    @Override
    public int forwardLent(dev.fable.buffer.SlotBuffer b, dev.fable.buffer.Lender lender, dev.fable.buffer.Lender.LentPool pool, int slot,
                           int length, boolean more) {
        if (subscription) refuseSending();
        return send.offerLent(b, lender, pool, slot, length, more);
    }

    /** The publisher's sending thread: gives back the shared slots the peer released since the leg last looked. */
    public void reclaimShared() {
        send.reclaimShared();
    }

    /** The publisher's sending thread, a buffer claimed on this connection: its message is told to follow {@code n} drops. */
    public void noteDropped(long n) {
        send.out().leg.noteDropped(n);   // the leg of the claimed buffer: the output cannot move while a buffer is out
    }

    /** The publisher's sending thread: references to shared slots the current leg has not yet seen released (-1: none taken). */
    public int sharedHeld() {
        return send.out().leg.sharedHeld();
    }

    @Override
    public void peerDropped(long n) {
        dropped += n;   // single writer: the receiving role
        if (droppedEventQueued) return;   // one unpolled event at a time: an application that never polls events keeps no pile
        droppedEventQueued = true;
        switcher.event(new ConnectionEvent(ConnectionEvent.Type.DROPPED, epoch(), transport(),
                "the publisher dropped messages for this subscriber because its queue was full (" + dropped
                        + " so far; messagesDropped() has the running total)"));
    }

    @Override
    public long messagesDropped() {
        return dropped;
    }

    // ---- switching ----

    @Override
    public long reconfigure(String transport, String reason) {
        return switcher.reconfigure(transport, switcher.waitOverride, reason);
    }

    @Override
    public long reconfigure(String transport, WaitMode waitMode, String reason) {
        return switcher.reconfigure(transport, waitMode, reason);
    }

    /** Accepting side: the endpoint accepted the connector's next leg for this connection, with wait mode {@code waitMode} (null: its own). */
    public void adopt(Leg leg, String reason, WaitMode waitMode) {
        switcher.adopt(leg, reason, waitMode);
    }

    /** Lets the transport policy move this connection ({@link #followPolicy}): the connecting side of an {@code xio://} connect. */
    public void policy(Supplier<Choice> chooser) {
        this.policy = chooser;
    }

    /**
     * Asks the policy again ({@code what} changed: the daemon's trusted networks, where the peer lives)
     * and switches if it now chooses another transport. Returns what was done, or null if nothing
     * changed or the policy does not steer this connection.
     */
    public String followPolicy(String what) {
        Supplier<Choice> p = policy;
        if (p == null || switcher.closed || state() != ConnectionState.OPEN) return null;
        Choice c = p.get();
        if (c.transport().equals(transport())) return null;
        String from = transport();
        reconfigure(c.transport(), "policy: " + c.reason() + (what == null ? "" : "; " + what));
        return this + ": " + from + " -> " + c.transport() + " (" + c.reason() + ")";
    }

    /** Why the current transport was switched to, with its epoch; null while the connection is on its first transport. */
    public String switchReason() {
        return switcher.switchReason;
    }

    @Override
    public boolean reconfiguring() {
        return switcher.reconfiguring();
    }

    @Override
    public ConnectionEvent pollEvent() {
        ConnectionEvent e = switcher.pollEvent();
        if (e != null && e.type() == ConnectionEvent.Type.DROPPED) droppedEventQueued = false;
        return e;
    }

    /** Run once when this connection's current transport ends under it (the peer closed, died or broke the protocol). */
    private volatile Runnable onPeerEnd;

    /** Sets what runs when the peer of this connection's current transport ends it (the publisher's view of a subscriber). */
    public void onPeerEnd(Runnable r) {
        this.onPeerEnd = r;
        if (state() != ConnectionState.OPEN && state() != ConnectionState.CLOSED) r.run();   // ended before the hook was set
    }

    @Override
    public void legEnded(Leg l) {
        Runnable r = onPeerEnd;
        if (r != null && l == leg()) r.run();   // an old leg a switch retires ends as a matter of course
    }

    /** Transport instances this connection holds open: the newest and the old ones not yet drained and closed. */
    public int openLegs() {
        return switcher.openLegs();
    }

    /** This connection's id, the same on both sides (the daemon pairs the two ends by it). */
    public long id() {
        return id;
    }

    /** True when the wait mode of the current transport was set by a switch (the contention policy) rather than this side's options. */
    public boolean waitOverridden() {
        return switcher.waitOverride != null;
    }

    /** The CPU the sending thread last waited on within the last {@link CpuSample#FRESH_NANOS}, else -1. */
    public int sendCpu() {
        return sendCpu.cpu(CpuSample.FRESH_NANOS);
    }

    /** The CPU the receiving thread last waited on within the last {@link CpuSample#FRESH_NANOS}, else -1. */
    public int recvCpu() {
        return recvCpu.cpu(CpuSample.FRESH_NANOS);
    }

    // ---- the rest of Connection ----

    @Override public String localName() { return leg().localName(); }
    @Override public String peerName() { return leg().peerName(); }
    @Override public String transport() { return leg().transport(); }
    @Override public long epoch() { return leg().epoch(); }
    @Override public WaitMode waitMode() { return leg().waitMode(); }
    @Override public int maxFragment() { return send.out().leg.maxFragment(); }
    @Override public long messagesSent() { return send.messagesSent(); }
    @Override public long messagesReceived() { return recv.messagesReceived(); }
    @Override public long fragmentsSent() { return send.fragmentsSent(); }
    @Override public long fragmentsReceived() { return recv.fragmentsReceived(); }
    @Override public long bytesSent() { return send.bytesSent(); }
    @Override public long bytesReceived() { return recv.bytesReceived(); }

    @Override
    public ConnectionState state() {
        return switcher.closed ? ConnectionState.CLOSED : leg().state();   // an old leg the peer closed after its marker is no news
    }

    @Override
    public FableException failure() {
        return leg().failure();
    }

    @Override
    public void close() {
        ConnectionStreams s = streams;
        if (s != null) s.connectionClosed();
        if (switcher.close()) onClose.run();
    }

    // ---- the byte-stream views ----

    /** Made on first use; the views of all callers share it (reading and writing threads may race to make it). */
    private volatile ConnectionStreams streams;
    private static final VarHandle STREAMS;

    static {
        try {
            STREAMS = MethodHandles.lookup().findVarHandle(LiveConnection.class, "streams", ConnectionStreams.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    @Override
    public ConnectionStreams streams() {
        ConnectionStreams s = streams;
        if (s != null) return s;
        ConnectionStreams made = new ConnectionStreams(this);
        ConnectionStreams won = (ConnectionStreams) STREAMS.compareAndExchange(this, (ConnectionStreams) null, made);
        s = won == null ? made : won;
        if (switcher.closed) s.connectionClosed();
        return s;
    }

    @Override public java.io.InputStream inputStream() { return streams().inputStream(); }
    @Override public java.io.OutputStream outputStream() { return streams().outputStream(); }
    @Override public java.nio.channels.ByteChannel channel() { return streams().channel(); }

    @Override
    public String toString() {
        Leg c = leg();
        return c.epoch() == 0 ? c.toString() : c + " (epoch " + c.epoch() + ")";   // e.g. "shm connection 'a' -> 'b'", as its buffers' labels say
    }
}
