package dev.fable.transport;

import dev.fable.Buffer;
import dev.fable.ConnectOptions;
import dev.fable.Connection;
import dev.fable.ConnectionState;
import dev.fable.CorruptChannelException;
import dev.fable.FableException;
import dev.fable.WaitMode;
import dev.fable.sync.CpuSample;
import dev.fable.sync.Waiter;

/**
 * One transport instance of a connection: one epoch, one transport. Applications never hold a leg:
 * {@code dev.fable.flow.LiveConnection} is the {@link Connection} and drives a chain of legs, one per
 * epoch. A leg has no blocking conveniences of the API ({@code send}, {@code receiveMessage}); the
 * live connection builds those once over whichever leg is current.
 *
 * <h2>Threads</h2>
 * The sending methods ({@link #claim}, {@link #awaitSpace}, {@link #finishOutput}, {@link #tryFinishOutput})
 * belong to the connection's sending role and the receiving ones ({@link #poll}, {@link #receive},
 * {@link #inputFinished}, {@link #skipEndOfEpoch}, {@link #detachHeldBuffers}, {@link #readBuffersHeld})
 * to its receiving role: one thread each at a time. The rest may be called from any thread.
 */
public interface Leg {
    String localName();

    String peerName();

    /** The transport's name, e.g. {@code "shm"} ({@code dev.fable.TransportName}), or {@code tcp-raw} for a plain peer. */
    String transport();

    /** 0 for a new connection, e+1 for the leg a switch sets up. */
    long epoch();

    /** Largest fragment one buffer carries (this side's slot size). */
    int maxFragment();

    ConnectOptions options();

    /** How this leg's waits wait (its options' mode, or the one a switch set). */
    WaitMode waitMode();

    /** What an adaptive wait decided lately and why (e.g. {@code block: peer on CPU 0}), for fable flows; empty if nothing to say. */
    default String waitNote() {
        return "";
    }

    /**
     * Sets, before the leg is published to the roles' threads: the connection its buffers name as theirs,
     * and the CPU samples its sending and receiving waits write (the connection's, shared by all its legs).
     */
    void bind(Connection connection, CpuSample send, CpuSample recv);

    /** A write buffer for up to {@code maxBytes} (capped at {@link #maxFragment()}), or null under back-pressure. Never blocks. */
    Buffer claim(int maxBytes);

    /** {@link #offerShared}: the reference was published; the leg gives the slot back through {@link FanoutSlots#released}. */
    int OFFERED = dev.fable.buffer.ForwardTarget.OFFERED;
    /** {@link #offerShared}: the peer's queue has no room now (nothing was published). */
    int FULL = dev.fable.buffer.ForwardTarget.FULL;
    /** {@link #offerShared}: this leg cannot carry a reference to that pool (another transport): copy the bytes instead. */
    int COPY = dev.fable.buffer.ForwardTarget.COPY;

    /**
     * Sending role: publishes a reference to slot {@code slot} of {@code pool} ({@code length} bytes, a whole
     * message) without copying it, if this leg's peer mapped that pool; first a note that {@code dropped}
     * messages were dropped for the peer since the last such note (0: none). Never blocks. Returns
     * {@link #OFFERED}, {@link #FULL} or {@link #COPY}.
     */
    default int offerShared(FanoutSlots pool, int slot, int length, long dropped) {
        return COPY;
    }

    /**
     * Sending role: publishes a reference to a read buffer another connection's reader lent
     * ({@link dev.fable.buffer.ForwardTarget#forwardLent}), if this leg's peer can map its pool; the leg gives
     * it back to the lender once its peer released it. Returns {@link #OFFERED}, {@link #FULL} or {@link #COPY}.
     */
    default int offerLent(dev.fable.buffer.SlotBuffer b, dev.fable.buffer.Lender lender, dev.fable.buffer.Lender.LentPool pool,
                          int slot, int length, boolean more) {
        return COPY;
    }

    /**
     * Sending role (a publisher's end of a subscription): the peer reads {@code log} from now on, if it mapped it
     * (its HELLO asked for it, and the handshake named this log); this leg tells it where to start and from then on
     * orders its own records after the broadcast messages published before them. False: the peer does not read it
     * (send it copies). Once, before anything else is sent on the leg.
     */
    default boolean joinBroadcast(BroadcastSource log) {
        return false;
    }

    /**
     * Sending role: the peer's position in the broadcast log it joined, as it last published it (0 before it did; -1:
     * it reads none). The peer writes it: check it before use.
     */
    default long broadcastRead() {
        return -1;
    }

    /** Sending role: wakes the peer's reader if it sleeps (a message reached it through the broadcast log). */
    default void wakeReader() {
    }

    /**
     * Sending role, with a buffer claimed: the frame of that buffer also tells the peer (a subscriber) that
     * {@code n} messages were dropped for it before this one. Stream legs only; shared memory says it in
     * {@link #offerShared}.
     */
    default void noteDropped(long n) {
    }

    /**
     * A subscription's privacy model (the Barrelfish bulk transport's): {@code relaxed} (the subscriber reads the
     * publisher's slots in place), {@code strict} (it copies each at poll), {@code early} (the publisher writes into the
     * subscriber's own pool), or {@code copy} (a socket transport: the publisher's bytes are copied onto the stream).
     * The publisher's side learns relaxed/strict from the subscriber's HELLO (for display only).
     */
    default String privacy() {
        return "copy";
    }

    /** Sending role: references to shared slots this leg published and has not yet seen released (-1: it takes none). */
    default int sharedHeld() {
        return -1;
    }

    /**
     * Sending role: gives back to their pool (or lender) the shared slots whose references the peer released since this
     * leg last looked (a leg reads its peer's release position lazily, when its own room runs out; a publisher
     * whose pool ran dry asks every leg). Never blocks.
     */
    default void reclaimShared() {
    }

    /**
     * Closes a leg a switch retired (its roles moved to a newer leg): a leg that lent slots to its peer first waits,
     * up to {@code waitNanos}, until the peer released them. Off the data path (the switch's finisher).
     */
    default void closeRetired(long waitNanos) {
        close();
    }

    /**
     * Receiving role, a socket leg: true if a poll would find a frame or the end without waiting (it may read the
     * socket once to know). Shared memory answers through {@link Pollable} instead; other legs say false.
     */
    default boolean readable() {
        return false;
    }

    /** A socket leg's channel, for a Poller's selector thread to watch for readability; null for other legs. */
    default java.nio.channels.SelectableChannel selectable() {
        return null;
    }

    /** Waits until a claim may succeed (or the leg ended) or {@code deadline} ({@link Waiter#deadline}); false at the deadline. */
    boolean awaitSpace(long deadline);

    /** The next read buffer, or null if none has arrived (or the peer's end-of-epoch marker was read). Never blocks. */
    Buffer poll();

    /**
     * Up to {@code limit} read buffers to {@code handler}, each released after its call ({@link dev.fable.Connection#poll(
     * dev.fable.MessageHandler, int)}); 0 when none has arrived or the end-of-epoch marker is next. Never blocks.
     */
    default int poll(dev.fable.MessageHandler handler, int limit) {
        int n = 0;
        for (Buffer b; n < limit && (b = poll()) != null; n++) {
            handler.take(b);
        }
        return n;
    }

    /** Waits until {@code deadline} for the next read buffer; null on timeout or once {@link #inputFinished()}. */
    Buffer receive(long deadline);

    /**
     * Sends the end-of-epoch marker behind everything this side committed, so the peer's reader knows
     * this direction of the leg is finished. Called once, by the sending role, with no claimed buffer
     * outstanding. Waits (the socket or ring may be full) until {@code deadline}; false if the marker
     * could not be queued in time.
     */
    boolean finishOutput(long deadline);

    /** {@link #finishOutput} without waiting: false when the marker does not fit now (retry later). */
    boolean tryFinishOutput();

    /**
     * True when everything this side committed is where {@link #close()} keeps it deliverable: always for shared
     * memory (the ring holds it); for a socket, once every frame has been handed to the kernel (its close pushes
     * what is left for a bounded time only). Pushes what the socket takes now. Called on the sending thread
     * (a relay waits with it before it closes a target behind a slow reader).
     */
    /**
     * Receiving thread: true while this leg has lent read buffers to another connection that have not come back (their
     * return wakes nobody: a reader waiting for readiness polls now and then). Shared memory only.
     */
    default boolean lending() {
        return false;
    }

    default boolean outputFlushed() {
        return true;
    }

    /** True once the peer's end-of-epoch marker was polled: nothing more will arrive on this leg. */
    boolean inputFinished();

    /**
     * If the next thing on this leg is the peer's end-of-epoch marker, consumes it and returns true;
     * never consumes data. For a switcher that holds the receiving role while its thread is idle.
     */
    boolean skipEndOfEpoch();

    /**
     * Copies every read buffer the application still holds from this leg into private memory and
     * detaches it (its release then only ends it), so the leg can close. Returns how many.
     */
    int detachHeldBuffers();

    /** Read buffers polled from this leg and not yet released. */
    int readBuffersHeld();

    /**
     * Accepting side: this reconfiguration leg is now in its connection's chain (the receiver can follow
     * the old leg's end-of-epoch marker to it). Transports whose connector waits for that say so here.
     */
    void installed();

    ConnectionState state();

    /** Why the leg ended, or null while it is open. */
    FableException failure();

    /** Fragments committed on this leg (a switch compares it with the claims made, {@link dev.fable.transport.Counted}). */
    long fragmentsSent();

    long fragmentsReceived();

    /** Whole messages committed on this leg: its fragments without MORE (a message's first fragments may be on an older leg). */
    long messagesSent();

    long messagesReceived();

    long bytesSent();

    long bytesReceived();

    /** Fails the leg because the peer broke the protocol; returns the exception to throw. */
    CorruptChannelException corrupt(String detail);

    /** Unmaps or closes this side's resources and tells the peer; idempotent. */
    void close();
}
