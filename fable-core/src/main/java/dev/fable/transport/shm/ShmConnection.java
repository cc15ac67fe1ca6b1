package dev.fable.transport.shm;

import dev.fable.transport.LegServices;
import dev.fable.Buffer;
import dev.fable.ConnectOptions;
import dev.fable.Connection;
import dev.fable.ConnectionClosedException;
import dev.fable.ConnectionState;
import dev.fable.CorruptChannelException;
import dev.fable.PeerGoneException;
import dev.fable.WaitMode;
import dev.fable.sync.AdaptiveSpin;
import dev.fable.sync.Waiter;
import dev.fable.transport.AbstractLeg;
import dev.fable.transport.Counted;
import dev.fable.transport.Arenas;
import dev.fable.transport.ControlChannel;
import dev.fable.transport.ControlMonitor;
import dev.fable.transport.Pollable;
import dev.fable.sync.Tripwire;

import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.lang.foreign.MemorySegment;

import static dev.fable.transport.shm.ShmLayout.*;

/**
 * A {@link Connection} over shared memory: one {@link RingWriter} for the direction this side
 * writes, one {@link RingReader} for the other, and the control channel as the liveness signal.
 *
 * <p>Threads: the sending thread owns the writer, the receiving thread owns the reader, the
 * {@link ControlMonitor} thread and any closing thread only change {@link #state} (under the
 * object's monitor, off the data path) and wake sleepers.
 */
final class ShmConnection extends AbstractLeg implements Pollable, Faults, ControlMonitor.Listener {
    private final long peerPid;
    private final Arena outArena;   // our pool and ring
    private final Arena inArena;    // the peer's pool and ring
    private final ControlChannel control;
    private final RingWriter out;
    private final RingReader in;
    private final WaitMode mode;
    private final long spinNanos;
    private final ControlMonitor monitor;
    private final Waiter.Condition dataOrEnd;
    private final Waiter.Condition spaceOrEnd;
    private final AdaptiveSpin recvSpin;   // ADAPTIVE: the receiving role's spin decisions
    private final AdaptiveSpin sendSpin;   // ADAPTIVE: the sending role's (waiting for space)
    private FanoutPool fanout;             // publisher side of a subscription: the pool this leg may reference; else null
    private String privacy = "relaxed";    // a subscription's privacy model (see privacy())
    private BroadcastLog broadcastTo;      // publisher side of a subscription: the broadcast log its peer mapped; else null

    /** A writer waiting for space re-reads the reader's READ line every this many spins (see Waiter). */
    private static final int SPINS_PER_SPACE_CHECK = 32;

    ShmConnection(String localName, String peerName, long peerPid, ConnectOptions options, Arena outArena, Arena inArena, ControlChannel control,
                  MemorySegment outPool, MemorySegment outRing, MemorySegment inPool, MemorySegment inRing,
                  int inSlotSize, int inSlotCount, int inLogBytes, WaitMode peerMode, LegServices services) {
        this(localName, peerName, peerPid, options, outArena, inArena, control, outPool, outRing, inPool, inRing, inSlotSize, inSlotCount, 0,
                inLogBytes, peerMode, services);
    }

    /** {@code inFanoutSlots}: the slots of the publisher's fan-out pool this side will read ({@link #readFanout}), else 0. */
    ShmConnection(String localName, String peerName, long peerPid, ConnectOptions options, Arena outArena, Arena inArena, ControlChannel control,
                  MemorySegment outPool, MemorySegment outRing, MemorySegment inPool, MemorySegment inRing,
                  int inSlotSize, int inSlotCount, int inFanoutSlots, int inLogBytes, WaitMode peerMode, LegServices services) {
        super(options, localName, peerName, control.epoch());
        this.peerPid = peerPid;
        this.outArena = outArena;
        this.inArena = inArena;
        this.control = control;
        this.mode = options.waitMode();
        this.spinNanos = options.spinNanos();
        String label = toString();
        this.out = new RingWriter(outPool, outRing, options.slotSize(), options.slotCount(), options.logBytes(), this::face, epoch, this,
                peerMode != WaitMode.SPIN, label + " (sending)", services.leaks());
        this.in = new RingReader(inPool, inRing, inSlotSize, inSlotCount, inFanoutSlots, inLogBytes, options.isTrusted(), options.readQuota(), this::face, epoch, this,
                mode != WaitMode.SPIN, label + " (receiving)", services.leaks());
        this.dataOrEnd = () -> in.dataAvailable() || in.inputFinished() || state() != ConnectionState.OPEN || in.lentCameBack();
        this.spaceOrEnd = () -> out.spaceAvailable() || state() != ConnectionState.OPEN;
        // Each side publishes where its waiting threads run in the ring it consumes (CONSUMER_CPU) and the one it
        // produces (PRODUCER_CPU); an adaptive wait compares its own CPU with the peer's two words. The handshake
        // published the set-up thread's CPU if it is pinned (ShmTransport.publishSetupCpu), so the first wait can use it.
        this.recvSpin = new AdaptiveSpin(spinNanos, new RingPlacement(outRing, inRing, true, peerPid));
        this.sendSpin = new AdaptiveSpin(spinNanos, new RingPlacement(outRing, inRing, false, peerPid));
        this.monitor = services.controlMonitor();
        monitor.watch(control, this);
    }

    /**
     * Where this side's role publishes its CPU (the receiving role: CONSUMER_CPU of the ring it reads;
     * the sending role: PRODUCER_CPU of the ring it writes), and the peer's two words, the same for both roles.
     */
    private record RingPlacement(MemorySegment outRing, MemorySegment inRing, boolean receiving, long peerPid) implements AdaptiveSpin.Placement {
        @Override
        public void publish(long stampedCpu, int tid) {
            if (receiving) {
                putConsumerTidOpaque(inRing, tid);
                putConsumerCpuOpaque(inRing, stampedCpu);
            } else {
                putProducerTidOpaque(outRing, tid);
                putProducerCpuOpaque(outRing, stampedCpu);
            }
        }

        @Override
        public int peerSendingTid() {
            return producerTidOpaque(inRing);
        }

        @Override
        public int peerReceivingTid() {
            return consumerTidOpaque(outRing);
        }

        @Override
        public long peerSending() {
            return producerCpuOpaque(inRing);
        }

        @Override
        public long peerReceiving() {
            return consumerCpuOpaque(outRing);
        }
    }

    @Override public String transport() { return ShmTransport.NAME; }
    @Override public int maxFragment() { return out.slotSize(); }
    @Override protected Counted sending() { return out; }
    @Override protected Counted receiving() { return in; }

    // ---- a subscription (one producer, many consumers) ----

    /** Publisher side: this leg may carry references to {@code pool}, which the peer mapped. Before the leg is used. */
    void shareFrom(FanoutPool pool) {
        this.fanout = pool;
        out.shareFrom(pool, pool.quota());
    }

    /** Subscriber side: the publisher's fan-out pool, mapped read-only in this leg's incoming arena. Before the leg is used. */
    void readFanout(MemorySegment pool, int slotSize, int slotCount) {
        in.readFanout(pool, slotSize, slotCount, this::peerDropped);
    }

    /** Subscriber side: the publisher's broadcast log, mapped read-only in this leg's incoming arena. Before the leg is used. */
    void readBroadcast(MemorySegment log, int logBytes, int maxMessage) {
        in.readBroadcast(log, logBytes, maxMessage);
        privacy += "+log";   // fable flows: small messages to all come through the broadcast log, copied at poll
    }

    /** Publisher side: the peer mapped {@code log} (the handshake named it). Before the leg is used. */
    void broadcastTo(BroadcastLog log) {
        this.broadcastTo = log;
        privacy += "+log";   // as the subscriber's side shows it
    }

    @Override
    public boolean joinBroadcast(dev.fable.transport.BroadcastSource log) {
        if (log == null || log != broadcastTo) return false;
        out.startBroadcast(log);
        return true;
    }

    @Override
    public long broadcastRead() {
        return broadcastTo == null ? -1 : out.broadcastRead();
    }

    @Override
    public void wakeReader() {
        out.wakeReader();
    }

    /** This side may forward its read buffers in place: our descriptors of the peer's pools ({@code -1}: none). Before use. */
    void lendable(int poolFd, int fanoutFd) {
        in.lendable(poolFd, fanoutFd);
    }

    /** The peer may forward read buffers of third processes to us in place: pools it announces, within {@code budget} bytes. */
    void acceptForwardedPools(long budget) {
        in.acceptForwardedPools((fd, bytes) -> ShmFiles.mapPeer(peerPid, fd, bytes, true, inArena, "forwarded pool"), Math.max(0, budget));
    }

    @Override
    public int offerShared(dev.fable.transport.FanoutSlots pool, int slot, int length, long dropped) {
        if (state() != ConnectionState.OPEN) throw ended("publish");
        if (pool != fanout) return COPY;
        return out.offerShared(slot, length, dropped, fanout.quota()) ? OFFERED : FULL;
    }

    /** A subscription's privacy model (relaxed, strict, early), as this side knows it. Once, before the leg is used. */
    void privacy(String model) {
        this.privacy = model;
    }

    @Override
    public String privacy() {
        return privacy;
    }

    @Override
    public int sharedHeld() {
        return fanout == null ? -1 : out.sharedHeld();
    }

    @Override
    public void reclaimShared() {
        if (state() == ConnectionState.OPEN) out.reclaimShared();
    }

    @Override
    public int offerLent(dev.fable.buffer.SlotBuffer b, dev.fable.buffer.Lender lender, dev.fable.buffer.Lender.LentPool pool,
                         int slot, int length, boolean more) {
        if (state() != ConnectionState.OPEN) throw ended("forward");
        return out.offerLent(b, lender, pool, slot, length, more);
    }

    // ---- sending ----

    @Override
    public Buffer claim(int maxBytes) {
        if (state() != ConnectionState.OPEN) throw ended("claim");
        return out.claim(maxBytes);
    }

    @Override
    public boolean awaitSpace(long deadline) {
        return Waiter.await(out.spaceWire(), spaceOrEnd, mode, spinNanos, deadline, SPINS_PER_SPACE_CHECK, sendCpu, sendSpin);
    }

    @Override
    public boolean tryFinishOutput() {
        return out.commitEndOfEpoch() || state() != ConnectionState.OPEN;   // the peer is gone: nobody to tell
    }

    @Override
    public boolean inputFinished() {
        return in.inputFinished();
    }

    @Override
    public boolean skipEndOfEpoch() {
        return in.skipEndOfEpoch();
    }

    @Override
    public int detachHeldBuffers() {
        return in.detachHeld(Arena.ofAuto());
    }

    @Override
    public int readBuffersHeld() {
        return in.held();
    }

    // ---- receiving ----

    @Override
    public Buffer poll() {
        ConnectionState s = state();
        if (s == ConnectionState.FAILED || s == ConnectionState.CLOSED) throw ended("poll");
        return in.poll();
    }

    @Override
    public int poll(dev.fable.MessageHandler handler, int limit) {
        ConnectionState s = state();
        if (s == ConnectionState.FAILED || s == ConnectionState.CLOSED) throw ended("poll");
        return in.poll(handler, limit);
    }

    @Override
    public Buffer receive(long deadline) {
        while (true) {
            Buffer b = poll();
            if (b != null) return b;
            if (in.inputFinished()) return null;
            if (state() != ConnectionState.OPEN) {
                b = poll();   // what the peer committed before it ended is still delivered
                if (b != null) return b;
                throw ended("receive");
            }
            // While buffers are lent (forwarded in place), their return wakes nobody: sleep in slices and look at their targets.
            long until = in.lending() ? lendingSlice(deadline) : deadline;
            if (!Waiter.await(in.dataWire(), dataOrEnd, mode, spinNanos, until, 1, recvCpu, recvSpin) && until == deadline) return null;
        }
    }

    /** How long one sleep of a receiver with lent buffers lasts at most (a lent buffer's return is seen within it). */
    private static final long LENDING_SLICE_NANOS = java.util.concurrent.TimeUnit.MICROSECONDS.toNanos(100);

    private static long lendingSlice(long deadline) {
        long s = System.nanoTime() + LENDING_SLICE_NANOS;
        return deadline == Waiter.FOREVER || s - deadline < 0 ? s : deadline;
    }

    /** ADAPTIVE: what the two roles decided at their last wait (fable flows); empty for the other modes. */
    @Override
    public String waitNote() {
        if (mode != WaitMode.ADAPTIVE) return "";
        if (sendSpin.waits() == 0) return recvSpin.describe();
        if (recvSpin.waits() == 0) return sendSpin.describe();
        return "receiving: " + recvSpin.describe() + "; sending: " + sendSpin.describe();
    }

    @Override
    public boolean readReady() {
        return dataOrEnd.met();
    }

    @Override
    public boolean lending() {
        return in.lending();
    }

    @Override
    public boolean dataOrEndSeen() {
        return in.dataAvailable() || in.inputFinished() || state() != ConnectionState.OPEN;
    }

    @Override
    public Tripwire readWire() {
        return in.dataWire();
    }

    // ---- ending ----

    @Override
    protected void wakeAll() {
        in.dataWire().wakeAll();
        out.spaceWire().wakeAll();
    }

    @Override
    public CorruptChannelException corrupt(String detail) {
        CorruptChannelException e = new CorruptChannelException(this + " failed: " + detail
                + ". The peer (pid " + peerPid + ") broke the shared-memory protocol, so this connection was shut down; "
                + "other connections are not affected. Check that both sides run the same Fable version.");
        if (end(ConnectionState.FAILED, e)) {
            monitor.unwatch(control);
            control.close();   // tells the peer
        }
        return e;
    }

    @Override
    public synchronized void controlClosed() {
        // Under the monitor: close() moves to CLOSED under it before it unmaps, so the ring is still mapped here.
        if (state() != ConnectionState.OPEN) return;
        if (in.producerClosed()) {
            end(ConnectionState.PEER_CLOSED, new ConnectionClosedException("peer '" + peerName + "' closed " + this));
        } else {
            end(ConnectionState.PEER_GONE, new PeerGoneException("peer '" + peerName + "' (pid " + peerPid + ") of " + this
                    + " went away without closing (crashed or killed); every message it sent before that reaches this side (what this side sent may not have reached it)"));
        }
    }

    /**
     * A leg a switch retired: before closing, waits (off the data path: the switch's finisher calls this) until the
     * live peer has released the slots this side lent it (a relay's forwards in place), or the peer closed its side,
     * or {@code waitNanos} passed (the peer's drain timeout copies what its application still holds). Closing
     * earlier would leave those slots held for good: the lender can no longer read this ring's READ.
     */
    @Override
    public void closeRetired(long waitNanos) {
        long deadline = System.nanoTime() + waitNanos;
        while (state() == ConnectionState.OPEN && System.nanoTime() - deadline < 0) {
            try {
                if (out.lentReleased()) break;
            } catch (IllegalStateException unmapped) {
                break;
            }
            java.util.concurrent.locks.LockSupport.parkNanos(100_000);
        }
        close();
    }

    @Override
    public void close() {
        if (!markClosed()) return;
        out.markClosed();          // after our last commit: the peer drains, then sees a clean close
        // a peer that died, failed or closed reads none of its references to shared slots (fan-out or forwarded) any
        // more: they all go back to their pool or lender; a leg retired by a switch keeps those its live peer may still hold
        out.endShared(stateBeforeClose() != ConnectionState.OPEN);
        in.endLending();
        wakeAll();
        monitor.unwatch(control);
        control.close();
        in.untrackAll();
        out.untrackAll();
        Arenas.close(outArena, this);   // unmaps the four mappings
        Arenas.close(inArena, this);
    }

    /** A reconfiguration leg on the accepting side is in its connection's chain: tell the connector, which waits for it (ShmTransport). */
    @Override
    public void installed() {
        if (epoch == 0) return;
        try {
            control.writeFrame(ByteBuffer.allocate(1).put(0, ShmTransport.INSTALLED));
        } catch (RuntimeException e) {
            // the connector is gone: its switch fails on its side, and this leg's control monitor reports the end
        }
    }

    @Override
    public String toString() {
        return "shm connection '" + localName + "' -> '" + peerName + "'";
    }
}
