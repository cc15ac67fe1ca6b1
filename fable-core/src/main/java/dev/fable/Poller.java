package dev.fable;

import java.time.Duration;

/**
 * Waits for data on many connections at once ({@code xpoll}); made by {@link Fable#poller(WaitMode)}.
 * It spins over its connections for the wait mode's budget, then sleeps on all their tripwires with
 * one {@code futex_waitv} (at most 128 connections per poller in this version). A connection in a
 * poller must be read only by the poller's thread. Only shared-memory connections can join in this
 * version; socket transports (unix, tcp, tls) wait in {@code select} on their own. A connection is
 * also ready when it has an event to take with {@link Connection#pollEvent()} (a reconfiguration);
 * if it switches away from shared memory, the poller throws {@link UnsupportedOperationException}
 * for it: take it out and receive on its own thread.
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
     * @throws IllegalArgumentException for a connection that cannot join (not over shared memory)
     * @throws IllegalStateException    when the poller is full
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
     * @throws UnsupportedOperationException for a connection that switched away from shared memory
     */
    Connection poll();

    /**
     * Waits up to {@code timeout} for a readable (or ended) connection; null on timeout. Returns
     * {@code null} at once when the poller holds no connection.
     *
     * @param timeout how long to wait; negative: without limit
     * @return a connection with a buffer, an event or its end to take, or {@code null} on timeout
     * @throws UnsupportedOperationException for a connection that switched away from shared memory
     */
    Connection await(Duration timeout);

    /** Removes every connection (they stay open). */
    @Override
    void close();
}
