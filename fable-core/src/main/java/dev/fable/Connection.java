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

    /** A write buffer for up to {@code maxBytes} (capped at {@link #maxFragment()}), or {@code null} under back-pressure. */
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

    /** Messages (fragments) committed by this side. */
    long messagesSent();

    /** Messages (fragments) polled by this side. */
    long messagesReceived();

    /** Payload bytes committed by this side. */
    long bytesSent();

    /** Payload bytes polled by this side. */
    long bytesReceived();

    /** Unmaps and removes this side's memory and tells the peer; idempotent. */
    @Override
    void close();
}
