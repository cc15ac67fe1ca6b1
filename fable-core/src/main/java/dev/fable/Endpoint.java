package dev.fable;

import java.time.Duration;

/**
 * A registered name: connect from it, or listen on it. Closing it unregisters the name; connections
 * already made stay open until closed themselves.
 */
public interface Endpoint extends AutoCloseable {
    /**
     * The endpoint's name.
     *
     * @return the name this endpoint registered
     */
    String name();

    /**
     * Starts accepting connections with trusted, adaptive defaults for the accepted side:
     * {@code listen(ConnectOptions.trusted())}.
     *
     * @return this endpoint
     * @throws IllegalStateException if the endpoint is closed
     */
    default Endpoint listen() {
        return listen(ConnectOptions.trusted());
    }

    /**
     * Starts accepting connections; {@code options} shape this side of every accepted connection. The
     * first call binds the endpoint's sockets and tells the daemon where they are; a later call only
     * replaces the options for connections accepted from then on.
     *
     * @param options this side's options for every connection accepted from now on
     * @return this endpoint
     * @throws IllegalStateException if the endpoint is closed
     */
    Endpoint listen(ConnectOptions options);

    /**
     * Waits without limit for the next incoming connection.
     *
     * @return the accepted connection
     * @throws IllegalStateException if {@link #listen(ConnectOptions)} was not called first
     * @throws FableException if the endpoint is closed (also while this call waits) or the thread is interrupted
     */
    Connection accept();

    /**
     * Waits up to {@code timeout} (negative: without limit); {@code null} if nobody connected.
     *
     * @param timeout how long to wait; negative: without limit
     * @return the accepted connection, or {@code null} if nobody connected in time
     * @throws IllegalStateException if {@link #listen(ConnectOptions)} was not called first
     * @throws FableException if the endpoint is closed (also while this call waits) or the thread is interrupted
     */
    Connection accept(Duration timeout);

    /**
     * The next incoming connection if one is waiting, else {@code null}; never blocks.
     *
     * @return the accepted connection, or {@code null} if none is waiting
     * @throws IllegalStateException if {@link #listen(ConnectOptions)} was not called first
     * @throws FableException if the endpoint was closed (just after {@link #close()} it may still return {@code null})
     */
    Connection tryAccept();

    /**
     * Connects to {@code uri}: {@code xio://name} (the name daemon picks the transport, see
     * {@code docs/naming.md}), {@code xio+shm|unix|tcp|tls://name} (that transport, forced), or a plain
     * non-Fable peer: {@code tcp://host:port}, {@code unix:///path} (raw bytes, no message boundaries).
     * {@link ConnectOptions#connectTimeout(java.time.Duration)} bounds how long a missing name is awaited.
     *
     * @param uri     where to connect, in one of the forms above
     * @param options this side's options for the connection
     * @return the connection, open
     * @throws IllegalArgumentException if {@code uri} is not one of the forms above, or its name is not a valid endpoint name
     * @throws NameNotFoundException if no endpoint listens under the name within the connect timeout
     * @throws PeerGoneException if the peer cannot be reached at the address the daemon gave (it may have just exited),
     *                           or a plain peer cannot be connected to
     * @throws FableException for any other failure, with what went wrong (the daemon unreachable, a refused handshake, …)
     */
    Connection connect(String uri, ConnectOptions options);

    /**
     * Makes this endpoint a publisher with trusted, adaptive defaults: {@code publish(ConnectOptions.trusted())}.
     *
     * @return the publisher
     * @throws IllegalStateException if the endpoint is closed, listens for one-to-one connections, or publishes already
     */
    default Publisher publish() {
        return publish(ConnectOptions.trusted());
    }

    /**
     * Makes this endpoint a publisher: one producer, any number of subscribers ({@link Fable#subscribe}), which
     * join and leave while it runs. Its fan-out pool has {@link ConnectOptions#slotCount()} slots of
     * {@link ConnectOptions#slotSize()} bytes (the largest message); each subscriber's queue is a log of
     * {@link ConnectOptions#logBytes()} ({@code logBytes / 16} messages); {@link ConnectOptions#readQuota(int)} is
     * how many slots one subscriber may hold unreleased (0: a quarter of the pool), so that a stalled subscriber
     * holds at most that much of the pool and loses its further messages while the others go on (size the pool so
     * that the subscribers that may stall at once hold less than all of it); the wait mode is the publisher side's.
     * An endpoint either publishes or accepts one-to-one connections ({@link #listen}), not both: a
     * {@code connect} to a publisher, or a {@code subscribe} to a listener, is refused with the reason.
     *
     * @param options the fan-out pool's shape and the subscriber connections' options on this side
     * @return the publisher; closing it closes this endpoint
     * @throws IllegalStateException if the endpoint is closed, listens for one-to-one connections, or publishes already
     * @throws SharedMemoryException if the fan-out pool cannot be created
     */
    Publisher publish(ConnectOptions options);

    /**
     * Unregisters the name and stops accepting; idempotent. Connections already made stay open until
     * closed themselves; those it accepted can no longer switch transport (a switch reaches the accepting
     * side through this endpoint's sockets).
     */
    @Override
    void close();
}
