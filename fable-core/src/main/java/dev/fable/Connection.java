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
    /**
     * This side's endpoint name.
     *
     * @return the name of the endpoint this connection was made or accepted on ({@code anon-<pid>-<n>}
     *         for one made with {@link Fable#connect(String, ConnectOptions)}; the listening address for one
     *         an {@link ExternalListener} accepted)
     */
    String localName();

    /**
     * The peer's endpoint name (as the peer registered it).
     *
     * @return the peer's endpoint name; for a plain external peer, its address ({@code host:port} or the
     *         socket's path)
     */
    String peerName();

    /**
     * The transport in use, e.g. {@code "shm"}.
     *
     * @return one of {@link TransportName#ALL} for a connection between Fable endpoints (it changes with
     *         each {@link #reconfigure(String, String) switch}); {@code "tcp-raw"} or {@code "unix-raw"} for a
     *         plain external peer
     */
    String transport();

    /**
     * The epoch of the transport in use: 0 on the first transport, one more after each switch
     * ({@link #reconfigure(String, String)}).
     *
     * @return the current epoch
     */
    long epoch();

    /**
     * Largest fragment one buffer can carry (the slot size of this side's pool).
     *
     * @return the most bytes one {@link #claim(int)} can grant, on the transport in use
     */
    int maxFragment();

    /**
     * A write buffer for up to {@code maxBytes}, or {@code null} under back-pressure. The buffer grants
     * {@code min(maxBytes, maxFragment())} bytes: its {@link Buffer#length()} says how many (a larger
     * message goes out with {@link #send(byte[], int, int)}, or in fragments with {@link Buffer#commitFragment()}).
     * Its {@link Buffer#capacity()} is at least that: over shared memory a claim of at most 512 bytes (and
     * at most a slot) is granted in place in the direction's log, exactly {@code maxBytes}, while no other
     * such claim is out and the log has room; any other claim gets a whole slot. Messages leave in commit
     * order either way.
     *
     * @param maxBytes the most bytes wanted, at least 1
     * @return a write buffer whose {@link Buffer#length()} is {@code min(maxBytes, maxFragment())}, or
     *         {@code null} when every buffer is still held by the peer (or during a moment of a switch): try again
     * @throws IllegalArgumentException if {@code maxBytes} is 0 or negative
     * @throws ConnectionClosedException if the connection was closed (by either side)
     * @throws PeerGoneException if the peer went away without closing
     * @throws CorruptChannelException if the peer broke the protocol
     */
    Buffer claim(int maxBytes);

    /**
     * Like {@link #claim(int)} but waits up to {@code timeout}; {@code null} if none became free in time.
     *
     * @param maxBytes the most bytes wanted, at least 1
     * @param timeout  how long to wait for a free buffer; negative: without limit
     * @return a write buffer as {@link #claim(int)} gives it, or {@code null} if none became free in time
     * @throws IllegalArgumentException if {@code maxBytes} is 0 or negative
     * @throws ConnectionClosedException if the connection was closed (by either side)
     * @throws PeerGoneException if the peer went away without closing
     * @throws CorruptChannelException if the peer broke the protocol
     */
    Buffer claim(int maxBytes, Duration timeout);

    /**
     * The next read buffer, or {@code null} if none has arrived. Never blocks.
     *
     * @return the next fragment the peer committed, or {@code null} if none has arrived (also after the
     *         last one of a peer that ended: check {@link #state()})
     * @throws QuotaExceededException if this side already holds its whole read quota
     *                                ({@link ConnectOptions#readQuota(int)}): release buffers first
     * @throws ConnectionClosedException if this side closed the connection
     * @throws CorruptChannelException if the peer broke the protocol
     */
    Buffer poll();

    /**
     * Reads up to {@code limit} buffers that have arrived, handing each to {@code handler} and releasing it when the
     * handler returns; never blocks. The same buffers, in the same order, as {@link #poll()} would return, for less
     * per buffer: a subscriber reading its publisher's broadcast log ({@link ConnectOptions#broadcastLog(int)}) copies
     * each message into one scratch area instead of a buffer of its own. A buffer whose handler throws counts as read
     * (released); the exception propagates.
     *
     * @param handler takes each buffer, valid only during its call
     * @param limit   at most this many (at least 1)
     * @return how many were handed over: 0 if none has arrived
     * @throws IllegalArgumentException if {@code limit} is below 1
     * @throws QuotaExceededException if this side already holds its whole read quota
     * @throws ConnectionClosedException if this side closed the connection
     * @throws CorruptChannelException if the peer broke the protocol
     */
    default int poll(MessageHandler handler, int limit) {
        if (limit < 1) throw new IllegalArgumentException("poll(handler, " + limit + "): a limit of at least 1");
        java.util.Objects.requireNonNull(handler, "handler");
        int n = 0;
        for (Buffer b; n < limit && (b = poll()) != null; n++) {
            handler.take(b);
        }
        return n;
    }

    /**
     * Waits up to {@code timeout} for the next read buffer; {@code null} on timeout.
     *
     * @param timeout how long to wait; negative: without limit
     * @return the next fragment the peer committed, or {@code null} if none came in time
     * @throws ConnectionClosedException after the last buffer of a peer that closed cleanly, or if this
     *                                   side closed the connection
     * @throws PeerGoneException after the last buffer of a peer that went away without closing
     * @throws CorruptChannelException if the peer broke the protocol
     * @throws QuotaExceededException if this side already holds its whole read quota
     */
    Buffer receive(Duration timeout);

    /**
     * Sends one message of any size (fragmented into slots), waiting for free buffers as needed, without
     * limit. It copies the bytes once, into the transport's buffers.
     *
     * @param data   the array that holds the message
     * @param offset index in {@code data} of the message's first byte
     * @param length the message's size in bytes; 0 sends an empty message
     * @throws IndexOutOfBoundsException if {@code offset .. offset + length} is not inside {@code data}
     * @throws ConnectionClosedException if the connection was closed (by either side)
     * @throws PeerGoneException if the peer went away without closing
     * @throws CorruptChannelException if the peer broke the protocol
     */
    void send(byte[] data, int offset, int length);

    /**
     * Sends {@code data} as one message: {@code send(data, 0, data.length)}.
     *
     * @param data the message
     * @throws ConnectionClosedException if the connection was closed (by either side)
     * @throws PeerGoneException if the peer went away without closing
     * @throws CorruptChannelException if the peer broke the protocol
     */
    default void send(byte[] data) {
        send(data, 0, data.length);
    }

    /**
     * Receives one whole message (reassembling fragments) into a new array; {@code null} on timeout.
     * The timeout bounds the whole call: if it passes in the middle of a message, the fragments
     * received so far are kept and the next call continues that message.
     *
     * @param timeout how long to wait for the whole message; negative: without limit
     * @return the message's bytes (a new array of exactly its size), or {@code null} on timeout
     * @throws CorruptChannelException if the message is longer than {@link ConnectOptions#maxMessageSize(int)}
     *                                 (the connection fails), or if the peer broke the protocol
     * @throws ConnectionClosedException after the last message of a peer that closed cleanly, or if this
     *                                   side closed the connection
     * @throws PeerGoneException after the last message of a peer that went away without closing
     */
    byte[] receiveMessage(Duration timeout);

    /**
     * Where this connection is in its life, as this side sees it.
     *
     * @return {@link ConnectionState#OPEN} while data flows, else how it ended
     */
    ConnectionState state();

    /**
     * Why the connection failed or ended, or {@code null} while it is open.
     *
     * @return the exception that describes the end, or {@code null} while the connection is open
     */
    FableException failure();

    /**
     * Whole messages committed by this side: buffers committed without {@link Buffer#more()}, each the
     * last (or only) fragment of its message. A message larger than one buffer
     * ({@link #send(byte[])}, claims chained with MORE) counts once here and once per fragment in
     * {@link #fragmentsSent()}.
     *
     * @return the number of whole messages this side committed, over every transport of this connection
     */
    long messagesSent();

    /**
     * A subscription ({@link Fable#subscribe}): messages the publisher dropped for this subscriber because its
     * queue was full, as told so far (each drop is also a {@link ConnectionEvent.Type#DROPPED} event). Always 0
     * for a one-to-one connection, which never drops.
     *
     * @return the messages dropped for this side, as the publisher told them
     */
    default long messagesDropped() {
        return 0;
    }

    /**
     * Whole messages polled by this side: buffers received without {@link Buffer#more()}.
     *
     * @return the number of whole messages this side received, over every transport of this connection
     */
    long messagesReceived();

    /**
     * Buffers (fragments) committed by this side, with or without MORE.
     *
     * @return the number of buffers this side committed, over every transport of this connection
     */
    long fragmentsSent();

    /**
     * Buffers (fragments) polled by this side, with or without MORE.
     *
     * @return the number of buffers this side received, over every transport of this connection
     */
    long fragmentsReceived();

    /**
     * Payload bytes committed by this side.
     *
     * @return the sum of the committed buffers' lengths, over every transport of this connection
     */
    long bytesSent();

    /**
     * Payload bytes polled by this side.
     *
     * @return the sum of the received buffers' lengths, over every transport of this connection
     */
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
     * @param transport the transport to switch to: one of {@link TransportName#ALL}
     * @param reason    why, for the connection's events and the daemon's flow table
     * @return the new epoch
     * @throws UnsupportedOperationException on the accepting side, and for connections to plain external peers
     * @throws IllegalArgumentException for an unknown transport name
     * @throws IllegalStateException    while an earlier switch of this side is not complete ({@link #reconfiguring()}),
     *                                  or when the connection is no longer {@link ConnectionState#OPEN}
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
     *
     * @param transport the transport to switch to: one of {@link TransportName#ALL}
     * @param waitMode  how both sides wait on the new transport, or {@code null} for each side's own
     * @param reason    why, for the connection's events and the daemon's flow table
     * @return the new epoch
     * @throws UnsupportedOperationException on the accepting side, and for connections to plain external peers
     * @throws IllegalArgumentException for an unknown transport name
     * @throws IllegalStateException    while an earlier switch of this side is not complete ({@link #reconfiguring()}),
     *                                  or when the connection is no longer {@link ConnectionState#OPEN}
     * @throws FableException           if the peer cannot be reached over {@code transport}; the connection then
     *                                  stays on its current transport, still flowing
     */
    default long reconfigure(String transport, WaitMode waitMode, String reason) {
        throw new UnsupportedOperationException(this + " cannot be reconfigured: only connections to named Fable endpoints can");
    }

    /**
     * How this side waits now: its {@link ConnectOptions#waitMode()}, unless a switch set another ({@link #reconfigure(String, WaitMode, String)}).
     *
     * @return the wait mode of this side on the transport in use
     */
    WaitMode waitMode();

    /**
     * True from the start of a switch until both directions of this side moved and the old transport is closed.
     *
     * @return whether a switch of this side is in progress
     */
    default boolean reconfiguring() {
        return false;
    }

    /**
     * The next event ({@link ConnectionEvent}: RECONFIGURING, RECONFIGURED, …), or null if none is pending. Any thread.
     *
     * @return the oldest event not yet taken, or {@code null} if none is pending
     */
    default ConnectionEvent pollEvent() {
        return null;
    }

    /**
     * This connection as a byte stream to read: the bytes of every buffer the peer commits, in order, with
     * message boundaries ignored (a buffer with {@link Buffer#more()} is just more bytes). Each call returns the
     * same stream, which shares its state with {@link #channel()}.
     *
     * <p>The JDK's contract: {@code read} blocks until at least one byte has arrived and returns -1 once every
     * byte the peer sent before its clean close was read; if the peer dies or the connection breaks it throws
     * {@code dev.fable.io.ConnectionLostException}, an {@link java.io.IOException} that names the endpoint and
     * the transport. {@code available()} is the number of bytes readable without blocking (those of the
     * buffer in hand, or of the next one if it has arrived). Reads copy from the transport's buffer into the
     * caller's array, and allocate nothing. One thread reads at a time (the receiving thread of this connection,
     * which must not also {@link #poll()}).
     *
     * <p>{@code close()} closes the whole connection, as a {@link java.net.Socket}'s streams do (Fable has no
     * half-close): bytes written to {@link #outputStream()} and not yet flushed are discarded, so close the output
     * stream first where both are in use.
     *
     * @return this connection's input stream (always the same object)
     */
    java.io.InputStream inputStream();

    /**
     * This connection as a byte stream to write. Bytes are written in place into a claimed buffer of the
     * transport (of {@link #maxFragment()} bytes): a full buffer is committed and the next claimed;
     * {@code flush()} commits a partial one. Nothing is sent before a buffer is full or flushed. A large array
     * goes straight from the caller's array into the transport's buffers, without a copy of its own. Writes
     * block while the peer holds every buffer (back-pressure), and allocate nothing. Each call returns the same
     * stream, which shares its state with {@link #channel()}; one thread writes at a time (the sending thread of
     * this connection, which must not also {@link #claim(int)}).
     *
     * <p>If the peer died, closed or the connection broke, writes and {@code flush()} throw
     * {@code dev.fable.io.ConnectionLostException}. {@code close()} flushes, then closes the whole connection.
     *
     * @return this connection's output stream (always the same object)
     */
    java.io.OutputStream outputStream();

    /**
     * This connection as a blocking {@link java.nio.channels.ByteChannel}, for code that speaks NIO. It shares
     * its state with {@link #inputStream()} and {@link #outputStream()} (the same bytes, the same buffer in
     * hand), under the same rules, except that each {@code write} commits what it wrote before it returns (a
     * channel has no flush), and that a channel closed by this side throws
     * {@link java.nio.channels.ClosedChannelException}. {@code read} returns at least one byte (waiting for it)
     * unless the destination is full, and -1 at the peer's clean close. {@code close()} closes the connection.
     *
     * @return this connection's channel (always the same object)
     */
    java.nio.channels.ByteChannel channel();

    /** Unmaps and removes this side's memory and tells the peer; idempotent. */
    @Override
    void close();
}
