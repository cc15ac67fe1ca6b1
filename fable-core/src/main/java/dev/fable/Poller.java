package dev.fable;

import java.time.Duration;

/**
 * Waits for data on many connections at once ({@code xpoll}), of every transport; made by
 * {@link Fable#poller(WaitMode)}. One thread serves them all: connections active lately are checked
 * directly by that thread (no system call while they are busy); the others are handed to watcher threads
 * — one per 127 idle shared-memory connections, sleeping on their tripwires with one {@code futex_waitv},
 * and one selector for the idle socket connections — that post a connection to the poller's event queue
 * the first time it becomes readable (not per message) and wake the poller if it sleeps. An event costs
 * the same whatever the number of connections (up to 65,536 by default; {@link Fable#poller(WaitMode, int)}).
 *
 * <p>A connection in a poller must be read only by the poller's thread. A connection is also ready when it
 * has an event to take with {@link Connection#pollEvent()} (a reconfiguration) or has ended (its next
 * {@code poll} says how). Live switches between transports are followed (a connection that moves from
 * shared memory to a socket, or back, changes watcher by itself).
 *
 * <p><b>Inside an NIO {@link java.nio.channels.Selector}:</b> register {@link #selectable()} for
 * {@code OP_READ}; when it is selected, take connections with {@link #poll()} until it returns null, then
 * call {@link #armSelectable()} before selecting again: the channel gets a byte when the next connection
 * becomes ready.
 *
 * <pre>{@code
 * try (Poller p = Fable.poller(WaitMode.ADAPTIVE)) {
 *     p.add(a); p.add(b);
 *     Connection ready = p.await(Duration.ofSeconds(1));   // null on timeout
 *     Buffer buf = ready.poll();                           // null if it ended: check ready.state()
 * }
 * }</pre>
 */
public interface Poller extends AutoCloseable {
    /**
     * Adds a connection.
     *
     * @param c the connection to wait on; from now on only this poller's thread may read it
     * @throws IllegalArgumentException for a connection of another implementation, or one already in this poller
     * @throws IllegalStateException    when the poller is full (its capacity) or closed
     */
    void add(Connection c);

    /**
     * Removes a connection.
     *
     * @param c the connection to stop waiting on
     * @return {@code true} if it was in this poller, {@code false} if it was not
     */
    boolean remove(Connection c);

    /**
     * A connection that is readable (or ended), round-robin for fairness; null if none. Never blocks.
     *
     * @return a connection with a buffer, an event or its end to take, or {@code null} if none has
     */
    Connection poll();

    /**
     * Waits up to {@code timeout} for a readable (or ended) connection; null on timeout. Returns
     * {@code null} at once when the poller holds no connection.
     *
     * @param timeout how long to wait; negative: without limit
     * @return a connection with a buffer, an event or its end to take, or {@code null} on timeout
     */
    Connection await(Duration timeout);

    /**
     * A channel to register with an NIO {@link java.nio.channels.Selector} for {@code OP_READ} (non-blocking): it
     * is readable when this poller may have a ready connection, after {@link #armSelectable()}. The same channel
     * every time; closed with the poller.
     *
     * @return the poller's selectable channel
     */
    java.nio.channels.SelectableChannel selectable();

    /**
     * Before the application's {@code Selector} sleeps: hands every connection to the watchers and makes
     * {@link #selectable()} readable at the next event (at once if one is there already). Call it after
     * {@link #poll()} returned null.
     */
    void armSelectable();

    /**
     * The connections in this poller.
     *
     * @return how many were added and not removed
     */
    int size();

    /** Removes every connection (they stay open) and stops the poller's watcher threads. */
    @Override
    void close();
}
