package dev.fable;

import java.time.Duration;

/**
 * A two-way message channel to one named peer, over the transport the naming layer chose.
 *
 * <h2>Non-blocking core</h2>
 * {@link #claim(int)} → fill → {@link Buffer#commit()} to send; {@link #poll()} → read →
 * {@link Buffer#release()} to receive. {@code claim} returning {@code null} is back-pressure (the peer
 * holds every buffer): poll or wait, never allocate. {@code poll} returning {@code null} means no data
 * yet. Neither call allocates, locks or enters the kernel while the channel is busy.
 *
 * <h2>Blocking conveniences</h2>
 * {@link #claim(int, Duration)}, {@link #receive(Duration)}, {@link #send(byte[], int, int)} and
 * {@link #receiveMessage(Duration)} wait with the side's {@link WaitMode} on top of the core. A
 * negative timeout waits without limit (until the data comes or the connection ends).
 *
 * <h2>End of the channel</h2>
 * When the peer closes, dies or breaks the protocol, {@link #state()} changes and everything it
 * committed before that is still delivered. After the last buffer, {@code poll} returns {@code null},
 * blocking receives throw {@link ConnectionClosedException} (clean close) or {@link PeerGoneException},
 * and {@code claim} throws the same: one exception per call, no storm. <em>When</em> the state changes
 * depends on the transport: shared memory notices at once (its control socket is watched), the socket
 * transports (unix, tcp, tls) when this side reads up to the end or a send fails, because the end
 * sits behind the data in the socket.
 *
 * <h2>Threads</h2>
 * One thread at a time may send (claim/commit) and one at a time may receive (poll/release); they
 * may be different threads. {@link #close()} may be called from any thread; it wakes blocked
 * callers, but a call already inside {@code poll}/{@code claim} at that instant may throw
 * {@link IllegalStateException} (the memory was unmapped under it) instead of
 * {@link ConnectionClosedException}. Close from the thread that uses the connection where you can.
 */
public interface Connection extends AutoCloseable {
    /** This side's endpoint name. */
    String localName();

    /** The peer's endpoint name (as the peer registered it). */
    String peerName();

    /** The transport in use, e.g. {@code "shm"}. */
    String transport();

    long epoch();

    /** Largest fragment one buffer can carry (the slot size of this side's pool). */
    int maxFragment();

    /**
     * A write buffer for up to {@code maxBytes}, or {@code null} under back-pressure. The buffer grants
     * {@code min(maxBytes, maxFragment())} bytes: its {@link Buffer#length()} says how many (a larger
     * message goes out with {@link #send(byte[], int, int)}, or in fragments with {@link Buffer#commitFragment()}).
     *
     * @throws IllegalArgumentException if {@code maxBytes} is 0 or negative
     */
    Buffer claim(int maxBytes);

    /** Like {@link #claim(int)} but waits up to {@code timeout}; {@code null} if none became free in time. */
    Buffer claim(int maxBytes, Duration timeout);

    /** The next read buffer, or {@code null} if none has arrived. */
    Buffer poll();

    /** Waits up to {@code timeout} for the next read buffer; {@code null} on timeout. */
    Buffer receive(Duration timeout);

    /** Sends one message of any size (fragmented into slots), waiting for free buffers as needed. */
    void send(byte[] data, int offset, int length);

    default void send(byte[] data) {
        send(data, 0, data.length);
    }

    /**
     * Receives one whole message (reassembling fragments) into a new array; {@code null} on timeout.
     * The timeout bounds the whole call: if it passes in the middle of a message, the fragments
     * received so far are kept and the next call continues that message.
     */
    byte[] receiveMessage(Duration timeout);

    ConnectionState state();

    /** Why the connection failed or ended, or {@code null} while it is open. */
    FableException failure();

    /**
     * Whole messages committed by this side: buffers committed without {@link Buffer#more()}, each the
     * last (or only) fragment of its message. A message larger than one buffer
     * ({@link #send(byte[])}, claims chained with MORE) counts once here and once per fragment in
     * {@link #fragmentsSent()}.
     */
    long messagesSent();

    /** Whole messages polled by this side: buffers received without {@link Buffer#more()}. */
    long messagesReceived();

    /** Buffers (fragments) committed by this side, with or without MORE. */
    long fragmentsSent();

    /** Buffers (fragments) polled by this side, with or without MORE. */
    long fragmentsReceived();

    /** Payload bytes committed by this side. */
    long bytesSent();

    /** Payload bytes polled by this side. */
    long bytesReceived();

    /**
     * Switches this connection to {@code transport} ({@code shm}, {@code unix}, {@code tcp} or
     * {@code tls}) while it keeps flowing, make-before-break: the new transport is set up beside the
     * old one (this call returns when it is), then each direction moves at its next message: the
     * sender ends the old transport with an end-of-epoch marker and claims from the new one (epoch
     * + 1), the receiver delivers everything of the old epoch before anything of the new. Nothing is
     * lost, duplicated or reordered; a write waits at most for the switch itself.
     *
     * <p>Only the side that connected can set up the new transport (the other side's endpoint
     * accepts it); the accepting side gets {@link UnsupportedOperationException}. Connections to
     * plain external peers ({@code tcp://}, {@code unix://}) cannot switch.
     *
     * @return the new epoch
     * @throws IllegalArgumentException for an unknown transport name
     * @throws IllegalStateException    while an earlier switch of this side is not complete ({@link #reconfiguring()})
     * @throws FableException           if the peer cannot be reached over {@code transport} (e.g. shm to another host);
     *                                  the connection then stays on its current transport, still flowing
     */
    default long reconfigure(String transport, String reason) {
        throw new UnsupportedOperationException(this + " cannot be reconfigured: only connections to named Fable endpoints can");
    }

    /**
     * As {@link #reconfigure(String, String)}, and sets both sides' {@link WaitMode} on the new
     * transport ({@code null}: each side's own, from its {@link ConnectOptions}). Switching to the
     * same transport with another wait mode is a switch like any other (a new epoch). The daemon's
     * contention policy uses it to move a spinning shm connection whose ends share a CPU to
     * {@link WaitMode#BLOCK}, and back.
     */
    default long reconfigure(String transport, WaitMode waitMode, String reason) {
        throw new UnsupportedOperationException(this + " cannot be reconfigured: only connections to named Fable endpoints can");
    }

    /** How this side waits now: its {@link ConnectOptions#waitMode()}, unless a switch set another ({@link #reconfigure(String, WaitMode, String)}). */
    WaitMode waitMode();

    /** True from the start of a switch until both directions of this side moved and the old transport is closed. */
    default boolean reconfiguring() {
        return false;
    }

    /** The next event ({@link ConnectionEvent}: RECONFIGURING, RECONFIGURED, …), or null if none is pending. Any thread. */
    default ConnectionEvent pollEvent() {
        return null;
    }

    /** Unmaps and removes this side's memory and tells the peer; idempotent. */
    @Override
    void close();
}
